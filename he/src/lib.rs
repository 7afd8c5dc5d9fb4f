//! # consort-he: homomorphic encryption
//!
//! Home of RNS-CKKS ([`ckks`]) and, in a later issue, Paillier (packing, fixed point) and
//! threshold Paillier with a Shamir-shared key. `he` never depends on the network.
//!
//! ## Why CKKS is written by hand
//! No Rust crate offers CKKS with rescaling and rotations on stable Rust: SEAL bindings
//! (sealy) are GPL and lack rescale/rotate in their safe API, poulpy is nightly-only,
//! OpenFHE bindings need a manual C++ install, and fhe.rs does BFV only. So consort
//! implements the full-RNS variant of CKKS (Cheon–Han–Kim–Kim–Song 2018) with hybrid key
//! switching over one special prime (Han–Ki 2020, dnum = L + 1, as in SEAL).
//!
//! It is built on **fhe-math** (MIT, from fhe.rs) with its `tfhe-ntt` feature: modular
//! arithmetic (`zq::Modulus`, Barrett/Shoup), the negacyclic NTT per prime
//! (`ntt::NttOperator`, backed by tfhe-ntt) and NTT-friendly prime generation. consort adds
//! the RNS polynomial layout (per-limb work on rayon), the canonical-embedding encoder,
//! keys, key switching, rescaling, rotations, serialization and the linear algebra.

pub mod ckks;
