#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Functional tests of the CKKS scheme on small (insecure, test-only) parameters.

mod common;

use common::*;
use consort_he::ckks::*;

#[test]
fn encrypt_decrypt_round_trip() {
    let k = Keys::small(1);
    let x = random_vec(k.ctx.slots(), 1.0, 7);
    let ct = k.enc().encrypt_values(&x).unwrap();
    let out = k.dec.decrypt_values(&ct).unwrap();
    let bits = precision_bits(&x, &out);
    assert!(bits >= SMALL_FRESH_BITS, "fresh precision {bits:.1} bits");
}

#[test]
fn add_sub_and_plain_ops() {
    let k = Keys::small(2);
    let n = k.ctx.slots();
    let x = random_vec(n, 1.0, 1);
    let y = random_vec(n, 1.0, 2);
    let cx = k.enc().encrypt_values(&x).unwrap();
    let cy = k.enc().encrypt_values(&y).unwrap();
    let sum = k.dec.decrypt_values(&k.eval.add(&cx, &cy).unwrap()).unwrap();
    let diff = k.dec.decrypt_values(&k.eval.sub(&cx, &cy).unwrap()).unwrap();
    let plus = k.dec.decrypt_values(&k.eval.add_values(&cx, &y).unwrap()).unwrap();
    let expect_sum: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
    let expect_diff: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
    assert!(precision_bits(&expect_sum, &sum) >= SMALL_FRESH_BITS - 1.0);
    assert!(precision_bits(&expect_diff, &diff) >= SMALL_FRESH_BITS - 1.0);
    assert!(precision_bits(&expect_sum, &plus) >= SMALL_FRESH_BITS - 1.0);
    let prod = k.dec.decrypt_values(&k.eval.mul_values_rescale(&cx, &y).unwrap()).unwrap();
    let expect_prod: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    let bits = precision_bits(&expect_prod, &prod);
    assert!(bits >= SMALL_MUL_BITS, "pt mul precision {bits:.1}");
}

#[test]
fn multiply_relinearize_rescale() {
    let k = Keys::small(3);
    let n = k.ctx.slots();
    let x = random_vec(n, 1.0, 3);
    let y = random_vec(n, 1.0, 4);
    let cx = k.enc().encrypt_values(&x).unwrap();
    let cy = k.enc().encrypt_values(&y).unwrap();
    let size3 = k.eval.mul(&cx, &cy).unwrap();
    let expect: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    // Decrypting the size-3 ciphertext directly works too.
    let raw = k.dec.decrypt_values(&size3).unwrap();
    assert!(precision_bits(&expect, &raw) >= SMALL_MUL_BITS);
    let ct = k.eval.rescale(&k.eval.relinearize(&size3, &k.rlk).unwrap()).unwrap();
    assert_eq!(ct.level(), k.ctx.max_level() - 1);
    let out = k.dec.decrypt_values(&ct).unwrap();
    let bits = precision_bits(&expect, &out);
    assert!(bits >= SMALL_MUL_BITS, "mul precision {bits:.1}");
}

#[test]
fn rotations_and_conjugation() {
    let k = Keys::small(4);
    let n = k.ctx.slots();
    let x = random_vec(n, 1.0, 5);
    let ct = k.enc().encrypt_values(&x).unwrap();
    for step in [1i64, 2, 5, -1, -7, 100] {
        let r = k.eval.rotate(&ct, step, &k.gks).unwrap();
        let out = k.dec.decrypt_values(&r).unwrap();
        let expect = rotate_plain(&x, step);
        let bits = precision_bits(&expect, &out);
        assert!(bits >= SMALL_FRESH_BITS - 2.0, "rotation {step}: {bits:.1} bits");
    }
    // Any step through power-of-two keys.
    let r = k.eval.rotate_pow2(&ct, 13, &k.gks).unwrap();
    assert!(precision_bits(&rotate_plain(&x, 13), &k.dec.decrypt_values(&r).unwrap()) >= SMALL_FRESH_BITS - 4.0);
    let hoisted = k.eval.rotate_many(&ct, &[1, 2, 4], &k.gks).unwrap();
    for (r, step) in hoisted.iter().zip([1i64, 2, 4]) {
        assert!(precision_bits(&rotate_plain(&x, step), &k.dec.decrypt_values(r).unwrap()) >= SMALL_FRESH_BITS - 2.0);
    }
    let c = k.eval.conjugate(&ct, &k.gks).unwrap();
    assert!(precision_bits(&x, &k.dec.decrypt_values(&c).unwrap()) >= SMALL_FRESH_BITS - 2.0);
    // A missing key is an error, not a panic.
    let err = k.eval.rotate(&ct, 3, &k.gks).unwrap_err();
    assert!(matches!(err, CkksError::MissingGaloisKey { step: 3, .. }), "{err}");
}

#[test]
fn noise_growth_over_full_level_budget() {
    let k = Keys::small(5);
    let n = k.ctx.slots();
    let x = random_vec(n, 1.0, 9);
    let mut ct = k.enc().encrypt_values(&x).unwrap();
    let mut expect = x.clone();
    let mut last_bits = f64::INFINITY;
    while ct.level() > 0 {
        ct = k.eval.mul_relin_rescale(&ct, &ct, &k.rlk).unwrap();
        expect.iter_mut().for_each(|v| *v *= *v);
        let bits = precision_bits(&expect, &k.dec.decrypt_values(&ct).unwrap());
        println!("level {}: {bits:.1} bits", ct.level());
        assert!(bits >= SMALL_DEPTH_BITS, "level {}: {bits:.1} bits", ct.level());
        last_bits = bits;
    }
    assert!(last_bits.is_finite());
    assert_eq!(k.eval.rescale(&ct).unwrap_err(), CkksError::OutOfLevels);
}

#[test]
fn levels_are_matched_by_mod_down() {
    let k = Keys::small(6);
    let n = k.ctx.slots();
    let x = random_vec(n, 1.0, 10);
    let y = random_vec(n, 1.0, 11);
    let cx = k.enc().encrypt_values(&x).unwrap();
    let cy = k.enc().encrypt_values(&y).unwrap();
    let low = k.eval.mod_down_to(&cy, 0).unwrap();
    let sum = k.eval.add(&cx, &low).unwrap();
    assert_eq!(sum.level(), 0);
    let expect: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
    assert!(precision_bits(&expect, &k.dec.decrypt_values(&sum).unwrap()) >= SMALL_FRESH_BITS - 1.0);
    // Scales that differ are refused.
    let sq = k.eval.mul_relin_rescale(&cx, &cx, &k.rlk).unwrap();
    let mut other = k.eval.mod_down_to(&cy, sq.level()).unwrap();
    other.set_scale(sq.scale() * 1.5);
    assert!(matches!(k.eval.add(&sq, &other), Err(CkksError::ScaleMismatch { .. })));
}
