//! A member's local aggregates over its own rows. This vector never leaves the member in
//! the clear: it is the input of the secure sum.

use super::{MAX_ROWS, StatsError, StatsSpec, VALUE_LIMIT};

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

/// Checks every value against the documented range and returns the row count.
pub fn check(spec: &StatsSpec, data: &LocalColumns) -> Result<usize, StatsError> {
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
    if rows as u64 > MAX_ROWS {
        return Err(StatsError::TooManyRows { rows: rows as u64, max: MAX_ROWS });
    }
    for (name, values) in spec.columns.iter().zip(&data.columns) {
        if values.len() != rows {
            return Err(StatsError::Spec(format!("column '{name}' has {} rows, expected {rows}", values.len())));
        }
        if let Some((row, &value)) = values.iter().enumerate().find(|(_, x)| !(x.is_finite() && x.abs() < VALUE_LIMIT))
        {
            return Err(StatsError::ValueOutOfRange { column: name.clone(), row, value, limit: VALUE_LIMIT });
        }
    }
    Ok(rows)
}

/// Round 1's vector (layout of [`StatsSpec::vector_len`]): the row count, per column
/// Σ round(x·2^f), then the histograms. With |x| < 2^40, f ≤ 32 and at most 2^40 rows
/// in all, every total stays below 2^113: no sum can wrap Z_2^128.
pub fn local_aggregates(spec: &StatsSpec, data: &LocalColumns) -> Result<Vec<u128>, StatsError> {
    let rows = check(spec, data)?;
    let scale = 2f64.powi(i32::from(spec.frac_bits.get()));
    let mut out = Vec::with_capacity(spec.vector_len());
    out.push(rows as u128);
    let mut hists = Vec::new();
    for (name, values) in spec.columns.iter().zip(&data.columns) {
        let sum: i128 = values.iter().map(|x| (x * scale).round() as i128).sum();
        out.push(sum as u128);
        if let Some(edges) = spec.edges(name) {
            hists.push(histogram(values, edges));
        }
    }
    for h in hists {
        out.extend(h.into_iter().map(u128::from));
    }
    Ok(out)
}

/// Round 2's vector: per column Σ(x − m)² and Σ(x − m), where `m` is the public
/// centre (round 1's pooled mean), in fixed point with `bits` fraction bits. Centring
/// first is what keeps a large mean from swamping a small spread (the naive
/// Σx² − n·mean² cancels catastrophically). Sums are compensated (Neumaier), so each is
/// within a few ulps of exact.
pub fn centred_aggregates(data: &LocalColumns, centres: &[f64], bits: u32) -> Vec<u128> {
    let scale = 2f64.powi(bits as i32);
    let mut out = Vec::with_capacity(2 * centres.len());
    for (values, m) in data.columns.iter().zip(centres) {
        let (ss, d) = (neumaier(values.iter().map(|x| (x - m) * (x - m))), neumaier(values.iter().map(|x| x - m)));
        out.push((ss * scale).round() as i128 as u128);
        out.push((d * scale).round() as i128 as u128);
    }
    out
}

/// Compensated summation: the error does not grow with the number of terms.
fn neumaier(xs: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for x in xs {
        let t = sum + x;
        c += if sum.abs() >= x.abs() { (sum - t) + x } else { (x - t) + sum };
        sum = t;
    }
    sum + c
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
