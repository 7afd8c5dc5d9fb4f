//! Turning the revealed totals into statistics.

use serde::{Deserialize, Serialize};

use super::StatsSpec;
use crate::fixed::decode;

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

/// Interprets the revealed aggregate vector (layout of [`StatsSpec::vector_len`]).
pub fn finish(spec: &StatsSpec, totals: &[u64]) -> StatsResult {
    let f = spec.frac_bits;
    let at = |i: usize| totals.get(i).copied().unwrap_or(0);
    let rows = at(0);
    let n = rows as f64;
    let mut hist_pos = 1 + 2 * spec.columns.len();
    let columns = spec
        .columns
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let sum = decode(at(1 + 2 * c), f);
            let sumsq = decode(at(2 + 2 * c), f);
            let mean = if rows > 0 { sum / n } else { 0.0 };
            // Σ(x - mean)² = Σx² - n·mean²; clamp the rounding noise of fixed point at 0.
            let ss = (sumsq - n * mean * mean).max(0.0);
            let variance_population = if rows > 0 { ss / n } else { 0.0 };
            let variance = if rows > 1 { ss / (n - 1.0) } else { 0.0 };
            let histogram = spec.edges(name).map(|edges| {
                let k = edges.len() - 1;
                let slots: Vec<u64> = (0..k + 2).map(|i| at(hist_pos + i)).collect();
                hist_pos += k + 2;
                Histogram {
                    edges: edges.to_vec(),
                    below: slots.first().copied().unwrap_or(0),
                    above: slots.last().copied().unwrap_or(0),
                    counts: slots.get(1..=k).map(<[u64]>::to_vec).unwrap_or_default(),
                }
            });
            ColumnStats {
                name: name.clone(),
                count: rows,
                sum,
                mean,
                variance,
                variance_population,
                std: variance.sqrt(),
                histogram,
            }
        })
        .collect();
    StatsResult { rows, columns }
}
