//! Probabilistic truncation in Z_2^64 with a preprocessed pair (Escudero et al., CRYPTO
//! 2020): shifts shared values right by `m` bits in one round, exact up to one unit in
//! the last place.
//!
//! For `|x| < 2^62`: `x' = x + 2^62 ∈ [0, 2^63)`. The dealer gives shares of a uniform
//! `r`, of its top bit `r_63` and of `(r mod 2^63) >> m`. Members open `c = x' + r`
//! (uniform, so it reveals nothing); with `c' = c mod 2^63`,
//! `x' + (r mod 2^63) = c' + 2^63·b` where `b = c_63 ⊕ r_63` is linear in the shares, so
//! `x >> m ≈ (c' >> m) − ((r mod 2^63) >> m) + 2^(63−m)·b − 2^(62−m)`.

use consort_net::{StepId, Transport};

use super::prep::{Material, Preprocessing, Request};
use super::{Engine, MpcError, Security, Shared};

const HALF: u64 = 1 << 62;

impl<T: Transport, P: Preprocessing> Engine<'_, T, P> {
    /// Shifts every value of every item right by its number of bits (arithmetically),
    /// all in one round. Values must satisfy `|x| < 2^62`.
    pub async fn truncate(&mut self, step: &StepId, items: Vec<(Shared, u32)>) -> Result<Vec<Shared>, MpcError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        if let Some((_, b)) = items.iter().find(|(_, b)| *b == 0 || *b > 62) {
            return Err(MpcError::usage(step, format!("cannot truncate by {b} bits (1..=62)")));
        }
        let requests: Vec<Request> =
            items.iter().map(|(x, bits)| Request::Trunc { len: x.len(), bits: *bits }).collect();
        self.ensure(&requests).await?;
        let pairs = requests.iter().map(|r| self.take(r)).collect::<Result<Vec<_>, _>>()?;
        let mut vals = Vec::new();
        let mut macs = Vec::new();
        let half = u128::from(HALF);
        for ((x, _), p) in items.iter().zip(&pairs) {
            let r = p.parts.first().cloned().unwrap_or_default();
            let me0 = self.me == 0;
            vals.extend(
                x.vals.iter().zip(&r.vals).map(|(v, r)| v.wrapping_add(*r).wrapping_add(if me0 { half } else { 0 })),
            );
            macs.extend(
                x.macs.iter().zip(&r.macs).map(|(m, r)| m.wrapping_add(*r).wrapping_add(self.alpha.wrapping_mul(half))),
            );
        }
        let opened = self.open(step, vals, macs).await?;
        // The copy of α moved to the rayon thread is wiped with the closure.
        let (me0, alpha, security) = (self.me == 0, zeroize::Zeroizing::new(self.alpha), self.security);
        // One pass over every value: on rayon, not on the runtime that drives the network.
        super::offload(move || finalize(&items, &pairs, &opened, me0, *alpha, security)).await?
    }

    /// Products with `2f` fractional bits back to `f`.
    pub async fn rescale(&mut self, step: &StepId, xs: Vec<Shared>) -> Result<Vec<Shared>, MpcError> {
        let f = u32::from(self.frac.get());
        self.truncate(step, xs.into_iter().map(|x| (x, f)).collect()).await
    }

    /// Fixed-point products (elementwise and matrix) of a queue: one round to multiply,
    /// one to truncate.
    pub async fn mul_fixed(&mut self, step: &StepId, queue: super::MulQueue) -> Result<Vec<Shared>, MpcError> {
        let raw = self.exchange(&step.child("mul"), queue).await?;
        self.rescale(&step.child("trunc"), raw).await
    }
}

/// The shares of `x >> bits` from the opened `c = x + 2^62 + r` and the pair's shares.
fn finalize(
    items: &[(Shared, u32)],
    pairs: &[Material],
    opened: &[u128],
    me0: bool,
    alpha: u128,
    security: Security,
) -> Result<Vec<Shared>, MpcError> {
    let mut out = Vec::with_capacity(items.len());
    let mut at = 0usize;
    let mal = security == Security::Malicious;
    for ((x, bits), p) in items.iter().zip(pairs) {
        let msb = p.parts.get(1).cloned().unwrap_or_default();
        let hi = p.parts.get(2).cloned().unwrap_or_default();
        let k = 1u128 << (63 - bits);
        let mut v = Vec::with_capacity(x.len());
        let mut m = Vec::with_capacity(if mal { x.len() } else { 0 });
        for i in 0..x.len() {
            let c = opened.get(at + i).copied().unwrap_or(0) as u64;
            let low = c & (u64::MAX >> 1);
            let top = c >> 63;
            // Public part: (c' >> m) − 2^(62−m), plus 2^(63−m) when c_63 = 1 (b = 1 − r_63).
            let mut public = u128::from(low >> bits).wrapping_sub(1u128 << (62 - bits));
            let sign: u128 = if top == 0 { 1 } else { u128::MAX };
            if top == 1 {
                public = public.wrapping_add(k);
            }
            let term = |h: u128, s: u128| s.wrapping_mul(k).wrapping_mul(sign).wrapping_sub(h);
            let hv = hi.vals.get(i).copied().unwrap_or(0);
            let sv = msb.vals.get(i).copied().unwrap_or(0);
            let share = term(hv, sv).wrapping_add(if me0 { public } else { 0 });
            v.push(security.reduce(share));
            if mal {
                let hm = hi.macs.get(i).copied().unwrap_or(0);
                let sm = msb.macs.get(i).copied().unwrap_or(0);
                m.push(term(hm, sm).wrapping_add(alpha.wrapping_mul(public)));
            }
        }
        at += x.len();
        out.push(Shared::new(x.rows, x.cols, v, m)?);
    }
    Ok(out)
}
