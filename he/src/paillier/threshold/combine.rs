//! Verification of partial decryptions and their combination (pure functions).

use num_bigint::{BigInt, BigUint, Sign};
use rayon::prelude::*;

use super::ThresholdPublicKey;
use super::partial::PartialDecryption;
use super::proof::{self, batch_rho};
use crate::paillier::bigint::{mul_mod, multi_exp};
use crate::paillier::cipher::Ciphertext;
use crate::paillier::error::{PaillierError, Result};
use crate::paillier::keys::Plaintext;

/// The result of [`ThresholdPublicKey::combine_with_report`]: the plaintexts and the
/// partials that were excluded, each with the error naming its party.
#[derive(Clone, Debug)]
pub struct Combined {
    /// Decrypted plaintexts, one per ciphertext.
    pub plaintexts: Vec<Plaintext>,
    /// `InvalidPartial` errors of the partials left out.
    pub excluded: Vec<PaillierError>,
}

impl ThresholdPublicKey {
    /// Checks a partial decryption of `cts`: party index in range, one value per ciphertext,
    /// and the batch proof against the party's verification key.
    pub fn verify(&self, cts: &[Ciphertext], partial: &PartialDecryption) -> Result<()> {
        let party = partial.index;
        let bad = |reason| PaillierError::InvalidPartial { party, reason };
        let idx = usize::try_from(party).map_err(|_| bad("party index out of range"))?;
        if party >= self.parties || idx >= self.vks.len() {
            return Err(bad("party index out of range"));
        }
        if partial.values.len() != cts.len() {
            return Err(bad("wrong number of values"));
        }
        let cs: Vec<BigUint> = cts.iter().map(|c| c.c.clone()).collect();
        let rho = batch_rho(self, party, &cs, &partial.values);
        let n2 = &self.pk.n2;
        let (big_c, big_ci) = rayon::join(|| multi_exp(&cs, &rho, n2), || multi_exp(&partial.values, &rho, n2));
        if proof::verify(self, idx, &big_c, &big_ci, &partial.proof) {
            Ok(())
        } else {
            Err(bad("the proof of correct decryption does not verify"))
        }
    }

    /// Verifies the partials, drops invalid ones and duplicates, and decrypts from the first
    /// T valid distinct ones. Fails with the first `InvalidPartial` if the invalid ones left
    /// fewer than T, otherwise with `NotEnoughPartials`.
    pub fn combine(&self, cts: &[Ciphertext], partials: &[PartialDecryption]) -> Result<Vec<Plaintext>> {
        self.combine_with_report(cts, partials).map(|c| c.plaintexts)
    }

    /// [`combine`](Self::combine) that also reports which partials were excluded.
    pub fn combine_with_report(&self, cts: &[Ciphertext], partials: &[PartialDecryption]) -> Result<Combined> {
        let checks: Vec<Result<()>> = partials.par_iter().map(|p| self.verify(cts, p)).collect();
        let mut excluded = Vec::new();
        let mut chosen: Vec<&PartialDecryption> = Vec::new();
        for (p, check) in partials.iter().zip(checks) {
            match check {
                Err(e) => excluded.push(e),
                Ok(()) if chosen.iter().any(|q| q.index == p.index) => {}
                Ok(()) if chosen.len() < self.threshold as usize => chosen.push(p),
                Ok(()) => {}
            }
        }
        if chosen.len() < self.threshold as usize {
            return Err(excluded
                .into_iter()
                .next()
                .unwrap_or(PaillierError::NotEnoughPartials { have: chosen.len(), need: self.threshold as usize }));
        }
        let plaintexts = self.combine_verified(cts.len(), &chosen)?;
        Ok(Combined { plaintexts, excluded })
    }

    /// Lagrange combination of exactly T distinct partials that the caller has already
    /// checked with [`verify`](Self::verify) (no verification here: a protocol that must
    /// name and exclude bad partials verifies them itself, once).
    pub fn combine_verified(&self, count: usize, chosen: &[&PartialDecryption]) -> Result<Vec<Plaintext>> {
        let need = self.threshold as usize;
        let distinct: std::collections::BTreeSet<u32> = chosen.iter().map(|p| p.index).collect();
        if chosen.len() != need || distinct.len() != need {
            return Err(PaillierError::NotEnoughPartials { have: distinct.len().min(chosen.len()), need });
        }
        if let Some(p) = chosen.iter().find(|p| p.values.len() != count) {
            return Err(PaillierError::InvalidPartial { party: p.index, reason: "wrong number of values" });
        }
        let xs: Vec<i64> = chosen.iter().map(|p| i64::from(p.index) + 1).collect();
        let delta = BigInt::from_biguint(Sign::Plus, self.delta.clone());
        let mus: Vec<BigInt> = xs
            .iter()
            .map(|&xj| {
                let (num, den) = xs
                    .iter()
                    .filter(|&&x| x != xj)
                    .fold((delta.clone(), BigInt::from(1)), |(nu, de), &x| (nu * x, de * (x - xj)));
                num / den
            })
            .collect();
        let n = &self.pk.n;
        let n2 = &self.pk.n2;
        let four_delta2 = (BigUint::from(4u8) * &self.delta * &self.delta) % n;
        let inv = four_delta2.modinv(n).ok_or(PaillierError::InvalidKey { reason: "4Δ² is not invertible mod n" })?;
        let exps: Vec<(bool, BigUint)> =
            mus.iter().map(|mu| (mu.sign() == Sign::Minus, mu.magnitude() * 2u8)).collect();
        (0..count)
            .into_par_iter()
            .map(|k| {
                let mut pos = BigUint::from(1u8);
                let mut neg = BigUint::from(1u8);
                for (p, (negative, e)) in chosen.iter().zip(&exps) {
                    let Some(ci) = p.values.get(k) else { continue };
                    let t = ci.modpow(e, n2);
                    if *negative {
                        neg = mul_mod(&neg, &t, n2);
                    } else {
                        pos = mul_mod(&pos, &t, n2);
                    }
                }
                let neg_inv =
                    neg.modinv(n2).ok_or(PaillierError::InvalidCiphertext { reason: "c is not coprime to n" })?;
                let c_prime = mul_mod(&pos, &neg_inv, n2);
                let m = (self.pk.l_function(&c_prime) % n) * &inv % n;
                Ok(Plaintext(m))
            })
            .collect()
    }
}
