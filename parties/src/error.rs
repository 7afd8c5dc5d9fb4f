//! Errors of a party node. Each names its culprit: a file (and line and column), a
//! member, or the job spec.

use std::path::{Path, PathBuf};

use consort_net::NetError;
use consort_protocols::fedavg::FedError;
use consort_protocols::spdz::MpcError;
use consort_protocols::split::SplitError;
use consort_protocols::stats::StatsError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A local file is missing, unreadable, or malformed.
    #[error("{}: {msg}", .path.display())]
    File { path: PathBuf, msg: String },
    /// A bad cell in an input CSV.
    #[error("{}, line {line}, column '{column}': {msg}", .path.display())]
    Cell { path: PathBuf, line: u64, column: String, msg: String },
    /// The job spec is unusable.
    #[error("job spec {}: {msg}", .path.display())]
    Job { path: PathBuf, msg: String },
    /// The members do not run the same job.
    #[error("job spec mismatch: {0}")]
    Mismatch(String),
    /// Certificate generation or signing failed.
    #[error("certificates: {0}")]
    Certs(String),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Stats(StatsError),
    #[error(transparent)]
    Mpc(MpcError),
    #[error(transparent)]
    Fed(FedError),
    #[error(transparent)]
    Split(SplitError),
    /// Key generation or a key file failed.
    #[error("keys: {0}")]
    Keys(String),
    /// Members of a simulation failed, or did not report.
    #[error("{0}")]
    Members(String),
    /// Two members obtained different results (a bug or a cheater: never printed as one).
    #[error("party {a} and party {b} obtained different {what}")]
    Disagree { a: u16, b: u16, what: String },
    /// The plaintext twin could not be computed.
    #[error("plaintext baseline: {0}")]
    Twin(String),
    /// A local process, port or temporary directory could not be had.
    #[error("{0}")]
    Process(String),
    /// A command-line value is out of its range.
    #[error("{0}")]
    Usage(String),
    /// A benchmark could not run.
    #[error("{0}")]
    Bench(String),
    /// Something that should not fail did (a task panicked, serialization failed).
    #[error("internal error: {0}")]
    Internal(String),
}

impl NodeError {
    /// The other member this error blames, if any.
    pub fn blamed_party(&self) -> Option<consort_net::PartyId> {
        match self {
            NodeError::Net(e) => e.blamed_party(),
            NodeError::Mpc(e) => e.blamed_party(),
            NodeError::Fed(FedError::Net(e)) => e.blamed_party(),
            NodeError::Fed(FedError::Bad { party, .. } | FedError::KeyMismatch { party, .. }) => Some(*party),
            NodeError::Split(SplitError::Net(e)) => e.blamed_party(),
            NodeError::Split(SplitError::Bad { party, .. }) => Some(*party),
            _ => None,
        }
    }

    pub fn file(path: &Path, msg: String) -> NodeError {
        NodeError::File { path: path.to_path_buf(), msg }
    }
}

impl From<StatsError> for NodeError {
    fn from(e: StatsError) -> NodeError {
        match e {
            StatsError::Net(n) => NodeError::Net(n),
            other => NodeError::Stats(other),
        }
    }
}

impl From<MpcError> for NodeError {
    fn from(e: MpcError) -> NodeError {
        match e {
            MpcError::Net(n) => NodeError::Net(n),
            other => NodeError::Mpc(other),
        }
    }
}

impl From<SplitError> for NodeError {
    fn from(e: SplitError) -> NodeError {
        match e {
            SplitError::Net(n) => NodeError::Net(n),
            other => NodeError::Split(other),
        }
    }
}

impl From<FedError> for NodeError {
    fn from(e: FedError) -> NodeError {
        match e {
            FedError::Net(n) => NodeError::Net(n),
            other => NodeError::Fed(other),
        }
    }
}
