//! # consort-parties: the party node
//!
//! - [`config`]: the node configuration (identity, listen address, roster, timeouts);
//! - [`certs`]: the consortium CA and member certificates (`init`, `request`, `sign`);
//! - [`job`]: the job spec and its agreed hash; [`agree`]: the agreement step;
//! - [`data`]: reading a member's own CSV, with errors that name file, line and column;
//! - [`node`]: `consort run`, one member's part of a job;
//! - [`spdz_job`]: the dealer's and the members' part of a `backend = "spdz"` job;
//! - [`fedavg_job`]: federated averaging (`fedavg-paillier`, `fedavg-additive`);
//! - [`split_job`]: split learning with encrypted activations (`split-he`);
//!   [`keys`]: `consort keygen`, the threshold Paillier key ceremony and key files;
//! - [`simulate`]: `consort simulate`, N members as N local processes;
//! - [`bench`]: `consort bench net`; [`bench_mpc`]: `consort bench mpc`;
//! - [`report`]: result files and printed tables.

pub mod agree;
pub mod baseline;
pub mod bench;
pub mod bench_mpc;
pub mod bench_paillier;
pub mod bench_split;
pub mod certs;
pub mod config;
pub mod data;
pub mod error;
pub mod fedavg_job;
pub mod files;
pub mod job;
pub mod keys;
pub mod node;
pub mod progress;
pub mod report;
pub mod simulate;
pub mod spdz_job;
pub mod split_job;

pub use error::NodeError;
