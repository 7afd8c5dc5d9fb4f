//! A member's local aggregates over its own rows. This vector never leaves the member in
//! the clear: it is the input of the secure sum.

use super::{StatsError, StatsSpec};
use crate::fixed::{FracBits, encode};

/// The member's own table: one vector of values per spec column, in spec order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalColumns {
    pub columns: Vec<Vec<f64>>,
}

impl LocalColumns {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }
}

/// Computes the local aggregate vector (see [`StatsSpec::vector_len`] for the layout),
/// refusing any value or subtotal that could overflow the ring once all `members`
/// subtotals are added.
pub fn local_aggregates(spec: &StatsSpec, data: &LocalColumns, members: usize) -> Result<Vec<u64>, StatsError> {
    if data.columns.len() != spec.columns.len() {
        return Err(StatsError::Spec(format!(
            "{} columns of data for {} spec columns",
            data.columns.len(),
            spec.columns.len()
        )));
    }
    let rows = data.rows();
    if rows == 0 {
        return Err(StatsError::NoRows);
    }
    let f = spec.frac_bits;
    let limit = spec.value_limit();
    // Subtotals are summed over all members; each must leave room for the others.
    let budget = i128::from(i64::MAX) / members.max(1) as i128;
    let mut out = Vec::with_capacity(spec.vector_len());
    out.push(rows as u64);
    let mut hists = Vec::new();
    for (name, values) in spec.columns.iter().zip(&data.columns) {
        if values.len() != rows {
            return Err(StatsError::Spec(format!("column '{name}' has {} rows, expected {rows}", values.len())));
        }
        let (mut sum, mut sumsq) = (0i128, 0i128);
        for (row, &x) in values.iter().enumerate() {
            if !x.is_finite() || x.abs() >= limit {
                return Err(StatsError::ValueOutOfRange { column: name.clone(), row, value: x, limit });
            }
            sum += i128::from(enc(x, f, name, row, limit)?);
            sumsq += i128::from(enc(x * x, f, name, row, limit)?);
        }
        for (what, total) in [("sum", sum), ("sum of squares", sumsq)] {
            if total.abs() > budget {
                return Err(StatsError::SubtotalOverflow { column: name.clone(), what, members });
            }
            out.push((total as i64) as u64);
        }
        if let Some(edges) = spec.edges(name) {
            hists.push(histogram(values, edges));
        }
    }
    for h in hists {
        out.extend(h);
    }
    Ok(out)
}

fn enc(x: f64, f: FracBits, name: &str, row: usize, limit: f64) -> Result<i64, StatsError> {
    encode(x, f).map(|v| v as i64).map_err(|_| StatsError::ValueOutOfRange {
        column: name.to_string(),
        row,
        value: x,
        limit,
    })
}

/// Counts `below, bin_0 .. bin_{k-1}, above` for edges `e_0 < .. < e_k`; bins are
/// `[e_i, e_{i+1})`, the last one closed.
pub fn histogram(values: &[f64], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0u64; bins + 2];
    let (Some(&lo), Some(&hi)) = (edges.first(), edges.last()) else { return counts };
    for &x in values {
        let slot = if x < lo {
            0
        } else if x > hi {
            bins + 1
        } else if x == hi {
            bins
        } else {
            // Index of the last edge <= x, plus one for the `below` slot.
            edges.partition_point(|e| *e <= x)
        };
        if let Some(c) = counts.get_mut(slot) {
            *c += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_are_half_open_with_closed_last() {
        let h = histogram(&[-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5], &[0.0, 1.0, 2.0]);
        assert_eq!(h, vec![1, 2, 3, 1]);
    }
}
