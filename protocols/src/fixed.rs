//! Fixed-point encoding of reals in Z_2^64: `x ↦ round(x · 2^f)` as a two's-complement
//! 64-bit integer, with `f` fractional bits (default 16).
//!
//! # Range
//! With `f` fractional bits a value must satisfy `|x| < 2^(63-f)` (for `f = 16`:
//! `|x| < 1.4·10^14`), and the resolution is `2^-f` (for `f = 16`: `1.5·10^-5`).
//! Sums of many encoded values must stay in the same range, or they wrap around
//! silently; protocols check their subtotals before sharing them.

use serde::{Deserialize, Serialize};

/// Number of fractional bits of a fixed-point encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct FracBits(u8);

impl FracBits {
    /// Largest supported value: 32 fractional bits still leave 31 integer bits.
    pub const MAX: u8 = 32;

    pub fn new(bits: u8) -> Result<FracBits, FixedError> {
        if bits > Self::MAX {
            return Err(FixedError::BadFracBits(bits));
        }
        Ok(FracBits(bits))
    }

    pub fn get(self) -> u8 {
        self.0
    }

    fn scale(self) -> f64 {
        (1u64 << self.0) as f64
    }

    /// Largest magnitude that can be encoded (exclusive).
    pub fn max_abs(self) -> f64 {
        2f64.powi(63 - i32::from(self.0))
    }
}

impl Default for FracBits {
    fn default() -> Self {
        FracBits(16)
    }
}

impl TryFrom<u8> for FracBits {
    type Error = FixedError;
    fn try_from(v: u8) -> Result<Self, FixedError> {
        FracBits::new(v)
    }
}

impl From<FracBits> for u8 {
    fn from(f: FracBits) -> u8 {
        f.0
    }
}

/// Why a value cannot be encoded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FixedError {
    #[error("{0} fractional bits is more than the supported {max}", max = FracBits::MAX)]
    BadFracBits(u8),
    #[error("{0} is not a finite number")]
    NotFinite(f64),
    #[error("{value} is outside the fixed-point range (|x| < {limit:e} with {bits} fractional bits)")]
    OutOfRange { value: f64, limit: f64, bits: u8 },
}

/// Encodes `x` with `f` fractional bits.
pub fn encode(x: f64, f: FracBits) -> Result<u64, FixedError> {
    if !x.is_finite() {
        return Err(FixedError::NotFinite(x));
    }
    let scaled = (x * f.scale()).round();
    // i64::MAX as f64 rounds up to 2^63, so compare against 2^63 exclusively.
    if scaled.abs() >= 2f64.powi(63) {
        return Err(FixedError::OutOfRange { value: x, limit: f.max_abs(), bits: f.get() });
    }
    Ok((scaled as i64) as u64)
}

/// Decodes a ring element as a signed fixed-point value.
pub fn decode(v: u64, f: FracBits) -> f64 {
    (v as i64) as f64 / f.scale()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encode_decode_within_resolution(x in -1.0e9f64..1.0e9, bits in 0u8..=32) {
            let f = FracBits::new(bits).unwrap();
            prop_assume!(x.abs() < f.max_abs() / 2.0);
            let back = decode(encode(x, f).unwrap(), f);
            prop_assert!((back - x).abs() <= 0.5 / f.scale() + x.abs() * 1e-15, "{x} -> {back}");
        }

        #[test]
        fn ring_addition_is_fixed_point_addition(a in -1.0e6f64..1.0e6, b in -1.0e6f64..1.0e6) {
            let f = FracBits::default();
            let sum = encode(a, f).unwrap().wrapping_add(encode(b, f).unwrap());
            prop_assert!((decode(sum, f) - (a + b)).abs() <= 1.0 / f.scale() + 1e-9);
        }
    }

    #[test]
    fn range_limits_are_enforced() {
        let f = FracBits::default();
        assert!(encode(1.0e14, f).is_ok());
        assert_eq!(
            encode(2.0e14, f).unwrap_err().to_string(),
            "200000000000000 is outside the fixed-point range (|x| < 1.40737488355328e14 with 16 fractional bits)"
        );
        assert!(matches!(encode(f64::NAN, f), Err(FixedError::NotFinite(_))));
        assert_eq!(decode(encode(-3.25, f).unwrap(), f), -3.25);
        assert!(FracBits::new(33).is_err());
    }
}
