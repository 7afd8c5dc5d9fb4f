//! Errors of the arithmetic engine. Each says whose fault it is when that is knowable: a
//! MAC check failure cannot name the cheater (any member could have changed a share), so
//! it names the step instead; a broken commitment or an equivocation names the member.

use consort_net::{NetError, PartyId};

/// Why a preprocessing source could not serve a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrepError {
    /// More material was asked for than was reserved and not yet used.
    #[error("preprocessing exhausted: {wanted} {kind} wanted, {available} available (reserve more first)")]
    Exhausted { kind: String, wanted: usize, available: usize },
    /// The members asked the dealer for different material: they run different programs.
    #[error("{party} asked the dealer for different preprocessing than {reference} at request {index}")]
    Mismatch { party: PartyId, reference: PartyId, index: u64 },
    /// The source cannot produce this kind of material.
    #[error("preprocessing request refused: {0}")]
    Refused(String),
}

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MpcError {
    #[error(transparent)]
    Net(#[from] NetError),
    /// The batched MAC check found a value that does not carry a valid MAC.
    #[error(
        "MAC check failed for values opened at step '{step}': a member changed a share or an opened value; nothing is revealed and the job's results are discarded"
    )]
    MacCheckFailed { step: String },
    /// A member revealed something other than what it committed to.
    #[error("{party} opened a value at step '{step}' that does not match its commitment")]
    BadCommitment { party: PartyId, step: String },
    /// Two members hold different views of the values opened so far: someone sent
    /// different messages to different members.
    #[error(
        "{party} saw different opened values than this member before step '{step}': a member sent inconsistent messages"
    )]
    Inconsistent { party: PartyId, step: String },
    #[error("{0}")]
    Prep(#[from] PrepError),
    /// The pooled statistics computed in the engine failed (a value out of range, totals
    /// that no honest members can produce).
    #[error(transparent)]
    Stats(Box<crate::stats::StatsError>),
    /// Local misuse: operands of the wrong shape, a value out of range.
    #[error("at step '{step}': {what}")]
    Usage { step: String, what: String },
}

impl MpcError {
    pub(crate) fn usage(step: &consort_net::StepId, what: impl Into<String>) -> MpcError {
        MpcError::Usage { step: step.to_string(), what: what.into() }
    }

    /// What the other members are told when this member stops on this error: the
    /// protocol events (a failed check, a named member, a step) in full, and for its own
    /// local errors only their kind, since their text may hold its values (a number
    /// that does not fit the fixed point, a weight).
    pub fn public_reason(&self) -> String {
        match self {
            MpcError::Usage { step, .. } => format!("a local check failed at step '{step}' (see its log)"),
            // Totals every member saw alike name only a column; a local value's error
            // holds the value.
            MpcError::Stats(e) if matches!(**e, crate::stats::StatsError::Inconsistent { .. }) => e.to_string(),
            MpcError::Stats(_) => "a local check of its statistics input failed (see its log)".into(),
            MpcError::Prep(PrepError::Exhausted { .. } | PrepError::Refused(_)) => {
                "its preprocessing failed (see its log)".into()
            }
            other => other.to_string(),
        }
    }

    /// The member this error blames, if one can be named.
    pub fn blamed_party(&self) -> Option<PartyId> {
        match self {
            MpcError::Net(e) => e.blamed_party(),
            MpcError::Stats(e) => match &**e {
                crate::stats::StatsError::Net(n) => n.blamed_party(),
                _ => None,
            },
            MpcError::BadCommitment { party, .. } | MpcError::Inconsistent { party, .. } => Some(*party),
            MpcError::Prep(PrepError::Mismatch { party, .. }) => Some(*party),
            _ => None,
        }
    }
}

impl From<crate::stats::StatsError> for MpcError {
    fn from(e: crate::stats::StatsError) -> Self {
        match e {
            crate::stats::StatsError::Net(n) => MpcError::Net(n),
            other => MpcError::Stats(Box::new(other)),
        }
    }
}
