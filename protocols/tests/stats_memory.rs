//! The stats protocol among N in-memory members, against a plaintext computation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};

use consort_net::{MemoryNetwork, MemoryTransport, NetError, PartyId, StepId, Transport, Verdict};
use consort_protocols::fixed::{FracBits, encode};
use consort_protocols::stats::{self, LocalColumns, StatsError, StatsResult, StatsSpec, local_aggregates};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn spec() -> StatsSpec {
    StatsSpec {
        columns: vec!["x".into(), "y".into()],
        frac_bits: FracBits::default(),
        histograms: [("x".to_string(), vec![-50.0, 0.0, 25.0, 50.0])].into_iter().collect(),
    }
}

/// Member `i` holds `rows` rows of two columns with different scales and signs.
fn member_data(i: u64, rows: usize) -> LocalColumns {
    let mut rng = ChaCha20Rng::seed_from_u64(100 + i);
    let mut u = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let x: Vec<f64> = (0..rows).map(|_| (u() - 0.5) * 120.0).collect();
    let y: Vec<f64> = (0..rows).map(|_| 1000.0 + 3000.0 * u()).collect();
    LocalColumns { columns: vec![x, y] }
}

async fn run_all(nodes: Vec<MemoryTransport>, data: &[LocalColumns]) -> Vec<Result<StatsResult, StatsError>> {
    let tasks: Vec<_> = nodes
        .into_iter()
        .zip(data.iter().cloned())
        .map(|(t, d)| {
            tokio::spawn(async move {
                let spec = spec();
                let mut rng = ChaCha20Rng::seed_from_u64(u64::from(t.me().0));
                stats::run(&t, &spec, &d, &mut rng).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn plaintext(data: &[LocalColumns], col: usize) -> (f64, f64, f64) {
    let all: Vec<f64> = data.iter().flat_map(|d| d.columns[col].clone()).collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let var = all.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (all.iter().sum(), mean, var)
}

#[tokio::test]
async fn matches_plaintext_for_2_to_6_members() {
    for n in 2..=6u16 {
        let data: Vec<LocalColumns> = (0..n).map(|i| member_data(u64::from(i), 50 + 13 * usize::from(i))).collect();
        let results = run_all(MemoryNetwork::new(n).build(), &data).await;
        let first = results[0].as_ref().expect("member 0");
        for r in &results {
            assert_eq!(r.as_ref().expect("member"), first, "all members get the same result");
        }
        let rows: usize = data.iter().map(LocalColumns::rows).sum();
        assert_eq!(first.rows, rows as u64);
        for (c, stats) in first.columns.iter().enumerate() {
            let (sum, mean, var) = plaintext(&data, c);
            assert!((stats.sum - sum).abs() <= rows as f64 * 2f64.powi(-16), "n={n} sum {} vs {sum}", stats.sum);
            assert!((stats.mean - mean).abs() <= 1e-4, "n={n} mean {} vs {mean}", stats.mean);
            assert!(
                (stats.variance - var).abs() <= 1e-6 * var.max(1.0) + 1e-3,
                "n={n} var {} vs {var}",
                stats.variance
            );
            assert!((stats.std - var.sqrt()).abs() < 1e-3);
        }
        let h = first.columns[0].histogram.as_ref().expect("histogram of x");
        let all_x: Vec<f64> = data.iter().flat_map(|d| d.columns[0].clone()).collect();
        let count = |lo: f64, hi: f64, closed: bool| {
            all_x.iter().filter(|&&x| x >= lo && (x < hi || (closed && x == hi))).count() as u64
        };
        assert_eq!(h.counts, vec![count(-50.0, 0.0, false), count(0.0, 25.0, false), count(25.0, 50.0, true)]);
        assert_eq!(h.below, all_x.iter().filter(|&&x| x < -50.0).count() as u64);
        assert_eq!(h.above, all_x.iter().filter(|&&x| x > 50.0).count() as u64);
    }
}

type Tap = Arc<Mutex<Vec<(PartyId, Vec<u8>)>>>;

/// Everything a member sends is recorded; none of its raw values, their fixed-point
/// encodings, or its local subtotals may appear in any message.
#[tokio::test]
async fn no_message_contains_a_members_inputs_or_subtotals() {
    let sent: Tap = Arc::default();
    let tap = Arc::clone(&sent);
    let nodes = MemoryNetwork::new(3)
        .hook(move |env| {
            tap.lock().unwrap().push((env.from, env.payload.clone()));
            Verdict::Deliver
        })
        .build();
    let data: Vec<LocalColumns> = (0..3).map(|i| member_data(i, 40)).collect();
    let results = run_all(nodes, &data).await;
    assert!(results.iter().all(Result::is_ok));
    let sent = sent.lock().unwrap();
    assert!(!sent.is_empty());
    let f = FracBits::default();
    for (i, d) in data.iter().enumerate() {
        let mut secrets: Vec<[u8; 8]> = Vec::new();
        for col in &d.columns {
            for &x in col {
                secrets.push(x.to_le_bytes());
                secrets.push(encode(x, f).unwrap().to_le_bytes());
            }
        }
        let local = local_aggregates(&spec(), d).unwrap();
        // Skip tiny histogram counts (small integers occur by chance in random shares
        // with probability ~2^-60 per word; they are not distinctive anyway). A 128-bit
        // subtotal travels as two 64-bit limbs: look for its low limb.
        secrets.extend(local.iter().filter(|v| **v > 1 << 20).map(|v| (*v as u64).to_le_bytes()));
        for (from, payload) in sent.iter().filter(|(p, _)| p.index() == i) {
            for s in &secrets {
                assert!(!payload.windows(8).any(|w| w == s), "{from} sent one of its own secret words");
            }
        }
    }
}

#[tokio::test]
async fn a_dropped_message_fails_with_a_timeout_naming_the_sender() {
    let nodes = MemoryNetwork::new(3)
        .recv_timeout(std::time::Duration::from_millis(200))
        .hook(|env| {
            if env.from == PartyId(1) && env.step.as_str() == "stats/share" { Verdict::Drop } else { Verdict::Deliver }
        })
        .build();
    let data: Vec<LocalColumns> = (0..3).map(|i| member_data(i, 10)).collect();
    let results = run_all(nodes, &data).await;
    for (i, r) in results.iter().enumerate() {
        if i == 1 {
            continue;
        }
        let e = r.as_ref().unwrap_err().to_string();
        assert!(e.contains("waiting for party 1 at step 'stats/share'"), "{e}");
    }
}

#[tokio::test]
async fn a_truncated_share_vector_is_blamed_on_its_sender() {
    let nodes = MemoryNetwork::new(3)
        .recv_timeout(std::time::Duration::from_millis(300))
        .hook(|env| {
            if env.from == PartyId(2) && env.to == PartyId(0) {
                env.payload.truncate(5);
            }
            Verdict::Deliver
        })
        .build();
    let data: Vec<LocalColumns> = (0..3).map(|i| member_data(i, 10)).collect();
    let results = run_all(nodes, &data).await;
    let e = results[0].as_ref().unwrap_err();
    assert!(matches!(e, StatsError::Net(NetError::PeerMisbehaved { party: PartyId(2), .. })), "{e}");
}

#[tokio::test]
async fn tampering_changes_the_result_semi_honest_mode_has_no_integrity() {
    // Documented limitation: without MACs a cheating member can shift the result (as it
    // could by lying about its rows). Here member 1 sends member 0 a changed share: every
    // member then holds the same shifted total, so the echo passes. This test pins that
    // down so the docs' claim stays true.
    let nodes = MemoryNetwork::new(3)
        .hook(|env| {
            if env.from == PartyId(1) && env.to == PartyId(0) && env.step.as_str() == "stats/share" {
                env.payload[0] ^= 1;
            }
            Verdict::Deliver
        })
        .build();
    let data: Vec<LocalColumns> = (0..3).map(|i| member_data(i, 10)).collect();
    let results = run_all(nodes, &data).await;
    assert_ne!(results[0].as_ref().unwrap().rows, 30);
}

#[tokio::test]
async fn a_member_that_sends_members_different_values_makes_every_member_stop() {
    // Member 1 opens one value to member 0 and another to member 2 (at either of the two
    // sums): without the echo, members 0 and 2 would report different statistics — and
    // the spdz backend would standardize on them and pass its MAC checks on a wrong model.
    for step in ["stats/open", "stats/centred/open"] {
        let nodes = MemoryNetwork::new(3)
            .hook(move |env| {
                if env.from == PartyId(1) && env.to == PartyId(2) && env.step.as_str() == step {
                    env.payload[0] ^= 1;
                }
                Verdict::Deliver
            })
            .build();
        let data: Vec<LocalColumns> = (0..3).map(|i| member_data(i, 10)).collect();
        let results = run_all(nodes, &data).await;
        let echo = step.replace("open", "echo");
        for (i, r) in results.iter().enumerate() {
            let e = r.as_ref().expect_err(&format!("member {i} reported a result at {step}")).to_string();
            assert!(
                e.contains(&format!("misbehaved at step '{echo}': it holds a different total than this member")),
                "{step}: member {i}: {e}"
            );
        }
    }
}

#[test]
fn out_of_range_values_and_empty_inputs_are_refused() {
    let s = spec();
    let mut d = member_data(0, 5);
    d.columns[1][3] = 2.0e12;
    match local_aggregates(&s, &d) {
        Err(StatsError::ValueOutOfRange { column, row, .. }) => assert_eq!((column.as_str(), row), ("y", 3)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(local_aggregates(&s, &LocalColumns { columns: vec![vec![], vec![]] }), Err(StatsError::NoRows)));
}

#[tokio::test]
async fn steps_do_not_mix_between_concurrent_sums() {
    let nodes = MemoryNetwork::new(3).build();
    let tasks: Vec<_> = nodes
        .into_iter()
        .map(|t| {
            tokio::spawn(async move {
                let me = u64::from(t.me().0);
                let mut r1 = ChaCha20Rng::seed_from_u64(me);
                let mut r2 = ChaCha20Rng::seed_from_u64(me + 10);
                let (sa, sb) = (StepId::root("a"), StepId::root("b"));
                let (va, vb) = ([me], [100 * me]);
                let a = consort_protocols::additive::secure_sum(&t, &sa, &va, &mut r1);
                let b = consort_protocols::additive::secure_sum(&t, &sb, &vb, &mut r2);
                let (a, b) = tokio::join!(a, b);
                (a.unwrap(), b.unwrap())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), (vec![3], vec![300]));
    }
}
