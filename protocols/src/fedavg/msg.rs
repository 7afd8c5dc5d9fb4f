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
    /// The aggregator's product of the contributions, and whose they are.
    Sum { round: u32, contributors: Vec<u16>, ciphertexts: Vec<u8> },
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
            FedMsg::Sum { .. } => "sum",
            FedMsg::Partial { .. } => "partial decryption",
        }
    }
}
