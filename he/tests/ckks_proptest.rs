#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Property tests over random vectors (small parameters, 16 cases each).

mod common;

use std::sync::LazyLock;

use common::*;
use proptest::prelude::*;

static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys::small(21));

fn values(bound: f64) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(-bound..bound, 1..=1024)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decrypt_encrypt_is_identity(x in values(10.0)) {
        let k = &*KEYS;
        let out = k.dec.decrypt_values(&k.enc().encrypt_values(&x).unwrap()).unwrap();
        prop_assert!(precision_bits(&x, &out) >= SMALL_FRESH_BITS);
        // Slots beyond the input are zero.
        prop_assert!(out[x.len()..].iter().all(|v| v.abs() < 1e-3));
    }

    #[test]
    fn addition_is_homomorphic(x in values(10.0), y in values(10.0)) {
        let k = &*KEYS;
        let sum = k.eval.add(&k.enc().encrypt_values(&x).unwrap(), &k.enc().encrypt_values(&y).unwrap()).unwrap();
        let out = k.dec.decrypt_values(&sum).unwrap();
        let len = x.len().max(y.len());
        let expect: Vec<f64> =
            (0..len).map(|i| x.get(i).copied().unwrap_or(0.0) + y.get(i).copied().unwrap_or(0.0)).collect();
        prop_assert!(precision_bits(&expect, &out) >= SMALL_FRESH_BITS - 1.0);
    }

    #[test]
    fn multiplication_is_homomorphic(x in values(1.0), y in values(1.0)) {
        let k = &*KEYS;
        let cx = k.enc().encrypt_values(&x).unwrap();
        let cy = k.enc().encrypt_values(&y).unwrap();
        let out = k.dec.decrypt_values(&k.eval.mul_relin_rescale(&cx, &cy, &k.rlk).unwrap()).unwrap();
        let len = x.len().min(y.len());
        let expect: Vec<f64> = (0..len).map(|i| x[i] * y[i]).collect();
        prop_assert!(precision_bits(&expect, &out) >= SMALL_MUL_BITS);
        let plain = k.dec.decrypt_values(&k.eval.mul_values_rescale(&cx, &y).unwrap()).unwrap();
        prop_assert!(precision_bits(&expect, &plain) >= SMALL_MUL_BITS);
    }
}
