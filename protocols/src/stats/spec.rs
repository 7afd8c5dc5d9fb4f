//! What a pooled-statistics job computes: the columns, optional histogram bin edges and
//! the fixed-point precision. Part of the job spec every member agrees on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StatsError;
use crate::fixed::FracBits;

/// The agreed parameters of a `task = "stats"` job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSpec {
    /// Columns to summarize, by CSV header name.
    pub columns: Vec<String>,
    /// Fractional bits of the fixed-point encoding.
    #[serde(default)]
    pub frac_bits: FracBits,
    /// Histogram bin edges per column (strictly increasing, at least two).
    #[serde(default)]
    pub histograms: BTreeMap<String, Vec<f64>>,
}

impl StatsSpec {
    /// Checks the spec itself (before any data is read).
    pub fn validate(&self) -> Result<(), StatsError> {
        if self.columns.is_empty() {
            return Err(StatsError::Spec("no columns to summarize".into()));
        }
        for (i, c) in self.columns.iter().enumerate() {
            if self.columns.iter().skip(i + 1).any(|d| d == c) {
                return Err(StatsError::Spec(format!("column '{c}' is listed twice")));
            }
        }
        for (col, edges) in &self.histograms {
            if !self.columns.contains(col) {
                return Err(StatsError::Spec(format!("histogram for column '{col}', which is not in `columns`")));
            }
            if edges.len() < 2 {
                return Err(StatsError::Spec(format!("histogram of '{col}' needs at least two edges")));
            }
            if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w.first() >= w.get(1)) {
                return Err(StatsError::Spec(format!(
                    "histogram edges of '{col}' must be finite and strictly increasing"
                )));
            }
        }
        Ok(())
    }

    /// Bin edges of a column, if it has a histogram.
    pub fn edges(&self, column: &str) -> Option<&[f64]> {
        self.histograms.get(column).map(Vec::as_slice)
    }

    /// Largest magnitude of a single value, whatever `frac_bits` (see [`super::VALUE_LIMIT`]).
    pub fn value_limit(&self) -> f64 {
        super::VALUE_LIMIT
    }

    /// Length of round 1's vector: count, then per column the sum, then per histogram
    /// `below, bins..., above`.
    pub fn vector_len(&self) -> usize {
        1 + self.columns.len() + self.columns.iter().filter_map(|c| self.edges(c)).map(|e| e.len() + 1).sum::<usize>()
    }
}
