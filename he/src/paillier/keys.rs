//! Paillier keys (g = n + 1), plaintexts, key generation and CRT decryption.

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, ConcatenatingMul, NonZero, Odd};
use crypto_primes::{Flavor, is_prime, random_prime};
use num_bigint::BigUint;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::bigint::{from_boxed, modulus_of, monty_params, precision, resized, to_boxed};
use super::cipher::Ciphertext;
use super::error::{PaillierError, Result};

/// Smallest modulus accepted outside the `insecure_for_tests` constructors.
pub const MIN_MODULUS_BITS: u32 = 2048;
/// Smallest modulus the `insecure_for_tests` constructors accept.
pub const MIN_INSECURE_MODULUS_BITS: u32 = 128;

/// A Paillier public key: the modulus n (g = n + 1 is implied).
///
/// Serialized as `{"n": "<hex>"}`; deserializing validates it (odd, at least
/// [`MIN_INSECURE_MODULUS_BITS`] bits — the size policy is enforced where keys are made).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "PublicKeyWire", into = "PublicKeyWire")]
pub struct PublicKey {
    pub(crate) n: BigUint,
    pub(crate) n2: BigUint,
    /// Montgomery parameters of n² for the constant-time (secret-exponent) operations.
    pub(crate) params_n2: BoxedMontyParams,
}

#[derive(Serialize, Deserialize)]
struct PublicKeyWire {
    n: String,
}

impl From<PublicKey> for PublicKeyWire {
    fn from(pk: PublicKey) -> Self {
        Self { n: hex::encode(pk.n.to_bytes_be()) }
    }
}

impl TryFrom<PublicKeyWire> for PublicKey {
    type Error = PaillierError;
    fn try_from(w: PublicKeyWire) -> Result<Self> {
        let bytes =
            hex::decode(&w.n).map_err(|e| PaillierError::Decode { what: "public key", reason: e.to_string() })?;
        PublicKey::from_modulus(BigUint::from_bytes_be(&bytes))
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n
    }
}
impl Eq for PublicKey {}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("bits", &self.modulus_bits()).finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Builds a public key from its modulus (odd, at least [`MIN_INSECURE_MODULUS_BITS`] bits).
    pub(crate) fn from_modulus(n: BigUint) -> Result<Self> {
        let bits = u32::try_from(n.bits()).unwrap_or(u32::MAX);
        if bits < MIN_INSECURE_MODULUS_BITS {
            return Err(PaillierError::KeyTooSmall { bits, min: MIN_INSECURE_MODULUS_BITS });
        }
        let n2 = &n * &n;
        let params_n2 = monty_params(&n2).ok_or(PaillierError::InvalidKey { reason: "the modulus n is even" })?;
        Ok(Self { n, n2, params_n2 })
    }

    /// Bits of the modulus n.
    pub fn modulus_bits(&self) -> u32 {
        u32::try_from(self.n.bits()).unwrap_or(u32::MAX)
    }

    /// Length in bytes of an encoded ciphertext (bytes of n²).
    pub fn ciphertext_len(&self) -> usize {
        usize::try_from(self.n2.bits().div_ceil(8)).unwrap_or(usize::MAX)
    }

    /// The modulus n, big-endian.
    pub fn modulus_bytes(&self) -> Vec<u8> {
        self.n.to_bytes_be()
    }

    /// `L(u) = (u − 1) / n`.
    pub(crate) fn l_function(&self, u: &BigUint) -> BigUint {
        if *u == BigUint::ZERO { BigUint::ZERO } else { (u - 1u8) / &self.n }
    }
}

/// A plaintext: an integer in [0, n). Signed values are represented mod n (see
/// [`Plaintext::from_i64`] and [`Plaintext::to_i128_centered`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plaintext(pub(crate) BigUint);

impl Plaintext {
    /// The non-negative integer `v` (it must be below n when encrypted).
    pub fn from_u64(v: u64) -> Self {
        Self(BigUint::from(v))
    }

    /// `v mod n`: negative values become n − |v|.
    pub fn from_i64(pk: &PublicKey, v: i64) -> Self {
        let abs = BigUint::from(v.unsigned_abs()) % &pk.n;
        if v < 0 && abs != BigUint::ZERO { Self(&pk.n - abs) } else { Self(abs) }
    }

    /// A plaintext from big-endian bytes (it must be below n when encrypted).
    pub fn from_be_bytes(bytes: &[u8]) -> Self {
        Self(BigUint::from_bytes_be(bytes))
    }

    /// Big-endian bytes of the integer.
    pub fn to_be_bytes(&self) -> Vec<u8> {
        self.0.to_bytes_be()
    }

    /// The value in (−n/2, n/2] as an `i128`, or `None` if it does not fit.
    pub fn to_i128_centered(&self, pk: &PublicKey) -> Option<i128> {
        let m = &self.0 % &pk.n;
        if m > (&pk.n >> 1u8) {
            let neg = &pk.n - m;
            i128::try_from(neg).ok().and_then(i128::checked_neg)
        } else {
            i128::try_from(m).ok()
        }
    }
}

/// A Paillier secret key: the primes p and q with the CRT constants for decryption.
/// Zeroized on drop; its `Debug` prints nothing of it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    #[zeroize(skip)]
    pk: PublicKey,
    p: BoxedUint,
    q: BoxedUint,
    /// (−q)^{-1} mod p, i.e. L_p(g^{p−1} mod p²)^{-1}.
    hp: BoxedUint,
    /// (−p)^{-1} mod q.
    hq: BoxedUint,
    /// q^{-1} mod p.
    q_inv_p: BoxedUint,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey { .. redacted }")
    }
}

/// Generates a key pair with a fresh n = p·q of exactly `bits` bits (p, q random primes of
/// bits/2 bits). Refuses `bits` < [`MIN_MODULUS_BITS`].
pub fn generate_keypair<R: CryptoRng + ?Sized>(bits: u32, rng: &mut R) -> Result<(PublicKey, SecretKey)> {
    if bits < MIN_MODULUS_BITS {
        return Err(PaillierError::KeyTooSmall { bits, min: MIN_MODULUS_BITS });
    }
    keypair_unchecked(bits, rng)
}

/// Like [`generate_keypair`] but accepts moduli down to [`MIN_INSECURE_MODULUS_BITS`] bits.
/// **Insecure: for tests only.**
pub fn generate_keypair_insecure_for_tests<R: CryptoRng + ?Sized>(
    bits: u32,
    rng: &mut R,
) -> Result<(PublicKey, SecretKey)> {
    if bits < MIN_INSECURE_MODULUS_BITS {
        return Err(PaillierError::KeyTooSmall { bits, min: MIN_INSECURE_MODULUS_BITS });
    }
    keypair_unchecked(bits, rng)
}

fn keypair_unchecked<R: CryptoRng + ?Sized>(bits: u32, rng: &mut R) -> Result<(PublicKey, SecretKey)> {
    let half = bits / 2;
    loop {
        let p: Zeroizing<BoxedUint> = Zeroizing::new(random_prime(rng, Flavor::Any, half));
        let q: Zeroizing<BoxedUint> = Zeroizing::new(random_prime(rng, Flavor::Any, bits - half));
        if p == q {
            continue;
        }
        if modulus_of(&p, &q).bits() != u64::from(bits) {
            continue;
        }
        return secret_key_from_primes(&p, &q);
    }
}

/// Builds the key pair from two distinct odd primes (checked to be prime).
pub(crate) fn secret_key_from_primes(p: &BoxedUint, q: &BoxedUint) -> Result<(PublicKey, SecretKey)> {
    if p == q || !is_prime(Flavor::Any, p) || !is_prime(Flavor::Any, q) {
        return Err(PaillierError::InvalidKey { reason: "p and q must be distinct primes" });
    }
    let pk = PublicKey::from_modulus(modulus_of(p, q))?;
    let w = precision(pk.n.bits());
    let (p, q) = (resized(p, w), resized(q, w));
    let hp = crt_h(&p, &q)?;
    let hq = crt_h(&q, &p)?;
    let p_odd = odd(&p)?;
    let q_mod_p = q.rem(&NonZero::from(p_odd.clone()));
    let q_inv_p: Option<BoxedUint> = q_mod_p.invert_odd_mod(&p_odd).into();
    let q_inv_p = q_inv_p.ok_or(PaillierError::InvalidKey { reason: "q is not invertible mod p" })?;
    Ok((pk.clone(), SecretKey { pk, p, q, hp, hq, q_inv_p }))
}

fn odd(x: &BoxedUint) -> Result<Odd<BoxedUint>> {
    Option::from(x.to_odd()).ok_or(PaillierError::InvalidKey { reason: "a prime factor is even" })
}

/// (−other)^{-1} mod prime.
fn crt_h(prime: &BoxedUint, other: &BoxedUint) -> Result<BoxedUint> {
    let p_odd = odd(prime)?;
    let o = other.rem(&NonZero::from(p_odd.clone()));
    let neg = prime.wrapping_sub(&o);
    Option::from(neg.invert_odd_mod(&p_odd)).ok_or(PaillierError::InvalidKey { reason: "p and q are not coprime" })
}

impl SecretKey {
    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.pk
    }

    /// Decrypts with the CRT: m_p = L_p(c^{p−1} mod p²)·h_p mod p, the same mod q, then
    /// recombines. All arithmetic touching p, q is constant time (crypto-bigint).
    pub fn decrypt(&self, c: &Ciphertext) -> Plaintext {
        let w = self.p.bits_precision();
        let c_big = to_boxed(&c.c, precision(self.pk.n2.bits()));
        let mp = Zeroizing::new(half_decrypt(&c_big, &self.p, &self.hp, w));
        let mq = Zeroizing::new(half_decrypt(&c_big, &self.q, &self.hq, w));
        let (Ok(p_odd), Ok(_)) = (odd(&self.p), odd(&self.q)) else {
            return Plaintext(BigUint::ZERO);
        };
        let p_nz = NonZero::from(p_odd);
        let mq_mod_p = Zeroizing::new(mq.rem(&p_nz));
        let diff = Zeroizing::new(mp.sub_mod(&mq_mod_p, &p_nz));
        let h = Zeroizing::new(diff.mul_mod(&self.q_inv_p, &p_nz));
        let qh = Zeroizing::new(self.q.concatenating_mul(&*h));
        let m = Zeroizing::new(qh.wrapping_add(resized(&mq, qh.bits_precision())));
        Plaintext(from_boxed(&m))
    }
}

/// m mod prime from c: L_prime(c^{prime−1} mod prime²)·h mod prime, constant time.
fn half_decrypt(c: &BoxedUint, prime: &BoxedUint, h: &BoxedUint, w: u32) -> BoxedUint {
    let sq = Zeroizing::new(resized(&prime.concatenating_mul(prime), w));
    let Some(sq_odd) = Option::<Odd<BoxedUint>>::from(sq.to_odd()) else {
        return BoxedUint::zero_with_precision(w);
    };
    let Some(p_nz) = Option::<NonZero<BoxedUint>>::from(prime.to_nz()) else {
        return BoxedUint::zero_with_precision(w);
    };
    let params = BoxedMontyParams::new(sq_odd.clone());
    let c_mod = Zeroizing::new(c.rem(&NonZero::from(sq_odd)));
    let exp = Zeroizing::new(prime.wrapping_sub(BoxedUint::one_with_precision(w)));
    let x = Zeroizing::new(BoxedMontyForm::new(resized(&c_mod, w), &params).pow(&exp).retrieve());
    let l = Zeroizing::new(x.wrapping_sub(BoxedUint::one_with_precision(w)).div_rem(&p_nz).0);
    let l_mod = Zeroizing::new(l.rem(&p_nz));
    l_mod.mul_mod(h, &p_nz)
}
