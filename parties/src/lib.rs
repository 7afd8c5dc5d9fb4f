//! # consort-parties: the party node
//!
//! - [`config`]: the node configuration (identity, listen address, roster, timeouts);
//! - [`certs`]: the consortium CA and member certificates (`init`, `request`, `sign`);
//! - [`job`]: the job spec and its agreed hash; [`agree`]: the agreement step;
//! - [`data`]: reading a member's own CSV, with errors that name file, line and column;
//! - [`backend`]: the [`backend::Backend`] trait and its registry — additive
//!   statistics, spdz, fedavg-paillier / fedavg-additive, split-he — each with its
//!   roles, its node part, its plaintext twin and its security claim;
//! - [`node`]: `consort run`, one member's part of a job (connect, agree, run, finish);
//! - [`keys`]: `consort keygen`, the threshold Paillier key ceremony and key files;
//! - [`simulate`]: `consort simulate`, N members as N local processes;
//! - [`compare`]: `consort compare`, one job under several backends, side by side;
//! - [`bench`]: `consort bench net`; [`bench_mpc`]: `consort bench mpc`;
//! - [`report`]: result files and printed tables.

/// Whether this build carries the test tools (fault injection, the committed TEST-ONLY
/// primes): the tests' builds do, a release build does not.
pub const TEST_TOOLS: bool = cfg!(feature = "test-tools");

pub mod agree;
pub mod backend;
pub mod bench;
pub mod bench_mpc;
pub mod bench_paillier;
pub mod bench_split;
pub mod certs;
pub mod chart;
pub mod compare;
pub mod config;
pub mod data;
pub mod error;
pub mod files;
pub mod job;
pub mod keys;
pub mod node;
pub mod progress;
pub mod report;
pub mod simulate;

pub use error::NodeError;
