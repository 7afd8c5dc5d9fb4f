//! A member's rows in memory, the held-out split, standardization and the public batch
//! order. Everything seeded is derived from the job's seed, so the plaintext twin
//! reproduces a secure run exactly.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Rows of features (row-major, `d` per row) and their labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub d: usize,
}

fn stream(seed: u64, a: u64, b: u64) -> ChaCha20Rng {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&a.to_le_bytes());
    s[16..24].copy_from_slice(&b.to_le_bytes());
    ChaCha20Rng::from_seed(s)
}

/// A seeded permutation of `0..n` (Fisher–Yates; unbiased by rejection).
pub fn permutation(n: usize, seed: u64, a: u64, b: u64) -> Vec<usize> {
    let mut rng = stream(seed, a, b);
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let bound = (i + 1) as u64;
        let zone = u64::MAX - u64::MAX % bound;
        let j = loop {
            let v = rng.next_u64();
            if v < zone {
                break (v % bound) as usize;
            }
        };
        idx.swap(i, j);
    }
    idx
}

/// Uniform values in `[-a, a)`, seeded (public initial weights).
pub fn uniform(len: usize, a: f64, seed: u64, tag: u64) -> Vec<f64> {
    let mut rng = stream(seed, 0x1417, tag);
    (0..len).map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * a).collect()
}

/// The batches of one epoch over `n` pooled rows (indices into the pooled order:
/// member 0's training rows, then member 1's, …). Public.
pub fn batches(n: usize, batch: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    permutation(n, seed, 0xba7c, epoch as u64).chunks(batch.max(1)).map(<[usize]>::to_vec).collect()
}

impl Rows {
    pub fn n(&self) -> usize {
        self.y.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        self.x.get(i * self.d..(i + 1) * self.d).unwrap_or(&[])
    }

    fn pick(&self, idx: &[usize]) -> Rows {
        let mut out = Rows { x: Vec::with_capacity(idx.len() * self.d), y: Vec::with_capacity(idx.len()), d: self.d };
        for &i in idx {
            out.x.extend_from_slice(self.row(i));
            out.y.push(self.y.get(i).copied().unwrap_or(0.0));
        }
        out
    }

    /// Splits member `member`'s rows into (train, test), holding out `fraction` of them.
    pub fn split(&self, fraction: f64, seed: u64, member: usize) -> (Rows, Rows) {
        let perm = permutation(self.n(), seed, 0x5917, member as u64);
        let test = (self.n() as f64 * fraction).round() as usize;
        let (te, tr) = perm.split_at(test.min(perm.len()));
        let (mut tr, mut te) = (tr.to_vec(), te.to_vec());
        tr.sort_unstable();
        te.sort_unstable();
        (self.pick(&tr), self.pick(&te))
    }

    /// `(x − mean) / std` per column.
    pub fn standardized(&self, means: &[f64], stds: &[f64]) -> Vec<f64> {
        self.x
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let c = i % self.d.max(1);
                let s = stds.get(c).copied().unwrap_or(1.0);
                (v - means.get(c).copied().unwrap_or(0.0)) / if s > 0.0 { s } else { 1.0 }
            })
            .collect()
    }

    /// Concatenates members' rows in member order (the pooled order).
    pub fn concat(parts: &[Rows]) -> Rows {
        let d = parts.first().map_or(0, |p| p.d);
        let mut out = Rows { x: Vec::new(), y: Vec::new(), d };
        for p in parts {
            out.x.extend_from_slice(&p.x);
            out.y.extend_from_slice(&p.y);
        }
        out
    }
}

/// Checks that every label is a class in 0..classes, naming the first bad row (1-based).
pub fn check_class_labels(rows: &Rows, classes: usize) -> Result<(), String> {
    for (i, y) in rows.y.iter().enumerate() {
        if !(y.fract() == 0.0 && *y >= 0.0 && (*y as usize) < classes) {
            return Err(format!("row {}: label {y} is not a class in 0..{classes}", i + 1));
        }
    }
    Ok(())
}

/// Column means and sample standard deviations (what the stats job reveals).
pub fn moments(rows: &Rows) -> (Vec<f64>, Vec<f64>) {
    let n = rows.n() as f64;
    let mut means = vec![0.0; rows.d];
    for i in 0..rows.n() {
        for (m, v) in means.iter_mut().zip(rows.row(i)) {
            *m += v / n;
        }
    }
    let mut vars = vec![0.0; rows.d];
    for i in 0..rows.n() {
        for ((s, v), m) in vars.iter_mut().zip(rows.row(i)).zip(&means) {
            *s += (v - m) * (v - m) / (n - 1.0).max(1.0);
        }
    }
    (means, vars.into_iter().map(f64::sqrt).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_permutations_and_seeded() {
        let p = permutation(100, 7, 1, 2);
        let mut s = p.clone();
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_eq!(p, permutation(100, 7, 1, 2));
        assert_ne!(p, permutation(100, 8, 1, 2));
    }

    #[test]
    fn split_holds_out_the_fraction_and_loses_nothing() {
        let rows = Rows { x: (0..20).map(f64::from).collect(), y: (0..10).map(f64::from).collect(), d: 2 };
        let (tr, te) = rows.split(0.2, 3, 0);
        assert_eq!((tr.n(), te.n()), (8, 2));
        let mut ys: Vec<f64> = tr.y.iter().chain(&te.y).copied().collect();
        ys.sort_by(f64::total_cmp);
        assert_eq!(ys, rows.y);
    }
}
