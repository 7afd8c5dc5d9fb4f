//! Big-integer helpers: conversions between num-bigint (public values) and crypto-bigint
//! (secret operands), constant-time exponentiation, random sampling and the public
//! multi-exponentiation used by batch proof verification.

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, NonZero, Odd, Resize};
use num_bigint::BigUint;
use rand_core::CryptoRng;
use rayon::prelude::*;
use zeroize::Zeroizing;

/// crypto-bigint precision (a multiple of 64) holding `bits` bits.
pub(crate) fn precision(bits: u64) -> u32 {
    let limbs = bits.div_ceil(64).max(1);
    u32::try_from(limbs * 64).unwrap_or(u32::MAX)
}

/// `x` at another precision (upper limbs dropped when shrinking; callers shrink only values
/// that fit).
pub(crate) fn resized(x: &BoxedUint, bits_precision: u32) -> BoxedUint {
    Resize::resize_unchecked(x, bits_precision)
}

/// A public value as a crypto-bigint integer of the given precision (truncated if larger,
/// which callers rule out by construction).
pub(crate) fn to_boxed(x: &BigUint, bits_precision: u32) -> BoxedUint {
    BoxedUint::from_be_slice_truncated(&x.to_bytes_be(), bits_precision)
}

/// A crypto-bigint integer as num-bigint (used only for values that are public, or for a
/// decryption result that is about to be returned).
pub(crate) fn from_boxed(x: &BoxedUint) -> BigUint {
    let bytes = Zeroizing::new(x.to_be_bytes());
    BigUint::from_bytes_be(&bytes)
}

/// Overwrites a num-bigint value's digits with zeros in place. num-bigint has no
/// `Zeroize` (its digits are private); `assign_from_slice` clears the digit vector and
/// refills the same buffer, so the zeros land where the digits were before the value
/// normalizes to 0 and the buffer is released.
pub(crate) fn wipe(x: &mut BigUint) {
    let words = usize::try_from(x.bits().div_ceil(32)).unwrap_or(0);
    x.assign_from_slice(&vec![0u32; words]);
}

/// The public modulus p·q of two secret primes; the num-bigint copies of p and q made
/// on the way are wiped.
pub(crate) fn modulus_of(p: &BoxedUint, q: &BoxedUint) -> BigUint {
    let (mut a, mut b) = (from_boxed(p), from_boxed(q));
    let n = &a * &b;
    wipe(&mut a);
    wipe(&mut b);
    n
}

/// Montgomery parameters of an odd public modulus (`None` if it is even).
pub(crate) fn monty_params(modulus: &BigUint) -> Option<BoxedMontyParams> {
    let m = to_boxed(modulus, precision(modulus.bits()));
    let odd: Option<Odd<BoxedUint>> = m.to_odd().into();
    odd.map(BoxedMontyParams::new_vartime)
}

/// `base^exp mod params.modulus()` in constant time with respect to `exp` (and the base).
/// `base` must be below the modulus.
pub(crate) fn ct_pow(base: &BigUint, exp: &BoxedUint, params: &BoxedMontyParams) -> BigUint {
    let b = to_boxed(base, params.bits_precision());
    let r = BoxedMontyForm::new(b, params).pow(exp);
    from_boxed(&r.retrieve())
}

#[cfg(test)]
mod wipe_tests {
    use super::*;

    #[test]
    fn wipe_zeroes_the_digits_in_their_buffer() {
        let mut x = BigUint::from_bytes_be(&[0xAB; 256]);
        let before = x.to_u64_digits().len();
        wipe(&mut x);
        assert_eq!(x, BigUint::ZERO);
        assert_eq!(before, 32);
        let p = to_boxed(&BigUint::from(1_000_003u32), 64);
        let q = to_boxed(&BigUint::from(999_983u32), 64);
        assert_eq!(modulus_of(&p, &q), BigUint::from(1_000_003u64 * 999_983));
    }
}

/// `a·b mod m`.
pub(crate) fn mul_mod(a: &BigUint, b: &BigUint, m: &BigUint) -> BigUint {
    (a * b) % m
}

/// Fixed-length big-endian encoding (left-padded with zeros; `x` must fit).
pub(crate) fn to_fixed_bytes(x: &BigUint, len: usize) -> Vec<u8> {
    let raw = x.to_bytes_be();
    let mut out = vec![0u8; len.saturating_sub(raw.len())];
    out.extend_from_slice(&raw);
    out
}

/// Uniform in [0, bound) up to a 2^-128 statistical distance (bits(bound) + 128 random bits
/// reduced mod bound). Public-value version.
pub(crate) fn random_below<R: CryptoRng + ?Sized>(rng: &mut R, bound: &BigUint) -> BigUint {
    let len = usize::try_from((bound.bits() + 128).div_ceil(8)).unwrap_or(usize::MAX);
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    rng.fill_bytes(&mut bytes);
    BigUint::from_bytes_be(&bytes) % bound
}

/// `bits` uniformly random bits as a secret crypto-bigint integer.
pub(crate) fn random_bits_secret<R: CryptoRng + ?Sized>(rng: &mut R, bits: u32) -> Zeroizing<BoxedUint> {
    let len = usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX);
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    rng.fill_bytes(&mut bytes);
    let extra = u32::try_from(len * 8).unwrap_or(u32::MAX).saturating_sub(bits);
    if let Some(first) = bytes.first_mut() {
        *first &= 0xffu8.checked_shr(extra).unwrap_or(0);
    }
    Zeroizing::new(BoxedUint::from_be_slice_truncated(&bytes, precision(u64::from(bits))))
}

/// Uniform secret in [0, modulus) up to 2^-128 statistical distance, at the modulus' precision.
pub(crate) fn random_mod_secret<R: CryptoRng + ?Sized>(
    rng: &mut R,
    modulus: &NonZero<BoxedUint>,
) -> Zeroizing<BoxedUint> {
    let wide = random_bits_secret(rng, modulus.bits_precision() + 128);
    Zeroizing::new(wide.rem(modulus))
}

/// Product of `bases[k]^exps[k] mod m` for 128-bit public exponents.
///
/// Bucket (Pippenger) method: with a window of w bits the cost is about
/// ⌈128/w⌉·(K + 2^{w+1}) multiplications plus 128 squarings instead of ~190·K for K separate
/// exponentiations. Chunks of bases run on rayon and their results are multiplied.
pub(crate) fn multi_exp(bases: &[BigUint], exps: &[u128], m: &BigUint) -> BigUint {
    let k = bases.len().min(exps.len());
    let threads = rayon::current_num_threads().max(1);
    let chunk = k.div_ceil(threads).max(256);
    let (bases, exps) = (bases.get(..k).unwrap_or(&[]), exps.get(..k).unwrap_or(&[]));
    bases
        .par_chunks(chunk)
        .zip(exps.par_chunks(chunk))
        .map(|(b, e)| multi_exp_serial(b, e, m))
        .reduce(|| BigUint::from(1u8) % m, |x, y| mul_mod(&x, &y, m))
}

fn multi_exp_serial(bases: &[BigUint], exps: &[u128], m: &BigUint) -> BigUint {
    let one = BigUint::from(1u8) % m;
    if bases.len() < 8 {
        return bases.iter().zip(exps).fold(one, |acc, (b, e)| mul_mod(&acc, &b.modpow(&BigUint::from(*e), m), m));
    }
    let w: u32 = (usize::BITS - bases.len().leading_zeros()).saturating_sub(3).clamp(2, 12);
    let windows = 128u32.div_ceil(w);
    let mask: u128 = (1u128 << w) - 1;
    let mut acc: Option<BigUint> = None;
    for win in (0..windows).rev() {
        if let Some(a) = acc.as_mut() {
            for _ in 0..w {
                *a = mul_mod(a, a, m);
            }
        }
        let mut buckets: Vec<Option<BigUint>> = vec![None; 1usize << w];
        for (b, e) in bases.iter().zip(exps) {
            let digit = usize::try_from((e >> (win * w)) & mask).unwrap_or(0);
            if digit == 0 {
                continue;
            }
            if let Some(slot) = buckets.get_mut(digit) {
                *slot = Some(match slot.take() {
                    Some(v) => mul_mod(&v, b, m),
                    None => b.clone(),
                });
            }
        }
        // Σ j·B_j by running sums: running = Π_{i >= j} B_i, total = Π_j running_j.
        let mut running: Option<BigUint> = None;
        let mut total: Option<BigUint> = None;
        for bucket in buckets.into_iter().skip(1).rev() {
            if let Some(bv) = bucket {
                running = Some(match running {
                    Some(r) => mul_mod(&r, &bv, m),
                    None => bv,
                });
            }
            if let Some(r) = running.as_ref() {
                total = Some(match total {
                    Some(t) => mul_mod(&t, r, m),
                    None => r.clone(),
                });
            }
        }
        if let Some(t) = total {
            acc = Some(match acc {
                Some(a) => mul_mod(&a, &t, m),
                None => t,
            });
        }
    }
    acc.unwrap_or(one)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn multi_exp_matches_naive() {
        let m = BigUint::from(1_000_000_007u64) * BigUint::from(998_244_353u64);
        for k in [1usize, 5, 9, 40, 300] {
            let bases: Vec<BigUint> = (0..k).map(|i| BigUint::from(3u64 + 7 * i as u64)).collect();
            let exps: Vec<u128> =
                (0..k).map(|i| (i as u128 + 1).wrapping_mul(0x1234_5678_9abc_def0_1122_3344_5566_7789)).collect();
            let naive = bases
                .iter()
                .zip(&exps)
                .fold(BigUint::from(1u8), |acc, (b, e)| acc * b.modpow(&BigUint::from(*e), &m) % &m);
            assert_eq!(multi_exp(&bases, &exps, &m), naive, "k = {k}");
        }
    }
}
