//! The dealer in-process: every member of a test or single-process simulation holds a
//! [`LocalDealer`] handle onto one shared [`DealerCore`]. The first member to make its
//! `k`-th reservation has the `k`-th dealing generated for everyone; the others pick
//! their part up. Requests must match, as with the dealer node.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use consort_net::PartyId;

use super::{Bundle, DealerCore, Preprocessing, Request, Store};
use crate::spdz::{MpcError, PrepError, Security};

struct State {
    core: DealerCore,
    /// Per member: bundles dealt on another member's request (the requests, the bundle, who asked).
    pending: Vec<VecDeque<(Vec<Request>, Bundle, usize)>>,
    /// Per member: how many reservations it made.
    made: Vec<u64>,
}

/// One member's handle onto an in-process dealer.
pub struct LocalDealer {
    state: Arc<Mutex<State>>,
    me: usize,
    security: Security,
    alpha: u128,
    store: Store,
}

impl LocalDealer {
    /// Handles for `n` members onto one dealer seeded with `seed`.
    pub fn new_set(n: usize, security: Security, seed: [u8; 32]) -> Vec<LocalDealer> {
        let mut core = DealerCore::new(n, security, seed);
        let keys = core.mac_key_shares();
        let state =
            Arc::new(Mutex::new(State { core, pending: (0..n).map(|_| VecDeque::new()).collect(), made: vec![0; n] }));
        keys.into_iter()
            .enumerate()
            .map(|(me, alpha)| LocalDealer { state: Arc::clone(&state), me, security, alpha, store: Store::default() })
            .collect()
    }
}

impl Preprocessing for LocalDealer {
    fn security(&self) -> Security {
        self.security
    }

    fn mac_key_share(&self) -> u128 {
        self.alpha
    }

    async fn reserve(&mut self, requests: &[Request]) -> Result<(), MpcError> {
        if requests.is_empty() {
            return Ok(());
        }
        let bundle = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let index = s.made.get(self.me).copied().unwrap_or(0);
            if let Some(m) = s.made.get_mut(self.me) {
                *m += 1;
            }
            let mine = s.pending.get_mut(self.me).and_then(VecDeque::pop_front);
            match mine {
                Some((reqs, bundle, first)) => {
                    if reqs != requests {
                        return Err(PrepError::Mismatch {
                            party: PartyId(self.me as u16),
                            reference: PartyId(first as u16),
                            index,
                        }
                        .into());
                    }
                    bundle
                }
                None => {
                    let bundles = s.core.deal(requests);
                    let mut mine = None;
                    for (i, b) in bundles.into_iter().enumerate() {
                        if i == self.me {
                            mine = Some(b);
                        } else if let Some(q) = s.pending.get_mut(i) {
                            q.push_back((requests.to_vec(), b, self.me));
                        }
                    }
                    mine.ok_or_else(|| PrepError::Refused(format!("member {} is not served by this dealer", self.me)))?
                }
            }
        };
        self.store.put_all(requests, bundle.into_materials(requests, self.security, self.me));
        Ok(())
    }

    fn store(&self) -> &Store {
        &self.store
    }

    fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    async fn finish(&mut self) -> Result<(), MpcError> {
        Ok(())
    }
}
