//! Linear algebra on ciphertexts: vector × plaintext matrix by the diagonal method with
//! baby-step giant-step rotations, inner products, sums of slots and batches.
//!
//! ## Diagonal method (seed 001, Algorithms 1–2, generalized to rectangular matrices)
//! Let M be the d_out × d_in matrix of y = M·x, padded to powers of two D_out × D_in,
//! m = min(D_in, D_out) and B = max(D_in, D_out). The generalized diagonals are
//! `diag_i[j] = M[j mod D_out][(j + i) mod D_in]` for i < m, j < B. With x̃ = x repeated
//! with period D_in (Algorithm 1's `b + Rotation(b, -cols)`, done by doubling),
//! `z = Σ_i diag_i ⊙ rot(x̃, i)` is y itself when D_out ≥ D_in; when D_in > D_out,
//! y_k = Σ_t z[k + t·D_out], folded with log2(D_in/D_out) rotations.
//!
//! Baby-step giant-step: with i = g·a + b, `z = Σ_a rot(Σ_b rot(diag_i, -g·a) ⊙ rot(x̃, b), g·a)`,
//! so only g - 1 baby rotations (hoisted: one decomposition) and m/g - 1 giant ones are
//! needed. Diagonals are encoded at scale q_level, so rescaling gives back the input's
//! scale exactly; each inner sum is rescaled before its giant rotation, which then works
//! on one prime less. One level is used.
//!
//! Output: y in slots [0, d_out). When D_in > D_out the other slots hold partial sums
//! (mask them with [`Evaluator::mask_prefix`] before reusing the ciphertext as a
//! zero-padded input); when D_in ≤ D_out they are zero.

use rayon::prelude::*;

use super::context::CkksContext;
use super::encoder::Plaintext;
use super::encrypt::Ciphertext;
use super::error::{CkksError, Result};
use super::eval::Evaluator;
use super::keys::GaloisKeys;

/// Shapes and rotation schedule of a matrix-vector product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    d_in: usize,
    d_out: usize,
    din_p: usize,
    dout_p: usize,
    baby: usize,
    giant: usize,
}

impl Shape {
    fn new(slots: usize, d_in: usize, d_out: usize) -> Result<Self> {
        if d_in == 0 || d_out == 0 {
            return Err(CkksError::DimensionMismatch { what: "matrix dimension", expected: 1, found: 0 });
        }
        let din_p = d_in.next_power_of_two();
        let dout_p = d_out.next_power_of_two();
        let m = din_p.min(dout_p);
        let big = din_p.max(dout_p);
        if big + m > slots {
            return Err(CkksError::SlotsOverflow { len: big + m, slots });
        }
        let baby = 1usize << m.trailing_zeros().div_ceil(2);
        Ok(Self { d_in, d_out, din_p, dout_p, baby, giant: m.div_ceil(baby) })
    }

    fn diagonals(&self) -> usize {
        self.din_p.min(self.dout_p)
    }

    fn width(&self) -> usize {
        self.din_p.max(self.dout_p)
    }

    fn replicate_steps(&self) -> Vec<i64> {
        let mut steps = Vec::new();
        let mut covered = self.din_p;
        while covered < self.width() + self.diagonals() {
            steps.push(-(covered as i64));
            covered *= 2;
        }
        steps
    }

    fn fold_steps(&self) -> Vec<i64> {
        let mut steps = Vec::new();
        let mut s = self.dout_p;
        while s < self.din_p {
            steps.push(s as i64);
            s *= 2;
        }
        steps
    }

    fn rotation_steps(&self) -> Vec<i64> {
        let mut steps: Vec<i64> = (1..self.baby as i64).collect();
        steps.extend((1..self.giant as i64).map(|a| a * self.baby as i64));
        steps.extend(self.replicate_steps());
        steps.extend(self.fold_steps());
        steps.sort_unstable();
        steps.dedup();
        steps
    }
}

/// A plaintext matrix prepared for products with encrypted vectors: its diagonals,
/// pre-rotated and encoded once at the level the input will be at.
#[derive(Debug, Clone)]
pub struct MatVecPlan {
    shape: Shape,
    level: usize,
    diags: Vec<Option<Plaintext>>,
}

impl MatVecPlan {
    /// Rotation steps whose Galois keys a product of an encrypted `d_in`-vector with a
    /// d_out × d_in matrix needs (pass them to `KeyGenerator::galois_keys`).
    pub fn rotation_steps(ctx: &CkksContext, d_in: usize, d_out: usize) -> Result<Vec<i64>> {
        Ok(Shape::new(ctx.slots(), d_in, d_out)?.rotation_steps())
    }

    /// Plan for y = x · W, with W given row-major as `d_in` rows of `d_out` entries (the
    /// layout of a dense layer's weights: encrypted activations times plaintext weights).
    pub fn vector_matrix(eval: &Evaluator, w: &[f64], d_in: usize, d_out: usize, level: usize) -> Result<Self> {
        if w.len() != d_in * d_out {
            return Err(CkksError::DimensionMismatch {
                what: "matrix entries",
                expected: d_in * d_out,
                found: w.len(),
            });
        }
        Self::build(eval, d_in, d_out, level, |k, c| w.get(c * d_out + k).copied().unwrap_or(0.0))
    }

    /// Plan for y = M · x, with M given row-major as `d_out` rows of `d_in` entries.
    pub fn matrix_vector(eval: &Evaluator, m: &[f64], d_out: usize, d_in: usize, level: usize) -> Result<Self> {
        if m.len() != d_in * d_out {
            return Err(CkksError::DimensionMismatch {
                what: "matrix entries",
                expected: d_in * d_out,
                found: m.len(),
            });
        }
        Self::build(eval, d_in, d_out, level, |k, c| m.get(k * d_in + c).copied().unwrap_or(0.0))
    }

    /// `entry(k, c)` = M[k][c], output row k, input column c.
    fn build(
        eval: &Evaluator,
        d_in: usize,
        d_out: usize,
        level: usize,
        entry: impl Fn(usize, usize) -> f64 + Sync,
    ) -> Result<Self> {
        let ctx = eval.context();
        if level == 0 {
            return Err(CkksError::OutOfLevels);
        }
        ctx.check_level(level)?;
        let slots = ctx.slots();
        let shape = Shape::new(slots, d_in, d_out)?;
        let scale = ctx.q_at(level)? as f64;
        let diags = (0..shape.diagonals())
            .into_par_iter()
            .map(|i| {
                let shift = (i / shape.baby) * shape.baby;
                let mut v = vec![0.0; slots];
                let mut nonzero = false;
                for j in 0..shape.width() {
                    let (k, c) = (j % shape.dout_p, (j + i) % shape.din_p);
                    if k < d_out && c < d_in {
                        let x = entry(k, c);
                        if let Some(slot) = v.get_mut((j + shift) % slots) {
                            *slot = x;
                        }
                        nonzero |= x != 0.0;
                    }
                }
                if nonzero { eval.encoder().encode(&v, level, scale).map(Some) } else { Ok(None) }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { shape, level, diags })
    }

    /// Input length.
    pub fn d_in(&self) -> usize {
        self.shape.d_in
    }

    /// Output length.
    pub fn d_out(&self) -> usize {
        self.shape.d_out
    }

    /// Level the input must be at (higher inputs are brought down).
    pub fn level(&self) -> usize {
        self.level
    }

    /// The rotation steps this plan uses.
    pub fn steps(&self) -> Vec<i64> {
        self.shape.rotation_steps()
    }

    /// y = M·x for an encrypted x (zero outside slots [0, d_in)). Uses one level.
    pub fn apply(&self, eval: &Evaluator, ct: &Ciphertext, gks: &GaloisKeys) -> Result<Ciphertext> {
        if ct.level < self.level {
            return Err(CkksError::LevelMismatch { expected: self.level, found: ct.level });
        }
        let ctx = eval.context();
        let mut x = eval.mod_down_to(ct, self.level)?;
        for step in self.shape.replicate_steps() {
            x = eval.add(&x, &eval.rotate(&x, step, gks)?)?;
        }
        let babies: Vec<i64> = (0..self.shape.baby as i64).collect();
        let rotated = eval.rotate_many(&x, &babies, gks)?;
        let basis = ctx.basis_q(self.level)?;
        let partials = (0..self.shape.giant)
            .into_par_iter()
            .map(|a| -> Result<Option<Ciphertext>> {
                let diags =
                    (0..rotated.len()).map(|b| self.diags.get(a * self.shape.baby + b).and_then(Option::as_ref));
                let acc = sum_of_products(&rotated, diags, basis);
                // Rescale first: the giant rotation then runs one level lower (cheaper).
                match acc {
                    Some(acc) if a > 0 => {
                        eval.rotate(&eval.rescale(&acc)?, (a * self.shape.baby) as i64, gks).map(Some)
                    }
                    Some(acc) => eval.rescale(&acc).map(Some),
                    None => Ok(None),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let mut sum: Option<Ciphertext> = None;
        for p in partials.into_iter().flatten() {
            sum = Some(match sum {
                None => p,
                Some(s) => eval.add(&s, &p)?,
            });
        }
        let mut y = match sum {
            Some(s) => s,
            None => {
                let zero = eval.encoder().encode(&[], self.level, ctx.q_at(self.level)? as f64)?;
                eval.rescale(&eval.mul_plain(&x, &zero)?)?
            }
        };
        for step in self.shape.fold_steps() {
            y = eval.add(&y, &eval.rotate(&y, step, gks)?)?;
        }
        Ok(y)
    }

    /// The same product for many encrypted vectors, in parallel.
    pub fn apply_batch(&self, eval: &Evaluator, cts: &[Ciphertext], gks: &GaloisKeys) -> Result<Vec<Ciphertext>> {
        cts.par_iter().map(|ct| self.apply(eval, ct, gks)).collect()
    }
}

/// Σ_i rotated_i ⊙ diags_i without rescaling (lazy: one multiply-add per coefficient),
/// skipping absent (all-zero) diagonals; `None` when every diagonal is absent.
pub(crate) fn sum_of_products<'a>(
    rotated: &[Ciphertext],
    diags: impl Iterator<Item = Option<&'a Plaintext>>,
    basis: super::context::Basis<'_>,
) -> Option<Ciphertext> {
    let mut acc: Option<Ciphertext> = None;
    for (rct, diag) in rotated.iter().zip(diags) {
        let Some(diag) = diag else { continue };
        let acc = acc.get_or_insert_with(|| {
            let mut zero = rct.clone();
            zero.polys.iter_mut().for_each(|p| p.data.iter_mut().for_each(|c| *c = 0));
            zero.scale = rct.scale * diag.scale;
            zero
        });
        for (dst, src) in acc.polys.iter_mut().zip(&rct.polys) {
            dst.add_product(src, &diag.poly, basis);
        }
    }
    acc
}

impl Evaluator {
    /// Slot 0 (and every slot k, cyclically) receives the sum of slots [k, k + len.next_power_of_two()).
    /// Needs the power-of-two Galois keys 1, 2, 4, ... below `len`.
    pub fn sum_slots(&self, ct: &Ciphertext, len: usize, gks: &GaloisKeys) -> Result<Ciphertext> {
        let mut acc = ct.clone();
        let mut s = 1usize;
        while s < len {
            acc = self.add(&acc, &self.rotate(&acc, s as i64, gks)?)?;
            s *= 2;
        }
        Ok(acc)
    }

    /// ⟨x, w⟩ for an encrypted x and plaintext w, in slot 0. Uses one level.
    pub fn inner_product_plain(&self, ct: &Ciphertext, w: &[f64], gks: &GaloisKeys) -> Result<Ciphertext> {
        let prod = self.mul_values_rescale(ct, w)?;
        self.sum_slots(&prod, w.len(), gks)
    }

    /// ⟨x, y⟩ of two encrypted vectors of length `len`, in slot 0. Uses one level.
    pub fn inner_product(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
        len: usize,
        rlk: &super::keys::RelinKey,
        gks: &GaloisKeys,
    ) -> Result<Ciphertext> {
        let prod = self.mul_relin_rescale(a, b, rlk)?;
        self.sum_slots(&prod, len, gks)
    }

    /// Keep slots [0, len) and zero the others (one level).
    pub fn mask_prefix(&self, ct: &Ciphertext, len: usize) -> Result<Ciphertext> {
        let ones = vec![1.0; len.min(self.ctx.slots())];
        self.mul_values_rescale(ct, &ones)
    }
}
