//! Pooled statistics (`task = "stats"`): count, sum, mean, variance, standard deviation
//! and histograms over the union of all members' rows.
//!
//! Each member computes its local aggregates (count, Σx, Σx², bin counts) in fixed point
//! ([`local_aggregates`]), the members add them with [`crate::additive::secure_sum`], and
//! the statistics are derived from the revealed totals ([`finish`]).
//!
//! # What is revealed, to whom
//! All members learn the totals: row count, and per column Σx, Σx² and the bin counts —
//! exactly what the statistics are made of (mean, variance and std follow from them).
//! No member's rows, and no member's subtotals, leave its node in the clear; see
//! [`crate::additive`] for the coalition bound and the two-member caveat.

mod local;
mod result;
mod spec;

use consort_net::{StepId, Transport};
use rand_core::Rng;

pub use local::{LocalColumns, histogram, local_aggregates};
pub use result::{ColumnStats, Histogram, StatsResult, finish};
pub use spec::StatsSpec;

use crate::additive::secure_sum_among;

/// Why a stats job failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    #[error("stats spec: {0}")]
    Spec(String),
    #[error("the input has no data rows")]
    NoRows,
    /// `row` counts data rows from 0 (the caller maps it to a file line).
    #[error("column '{column}', data row {row}: value {value} is outside the supported range (|x| < {limit})")]
    ValueOutOfRange { column: String, row: usize, value: f64, limit: f64 },
    #[error(
        "column '{column}': the local {what} is too large to add over {members} members without overflow; rescale the column or lower frac_bits"
    )]
    SubtotalOverflow { column: String, what: &'static str, members: usize },
    #[error(transparent)]
    Net(#[from] consort_net::NetError),
}

/// Runs the pooled-statistics protocol for this member over `t`.
pub async fn run<T: Transport>(
    t: &T,
    spec: &StatsSpec,
    local: &[u64],
    rng: &mut impl Rng,
) -> Result<StatsResult, StatsError> {
    let parties = t.parties().to_vec();
    run_among(t, &parties, spec, local, rng).await
}

/// [`run`] among `parties` only (e.g. the members of a job that also has a dealer node).
pub async fn run_among<T: Transport>(
    t: &T,
    parties: &[consort_net::PartyId],
    spec: &StatsSpec,
    local: &[u64],
    rng: &mut impl Rng,
) -> Result<StatsResult, StatsError> {
    if local.len() != spec.vector_len() {
        return Err(StatsError::Spec(format!(
            "aggregate vector of {} values, expected {}",
            local.len(),
            spec.vector_len()
        )));
    }
    let totals = secure_sum_among(t, parties, &StepId::root("stats"), local, rng).await?;
    Ok(finish(spec, &totals))
}
