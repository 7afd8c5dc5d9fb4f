//! Paillier encryption (g = n + 1) and threshold Paillier, in pure Rust.
//!
//! * [`generate_keypair`], [`PublicKey::encrypt`] / [`encrypt_with`](PublicKey::encrypt_with)
//!   (precomputed randomness, see [`RandomizerPool`]), [`SecretKey::decrypt`] (CRT),
//!   homomorphic [`add`](PublicKey::add), [`mul_plain`](PublicKey::mul_plain) and
//!   [`sum`](PublicKey::sum); [`PublicKey::ciphertext_from_bytes`] validates c ∈ Z*_{n²}.
//! * [`Packer`]: fixed-point values (negative ones included) packed many to a plaintext, with
//!   slots wide enough that the sum over `max_summands` members never overflows.
//! * [`threshold`]: T-of-N threshold decryption with a trusted dealer and batch proofs of
//!   correct partial decryption; its docs give the formulas and the soundness argument.
//! * [`bench`]: throughput figures and a simulated federated round.
//!
//! # Big integers
//! Pure Rust only: GMP (rug) would need `m4` on the build machine and is LGPL. Measured
//! (`/work/shared/DEPENDENCIES.md` §4), crypto-bigint 0.7 and num-bigint are both ≈ 2.0× GMP
//! for 2048/4096-bit modular exponentiation, so the choice is by role:
//! * **Secret exponents** — CRT decryption (c^{p−1} mod p²), partial decryption
//!   c^{2Δ s_i}, the verification keys v^{Δ s_i}, the prover's commitments (c^4)^r and v^r
//!   and z = r + e·Δ s_i — use **crypto-bigint** (`BoxedUint`, `BoxedMontyForm::pow`), which is
//!   constant time. Secrets are held as `BoxedUint` and zeroized.
//! * **Public exponents** — encryption's r^n, scalar multiplication, the verifier's
//!   exponentiations, multi-exponentiation, Lagrange combination, validation (gcd) — use
//!   **num-bigint** 0.4: just as fast, with a simpler API (signed integers, gcd, inverses) and
//!   no fixed-precision bookkeeping. Encryption's base r is secret but its exponent n is
//!   public; num-bigint's fixed-window Montgomery ladder does not branch on the base.
//!
//! An optional `gmp` feature (≈ 2× faster) is left for later.
//!
//! # Example
//! ```
//! use consort_he::paillier::{Plaintext, generate_keypair_insecure_for_tests};
//! # fn main() -> Result<(), consort_he::paillier::PaillierError> {
//! let mut rng = rand_chacha10::ChaCha20Rng::from_seed([7; 32]);
//! # use rand_core::SeedableRng;
//! let (pk, sk) = generate_keypair_insecure_for_tests(512, &mut rng)?;
//! let a = pk.encrypt(&Plaintext::from_i64(&pk, -5), &mut rng)?;
//! let b = pk.encrypt(&Plaintext::from_u64(12), &mut rng)?;
//! assert_eq!(sk.decrypt(&pk.add(&a, &b)).to_i128_centered(&pk), Some(7));
//! # Ok(())
//! # }
//! ```

pub mod bench;
mod bigint;
mod cipher;
mod error;
mod keys;
mod linear;
mod packing;
pub mod threshold;

pub use cipher::{Ciphertext, Randomizer, RandomizerPool};
pub use error::{PaillierError, Result};
pub use keys::{
    MIN_INSECURE_MODULUS_BITS, MIN_MODULUS_BITS, Plaintext, PublicKey, SecretKey, generate_keypair,
    generate_keypair_insecure_for_tests,
};
pub use linear::SignedPacking;
pub use packing::{Packer, PackingSpec};
