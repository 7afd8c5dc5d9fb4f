//! A secret-shared matrix (a vector is a one-column matrix): this member's shares, and in
//! malicious mode its shares of the MACs. Local operations only; anything that needs the
//! other members (products, truncation, opening) is on [`super::Engine`].

use std::fmt;

use super::MpcError;
use consort_net::StepId;

/// This member's shares of a row-major `rows × cols` matrix of fixed-point values.
///
/// `Debug` prints the shape only: shares are secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Shared {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) vals: Vec<u128>,
    /// Empty in semi-honest mode.
    pub(crate) macs: Vec<u128>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({}×{}{})", self.rows, self.cols, if self.macs.is_empty() { "" } else { ", MACs" })
    }
}

fn shape_err(what: String) -> MpcError {
    MpcError::usage(&StepId::root("local"), what)
}

impl Shared {
    /// A matrix from its shares: refuses a shape whose size is not the values' count,
    /// or MACs of another count (values that come from a peer or the preprocessing).
    pub(crate) fn new(rows: usize, cols: usize, vals: Vec<u128>, macs: Vec<u128>) -> Result<Shared, MpcError> {
        if rows.checked_mul(cols) != Some(vals.len()) || !(macs.is_empty() || macs.len() == vals.len()) {
            return Err(shape_err(format!("{} values and {} MACs for a {rows}×{cols} matrix", vals.len(), macs.len())));
        }
        Ok(Shared { rows, cols, vals, macs })
    }

    /// An empty `0 × cols` matrix.
    pub(crate) fn empty(cols: usize) -> Shared {
        Shared { rows: 0, cols, vals: Vec::new(), macs: Vec::new() }
    }

    /// For the local operations below, whose output shape follows from their input's.
    fn from_parts(rows: usize, cols: usize, vals: Vec<u128>, macs: Vec<u128>) -> Shared {
        debug_assert_eq!(rows * cols, vals.len());
        Shared { rows, cols, vals, macs }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn len(&self) -> usize {
        self.vals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Whether this value carries MACs (malicious mode).
    pub fn is_authenticated(&self) -> bool {
        !self.macs.is_empty() || self.vals.is_empty()
    }

    fn same_shape(&self, other: &Shared, op: &str) -> Result<(), MpcError> {
        if self.shape() != other.shape() || self.macs.len() != other.macs.len() {
            return Err(shape_err(format!("{op} of {:?} and {:?}", self, other)));
        }
        Ok(())
    }

    fn zip_with(&self, other: &Shared, f: impl Fn(u128, u128) -> u128) -> Shared {
        let vals = self.vals.iter().zip(&other.vals).map(|(a, b)| f(*a, *b)).collect();
        let macs = self.macs.iter().zip(&other.macs).map(|(a, b)| f(*a, *b)).collect();
        Shared::from_parts(self.rows, self.cols, vals, macs)
    }

    /// Elementwise sum (local).
    pub fn add(&self, other: &Shared) -> Result<Shared, MpcError> {
        self.same_shape(other, "addition")?;
        Ok(self.zip_with(other, u128::wrapping_add))
    }

    /// Elementwise difference (local).
    pub fn sub(&self, other: &Shared) -> Result<Shared, MpcError> {
        self.same_shape(other, "subtraction")?;
        Ok(self.zip_with(other, u128::wrapping_sub))
    }

    /// Multiplies by a public integer (local; no truncation needed).
    pub fn scale(&self, k: i64) -> Shared {
        let k = k as i128 as u128;
        self.map(|v| v.wrapping_mul(k))
    }

    pub(crate) fn map(&self, f: impl Fn(u128) -> u128) -> Shared {
        Shared::from_parts(
            self.rows,
            self.cols,
            self.vals.iter().map(|v| f(*v)).collect(),
            self.macs.iter().map(|v| f(*v)).collect(),
        )
    }

    /// Multiplies row-wise by public integers `k[j]` per column (local).
    pub fn scale_cols(&self, k: &[i64]) -> Result<Shared, MpcError> {
        if k.len() != self.cols {
            return Err(shape_err(format!("{} column factors for {:?}", k.len(), self)));
        }
        let f = |v: &[u128]| -> Vec<u128> {
            v.iter()
                .enumerate()
                .map(|(i, x)| x.wrapping_mul(k.get(i % self.cols.max(1)).copied().unwrap_or(0) as i128 as u128))
                .collect()
        };
        Ok(Shared::from_parts(self.rows, self.cols, f(&self.vals), f(&self.macs)))
    }

    /// The transpose (local).
    pub fn transpose(&self) -> Shared {
        let t = |v: &[u128]| -> Vec<u128> {
            if v.is_empty() {
                return Vec::new();
            }
            let mut out = Vec::with_capacity(v.len());
            for c in 0..self.cols {
                for r in 0..self.rows {
                    out.push(v.get(r * self.cols + c).copied().unwrap_or(0));
                }
            }
            out
        };
        Shared::from_parts(self.cols, self.rows, t(&self.vals), t(&self.macs))
    }

    /// The rows `idx` in that order (local: the indices are public).
    pub fn select_rows(&self, idx: &[usize]) -> Result<Shared, MpcError> {
        let pick = |v: &[u128]| -> Option<Vec<u128>> {
            if v.is_empty() {
                return Some(Vec::new());
            }
            let mut out = Vec::with_capacity(idx.len() * self.cols);
            for &r in idx {
                out.extend_from_slice(v.get(r * self.cols..(r + 1) * self.cols)?);
            }
            Some(out)
        };
        match (pick(&self.vals), pick(&self.macs)) {
            (Some(v), Some(m)) => Ok(Shared::from_parts(idx.len(), self.cols, v, m)),
            _ => Err(shape_err(format!("row index out of range for {:?}", self))),
        }
    }

    /// Stacks matrices with the same number of columns on top of each other (local).
    pub fn vstack(parts: &[Shared]) -> Result<Shared, MpcError> {
        let cols = parts.first().map_or(0, |p| p.cols);
        let mut out = Shared::empty(cols);
        for p in parts {
            if p.cols != cols || (out.rows > 0 && !p.macs.is_empty() && out.macs.is_empty() != p.macs.is_empty()) {
                return Err(shape_err(format!("vstack of {:?} onto {cols} columns", p)));
            }
            out.rows += p.rows;
            out.vals.extend_from_slice(&p.vals);
            out.macs.extend_from_slice(&p.macs);
        }
        Ok(out)
    }

    /// Places `right` beside `self` (same number of rows; local).
    pub fn hstack(&self, right: &Shared) -> Result<Shared, MpcError> {
        if self.rows != right.rows || self.macs.is_empty() != right.macs.is_empty() {
            return Err(shape_err(format!("hstack of {:?} and {:?}", self, right)));
        }
        let cat = |a: &[u128], b: &[u128]| -> Vec<u128> {
            if a.is_empty() {
                return Vec::new();
            }
            let mut out = Vec::with_capacity(a.len() + b.len());
            for r in 0..self.rows {
                out.extend_from_slice(a.get(r * self.cols..(r + 1) * self.cols).unwrap_or(&[]));
                out.extend_from_slice(b.get(r * right.cols..(r + 1) * right.cols).unwrap_or(&[]));
            }
            out
        };
        Ok(Shared::from_parts(
            self.rows,
            self.cols + right.cols,
            cat(&self.vals, &right.vals),
            cat(&self.macs, &right.macs),
        ))
    }

    /// Repeats a one-row matrix `n` times (local).
    pub fn repeat_rows(&self, n: usize) -> Result<Shared, MpcError> {
        if self.rows != 1 {
            return Err(shape_err(format!("repeat_rows needs one row, got {:?}", self)));
        }
        Ok(Shared::from_parts(n, self.cols, self.vals.repeat(n), self.macs.repeat(n)))
    }

    /// Sums the rows into one row (local).
    pub fn sum_rows(&self) -> Shared {
        let s = |v: &[u128]| -> Vec<u128> {
            if v.is_empty() {
                return Vec::new();
            }
            let mut out = vec![0u128; self.cols];
            for row in v.chunks_exact(self.cols.max(1)) {
                for (o, x) in out.iter_mut().zip(row) {
                    *o = o.wrapping_add(*x);
                }
            }
            out
        };
        Shared::from_parts(1, self.cols, s(&self.vals), s(&self.macs))
    }

    /// Reinterprets the shape (same number of elements; local).
    pub fn reshape(&self, rows: usize, cols: usize) -> Result<Shared, MpcError> {
        if rows * cols != self.len() {
            return Err(shape_err(format!("reshape of {:?} to {rows}×{cols}", self)));
        }
        Ok(Shared::from_parts(rows, cols, self.vals.clone(), self.macs.clone()))
    }
}

/// Row-major `m×k · k×n` product over Z_2^128, rows on rayon.
pub(crate) fn matmul(a: &[u128], b: &[u128], m: usize, k: usize, n: usize) -> Vec<u128> {
    use rayon::prelude::*;
    let mut out = vec![0u128; m * n];
    if k == 0 || n == 0 {
        return out;
    }
    let row = |(i, o): (usize, &mut [u128])| {
        let ar = a.get(i * k..(i + 1) * k).unwrap_or(&[]);
        for (l, av) in ar.iter().enumerate() {
            if let Some(br) = b.get(l * n..(l + 1) * n) {
                for (ov, bv) in o.iter_mut().zip(br) {
                    *ov = ov.wrapping_add(av.wrapping_mul(*bv));
                }
            }
        }
    };
    if m * k * n > 1 << 16 {
        out.par_chunks_mut(n).enumerate().for_each(row);
    } else {
        out.chunks_mut(n).enumerate().for_each(row);
    }
    out
}
