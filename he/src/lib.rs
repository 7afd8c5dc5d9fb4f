//! # consort-he: homomorphic encryption
//!
//! Home of RNS-CKKS ([`ckks`]) and of Paillier with packing and fixed point, and threshold
//! Paillier with a Shamir-shared key and batch proofs of correct decryption ([`paillier`];
//! its docs explain the big-integer choice). `he` never depends on the network.
//!
//! ## Why CKKS is written by hand
//! No Rust crate offers CKKS with rescaling and rotations on stable Rust: SEAL bindings
//! (sealy) are GPL and lack rescale/rotate in their safe API, poulpy is nightly-only,
//! OpenFHE bindings need a manual C++ install, and fhe.rs does BFV only. So consort
//! implements the full-RNS variant of CKKS (Cheon–Han–Kim–Kim–Song 2018) with hybrid key
//! switching over one special prime (Han–Ki 2020, dnum = L + 1, as in SEAL).
//!
//! It is built on **fhe-math** (MIT, from fhe.rs): modular arithmetic (`zq::Modulus`,
//! Barrett and Shoup multiplication), NTT-friendly prime generation and bit-packed limb
//! serialization. The negacyclic NTT is **tfhe-ntt** 0.7 (`prime64::Plan`, AVX-512 on
//! stable), called directly: fhe-math 0.1.1's `tfhe-ntt` feature wraps tfhe-ntt 0.6, which
//! measured 2.5× slower here (N = 8192: ~30 µs vs ~80 µs per NTT). consort adds the RNS
//! polynomial layout (per-limb work on rayon), the canonical-embedding encoder, keys, key
//! switching, rescaling, rotations (NTT-domain Galois permutations), serialization and the
//! linear algebra. Design and limits: `he/README.md`.

pub mod ckks;
pub mod paillier;
