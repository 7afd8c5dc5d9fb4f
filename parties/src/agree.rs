//! Job agreement: before computing anything, every member sends every other member the
//! hash of its job spec, one hash per top-level field of the spec, and its software
//! version. Any difference stops every member, with a message naming the members that
//! differ and the fields in which they do.

use bytes::Bytes;
use consort_net::{StepId, Transport};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::job::VERSION;

/// The step at which members compare their jobs: its frames are the only data frames
/// not bound to the job's hash (see `consort_net::JobBinding`).
pub const AGREE_STEP: &str = "agree";

/// The agreement message.
#[derive(Serialize, Deserialize)]
struct Agree {
    job_hash: [u8; 32],
    version: String,
    /// Per top-level field of the spec (name, hash): only to say where specs differ.
    sections: Vec<(String, [u8; 32])>,
}

/// Exchanges job hashes; `Ok` only when every member runs the same job and version.
///
/// Equality is transitive, so either every member sees a match or every member sees a
/// mismatch. On a mismatch the members run one more exchange (a barrier) before anyone
/// stops, so nobody closes its connections while another member still waits for a hash:
/// every member reports the mismatch itself, naming the members that differ from it.
///
/// The job hash alone decides; `sections` (from [`crate::job::Job::section_hashes`])
/// only say which fields differ.
pub async fn agree<T: Transport>(
    t: &T,
    job_hash: [u8; 32],
    sections: Vec<(String, [u8; 32])>,
) -> Result<(), NodeError> {
    let step = StepId::root(AGREE_STEP);
    let mine = Agree { job_hash, version: VERSION.to_string(), sections };
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
                "{from} runs a different job: {} (its job spec {}…, this member's {}…)",
                differing(&theirs.sections, &mine.sections),
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

/// The fields whose hashes differ (or that only one side has), as the job file spells
/// them: `name`, `[train]`.
fn differing(theirs: &[(String, [u8; 32])], mine: &[(String, [u8; 32])]) -> String {
    let find = |list: &[(String, [u8; 32])], k: &str| list.iter().find(|(n, _)| n == k).map(|(_, h)| *h);
    let mut names: Vec<&str> = theirs.iter().chain(mine).map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let differ: Vec<String> = names
        .into_iter()
        .filter(|k| find(theirs, k) != find(mine, k))
        .map(|k| match k {
            "name" | "task" | "backend" => format!("`{k}`"),
            table => format!("[{table}]"),
        })
        .collect();
    match differ.as_slice() {
        // Same fields, different hashes: a part of the hash the fields do not cover.
        [] => "the specs differ".into(),
        [one] => format!("{one} differs"),
        many => format!("{} differ", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> [u8; 32] {
        [b; 32]
    }

    #[test]
    fn the_differing_fields_are_named_as_in_the_job_file() {
        let mine = vec![("name".to_string(), h(0)), ("stats".into(), h(1)), ("train".into(), h(2))];
        let mut theirs = mine.clone();
        assert_eq!(differing(&theirs, &mine), "the specs differ");
        theirs[2].1 = h(9);
        assert_eq!(differing(&theirs, &mine), "[train] differs");
        theirs[0].1 = h(9);
        theirs.push(("learn".into(), h(3)));
        assert_eq!(differing(&theirs, &mine), "[learn], `name`, [train] differ");
    }

    proptest::proptest! {
        /// A peer's agreement message, any bytes or a mutation of a valid one, decodes or
        /// is refused; naming what differs never panics.
        #[test]
        fn agreement_messages_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), flip in 0usize..400) {
            let mine = Agree { job_hash: h(1), version: VERSION.into(), sections: vec![("stats".into(), h(2))] };
            let mut valid = postcard::to_stdvec(&mine).unwrap_or_default();
            let at = flip % valid.len().max(1);
            if let Some(b) = valid.get_mut(at) {
                *b ^= 0x5a;
            }
            for b in [bytes, valid] {
                if let Ok(theirs) = postcard::from_bytes::<Agree>(&b) {
                    let _ = differing(&theirs.sections, &mine.sections);
                }
            }
        }
    }
}
