//! A plaintext dense layer on Paillier ciphertexts packed along the batch: what split
//! learning's server evaluates.
//!
//! ## Signed packing
//! [`SignedPacking`] puts k signed integers in one plaintext as V = Σ_i v_i·2^{w·i},
//! computed over the integers and stored as V mod n. The map is linear, so
//! Σ_j c_j·Enc(V_j) (scalar products and sums of ciphertexts) decrypts to the packing of
//! the slot-wise Σ_j c_j·v_ij, as long as every resulting slot keeps |v| < 2^{w−1} and
//! k·w + 2 ≤ bits(n) (so |V| < n/2). Decoding lifts V to (−n/2, n/2) and peels the
//! slots from the bottom with signed residues. Unlike [`super::Packer`] (offset slots for
//! sums), negative values and negative scalars need no offset.
//!
//! ## Cost
//! [`PublicKey::linear_combination`] uses simultaneous (Straus) exponentiation: one chain
//! of max-bits squarings shared by all terms, plus one multiplication per set bit of each
//! |c_j|; negative coefficients go to a second product that is inverted once. All
//! exponents are public (the server's weights), so variable-time num-bigint is fine here.

use num_bigint::{BigInt, BigUint, Sign};
use num_integer::Integer;
use num_traits::{One, Zero};
use rayon::prelude::*;

use super::bigint::mul_mod;
use super::cipher::Ciphertext;
use super::error::{PaillierError, Result};
use super::keys::{Plaintext, PublicKey};

/// Signed fixed-width slots in one plaintext (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedPacking {
    slot_bits: u32,
    slots: usize,
}

impl SignedPacking {
    /// Slots of `slot_bits` bits that fit a plaintext of `pk`.
    pub fn max_slots(pk: &PublicKey, slot_bits: u32) -> usize {
        (pk.modulus_bits().saturating_sub(2) / slot_bits.max(1)) as usize
    }

    /// `slots` slots of `slot_bits` bits (8..=126); refused when they do not fit n.
    pub fn new(pk: &PublicKey, slot_bits: u32, slots: usize) -> Result<Self> {
        if !(8..=126).contains(&slot_bits) {
            return Err(PaillierError::InvalidPackingSpec { reason: "slot width must be 8..=126 bits" });
        }
        if slots == 0 || slots > Self::max_slots(pk, slot_bits) {
            return Err(PaillierError::InvalidPackingSpec {
                reason: "slots × slot width + 2 must be positive and at most the modulus bits",
            });
        }
        Ok(Self { slot_bits, slots })
    }

    pub fn slot_bits(&self) -> u32 {
        self.slot_bits
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    fn bound(&self) -> i128 {
        1i128 << (self.slot_bits - 1)
    }

    /// Packs `values` (at most `slots`, each |v| < 2^{slot_bits−1}).
    pub fn pack(&self, pk: &PublicKey, values: &[i128]) -> Result<Plaintext> {
        if values.len() > self.slots {
            return Err(PaillierError::LengthMismatch { what: "values to pack", expected: self.slots, found: values.len() });
        }
        let bound = self.bound();
        let mut acc = BigInt::zero();
        for (index, &v) in values.iter().enumerate().rev() {
            if v.unsigned_abs() >= bound.unsigned_abs() {
                return Err(PaillierError::OutOfRange { index, value: v as f64, max: (bound - 1) as f64 });
            }
            acc = (acc << self.slot_bits) + BigInt::from(v);
        }
        let n = BigInt::from(pk.n.clone());
        let m = acc.mod_floor(&n);
        Ok(Plaintext(m.to_biguint().unwrap_or_default()))
    }

    /// Unpacks `count` slots; an overflowed slot (or data above them) is an error.
    pub fn unpack(&self, pk: &PublicKey, pt: &Plaintext, count: usize) -> Result<Vec<i128>> {
        if count > self.slots {
            return Err(PaillierError::LengthMismatch { what: "slots to unpack", expected: self.slots, found: count });
        }
        let n = BigInt::from(pk.n.clone());
        let mut v = BigInt::from(pt.0.clone());
        if v > (&n >> 1u32) {
            v -= &n;
        }
        let modulus = BigInt::one() << self.slot_bits;
        let half = BigInt::one() << (self.slot_bits - 1);
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let mut r = v.mod_floor(&modulus);
            if r >= half {
                r -= &modulus;
            }
            v = (v - &r) >> self.slot_bits;
            out.push(i128::try_from(&r).unwrap_or_default());
        }
        if !v.is_zero() {
            return Err(PaillierError::InvalidPackingSpec { reason: "a packed slot overflowed (data above the last slot)" });
        }
        Ok(out)
    }
}

impl PublicKey {
    /// Enc(m + k): the ciphertext times (1 + k·n) mod n² (no new randomness; the input
    /// ciphertext's hides both).
    pub fn add_plain(&self, ct: &Ciphertext, k: &Plaintext) -> Ciphertext {
        let g_k = (BigUint::one() + (&k.0 % &self.n) * &self.n) % &self.n2;
        self.wrap(mul_mod(&ct.c, &g_k, &self.n2))
    }

    /// Enc(Σ_j w_j·m_j) for signed public weights (Straus exponentiation, see the module
    /// docs). All-zero weights give the trivial encryption of 0 (the value 1).
    pub fn linear_combination(&self, cts: &[Ciphertext], weights: &[i64]) -> Result<Ciphertext> {
        if cts.len() != weights.len() {
            return Err(PaillierError::LengthMismatch { what: "weights", expected: cts.len(), found: weights.len() });
        }
        let pos = self.straus(cts, weights, false);
        let neg = self.straus(cts, weights, true);
        let neg_inv = if neg.is_one() {
            neg
        } else {
            invert(&neg, &self.n2).ok_or(PaillierError::InvalidCiphertext { reason: "c is not coprime to n" })?
        };
        Ok(self.wrap(mul_mod(&pos, &neg_inv, &self.n2)))
    }

    /// Π c_j^{|w_j|} over the weights of one sign.
    fn straus(&self, cts: &[Ciphertext], weights: &[i64], negative: bool) -> BigUint {
        let terms: Vec<(&BigUint, u64)> = cts
            .iter()
            .zip(weights)
            .filter(|(_, w)| **w != 0 && (**w < 0) == negative)
            .map(|(c, w)| (&c.c, w.unsigned_abs()))
            .collect();
        let top = terms.iter().map(|(_, e)| 64 - e.leading_zeros()).max().unwrap_or(0);
        let mut acc = BigUint::one();
        for bit in (0..top).rev() {
            if !acc.is_one() {
                acc = mul_mod(&acc, &acc, &self.n2);
            }
            for (c, e) in &terms {
                if (e >> bit) & 1 == 1 {
                    acc = mul_mod(&acc, c, &self.n2);
                }
            }
        }
        acc
    }

    /// `d_out` ciphertexts out_k = Σ_j w[j][k]·ct_j, with `w` row-major `cts.len() × d_out`
    /// (encrypted rows times a plaintext matrix), in parallel over k.
    pub fn vector_matrix(&self, cts: &[Ciphertext], w: &[i64], d_out: usize) -> Result<Vec<Ciphertext>> {
        if w.len() != cts.len() * d_out {
            return Err(PaillierError::LengthMismatch { what: "matrix entries", expected: cts.len() * d_out, found: w.len() });
        }
        (0..d_out)
            .into_par_iter()
            .map(|k| {
                let col: Vec<i64> = (0..cts.len()).map(|j| w.get(j * d_out + k).copied().unwrap_or(0)).collect();
                self.linear_combination(cts, &col)
            })
            .collect()
    }

    /// `d_out` ciphertexts out_j = Σ_k w[j][k]·ct_k, with `w` row-major `d_out × cts.len()`
    /// (the backward product g·Wᵀ when `w` is the layer's d_out × classes matrix).
    pub fn matrix_vector(&self, cts: &[Ciphertext], w: &[i64], d_out: usize) -> Result<Vec<Ciphertext>> {
        let d_in = cts.len();
        if w.len() != d_in * d_out {
            return Err(PaillierError::LengthMismatch { what: "matrix entries", expected: d_in * d_out, found: w.len() });
        }
        (0..d_out).into_par_iter().map(|j| self.linear_combination(cts, w.get(j * d_in..(j + 1) * d_in).unwrap_or(&[]))).collect()
    }
}

/// a^{-1} mod m by the extended Euclidean algorithm.
fn invert(a: &BigUint, m: &BigUint) -> Option<BigUint> {
    let (a, m) = (BigInt::from(a.clone()), BigInt::from(m.clone()));
    let e = a.extended_gcd(&m);
    if !e.gcd.is_one() {
        return None;
    }
    let x = e.x.mod_floor(&m);
    match x.sign() {
        Sign::Minus => None,
        _ => x.to_biguint(),
    }
}
