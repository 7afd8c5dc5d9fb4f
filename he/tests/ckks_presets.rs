#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The shipped presets: security check, and the scheme at real sizes with the documented
//! precision bounds (see he/README.md).

mod common;

use common::*;
use consort_he::ckks::*;

/// Documented bounds for N = 8192, [60, 40, 40 | 60], scale 2^40 (values in [-1, 1]).
const N8192_FRESH_BITS: f64 = 22.0;
const N8192_MUL_BITS: f64 = 22.0;
const N8192_MATVEC_BITS: f64 = 22.0;
/// Documented bounds for N = 16384, [60, 40 × 8 | 58], scale 2^40.
const N16384_FRESH_BITS: f64 = 21.0;
const N16384_MUL_BITS: f64 = 20.0;

#[test]
fn insecure_parameters_are_refused_by_the_normal_constructor() {
    let err = CkksParams::new(13, &[60, 60, 60], 60, 40).unwrap_err();
    let CkksError::InsecureParameters { n, log_qp, max_log_qp } = err.clone() else { panic!("{err}") };
    assert_eq!((n, max_log_qp), (8192, 218));
    assert!(log_qp > 239.9 && log_qp < 240.0);
    assert_eq!(
        err.to_string(),
        "insecure parameters: log2(QP) = 240.0 bits exceeds 218 bits, the 128-bit bound for N = 8192 \
         (HomomorphicEncryption.org standard, ternary secret)"
    );
    assert!(matches!(CkksParams::new(11, &[50, 30, 30, 30], 50, 30), Err(CkksError::InsecureParameters { .. })));
    // The clearly named test-only constructor allows it.
    assert!(CkksParams::insecure_for_tests(13, &[60, 60, 60], 60, 40).unwrap().is_insecure());
    // Malformed shapes are refused by both.
    assert!(matches!(CkksParams::new(13, &[], 60, 40), Err(CkksError::InvalidParameters { .. })));
    assert!(matches!(CkksParams::insecure_for_tests(13, &[61], 61, 40), Err(CkksError::InvalidParameters { .. })));
}

#[test]
fn presets_meet_128_bit_security() {
    for (preset, n, levels, bound) in [(Preset::N8192, 8192, 2, 218), (Preset::N16384, 16384, 8, 438)] {
        let p = CkksParams::preset(preset);
        assert_eq!((p.degree(), p.max_level(), p.security_bound()), (n, levels, Some(bound)));
        let primes = p.generate_primes().unwrap();
        let log_qp: f64 = primes.iter().map(|&q| (q as f64).log2()).sum();
        assert!(log_qp <= bound as f64, "{preset:?}: {log_qp}");
        assert!(primes.iter().all(|&q| q % (2 * n as u64) == 1));
        let mut sorted = primes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), primes.len());
        // Same shape through the checked constructor.
        let p2 = CkksParams::new(p.degree().trailing_zeros(), &p.q_bits(), p.special_bits(), 40).unwrap();
        assert_eq!(p2.id().unwrap(), p.id().unwrap());
    }
}

fn real_size_checks(preset: Preset, fresh: f64, mul: f64) -> Keys {
    let params = CkksParams::preset(preset);
    let k = Keys::for_params(&params, 31, &[3]);
    let slots = k.ctx.slots();
    let x = random_vec(slots, 1.0, 1);
    let y = random_vec(slots, 1.0, 2);
    let cx = k.enc().encrypt_values(&x).unwrap();
    let cy = k.enc().encrypt_values(&y).unwrap();
    let bits = precision_bits(&x, &k.dec.decrypt_values(&cx).unwrap());
    assert!(bits >= fresh, "{preset:?} fresh: {bits:.1}");
    let prod = k.eval.mul_relin_rescale(&cx, &cy, &k.rlk).unwrap();
    let expect: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    let bits = precision_bits(&expect, &k.dec.decrypt_values(&prod).unwrap());
    assert!(bits >= mul, "{preset:?} mul: {bits:.1}");
    let rot = k.eval.rotate(&prod, 3, &k.gks).unwrap();
    let bits = precision_bits(&rotate_plain(&expect, 3), &k.dec.decrypt_values(&rot).unwrap());
    assert!(bits >= mul, "{preset:?} rotate: {bits:.1}");
    k
}

#[test]
fn preset_n8192_encrypt_multiply_rotate_matvec() {
    let k = real_size_checks(Preset::N8192, N8192_FRESH_BITS, N8192_MUL_BITS);
    // 256-vector × 256×10 matrix, the benchmark's shape.
    let (d_in, d_out) = (256, 10);
    let mut kg = KeyGenerator::from_seed(&k.ctx, [31; 32]);
    let gks = kg.galois_keys(&MatVecPlan::rotation_steps(&k.ctx, d_in, d_out).unwrap(), false).unwrap();
    let x = random_vec(d_in, 1.0, 3);
    let w = random_vec(d_in * d_out, 1.0 / 16.0, 4);
    let plan = MatVecPlan::vector_matrix(&k.eval, &w, d_in, d_out, 2).unwrap();
    let y = plan.apply(&k.eval, &k.enc().encrypt_values(&x).unwrap(), &gks).unwrap();
    let expect: Vec<f64> = (0..d_out).map(|j| (0..d_in).map(|i| x[i] * w[i * d_out + j]).sum()).collect();
    let bits = precision_bits(&expect, &k.dec.decrypt_values(&y).unwrap());
    assert!(bits >= N8192_MATVEC_BITS, "matvec: {bits:.1}");
}

#[test]
fn preset_n16384_encrypt_multiply_rotate_and_depth() {
    let k = real_size_checks(Preset::N16384, N16384_FRESH_BITS, N16384_MUL_BITS);
    // The full level budget: 8 squarings of values in [-1, 1].
    let x = random_vec(64, 1.0, 5);
    let mut ct = k.enc().encrypt_values(&x).unwrap();
    let mut expect = x.clone();
    while ct.level() > 0 {
        ct = k.eval.mul_relin_rescale(&ct, &ct, &k.rlk).unwrap();
        expect.iter_mut().for_each(|v| *v *= *v);
    }
    let bits = precision_bits(&expect, &k.dec.decrypt_values(&ct).unwrap());
    assert!(bits >= N16384_MUL_BITS - 4.0, "depth 8: {bits:.1}");
}
