//! A plaintext dense layer on Paillier ciphertexts packed along the batch: what split
//! learning's server evaluates.
//!
//! The client encrypts its activations column by column: one ciphertext per feature holds
//! that feature for up to [`SignedPacking::slots`] rows of the batch. The server multiplies
//! by its plaintext weights with [`PublicKey::vector_matrix`] (forward, x·W) and
//! [`PublicKey::matrix_vector`] (backward, g·Wᵀ), adds a packed bias with
//! [`PublicKey::add_plain`], and every slot (row) is processed at once.
//!
//! # Signed packing
//! [`SignedPacking`] puts k signed integers in one plaintext as V = Σ_i v_i·2^{w·i},
//! computed over the integers (not slot by slot) and stored as V mod n. The map is linear
//! over the signed integers, so Σ_j c_j·V_j for public signed scalars c_j — which is what
//! products of powers of ciphertexts decrypt to — is exactly the packing of the slot-wise
//! Σ_j c_j·v_ij, with no offsets to correct (unlike [`super::Packer`], whose offset slots
//! are made for sums). This holds while
//! * every **result** slot keeps |v| < 2^{w−1}: a slot that leaves that range borrows from
//!   or carries into the slot above it; and
//! * |V| < n/2, so that V mod n lifts back to V. [`SignedPacking::new`] requires
//!   k·w + 2 ≤ bits(n), so that |V| < 2^{k·w−1} ≤ 2^{bits(n)−3} < n/2 whenever the slots are
//!   in range.
//!
//! Decoding lifts the plaintext to (−n/2, n/2] and peels slots off the bottom with signed
//! residues: v_0 = centered(V mod 2^w) ∈ [−2^{w−1}, 2^{w−1}), V ← (V − v_0)/2^w, and so on.
//! Whatever remains above the unpacked slots must be zero; if it is not, a slot (in practice
//! the top one) or the whole packing overflowed and [`SignedPacking::unpack`] says so, as it
//! does for a slot that decodes to exactly −2^{w−1} (an overflow by one). An overflow of a
//! lower slot that stays within one carry of the range is *not* detectable — it decodes as
//! a valid but wrong pair of neighbouring slots — so the caller must size the slots (weight
//! bits + value bits + log2 of the fan-in < w − 1) rather than rely on the check.
//!
//! # Cost
//! [`PublicKey::linear_combination`] computes Π_j c_j^{|w_j|} separately for the positive
//! and the negative weights (the two products run in parallel) and multiplies the first by
//! the inverse of the second mod n². Each product is a simultaneous (Straus) exponentiation
//! — one chain of ≈ max_bits squarings shared by all terms plus one multiplication per set
//! bit of every |w_j| — or, when that is fewer multiplications (many terms, e.g. a 256-wide
//! forward layer), bucket (Pippenger) accumulation by windows of b bits:
//! ≈ max_bits squarings + ⌈max_bits/b⌉·(terms + 2^{b+1}) multiplications. The choice is
//! made per product from those counts. For d_in = 256 inputs with 19-bit weights (half of
//! them negative) this is 2 × ≈ 790 multiplications mod n² per output instead of
//! 2 × ≈ 1,240 with Straus alone. The inversion (safegcd on n²) costs about as much as 75
//! multiplications, and a term done naively — `mul_plain` by w mod n, a full-size exponent
//! when w < 0 — about 3,000.
//!
//! [`PublicKey::matrix_vector`] (backward: few inputs, many outputs) inverts the few input
//! ciphertexts once instead of one product per output, so each output is a single chain
//! with no inversion: for 5 inputs and 19-bit weights ≈ 19 squarings + ≈ 47
//! multiplications per output. [`PublicKey::vector_matrix`] (more inputs than outputs)
//! keeps one inversion per output.
//!
//! All exponents here are public (the server's weights) and so are the ciphertexts, so the
//! variable-time num-bigint arithmetic (skipping zero bits, branching on digits) leaks
//! nothing.

use crypto_bigint::BoxedUint;
use num_bigint::{BigInt, BigUint, Sign};
use num_integer::Integer;
use num_traits::{One, Zero};
use rayon::prelude::*;

use super::bigint::{from_boxed, mul_mod, to_boxed};
use super::cipher::Ciphertext;
use super::error::{PaillierError, Result};
use super::keys::{Plaintext, PublicKey};

/// Narrowest slot accepted by [`SignedPacking`].
const MIN_SLOT_BITS: u32 = 8;
/// Widest slot accepted by [`SignedPacking`] (a slot value and its carry fit an `i128`).
const MAX_SLOT_BITS: u32 = 126;
/// Largest bucket window tried (2^12 buckets).
const MAX_WINDOW: u32 = 12;

/// Signed integers packed `slots` to a plaintext in slots of `slot_bits` bits, so that
/// public linear combinations of packed ciphertexts act slot-wise (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedPacking {
    slot_bits: u32,
    slots: usize,
}

impl SignedPacking {
    /// `slots` slots of `slot_bits` bits for plaintexts of `pk`. Refuses `slot_bits` outside
    /// 8..=126, `slots` = 0 and slots·slot_bits + 2 > bits(n).
    pub fn new(pk: &PublicKey, slot_bits: u32, slots: usize) -> Result<Self> {
        if !(MIN_SLOT_BITS..=MAX_SLOT_BITS).contains(&slot_bits) {
            return Err(PaillierError::SlotWidthOutOfRange { slot_bits, min: MIN_SLOT_BITS, max: MAX_SLOT_BITS });
        }
        if slots == 0 {
            return Err(PaillierError::InvalidPackingSpec { reason: "a signed packing needs at least one slot" });
        }
        let modulus_bits = pk.modulus_bits();
        let needed = u64::try_from(slots).unwrap_or(u64::MAX).saturating_mul(u64::from(slot_bits)).saturating_add(2);
        if needed > u64::from(modulus_bits) {
            return Err(PaillierError::PackingTooLarge { slots, slot_bits, needed, modulus_bits });
        }
        Ok(Self { slot_bits, slots })
    }

    /// The most slots of `slot_bits` bits that [`new`](Self::new) accepts for `pk`:
    /// ⌊(bits(n) − 2)/slot_bits⌋, or 0 when `slot_bits` is outside 8..=126.
    pub fn max_slots(pk: &PublicKey, slot_bits: u32) -> usize {
        if !(MIN_SLOT_BITS..=MAX_SLOT_BITS).contains(&slot_bits) {
            return 0;
        }
        usize::try_from(pk.modulus_bits().saturating_sub(2) / slot_bits).unwrap_or(0)
    }

    /// Bits per slot.
    pub fn slot_bits(&self) -> u32 {
        self.slot_bits
    }

    /// Slots per plaintext.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Largest |v| a slot holds: 2^{slot_bits−1} − 1.
    pub fn max_abs(&self) -> i128 {
        (1i128 << (self.slot_bits - 1)) - 1
    }

    /// Packs `values` (at most [`slots`](Self::slots), each |v| ≤ [`max_abs`](Self::max_abs))
    /// from the lowest slot up; the slots above them are zero.
    pub fn pack(&self, pk: &PublicKey, values: &[i128]) -> Result<Plaintext> {
        if values.len() > self.slots {
            return Err(PaillierError::TooManySlots { what: "values to pack", found: values.len(), slots: self.slots });
        }
        let max = self.max_abs();
        // V = P − N with P, N the packings of the positive parts and of the magnitudes of the
        // negative parts; both are below 2^{k·w} < n, so V mod n needs one correction.
        let (mut pos, mut neg) = (BigUint::ZERO, BigUint::ZERO);
        for (index, &value) in values.iter().enumerate().rev() {
            if value.unsigned_abs() > max.unsigned_abs() {
                return Err(PaillierError::SlotValueOutOfRange { index, value, slot_bits: self.slot_bits, max });
            }
            pos <<= self.slot_bits;
            neg <<= self.slot_bits;
            if value >= 0 {
                pos += value.unsigned_abs();
            } else {
                neg += value.unsigned_abs();
            }
        }
        Ok(Plaintext(if pos >= neg { pos - neg } else { &pk.n - (neg - pos) }))
    }

    /// The lowest `count` slots of `pt` (at most [`slots`](Self::slots)). Fails when the
    /// decoded value does not end after them (data above the last slot: an overflow) or a
    /// slot decodes to −2^{slot_bits−1}; see the module docs for what cannot be detected.
    pub fn unpack(&self, pk: &PublicKey, pt: &Plaintext, count: usize) -> Result<Vec<i128>> {
        if count > self.slots {
            return Err(PaillierError::TooManySlots { what: "slots to unpack", found: count, slots: self.slots });
        }
        let m = &pt.0 % &pk.n;
        let mut v = if m > (&pk.n >> 1u8) { BigInt::from_biguint(Sign::Minus, &pk.n - m) } else { BigInt::from(m) };
        let modulus = BigInt::one() << self.slot_bits;
        let half = BigInt::one() << (self.slot_bits - 1);
        let lowest = -&half;
        let mut out = Vec::with_capacity(count);
        for index in 0..count {
            let mut r = v.mod_floor(&modulus);
            if r >= half {
                r -= &modulus;
            }
            if r == lowest {
                return Err(PaillierError::SignedSlotOverflow { index, slot_bits: self.slot_bits });
            }
            v = (v - &r) >> self.slot_bits;
            out.push(
                i128::try_from(&r)
                    .map_err(|_| PaillierError::SignedSlotOverflow { index, slot_bits: self.slot_bits })?,
            );
        }
        if !v.is_zero() {
            return Err(PaillierError::SignedPackingOverflow { count, slot_bits: self.slot_bits });
        }
        Ok(out)
    }
}

impl PublicKey {
    /// Enc(m + k mod n): `ct`·(1 + k·n) mod n². Deterministic: the randomness of `ct` hides
    /// the sum.
    pub fn add_plain(&self, ct: &Ciphertext, k: &Plaintext) -> Ciphertext {
        let g_k = BigUint::one() + (&k.0 % &self.n) * &self.n;
        self.wrap(mul_mod(&ct.c, &g_k, &self.n2))
    }

    /// Enc(Σ_j w_j·m_j mod n) for public signed weights: Π_{w_j>0} c_j^{w_j} ·
    /// (Π_{w_j<0} c_j^{|w_j|})^{−1} mod n² (see the module docs for the cost). Zero weights are
    /// skipped. All-zero weights (or no terms) give the value 1, a valid but *trivial*
    /// encryption of 0 with no randomness: a caller who sends it on must add randomness
    /// (with a layer's real weights the outputs are never trivial in practice).
    ///
    /// Errors: [`PaillierError::LengthMismatch`] when `weights` and `cts` differ in length;
    /// [`PaillierError::InvalidCiphertext`] if the product to invert is not a unit mod n²
    /// (impossible for ciphertexts built by this crate or validated on decode).
    pub fn linear_combination(&self, cts: &[Ciphertext], weights: &[i64]) -> Result<Ciphertext> {
        if cts.len() != weights.len() {
            return Err(PaillierError::LengthMismatch {
                what: "weights of the linear combination",
                expected: cts.len(),
                found: weights.len(),
            });
        }
        let terms = |negative: bool| -> Vec<(&BigUint, u64)> {
            cts.iter()
                .zip(weights)
                .filter(|(_, w)| **w != 0 && (**w < 0) == negative)
                .map(|(c, w)| (&c.c, w.unsigned_abs()))
                .collect()
        };
        let (pos, neg) = (terms(false), terms(true));
        if neg.is_empty() {
            return Ok(self.wrap(multi_pow(&pos, &self.n2)));
        }
        let (p, q) = rayon::join(|| multi_pow(&pos, &self.n2), || multi_pow(&neg, &self.n2));
        let q_inv = self.invert_mod_n2(&q)?;
        Ok(self.wrap(mul_mod(&p, &q_inv, &self.n2)))
    }

    /// `d_out` ciphertexts out_k = Σ_j w[j][k]·ct_j, with `cts.len()` = d_in and `w`
    /// row-major d_in × d_out (`w[j·d_out + k]`): a batch of encrypted rows times a plaintext
    /// matrix, in parallel over k.
    pub fn vector_matrix(&self, cts: &[Ciphertext], w: &[i64], d_out: usize) -> Result<Vec<Ciphertext>> {
        let d_in = cts.len();
        check_matrix(w, d_in, d_out)?;
        self.combine_all(cts, d_out, |k, j| w.get(j * d_out + k).copied().unwrap_or(0))
    }

    /// `d_out` ciphertexts out_j = Σ_k w[j][k]·ct_k, with `cts.len()` = d_in and `w`
    /// row-major d_out × d_in (`w[j·d_in + k]`), in parallel over j. With W the layer's
    /// features × classes matrix (the one given to [`vector_matrix`](Self::vector_matrix)),
    /// `matrix_vector(g, W, features)` is the backward product g·Wᵀ.
    pub fn matrix_vector(&self, cts: &[Ciphertext], w: &[i64], d_out: usize) -> Result<Vec<Ciphertext>> {
        let d_in = cts.len();
        check_matrix(w, d_in, d_out)?;
        self.combine_all(cts, d_out, |j, k| w.get(j * d_in + k).copied().unwrap_or(0))
    }

    /// out_k = Σ_j weight(k, j)·ct_j for k < d_out. With fewer inputs than outputs the inputs
    /// are inverted once and each output is one product with no inversion; otherwise each
    /// output is a [`linear_combination`](Self::linear_combination).
    fn combine_all(
        &self,
        cts: &[Ciphertext],
        d_out: usize,
        weight: impl Fn(usize, usize) -> i64 + Sync,
    ) -> Result<Vec<Ciphertext>> {
        let d_in = cts.len();
        let row = |k: usize| -> Vec<i64> { (0..d_in).map(|j| weight(k, j)).collect() };
        if d_in >= d_out {
            return (0..d_out).into_par_iter().map(|k| self.linear_combination(cts, &row(k))).collect();
        }
        let inverses: Vec<Option<BigUint>> = (0..d_in)
            .into_par_iter()
            .map(|j| {
                let c = cts.get(j).map(|c| &c.c);
                match (c, (0..d_out).any(|k| weight(k, j) < 0)) {
                    (Some(c), true) => self.invert_mod_n2(c).map(Some),
                    _ => Ok(None),
                }
            })
            .collect::<Result<_>>()?;
        Ok((0..d_out)
            .into_par_iter()
            .map(|k| {
                let terms: Vec<(&BigUint, u64)> = cts
                    .iter()
                    .zip(&inverses)
                    .zip(row(k))
                    .filter_map(|((c, inv), w)| match (w.signum(), inv) {
                        (1, _) => Some((&c.c, w.unsigned_abs())),
                        (-1, Some(inv)) => Some((inv, w.unsigned_abs())),
                        _ => None,
                    })
                    .collect();
                self.wrap(multi_pow(&terms, &self.n2))
            })
            .collect())
    }

    /// x^{−1} mod n² for a public x (safegcd; variable time is fine, x is public). It is
    /// about twice as fast as num-bigint's `modinv` (0.75 vs 1.45 ms at 4096 bits), but still
    /// costs as much as ≈ 75 multiplications mod n².
    fn invert_mod_n2(&self, x: &BigUint) -> Result<BigUint> {
        let m = self.params_n2.modulus();
        let inv: Option<BoxedUint> = to_boxed(x, m.bits_precision()).invert_odd_mod_vartime(m).into();
        inv.map(|i| from_boxed(&i)).ok_or(PaillierError::InvalidCiphertext { reason: "c is not coprime to n" })
    }
}

/// `w` must have exactly d_in·d_out entries.
fn check_matrix(w: &[i64], d_in: usize, d_out: usize) -> Result<()> {
    match d_in.checked_mul(d_out) {
        Some(expected) if expected == w.len() => Ok(()),
        expected => Err(PaillierError::LengthMismatch {
            what: "weight matrix entries",
            expected: expected.unwrap_or(usize::MAX),
            found: w.len(),
        }),
    }
}

/// Π base^e mod m over `terms` (public exponents, none zero), by Straus or by buckets,
/// whichever needs fewer multiplications (the squarings, ≈ max_bits, are the same).
fn multi_pow(terms: &[(&BigUint, u64)], m: &BigUint) -> BigUint {
    let bits = terms.iter().map(|(_, e)| u64::BITS - e.leading_zeros()).max().unwrap_or(0);
    let straus: u64 = terms.iter().map(|(_, e)| u64::from(e.count_ones())).sum();
    let count = u64::try_from(terms.len()).unwrap_or(u64::MAX);
    let best = (1..=MAX_WINDOW)
        .map(|b| (b, u64::from(bits.div_ceil(b)).saturating_mul(count.saturating_add(2u64 << b))))
        .min_by_key(|(_, cost)| *cost);
    match best {
        Some((window, cost)) if cost < straus => bucket_pow(terms, bits, window, m),
        _ => straus_pow(terms, bits, m),
    }
}

/// `acc ← acc·x mod m`, with `None` standing for 1.
fn mul_into(acc: &mut Option<BigUint>, x: &BigUint, m: &BigUint) {
    *acc = Some(match acc.take() {
        Some(a) => mul_mod(&a, x, m),
        None => x.clone(),
    });
}

/// Simultaneous exponentiation: for each bit from the top, square once, then multiply by
/// every base whose exponent has that bit set.
fn straus_pow(terms: &[(&BigUint, u64)], bits: u32, m: &BigUint) -> BigUint {
    let mut acc: Option<BigUint> = None;
    for bit in (0..bits).rev() {
        if let Some(a) = acc.as_mut() {
            *a = mul_mod(a, a, m);
        }
        for (base, e) in terms {
            if (e >> bit) & 1 == 1 {
                mul_into(&mut acc, base, m);
            }
        }
    }
    acc.unwrap_or_else(BigUint::one)
}

/// Bucket accumulation by windows of `window` bits from the top: per window, multiply each
/// base into the bucket of its digit, then Π_d B_d^d = Π_d (Π_{d' ≥ d} B_{d'}) by running
/// products, and fold that into the accumulator raised to 2^window.
fn bucket_pow(terms: &[(&BigUint, u64)], bits: u32, window: u32, m: &BigUint) -> BigUint {
    let mask = (1u64 << window) - 1;
    let mut acc: Option<BigUint> = None;
    for win in (0..bits.div_ceil(window)).rev() {
        if let Some(a) = acc.as_mut() {
            for _ in 0..window {
                *a = mul_mod(a, a, m);
            }
        }
        let mut buckets: Vec<Option<BigUint>> = vec![None; 1usize << window];
        for (base, e) in terms {
            let digit = usize::try_from((e >> (win * window)) & mask).unwrap_or(0);
            if digit != 0
                && let Some(bucket) = buckets.get_mut(digit)
            {
                mul_into(bucket, base, m);
            }
        }
        let (mut running, mut total) = (None, None);
        for bucket in buckets.iter().skip(1).rev() {
            if let Some(b) = bucket {
                mul_into(&mut running, b, m);
            }
            if let Some(r) = &running {
                mul_into(&mut total, r, m);
            }
        }
        if let Some(t) = &total {
            mul_into(&mut acc, t, m);
        }
    }
    acc.unwrap_or_else(BigUint::one)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// Both strategies agree with separate exponentiations, for every window.
    #[test]
    fn straus_and_buckets_match_naive() {
        let m = BigUint::from(1_000_000_007u64) * BigUint::from(998_244_353u64);
        for k in [1usize, 3, 17, 80] {
            let bases: Vec<BigUint> = (0..k).map(|i| BigUint::from(5u64 + 11 * i as u64)).collect();
            let exps: Vec<u64> =
                (0..k).map(|i| (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 60)).collect();
            let terms: Vec<(&BigUint, u64)> = bases.iter().zip(exps.iter().copied()).filter(|(_, e)| *e != 0).collect();
            let naive = terms.iter().fold(BigUint::one(), |acc, (b, e)| acc * b.modpow(&BigUint::from(*e), &m) % &m);
            let bits = terms.iter().map(|(_, e)| 64 - e.leading_zeros()).max().unwrap();
            assert_eq!(straus_pow(&terms, bits, &m), naive, "straus, k = {k}");
            assert_eq!(multi_pow(&terms, &m), naive, "multi_pow, k = {k}");
            for window in 1..=MAX_WINDOW {
                assert_eq!(bucket_pow(&terms, bits, window, &m), naive, "buckets, k = {k}, window = {window}");
            }
        }
        assert_eq!(multi_pow(&[], &m), BigUint::one());
    }
}
