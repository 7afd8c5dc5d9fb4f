//! # consort-protocols: the MPC backends
//!
//! - [`share`]: additive secret sharing over Z_2^64;
//! - [`fixed`]: fixed-point encoding of reals in Z_2^64 (range and resolution documented);
//! - [`additive`]: secure summation (the building block of pooled statistics and of
//!   federated averaging with additive aggregation);
//! - [`stats`]: the pooled-statistics job;
//! - [`spdz`]: the SPDZ engine (triples, truncation, MACs, polynomials); [`learn`]:
//!   training and inference on shares;
//! - [`fedavg`]: federated averaging with local training on candle and the sum by
//!   threshold Paillier (with an aggregator) or by additive sharing.
//!
//! Protocol cores are synchronous functions over vectors; the async drivers only move
//! messages through a [`consort_net::Transport`], so every protocol runs unchanged over
//! the in-memory network (tests) and over QUIC (real members).
//!
//! # Example: three members add their private vectors
//!
//! ```
//! use consort_net::{MemoryNetwork, StepId};
//! use consort_protocols::additive::secure_sum;
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let members = MemoryNetwork::new(3).build();
//! let runs = members.into_iter().enumerate().map(|(i, t)| async move {
//!     let mut rng = ChaCha20Rng::seed_from_u64(i as u64); // OS entropy in real runs
//!     let private = [10 * i as u64, 1];
//!     secure_sum(&t, &StepId::root("sum"), &private, &mut rng).await.unwrap()
//! });
//! for total in futures_util::future::join_all(runs).await {
//!     assert_eq!(total, vec![0 + 10 + 20, 3]); // everyone learns the totals only
//! }
//! # });
//! ```

pub mod additive;
pub mod compute;
pub mod fedavg;
pub mod fixed;
pub mod learn;
pub mod share;
pub mod spdz;
pub mod split;
pub mod stats;
