//! The messages of split learning: one enum, postcard on the wire.

use consort_net::{NetError, PartyId, StepId};
use serde::{Deserialize, Serialize};

use super::model::LayerShare;
use super::spec::Scheme;

/// Everything clients and the server send each other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SplitMsg {
    /// Client → server, once: the public material of the client's fresh key (CKKS: the
    /// Galois keys of the layer's rotations; Paillier: the public key; plain: nothing).
    Keys { scheme: Scheme, parts: Vec<Vec<u8>> },
    /// Client → server: the activations at the cut of `rows` rows, encrypted.
    Forward { rows: u32, cts: Vec<Vec<u8>> },
    /// Server → client: its share's outputs for those rows, still encrypted.
    Logits { cts: Vec<Vec<u8>> },
    /// Client → server: ∂L/∂z of the same rows, encrypted.
    Backward { rows: u32, cts: Vec<Vec<u8>> },
    /// Server → client: its share's part of ∂L/∂a, still encrypted.
    InputGrad { cts: Vec<Vec<u8>> },
    /// Client → server: this client's turn (or its queries) is over.
    TurnEnd,
    /// Client → client (never through the server): the clients' share of the server
    /// layer, passed on with the turn.
    Handover { turn: u32, share: LayerShare },
}

impl SplitMsg {
    pub fn encode(&self) -> Result<bytes::Bytes, crate::compute::EncodeError> {
        crate::compute::encode("split-learning", self)
    }

    /// Decodes a message from `from`, naming it if the bytes are not a message.
    pub fn decode(from: PartyId, step: &StepId, bytes: &[u8]) -> Result<SplitMsg, NetError> {
        crate::compute::decode("split-learning", from, step, bytes)
    }

    /// Short name, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            SplitMsg::Keys { .. } => "keys",
            SplitMsg::Forward { .. } => "forward",
            SplitMsg::Logits { .. } => "logits",
            SplitMsg::Backward { .. } => "backward",
            SplitMsg::InputGrad { .. } => "input gradient",
            SplitMsg::TurnEnd => "turn end",
            SplitMsg::Handover { .. } => "handover",
        }
    }
}
