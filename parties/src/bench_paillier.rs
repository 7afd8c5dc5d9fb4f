//! `consort bench paillier` (temporary placeholder until the bench module lands).

use crate::error::NodeError;

pub fn run(_bits: &[u32], _params: usize, _prime_search: bool) -> Result<String, NodeError> {
    Err(NodeError::Simulation("not yet".into()))
}
