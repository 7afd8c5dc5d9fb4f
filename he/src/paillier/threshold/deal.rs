//! The dealer's key ceremony: safe primes, the shared secret d, shares and verification keys.

use crypto_bigint::{BoxedUint, ConcatenatingMul, NonZero, Odd};
use crypto_primes::{Flavor, is_prime, multicore};
use num_bigint::BigUint;
use num_integer::Integer;
use rand_chacha10::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};
use rayon::prelude::*;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{KeyShare, MAX_PARTIES, ThresholdPublicKey, factorial};
use crate::paillier::bigint::{ct_pow, modulus_of, precision, random_below, random_mod_secret, resized, to_boxed};
use crate::paillier::error::{PaillierError, Result};
use crate::paillier::keys::{MIN_INSECURE_MODULUS_BITS, MIN_MODULUS_BITS, PublicKey};

/// Two safe primes p = 2p'+1, q = 2q'+1 of equal size. Zeroized on drop, redacted `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SafePrimes {
    p: BoxedUint,
    q: BoxedUint,
}

impl std::fmt::Debug for SafePrimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafePrimes").field("bits", &self.p.bits_vartime()).finish_non_exhaustive()
    }
}

impl SafePrimes {
    /// Searches two fresh safe primes of bits/2 bits whose product has exactly `bits` bits
    /// (crypto-primes, on all rayon threads). Refuses `bits` < 2048.
    pub fn generate<R: CryptoRng + ?Sized>(bits: u32, rng: &mut R) -> Result<Self> {
        if bits < MIN_MODULUS_BITS {
            return Err(PaillierError::KeyTooSmall { bits, min: MIN_MODULUS_BITS });
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *seed);
        let mut chacha = ChaCha20Rng::from_seed(*seed);
        let threads = rayon::current_num_threads().max(1);
        let half = bits / 2;
        let p: BoxedUint = multicore::random_prime(&mut chacha, Flavor::Safe, half, threads);
        loop {
            let q: BoxedUint = multicore::random_prime(&mut chacha, Flavor::Safe, half, threads);
            if q != p && modulus_of(&p, &q).bits() == u64::from(bits) {
                return Ok(Self { p, q });
            }
        }
    }

    /// Safe primes from big-endian bytes (checked when dealing).
    pub fn from_be_bytes(p: &[u8], q: &[u8]) -> Self {
        let prec = precision(8 * p.len().max(q.len()) as u64);
        Self { p: BoxedUint::from_be_slice_truncated(p, prec), q: BoxedUint::from_be_slice_truncated(q, prec) }
    }

    /// Parses `{"p": "<hex>", "q": "<hex>", ...}` (the format of the committed test primes).
    pub fn from_json(json: &str) -> Result<Self> {
        #[derive(serde::Deserialize, Zeroize)]
        struct Wire {
            p: String,
            q: String,
        }
        let bad = |e: String| PaillierError::Decode { what: "safe primes", reason: e };
        let mut w: Wire = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let p = Zeroizing::new(hex::decode(&w.p).map_err(|e| bad(e.to_string()))?);
        let q = Zeroizing::new(hex::decode(&w.q).map_err(|e| bad(e.to_string()))?);
        w.zeroize();
        Ok(Self::from_be_bytes(&p, &q))
    }

    /// A plain (non-threshold) Paillier key pair from these primes, e.g. the test-only ones.
    pub fn keypair(&self) -> Result<(PublicKey, crate::paillier::SecretKey)> {
        crate::paillier::keys::secret_key_from_primes(&self.p, &self.q)
    }

    /// Bits of n = p·q.
    pub fn modulus_bits(&self) -> u32 {
        self.p.bits_vartime() + self.q.bits_vartime()
    }
}

/// **TEST-ONLY, PUBLIC** safe primes for a 2048-bit n, committed in
/// `he/testdata/TEST-ONLY-safe-primes-2048.json` so that tests, CI and benchmarks need no
/// safe-prime search. Everyone can read them: a key dealt from them protects nothing. Never
/// use them for real data — the product deals with [`deal`], which searches fresh primes.
#[cfg(feature = "test-tools")]
pub fn test_only_primes_2048() -> SafePrimes {
    committed(include_str!("../../../testdata/TEST-ONLY-safe-primes-2048.json"))
}

/// **TEST-ONLY, PUBLIC** safe primes for a 3072-bit n (`he/testdata/TEST-ONLY-safe-primes-3072.json`).
/// Same warning as [`test_only_primes_2048`].
#[cfg(feature = "test-tools")]
pub fn test_only_primes_3072() -> SafePrimes {
    committed(include_str!("../../../testdata/TEST-ONLY-safe-primes-3072.json"))
}

/// SHA-256 of the moduli n of the committed TEST-ONLY primes (2048 and 3072 bits). Every
/// build has these (not the primes), so that a release node can refuse a test key.
const TEST_MODULI_SHA256: [&str; 2] = [
    "f72420e481aa23f55ba25e1b48ab3ca5224ade3ab584a1cc86fd7155a2f78060",
    "a935e92548cbb90f3b8534cdfc085e8ffa870a2fcaf2def91d76444d6c720746",
];

/// Whether `pk` was dealt from the committed TEST-ONLY primes (anyone can decrypt it).
pub fn is_test_only_key(pk: &PublicKey) -> bool {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(pk.modulus_bytes()));
    TEST_MODULI_SHA256.contains(&h.as_str())
}

#[cfg(feature = "test-tools")]
#[allow(clippy::expect_used, reason = "compiled-in file, parsed by the tests")]
fn committed(json: &str) -> SafePrimes {
    SafePrimes::from_json(json).expect("the committed test primes parse")
}

#[cfg(all(test, feature = "test-tools"))]
mod tests {
    #[test]
    fn the_test_moduli_digests_are_those_of_the_committed_primes() {
        for primes in [super::test_only_primes_2048(), super::test_only_primes_3072()] {
            let (pk, _) = primes.keypair().unwrap_or_else(|e| panic!("{e}"));
            assert!(super::is_test_only_key(&pk));
        }
        let other = super::SafePrimes::from_be_bytes(
            &0xffff_ffff_ffff_fa43u64.to_be_bytes(),
            &0xffff_ffff_ffff_f5dbu64.to_be_bytes(),
        );
        let (pk, _) = other.keypair().unwrap_or_else(|e| panic!("{e}"));
        assert!(!super::is_test_only_key(&pk));
    }
}

/// Key ceremony with fresh safe primes: n of `bits` bits (≥ 2048), `parties` shares of which
/// any `threshold` decrypt.
pub fn deal<R: CryptoRng + ?Sized>(
    bits: u32,
    parties: u32,
    threshold: u32,
    rng: &mut R,
) -> Result<(ThresholdPublicKey, Vec<KeyShare>)> {
    check_threshold(parties, threshold)?;
    let primes = SafePrimes::generate(bits, rng)?;
    deal_with_primes(&primes, parties, threshold, rng)
}

/// Key ceremony from given safe primes (checked: both safe primes, equal size, distinct,
/// n ≥ 2048 bits).
pub fn deal_with_primes<R: CryptoRng + ?Sized>(
    primes: &SafePrimes,
    parties: u32,
    threshold: u32,
    rng: &mut R,
) -> Result<(ThresholdPublicKey, Vec<KeyShare>)> {
    deal_checked(primes, parties, threshold, MIN_MODULUS_BITS, rng)
}

/// Like [`deal_with_primes`] but accepts n down to 128 bits. **Insecure: for tests only.**
pub fn deal_with_primes_insecure_for_tests<R: CryptoRng + ?Sized>(
    primes: &SafePrimes,
    parties: u32,
    threshold: u32,
    rng: &mut R,
) -> Result<(ThresholdPublicKey, Vec<KeyShare>)> {
    deal_checked(primes, parties, threshold, MIN_INSECURE_MODULUS_BITS, rng)
}

pub(crate) fn check_threshold(parties: u32, threshold: u32) -> Result<()> {
    if threshold == 0 || threshold > parties || parties > MAX_PARTIES {
        return Err(PaillierError::InvalidThreshold { parties, threshold });
    }
    Ok(())
}

fn deal_checked<R: CryptoRng + ?Sized>(
    primes: &SafePrimes,
    parties: u32,
    threshold: u32,
    min_bits: u32,
    rng: &mut R,
) -> Result<(ThresholdPublicKey, Vec<KeyShare>)> {
    check_threshold(parties, threshold)?;
    let (p, q) = (&primes.p, &primes.q);
    if p.bits_vartime() != q.bits_vartime() {
        return Err(PaillierError::InvalidKey { reason: "p and q must have the same bit length" });
    }
    if p == q {
        return Err(PaillierError::InvalidKey { reason: "p and q must be distinct" });
    }
    let n = modulus_of(p, q);
    let bits = u32::try_from(n.bits()).unwrap_or(u32::MAX);
    if bits < min_bits {
        return Err(PaillierError::KeyTooSmall { bits, min: min_bits });
    }
    if !is_prime(Flavor::Safe, p) || !is_prime(Flavor::Safe, q) {
        return Err(PaillierError::InvalidKey { reason: "p and q must be safe primes" });
    }
    let pk = PublicKey::from_modulus(n.clone())?;
    let w = precision(n.bits());
    let wide = precision(2 * n.bits());
    let n_odd: Odd<BoxedUint> =
        Option::from(to_boxed(&n, w).to_odd()).ok_or(PaillierError::InvalidKey { reason: "n is even" })?;
    // m = p'q' = ((p−1)/2)·((q−1)/2), secret.
    let one = BoxedUint::one_with_precision(w);
    let pp = Zeroizing::new(resized(p, w).wrapping_sub(&one).shr(1));
    let qq = Zeroizing::new(resized(q, w).wrapping_sub(&one).shr(1));
    let m = Zeroizing::new(resized(&pp.concatenating_mul(&*qq), wide));
    let nm = Zeroizing::new(resized(&to_boxed(&n, wide).concatenating_mul(&*m), wide));
    let nm_nz: NonZero<BoxedUint> =
        Option::from(nm.to_nz()).ok_or(PaillierError::InvalidKey { reason: "n·m is zero" })?;
    // d = m·(m^{-1} mod n): d ≡ 0 mod m, d ≡ 1 mod n.
    let m_inv: Option<BoxedUint> = resized(&m, w).invert_odd_mod(&n_odd).into();
    let m_inv = Zeroizing::new(m_inv.ok_or(PaillierError::InvalidKey { reason: "m is not invertible mod n" })?);
    let d = Zeroizing::new(m.concatenating_mul(&*m_inv).rem(&nm_nz));
    let mut coeffs: Vec<Zeroizing<BoxedUint>> = vec![d];
    for _ in 1..threshold {
        coeffs.push(random_mod_secret(rng, &nm_nz));
    }
    let shares: Vec<Zeroizing<BoxedUint>> = (1..=parties)
        .map(|x| {
            let xb = resized(&BoxedUint::from(u64::from(x)), wide);
            let mut acc = Zeroizing::new(BoxedUint::zero_with_precision(wide));
            for c in coeffs.iter().rev() {
                *acc = acc.mul_mod(&xb, &nm_nz).add_mod(c, &nm_nz);
            }
            acc
        })
        .collect();
    // v: a random square of Z*_{n²}; v_i = v^{Δ s_i}.
    let n2 = &n * &n;
    let v = loop {
        let x = random_below(rng, &n2);
        if x != BigUint::ZERO && x.gcd(&n) == BigUint::from(1u8) {
            break (&x * &x) % &n2;
        }
    };
    let delta = factorial(parties);
    let delta_b = to_boxed(&delta, precision(delta.bits()));
    let vks: Vec<BigUint> = shares
        .par_iter()
        .map(|s| {
            let e = Zeroizing::new(s.concatenating_mul(&delta_b));
            ct_pow(&v, &e, &pk.params_n2)
        })
        .collect();
    let tpk = ThresholdPublicKey { pk, parties, threshold, v, vks, delta };
    let key_shares = shares
        .iter()
        .zip(0u32..)
        .map(|(s, index)| KeyShare { index, parties, threshold, n: n.clone(), secret: (**s).clone() })
        .collect();
    Ok((tpk, key_shares))
}
