//! Hybrid key switching with one special prime P (as in SEAL; Han–Ki with dnum = L + 1).
//!
//! 1. **Decompose** (ModUp): bring d to coefficient form; digit j is its residue mod q_j,
//!    centered and reduced into every modulus of Q_l·P, then NTT.
//! 2. **Inner product** with the key digits, accumulated lazily in 128 bits. A Galois
//!    automorphism can be applied to the digits here (hoisting: one decomposition serves
//!    many rotations, since σ(digit) is a valid digit of σ(d)).
//! 3. **ModDown**: divide by P with rounding, back to Q_l.

use rayon::prelude::*;

use super::context::CkksContext;
use super::error::{CkksError, Result};
use super::keys::KeySwitchKey;
use super::ring::RnsPoly;

/// The digits of a polynomial, each over Q_l·P in NTT form.
pub(crate) struct Decomposed {
    pub(crate) digits: Vec<RnsPoly>,
    pub(crate) level: usize,
}

/// ModUp of `d` (NTT over Q_l).
pub(crate) fn decompose(ctx: &CkksContext, d: &RnsPoly, level: usize) -> Result<Decomposed> {
    let bq = ctx.basis_q(level)?;
    let bqp = ctx.basis_qp(level)?;
    let n = ctx.n;
    let mut coef = d.clone();
    coef.intt(bq);
    let digits = (0..=level)
        .into_par_iter()
        .map(|j| {
            let src = coef.limb(j);
            let qj = bq.mods.get(j).map(|m| **m).unwrap_or(0);
            let half = qj >> 1;
            let mut ext = RnsPoly::zero(n, level + 2);
            ext.data.par_chunks_mut(n).zip(bqp.mods.par_iter()).zip(bqp.ops.par_iter()).enumerate().for_each(
                |(i, ((limb, m), op))| {
                    if i == j + 1 {
                        limb.copy_from_slice(d.limb(j));
                    } else {
                        limb.iter_mut().zip(src).for_each(|(o, &c)| {
                            *o = if c > half { m.neg(m.reduce(qj - c)) } else { m.reduce(c) };
                        });
                        op.forward(limb);
                    }
                },
            );
            ext
        })
        .collect();
    Ok(Decomposed { digits, level })
}

/// Σ_j σ(digit_j)·(b_j, a_j), then divide by P. Returns (k_0, k_1) over Q_l with
/// k_0 + k_1·s ≈ σ(d)·s' where s' is the key's source secret.
pub(crate) fn apply_key(
    ctx: &CkksContext,
    dec: &Decomposed,
    key: &KeySwitchKey,
    perm: Option<&[usize]>,
) -> Result<(RnsPoly, RnsPoly)> {
    if key.params_id != ctx.id {
        return Err(CkksError::ParameterMismatch { expected: ctx.id, found: key.params_id });
    }
    let level = dec.level;
    let bqp = ctx.basis_qp(level)?;
    let n = ctx.n;
    if key.b.len() < dec.digits.len() || key.a.len() < dec.digits.len() {
        return Err(CkksError::LevelMismatch { expected: key.b.len().saturating_sub(1), found: level });
    }
    let mut k0 = RnsPoly::zero(n, level + 2);
    let mut k1 = RnsPoly::zero(n, level + 2);
    k0.data.par_chunks_mut(n).zip(k1.data.par_chunks_mut(n)).zip(bqp.mods.par_iter()).enumerate().for_each(
        |(i, ((o0, o1), m))| {
            let mut acc0 = vec![0u128; n];
            let mut acc1 = vec![0u128; n];
            for ((digit, kb), ka) in dec.digits.iter().zip(&key.b).zip(&key.a) {
                let dl = digit.limb(i);
                let bl = kb.limb(i);
                let al = ka.limb(i);
                match perm {
                    Some(p) => {
                        for ((((a0, a1), &bv), &av), &pk) in acc0.iter_mut().zip(acc1.iter_mut()).zip(bl).zip(al).zip(p)
                        {
                            let x = dl.get(pk).copied().unwrap_or(0) as u128;
                            *a0 += x * bv as u128;
                            *a1 += x * av as u128;
                        }
                    }
                    None => {
                        for ((((a0, a1), &bv), &av), &x) in acc0.iter_mut().zip(acc1.iter_mut()).zip(bl).zip(al).zip(dl)
                        {
                            *a0 += x as u128 * bv as u128;
                            *a1 += x as u128 * av as u128;
                        }
                    }
                }
            }
            o0.iter_mut().zip(&acc0).for_each(|(o, &a)| *o = m.reduce_u128(a));
            o1.iter_mut().zip(&acc1).for_each(|(o, &a)| *o = m.reduce_u128(a));
        },
    );
    let bp = ctx.basis_p()?;
    let bq = ctx.basis_q(level)?;
    let inv = ctx.inv_p.get(..=level).ok_or(CkksError::OutOfLevels)?;
    k0.div_round_drop(0, bp, bq, inv);
    k1.div_round_drop(0, bp, bq, inv);
    Ok((k0, k1))
}

/// Key switch of `d` (NTT over Q_l) with `key`.
pub(crate) fn key_switch(
    ctx: &CkksContext,
    d: &RnsPoly,
    level: usize,
    key: &KeySwitchKey,
) -> Result<(RnsPoly, RnsPoly)> {
    let dec = decompose(ctx, d, level)?;
    apply_key(ctx, &dec, key, None)
}
