//! Turning the revealed totals into statistics.

use serde::{Deserialize, Serialize};

use super::StatsSpec;

/// Statistics of one column over the union of all members' rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub name: String,
    pub count: u64,
    pub sum: f64,
    pub mean: f64,
    /// Sample variance (divides by `count - 1`); 0 when `count < 2`.
    pub variance: f64,
    /// Population variance (divides by `count`).
    pub variance_population: f64,
    /// Sample standard deviation.
    pub std: f64,
    /// Bound on |variance − exact sample variance of the same numbers| (rounding of the
    /// secure sums; see the module docs).
    #[serde(default)]
    pub variance_error: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub histogram: Option<Histogram>,
}

/// Counts per bin `[edges[i], edges[i+1])` (last bin closed), plus values outside.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
    pub below: u64,
    pub above: u64,
}

/// The outcome of a pooled-statistics job: all members receive the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsResult {
    pub rows: u64,
    pub columns: Vec<ColumnStats>,
}

/// The fraction bits of round 2's fixed point for `n` rows in all: Σ(x − m)² ≤
/// n·(2·2^40)² must stay below 2^124 once scaled, whoever holds the rows.
pub fn centred_bits(n: u64) -> u32 {
    let log_n = 64 - n.max(1).saturating_sub(1).leading_zeros();
    124u32.saturating_sub(82 + log_n)
}

/// Round 1's totals: the row count and each column's pooled mean (the public centre of
/// round 2; only a good approximation, round 2 corrects it).
pub fn centres(spec: &StatsSpec, totals: &[u128]) -> (u64, Vec<f64>) {
    let rows = totals.first().copied().unwrap_or(0) as u64;
    let scale = 2f64.powi(i32::from(spec.frac_bits.get()));
    let means = (0..spec.columns.len())
        .map(|c| (totals.get(1 + c).copied().unwrap_or(0) as i128) as f64 / scale / rows.max(1) as f64)
        .collect();
    (rows, means)
}

/// Interprets both rounds' revealed totals. The mean is the centre corrected by
/// Σ(x − m)/n; the sum of squares about the mean is Σ(x − m)² − (Σ(x − m))²/n, which
/// involves no cancellation of large numbers. A negative sum of squares beyond the
/// rounding bound cannot come from honest members: it is refused, naming the column.
pub fn finish(
    spec: &StatsSpec,
    members: usize,
    round1: &[u128],
    round2: &[u128],
) -> Result<StatsResult, super::StatsError> {
    let (rows, centres) = centres(spec, round1);
    let n = rows as f64;
    let bits = centred_bits(rows);
    let scale = 2f64.powi(bits as i32);
    let at = |v: &[u128], i: usize| (v.get(i).copied().unwrap_or(0) as i128) as f64 / scale;
    let mut hist_pos = 1 + spec.columns.len();
    let mut columns = Vec::with_capacity(spec.columns.len());
    for (c, name) in spec.columns.iter().enumerate() {
        let (s2, d) = (at(round2, 2 * c), at(round2, 2 * c + 1));
        let centre = centres.get(c).copied().unwrap_or(0.0);
        let mean = if rows > 0 { centre + d / n } else { 0.0 };
        // Each member's two totals are rounded to 2^-bits once; the compensated sums
        // add a few ulps of the sum of squares.
        let slack = (members as f64 + 1.0) / scale + 8.0 * f64::EPSILON * s2.abs();
        let mut ss = s2 - d * d / n.max(1.0);
        if ss < -slack {
            return Err(super::StatsError::Inconsistent { column: name.clone() });
        }
        if ss <= slack {
            // Below the resolution: a constant column, to within the documented bound.
            ss = 0.0;
        }
        let variance_population = if rows > 0 { ss / n } else { 0.0 };
        let variance = if rows > 1 { ss / (n - 1.0) } else { 0.0 };
        let histogram = spec.edges(name).map(|edges| {
            let k = edges.len() - 1;
            let slots: Vec<u64> = (0..k + 2).map(|i| round1.get(hist_pos + i).copied().unwrap_or(0) as u64).collect();
            hist_pos += k + 2;
            Histogram {
                edges: edges.to_vec(),
                below: slots.first().copied().unwrap_or(0),
                above: slots.last().copied().unwrap_or(0),
                counts: slots.get(1..=k).map(<[u64]>::to_vec).unwrap_or_default(),
            }
        });
        columns.push(ColumnStats {
            name: name.clone(),
            count: rows,
            sum: mean * n,
            mean,
            variance,
            variance_population,
            std: variance.sqrt(),
            variance_error: if rows > 1 { slack / (n - 1.0) } else { 0.0 },
            histogram,
        });
    }
    Ok(StatsResult { rows, columns })
}
