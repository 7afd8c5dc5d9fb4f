//! The engine: one member's view of a secret-shared computation. Local operations are on
//! [`Shared`]; this type adds everything that needs the other members or preprocessing:
//! inputs, public constants, products ([`super::MulQueue`]), truncation, openings and
//! outputs with their MAC checks.

use consort_net::{PartyId, StepId, Transport};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroize;

use super::check::CheckLog;
use super::prep::{Material, Preprocessing, Request};
use super::{MpcError, Security, Shared};
use crate::fixed::{FracBits, decode, encode};

/// One member's engine over transport `T` with preprocessing source `P`.
pub struct Engine<'t, T: Transport, P: Preprocessing> {
    pub(crate) t: &'t T,
    pub(crate) members: Vec<PartyId>,
    pub(crate) me: usize,
    pub(crate) security: Security,
    pub(crate) frac: FracBits,
    pub(crate) prep: P,
    pub(crate) alpha: u128,
    pub(crate) log: CheckLog,
    pub(crate) rng: ChaCha20Rng,
    /// Fault injection for tests: added to this member's share of the next opened value.
    pub(crate) fault: u128,
}

impl<T: Transport, P: Preprocessing> Drop for Engine<'_, T, P> {
    fn drop(&mut self) {
        self.alpha.zeroize();
    }
}

impl<'t, T: Transport, P: Preprocessing> Engine<'t, T, P> {
    /// An engine for this member of `members` (the computing parties, in order; a dealer
    /// node is not one of them).
    pub fn new(t: &'t T, members: Vec<PartyId>, prep: P, frac: FracBits) -> Result<Self, MpcError> {
        let me = members
            .iter()
            .position(|p| *p == t.me())
            .ok_or_else(|| MpcError::usage(&StepId::root("engine"), format!("{} is not one of the members", t.me())))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| MpcError::usage(&StepId::root("engine"), format!("no OS randomness: {e}")))?;
        let security = prep.security();
        let alpha = prep.mac_key_share();
        Ok(Engine {
            t,
            members,
            me,
            security,
            frac,
            prep,
            alpha,
            log: CheckLog::default(),
            rng: ChaCha20Rng::from_seed(seed),
            fault: 0,
        })
    }

    /// Fault injection for tests: this member adds `delta` to its share of the next value
    /// it opens, and carries on as if nothing happened (a cheating member).
    #[doc(hidden)]
    #[cfg(feature = "test-tools")]
    pub fn inject_share_fault(&mut self, delta: u128) {
        self.fault = delta;
    }

    pub fn security(&self) -> Security {
        self.security
    }

    pub fn frac_bits(&self) -> FracBits {
        self.frac
    }

    /// This member's index among the members.
    pub fn me(&self) -> usize {
        self.me
    }

    pub fn members(&self) -> &[PartyId] {
        &self.members
    }

    pub fn transport(&self) -> &'t T {
        self.t
    }

    pub fn prep(&mut self) -> &mut P {
        &mut self.prep
    }

    /// Encodes reals in this engine's fixed point.
    pub fn encode(&self, xs: &[f64]) -> Result<Vec<u64>, MpcError> {
        xs.iter()
            .map(|x| encode(*x, self.frac).map_err(|e| MpcError::usage(&StepId::root("encode"), e.to_string())))
            .collect()
    }

    /// Decodes fixed-point values.
    pub fn decode(&self, xs: &[u64]) -> Vec<f64> {
        xs.iter().map(|x| decode(*x, self.frac)).collect()
    }

    /// A public matrix as a shared value (member 0 holds it; MACs are `α_i·v`); refuses
    /// a shape that does not match the values' count.
    pub fn public(&self, vals: &[u64], rows: usize, cols: usize) -> Result<Shared, MpcError> {
        let v: Vec<u128> = vals.iter().map(|v| u128::from(*v)).collect();
        let macs = match self.security {
            Security::SemiHonest => Vec::new(),
            Security::Malicious => v.iter().map(|x| x.wrapping_mul(self.alpha)).collect(),
        };
        let vals = if self.me == 0 { v } else { vec![0; vals.len()] };
        Shared::new(rows, cols, vals, macs)
    }

    /// Adds a public matrix of the same shape (encoded values).
    pub fn add_public(&self, x: &Shared, vals: &[u64]) -> Result<Shared, MpcError> {
        x.add(&self.public(vals, x.rows, x.cols)?)
    }

    /// Adds a public constant to every element.
    pub fn add_constant(&self, x: &Shared, c: u64) -> Result<Shared, MpcError> {
        self.add_public(x, &vec![c; x.len()])
    }

    /// Makes sure `requests` can be taken, reserving what is missing in one go.
    pub(crate) async fn ensure(&mut self, requests: &[Request]) -> Result<(), MpcError> {
        let mut stock = self.prep.available();
        let mut missing = Vec::new();
        for r in requests {
            if stock.covers(r) {
                match *r {
                    Request::Triples { len } => stock.triples -= len,
                    Request::Random { len } => stock.random -= len,
                    Request::Trunc { len, bits } => {
                        if let Some(v) = stock.trunc.get_mut(&bits) {
                            *v -= len;
                        }
                    }
                    Request::InputMask { owner, len } => {
                        if let Some(v) = stock.input_masks.get_mut(&owner) {
                            *v -= len;
                        }
                    }
                    Request::MatTriple { m, k, n } => {
                        if let Some(v) = stock.mat_triples.get_mut(&(m, k, n)) {
                            *v -= 1;
                        }
                    }
                }
            } else {
                let copies = match *r {
                    Request::MatTriple { m, k, n } if m * k + k * n + m * n < 4096 => PREFETCH_MATRICES,
                    _ => 1,
                };
                missing.extend(std::iter::repeat_n(prefetch(*r), copies));
                // The copies beyond this one stay in stock for the next steps.
                if let Request::MatTriple { m, k, n } = *r {
                    if let Some(v) = stock.mat_triples.get_mut(&(m, k, n)) {
                        *v += copies - 1;
                    } else {
                        stock.mat_triples.insert((m, k, n), copies - 1);
                    }
                }
            }
        }
        self.prep.reserve(&missing).await
    }

    pub(crate) fn take(&mut self, r: &Request) -> Result<Material, MpcError> {
        Ok(self.prep.take(r)?)
    }

    /// Tells the preprocessing source this member is done (after a final MAC check).
    pub async fn finish(&mut self, step: &StepId) -> Result<(), MpcError> {
        self.check(step).await?;
        self.prep.finish().await
    }

    pub(crate) fn owner_index(&self, step: &StepId, owner: PartyId) -> Result<usize, MpcError> {
        self.members
            .iter()
            .position(|p| *p == owner)
            .ok_or_else(|| MpcError::usage(step, format!("{owner} is not one of the members")))
    }
}

/// Values reserved at least per dealer round trip for small elementwise requests.
const PREFETCH_VALUES: usize = 1 << 15;
/// Copies of a small matrix triple reserved at once (training repeats its shapes).
const PREFETCH_MATRICES: usize = 16;

/// What to reserve when `r` is missing: small requests are rounded up so that a dealer
/// round trip serves many steps. Deterministic, so every member reserves the same.
fn prefetch(r: Request) -> Request {
    match r {
        Request::Triples { len } => Request::Triples { len: len.max(PREFETCH_VALUES) },
        Request::Trunc { len, bits } => Request::Trunc { len: len.max(PREFETCH_VALUES), bits },
        Request::Random { len } => Request::Random { len: len.max(PREFETCH_VALUES) },
        other => other,
    }
}
