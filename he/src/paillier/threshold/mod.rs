//! Threshold Paillier (Fouque–Poupard–Stern / Damgård–Jurik with s = 1, g = n + 1, Shoup's
//! technique for integer Lagrange coefficients), T-of-N with a trusted dealer.
//!
//! # Scheme
//! * **Dealer** ([`deal`], [`deal_with_primes`]): n = p·q with safe primes p = 2p'+1,
//!   q = 2q'+1; m = p'q'. The secret d satisfies d ≡ 0 mod m and d ≡ 1 mod n and is
//!   Shamir-shared with a random polynomial f of degree T−1 over Z_{n·m}, f(0) = d; member i
//!   (0-based) gets s_i = f(i+1). Δ = N!. Verification keys: v a random square of Z*_{n²},
//!   v_i = v^{Δ s_i} mod n².
//! * **Partial decryption** ([`KeyShare::partial_decrypt`]): c_i = c^{2Δ s_i} mod n² for every
//!   ciphertext (rayon, constant-time exponentiation), with one proof for the whole batch.
//! * **Combination** ([`ThresholdPublicKey::combine`]), a pure function of the public key, the
//!   ciphertexts and the partials: with S a set of T valid partials and integer coefficients
//!   μ_j = Δ·∏_{j'≠j} x_{j'}/(x_{j'} − x_j), c' = ∏ c_j^{2μ_j} = (1+n)^{4Δ²·M} (negative μ_j
//!   invert the base mod n²), and M = L(c')·(4Δ²)^{-1} mod n with L(u) = (u−1)/n.
//!
//! # Proofs of correct partial decryption
//! A proof shows log_{c^4}(c_i^2) = log_v(v_i) (= Δ s_i): Fiat–Shamir with SHA-256, r random
//! of |n²| + 2·128 + 256 bits, a = (c^4)^r, b = v^r, e = H(n, v, v_i, c^4, c_i^2, a, b)
//! truncated to 128 bits, z = r + e·Δ s_i over the integers. The verifier recomputes
//! a = (c^4)^z·(c_i^2)^{-e}, b = v^z·v_i^{-e} and checks e. The proof is sent as (e, z).
//!
//! **Batching.** A round decrypts thousands of ciphertexts, so a partial decryption of K
//! ciphertexts carries one proof for the random linear combination C = ∏ c_k^{ρ_k},
//! C_i = ∏ c_{i,k}^{ρ_k}, where the 128-bit ρ_k are SHA-256 outputs over (n, the party index,
//! all c_k, all c_{i,k}), so they are fixed only after the partials. The verifier recomputes
//! ρ_k and both products with a bucket multi-exponentiation (about 128/w·(K + 2^{w+1})
//! multiplications, far below one exponentiation per element) and checks the single proof.
//!
//! *Soundness.* Every value enters squared (c^4, c_i^2 and the combination uses c_i^2 too),
//! so everything lives in the group of squares of Z*_{n²}, of order n·p'·q' — a product of
//! four primes of at least |n|/2 − 1 bits. Suppose some partial is wrong: c_{i,k}^2 =
//! (c_k^4)^{Δ s_i}·ε_k with ε_k ≠ 1 for some k. Then C_i^2 = (C^4)^{Δ s_i}·∏ ε_k^{ρ_k}, and
//! the proof can only verify (beyond the 2^-128 soundness error of the single DLEQ proof,
//! whose challenge space 2^128 is below every prime factor of the group order) if
//! ∏ ε_k^{ρ_k} = 1. ε_k has an order divisible by some large prime ℓ; for ρ_k uniform over
//! 2^128 values (random oracle, drawn after the c_{i,k} are fixed) and the other ρ fixed,
//! at most one residue of ρ_k mod ℓ cancels the product, so the probability is ≤ 2^-128
//! per attempt (an adversary making Q hash queries gets ≤ Q·2^-128). Errors of order 2 in
//! c_{i,k} survive the check but are killed by the squaring in the combination, so they do
//! not change the plaintext.
//!
//! # Security
//! Trusted dealer: whoever runs [`deal`] learns the whole key and must erase it. Shares are
//! zeroized on drop. The secret exponents (2Δ s_i, the proof randomness r) go only through
//! crypto-bigint's constant-time arithmetic.

mod combine;
mod deal;
mod partial;
mod proof;
mod serial;

pub use combine::Combined;
pub use deal::{SafePrimes, deal, deal_with_primes, deal_with_primes_insecure_for_tests, is_test_only_key};
/// The committed TEST-ONLY primes (the `test-tools` feature: tests and CI, never a release).
#[cfg(feature = "test-tools")]
pub use deal::{test_only_primes_2048, test_only_primes_3072};
pub use partial::PartialDecryption;

use crypto_bigint::BoxedUint;
use num_bigint::BigUint;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::keys::PublicKey;

/// Largest number of parties accepted (Δ = N! enters every exponent: 256! has ~1700 bits).
pub const MAX_PARTIES: u32 = 256;

/// The public key of a threshold key: the Paillier key, N, T, v and the verification keys.
#[derive(Clone, PartialEq)]
pub struct ThresholdPublicKey {
    pub(crate) pk: PublicKey,
    pub(crate) parties: u32,
    pub(crate) threshold: u32,
    pub(crate) v: BigUint,
    pub(crate) vks: Vec<BigUint>,
    pub(crate) delta: BigUint,
}

impl std::fmt::Debug for ThresholdPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThresholdPublicKey")
            .field("bits", &self.pk.modulus_bits())
            .field("parties", &self.parties)
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl ThresholdPublicKey {
    /// The Paillier public key (anyone can encrypt with it).
    pub fn public_key(&self) -> &PublicKey {
        &self.pk
    }
    /// N, the number of parties.
    pub fn parties(&self) -> u32 {
        self.parties
    }
    /// T, the number of partial decryptions needed.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }
    /// The verification key v_i of party `index` (big-endian), if in range.
    pub fn verification_key(&self, index: u32) -> Option<Vec<u8>> {
        self.vks.get(usize::try_from(index).ok()?).map(BigUint::to_bytes_be)
    }
}

/// Δ = N!.
pub(crate) fn factorial(n: u32) -> BigUint {
    (1..=n).fold(BigUint::from(1u8), |acc, k| acc * k)
}

/// One member's share s_i of the secret d, with the public parameters it belongs to.
/// Zeroized on drop; its `Debug` prints only the index.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyShare {
    pub(crate) index: u32,
    pub(crate) parties: u32,
    pub(crate) threshold: u32,
    #[zeroize(skip)]
    pub(crate) n: BigUint,
    pub(crate) secret: BoxedUint,
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare").field("index", &self.index).field("secret", &"redacted").finish()
    }
}

impl KeyShare {
    /// The 0-based member index i (the share is f(i + 1)).
    pub fn index(&self) -> u32 {
        self.index
    }
}
