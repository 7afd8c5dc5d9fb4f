//! The messages of federated averaging: one enum, postcard on the wire.

use consort_net::{NetError, PartyId, StepId};
use serde::{Deserialize, Serialize};

/// Everything members and the aggregator send each other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FedMsg {
    /// SHA-256 of the threshold public key a node loaded: all must hold the same key.
    Key { fingerprint: [u8; 32] },
    /// A member's packed, encrypted contribution (`ciphertexts` concatenated, each of the
    /// key's fixed ciphertext length).
    Contribution { round: u32, ciphertexts: Vec<u8> },
    /// A member's SHA-256 digest of its contribution, to every other member.
    Digest { round: u32, digest: [u8; 32] },
    /// The digests a member received (its own included), echoed to every other member.
    Echo { round: u32, digests: Vec<(u16, [u8; 32])> },
    /// The aggregator relays every contribution of the round to each contributor, who
    /// checks them against the digests and multiplies them itself.
    Relay { round: u32, parts: Vec<(u16, Vec<u8>)> },
    /// A member's partial decryption of the sum, with its proof.
    Partial { round: u32, bytes: Vec<u8> },
}

impl FedMsg {
    pub fn encode(&self) -> Result<bytes::Bytes, crate::compute::EncodeError> {
        crate::compute::encode("federated-averaging", self)
    }

    /// Decodes a message from `from`, naming it if the bytes are not a message.
    pub fn decode(from: PartyId, step: &StepId, bytes: &[u8]) -> Result<FedMsg, NetError> {
        crate::compute::decode("federated-averaging", from, step, bytes)
    }

    /// Short name, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            FedMsg::Key { .. } => "key",
            FedMsg::Contribution { .. } => "contribution",
            FedMsg::Digest { .. } => "contribution digest",
            FedMsg::Echo { .. } => "digest echo",
            FedMsg::Relay { .. } => "relay",
            FedMsg::Partial { .. } => "partial decryption",
        }
    }
}
