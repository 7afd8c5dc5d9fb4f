#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The arithmetic engine against plaintext, in both security modes.

mod harness;

use consort_net::{MemoryNetwork, StepId, Transport, Verdict};
use consort_protocols::fixed::FracBits;
use consort_protocols::spdz::poly::{Function, Poly};
use consort_protocols::spdz::{Engine, MpcError, MulQueue, Security};
use harness::*;
use proptest::prelude::*;
use std::time::Duration;

const BOTH: [Security; 2] = [Security::SemiHonest, Security::Malicious];

fn s(name: &str) -> StepId {
    StepId::root(name)
}

/// Member 0 inputs `x`, member 1 inputs `y`; returns what everyone reveals of x·y
/// (elementwise), x+y and x-y, and the rounds the product took.
type Revealed = (Vec<f64>, Vec<f64>, Vec<f64>, u64);

fn arith(n: u16, sec: Security, x: Vec<f64>, y: Vec<f64>) -> Vec<Revealed> {
    let len = x.len();
    run(n, sec, move |i, t, p| {
        let (x, y) = (enc(&x), enc(&y));
        async move {
            let mut e = Engine::new(&t, members(n), p, FracBits::default()).unwrap();
            let a = e.input(&s("x"), members(n)[0], (i == 0).then_some(&x[..]), len, 1).await.unwrap();
            let b = e.input(&s("y"), members(n)[1], (i == 1).then_some(&y[..]), len, 1).await.unwrap();
            let before = t.counters();
            let mut q = MulQueue::new();
            q.mul(&a, &b).unwrap();
            let prod = e.exchange(&s("mul"), q).await.unwrap();
            let c = t.counters().since(&before);
            // One round: exactly one message to and from every other member.
            let rounds =
                if c.messages_sent == u64::from(n - 1) && c.messages_received == u64::from(n - 1) { 1 } else { 0 };
            let prod = e.rescale(&s("trunc"), prod).await.unwrap().pop().unwrap();
            let sum = a.add(&b).unwrap();
            let diff = a.sub(&b).unwrap();
            let r = |v: Vec<u64>| dec(&v);
            (
                r(e.reveal(&s("out-prod"), &prod).await.unwrap()),
                r(e.reveal(&s("out-sum"), &sum).await.unwrap()),
                r(e.reveal(&s("out-diff"), &diff).await.unwrap()),
                rounds,
            )
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    #[test]
    fn products_sums_and_differences_match_plaintext(
        xy in prop::collection::vec((-1000.0f64..1000.0, -1000.0f64..1000.0), 1..40),
        n in 2u16..5,
        mal in any::<bool>(),
    ) {
        let sec = if mal { Security::Malicious } else { Security::SemiHonest };
        let (x, y): (Vec<f64>, Vec<f64>) = xy.into_iter().unzip();
        let ex = dec(&enc(&x));
        let ey = dec(&enc(&y));
        for (prod, sum, diff, rounds) in arith(n, sec, x.clone(), y.clone()) {
            prop_assert_eq!(rounds, 1);
            for k in 0..x.len() {
                prop_assert!((prod[k] - ex[k] * ey[k]).abs() <= 2.0 * ULP, "{} * {} = {}", ex[k], ey[k], prod[k]);
                prop_assert_eq!(sum[k], ex[k] + ey[k]);
                prop_assert_eq!(diff[k], ex[k] - ey[k]);
            }
        }
    }
}

#[test]
fn matrix_products_open_m_k_plus_k_n_values_in_one_round() {
    let (m, k, n) = (7usize, 5usize, 3usize);
    let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
    let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.91).cos() * 3.0).collect();
    for sec in BOTH {
        let (a2, b2) = (a.clone(), b.clone());
        let out = run(3, sec, move |i, t, p| {
            let (a, b) = (enc(&a2), enc(&b2));
            async move {
                let mut e = Engine::new(&t, members(3), p, FracBits::default()).unwrap();
                let x = e.input(&s("a"), members(3)[2], (i == 2).then_some(&a[..]), m, k).await.unwrap();
                let y = e.input(&s("b"), members(3)[0], (i == 0).then_some(&b[..]), k, n).await.unwrap();
                let before = t.counters();
                let mut q = MulQueue::new();
                q.matmul(&x, &y).unwrap();
                q.mul(&x, &x).unwrap(); // a second product in the same round
                let z = e.exchange(&s("mm"), q).await.unwrap();
                let c = t.counters().since(&before);
                let z = e.rescale(&s("tr"), z).await.unwrap();
                (dec(&e.reveal(&s("out"), &z[0]).await.unwrap()), dec(&e.reveal(&s("sq"), &z[1]).await.unwrap()), c)
            }
        });
        let (ea, eb) = (dec(&enc(&a)), dec(&enc(&b)));
        for (z, sq, c) in out {
            // One round: one message to and from each of the 2 others, carrying the
            // shares of d and e for both products: m·k + k·n + 2·m·k values, not m·k·n.
            assert_eq!((c.messages_sent, c.messages_received), (2, 2), "{sec}");
            let values = (m * k + k * n + 2 * m * k) as u64;
            // (The in-memory counters also count the step name, "mm", per message.)
            assert_eq!(c.bytes_sent, 2 * (values * sec.share_bytes() as u64 + 2), "{sec}");
            for r in 0..m {
                for col in 0..n {
                    let want: f64 = (0..k).map(|l| ea[r * k + l] * eb[l * n + col]).sum();
                    assert!((z[r * n + col] - want).abs() <= 2.0 * ULP, "{sec}: {} vs {want}", z[r * n + col]);
                }
            }
            for (q, v) in sq.iter().zip(&ea) {
                assert!((q - v * v).abs() <= 2.0 * ULP);
            }
        }
    }
}

#[test]
fn reveal_to_one_member_tells_only_that_member() {
    for sec in BOTH {
        let out = run(3, sec, move |i, t, p| async move {
            let mut e = Engine::new(&t, members(3), p, FracBits::default()).unwrap();
            let data = enc(&[1.5, -2.25, 1000.0]);
            let x = e.input(&s("in"), members(3)[0], (i == 0).then_some(&data[..]), 3, 1).await.unwrap();
            e.reveal_to(&s("to-1"), &x, members(3)[1]).await.unwrap().map(|v| dec(&v))
        });
        assert_eq!(out, vec![None, Some(vec![1.5, -2.25, 1000.0]), None], "{sec}");
    }
}

#[test]
fn truncation_is_exact_to_one_ulp_for_negative_and_large_values() {
    let xs: Vec<f64> = vec![-1e9, -12345.678, -1.0, -ULP, 0.0, ULP, 0.5, 3.75, 1e9];
    for sec in BOTH {
        let xs2 = xs.clone();
        let out = run(2, sec, move |i, t, p| {
            let xs = xs2.clone();
            async move {
                let mut e = Engine::new(&t, members(2), p, FracBits::default()).unwrap();
                let raw = enc(&xs);
                let x = e.input(&s("in"), members(2)[1], (i == 1).then_some(&raw[..]), xs.len(), 1).await.unwrap();
                // x·2^5 then shift by 5: back to x.
                let y = e.truncate(&s("tr"), vec![(x.scale(32), 5), (x.clone(), 3)]).await.unwrap();
                (dec(&e.reveal(&s("a"), &y[0]).await.unwrap()), dec(&e.reveal(&s("b"), &y[1]).await.unwrap()))
            }
        });
        let ex = dec(&enc(&xs));
        for (a, b) in out {
            for k in 0..xs.len() {
                assert!((a[k] - ex[k]).abs() <= ULP, "{sec}: {} vs {}", a[k], ex[k]);
                assert!((b[k] - ex[k] / 8.0).abs() <= ULP, "{sec}: {} vs {}", b[k], ex[k] / 8.0);
            }
        }
    }
}

#[test]
fn polynomial_sigmoid_matches_its_plaintext_twin() {
    let xs: Vec<f64> = (-16..=16).map(|i| i as f64 * 0.5).collect();
    let p = Poly::of(Function::Sigmoid, 5);
    for sec in BOTH {
        let (xs2, p2) = (xs.clone(), p.clone());
        let out = run(3, sec, move |i, t, pr| {
            let (xs, p) = (xs2.clone(), p2.clone());
            async move {
                let mut e = Engine::new(&t, members(3), pr, FracBits::default()).unwrap();
                let raw = enc(&xs);
                let x = e.input(&s("in"), members(3)[0], (i == 0).then_some(&raw[..]), xs.len(), 1).await.unwrap();
                let y = e.poly(&s("sig"), vec![x], 16, &p).await.unwrap();
                dec(&e.reveal(&s("out"), &y[0]).await.unwrap())
            }
        });
        for got in out {
            for (x, g) in xs.iter().zip(&got) {
                assert!((g - p.eval(*x)).abs() < 1e-3, "{sec}: sigmoid({x}) = {g}, twin {}", p.eval(*x));
                assert!((g - Function::Sigmoid.eval(*x)).abs() < p.error(Function::Sigmoid).0 + 1e-3, "{sec}: {x}");
            }
        }
    }
}

/// Adds 1 to the first share in every message of steps whose name contains `needle`,
/// sent by member `from`.
fn tamper(n: u16, from: u16, needle: &'static str) -> MemoryNetwork {
    MemoryNetwork::new(n).recv_timeout(Duration::from_secs(20)).hook(move |env| {
        if env.from.0 == from && env.step.as_str().contains(needle) && !env.payload.is_empty() {
            env.payload[0] = env.payload[0].wrapping_add(1);
        }
        Verdict::Deliver
    })
}

fn product_under(net: MemoryNetwork, sec: Security) -> Vec<Result<Vec<f64>, MpcError>> {
    run_with(net, 3, sec, move |i, t, p| async move {
        let mut e = Engine::new(&t, members(3), p, FracBits::default()).unwrap();
        let data = enc(&[2.0, 3.0, -4.0]);
        let x = e.input(&s("in"), members(3)[0], (i == 0).then_some(&data[..]), 3, 1).await?;
        let mut q = MulQueue::new();
        q.mul(&x, &x)?;
        let z = e.mul_fixed(&s("square"), q).await?;
        let out = e.reveal(&s("out"), &z[0]).await?;
        Ok(dec(&out))
    })
}

#[test]
fn a_changed_share_makes_every_member_abort_in_malicious_mode() {
    for needle in ["square/mul", "square/trunc"] {
        let out = product_under(tamper(3, 2, needle), Security::Malicious);
        for r in out {
            let e = r.unwrap_err();
            assert!(matches!(&e, MpcError::MacCheckFailed { step } if step.starts_with(needle)), "{needle}: {e}");
            assert!(e.to_string().starts_with(&format!("MAC check failed for values opened at step '{needle}")), "{e}");
        }
    }
}

#[test]
fn a_changed_share_silently_changes_the_result_in_semi_honest_mode() {
    // The documented difference between the modes: without MACs, nobody notices.
    let clean = product_under(MemoryNetwork::new(3), Security::SemiHonest);
    let bad = product_under(tamper(3, 2, "square/mul"), Security::SemiHonest);
    assert_eq!(clean[0].as_ref().unwrap(), &vec![4.0, 9.0, 16.0]);
    assert!(bad.iter().all(|r| r.as_ref().unwrap() != &vec![4.0, 9.0, 16.0]));
}

#[test]
fn inputs_and_openings_on_the_wire_look_random() {
    // Member 0's secret values must not appear on the wire, in any encoding.
    let secret = enc(&[123.456, -7.5, 42.0]);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let seen2 = seen.clone();
    let net = MemoryNetwork::new(3).hook(move |env| {
        seen2.lock().unwrap().push(env.payload.clone());
        Verdict::Deliver
    });
    let secret2 = secret.clone();
    run_with(net, 3, Security::Malicious, move |i, t, p| {
        let secret = secret2.clone();
        async move {
            let mut e = Engine::new(&t, members(3), p, FracBits::default()).unwrap();
            let x = e.input(&s("in"), members(3)[0], (i == 0).then_some(&secret[..]), 3, 1).await.unwrap();
            let mut q = MulQueue::new();
            q.mul(&x, &x).unwrap();
            let z = e.mul_fixed(&s("sq"), q).await.unwrap();
            e.reveal_to(&s("out"), &z[0], members(3)[0]).await.unwrap();
        }
    });
    for msg in seen.lock().unwrap().iter() {
        for v in &secret {
            for needle in [v.to_le_bytes().to_vec(), (*v as u128).to_le_bytes()[..8].to_vec()] {
                assert!(!msg.windows(8).any(|w| w == needle.as_slice()), "secret value on the wire");
            }
        }
    }
}
