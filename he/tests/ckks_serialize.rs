#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Serialization round trips and rejection of malformed input.

mod common;

use common::*;
use consort_he::ckks::*;

#[test]
fn ciphertext_and_plaintext_round_trip() {
    let k = Keys::small(11);
    let x = random_vec(k.ctx.slots(), 1.0, 3);
    let ct = k.enc().encrypt_values(&x).unwrap();
    let bytes = ct.to_bytes(&k.ctx).unwrap();
    let back = Ciphertext::from_bytes(&k.ctx, &bytes).unwrap();
    assert_eq!(back, ct);
    // Compact: 50- and 30-bit limbs packed at their width (+ 24-byte header).
    let expected = 24 + 2 * k.ctx.degree() * (50 + 30 * 3) / 8;
    assert_eq!(bytes.len(), expected);
    let low = k.eval.rescale(&k.eval.mul_relin_rescale(&ct, &ct, &k.rlk).unwrap()).unwrap_or(ct.clone());
    assert_eq!(Ciphertext::from_bytes(&k.ctx, &low.to_bytes(&k.ctx).unwrap()).unwrap(), low);
    let size3 = k.eval.mul(&ct, &ct).unwrap();
    assert_eq!(Ciphertext::from_bytes(&k.ctx, &size3.to_bytes(&k.ctx).unwrap()).unwrap(), size3);
    let pt = k.eval.encoder().encode(&x, 1, 1024.0).unwrap();
    assert_eq!(Plaintext::from_bytes(&k.ctx, &pt.to_bytes(&k.ctx).unwrap()).unwrap(), pt);
}

#[test]
fn keys_round_trip_and_still_work() {
    let k = Keys::small(12);
    let pk = PublicKey::from_bytes(&k.ctx, &k.pk.to_bytes(&k.ctx).unwrap()).unwrap();
    assert_eq!(pk, k.pk);
    let rlk_bytes = k.rlk.to_bytes(&k.ctx).unwrap();
    let rlk = RelinKey::from_bytes(&k.ctx, &rlk_bytes).unwrap();
    assert_eq!(rlk, k.rlk);
    let gks = GaloisKeys::from_bytes(&k.ctx, &k.gks.to_bytes(&k.ctx).unwrap()).unwrap();
    assert_eq!(gks, k.gks);
    // Seeded a: the relinearization key is about half the size of (b, a) in full.
    let digits = k.ctx.max_level() + 1;
    let full = 2 * digits * k.ctx.degree() * (50 + 50 + 30 * 3) / 8;
    assert!(rlk_bytes.len() < full / 2 + 200, "{} vs {full}", rlk_bytes.len());
    // Keys decoded from bytes still compute.
    let x = random_vec(16, 1.0, 4);
    let mut enc = Encryptor::from_seed(&k.ctx, &pk, [9; 32]).unwrap();
    let ct = enc.encrypt_values(&x).unwrap();
    let sq = k.eval.mul_relin_rescale(&ct, &ct, &rlk).unwrap();
    let rot = k.eval.rotate(&sq, 1, &gks).unwrap();
    let out = k.dec.decrypt_values(&rot).unwrap();
    let expect: Vec<f64> = (0..15).map(|i| x[i + 1] * x[i + 1]).collect();
    assert!(precision_bits(&expect, &out) >= SMALL_MUL_BITS);
}

#[test]
fn malformed_input_is_rejected_without_panic() {
    let k = Keys::small(13);
    let ct = k.enc().encrypt_values(&[1.0, 2.0]).unwrap();
    let bytes = ct.to_bytes(&k.ctx).unwrap();
    // Every truncation is an error.
    for len in (0..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
        assert!(Ciphertext::from_bytes(&k.ctx, &bytes[..len]).is_err(), "truncated at {len}");
    }
    // Trailing garbage.
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(Ciphertext::from_bytes(&k.ctx, &long), Err(CkksError::Malformed { .. })));
    // Wrong magic, kind, level, size.
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(matches!(Ciphertext::from_bytes(&k.ctx, &bad), Err(CkksError::Malformed { .. })));
    assert!(PublicKey::from_bytes(&k.ctx, &bytes).is_err());
    let mut bad = bytes.clone();
    bad[6] = 9;
    assert!(matches!(Ciphertext::from_bytes(&k.ctx, &bad), Err(CkksError::LevelMismatch { .. })));
    let mut bad = bytes.clone();
    bad[6] = 2; // claims a lower level: lengths no longer match
    assert!(Ciphertext::from_bytes(&k.ctx, &bad).is_err());
    let mut bad = bytes.clone();
    bad[7] = 7;
    assert!(matches!(Ciphertext::from_bytes(&k.ctx, &bad), Err(CkksError::Malformed { .. })));
    // Unreduced coefficient: set the first packed 50-bit coefficient to all ones.
    let mut bad = bytes.clone();
    for b in &mut bad[24..31] {
        *b = 0xFF;
    }
    assert_eq!(
        Ciphertext::from_bytes(&k.ctx, &bad).unwrap_err(),
        CkksError::Malformed { what: "coefficient not reduced modulo its prime" }
    );
    // Wrong parameter set.
    let other = CkksParams::insecure_for_tests(11, &[50, 30, 30, 30], 50, 30).unwrap();
    let other = CkksParams::insecure_for_tests(11, &[50, 30, 30], 50, 30).ok().filter(|o| *o != other).unwrap();
    let other_ctx = other.build().unwrap();
    assert!(matches!(Ciphertext::from_bytes(&other_ctx, &bytes), Err(CkksError::ParameterMismatch { .. })));
    // Keys: flipped bytes and truncations are errors, never panics.
    let gks = k.gks.to_bytes(&k.ctx).unwrap();
    for cut in [0, 10, 24, 27, 31, 100, gks.len() / 2, gks.len() - 1] {
        assert!(GaloisKeys::from_bytes(&k.ctx, &gks[..cut]).is_err());
    }
    let mut bad = gks.clone();
    bad[28] = 2; // even Galois element
    assert!(GaloisKeys::from_bytes(&k.ctx, &bad).is_err());
    let rlk = k.rlk.to_bytes(&k.ctx).unwrap();
    for cut in [0, 24, 56, rlk.len() - 1] {
        assert!(RelinKey::from_bytes(&k.ctx, &rlk[..cut]).is_err());
    }
    // Random bytes.
    let noise: Vec<u8> = random_vec(4000, 1.0, 77).iter().map(|v| (v * 1000.0) as i64 as u8).collect();
    assert!(Ciphertext::from_bytes(&k.ctx, &noise).is_err());
    assert!(GaloisKeys::from_bytes(&k.ctx, &noise).is_err());
}
