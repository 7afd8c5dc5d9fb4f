//! Transport errors. Each variant says whose fault it is: a named peer, the local
//! configuration, or the network.

use std::time::Duration;

use crate::id::PartyId;

/// What went wrong while talking to the other members.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A peer did not send the expected message in time.
    #[error("timed out after {:.1}s waiting for {party} at step '{step}'", .after.as_secs_f64())]
    Timeout { party: PartyId, step: String, after: Duration },
    /// The connection to a peer was lost (it crashed, was killed, or closed).
    #[error("lost the connection to {party}: {reason}")]
    PeerLost { party: PartyId, reason: String },
    /// A peer told us it stopped the job.
    #[error("{party} aborted the job: {reason}")]
    PeerAborted { party: PartyId, reason: String },
    /// A peer stopped because of another member's failure, and says whose.
    #[error("{party} failed, as reported by {by}: {reason}")]
    Reported { party: PartyId, by: PartyId, reason: String },
    /// A peer sent something that does not follow the protocol.
    #[error("{party} misbehaved at step '{step}': {what}")]
    PeerMisbehaved { party: PartyId, step: String, what: String },
    /// A frame announced more bytes than this member accepts.
    #[error("{party} announced a {len}-byte frame; the limit is {max} bytes")]
    FrameTooLarge { party: PartyId, len: u64, max: u64 },
    /// A peer refused our connection, or we refused its connection.
    #[error("connection with {party} refused: {reason}")]
    Refused { party: PartyId, reason: String },
    /// A peer did not join within the start-up window.
    #[error("{party} did not connect within {:.1}s{detail}", .after.as_secs_f64())]
    ConnectTimeout { party: PartyId, after: Duration, detail: String },
    /// The local configuration is unusable (bad certificate, unknown party, bad address).
    #[error("transport configuration: {0}")]
    Config(String),
    /// Local misuse of the API (sending to oneself, to a non-member).
    #[error("transport misuse: {0}")]
    Misuse(String),
    /// A local socket error.
    #[error("network I/O: {0}")]
    Io(String),
}

impl NetError {
    /// The error a member records when `by` stops the job: its own abort, or a report
    /// that another member (`blame`) failed.
    pub fn from_abort(by: PartyId, reason: String, blame: Option<PartyId>, me: PartyId) -> NetError {
        match blame {
            Some(party) if party != by && party != me => NetError::Reported { party, by, reason },
            _ => NetError::PeerAborted { party: by, reason },
        }
    }

    /// The peer this error blames, if any.
    pub fn blamed_party(&self) -> Option<PartyId> {
        match self {
            NetError::Timeout { party, .. }
            | NetError::PeerLost { party, .. }
            | NetError::PeerAborted { party, .. }
            | NetError::Reported { party, .. }
            | NetError::PeerMisbehaved { party, .. }
            | NetError::FrameTooLarge { party, .. }
            | NetError::Refused { party, .. }
            | NetError::ConnectTimeout { party, .. } => Some(*party),
            NetError::Config(_) | NetError::Misuse(_) | NetError::Io(_) => None,
        }
    }
}
