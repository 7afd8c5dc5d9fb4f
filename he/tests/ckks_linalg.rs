#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Encrypted linear algebra against plaintext results.

mod common;

use common::*;
use consort_he::ckks::*;

fn vec_mat(x: &[f64], w: &[f64], d_in: usize, d_out: usize) -> Vec<f64> {
    (0..d_out).map(|k| (0..d_in).map(|c| x[c] * w[c * d_out + k]).sum()).collect()
}

fn check_vector_matrix(d_in: usize, d_out: usize, seed: u8) {
    let params = small_params();
    let ctx = params.build().unwrap();
    let steps = MatVecPlan::rotation_steps(&ctx, d_in, d_out).unwrap();
    let k = Keys::for_params(&params, seed, &steps);
    let x = random_vec(d_in, 1.0, seed as u64);
    let w = random_vec(d_in * d_out, 1.0 / (d_in as f64).sqrt(), 1000 + seed as u64);
    let plan = MatVecPlan::vector_matrix(&k.eval, &w, d_in, d_out, k.ctx.max_level()).unwrap();
    let ct = k.enc().encrypt_values(&x).unwrap();
    let y = plan.apply(&k.eval, &ct, &k.gks).unwrap();
    assert_eq!(y.level(), k.ctx.max_level() - 1);
    let out = k.dec.decrypt_values(&y).unwrap();
    let expect = vec_mat(&x, &w, d_in, d_out);
    let bits = precision_bits(&expect, &out[..d_out]);
    assert!(bits >= SMALL_MATVEC_BITS, "{d_in}x{d_out}: {bits:.1} bits");
    if d_out.next_power_of_two() >= d_in.next_power_of_two() {
        // Tall products leave the other slots at zero.
        let tail = out[d_out..].iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(tail < 1e-3, "tail {tail}");
    }
}

#[test]
fn vector_matrix_wide() {
    check_vector_matrix(64, 10, 1);
}

#[test]
fn vector_matrix_tall() {
    check_vector_matrix(10, 40, 2);
}

#[test]
fn vector_matrix_square_odd_sizes() {
    check_vector_matrix(33, 33, 3);
    check_vector_matrix(1, 1, 4);
}

#[test]
fn matrix_vector_and_batch() {
    let params = small_params();
    let ctx = params.build().unwrap();
    let (d_in, d_out) = (20, 6);
    let k = Keys::for_params(&params, 7, &MatVecPlan::rotation_steps(&ctx, d_in, d_out).unwrap());
    let m = random_vec(d_in * d_out, 0.3, 77);
    let plan = MatVecPlan::matrix_vector(&k.eval, &m, d_out, d_in, k.ctx.max_level()).unwrap();
    let xs: Vec<Vec<f64>> = (0..3).map(|i| random_vec(d_in, 1.0, 50 + i)).collect();
    let cts: Vec<Ciphertext> = xs.iter().map(|x| k.enc().encrypt_values(x).unwrap()).collect();
    let ys = plan.apply_batch(&k.eval, &cts, &k.gks).unwrap();
    for (x, y) in xs.iter().zip(&ys) {
        let expect: Vec<f64> = (0..d_out).map(|r| (0..d_in).map(|c| m[r * d_in + c] * x[c]).sum()).collect();
        assert!(precision_bits(&expect, &k.dec.decrypt_values(y).unwrap()) >= SMALL_MATVEC_BITS);
    }
    // A plan refuses a matrix of the wrong size and an input below its level.
    assert!(matches!(
        MatVecPlan::matrix_vector(&k.eval, &m[1..], d_out, d_in, 1),
        Err(CkksError::DimensionMismatch { .. })
    ));
    let low = k.eval.mod_down_to(&cts[0], 0).unwrap();
    assert!(matches!(plan.apply(&k.eval, &low, &k.gks), Err(CkksError::LevelMismatch { .. })));
}

#[test]
fn chained_layers_with_mask() {
    // Two dense layers: the wide first layer leaves partial sums, masked before layer two.
    let params = small_params();
    let ctx = params.build().unwrap();
    let mut steps = MatVecPlan::rotation_steps(&ctx, 32, 8).unwrap();
    steps.extend(MatVecPlan::rotation_steps(&ctx, 8, 4).unwrap());
    let k = Keys::for_params(&params, 8, &steps);
    let x = random_vec(32, 1.0, 5);
    let w1 = random_vec(32 * 8, 0.2, 6);
    let w2 = random_vec(8 * 4, 0.3, 7);
    let top = k.ctx.max_level();
    let p1 = MatVecPlan::vector_matrix(&k.eval, &w1, 32, 8, top).unwrap();
    let p2 = MatVecPlan::vector_matrix(&k.eval, &w2, 8, 4, top - 2).unwrap();
    let h = p1.apply(&k.eval, &k.enc().encrypt_values(&x).unwrap(), &k.gks).unwrap();
    let h = k.eval.mask_prefix(&h, 8).unwrap();
    let y = p2.apply(&k.eval, &h, &k.gks).unwrap();
    let expect = vec_mat(&vec_mat(&x, &w1, 32, 8), &w2, 8, 4);
    assert!(precision_bits(&expect, &k.dec.decrypt_values(&y).unwrap()) >= SMALL_DEPTH_BITS);
}

#[test]
fn inner_products_and_sum_of_slots() {
    let k = Keys::small(9);
    let len = 100;
    let x = random_vec(len, 1.0, 1);
    let w = random_vec(len, 1.0, 2);
    let cx = k.enc().encrypt_values(&x).unwrap();
    let cw = k.enc().encrypt_values(&w).unwrap();
    let expect: f64 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
    let ip = k.dec.decrypt_values(&k.eval.inner_product_plain(&cx, &w, &k.gks).unwrap()).unwrap();
    assert!(precision_bits(&[expect], &ip[..1]) >= SMALL_MATVEC_BITS);
    let ip2 = k.dec.decrypt_values(&k.eval.inner_product(&cx, &cw, len, &k.rlk, &k.gks).unwrap()).unwrap();
    assert!(precision_bits(&[expect], &ip2[..1]) >= SMALL_MATVEC_BITS);
    let total: f64 = x.iter().sum();
    let s = k.dec.decrypt_values(&k.eval.sum_slots(&cx, len, &k.gks).unwrap()).unwrap();
    assert!(precision_bits(&[total], &s[..1]) >= SMALL_MATVEC_BITS);
}

#[test]
fn zero_matrix_gives_zero_and_bad_shapes_are_refused() {
    let params = small_params();
    let ctx = params.build().unwrap();
    let k = Keys::for_params(&params, 10, &MatVecPlan::rotation_steps(&ctx, 8, 2).unwrap());
    let plan = MatVecPlan::vector_matrix(&k.eval, &[0.0; 16], 8, 2, k.ctx.max_level()).unwrap();
    let y = plan.apply(&k.eval, &k.enc().encrypt_values(&[1.0; 8]).unwrap(), &k.gks).unwrap();
    assert_eq!(y.level(), k.ctx.max_level() - 1);
    assert!(k.dec.decrypt_values(&y).unwrap().iter().all(|v| v.abs() < 1e-3));
    let slots = k.ctx.slots();
    assert!(matches!(MatVecPlan::rotation_steps(&ctx, slots, 2), Err(CkksError::SlotsOverflow { .. })));
    assert!(matches!(MatVecPlan::rotation_steps(&ctx, 0, 2), Err(CkksError::DimensionMismatch { .. })));
    assert!(matches!(MatVecPlan::vector_matrix(&k.eval, &[0.0; 16], 8, 2, 0), Err(CkksError::OutOfLevels)));
}
