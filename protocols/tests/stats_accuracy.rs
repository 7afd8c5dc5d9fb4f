//! Pooled statistics on adversarial columns, against an exact plaintext computation of
//! the same numbers: a large mean with a small spread, a tiny spread, a constant
//! column, one row, values at the range limit, at every `frac_bits`. The variance must
//! be within the `variance_error` each column reports (the documented bound), and the
//! mean within a few ulps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use consort_net::MemoryNetwork;
use consort_protocols::fixed::FracBits;
use consort_protocols::stats::{self, LocalColumns, StatsResult, StatsSpec, VALUE_LIMIT};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// A standard normal sample (Box–Muller), seeded.
fn normal(rng: &mut ChaCha20Rng) -> f64 {
    let u = |r: &mut ChaCha20Rng| ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let (a, b) = (u(rng), u(rng));
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

/// `x = m·2^e` with `m` an odd integer (or 0).
fn parts(x: f64) -> (i128, i32) {
    if x == 0.0 {
        return (0, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mant, e) = if exp == 0 { (frac, -1074) } else { (frac | (1u64 << 52), exp - 1075) };
    let tz = mant.trailing_zeros();
    let m = i128::from(mant >> tz) * if x < 0.0 { -1 } else { 1 };
    (m, e + tz as i32)
}

/// The exact mean and sample variance of the numbers as given, by integer arithmetic
/// (every f64 is an integer times a power of two): independent of the protocol's
/// formula. `None` if the integers would not fit i128.
fn exact(values: &[f64]) -> Option<(f64, f64)> {
    let ps: Vec<(i128, i32)> = values.iter().map(|x| parts(*x)).collect();
    let k = ps.iter().filter(|(m, _)| *m != 0).map(|(_, e)| -e).max().unwrap_or(0).max(0);
    let ints: Vec<i128> = ps.iter().map(|(m, e)| m.checked_shl((e + k) as u32)).collect::<Option<_>>()?;
    let n = values.len() as i128;
    let s1 = ints.iter().try_fold(0i128, |a, x| a.checked_add(*x))?;
    let s2 = ints.iter().try_fold(0i128, |a, x| a.checked_add(x.checked_mul(*x)?))?;
    let num = n.checked_mul(s2)?.checked_sub(s1.checked_mul(s1)?)?;
    let scale = 2f64.powi(k);
    let mean = s1 as f64 / n as f64 / scale;
    let var = if n > 1 { num as f64 / (n * (n - 1)) as f64 / scale / scale } else { 0.0 };
    Some((mean, var))
}

/// Compensated two-pass, for sizes the integer method cannot hold.
fn two_pass(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let d: f64 = values.iter().map(|x| x - mean).sum();
    let ss: f64 = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() - d * d / n;
    (mean + d / n, if values.len() > 1 { ss / (n - 1.0) } else { 0.0 })
}

async fn pooled(spec: &StatsSpec, parts: &[LocalColumns]) -> StatsResult {
    let nodes = MemoryNetwork::new(parts.len() as u16).build();
    let tasks: Vec<_> = nodes
        .into_iter()
        .zip(parts.iter().cloned())
        .map(|(t, d)| {
            let spec = spec.clone();
            tokio::spawn(async move {
                let mut rng = ChaCha20Rng::seed_from_u64(u64::from(consort_net::Transport::me(&t).0));
                stats::run(&t, &spec, &d, &mut rng).await.unwrap()
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    assert!(out.windows(2).all(|w| w[0] == w[1]), "members disagree");
    out.remove(0)
}

/// Column generators: (name, value of row i of member k).
fn columns(rng: &mut ChaCha20Rng, rows: &[usize]) -> (Vec<String>, Vec<LocalColumns>) {
    let names = ["big_mean_unit_spread", "huge_mean_tiny_spread", "tiny_spread", "constant", "at_the_limit"];
    let mut parts = Vec::new();
    for &r in rows {
        let mut cols = vec![Vec::new(); names.len()];
        for _ in 0..r {
            cols[0].push(1.0e6 + normal(rng));
            cols[1].push(1.0e9 + 1.0e-3 * normal(rng));
            cols[2].push(1.0e-3 * normal(rng));
            cols[3].push(7.3);
            cols[4].push(if rng.next_u64().is_multiple_of(2) { 1.0 } else { -1.0 } * (VALUE_LIMIT - 1.0));
        }
        parts.push(LocalColumns { columns: cols });
    }
    (names.iter().map(|s| s.to_string()).collect(), parts)
}

fn check(result: &StatsResult, names: &[String], parts: &[LocalColumns], label: &str) {
    assert!(parts.iter().map(|p| p.rows()).sum::<usize>() > 1);
    for (c, name) in names.iter().enumerate() {
        let all: Vec<f64> = parts.iter().flat_map(|p| p.columns[c].clone()).collect();
        let (mean, var) = exact(&all).unwrap_or_else(|| two_pass(&all));
        let got = &result.columns[c];
        assert_eq!(got.count as usize, all.len());
        let mean_tol = 1e-12 * mean.abs().max(1.0);
        assert!((got.mean - mean).abs() <= mean_tol, "{label} {name}: mean {} vs exact {mean}", got.mean);
        // The reference's own rounding: a few ulps of the variance.
        let tol = got.variance_error + 1e-14 * var;
        assert!(
            (got.variance - var).abs() <= tol,
            "{label} {name}: variance {} vs exact {var} (bound {tol})",
            got.variance
        );
        // The documented bound: (members + 1)·2^-F/(n − 1) plus a few ulps of the variance.
        let n = all.len() as f64;
        let documented =
            (parts.len() as f64 + 1.0) / 2f64.powi(stats::centred_bits(all.len() as u64) as i32) / (n - 1.0)
                + 1e-14 * var;
        assert!(
            got.variance_error <= documented * (1.0 + 1e-6),
            "{label} {name}: bound {} exceeds the documented {documented}",
            got.variance_error
        );
        if name == "constant" {
            assert_eq!(got.variance, 0.0, "{label}: a constant column has variance 0");
        } else if var > 0.0 && got.variance_error < 1e-7 * var {
            let rel = (got.std - var.sqrt()).abs() / var.sqrt();
            assert!(rel < 1e-6, "{label} {name}: std {} vs exact {} ({rel:e} relative)", got.std, var.sqrt());
        }
    }
}

#[tokio::test]
async fn adversarial_columns_meet_the_documented_bound_at_every_frac_bits() {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let (names, parts) = columns(&mut rng, &[400, 250, 103]);
    for f in [4u8, 8, 16, 24, 32] {
        let spec =
            StatsSpec { columns: names.clone(), frac_bits: FracBits::new(f).unwrap(), histograms: Default::default() };
        let r = pooled(&spec, &parts).await;
        check(&r, &names, &parts, &format!("frac_bits {f}"));
    }
}

#[tokio::test]
async fn one_row_and_unequal_members_are_exact() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    // One member with a single row, another with two: n = 3.
    let (names, parts) = columns(&mut rng, &[1, 2]);
    let spec = StatsSpec { columns: names.clone(), frac_bits: FracBits::default(), histograms: Default::default() };
    check(&pooled(&spec, &parts).await, &names, &parts, "3 rows");
    // A single row in all: the mean is the value, the sample variance is 0 by convention.
    let (names, mut parts) = columns(&mut rng, &[1, 1]);
    parts[1].columns.iter_mut().for_each(Vec::clear);
    parts.truncate(1);
    let two = vec![parts[0].clone(), LocalColumns { columns: parts[0].columns.clone() }];
    let r = pooled(&spec, &two).await;
    for (c, got) in r.columns.iter().enumerate() {
        assert_eq!(got.count, 2);
        assert!((got.mean - two[0].columns[c][0]).abs() <= 1e-12 * got.mean.abs().max(1.0), "{}", names[c]);
        assert_eq!(got.variance, 0.0, "{}: two equal rows", names[c]);
    }
}

#[tokio::test]
async fn the_readme_examples_that_used_to_fail_now_pass() {
    // 3 members, one value of 8,000,000 (inside the old documented range but refused),
    // and 5,000 rows of about 1e6 per member (their sum of squares used to overflow).
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let spec = StatsSpec { columns: vec!["x".into()], frac_bits: FracBits::default(), histograms: Default::default() };
    let parts: Vec<LocalColumns> = (0..3)
        .map(|k| {
            let mut v: Vec<f64> = (0..5000).map(|_| 1.0e6 + normal(&mut rng)).collect();
            if k == 0 {
                v[0] = 8.0e6;
            }
            LocalColumns { columns: vec![v] }
        })
        .collect();
    let r = pooled(&spec, &parts).await;
    check(&r, &["x".to_string()], &parts, "readme");
}

#[test]
fn values_beyond_the_limit_are_refused_naming_the_column_and_row() {
    let spec = StatsSpec { columns: vec!["x".into()], frac_bits: FracBits::default(), histograms: Default::default() };
    let d = LocalColumns { columns: vec![vec![1.0, VALUE_LIMIT, 2.0]] };
    let e = stats::check(&spec, &d).unwrap_err().to_string();
    assert_eq!(e, "column 'x', data row 1: value 1099511627776 is outside the supported range (|x| < 1099511627776)");
    let d = LocalColumns { columns: vec![vec![f64::NAN]] };
    assert!(stats::check(&spec, &d).is_err());
}
