//! Share vectors on the wire: raw little-endian words, 8 bytes each in semi-honest mode
//! (Z_2^64) and 16 in malicious mode (Z_2^128). The length is never taken from the
//! message: the receiver knows how many values the step carries and refuses anything else.

use bytes::Bytes;
use consort_net::{NetError, PartyId, StepId};

use super::Security;

pub(crate) fn encode(security: Security, values: &[u128]) -> Bytes {
    let w = security.share_bytes();
    let mut out = Vec::with_capacity(values.len() * w);
    for v in values {
        match security {
            Security::SemiHonest => out.extend_from_slice(&(*v as u64).to_le_bytes()),
            Security::Malicious => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    Bytes::from(out)
}

pub(crate) fn decode(
    security: Security,
    from: PartyId,
    step: &StepId,
    bytes: &[u8],
    expected: usize,
) -> Result<Vec<u128>, NetError> {
    let w = security.share_bytes();
    if bytes.len() != expected.saturating_mul(w) {
        return Err(NetError::PeerMisbehaved {
            party: from,
            step: step.to_string(),
            what: format!("sent {} bytes, expected {} shares of {} bytes", bytes.len(), expected, w),
        });
    }
    Ok(bytes
        .chunks_exact(w)
        .map(|c| {
            let mut b = [0u8; 16];
            if let Some(dst) = b.get_mut(..w) {
                dst.copy_from_slice(c);
            }
            u128::from_le_bytes(b)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_exact_length() {
        let v = vec![0u128, 1, u128::MAX, 1 << 100];
        let s = StepId::root("t");
        let b = encode(Security::Malicious, &v);
        assert_eq!(b.len(), 64);
        assert_eq!(decode(Security::Malicious, PartyId(0), &s, &b, 4).unwrap(), v);
        let b = encode(Security::SemiHonest, &v);
        assert_eq!(decode(Security::SemiHonest, PartyId(0), &s, &b, 4).unwrap(), vec![0, 1, u64::MAX as u128, 0]);
        let e = decode(Security::SemiHonest, PartyId(2), &s, &b[..31], 4).unwrap_err();
        assert_eq!(e.to_string(), "party 2 misbehaved at step 't': sent 31 bytes, expected 4 shares of 8 bytes");
    }
}
