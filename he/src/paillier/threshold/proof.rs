//! Fiat–Shamir proof of equality of discrete logs (SHA-256), and the batch coefficients ρ_k.

use crypto_bigint::{BoxedUint, ConcatenatingMul};
use num_bigint::BigUint;
use rand_core::CryptoRng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::ThresholdPublicKey;
use crate::paillier::bigint::{ct_pow, from_boxed, mul_mod, precision, random_bits_secret, resized, to_fixed_bytes};

const DOMAIN_PROOF: &[u8] = b"consort-he/paillier/threshold/dleq/v1";
const DOMAIN_RHO: &[u8] = b"consort-he/paillier/threshold/batch-rho/v1";

/// A proof (e, z) that log_{C^4}(C_i^2) = log_v(v_i).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proof {
    pub(crate) e: u128,
    pub(crate) z: BigUint,
}

/// Bits of the prover's randomness r: |n²| + |Δ| + 2·128 + 256, so that r hides
/// e·Δ·s_i (e < 2^128, s_i < n², Δ = N!) statistically for any member count.
pub(crate) fn r_bits(tpk: &ThresholdPublicKey) -> u32 {
    let exponent = tpk.pk.n2.bits().saturating_add(tpk.delta.bits());
    u32::try_from(exponent).unwrap_or(u32::MAX).saturating_add(2 * 128 + 256)
}

/// Encoded length of z (z < 2^(r_bits + 1)).
pub(crate) fn z_len(tpk: &ThresholdPublicKey) -> usize {
    usize::try_from((r_bits(tpk) + 1).div_ceil(8)).unwrap_or(usize::MAX)
}

fn challenge(tpk: &ThresholdPublicKey, vi: &BigUint, base: &BigUint, h: &BigUint, a: &BigUint, b: &BigUint) -> u128 {
    let len = tpk.pk.ciphertext_len();
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN_PROOF);
    hasher.update(to_fixed_bytes(&tpk.pk.n, len));
    for x in [&tpk.v, vi, base, h, a, b] {
        hasher.update(to_fixed_bytes(x, len));
    }
    let digest = hasher.finalize();
    let mut e = [0u8; 16];
    e.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
    u128::from_be_bytes(e)
}

/// Proves log_{C^4}(C_i^2) = log_v(v_i) = Δ s_i. `delta_s` is Δ·s_i (secret).
pub(crate) fn prove<R: CryptoRng + ?Sized>(
    tpk: &ThresholdPublicKey,
    index: usize,
    delta_s: &BoxedUint,
    c: &BigUint,
    ci: &BigUint,
    rng: &mut R,
) -> Proof {
    let n2 = &tpk.pk.n2;
    let base = c.modpow(&BigUint::from(4u8), n2);
    let h = mul_mod(ci, ci, n2);
    let vi = tpk.vks.get(index).cloned().unwrap_or_default();
    let rb = r_bits(tpk);
    let r = random_bits_secret(rng, rb);
    let (a, b) = rayon::join(|| ct_pow(&base, &r, &tpk.pk.params_n2), || ct_pow(&tpk.v, &r, &tpk.pk.params_n2));
    let e = challenge(tpk, &vi, &base, &h, &a, &b);
    let zp = precision(u64::from(rb.max(delta_s.bits_precision() + 128)) + 64);
    let e_b = resized(&BoxedUint::from(e), 128);
    let es = Zeroizing::new(resized(&delta_s.concatenating_mul(&e_b), zp));
    let z = Zeroizing::new(resized(&r, zp).wrapping_add(&*es));
    Proof { e, z: from_boxed(&z) }
}

/// Checks a proof for party `index` on the combined values (C, C_i).
pub(crate) fn verify(tpk: &ThresholdPublicKey, index: usize, c: &BigUint, ci: &BigUint, proof: &Proof) -> bool {
    let n2 = &tpk.pk.n2;
    let Some(vi) = tpk.vks.get(index) else { return false };
    let base = c.modpow(&BigUint::from(4u8), n2);
    let h = mul_mod(ci, ci, n2);
    let e = BigUint::from(proof.e);
    let (a, b) = rayon::join(|| div_pow(&base, &proof.z, &h, &e, n2), || div_pow(&tpk.v, &proof.z, vi, &e, n2));
    match (a, b) {
        (Some(a), Some(b)) => challenge(tpk, vi, &base, &h, &a, &b) == proof.e,
        _ => false,
    }
}

/// x^z · y^{-e} mod m (None if y is not invertible).
fn div_pow(x: &BigUint, z: &BigUint, y: &BigUint, e: &BigUint, m: &BigUint) -> Option<BigUint> {
    let ye_inv = y.modpow(e, m).modinv(m)?;
    Some(mul_mod(&x.modpow(z, m), &ye_inv, m))
}

/// The batch coefficients ρ_k: SHA-256 of (n, party index, all c_k, all c_{i,k}) as a seed,
/// then ρ_k = first 128 bits of SHA-256(seed, k).
pub(crate) fn batch_rho(tpk: &ThresholdPublicKey, index: u32, cts: &[BigUint], partials: &[BigUint]) -> Vec<u128> {
    let len = tpk.pk.ciphertext_len();
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN_RHO);
    hasher.update(to_fixed_bytes(&tpk.pk.n, len));
    hasher.update(index.to_be_bytes());
    hasher.update((cts.len() as u64).to_be_bytes());
    for x in cts.iter().chain(partials) {
        hasher.update(to_fixed_bytes(x, len));
    }
    let seed = hasher.finalize();
    (0..cts.len() as u64)
        .into_par_iter()
        .map(|k| {
            let d = Sha256::new().chain_update(seed).chain_update(k.to_be_bytes()).finalize();
            let mut b = [0u8; 16];
            b.copy_from_slice(d.get(..16).unwrap_or(&[0u8; 16]));
            u128::from_be_bytes(b)
        })
        .collect()
}
