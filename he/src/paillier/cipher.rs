//! Ciphertexts: encryption (fresh or precomputed randomness), validation on decode, and the
//! homomorphic operations.

use num_bigint::BigUint;
use num_integer::Integer;
use rand_chacha10::ChaCha20Rng;
use rand_core::{CryptoRng, Rng, SeedableRng};
use rayon::prelude::*;

use super::bigint::{mul_mod, random_below, to_fixed_bytes, wipe};
use super::error::{PaillierError, Result};
use super::keys::{Plaintext, PublicKey};

/// A Paillier ciphertext: an element of Z*_{n²}. Built only by encryption, homomorphic
/// operations or [`PublicKey::ciphertext_from_bytes`] (which validates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    pub(crate) c: BigUint,
    pub(crate) len: usize,
}

impl Ciphertext {
    /// Fixed-length big-endian encoding (`pk.ciphertext_len()` bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_fixed_bytes(&self.c, self.len)
    }
}

/// Encryption randomness r^n mod n² for a random r in Z*_n.
#[derive(Clone)]
pub struct Randomizer(pub(crate) BigUint);

/// Whoever holds r^n can strip it off the ciphertext and read the plaintext: wiped when
/// dropped (a pool's unused randomizers too).
impl Drop for Randomizer {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::fmt::Debug for Randomizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Randomizer { .. redacted }")
    }
}

/// Randomizers computed ahead of time (on rayon), so that online encryption is one
/// multiplication mod n²: (1 + m·n)·r^n. Each randomizer is used once.
pub struct RandomizerPool {
    pk: PublicKey,
    items: Vec<Randomizer>,
    rng: Option<ChaCha20Rng>,
}

impl std::fmt::Debug for RandomizerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomizerPool").field("len", &self.items.len()).finish_non_exhaustive()
    }
}

impl RandomizerPool {
    /// An empty pool whose generator is seeded from the OS. If the OS generator fails the
    /// pool stays empty and [`PublicKey::encrypt_batch`] reports [`PaillierError::Randomness`].
    pub fn new(pk: &PublicKey) -> Self {
        let mut seed = [0u8; 32];
        let rng = getrandom::fill(&mut seed).ok().map(|()| ChaCha20Rng::from_seed(seed));
        Self { pk: pk.clone(), items: Vec::new(), rng }
    }

    /// An empty pool whose generator is seeded from `rng`.
    pub fn with_rng<R: CryptoRng + ?Sized>(pk: &PublicKey, rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self { pk: pk.clone(), items: Vec::new(), rng: Some(ChaCha20Rng::from_seed(seed)) }
    }

    /// Adds `count` randomizers, computed on rayon.
    pub fn fill(&mut self, count: usize) {
        let Some(rng) = self.rng.as_mut() else { return };
        const CHUNK: usize = 8;
        let seeds: Vec<([u8; 32], usize)> = (0..count.div_ceil(CHUNK))
            .map(|i| {
                let mut s = [0u8; 32];
                rng.fill_bytes(&mut s);
                (s, CHUNK.min(count - i * CHUNK))
            })
            .collect();
        let pk = &self.pk;
        let fresh: Vec<Randomizer> = seeds
            .into_par_iter()
            .flat_map_iter(|(seed, k)| {
                let mut r = ChaCha20Rng::from_seed(seed);
                (0..k).map(move |_| pk.randomizer(&mut r))
            })
            .collect();
        self.items.extend(fresh);
    }

    /// Randomizers available.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl PublicKey {
    /// Encrypts `m` (which must be below n) with fresh randomness.
    pub fn encrypt<R: CryptoRng + ?Sized>(&self, m: &Plaintext, rng: &mut R) -> Result<Ciphertext> {
        let r = self.randomizer(rng);
        self.encrypt_with(m, &r)
    }

    /// Encrypts `m` with a precomputed randomizer: (1 + m·n)·r^n mod n². Use each
    /// randomizer once only.
    pub fn encrypt_with(&self, m: &Plaintext, r: &Randomizer) -> Result<Ciphertext> {
        if m.0 >= self.n {
            return Err(PaillierError::PlaintextOutOfRange { bits: self.modulus_bits() });
        }
        let gm = &m.0 * &self.n + 1u8;
        Ok(self.wrap(mul_mod(&gm, &r.0, &self.n2)))
    }

    /// A fresh randomizer r^n mod n², r uniform in Z*_n.
    pub fn randomizer<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Randomizer {
        loop {
            let mut r = random_below(rng, &self.n);
            if r != BigUint::ZERO && r.gcd(&self.n) == BigUint::from(1u8) {
                let rn = Randomizer(r.modpow(&self.n, &self.n2));
                wipe(&mut r);
                return rn;
            }
            wipe(&mut r);
        }
    }

    /// Encrypts many plaintexts with randomizers drawn from `pool` (refilled on rayon if it
    /// holds too few), the online multiplications running on rayon.
    pub fn encrypt_batch(&self, ms: &[Plaintext], pool: &mut RandomizerPool) -> Result<Vec<Ciphertext>> {
        if pool.pk != *self {
            return Err(PaillierError::InvalidKey { reason: "the randomizer pool belongs to another key" });
        }
        if pool.len() < ms.len() {
            pool.fill(ms.len() - pool.len());
        }
        if pool.len() < ms.len() {
            return Err(PaillierError::Randomness("the randomizer pool could not be seeded".into()));
        }
        let rs = pool.items.split_off(pool.items.len() - ms.len());
        ms.par_iter().zip(rs.par_iter()).map(|(m, r)| self.encrypt_with(m, r)).collect()
    }

    /// Homomorphic addition: Enc(a + b mod n).
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Ciphertext {
        self.wrap(mul_mod(&a.c, &b.c, &self.n2))
    }

    /// Multiplication by a public scalar: Enc(a·k mod n).
    pub fn mul_plain(&self, a: &Ciphertext, k: &Plaintext) -> Ciphertext {
        self.wrap(a.c.modpow(&(&k.0 % &self.n), &self.n2))
    }

    /// Elementwise homomorphic sum of several equal-length ciphertext vectors (rayon).
    pub fn sum(&self, cts: &[&[Ciphertext]]) -> Result<Vec<Ciphertext>> {
        let Some(first) = cts.first() else { return Ok(Vec::new()) };
        if let Some(bad) = cts.iter().find(|v| v.len() != first.len()) {
            return Err(PaillierError::LengthMismatch {
                what: "ciphertext vectors to sum",
                expected: first.len(),
                found: bad.len(),
            });
        }
        Ok((0..first.len())
            .into_par_iter()
            .map(|k| {
                let prod = cts
                    .iter()
                    .filter_map(|v| v.get(k))
                    .fold(BigUint::from(1u8), |acc, c| mul_mod(&acc, &c.c, &self.n2));
                self.wrap(prod)
            })
            .collect())
    }

    /// Decodes and validates a ciphertext: exactly `ciphertext_len()` bytes, 0 < c < n²,
    /// gcd(c, n) = 1.
    pub fn ciphertext_from_bytes(&self, bytes: &[u8]) -> Result<Ciphertext> {
        let expected = self.ciphertext_len();
        if bytes.len() != expected {
            return Err(PaillierError::CiphertextLength { expected, found: bytes.len() });
        }
        let c = BigUint::from_bytes_be(bytes);
        self.check_unit(&c)?;
        Ok(self.wrap(c))
    }

    /// Checks 0 < c < n² and gcd(c, n) = 1.
    pub(crate) fn check_unit(&self, c: &BigUint) -> Result<()> {
        if *c == BigUint::ZERO {
            return Err(PaillierError::InvalidCiphertext { reason: "c is zero" });
        }
        if *c >= self.n2 {
            return Err(PaillierError::InvalidCiphertext { reason: "c is not below n^2" });
        }
        if c.gcd(&self.n) != BigUint::from(1u8) {
            return Err(PaillierError::InvalidCiphertext { reason: "c is not coprime to n" });
        }
        Ok(())
    }

    pub(crate) fn wrap(&self, c: BigUint) -> Ciphertext {
        Ciphertext { c, len: self.ciphertext_len() }
    }
}
