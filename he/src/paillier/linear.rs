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
//! the top one) or the whole packing overflowed, or more slots were filled than are being
//! unpacked, and [`SignedPacking::unpack`] says so, as it
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
//! With fewer inputs than outputs — the backward shape, e.g. 5 classes → 256 features —
//! [`PublicKey::matrix_vector`] (and [`PublicKey::vector_matrix`]) instead invert the few
//! input ciphertexts once and tabulate c^1..c^{2^b−1} of each input (and inverse) in use,
//! once for all outputs, with b minimizing table + chain multiplications (5 for that shape).
//! Each output is then a single windowed Straus chain — ≈ max_bits squarings plus one
//! multiplication per nonzero b-bit digit of every |w| — with no inversion: ≈ 20 + 20
//! multiplications per output instead of ≈ 2·19 + 47 plus an inversion.
//!
//! Measured on a 2048-bit key (`examples/paillier_linear_bench.rs`, 19-bit weights, one
//! packed batch of 34 rows in 60-bit slots): the forward 256 × 5 layer takes ≈ 71 ms on one
//! core (≈ 38 ms on two), the backward 5 → 256 ≈ 99 ms (≈ 55 ms); a 5-term output done
//! naively with `mul_plain` and `add` is ≈ 38× slower than [`PublicKey::linear_combination`].
//!
//! All exponents here are public (the server's weights) and so are the ciphertexts, so
//! variable-time arithmetic — num-bigint products skipping zero digits, crypto-bigint's
//! vartime safegcd inversion — leaks nothing.

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
/// Largest window of the shared power tables of [`PublicKey::matrix_vector`] (2^8 − 1
/// powers per table).
const MAX_SHARED_WINDOW: u32 = 8;

/// Powers c^1..c^{2^b − 1} of an input ciphertext and of its inverse, each only if used.
type PowerTables = (Option<Vec<BigUint>>, Option<Vec<BigUint>>);

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

    /// out_k = Σ_j weight(k, j)·ct_j for k < d_out. With at least as many inputs as outputs
    /// (forward), each output is a [`linear_combination`](Self::linear_combination). With
    /// fewer (backward), the inputs are inverted once, the powers c^1..c^{2^b−1} of every
    /// input (and inverse) in use are tabulated once, and each output is one windowed chain
    /// with no inversion; b minimizes table plus chain multiplications.
    fn combine_all(
        &self,
        cts: &[Ciphertext],
        d_out: usize,
        weight: impl Fn(usize, usize) -> i64 + Sync,
    ) -> Result<Vec<Ciphertext>> {
        let d_in = cts.len();
        if d_in >= d_out {
            return (0..d_out)
                .into_par_iter()
                .map(|k| self.linear_combination(cts, &(0..d_in).map(|j| weight(k, j)).collect::<Vec<_>>()))
                .collect();
        }
        let used = |j: usize, negative: bool| (0..d_out).any(|k| weight(k, j) != 0 && (weight(k, j) < 0) == negative);
        let tables_in_use = (0..d_in).map(|j| usize::from(used(j, false)) + usize::from(used(j, true))).sum();
        let exps: Vec<u64> =
            (0..d_out).flat_map(|k| (0..d_in).map(move |j| (k, j))).map(|(k, j)| weight(k, j).unsigned_abs()).collect();
        let (window, bits) = shared_window(&exps, d_out, tables_in_use);
        // Per input: powers of c and of c^{−1}, each only if some output needs it.
        let tables: Vec<PowerTables> = cts
            .par_iter()
            .enumerate()
            .map(|(j, c)| {
                let pos = used(j, false).then(|| powers(&c.c, window, &self.n2));
                let neg = if used(j, true) { Some(powers(&self.invert_mod_n2(&c.c)?, window, &self.n2)) } else { None };
                Ok((pos, neg))
            })
            .collect::<Result<_>>()?;
        Ok((0..d_out)
            .into_par_iter()
            .map(|k| {
                let terms: Vec<(&[BigUint], u64)> = tables
                    .iter()
                    .enumerate()
                    .filter_map(|(j, (pos, neg))| {
                        let w = weight(k, j);
                        let table = if w > 0 { pos.as_deref() } else { neg.as_deref().filter(|_| w < 0) };
                        table.map(|t| (t, w.unsigned_abs()))
                    })
                    .collect();
                self.wrap(windowed_pow(&terms, bits, window, &self.n2))
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

/// Bits of the largest exponent.
fn max_bits(exps: impl Iterator<Item = u64>) -> u32 {
    exps.map(|e| u64::BITS - e.leading_zeros()).max().unwrap_or(0)
}

/// Nonzero `window`-bit digits of `e`.
fn digits(e: u64, window: u32) -> u64 {
    let mask = (1u64 << window) - 1;
    (0..u64::BITS.div_ceil(window)).map(|i| u64::from((e.checked_shr(i * window).unwrap_or(0) & mask) != 0)).sum()
}

/// The window of [`windowed_pow`] with tables shared by `outputs` chains (all exponents of
/// all chains in `exps`, `tables` tables to build) and the bits of the largest exponent:
/// the window minimizing table multiplications + digit multiplications + squarings.
fn shared_window(exps: &[u64], outputs: usize, tables: usize) -> (u32, u32) {
    let bits = max_bits(exps.iter().copied());
    let (outputs, tables) = (u64::try_from(outputs).unwrap_or(u64::MAX), u64::try_from(tables).unwrap_or(u64::MAX));
    let cost = |b: u32| {
        let table = tables.saturating_mul((1u64 << b) - 2);
        let squarings = outputs.saturating_mul(u64::from(bits.div_ceil(b) * b));
        let mults: u64 = exps.iter().map(|e| digits(*e, b)).sum();
        table.saturating_add(squarings).saturating_add(mults)
    };
    ((1..=MAX_SHARED_WINDOW).min_by_key(|b| cost(*b)).unwrap_or(1), bits)
}

/// [c, c², …, c^{2^window − 1}] mod m.
fn powers(c: &BigUint, window: u32, m: &BigUint) -> Vec<BigUint> {
    let len = (1usize << window) - 1;
    let mut out = Vec::with_capacity(len);
    out.push(c.clone());
    while out.len() < len {
        let next = out.last().map(|p| mul_mod(p, c, m)).unwrap_or_else(|| c.clone());
        out.push(next);
    }
    out
}

/// Π base^e mod m over `terms` (public exponents, none zero), by Straus or by buckets,
/// whichever needs fewer multiplications (the squarings, ≈ max_bits, are the same).
fn multi_pow(terms: &[(&BigUint, u64)], m: &BigUint) -> BigUint {
    let bits = max_bits(terms.iter().map(|(_, e)| *e));
    let straus: u64 = terms.iter().map(|(_, e)| u64::from(e.count_ones())).sum();
    let count = u64::try_from(terms.len()).unwrap_or(u64::MAX);
    let best = (1..=MAX_WINDOW)
        .map(|b| (b, u64::from(bits.div_ceil(b)).saturating_mul(count.saturating_add(2u64 << b))))
        .min_by_key(|(_, cost)| *cost);
    match best {
        Some((window, cost)) if cost < straus => bucket_pow(terms, bits, window, m),
        _ => {
            let tables: Vec<(&[BigUint], u64)> = terms.iter().map(|(c, e)| (std::slice::from_ref(*c), *e)).collect();
            windowed_pow(&tables, bits, 1, m)
        }
    }
}

/// `acc ← acc·x mod m`, with `None` standing for 1.
fn mul_into(acc: &mut Option<BigUint>, x: &BigUint, m: &BigUint) {
    *acc = Some(match acc.take() {
        Some(a) => mul_mod(&a, x, m),
        None => x.clone(),
    });
}

/// Simultaneous (Straus) exponentiation by windows of `window` bits: for each window from
/// the top, square `window` times, then multiply by the tabulated power c^digit of every
/// term whose exponent has a nonzero digit there. `table` holds c^1..c^{2^window − 1}
/// (window 1, table [c]: plain Straus, one multiplication per set bit).
fn windowed_pow(terms: &[(&[BigUint], u64)], bits: u32, window: u32, m: &BigUint) -> BigUint {
    let mask = (1u64 << window) - 1;
    let mut acc: Option<BigUint> = None;
    for win in (0..bits.div_ceil(window)).rev() {
        if let Some(a) = acc.as_mut() {
            for _ in 0..window {
                *a = mul_mod(a, a, m);
            }
        }
        for (table, e) in terms {
            let digit = usize::try_from((e >> (win * window)) & mask).unwrap_or(0);
            if let Some(p) = digit.checked_sub(1).and_then(|d| table.get(d)) {
                mul_into(&mut acc, p, m);
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

    /// Straus (windowed, every window), buckets (every window) and the automatic choice
    /// agree with separate exponentiations.
    #[test]
    fn multi_exponentiations_match_naive() {
        let m = BigUint::from(1_000_000_007u64) * BigUint::from(998_244_353u64);
        for k in [1usize, 3, 17, 80] {
            let bases: Vec<BigUint> = (0..k).map(|i| BigUint::from(5u64 + 11 * i as u64)).collect();
            let exps: Vec<u64> =
                (0..k).map(|i| (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 60)).collect();
            let terms: Vec<(&BigUint, u64)> = bases.iter().zip(exps.iter().copied()).filter(|(_, e)| *e != 0).collect();
            let naive = terms.iter().fold(BigUint::one(), |acc, (b, e)| acc * b.modpow(&BigUint::from(*e), &m) % &m);
            let bits = max_bits(terms.iter().map(|(_, e)| *e));
            assert_eq!(multi_pow(&terms, &m), naive, "multi_pow, k = {k}");
            for window in 1..=MAX_WINDOW {
                assert_eq!(bucket_pow(&terms, bits, window, &m), naive, "buckets, k = {k}, window = {window}");
            }
            for window in 1..=MAX_SHARED_WINDOW {
                let tables: Vec<Vec<BigUint>> = terms.iter().map(|(b, _)| powers(b, window, &m)).collect();
                let windowed: Vec<(&[BigUint], u64)> =
                    tables.iter().zip(&terms).map(|(t, (_, e))| (t.as_slice(), *e)).collect();
                assert_eq!(windowed_pow(&windowed, bits, window, &m), naive, "windowed, k = {k}, window = {window}");
            }
        }
        assert_eq!(multi_pow(&[], &m), BigUint::one());
        assert_eq!(windowed_pow(&[], 0, 3, &m), BigUint::one());
    }

    #[test]
    fn digit_counts_and_window_choice() {
        assert_eq!(digits(0, 3), 0);
        assert_eq!(digits(0b101_000_011, 3), 2);
        assert_eq!(digits(u64::MAX, 1), 64);
        assert_eq!(digits(u64::MAX, 5), 13);
        assert_eq!(digits(1 << 63, 8), 1);
        // Backward shape: 5 inputs, 256 outputs, 19-bit weights — a wide shared window.
        let exps: Vec<u64> = (0..5 * 256u64).map(|i| (i * 0x9e37_79b9) % (1 << 19) + 1).collect();
        let (window, bits) = shared_window(&exps, 256, 10);
        assert_eq!(bits, 19);
        assert!((4..=6).contains(&window), "window {window}");
        // One output with sparse exponents: tables are not worth building.
        assert_eq!(shared_window(&[(1 << 18) | 1, 1 << 10], 1, 2), (1, 19));
        // ... but with dense ones a 2-bit window already pays (4 + 20 + 11 < 19 + 20).
        assert_eq!(shared_window(&[(1 << 19) - 1, 1 << 18], 1, 2), (2, 19));
    }
}
