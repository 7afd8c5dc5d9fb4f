//! Wire format of one message: a small typed header (postcard, a maintained compact
//! serde format) followed by the body as raw bytes. Bulk share vectors travel as raw
//! little-endian `u64`s, which are as small as the data and need no serializer.
//!
//! ```text
//! [u16 LE header length][postcard Header][body: Header::body_len bytes]
//! ```
//! The header length and the body length are both checked against limits before any
//! buffer is allocated.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::NetError;
use crate::id::{PartyId, StepId};

/// Largest accepted header, in bytes. Step paths are short; this bounds abuse.
pub const MAX_HEADER: usize = 4096;

/// What a frame carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrameKind {
    /// Protocol data for a step.
    Data,
    /// The sender stops the job; the reason is for the operators' logs. `blame` names
    /// the member whose failure made it stop, when that is not the sender itself.
    Abort { reason: String, blame: Option<u16> },
    /// The sender has finished the job and will send nothing more.
    Done,
}

/// The typed header in front of every body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Wire format version; bumped when this struct changes.
    pub version: u8,
    pub session: u64,
    pub kind: FrameKind,
    pub step: String,
    pub body_len: u64,
}

/// Current wire format version.
pub const WIRE_VERSION: u8 = 1;

impl Header {
    /// Encodes `[u16 length][header]`.
    pub fn encode(&self) -> Result<Vec<u8>, NetError> {
        let body =
            postcard::to_stdvec(self).map_err(|e| NetError::Misuse(format!("cannot encode frame header: {e}")))?;
        let len = u16::try_from(body.len())
            .ok()
            .filter(|l| usize::from(*l) <= MAX_HEADER)
            .ok_or_else(|| NetError::Misuse(format!("step name too long ({} bytes)", self.step.len())))?;
        let mut out = Vec::with_capacity(2 + body.len());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes a header body received from `from` (the length prefix already read).
    pub fn decode(from: PartyId, bytes: &[u8]) -> Result<Header, NetError> {
        let h: Header = postcard::from_bytes(bytes).map_err(|e| NetError::PeerMisbehaved {
            party: from,
            step: "frame header".into(),
            what: format!("undecodable header: {e}"),
        })?;
        if h.version != WIRE_VERSION {
            return Err(NetError::PeerMisbehaved {
                party: from,
                step: h.step,
                what: format!("wire version {} (this member speaks {WIRE_VERSION})", h.version),
            });
        }
        Ok(h)
    }
}

/// Encodes a vector of ring elements as raw little-endian bytes.
pub fn encode_u64s(values: &[u64]) -> Bytes {
    let mut out = Vec::with_capacity(values.len() * 8);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Bytes::from(out)
}

/// Decodes exactly `expected` little-endian `u64`s sent by `from` at `step`.
pub fn decode_u64s(from: PartyId, step: &StepId, bytes: &[u8], expected: usize) -> Result<Vec<u64>, NetError> {
    if bytes.len() != expected.saturating_mul(8) {
        return Err(NetError::PeerMisbehaved {
            party: from,
            step: step.to_string(),
            what: format!(
                "sent {} bytes, expected {} values ({} bytes)",
                bytes.len(),
                expected,
                expected.saturating_mul(8)
            ),
        });
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header { version: WIRE_VERSION, session: 7, kind: FrameKind::Data, step: "a/b".into(), body_len: 99 };
        let enc = h.encode().unwrap();
        let len = usize::from(u16::from_le_bytes([enc[0], enc[1]]));
        assert_eq!(len + 2, enc.len());
        assert_eq!(Header::decode(PartyId(1), &enc[2..]).unwrap(), h);
    }

    #[test]
    fn garbage_header_names_the_sender() {
        let err = Header::decode(PartyId(3), &[0xff, 0xff, 0xff]).unwrap_err();
        assert!(err.to_string().starts_with("party 3 misbehaved"), "{err}");
    }

    #[test]
    fn u64s_round_trip_and_length_is_checked() {
        let v = vec![0, 1, u64::MAX, 1 << 63];
        let b = encode_u64s(&v);
        let s = StepId::root("t");
        assert_eq!(decode_u64s(PartyId(0), &s, &b, 4).unwrap(), v);
        let err = decode_u64s(PartyId(2), &s, &b[..31], 4).unwrap_err();
        assert_eq!(err.to_string(), "party 2 misbehaved at step 't': sent 31 bytes, expected 4 values (32 bytes)");
    }
}
