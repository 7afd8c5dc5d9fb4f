#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The pooled statistics a training job standardizes with, computed inside the engine
//! (MACed inputs, checked reveal): the same figures as the additive protocol, and in
//! malicious mode a member that equivocates or changes a share makes every member abort.

mod harness;

use std::time::Duration;

use consort_net::{MemoryNetwork, StepId, Transport, Verdict};
use consort_protocols::fixed::FracBits;
use consort_protocols::spdz::{Engine, MpcError, Security};
use consort_protocols::stats::{self, LocalColumns, StatsError, StatsResult, StatsSpec};
use harness::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn spec() -> StatsSpec {
    StatsSpec {
        columns: vec!["wide".into(), "narrow".into()],
        frac_bits: FracBits::default(),
        histograms: [("wide".to_string(), vec![-50.0, 0.0, 50.0])].into_iter().collect(),
    }
}

/// A wide column around 0 and a narrow one around 10^6 (spread 10^-3): the second is
/// what the naive E[x²] − E[x]² gets wrong.
fn member_data(i: u64, rows: usize) -> LocalColumns {
    let mut rng = ChaCha20Rng::seed_from_u64(900 + i);
    let mut u = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let wide: Vec<f64> = (0..rows).map(|_| (u() - 0.5) * 150.0).collect();
    let narrow: Vec<f64> = (0..rows).map(|_| 1.0e6 + 1.0e-3 * (u() - 0.5)).collect();
    LocalColumns { columns: vec![wide, narrow] }
}

fn plaintext_moments(data: &[LocalColumns], col: usize) -> (f64, f64) {
    let all: Vec<f64> = data.iter().flat_map(|d| d.columns[col].clone()).collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    (mean, all.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0))
}

fn in_engine(net: MemoryNetwork, n: u16, sec: Security, data: Vec<LocalColumns>) -> Vec<Result<StatsResult, BoxError>> {
    run_with(net, n, sec, move |i, t, p| {
        let d = data[i].clone();
        async move {
            let mut e = Engine::new(&t, members(n), p, FracBits::default())?;
            let r = e.pooled_stats(&spec(), &d).await?;
            e.finish(&StepId::root("finish")).await?;
            Ok(r)
        }
    })
}

fn net(n: u16) -> MemoryNetwork {
    MemoryNetwork::new(n).recv_timeout(Duration::from_secs(5))
}

#[test]
fn checked_statistics_equal_the_additive_protocol_and_plaintext() {
    for sec in [Security::SemiHonest, Security::Malicious] {
        for n in [2u16, 3] {
            let data: Vec<LocalColumns> = (0..n).map(|i| member_data(u64::from(i), 40 + 7 * usize::from(i))).collect();
            let additive = runtime().block_on(async {
                let tasks: Vec<_> = net(n)
                    .build()
                    .into_iter()
                    .zip(data.clone())
                    .map(|(t, d)| {
                        tokio::spawn(async move {
                            let mut rng = ChaCha20Rng::seed_from_u64(u64::from(t.me().0));
                            stats::run(&t, &spec(), &d, &mut rng).await
                        })
                    })
                    .collect();
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await.unwrap().unwrap());
                }
                out
            });
            let checked = in_engine(net(n), n, sec, data.clone());
            for (i, r) in checked.into_iter().enumerate() {
                let r = r.unwrap_or_else(|e| panic!("{sec}, {n} members, member {i}: {e}"));
                // Both protocols reveal the same integer totals, so the same figures.
                assert_eq!(r, additive[i], "{sec}, {n} members, member {i}");
                for (c, col) in r.columns.iter().enumerate() {
                    let (mean, var) = plaintext_moments(&data, c);
                    assert!(
                        (col.mean - mean).abs() <= 1e-9 * mean.abs().max(1.0),
                        "{}: {} vs {mean}",
                        col.name,
                        col.mean
                    );
                    assert!(
                        (col.variance - var).abs() <= col.variance_error + 1e-9 * var,
                        "{}: {} vs {var} (bound {})",
                        col.name,
                        col.variance,
                        col.variance_error
                    );
                }
            }
        }
    }
}

/// Member 1 sends member 2 something other than what it sends member 0 at every step
/// named `step` (equivocation: the hook plays the cheater's part).
fn equivocating(step: &'static str) -> MemoryNetwork {
    net(3).hook(move |env| {
        if env.from.0 == 1 && env.to.0 == 2 && env.step.as_str() == step && !env.payload.is_empty() {
            env.payload[0] ^= 1;
        }
        Verdict::Deliver
    })
}

#[test]
fn a_member_that_equivocates_on_its_sums_makes_every_member_abort() {
    // Masked inputs of either round, and the openings of the totals.
    for prefix in ["stats/in/1", "stats/total", "stats/centred/in/1", "stats/centred/total"] {
        let data: Vec<LocalColumns> = (0..3).map(|i| member_data(i, 20)).collect();
        for (i, r) in in_engine(equivocating(prefix), 3, Security::Malicious, data).into_iter().enumerate() {
            let e = r.expect_err(&format!("member {i} reported statistics after equivocation at {prefix}"));
            let m = e.downcast_ref::<MpcError>().unwrap_or_else(|| panic!("{prefix}: member {i}: {e}"));
            assert!(
                matches!(m, MpcError::Inconsistent { .. } | MpcError::MacCheckFailed { .. }),
                "{prefix}: member {i}: {m}"
            );
        }
    }
}

#[test]
fn a_changed_share_in_the_sums_makes_every_member_abort() {
    let tamper = net(3).hook(|env| {
        if env.from.0 == 2 && env.step.as_str() == "stats/total" && !env.payload.is_empty() {
            env.payload[0] = env.payload[0].wrapping_add(1);
        }
        Verdict::Deliver
    });
    let data: Vec<LocalColumns> = (0..3).map(|i| member_data(i, 20)).collect();
    for (i, r) in in_engine(tamper, 3, Security::Malicious, data).into_iter().enumerate() {
        let e = r.expect_err(&format!("member {i} reported statistics after a changed share"));
        let m = e.downcast_ref::<MpcError>().unwrap_or_else(|| panic!("member {i}: {e}"));
        assert!(matches!(m, MpcError::MacCheckFailed { step } if step.starts_with("stats/total")), "member {i}: {m}");
    }
}

#[test]
fn a_member_that_equivocates_on_a_count_makes_every_member_abort() {
    // A row count announced differently to two members, then anything revealed: the
    // counts are in the checked transcript, so the reveal's check fails everywhere.
    let out = run_with(equivocating("counts"), 3, Security::Malicious, |i, t, p| async move {
        let mut e = Engine::new(&t, members(3), p, FracBits::default())?;
        let counts = e.exchange_public(&StepId::root("counts"), 10 + i as u64, 1000).await?;
        let x = e.input(&StepId::root("x"), members(3)[0], (i == 0).then_some(&[7u64][..]), 1, 1).await?;
        e.reveal(&StepId::root("out"), &x).await?;
        Ok::<_, MpcError>(counts)
    });
    for (i, r) in out.into_iter().enumerate() {
        let e = r.expect_err(&format!("member {i} revealed after an equivocated count"));
        assert!(matches!(e, MpcError::Inconsistent { .. }), "member {i}: {e}");
    }
}

#[test]
fn out_of_range_input_is_refused_before_anything_is_sent() {
    let mut d = member_data(0, 5);
    d.columns[1][2] = f64::NAN;
    let r = runtime().block_on(async {
        let t = net(1).build().pop().unwrap();
        let p = consort_protocols::spdz::prep::LocalDealer::new_set(1, Security::Malicious, [1; 32]).pop().unwrap();
        let mut e = Engine::new(&t, members(1), p, FracBits::default()).unwrap();
        e.pooled_stats(&spec(), &d).await
    });
    match r {
        Err(MpcError::Stats(e)) => {
            assert!(matches!(&*e, StatsError::ValueOutOfRange { column, row: 2, .. } if column == "narrow"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}
