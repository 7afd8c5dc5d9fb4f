//! RNS polynomials: a flat `Vec<u64>` of limbs of N coefficients each, one limb per
//! modulus of a [`Basis`]. Polynomials live in NTT form except transiently (rescale,
//! key-switch decomposition). Per-limb work runs on rayon.

use fhe_math::zq::Modulus;
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use zeroize::Zeroize;

use super::context::Basis;

/// A polynomial in RNS form.
#[derive(Clone, PartialEq, Eq, Zeroize)]
pub(crate) struct RnsPoly {
    pub(crate) data: Vec<u64>,
    pub(crate) n: usize,
}

impl RnsPoly {
    pub(crate) fn zero(n: usize, limbs: usize) -> Self {
        Self { data: vec![0; n * limbs], n }
    }

    pub(crate) fn limbs(&self) -> usize {
        self.data.len().checked_div(self.n).unwrap_or(0)
    }

    pub(crate) fn limb(&self, i: usize) -> &[u64] {
        self.data.get(i * self.n..(i + 1) * self.n).unwrap_or(&[])
    }

    /// The first `limbs` limbs, as a new polynomial.
    pub(crate) fn prefix(&self, limbs: usize) -> Self {
        Self { data: self.data.get(..limbs * self.n).unwrap_or(&self.data).to_vec(), n: self.n }
    }

    /// Limbs `[from, from + count)`, as a new polynomial.
    pub(crate) fn sub_limbs(&self, from: usize, count: usize) -> Self {
        let data = self.data.get(from * self.n..(from + count) * self.n).unwrap_or(&[]).to_vec();
        Self { data, n: self.n }
    }

    /// Drop limbs beyond the first `limbs`.
    pub(crate) fn truncate(&mut self, limbs: usize) {
        self.data.truncate(limbs * self.n);
    }

    pub(crate) fn ntt(&mut self, b: Basis<'_>) {
        self.data.par_chunks_mut(self.n).zip(b.ops.par_iter()).for_each(|(l, op)| op.forward(l));
    }

    pub(crate) fn intt(&mut self, b: Basis<'_>) {
        self.data.par_chunks_mut(self.n).zip(b.ops.par_iter()).for_each(|(l, op)| op.backward(l));
    }

    fn zip_apply(&mut self, other: &Self, b: Basis<'_>, f: impl Fn(&Modulus, &mut [u64], &[u64]) + Sync) {
        self.data
            .par_chunks_mut(self.n)
            .zip(other.data.par_chunks(other.n))
            .zip(b.mods.par_iter())
            .for_each(|((a, o), m)| f(m, a, o));
    }

    pub(crate) fn add_assign(&mut self, other: &Self, b: Basis<'_>) {
        self.zip_apply(other, b, |m, a, o| m.add_vec(a, o));
    }

    pub(crate) fn sub_assign(&mut self, other: &Self, b: Basis<'_>) {
        self.zip_apply(other, b, |m, a, o| m.sub_vec(a, o));
    }

    /// Pointwise product (both in NTT form).
    pub(crate) fn mul_assign(&mut self, other: &Self, b: Basis<'_>) {
        self.zip_apply(other, b, |m, a, o| m.mul_vec(a, o));
    }

    /// self += x ⊙ y (all in NTT form).
    pub(crate) fn add_product(&mut self, x: &Self, y: &Self, b: Basis<'_>) {
        self.data
            .par_chunks_mut(self.n)
            .zip(x.data.par_chunks(x.n))
            .zip(y.data.par_chunks(y.n))
            .zip(b.mods.par_iter())
            .for_each(|(((acc, xl), yl), m)| {
                acc.iter_mut().zip(xl).zip(yl).for_each(|((a, &u), &v)| *a = m.add(*a, m.mul(u, v)));
            });
    }

    pub(crate) fn neg_assign(&mut self, b: Basis<'_>) {
        self.data.par_chunks_mut(self.n).zip(b.mods.par_iter()).for_each(|(l, m)| m.neg_vec(l));
    }

    /// Coefficient-domain polynomial from signed integer coefficients.
    pub(crate) fn from_signed(coeffs: &[i64], b: Basis<'_>) -> Self {
        let n = coeffs.len();
        let mut out = Self::zero(n, b.mods.len());
        out.data.par_chunks_mut(n).zip(b.mods.par_iter()).for_each(|(l, m)| {
            l.iter_mut().zip(coeffs).for_each(|(d, &c)| *d = reduce_i64(m, c));
        });
        out
    }

    /// Coefficient-domain polynomial from signed 128-bit coefficients.
    pub(crate) fn from_i128(coeffs: &[i128], b: Basis<'_>) -> Self {
        let n = coeffs.len();
        let mut out = Self::zero(n, b.mods.len());
        out.data.par_chunks_mut(n).zip(b.mods.par_iter()).for_each(|(l, m)| {
            l.iter_mut().zip(coeffs).for_each(|(d, &c)| {
                let r = m.reduce_u128(c.unsigned_abs());
                *d = if c < 0 { m.neg(r) } else { r };
            });
        });
        out
    }

    /// Uniform polynomial (valid in either representation).
    pub(crate) fn uniform<R: RngCore + CryptoRng>(n: usize, b: Basis<'_>, rng: &mut R) -> Self {
        let mut data = Vec::with_capacity(n * b.mods.len());
        for m in b.mods {
            data.extend(m.random_vec(n, rng));
        }
        Self { data, n }
    }

    /// Apply X -> X^g in NTT form, given the NTT-domain permutation of g.
    pub(crate) fn permute(&self, perm: &[usize]) -> Self {
        let mut out = Self::zero(self.n, self.limbs());
        out.data.par_chunks_mut(self.n).zip(self.data.par_chunks(self.n)).for_each(|(o, i)| {
            o.iter_mut().zip(perm).for_each(|(d, &p)| *d = i.get(p).copied().unwrap_or(0));
        });
        out
    }

    /// Divide by the modulus of the **last-or-first** limb and round, dropping it.
    /// `last` is the basis of the dropped limb (its coefficients are taken from
    /// limb `drop_index`), `rest` is the basis of the kept limbs, `inv` holds
    /// (dropped modulus)^{-1} mod each kept modulus. Input and output in NTT form.
    pub(crate) fn div_round_drop(&mut self, drop_index: usize, last: Basis<'_>, rest: Basis<'_>, inv: &[u64]) {
        let n = self.n;
        let (Some(lm), Some(lop)) = (last.mods.first(), last.ops.first()) else { return };
        let mut t = self.limb(drop_index).to_vec();
        lop.backward(&mut t);
        let half = **lm >> 1;
        t.iter_mut().for_each(|c| *c = lm.add(*c, half));
        let mut kept: Vec<u64> = Vec::with_capacity(self.data.len().saturating_sub(n));
        for (i, chunk) in self.data.chunks(n).enumerate() {
            if i != drop_index {
                kept.extend_from_slice(chunk);
            }
        }
        kept.par_chunks_mut(n).zip(rest.mods.par_iter()).zip(rest.ops.par_iter()).zip(inv.par_iter()).for_each(
            |(((limb, m), op), &inv_last)| {
                let half_mod = m.reduce(half);
                let mut corr: Vec<u64> = t.iter().map(|&c| m.sub(m.reduce(c), half_mod)).collect();
                op.forward(&mut corr);
                m.sub_vec(limb, &corr);
                m.scalar_mul_vec(limb, inv_last);
            },
        );
        self.data = kept;
    }
}

/// x mod m for a signed x.
pub(crate) fn reduce_i64(m: &Modulus, x: i64) -> u64 {
    let r = m.reduce(x.unsigned_abs());
    if x < 0 { m.neg(r) } else { r }
}

/// Ternary coefficients, uniform in {-1, 0, 1}.
pub(crate) fn sample_ternary<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut buf = [0u8; 64];
        rng.fill_bytes(&mut buf);
        // 255 = 3 · 85: reject 255 to stay uniform.
        for &byte in buf.iter().filter(|&&b| b < 255) {
            if out.len() == n {
                break;
            }
            out.push(i64::from(byte % 3) - 1);
        }
    }
    out
}

/// Centered binomial noise with variance 10 (σ ≈ 3.16), as in fhe.rs and the HE standard's σ = 3.2.
pub(crate) fn sample_cbd<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Vec<i64> {
    (0..n)
        .map(|_| {
            let bits = rng.next_u64();
            let a = (bits & 0xFFFFF).count_ones() as i64;
            let b = ((bits >> 20) & 0xFFFFF).count_ones() as i64;
            a - b
        })
        .collect()
}

/// NTT-domain permutation of X -> X^g: `out[k] = in[perm[k]]`.
/// NTT slot k (bit-reversed order) holds the evaluation at ψ^{2·rev(k)+1}.
pub(crate) fn galois_permutation(n: usize, g: usize) -> Vec<usize> {
    let log_n = n.trailing_zeros();
    let rev = |x: usize| if log_n == 0 { 0 } else { x.reverse_bits() >> (usize::BITS - log_n) };
    let mut perm = vec![0usize; n];
    let mask = n - 1;
    for j in 0..n {
        let src = (g.wrapping_mul(j).wrapping_add((g - 1) / 2)) & mask;
        if let Some(p) = perm.get_mut(rev(j)) {
            *p = rev(src);
        }
    }
    perm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::CkksParams;
    use rand::SeedableRng;

    /// X -> X^g in coefficient form (the definition).
    fn automorphism_coeff(c: &[u64], g: usize, m: &Modulus) -> Vec<u64> {
        let n = c.len();
        let mut out = vec![0u64; n];
        for (i, &v) in c.iter().enumerate() {
            let e = (i * g) % (2 * n);
            if e < n { out[e] = m.add(out[e], v) } else { out[e - n] = m.sub(out[e - n], v) }
        }
        out
    }

    #[test]
    fn ntt_permutation_matches_coefficient_automorphism() {
        let ctx = CkksParams::insecure_for_tests(5, &[30, 30], 30, 20).unwrap().build().unwrap();
        let b = ctx.basis_qp(1).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
        let p = RnsPoly::uniform(32, b, &mut rng);
        for g in [5usize, 25, 63, 3, 33] {
            // Also checks that tfhe-ntt's output order is the bit-reversed one assumed here.
            let mut expect = RnsPoly::zero(32, p.limbs());
            for (i, m) in b.mods.iter().enumerate() {
                expect.data[i * 32..(i + 1) * 32].copy_from_slice(&automorphism_coeff(p.limb(i), g, m));
            }
            expect.ntt(b);
            let mut q = p.clone();
            q.ntt(b);
            assert!(q.permute(&galois_permutation(32, g)) == expect, "g = {g}");
        }
    }

    #[test]
    fn samplers_have_the_right_support() {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([2; 32]);
        let t = sample_ternary(4096, &mut rng);
        assert!(t.iter().all(|v| (-1..=1).contains(v)));
        let zeros = t.iter().filter(|&&v| v == 0).count();
        assert!((1200..1550).contains(&zeros), "{zeros}");
        let e = sample_cbd(4096, &mut rng);
        let var = e.iter().map(|&v| (v * v) as f64).sum::<f64>() / 4096.0;
        assert!((8.5..11.5).contains(&var), "{var}");
        assert!(e.iter().all(|v| v.abs() <= 20));
    }
}
