//! Fixed-point encoding and packing of many values into one plaintext.
//!
//! A value v with |v| ≤ max_abs becomes the integer q = round(v·2^frac_bits), |q| ≤ Q with
//! Q = ⌈max_abs·2^frac_bits⌉, stored offset as q + Q ∈ [0, 2Q]. A slot is wide enough to
//! hold the sum of `max_summands` such entries, 2Q·max_summands, so adding up to that many
//! packed vectors homomorphically never carries into the next slot. Slots fill the plaintext
//! from the least significant end and stay below 2^(bits(n)−1) < n, so the sum never wraps
//! mod n either. Unpacking the sum of k vectors subtracts k·Q from each slot.

use num_bigint::BigUint;

use super::error::{PaillierError, Result};
use super::keys::{Plaintext, PublicKey};

/// Largest |q| = max_abs·2^frac_bits accepted (keeps every slot sum below 2^96).
const MAX_SCALED: f64 = 9.007_199_254_740_992e15; // 2^53

/// How values are encoded: precision, range and how many packed vectors may be summed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PackingSpec {
    /// Fractional bits of the fixed-point encoding.
    pub frac_bits: u32,
    /// Largest absolute value accepted.
    pub max_abs: f64,
    /// Largest number of packed vectors whose sum must still decode.
    pub max_summands: u32,
}

/// Packs fixed-point values into plaintexts of a given key.
#[derive(Clone, Debug)]
pub struct Packer {
    spec: PackingSpec,
    /// Q = ⌈max_abs·2^frac_bits⌉.
    offset: u128,
    slot_bits: u32,
    slots: usize,
}

impl Packer {
    /// Sizes the slots for `spec` under the modulus of `pk`.
    pub fn new(pk: &PublicKey, spec: PackingSpec) -> Result<Packer> {
        if !spec.max_abs.is_finite() || spec.max_abs <= 0.0 {
            return Err(PaillierError::InvalidPackingSpec { reason: "max_abs must be finite and positive" });
        }
        if spec.max_summands == 0 {
            return Err(PaillierError::InvalidPackingSpec { reason: "max_summands must be at least 1" });
        }
        let scaled = (spec.max_abs * 2f64.powi(i32::try_from(spec.frac_bits).unwrap_or(i32::MAX))).ceil();
        if !scaled.is_finite() || scaled > MAX_SCALED {
            return Err(PaillierError::InvalidPackingSpec { reason: "max_abs * 2^frac_bits exceeds 2^53" });
        }
        let offset = (scaled as u128).max(1);
        let max_slot = 2 * offset * u128::from(spec.max_summands);
        let slot_bits = u128::BITS - max_slot.leading_zeros();
        let usable = pk.modulus_bits().saturating_sub(1);
        let slots = usize::try_from(usable / slot_bits).unwrap_or(0);
        if slots == 0 {
            return Err(PaillierError::InvalidPackingSpec { reason: "a slot is wider than the plaintext" });
        }
        Ok(Packer { spec, offset, slot_bits, slots })
    }

    /// The specification.
    pub fn spec(&self) -> PackingSpec {
        self.spec
    }

    /// Values per plaintext.
    pub fn slots_per_plaintext(&self) -> usize {
        self.slots
    }

    /// Bits per slot.
    pub fn slot_bits(&self) -> u32 {
        self.slot_bits
    }

    /// Plaintexts needed for `values` values.
    pub fn plaintexts_for(&self, values: usize) -> usize {
        values.div_ceil(self.slots)
    }

    /// The fixed-point integer round(v·2^frac_bits) that `pack` stores for `v` (checked).
    pub fn encode_fixed(&self, index: usize, v: f64) -> Result<i64> {
        if !v.is_finite() || v.abs() > self.spec.max_abs {
            return Err(PaillierError::OutOfRange { index, value: v, max: self.spec.max_abs });
        }
        let q = (v * 2f64.powi(i32::try_from(self.spec.frac_bits).unwrap_or(i32::MAX))).round();
        Ok(q as i64)
    }

    /// Packs `values` (|v| ≤ max_abs, finite), `slots_per_plaintext()` per plaintext.
    pub fn pack(&self, values: &[f64]) -> Result<Vec<Plaintext>> {
        let offset = i128::try_from(self.offset).unwrap_or(i128::MAX);
        values
            .chunks(self.slots)
            .enumerate()
            .map(|(chunk_index, chunk)| {
                let mut acc = BigUint::ZERO;
                for (j, v) in chunk.iter().enumerate().rev() {
                    let q = i128::from(self.encode_fixed(chunk_index * self.slots + j, *v)?);
                    let slot = u128::try_from(q + offset).unwrap_or(0);
                    acc = (acc << self.slot_bits) | BigUint::from(slot);
                }
                Ok(Plaintext(acc))
            })
            .collect()
    }

    /// Decodes the homomorphic sum of `summands` packed vectors of `len` values: each slot
    /// minus summands·Q, divided by 2^frac_bits.
    pub fn unpack_sum(&self, sums: &[Plaintext], summands: u32, len: usize) -> Result<Vec<f64>> {
        if summands > self.spec.max_summands {
            return Err(PaillierError::TooManySummands { summands, max: self.spec.max_summands });
        }
        let need = self.plaintexts_for(len);
        if sums.len() != need {
            return Err(PaillierError::LengthMismatch { what: "packed plaintexts", expected: need, found: sums.len() });
        }
        let mask = (BigUint::from(1u8) << self.slot_bits) - 1u8;
        let shift = i128::try_from(self.offset * u128::from(summands)).unwrap_or(i128::MAX);
        let scale = 2f64.powi(i32::try_from(self.spec.frac_bits).unwrap_or(i32::MAX));
        let mut out = Vec::with_capacity(len);
        for (chunk_index, pt) in sums.iter().enumerate() {
            let mut x = pt.0.clone();
            for j in 0..self.slots {
                let index = chunk_index * self.slots + j;
                if index >= len {
                    break;
                }
                let slot = u128::try_from(&x & &mask).unwrap_or(u128::MAX);
                x >>= self.slot_bits;
                let slot = i128::try_from(slot).map_err(|_| PaillierError::SlotOverflow { index, summands })?;
                if slot > 2 * shift {
                    return Err(PaillierError::SlotOverflow { index, summands });
                }
                out.push((slot - shift) as f64 / scale);
            }
        }
        Ok(out)
    }
}
