#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, dead_code)]
//! Shared helpers of the CKKS integration tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use consort_he::ckks::*;

/// Documented precision bounds (bits, −log2 of the max abs error on values in [-1, 1]) for
/// the small test set N = 2^11, primes [50, 30, 30, 30] + 50, scale 2^30.
pub const SMALL_FRESH_BITS: f64 = 13.5;
pub const SMALL_MUL_BITS: f64 = 13.0;
pub const SMALL_DEPTH_BITS: f64 = 12.0;
/// Mat-vec and inner products (sums of up to 64 products of values in [-1, 1]).
pub const SMALL_MATVEC_BITS: f64 = 13.0;

pub struct Keys {
    pub ctx: Arc<CkksContext>,
    pub pk: PublicKey,
    pub rlk: RelinKey,
    pub gks: GaloisKeys,
    pub dec: Decryptor,
    pub eval: Evaluator,
    pub sk: SecretKey,
    seed: u8,
    counter: AtomicU8,
}

pub fn small_params() -> CkksParams {
    CkksParams::insecure_for_tests(11, &[50, 30, 30, 30], 50, 30).unwrap()
}

impl Keys {
    pub fn small(seed: u8) -> Self {
        Self::for_params(&small_params(), seed, &[1, 2, 5, -1, -7, 100, 4])
    }

    pub fn for_params(params: &CkksParams, seed: u8, steps: &[i64]) -> Self {
        let ctx = params.build().unwrap();
        let mut kg = KeyGenerator::from_seed(&ctx, [seed; 32]);
        let pk = kg.public_key().unwrap();
        let rlk = kg.relin_key().unwrap();
        let gks = kg.galois_keys_pow2(steps).unwrap();
        let dec = Decryptor::new(&ctx, kg.secret_key()).unwrap();
        let eval = Evaluator::new(&ctx);
        let sk = kg.secret_key().clone();
        Self { ctx, pk, rlk, gks, dec, eval, sk, seed, counter: AtomicU8::new(0) }
    }

    pub fn enc(&self) -> Encryptor {
        let c = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut seed = [self.seed; 32];
        seed[1] = c;
        seed[2] = 0xE5;
        Encryptor::from_seed(&self.ctx, &self.pk, seed).unwrap()
    }
}

/// Deterministic pseudo-random values in [-bound, bound].
pub fn random_vec(len: usize, bound: f64, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * bound
        })
        .collect()
}

/// −log2 of the max absolute error over the expected prefix.
pub fn precision_bits(expect: &[f64], got: &[f64]) -> f64 {
    let err = expect.iter().zip(got).map(|(a, b)| (a - b).abs()).fold(0.0f64, f64::max);
    assert!(got.len() >= expect.len());
    let bits = -err.max(f64::MIN_POSITIVE).log2();
    println!("precision: {bits:.2} bits");
    bits
}

pub fn rotate_plain(x: &[f64], step: i64) -> Vec<f64> {
    let n = x.len() as i64;
    (0..n).map(|i| x[(i + step).rem_euclid(n) as usize]).collect()
}
