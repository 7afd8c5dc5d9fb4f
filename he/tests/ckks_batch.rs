#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! A dense layer on encrypted mini-batches (split learning's server layer) against
//! plaintext matrix products.

mod common;

use common::*;
use consort_he::ckks::*;

fn forward_plain(x: &[f64], w: &[f64], n: usize, d: usize, c: usize) -> Vec<f64> {
    (0..n).flat_map(|i| (0..c).map(move |k| (0..d).map(|j| x[i * d + j] * w[j * c + k]).sum())).collect()
}

fn backward_plain(g: &[f64], w: &[f64], n: usize, d: usize, c: usize) -> Vec<f64> {
    (0..n).flat_map(|i| (0..d).map(move |j| (0..c).map(|k| g[i * c + k] * w[j * c + k]).sum())).collect()
}

fn check(params: &CkksParams, n: usize, d: usize, c: usize, seed: u8, min_bits: f64) {
    let ctx = params.build().unwrap();
    let steps = BatchLinear::rotation_steps(&ctx, d, c).unwrap();
    let k = Keys::for_params(params, seed, &steps);
    let x = random_vec(n * d, 1.0, seed as u64);
    let g = random_vec(n * c, 0.5, 50 + seed as u64);
    let w = random_vec(d * c, 1.0 / (d as f64).sqrt(), 1000 + seed as u64);
    let layer = BatchLinear::new(&k.eval, &w, d, c, k.ctx.max_level()).unwrap();
    let layout = layer.layout();
    let mut enc = k.enc();

    let outs: Vec<Vec<f64>> = layout
        .encode_rows(&x, n)
        .unwrap()
        .iter()
        .map(|v| {
            let ct = enc.encrypt_values(v).unwrap();
            let y = layer.forward(&k.eval, &ct, &k.gks).unwrap();
            assert_eq!(y.level(), k.ctx.max_level() - 1);
            k.dec.decrypt_values(&y).unwrap()
        })
        .collect();
    let got = layout.decode_rows(&outs, n, c).unwrap();
    let bits = precision_bits(&forward_plain(&x, &w, n, d, c), &got);
    assert!(bits >= min_bits, "forward {n}x{d}x{c}: {bits:.1} bits");

    let outs: Vec<Vec<f64>> = layout
        .encode_tiled(&g, n, c)
        .unwrap()
        .iter()
        .map(|v| {
            let ct = enc.encrypt_values(v).unwrap();
            k.dec.decrypt_values(&layer.backward(&k.eval, &ct, &k.gks).unwrap()).unwrap()
        })
        .collect();
    let got = layout.decode_rows(&outs, n, d).unwrap();
    let bits = precision_bits(&backward_plain(&g, &w, n, d, c), &got);
    assert!(bits >= min_bits, "backward {n}x{d}x{c}: {bits:.1} bits");
}

#[test]
fn small_ring_shapes() {
    // 1024 slots: d = 64 gives 16 rows per ciphertext; 37 rows span three ciphertexts,
    // the last one partly empty.
    let p = small_params();
    check(&p, 37, 64, 3, 1, SMALL_MATVEC_BITS);
    check(&p, 16, 64, 10, 2, SMALL_MATVEC_BITS);
    check(&p, 5, 50, 1, 3, SMALL_MATVEC_BITS);
    check(&p, 40, 30, 16, 4, SMALL_MATVEC_BITS);
}

#[test]
fn split_ways_shape_on_the_standard_preset() {
    // The Split Ways server layer: 256 features, 5 classes, 16 rows per ciphertext.
    check(&CkksParams::preset(Preset::N8192), 16, 256, 5, 5, 20.0);
}

#[test]
fn refuses_bad_shapes() {
    let p = small_params();
    let ctx = p.build().unwrap();
    let slots = ctx.slots();
    assert!(BatchLayout::new(&ctx, 0).is_err());
    assert!(BatchLayout::new(&ctx, slots + 1).is_err());
    // More outputs than padded inputs cannot be folded into one ciphertext.
    assert!(BatchLinear::rotation_steps(&ctx, 4, 5).is_err());
    let k = Keys::small(9);
    let err = BatchLinear::new(&k.eval, &[0.0; 7], 4, 2, k.ctx.max_level()).unwrap_err();
    assert_eq!(err.to_string(), CkksError::DimensionMismatch { what: "weights", expected: 8, found: 7 }.to_string());
    let layout = BatchLayout::new(&ctx, 4).unwrap();
    assert!(layout.encode_rows(&[1.0; 7], 2).is_err());
}
