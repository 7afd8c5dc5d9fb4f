//! Session ids on the wire: which id a frame on one connection must carry.
//!
//! Every connection has its own id: the configured one (derived from what all members
//! share, the CA) keyed with the connection's TLS exporter (RFC 5705), which is fresh
//! per handshake and known only to its two ends — a frame recorded in an earlier
//! session, of another job or of the same job run again, carries another id. When the
//! node binds the session to its job ([`JobBinding`]), data frames other than the job
//! agreement carry the connection's id keyed with the job's hash as well: a member that
//! runs another job can still say so at the agreement, but nothing else it sends is
//! accepted.

use quinn::Connection;
use sha2::{Digest, Sha256};

use crate::error::NetError;
use crate::frame::FrameKind;
use crate::id::SessionId;

/// The job a session is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobBinding {
    /// The hash of the job every member runs (each member uses its own).
    pub job_hash: [u8; 32],
    /// The step at which members compare jobs: its frames and its sub-steps' carry the
    /// connection's id only.
    pub agree_step: String,
}

/// The ids of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Sessions {
    conn: SessionId,
    job: Option<(SessionId, String)>,
}

impl Sessions {
    pub(crate) fn new(base: SessionId, conn: &Connection, binding: Option<&JobBinding>) -> Result<Self, NetError> {
        let mut out = [0u8; 8];
        conn.export_keying_material(&mut out, b"EXPORTER-consort-session", &base.0.to_le_bytes())
            .map_err(|_| NetError::Config("the TLS session cannot export keying material".into()))?;
        let id = SessionId(u64::from_le_bytes(out));
        Ok(Sessions::from_id(id, binding))
    }

    fn from_id(id: SessionId, binding: Option<&JobBinding>) -> Self {
        let job = binding.map(|b| {
            let mut h = Sha256::new();
            h.update(b"consort job session");
            h.update(id.0.to_le_bytes());
            h.update(b.job_hash);
            let d: [u8; 32] = h.finalize().into();
            let mut w = [0u8; 8];
            w.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
            (SessionId(u64::from_le_bytes(w)), b.agree_step.clone())
        });
        Sessions { conn: id, job }
    }

    /// The connection's own id (what [`crate::QuicTransport::session_with`] reports).
    pub(crate) fn connection(&self) -> SessionId {
        self.conn
    }

    /// The id a frame of `kind` at `step` must carry on this connection.
    pub(crate) fn expected(&self, kind: &FrameKind, step: &str) -> SessionId {
        match &self.job {
            Some((job, agree)) if matches!(kind, FrameKind::Data) && !within(step, agree) => *job,
            _ => self.conn,
        }
    }
}

/// Whether `step` is `agree` or one of its sub-steps.
fn within(step: &str, agree: &str) -> bool {
    step.strip_prefix(agree).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_frames_after_the_agreement_carry_the_job_bound_id() {
        let b = |h: u8| JobBinding { job_hash: [h; 32], agree_step: "agree".into() };
        let plain = Sessions::from_id(SessionId(5), None);
        let (one, two) = (Sessions::from_id(SessionId(5), Some(&b(1))), Sessions::from_id(SessionId(5), Some(&b(2))));
        assert_eq!(plain.expected(&FrameKind::Data, "stats/share"), SessionId(5));
        // The agreement and control frames: the connection's id, whatever the job.
        for s in [&one, &two] {
            assert_eq!(s.expected(&FrameKind::Data, "agree"), SessionId(5));
            assert_eq!(s.expected(&FrameKind::Data, "agree/mismatch"), SessionId(5));
            assert_ne!(s.expected(&FrameKind::Data, "agreement"), SessionId(5));
            assert_eq!(s.expected(&FrameKind::Done, "done"), SessionId(5));
        }
        // Everything else: bound to the job, so two jobs never accept each other's frames.
        let (a, b2) = (one.expected(&FrameKind::Data, "stats/share"), two.expected(&FrameKind::Data, "stats/share"));
        assert_ne!(a, SessionId(5));
        assert_ne!(a, b2);
    }
}
