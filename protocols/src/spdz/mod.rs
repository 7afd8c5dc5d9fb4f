//! The arithmetic MPC engine: secret-shared fixed-point vectors and matrices among `n`
//! members, with SPDZ-style preprocessing and, in malicious mode, SPDZ2k MACs.
//!
//! # Values, shares and range
//! A value is a fixed-point number `round(x·2^f)` in Z_2^64 (`f` = 16 by default, see
//! [`crate::fixed`]). Products carry `2f` fractional bits until they are truncated, and
//! truncation needs `|x·2^(2f)| < 2^62` (for `f = 16`: a product of magnitude below
//! 2^30 ≈ 10^9). Outside that range results are wrong, not insecure.
//!
//! - **semi-honest**: plain additive shares of the value mod 2^64;
//! - **malicious with abort** (SPDZ2k, Cramer et al. 2018): shares live in Z_2^128
//!   (k = 64 value bits, s = 64 security bits); a MAC key `α ∈ Z_2^64` is secret-shared
//!   and every value `x` carries shares of `α·x mod 2^128`. Every opened value is logged
//!   and checked in batch (coin-tossed random combination, commit, then open) before any
//!   output is revealed; a change to any share makes every honest member stop with
//!   [`MpcError::MacCheckFailed`] naming the step. Cheating succeeds with probability
//!   about 2^-57.
//!
//! # Rounds
//! Products are queued ([`MulQueue`]) and opened together: every elementwise and matrix
//! product queued for one step costs one round (MP-SPDZ's `Beaver.h` shape: queue,
//! exchange, finalize). A matrix product `m×k · k×n` opens `m·k + k·n` values. Truncation
//! of any number of values is one more round ([`Engine::truncate`]).
//!
//! # Who is trusted for what
//! - The **dealer** ([`prep`]) generates every triple, truncation pair and mask, and the
//!   MAC key. It is trusted for privacy and correctness (CrypTen's "TTP" model): it could
//!   learn everything by colluding with members, and it must not take part as a member.
//!   It never sees a member's input or any opened value.
//! - **Members**: in semi-honest mode any coalition of up to `n-1` members that follows
//!   the protocol learns nothing but the revealed outputs; in malicious mode the same,
//!   and a member that deviates is caught (the job aborts; it cannot change a result).
//!
//! Polynomial approximations of non-linear functions are in [`poly`].

mod beaver;
mod check;
mod engine;
mod error;
mod open;
pub mod poly;
pub mod prep;
mod shared;
mod sum;
mod trunc;
mod wire;

pub use beaver::{MulQueue, Product};
pub use engine::Engine;
pub use error::{MpcError, PrepError};
pub use shared::Shared;
pub use sum::MAX_SUM_MEMBERS;

/// Most values one member may input in one go (its rows × columns): 2^24, about 16.8
/// million values (512 MiB of shares and MACs at 32 bytes each). A row count a peer
/// announces beyond what this allows is refused, naming the peer, before anything is
/// allocated or asked of the preprocessing.
pub const MAX_INPUT_VALUES: usize = 1 << 24;

use serde::{Deserialize, Serialize};

/// The security model of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Security {
    /// Plain additive shares; members are assumed to follow the protocol.
    #[default]
    SemiHonest,
    /// SPDZ2k MACs: a member that deviates makes the job abort.
    Malicious,
}

impl Security {
    /// Bytes one share occupies on the wire.
    pub fn share_bytes(self) -> usize {
        match self {
            Security::SemiHonest => 8,
            Security::Malicious => 16,
        }
    }

    /// Reduces a share to the ring it lives in (Z_2^64 or Z_2^128).
    pub(crate) fn reduce(self, v: u128) -> u128 {
        match self {
            Security::SemiHonest => v & u128::from(u64::MAX),
            Security::Malicious => v,
        }
    }
}

impl std::fmt::Display for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Security::SemiHonest => "semi-honest",
            Security::Malicious => "malicious",
        })
    }
}

pub(crate) use crate::compute::offload;

impl From<crate::compute::Panicked> for MpcError {
    fn from(e: crate::compute::Panicked) -> Self {
        MpcError::Usage { step: "compute".into(), what: e.to_string() }
    }
}
