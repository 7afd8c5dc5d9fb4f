//! # consort-protocols: the MPC backends
//!
//! - [`share`]: additive secret sharing over Z_2^64;
//! - [`fixed`]: fixed-point encoding of reals in Z_2^64 (range and resolution documented);
//! - [`additive`]: secure summation (the building block of pooled statistics and of
//!   federated averaging with additive aggregation);
//! - [`stats`]: the pooled-statistics job.
//!
//! Protocol cores are synchronous functions over vectors; the async drivers only move
//! messages through a [`consort_net::Transport`], so every protocol runs unchanged over
//! the in-memory network (tests) and over QUIC (real members).

pub mod additive;
pub mod fixed;
pub mod share;
pub mod stats;
