//! Slot rotations (X -> X^{5^k}) and conjugation (X -> X^{2N-1}), with hoisting: one
//! decomposition of c_1 serves any number of rotations of the same ciphertext.

use rayon::prelude::*;

use super::encrypt::Ciphertext;
use super::error::{CkksError, Result};
use super::eval::Evaluator;
use super::keys::{GaloisKeys, conjugation_element, galois_element};
use super::keyswitch::{Decomposed, apply_key, decompose};
use super::ring::galois_permutation;

impl Evaluator {
    fn check_galois(&self, ct: &Ciphertext, gks: &GaloisKeys) -> Result<()> {
        self.check_ct(ct)?;
        if gks.params_id != self.ctx.id {
            return Err(CkksError::ParameterMismatch { expected: self.ctx.id, found: gks.params_id });
        }
        if ct.polys.len() != 2 {
            return Err(CkksError::CiphertextSize { expected: 2, found: ct.polys.len() });
        }
        Ok(())
    }

    fn apply_galois(
        &self,
        ct: &Ciphertext,
        dec: &Decomposed,
        g: usize,
        step: i64,
        gks: &GaloisKeys,
    ) -> Result<Ciphertext> {
        let key = gks.get(g, step)?;
        let perm = galois_permutation(self.ctx.n, g);
        let (k0, k1) = apply_key(&self.ctx, dec, key, Some(&perm))?;
        let c0 = ct.polys.first().ok_or(CkksError::CiphertextSize { expected: 2, found: 0 })?;
        let mut d0 = c0.permute(&perm);
        d0.add_assign(&k0, self.ctx.basis_q(ct.level)?);
        Ok(Ciphertext { polys: vec![d0, k1], level: ct.level, scale: ct.scale, params_id: ct.params_id })
    }

    fn decompose_c1(&self, ct: &Ciphertext) -> Result<Decomposed> {
        let c1 = ct.polys.get(1).ok_or(CkksError::CiphertextSize { expected: 2, found: ct.polys.len() })?;
        decompose(&self.ctx, c1, ct.level)
    }

    /// Rotate the slots left by `step` (slot i receives slot i + step); negative steps
    /// rotate right. Needs the Galois key of this step (see [`Evaluator::rotate_pow2`]).
    pub fn rotate(&self, ct: &Ciphertext, step: i64, gks: &GaloisKeys) -> Result<Ciphertext> {
        self.check_galois(ct, gks)?;
        let g = galois_element(self.ctx.n, step);
        if g == 1 {
            return Ok(ct.clone());
        }
        let dec = self.decompose_c1(ct)?;
        self.apply_galois(ct, &dec, g, step, gks)
    }

    /// Several rotations of the same ciphertext sharing one decomposition (hoisting).
    pub fn rotate_many(&self, ct: &Ciphertext, steps: &[i64], gks: &GaloisKeys) -> Result<Vec<Ciphertext>> {
        self.check_galois(ct, gks)?;
        let dec = self.decompose_c1(ct)?;
        steps
            .par_iter()
            .map(|&step| {
                let g = galois_element(self.ctx.n, step);
                if g == 1 { Ok(ct.clone()) } else { self.apply_galois(ct, &dec, g, step, gks) }
            })
            .collect()
    }

    /// Complex conjugation of the slots (identity on real data, used by some algorithms).
    pub fn conjugate(&self, ct: &Ciphertext, gks: &GaloisKeys) -> Result<Ciphertext> {
        self.check_galois(ct, gks)?;
        let dec = self.decompose_c1(ct)?;
        self.apply_galois(ct, &dec, conjugation_element(self.ctx.n), 0, gks)
    }

    /// Rotate by any step using only power-of-two keys (one key switch per set bit of
    /// the step, or of slots - step when that has fewer bits).
    pub fn rotate_pow2(&self, ct: &Ciphertext, step: i64, gks: &GaloisKeys) -> Result<Ciphertext> {
        let slots = self.ctx.slots() as i64;
        let k = step.rem_euclid(slots);
        if gks.contains_element(galois_element(self.ctx.n, k)) {
            return self.rotate(ct, k, gks);
        }
        let right = slots - k;
        let (mut rest, sign) = if right.count_ones() < k.count_ones() { (right, -1) } else { (k, 1) };
        let mut out = ct.clone();
        let mut bit = 1i64;
        while rest > 0 {
            if rest & 1 == 1 {
                out = self.rotate(&out, sign * bit, gks)?;
            }
            rest >>= 1;
            bit <<= 1;
        }
        Ok(out)
    }
}
