//! Batch partial decryption c_{i,k} = c_k^{2Δ s_i} with one proof, and its wire format.

use crypto_bigint::ConcatenatingMul;
use num_bigint::BigUint;
use rand_core::CryptoRng;
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::proof::{self, Proof, batch_rho, z_len};
use super::{KeyShare, ThresholdPublicKey};
use crate::paillier::bigint::{ct_pow, multi_exp, precision, to_boxed, to_fixed_bytes};
use crate::paillier::cipher::Ciphertext;
use crate::paillier::error::{PaillierError, Result};

/// A member's partial decryption of a batch of ciphertexts with its proof.
///
/// Wire format ([`to_bytes`](Self::to_bytes)): the K values c_{i,k} (each
/// `ciphertext_len()` bytes, big-endian), the 16-byte challenge e, then z in
/// ⌈(|n²| + 513)/8⌉ bytes. The party index and K travel beside it (the caller's framing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialDecryption {
    pub(crate) index: u32,
    pub(crate) values: Vec<BigUint>,
    pub(crate) proof: Proof,
    value_len: usize,
    z_len: usize,
}

impl PartialDecryption {
    /// The 0-based index of the member that made it.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Number of ciphertexts covered.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether it covers no ciphertext.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Encodes as described on the type.
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = self.proof_len_hint();
        let mut out = Vec::with_capacity(self.values.len() * len.0 + 16 + len.1);
        for v in &self.values {
            out.extend_from_slice(&to_fixed_bytes(v, len.0));
        }
        out.extend_from_slice(&self.proof.e.to_be_bytes());
        out.extend_from_slice(&to_fixed_bytes(&self.proof.z, len.1));
        out
    }

    fn proof_len_hint(&self) -> (usize, usize) {
        (self.value_len, self.z_len)
    }

    /// Decodes `count` values from party `index` and validates: exact length, index below N,
    /// every value in Z*_{n²}. The proof is checked by [`ThresholdPublicKey::verify`].
    pub fn from_bytes(tpk: &ThresholdPublicKey, index: u32, count: usize, bytes: &[u8]) -> Result<Self> {
        let bad = |reason| PaillierError::InvalidPartial { party: index, reason };
        if index >= tpk.parties {
            return Err(bad("party index out of range"));
        }
        let ct_len = tpk.pk.ciphertext_len();
        let zl = z_len(tpk);
        let expected = count.checked_mul(ct_len).and_then(|x| x.checked_add(16 + zl));
        if expected != Some(bytes.len()) {
            return Err(bad("wrong encoded length"));
        }
        let (vals, rest) = bytes.split_at(count * ct_len);
        let values: Vec<BigUint> = vals
            .par_chunks(ct_len)
            .map(|chunk| {
                let v = BigUint::from_bytes_be(chunk);
                tpk.pk.check_unit(&v).map(|()| v).map_err(|_| bad("a value is not in Z*_{n^2}"))
            })
            .collect::<Result<_>>()?;
        let (e_bytes, z_bytes) = rest.split_at(16);
        let mut e = [0u8; 16];
        e.copy_from_slice(e_bytes);
        let z = BigUint::from_bytes_be(z_bytes);
        Ok(Self { index, values, proof: Proof { e: u128::from_be_bytes(e), z }, value_len: ct_len, z_len: zl })
    }
}

impl KeyShare {
    /// Partially decrypts a batch: c_k^{2Δ s_i} mod n² for every k (rayon, constant time in
    /// s_i), plus one proof for the ρ-combination of the batch (see the module docs).
    pub fn partial_decrypt<R: CryptoRng + ?Sized>(
        &self,
        tpk: &ThresholdPublicKey,
        cts: &[Ciphertext],
        rng: &mut R,
    ) -> Result<PartialDecryption> {
        if self.n != tpk.pk.n || self.parties != tpk.parties || self.threshold != tpk.threshold {
            return Err(PaillierError::InvalidShare { reason: "the share belongs to another key" });
        }
        let idx = usize::try_from(self.index).map_err(|_| PaillierError::InvalidShare { reason: "bad index" })?;
        if idx >= tpk.vks.len() {
            return Err(PaillierError::InvalidShare { reason: "share index out of range" });
        }
        let delta = to_boxed(&tpk.delta, precision(tpk.delta.bits()));
        let delta_s = Zeroizing::new(self.secret.concatenating_mul(&delta));
        let two = to_boxed(&BigUint::from(2u8), 64);
        let exp = Zeroizing::new(delta_s.concatenating_mul(&two));
        let params = &tpk.pk.params_n2;
        let values: Vec<BigUint> = cts.par_iter().map(|c| ct_pow(&c.c, &exp, params)).collect();
        let cs: Vec<BigUint> = cts.iter().map(|c| c.c.clone()).collect();
        let rho = batch_rho(tpk, self.index, &cs, &values);
        let n2 = &tpk.pk.n2;
        let (big_c, big_ci) = rayon::join(|| multi_exp(&cs, &rho, n2), || multi_exp(&values, &rho, n2));
        let proof = proof::prove(tpk, idx, &delta_s, &big_c, &big_ci, rng);
        Ok(PartialDecryption {
            index: self.index,
            values,
            proof,
            value_len: tpk.pk.ciphertext_len(),
            z_len: z_len(tpk),
        })
    }
}
