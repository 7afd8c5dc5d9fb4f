//! `fedavg-additive`: the round's sum by additive secret sharing among the members
//! (the foundation's secure sum over fixed point in Z_2^64).

use consort_net::{PartyId, StepId, Transport};
use rand_core::Rng;

use super::FedError;
use super::spec::FedAvgSpec;
use crate::additive::secure_sum_among;
use crate::fixed::{self, FracBits};

/// Adds every member's `contribution`; all members learn the sum only.
pub async fn sum_round<T: Transport>(
    t: &T,
    spec: &FedAvgSpec,
    members: &[PartyId],
    round: usize,
    contribution: &[f64],
    rng: &mut impl Rng,
) -> Result<Vec<f64>, FedError> {
    let bits = u8::try_from(spec.frac_bits).unwrap_or(u8::MAX);
    let f = FracBits::new(bits).map_err(|e| FedError::Usage(e.to_string()))?;
    let mut encoded = Vec::with_capacity(contribution.len());
    for (i, v) in contribution.iter().enumerate() {
        encoded.push(
            fixed::encode(*v, f).map_err(|e| FedError::Contribution { round, reason: format!("value {i}: {e}") })?,
        );
    }
    let step = StepId::root("fedavg").index(round as u64).child("sum");
    let total = secure_sum_among(t, members, &step, &encoded, rng).await?;
    Ok(total.iter().map(|v| fixed::decode(*v, f)).collect())
}
