//! Federated averaging (McMahan et al. 2017; seed 001, Algorithm 5) with a secure sum.
//!
//! Every round, each member trains the global model for E local epochs on its own rows
//! (plaintext, with [candle](https://github.com/huggingface/candle)), and contributes
//! `[n_k·w_k, n_k]` (its weights scaled by its training-row count, and the count). The
//! members learn only the sum of the contributions, from which each computes the new
//! global model `Σ n_k w_k / Σ n_k`. Two backends compute the sum:
//!
//! - **`fedavg-paillier`** ([`paillier`]): each member packs its contribution
//!   ([`consort_he::paillier::Packer`]), encrypts it under the consortium's threshold
//!   Paillier key and sends it to the **aggregator** (a member or a separate node), which
//!   relays every contribution to every contributor ([`bind`]). Each member checks them
//!   against the digests the members echo-broadcast among themselves, multiplies them
//!   and only then exchanges partial decryptions with proofs of correct decryption; each
//!   verifies every partial and combines any `threshold` valid ones.
//! - **`fedavg-additive`** ([`additive`]): the members run the additive secure sum of the
//!   foundation ([`crate::additive`]) over the fixed-point contributions; no aggregator.
//!
//! # What each role learns
//! - **Aggregator:** the member count of each round and ciphertexts; never a weight, a
//!   row count or a sum in the clear (it holds no key share unless it is also a member).
//! - **Members:** every round's global model (the output) and the round's total row count;
//!   nothing about one other member's weights beyond what the sum implies (with two
//!   contributors, the sum minus your own is the other's: use at least three).
//! - **Fewer than `threshold` members** holding key shares learn nothing from ciphertexts.
//!
//! # Dropouts (`fedavg-paillier`)
//! A member that disappears (lost connection, or silent past the receive timeout) is
//! dropped from the round and later rounds with a logged warning; the aggregator sums the
//! others, and decryption needs only `threshold` of the contributors. A member whose
//! partial decryption fails its proof is named and excluded from later decryptions. The
//! job stops with an error naming the round once fewer than `threshold` members remain.
//! `fedavg-additive` does not tolerate dropouts: additive shares need every contributor.
//!
//! # Trust
//! Privacy holds against fewer than `threshold` colluding key holders, with or without
//! the aggregator, and against an actively malicious aggregator: what is decrypted is
//! the product of the contributions whose digests the members hold ([`bind`]), so an
//! aggregator that substitutes, drops or adds one is named and nothing is decrypted.
//! Partial decryptions are verified, so a cheating key holder is caught and named. A
//! member can still contribute a poisoned model (inherent to federated averaging).
//! `fedavg-additive` has no aggregator; a cheating member can bias the sum (no MACs)
//! but cannot unmask another member's contribution (any n−2 colluders learn nothing).

pub mod additive;
pub mod bind;
pub mod local;
pub mod model;
pub mod msg;
pub mod paillier;
pub mod plain;
pub mod secure;
pub mod spec;

use consort_net::{NetError, PartyId};

pub use secure::{Backend, MemberOutcome, RoundLog, run_member};
pub use spec::{FedAvgSpec, FedModel};

/// Why federated averaging stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FedError {
    #[error(transparent)]
    Net(#[from] NetError),
    /// Local training or evaluation failed (this member's own fault).
    #[error("local training: {0}")]
    Tensor(String),
    /// This member's own contribution cannot be encoded (a weight beyond max_abs, …).
    #[error("this member's contribution at round {round}: {reason}")]
    Contribution { round: usize, reason: String },
    /// Too many members dropped out.
    #[error(
        "only {left} members remain at round {round}; the job needs at least {need} (its threshold and min_contributors)"
    )]
    TooFewMembers { round: usize, left: usize, need: usize },
    /// A peer sent something wrong (malformed, wrong length, failed proof).
    #[error("{party} sent a bad {what} at round {round}: {reason}")]
    Bad { party: PartyId, round: usize, what: &'static str, reason: String },
    /// Two nodes loaded different public keys.
    #[error(
        "{party} holds a different public key (fingerprint {theirs}, this node's is {ours}); every node must use the key set of the same `consort keygen`"
    )]
    KeyMismatch { party: PartyId, theirs: String, ours: String },
    /// A local Paillier operation failed.
    #[error("paillier: {0}")]
    Paillier(#[from] consort_he::paillier::PaillierError),
    /// Misuse by the caller (inconsistent roster, missing key).
    #[error("{0}")]
    Usage(String),
}

impl FedError {
    /// What the other nodes are told when this one stops on this error: protocol events
    /// (a bad message from a named party, too few members, a key mismatch, the network)
    /// in full; this member's own failures only by kind, since their text may hold its
    /// weights.
    pub fn public_reason(&self) -> String {
        match self {
            FedError::Contribution { round, .. } => {
                format!("its contribution at round {} could not be encoded (see its log)", round + 1)
            }
            FedError::Tensor(_) => "its local training failed (see its log)".into(),
            FedError::Paillier(_) => "a Paillier operation failed (see its log)".into(),
            FedError::Usage(_) => "protocol error (see its log)".into(),
            other => other.to_string(),
        }
    }
}

impl From<candle_core::Error> for FedError {
    fn from(e: candle_core::Error) -> Self {
        FedError::Tensor(e.to_string())
    }
}

pub(crate) use crate::compute::offload;

impl From<crate::compute::Panicked> for FedError {
    fn from(e: crate::compute::Panicked) -> Self {
        FedError::Usage(e.to_string())
    }
}

impl From<crate::compute::EncodeError> for FedError {
    fn from(e: crate::compute::EncodeError) -> Self {
        FedError::Usage(e.to_string())
    }
}
