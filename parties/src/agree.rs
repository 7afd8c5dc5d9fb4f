//! Job agreement: before computing anything, every member sends every other member the
//! hash of its job spec and its software version. Any difference stops every member,
//! with a message naming the members that differ.

use bytes::Bytes;
use consort_net::{StepId, Transport};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::job::VERSION;

/// The agreement message.
#[derive(Serialize, Deserialize)]
struct Agree {
    job_hash: [u8; 32],
    version: String,
}

/// Exchanges job hashes; `Ok` only when every member runs the same job and version.
///
/// Equality is transitive, so either every member sees a match or every member sees a
/// mismatch. On a mismatch the members run one more exchange (a barrier) before anyone
/// stops, so nobody closes its connections while another member still waits for a hash:
/// every member reports the mismatch itself, naming the members that differ from it.
pub async fn agree<T: Transport>(t: &T, job_hash: [u8; 32]) -> Result<(), NodeError> {
    let step = StepId::root("agree");
    let mine = Agree { job_hash, version: VERSION.to_string() };
    let bytes = postcard::to_stdvec(&mine).map_err(|e| NodeError::Mismatch(format!("cannot encode: {e}")))?;
    t.broadcast(&step, Bytes::from(bytes)).await?;
    let mut differ = Vec::new();
    for (from, bytes) in t.gather(&step).await? {
        let theirs: Agree = postcard::from_bytes(&bytes).map_err(|e| consort_net::NetError::PeerMisbehaved {
            party: from,
            step: step.to_string(),
            what: format!("undecodable agreement message: {e}"),
        })?;
        if theirs.version != mine.version {
            differ.push(format!("{from} runs consort {} (this member runs {})", theirs.version, mine.version));
        } else if theirs.job_hash != mine.job_hash {
            differ.push(format!(
                "{from} has job spec {} (this member has {})",
                hex::encode(theirs.job_hash.get(..6).unwrap_or_default()),
                hex::encode(mine.job_hash.get(..6).unwrap_or_default())
            ));
        }
    }
    if differ.is_empty() {
        return Ok(());
    }
    // Barrier: errors here only mean a peer already stopped after the barrier.
    let barrier = step.child("mismatch");
    if t.broadcast(&barrier, Bytes::new()).await.is_ok() {
        let _ = t.gather(&barrier).await;
    }
    Err(NodeError::Mismatch(format!(
        "{}; every member must load the same job file (only [inputs] may differ)",
        differ.join("; ")
    )))
}
