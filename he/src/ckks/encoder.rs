//! Canonical-embedding encoder: real vectors of up to N/2 slots to plaintext polynomials.
//!
//! Slot j holds m(ζ^{5^j}) with ζ = exp(iπ/N); the transform is the "special FFT" of size
//! N/2 of HEAAN/SEAL/Lattigo. Coefficient i (i < N/2) carries the real part and
//! coefficient N/2 + i the imaginary part of the inverse transform, times the scale.

use std::sync::Arc;

use num_bigint::BigUint;
use num_traits::ToPrimitive;
use rayon::prelude::*;

use super::context::{Basis, CkksContext};
use super::error::{CkksError, Result};
use super::ring::RnsPoly;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct C64 {
    re: f64,
    im: f64,
}

impl C64 {
    fn add(self, o: Self) -> Self {
        Self { re: self.re + o.re, im: self.im + o.im }
    }
    fn sub(self, o: Self) -> Self {
        Self { re: self.re - o.re, im: self.im - o.im }
    }
    fn mul(self, o: Self) -> Self {
        Self { re: self.re * o.re - self.im * o.im, im: self.re * o.im + self.im * o.re }
    }
}

/// Roots of unity and the rotation group 5^j mod 2N.
pub(crate) struct EncoderTables {
    m: usize,
    ksi: Vec<C64>,
    rot_group: Vec<usize>,
}

impl EncoderTables {
    pub(crate) fn new(n: usize) -> Self {
        let m = 2 * n;
        let ksi = (0..=m)
            .map(|j| {
                let angle = 2.0 * std::f64::consts::PI * j as f64 / m as f64;
                C64 { re: angle.cos(), im: angle.sin() }
            })
            .collect();
        let mut rot_group = Vec::with_capacity(n / 2);
        let mut g = 1usize;
        for _ in 0..n / 2 {
            rot_group.push(g);
            g = g * 5 % m;
        }
        Self { m, ksi, rot_group }
    }

    fn root(&self, idx: usize) -> C64 {
        self.ksi.get(idx).copied().unwrap_or_default()
    }

    /// Slots from the coefficient-side vector (decode direction).
    fn emb(&self, vals: &mut [C64]) {
        let size = vals.len();
        bit_reverse(vals);
        let mut len = 2;
        while len <= size {
            let lenq = len << 2;
            let gap = self.m / lenq;
            for block in vals.chunks_exact_mut(len) {
                let (lo, hi) = block.split_at_mut(len >> 1);
                for ((u, v), &rg) in lo.iter_mut().zip(hi.iter_mut()).zip(&self.rot_group) {
                    let w = v.mul(self.root((rg % lenq) * gap));
                    let a = *u;
                    *u = a.add(w);
                    *v = a.sub(w);
                }
            }
            len <<= 1;
        }
    }

    /// Coefficient-side vector from slots (encode direction).
    fn emb_inv(&self, vals: &mut [C64]) {
        let size = vals.len();
        let mut len = size;
        while len >= 2 {
            let lenq = len << 2;
            let gap = self.m / lenq;
            for block in vals.chunks_exact_mut(len) {
                let (lo, hi) = block.split_at_mut(len >> 1);
                for ((a, b), &rg) in lo.iter_mut().zip(hi.iter_mut()).zip(&self.rot_group) {
                    let u = a.add(*b);
                    let v = a.sub(*b).mul(self.root((lenq - rg % lenq) * gap));
                    *a = u;
                    *b = v;
                }
            }
            len >>= 1;
        }
        bit_reverse(vals);
        let inv = 1.0 / size as f64;
        vals.iter_mut().for_each(|v| *v = C64 { re: v.re * inv, im: v.im * inv });
    }
}

fn bit_reverse(vals: &mut [C64]) {
    let n = vals.len();
    if n < 2 {
        return;
    }
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            vals.swap(i, j);
        }
    }
}

/// An encoded plaintext: a polynomial in NTT form over Q_level, with its scale.
#[derive(Clone, PartialEq)]
pub struct Plaintext {
    pub(crate) poly: RnsPoly,
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) params_id: u64,
}

impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plaintext").field("level", &self.level).field("scale", &self.scale).finish_non_exhaustive()
    }
}

impl Plaintext {
    /// Level of the plaintext (number of primes above q_0).
    pub fn level(&self) -> usize {
        self.level
    }
    /// Scale the values were multiplied by.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

/// Encodes and decodes real vectors.
#[derive(Clone, Debug)]
pub struct Encoder {
    ctx: Arc<CkksContext>,
}

impl Encoder {
    /// An encoder for this context.
    pub fn new(ctx: &Arc<CkksContext>) -> Self {
        Self { ctx: ctx.clone() }
    }

    /// Encode up to N/2 real values (the rest of the slots are zero) at `level` and `scale`.
    pub fn encode(&self, values: &[f64], level: usize, scale: f64) -> Result<Plaintext> {
        let coeffs = self.encode_coefficients(values, scale)?;
        let b = self.ctx.basis_q(level)?;
        let mut poly = RnsPoly::from_i128(&coeffs, b);
        poly.ntt(b);
        Ok(Plaintext { poly, level, scale, params_id: self.ctx.id })
    }

    /// Encode at the top level with the default scale.
    pub fn encode_default(&self, values: &[f64]) -> Result<Plaintext> {
        self.encode(values, self.ctx.max_level(), self.ctx.default_scale())
    }

    /// Rounded integer coefficients of Δ·m(X).
    pub(crate) fn encode_coefficients(&self, values: &[f64], scale: f64) -> Result<Vec<i128>> {
        let slots = self.ctx.slots();
        if values.len() > slots {
            return Err(CkksError::SlotsOverflow { len: values.len(), slots });
        }
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(CkksError::ValueOutOfRange { value: 1.0, scale });
        }
        if let Some(&bad) = values.iter().find(|v| !v.is_finite() || (*v * scale).abs() >= 2f64.powi(120)) {
            return Err(CkksError::ValueOutOfRange { value: bad, scale });
        }
        let mut z: Vec<C64> = (0..slots).map(|i| C64 { re: values.get(i).copied().unwrap_or(0.0), im: 0.0 }).collect();
        self.ctx.encoder.emb_inv(&mut z);
        let mut coeffs = vec![0i128; 2 * slots];
        let (re, im) = coeffs.split_at_mut(slots);
        for ((r, i), v) in re.iter_mut().zip(im.iter_mut()).zip(&z) {
            *r = (v.re * scale).round() as i128;
            *i = (v.im * scale).round() as i128;
        }
        Ok(coeffs)
    }

    /// Decode all N/2 slots.
    pub fn decode(&self, pt: &Plaintext) -> Result<Vec<f64>> {
        if pt.params_id != self.ctx.id {
            return Err(CkksError::ParameterMismatch { expected: self.ctx.id, found: pt.params_id });
        }
        let b = self.ctx.basis_q(pt.level)?;
        let mut poly = pt.poly.clone();
        poly.intt(b);
        let reals = centered_reals(&poly, b);
        let slots = self.ctx.slots();
        let inv_scale = 1.0 / pt.scale;
        let (re, im) = reals.split_at(slots.min(reals.len()));
        let mut z: Vec<C64> = re.iter().zip(im).map(|(&r, &i)| C64 { re: r * inv_scale, im: i * inv_scale }).collect();
        self.ctx.encoder.emb(&mut z);
        Ok(z.into_iter().map(|c| c.re).collect())
    }
}

/// Centered integer value of each coefficient, as f64. Fast path: the residue modulo
/// q_0 when it is confirmed by q_1 (|x| < q_0/2); otherwise exact CRT with big integers.
fn centered_reals(poly: &RnsPoly, b: Basis<'_>) -> Vec<f64> {
    let n = poly.n;
    let (Some(q0), q_rest) = (b.mods.first(), b.mods.get(1..).unwrap_or(&[])) else { return vec![0.0; n] };
    let half0 = **q0 >> 1;
    let l0 = poly.limb(0);
    let centered: Vec<i64> = l0.iter().map(|&c| if c > half0 { -((**q0 - c) as i64) } else { c as i64 }).collect();
    let confirmed = match q_rest.first() {
        None => true,
        Some(q1) => centered.iter().zip(poly.limb(1)).all(|(&c, &r)| super::ring::reduce_i64(q1, c) == r),
    };
    if confirmed {
        return centered.into_iter().map(|c| c as f64).collect();
    }
    // Exact CRT: x = Σ [x_i · (Q/q_i)^{-1}]_{q_i} · (Q/q_i) mod Q.
    let q_big: BigUint = b.mods.iter().fold(BigUint::from(1u8), |acc, m| acc * **m);
    let half = &q_big >> 1usize;
    let factors: Vec<(BigUint, u64)> = b
        .mods
        .iter()
        .map(|m| {
            let hat = &q_big / **m;
            let hat_mod = (&hat % **m).to_u64().unwrap_or(0);
            (hat, m.inv(hat_mod).unwrap_or(0))
        })
        .collect();
    (0..n)
        .into_par_iter()
        .map(|k| {
            let mut acc = BigUint::from(0u8);
            for ((m, (hat, inv)), i) in b.mods.iter().zip(&factors).zip(0..) {
                let xi = poly.limb(i).get(k).copied().unwrap_or(0);
                acc += hat * m.mul(xi, *inv);
            }
            acc %= &q_big;
            if acc > half { -((&q_big - acc).to_f64().unwrap_or(f64::MAX)) } else { acc.to_f64().unwrap_or(f64::MAX) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::ckks::{CkksParams, Encoder};

    #[test]
    fn encode_decode_without_encryption_is_precise() {
        let ctx = CkksParams::insecure_for_tests(10, &[50, 40], 50, 40).unwrap().build().unwrap();
        let enc = Encoder::new(&ctx);
        let x: Vec<f64> = (0..ctx.slots()).map(|i| (i as f64 * 0.37).sin()).collect();
        for level in [0, 1] {
            let out = enc.decode(&enc.encode(&x, level, 2f64.powi(40)).unwrap()).unwrap();
            let err = x.iter().zip(&out).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(err < 1e-9, "level {level}: {err}");
        }
        // A large scale at level 1 exceeds q_0: the exact CRT path decodes it.
        let out = enc.decode(&enc.encode(&x, 1, 2f64.powi(70)).unwrap()).unwrap();
        let err = x.iter().zip(&out).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-9, "CRT path: {err}");
    }

    #[test]
    fn encoder_refuses_bad_input() {
        let ctx = CkksParams::insecure_for_tests(4, &[30], 30, 20).unwrap().build().unwrap();
        let enc = Encoder::new(&ctx);
        assert!(enc.encode(&[0.0; 9], 0, 1e6).is_err());
        assert!(enc.encode(&[f64::NAN], 0, 1e6).is_err());
        assert!(enc.encode(&[1.0], 3, 1e6).is_err());
    }
}
