//! A dense layer on a whole encrypted mini-batch: y_i = x_i·W for every row i at once,
//! and the backward product g_i·Wᵀ, for split learning.
//!
//! ## Layout (feature-major)
//! Rows of length d are padded to D = d.next_power_of_two() and a chunk of B = slots / D
//! rows fills one ciphertext with slot `j·B + i = x_i[j]`: block j holds feature j of every
//! row. Rotating by a multiple of B moves whole feature blocks, and because D·B equals the
//! slot count the rotation is cyclic over features; that is what lets one ciphertext
//! carry B independent products without the rows leaking into each other.
//!
//! ## Forward, y = x·W (W is d × c, c padded to C ≤ D)
//! `E = Σ_{t<C} rot(x, −t·B) ⊙ P_t` with block q of P_t equal to W[(q−t) mod D][q mod C]:
//! block q of E gathers, for class q mod C, the features q, q−1, …, q−C+1. Folding blocks
//! with steps D/2·B, …, C·B (log2(D/C) rotations) leaves y_i[k] in slot `k·B + i`. As q
//! runs over one class's blocks and t over [0, C), q − t meets every feature exactly once.
//! Cost: C − 1 hoisted rotations of the input, C plaintext products, one rescale and
//! log2(D/C) rotations, against c·log2(D) for one rotate-and-sum per class.
//!
//! ## Backward, g·Wᵀ
//! The gradient at the layer's output is sent tiled: block q holds g[·][q mod C]. Then
//! `Σ_{t<C} rot(g, −t·B) ⊙ Q_t`, block q of Q_t = W[q][(q−t) mod C], has g_i·W[q]ᵀ in block
//! q. No fold is needed.
//!
//! Both products use one level; the plaintexts are encoded at scale q_level so that the
//! rescale gives back the input's scale exactly.

use rayon::prelude::*;

use super::context::CkksContext;
use super::encoder::Plaintext;
use super::encrypt::Ciphertext;
use super::error::{CkksError, Result};
use super::eval::Evaluator;
use super::keys::GaloisKeys;
use super::linalg::sum_of_products;

/// How a mini-batch of row vectors is laid out in ciphertext slots (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLayout {
    d: usize,
    dp: usize,
    rows: usize,
    slots: usize,
}

impl BatchLayout {
    /// Layout for rows of `d` features under `ctx`.
    pub fn new(ctx: &CkksContext, d: usize) -> Result<Self> {
        let slots = ctx.slots();
        let dp = d.max(1).next_power_of_two();
        if d == 0 || dp > slots {
            return Err(CkksError::SlotsOverflow { len: dp, slots });
        }
        Ok(Self { d, dp, rows: slots / dp, slots })
    }

    /// Features per row.
    pub fn features(&self) -> usize {
        self.d
    }

    /// Rows per ciphertext (B).
    pub fn rows_per_ciphertext(&self) -> usize {
        self.rows
    }

    /// Ciphertexts needed for `n` rows.
    pub fn ciphertexts_for(&self, n: usize) -> usize {
        n.div_ceil(self.rows)
    }

    /// Slot vectors of `n` rows given row-major (`n × d`), one per ciphertext.
    pub fn encode_rows(&self, x: &[f64], n: usize) -> Result<Vec<Vec<f64>>> {
        if x.len() != n * self.d {
            return Err(CkksError::DimensionMismatch { what: "batch entries", expected: n * self.d, found: x.len() });
        }
        Ok((0..self.ciphertexts_for(n))
            .map(|c| {
                let mut v = vec![0.0; self.slots];
                for i in 0..self.rows.min(n - c * self.rows) {
                    let row = x.get((c * self.rows + i) * self.d..(c * self.rows + i + 1) * self.d).unwrap_or(&[]);
                    for (j, &xj) in row.iter().enumerate() {
                        if let Some(s) = v.get_mut(j * self.rows + i) {
                            *s = xj;
                        }
                    }
                }
                v
            })
            .collect())
    }

    /// Slot vectors of `n` rows of `c` classes (row-major `n × c`), each class tiled over
    /// every block (the backward input).
    pub fn encode_tiled(&self, g: &[f64], n: usize, c: usize) -> Result<Vec<Vec<f64>>> {
        let cp = self.classes_padded(c)?;
        if g.len() != n * c {
            return Err(CkksError::DimensionMismatch { what: "gradient entries", expected: n * c, found: g.len() });
        }
        Ok((0..self.ciphertexts_for(n))
            .map(|chunk| {
                let mut v = vec![0.0; self.slots];
                for i in 0..self.rows.min(n - chunk * self.rows) {
                    let r = chunk * self.rows + i;
                    for q in 0..self.dp {
                        let k = q % cp;
                        if k < c
                            && let (Some(s), Some(&gv)) = (v.get_mut(q * self.rows + i), g.get(r * c + k))
                        {
                            *s = gv;
                        }
                    }
                }
                v
            })
            .collect())
    }

    /// Reads `width` values per row from decrypted slot vectors (block j = value j), for
    /// `n` rows in total: the inverse of [`BatchLayout::encode_rows`] with any width ≤ D.
    pub fn decode_rows(&self, slots: &[Vec<f64>], n: usize, width: usize) -> Result<Vec<f64>> {
        if slots.len() != self.ciphertexts_for(n) {
            return Err(CkksError::DimensionMismatch {
                what: "decrypted chunks",
                expected: self.ciphertexts_for(n),
                found: slots.len(),
            });
        }
        let mut out = Vec::with_capacity(n * width);
        for r in 0..n {
            let (chunk, i) = (r / self.rows, r % self.rows);
            let v = slots.get(chunk).map_or(&[][..], Vec::as_slice);
            out.extend((0..width).map(|j| v.get(j * self.rows + i).copied().unwrap_or(0.0)));
        }
        Ok(out)
    }

    fn classes_padded(&self, c: usize) -> Result<usize> {
        let cp = c.max(1).next_power_of_two();
        if c == 0 || cp > self.dp {
            return Err(CkksError::DimensionMismatch {
                what: "layer outputs (at most the padded inputs)",
                expected: self.dp,
                found: c,
            });
        }
        Ok(cp)
    }
}

/// A plaintext dense layer W (d × c) prepared for encrypted mini-batches: its forward and
/// backward diagonals, encoded once at the level the inputs will be at.
#[derive(Debug, Clone)]
pub struct BatchLinear {
    layout: BatchLayout,
    c: usize,
    cp: usize,
    level: usize,
    forward: Vec<Option<Plaintext>>,
    backward: Vec<Option<Plaintext>>,
}

impl BatchLinear {
    /// Rotation steps whose Galois keys the layer needs (forward and backward).
    pub fn rotation_steps(ctx: &CkksContext, d: usize, c: usize) -> Result<Vec<i64>> {
        let layout = BatchLayout::new(ctx, d)?;
        let cp = layout.classes_padded(c)?;
        Ok(steps(&layout, cp))
    }

    /// Prepares W given row-major as `d` rows of `c` entries, for inputs at `level`.
    pub fn new(eval: &Evaluator, w: &[f64], d: usize, c: usize, level: usize) -> Result<Self> {
        let ctx = eval.context();
        let layout = BatchLayout::new(ctx, d)?;
        let cp = layout.classes_padded(c)?;
        if w.len() != d * c {
            return Err(CkksError::DimensionMismatch { what: "weights", expected: d * c, found: w.len() });
        }
        if level == 0 {
            return Err(CkksError::OutOfLevels);
        }
        ctx.check_level(level)?;
        let scale = ctx.q_at(level)? as f64;
        let at = |j: usize, k: usize| if j < d && k < c { w.get(j * c + k).copied().unwrap_or(0.0) } else { 0.0 };
        let encode = |entry: &(dyn Fn(usize) -> f64 + Sync)| -> Result<Option<Plaintext>> {
            let mut v = vec![0.0; layout.slots];
            let mut nonzero = false;
            for q in 0..layout.dp {
                let x = entry(q);
                nonzero |= x != 0.0;
                for i in 0..layout.rows {
                    if let Some(s) = v.get_mut(q * layout.rows + i) {
                        *s = x;
                    }
                }
            }
            if nonzero { eval.encoder().encode(&v, level, scale).map(Some) } else { Ok(None) }
        };
        let dp = layout.dp;
        let forward =
            (0..cp).into_par_iter().map(|t| encode(&|q| at((q + dp - t) % dp, q % cp))).collect::<Result<Vec<_>>>()?;
        let backward =
            (0..cp).into_par_iter().map(|t| encode(&|q| at(q, (q + cp - t) % cp))).collect::<Result<Vec<_>>>()?;
        Ok(Self { layout, c, cp, level, forward, backward })
    }

    /// The layout inputs must use.
    pub fn layout(&self) -> BatchLayout {
        self.layout
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.c
    }

    /// Level the inputs must be at (higher inputs are brought down).
    pub fn level(&self) -> usize {
        self.level
    }

    /// Encrypted x·W for one chunk of rows: y_i[k] in slot `k·B + i`. Uses one level.
    pub fn forward(&self, eval: &Evaluator, x: &Ciphertext, gks: &GaloisKeys) -> Result<Ciphertext> {
        let mut y = self.diagonal_sum(eval, x, &self.forward, gks)?;
        let b = self.layout.rows as i64;
        let mut s = self.layout.dp / 2;
        while s >= self.cp {
            y = eval.add(&y, &eval.rotate(&y, s as i64 * b, gks)?)?;
            s /= 2;
        }
        Ok(y)
    }

    /// Encrypted g·Wᵀ for one chunk of tiled output gradients: block q = feature q.
    pub fn backward(&self, eval: &Evaluator, g: &Ciphertext, gks: &GaloisKeys) -> Result<Ciphertext> {
        self.diagonal_sum(eval, g, &self.backward, gks)
    }

    fn diagonal_sum(
        &self,
        eval: &Evaluator,
        ct: &Ciphertext,
        diags: &[Option<Plaintext>],
        gks: &GaloisKeys,
    ) -> Result<Ciphertext> {
        if ct.level < self.level {
            return Err(CkksError::LevelMismatch { expected: self.level, found: ct.level });
        }
        let x = eval.mod_down_to(ct, self.level)?;
        let b = self.layout.rows as i64;
        let rot_steps: Vec<i64> = (0..self.cp as i64).map(|t| -t * b).collect();
        let rotated = eval.rotate_many(&x, &rot_steps, gks)?;
        let basis = eval.context().basis_q(self.level)?;
        let acc = sum_of_products(&rotated, diags.iter().map(Option::as_ref), basis);
        match acc {
            Some(acc) => eval.rescale(&acc),
            None => {
                let zero = eval.encoder().encode(&[], self.level, eval.context().q_at(self.level)? as f64)?;
                eval.rescale(&eval.mul_plain(&x, &zero)?)
            }
        }
    }
}

fn steps(layout: &BatchLayout, cp: usize) -> Vec<i64> {
    let b = layout.rows as i64;
    let mut out: Vec<i64> = (1..cp as i64).map(|t| -t * b).collect();
    let mut s = layout.dp / 2;
    while s >= cp {
        out.push(s as i64 * b);
        s /= 2;
    }
    out.sort_unstable();
    out.dedup();
    out
}
