#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Sizes a peer sets: the row count another member announces before secure training
//! reaches allocations and the preprocessing. Whatever it announces — any 8 bytes, or
//! bytes of any length — the honest members stop with an error naming it, never a panic
//! and never an allocation beyond `MAX_INPUT_VALUES`.

mod harness;

use std::time::Duration;

use consort_net::{MemoryNetwork, PartyId, StepId, Verdict};
use consort_protocols::learn::spec::{ModelKind, SigmoidSpec, TrainSpec};
use consort_protocols::spdz::{Engine, MAX_INPUT_VALUES, Security};
use harness::*;
use proptest::prelude::*;

const D: usize = 3;

fn spec() -> TrainSpec {
    TrainSpec {
        model: ModelKind::Logreg,
        features: vec!["a".into(), "b".into(), "c".into()],
        label: "y".into(),
        epochs: 1,
        iterations: None,
        batch_size: 4,
        learning_rate: 0.1,
        l2: 0.0,
        hidden: 1,
        sigmoid: SigmoidSpec::default(),
        test_fraction: 0.0,
        seed: 1,
        loss_every: None,
        reveal_to: vec![],
    }
}

/// Three members train on 6 rows each; member 1's row count reaches the others as
/// `announced`. Returns each member's error text (empty when it finished).
fn train_with_announced(announced: Vec<u8>, security: Security) -> Vec<String> {
    let net = MemoryNetwork::new(3).recv_timeout(Duration::from_secs(1)).hook(move |e| {
        if e.from == PartyId(1) && e.step.as_str().ends_with("counts") {
            *e.payload = announced.clone();
        }
        Verdict::Deliver
    });
    run_with(net, 3, security, |i, t, p| async move {
        let x: Vec<f64> = (0..6 * D).map(|k| ((k * 7 + i) % 5) as f64 / 5.0).collect();
        let y: Vec<f64> = (0..6).map(|k| ((k + i) % 2) as f64).collect();
        let mut e = Engine::new(&t, members(3), p, consort_protocols::fixed::FracBits::default()).unwrap();
        match e.train(&StepId::root("train"), &spec(), &x, &y, D, &[]).await {
            Ok(_) => String::new(),
            Err(err) => err.to_string(),
        }
    })
}

fn assert_named(errors: &[String], what: &str) {
    for k in [0, 2] {
        assert!(
            errors[k].starts_with("party 1 misbehaved at step 'train/counts': "),
            "member {k} on {what}: '{}'",
            errors[k]
        );
    }
}

#[test]
fn counts_beyond_the_limit_and_malformed_counts_name_the_sender() {
    let cap = (MAX_INPUT_VALUES / (D + 1)) as u64;
    for v in [cap + 1, 1 << 40, 1 << 63, u64::MAX] {
        let errors = train_with_announced(v.to_le_bytes().to_vec(), Security::Malicious);
        assert_named(&errors, &v.to_string());
        assert_eq!(
            errors[0],
            format!("party 1 misbehaved at step 'train/counts': announced {v}, more than the job allows ({cap})")
        );
    }
    let errors = train_with_announced(vec![1, 2, 3], Security::SemiHonest);
    assert_named(&errors, "3 bytes");
    assert!(errors[0].ends_with("sent 3 bytes, expected one 8-byte number"), "{}", errors[0]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Any count above the limit, in either mode, is refused naming member 1.
    #[test]
    fn any_count_above_the_limit_is_refused(v in ((MAX_INPUT_VALUES / (D + 1)) as u64 + 1)..=u64::MAX, malicious: bool) {
        let security = if malicious { Security::Malicious } else { Security::SemiHonest };
        let errors = train_with_announced(v.to_le_bytes().to_vec(), security);
        assert_named(&errors, &v.to_string());
    }

    /// Bytes of any other length than 8 are refused naming member 1.
    #[test]
    fn a_count_of_any_other_length_is_refused(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assume!(bytes.len() != 8);
        let errors = train_with_announced(bytes, Security::SemiHonest);
        assert_named(&errors, "bytes");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// A count within the limit that is not the sender's real one: its input then has
    /// another shape than announced, and the others refuse it naming member 1 (at the
    /// count, in malicious mode, or at its input block), never a panic.
    #[test]
    fn a_count_that_does_not_match_the_input_names_the_sender(v in 0u64..1000, malicious: bool) {
        prop_assume!(v != 6);
        let security = if malicious { Security::Malicious } else { Security::SemiHonest };
        let errors = train_with_announced(v.to_le_bytes().to_vec(), security);
        for k in [0, 2] {
            prop_assert!(errors[k].contains("party 1"), "member {}: '{}'", k, errors[k]);
        }
    }
}
