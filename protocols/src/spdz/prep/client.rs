//! The dealer as a network service: [`serve_dealer`] runs on the dealer node and answers
//! the members' reservations; [`DealerClient`] is a member's side of it.
//!
//! Steps: `prep/key` (the MAC key share, once), then for the `k`-th reservation
//! `prep/k/ask` (member → dealer, a [`DealerMsg`]) and `prep/k/deal` (dealer → member,
//! a [`Bundle`]). The dealer deals only when every member has asked for the same thing.

use std::time::Duration;

use bytes::Bytes;
use consort_net::{NetError, PartyId, StepId, Transport};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::{Bundle, DealerCore, Preprocessing, Request, Store};
use crate::spdz::{MpcError, PrepError, Security, offload};

/// What a member tells the dealer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DealerMsg {
    Reserve(Vec<Request>),
    Finish,
}

fn key_step() -> StepId {
    StepId::root("prep").child("key")
}

fn ask_step(k: u64) -> StepId {
    StepId::root("prep").index(k).child("ask")
}

fn deal_step(k: u64) -> StepId {
    StepId::root("prep").index(k).child("deal")
}

/// A member's connection to the dealer node.
pub struct DealerClient<'t, T: Transport> {
    t: &'t T,
    dealer: PartyId,
    me: usize,
    security: Security,
    alpha: u128,
    next: u64,
    store: Store,
    finished: bool,
}

impl<T: Transport> Drop for DealerClient<'_, T> {
    fn drop(&mut self) {
        self.alpha.zeroize();
    }
}

impl<'t, T: Transport> DealerClient<'t, T> {
    /// Connects member number `me` (its index among the members) to `dealer` and
    /// receives its MAC key share.
    pub async fn connect(t: &'t T, dealer: PartyId, me: usize, security: Security) -> Result<Self, MpcError> {
        let step = key_step();
        let bytes = t.recv(dealer, &step).await?;
        let key = zeroize::Zeroizing::new(crate::spdz::wire::decode(Security::Malicious, dealer, &step, &bytes, 1)?);
        let alpha = key.first().copied().unwrap_or(0);
        Ok(DealerClient { t, dealer, me, security, alpha, next: 0, store: Store::default(), finished: false })
    }
}

impl<T: Transport> Preprocessing for DealerClient<'_, T> {
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
        let k = self.next;
        self.next += 1;
        let msg = postcard::to_stdvec(&DealerMsg::Reserve(requests.to_vec()))
            .map_err(|e| MpcError::Prep(PrepError::Refused(e.to_string())))?;
        self.t.send(self.dealer, &ask_step(k), Bytes::from(msg)).await?;
        let step = deal_step(k);
        let bytes = self.t.recv(self.dealer, &step).await?;
        let (security, me, dealer, reqs) = (self.security, self.me, self.dealer, requests.to_vec());
        let materials = offload(move || {
            Bundle::decode(&bytes, &reqs, security, me, dealer, &step)
                .map(|b| (b.into_materials(&reqs, security, me), reqs))
        })
        .await??;
        let (materials, reqs) = materials;
        self.store.put_all(&reqs, materials);
        Ok(())
    }

    fn store(&self) -> &Store {
        &self.store
    }

    fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    async fn finish(&mut self) -> Result<(), MpcError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let msg =
            postcard::to_stdvec(&DealerMsg::Finish).map_err(|e| MpcError::Prep(PrepError::Refused(e.to_string())))?;
        self.t.send(self.dealer, &ask_step(self.next), Bytes::from(msg)).await?;
        Ok(())
    }
}

/// The most values one reservation may ask for (a bound on the dealer's memory).
pub const MAX_DEAL_VALUES: usize = 1 << 27;

/// What the dealer served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DealerStats {
    pub reservations: u64,
    pub values: u64,
}

async fn recv_patiently<T: Transport>(t: &T, from: PartyId, step: &StepId, idle: Duration) -> Result<Bytes, NetError> {
    let start = std::time::Instant::now();
    loop {
        match t.recv(from, step).await {
            Err(NetError::Timeout { .. }) if start.elapsed() < idle => continue,
            other => return other,
        }
    }
}

/// Runs the dealer node until every member has finished. `members` are the parties it
/// serves, in member order; it waits up to `idle` for a member's next request (members
/// compute between reservations).
pub async fn serve_dealer<T: Transport>(
    t: &T,
    members: &[PartyId],
    mut core: DealerCore,
    idle: Duration,
) -> Result<DealerStats, MpcError> {
    let security = core.security();
    // Every member's share of α: together they are α, so they are wiped once sent.
    let keys = zeroize::Zeroizing::new(core.mac_key_shares());
    let step = key_step();
    for (p, k) in members.iter().zip(keys.iter()) {
        t.send(*p, &step, crate::spdz::wire::encode(Security::Malicious, &[*k])).await?;
    }
    drop(keys);
    let mut stats = DealerStats::default();
    for k in 0u64.. {
        let step = ask_step(k);
        let mut asks = Vec::with_capacity(members.len());
        for p in members {
            let bytes = recv_patiently(t, *p, &step, idle).await?;
            let msg: DealerMsg = postcard::from_bytes(&bytes).map_err(|e| NetError::PeerMisbehaved {
                party: *p,
                step: step.to_string(),
                what: format!("unreadable request: {e}"),
            })?;
            asks.push((*p, msg));
        }
        // A member's request is peer input: refuse sizes that would exhaust the dealer.
        for (p, m) in &asks {
            if let DealerMsg::Reserve(reqs) = m {
                let total = reqs.iter().fold(0usize, |a, r| a.saturating_add(r.size()));
                if total > MAX_DEAL_VALUES {
                    return Err(NetError::PeerMisbehaved {
                        party: *p,
                        step: step.to_string(),
                        what: format!("asked for {total} values at once; the dealer deals at most {MAX_DEAL_VALUES}"),
                    }
                    .into());
                }
            }
        }
        let Some((reference, first)) = asks.first().cloned() else { break };
        if let Some((party, _)) = asks.iter().find(|(_, m)| *m != first) {
            return Err(PrepError::Mismatch { party: *party, reference, index: k }.into());
        }
        let DealerMsg::Reserve(requests) = first else { break };
        stats.reservations += 1;
        stats.values += requests.iter().map(|r| r.size() as u64).sum::<u64>();
        let (bundles, core_back) = offload(move || {
            let b = core.deal(&requests);
            (b.into_iter().map(|b| b.encode(security)).collect::<Vec<_>>(), core)
        })
        .await?;
        core = core_back;
        let step = deal_step(k);
        let sends = members.iter().zip(bundles).map(|(p, b)| t.send(*p, &step, b));
        futures_util::future::try_join_all(sends).await?;
    }
    Ok(stats)
}
