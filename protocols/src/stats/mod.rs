//! Pooled statistics (`task = "stats"`): count, sum, mean, variance, standard deviation
//! and histograms over the union of all members' rows.
//!
//! Two secure sums over Z_2^128 ([`crate::additive::secure_sum`] with `u128` words):
//! 1. the row count, Σ round(x·2^f) per column and the bin counts
//!    ([`local_aggregates`]); their pooled means m are the public centres of
//! 2. Σ(x − m)² and Σ(x − m) per column, in fixed point with [`centred_bits`] fraction
//!    bits ([`centred_aggregates`]), from which [`finish`] derives the mean and the
//!    variance without the catastrophic cancellation of Σx² − n·mean².
//!
//! # Range and accuracy (what the README promises)
//! Every value must satisfy |x| < 2^40 ([`VALUE_LIMIT`], whatever `frac_bits`), and a
//! job may have up to 2^32 rows in all ([`MAX_ROWS`]); a value outside is refused before
//! any member connects, naming file, line and column. Nothing can overflow inside that
//! range: round 1's totals stay below 2^113 and round 2's below 2^124. The mean and the
//! variance then agree with the exact two-pass computation on the same numbers to
//! within `variance_error` (reported per column): (members + 1)·2^-F/(n − 1) plus a
//! few ulps of the variance, where F = 42 − ⌈log2 n⌉ (F ≥ 10; 32 bits for 1,024 rows),
//! i.e. ≈ 10^-12 absolute for small jobs — so a spread of 10^-3 on a mean of 10^6 is
//! exact to 9 significant digits and a constant column has variance 0. `frac_bits` now
//! only sets how closely round 1's centre approximates the mean.
//!
//! # What is revealed, to whom
//! All members learn the totals: row count, per column Σx (to 2^-f), Σ(x − m)² and
//! Σ(x − m) about the public centre m, and the bin counts — equivalent to the pooled
//! count, Σx and Σx², exactly what the statistics are made of. No member's rows, and no
//! member's subtotals, leave its node in the clear; see [`crate::additive`] for the
//! coalition bound and the two-member caveat.

mod local;
mod result;
mod spec;

use consort_net::{StepId, Transport};
use rand_core::Rng;

pub use local::{LocalColumns, centred_aggregates, check, histogram, local_aggregates};
pub use result::{ColumnStats, Histogram, StatsResult, centred_bits, centres, finish};
pub use spec::StatsSpec;

use crate::additive::secure_sum_among;

/// Largest magnitude of a value (2^40 ≈ 1.1·10^12).
pub const VALUE_LIMIT: f64 = 1_099_511_627_776.0;
/// Most rows a job may have in all members together.
pub const MAX_ROWS: u64 = 1 << 32;

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
    #[error("{rows} rows: a stats job takes at most {max} rows in all")]
    TooManyRows { rows: u64, max: u64 },
    /// The opened totals cannot come from honest members (a negative sum of squares).
    #[error("column '{column}': the pooled totals are inconsistent (negative sum of squares); refusing to report it")]
    Inconsistent { column: String },
    #[error(transparent)]
    Net(#[from] consort_net::NetError),
}

/// Runs the pooled-statistics protocol for this member over `t`, on its own rows.
pub async fn run<T: Transport>(
    t: &T,
    spec: &StatsSpec,
    data: &LocalColumns,
    rng: &mut impl Rng,
) -> Result<StatsResult, StatsError> {
    let parties = t.parties().to_vec();
    run_among(t, &parties, spec, data, rng).await
}

/// [`run`] among `parties` only (e.g. the members of a job that also has a dealer node).
pub async fn run_among<T: Transport>(
    t: &T,
    parties: &[consort_net::PartyId],
    spec: &StatsSpec,
    data: &LocalColumns,
    rng: &mut impl Rng,
) -> Result<StatsResult, StatsError> {
    let local = local_aggregates(spec, data)?;
    let round1 = secure_sum_among(t, parties, &StepId::root(ROUND1), &local, rng).await?;
    let centred = second_round(spec, data, &round1)?;
    let round2 = secure_sum_among(t, parties, &round2_step(), &centred, rng).await?;
    finish(spec, parties.len(), &round1, &round2)
}

/// Step of the first round's sum.
pub const ROUND1: &str = "stats";

/// Step of the second round's sum.
pub fn round2_step() -> StepId {
    StepId::root(ROUND1).child("centred")
}

/// The second round's input from the first round's totals (`round1`): this member's
/// centred sums about the pooled centres. Any secure sum of `u128` vectors can carry
/// both rounds: the additive one of [`run_among`] (semi-honest, echo-checked), or the
/// SPDZ engine's MACed [`crate::spdz::Engine::checked_sum`], which makes the
/// statistics a training job standardizes with as malicious-secure as the training.
pub fn second_round(spec: &StatsSpec, data: &LocalColumns, round1: &[u128]) -> Result<Vec<u128>, StatsError> {
    let (rows, centres) = centres(spec, round1);
    if rows > MAX_ROWS {
        return Err(StatsError::TooManyRows { rows, max: MAX_ROWS });
    }
    Ok(centred_aggregates(data, &centres, centred_bits(rows)))
}
