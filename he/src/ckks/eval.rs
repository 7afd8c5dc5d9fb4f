//! Homomorphic arithmetic: add/sub, plaintext add/mul, multiply, relinearize, rescale and
//! level management.
//!
//! Operands at different levels are brought to the lower one by dropping primes (mod-down,
//! exact and free). Scales must agree to a relative 1e-9 for additions: CKKS does not
//! fix mismatched scales silently.

use std::sync::Arc;

use super::context::CkksContext;
use super::encoder::{Encoder, Plaintext};
use super::encrypt::Ciphertext;
use super::error::{CkksError, Result};
use super::keys::RelinKey;
use super::keyswitch::key_switch;
use super::ring::RnsPoly;

const SCALE_TOLERANCE: f64 = 1e-9;

/// Evaluates operations on ciphertexts. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Evaluator {
    pub(crate) ctx: Arc<CkksContext>,
    pub(crate) encoder: Encoder,
}

pub(crate) fn scales_match(a: f64, b: f64) -> bool {
    ((a - b) / a.abs().max(b.abs()).max(f64::MIN_POSITIVE)).abs() <= SCALE_TOLERANCE
}

impl Evaluator {
    /// An evaluator for this context.
    pub fn new(ctx: &Arc<CkksContext>) -> Self {
        Self { ctx: ctx.clone(), encoder: Encoder::new(ctx) }
    }

    /// The context.
    pub fn context(&self) -> &Arc<CkksContext> {
        &self.ctx
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    pub(crate) fn check_ct(&self, ct: &Ciphertext) -> Result<()> {
        if ct.params_id != self.ctx.id {
            return Err(CkksError::ParameterMismatch { expected: self.ctx.id, found: ct.params_id });
        }
        self.ctx.check_level(ct.level)
    }

    fn check_pt(&self, pt: &Plaintext) -> Result<()> {
        if pt.params_id != self.ctx.id {
            return Err(CkksError::ParameterMismatch { expected: self.ctx.id, found: pt.params_id });
        }
        self.ctx.check_level(pt.level)
    }

    /// Drop primes down to `level` (no change of scale).
    pub fn mod_down_to(&self, ct: &Ciphertext, level: usize) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        if level > ct.level {
            return Err(CkksError::LevelMismatch { expected: ct.level, found: level });
        }
        let mut out = ct.clone();
        out.polys.iter_mut().for_each(|p| p.truncate(level + 1));
        out.level = level;
        Ok(out)
    }

    fn combine(&self, a: &Ciphertext, b: &Ciphertext, subtract: bool) -> Result<Ciphertext> {
        self.check_ct(a)?;
        self.check_ct(b)?;
        if !scales_match(a.scale, b.scale) {
            return Err(CkksError::ScaleMismatch { left: a.scale, right: b.scale });
        }
        let level = a.level.min(b.level);
        let basis = self.ctx.basis_q(level)?;
        let (big, small, flip) = if a.polys.len() >= b.polys.len() { (a, b, false) } else { (b, a, true) };
        let mut out = self.mod_down_to(big, level)?;
        for (i, o) in out.polys.iter_mut().enumerate() {
            if flip && subtract {
                o.neg_assign(basis);
            }
            if let Some(s) = small.polys.get(i) {
                let s = s.prefix(level + 1);
                if subtract && !flip { o.sub_assign(&s, basis) } else { o.add_assign(&s, basis) }
            }
        }
        Ok(out)
    }

    /// a + b.
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.combine(a, b, false)
    }

    /// a - b.
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.combine(a, b, true)
    }

    /// -a.
    pub fn negate(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.check_ct(a)?;
        let basis = self.ctx.basis_q(a.level)?;
        let mut out = a.clone();
        out.polys.iter_mut().for_each(|p| p.neg_assign(basis));
        Ok(out)
    }

    /// ct + pt (same scale).
    pub fn add_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        self.check_pt(pt)?;
        if !scales_match(ct.scale, pt.scale) {
            return Err(CkksError::ScaleMismatch { left: ct.scale, right: pt.scale });
        }
        let level = ct.level.min(pt.level);
        let basis = self.ctx.basis_q(level)?;
        let mut out = self.mod_down_to(ct, level)?;
        if let Some(c0) = out.polys.first_mut() {
            c0.add_assign(&pt.poly.prefix(level + 1), basis);
        }
        Ok(out)
    }

    /// ct + values (encoded at the ciphertext's level and scale).
    pub fn add_values(&self, ct: &Ciphertext, values: &[f64]) -> Result<Ciphertext> {
        let pt = self.encoder.encode(values, ct.level, ct.scale)?;
        self.add_plain(ct, &pt)
    }

    /// ct ⊙ pt; the scale becomes the product of the scales (rescale afterwards).
    pub fn mul_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        self.check_pt(pt)?;
        let level = ct.level.min(pt.level);
        let basis = self.ctx.basis_q(level)?;
        let mut out = self.mod_down_to(ct, level)?;
        let m = pt.poly.prefix(level + 1);
        out.polys.iter_mut().for_each(|p| p.mul_assign(&m, basis));
        out.scale = ct.scale * pt.scale;
        Ok(out)
    }

    /// ct ⊙ values, encoded at scale q_level so that the following rescale restores the
    /// ciphertext's scale exactly. Rescales.
    pub fn mul_values_rescale(&self, ct: &Ciphertext, values: &[f64]) -> Result<Ciphertext> {
        if ct.level == 0 {
            return Err(CkksError::OutOfLevels);
        }
        let pt = self.encoder.encode(values, ct.level, self.ctx.q_at(ct.level)? as f64)?;
        self.rescale(&self.mul_plain(ct, &pt)?)
    }

    /// Tensor product (size 3 result); relinearize next.
    pub fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.check_ct(a)?;
        self.check_ct(b)?;
        for c in [a, b] {
            if c.polys.len() != 2 {
                return Err(CkksError::CiphertextSize { expected: 2, found: c.polys.len() });
            }
        }
        let level = a.level.min(b.level);
        let basis = self.ctx.basis_q(level)?;
        let a = self.mod_down_to(a, level)?;
        let b = self.mod_down_to(b, level)?;
        let (Some(a0), Some(a1), Some(b0), Some(b1)) =
            (a.polys.first(), a.polys.get(1), b.polys.first(), b.polys.get(1))
        else {
            return Err(CkksError::CiphertextSize { expected: 2, found: 0 });
        };
        let mut c0 = a0.clone();
        c0.mul_assign(b0, basis);
        let mut c1 = a0.clone();
        c1.mul_assign(b1, basis);
        c1.add_product(a1, b0, basis);
        let mut c2 = a1.clone();
        c2.mul_assign(b1, basis);
        Ok(Ciphertext { polys: vec![c0, c1, c2], level, scale: a.scale * b.scale, params_id: self.ctx.id })
    }

    /// Size 3 to size 2 with the relinearization key.
    pub fn relinearize(&self, ct: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        let (Some(c0), Some(c1), Some(c2), 3) = (ct.polys.first(), ct.polys.get(1), ct.polys.get(2), ct.polys.len())
        else {
            return Err(CkksError::CiphertextSize { expected: 3, found: ct.polys.len() });
        };
        let basis = self.ctx.basis_q(ct.level)?;
        let (k0, k1) = key_switch(&self.ctx, c2, ct.level, &rlk.0)?;
        let mut d0 = c0.clone();
        d0.add_assign(&k0, basis);
        let mut d1 = c1.clone();
        d1.add_assign(&k1, basis);
        Ok(Ciphertext { polys: vec![d0, d1], level: ct.level, scale: ct.scale, params_id: ct.params_id })
    }

    /// Divide by q_level with rounding: level - 1, scale / q_level.
    pub fn rescale(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        if ct.level == 0 {
            return Err(CkksError::OutOfLevels);
        }
        let level = ct.level;
        let last = self.ctx.basis_q(level)?;
        let (last_mods, last_ops) = (last.mods.get(level..).unwrap_or(&[]), last.ops.get(level..).unwrap_or(&[]));
        let last_basis = super::context::Basis { mods: last_mods, ops: last_ops };
        let rest = self.ctx.basis_q(level - 1)?;
        let inv = self.ctx.inv_q_last.get(level).ok_or(CkksError::OutOfLevels)?;
        let q_last = self.ctx.q_at(level)? as f64;
        let polys: Vec<RnsPoly> = ct
            .polys
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.div_round_drop(level, last_basis, rest, inv);
                p
            })
            .collect();
        Ok(Ciphertext { polys, level: level - 1, scale: ct.scale / q_last, params_id: ct.params_id })
    }

    /// Multiply, relinearize and rescale.
    pub fn mul_relin_rescale(&self, a: &Ciphertext, b: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        self.rescale(&self.relinearize(&self.mul(a, b)?, rlk)?)
    }
}
