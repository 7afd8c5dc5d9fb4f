//! Ciphertexts, public-key encryption and decryption.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zeroize::Zeroizing;

use super::context::CkksContext;
use super::encoder::{Encoder, Plaintext};
use super::error::{CkksError, Result};
use super::keys::{PublicKey, SecretKey, os_seed};
use super::ring::{RnsPoly, sample_cbd, sample_ternary};

/// A ciphertext (c_0, c_1[, c_2]) in NTT form over Q_level, decrypting to
/// c_0 + c_1·s (+ c_2·s²) ≈ scale · m.
#[derive(Clone, PartialEq)]
pub struct Ciphertext {
    pub(crate) polys: Vec<RnsPoly>,
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) params_id: u64,
}

impl std::fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ciphertext")
            .field("size", &self.polys.len())
            .field("level", &self.level)
            .field("scale", &self.scale)
            .finish_non_exhaustive()
    }
}

impl Ciphertext {
    /// Level: the number of rescales still possible.
    pub fn level(&self) -> usize {
        self.level
    }
    /// Current scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Number of polynomials (2, or 3 after a multiplication without relinearization).
    pub fn size(&self) -> usize {
        self.polys.len()
    }
    /// Identifier of the parameter set.
    pub fn params_id(&self) -> u64 {
        self.params_id
    }
    /// Override the recorded scale (e.g. to treat 2^80/q_l as 2^40 after a rescale).
    /// The plaintext is unchanged, so decoded values are multiplied by old/new scale.
    pub fn set_scale(&mut self, scale: f64) {
        self.scale = scale;
    }
}

/// Encrypts with the public key. Holds its own CSPRNG, seeded from the OS.
pub struct Encryptor {
    ctx: Arc<CkksContext>,
    pk: PublicKey,
    encoder: Encoder,
    rng: ChaCha20Rng,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encryptor { .. }")
    }
}

impl Encryptor {
    /// An encryptor seeded from OS randomness.
    pub fn new(ctx: &Arc<CkksContext>, pk: &PublicKey) -> Result<Self> {
        Self::from_seed(ctx, pk, os_seed()?)
    }

    /// Deterministic encryptor (tests and benchmarks only).
    pub fn from_seed(ctx: &Arc<CkksContext>, pk: &PublicKey, seed: [u8; 32]) -> Result<Self> {
        if pk.params_id != ctx.id {
            return Err(CkksError::ParameterMismatch { expected: ctx.id, found: pk.params_id });
        }
        Ok(Self { ctx: ctx.clone(), pk: pk.clone(), encoder: Encoder::new(ctx), rng: ChaCha20Rng::from_seed(seed) })
    }

    /// Encrypt a plaintext at its level: (v·b + e_0 + m, v·a + e_1) with v ternary.
    pub fn encrypt(&mut self, pt: &Plaintext) -> Result<Ciphertext> {
        if pt.params_id != self.ctx.id {
            return Err(CkksError::ParameterMismatch { expected: self.ctx.id, found: pt.params_id });
        }
        let level = pt.level;
        let b = self.ctx.basis_q(level)?;
        let n = self.ctx.n;
        let mut v = RnsPoly::from_signed(&sample_ternary(n, &mut self.rng), b);
        v.ntt(b);
        let mut c0 = RnsPoly::from_signed(&sample_cbd(n, &mut self.rng), b);
        let mut c1 = RnsPoly::from_signed(&sample_cbd(n, &mut self.rng), b);
        c0.ntt(b);
        c1.ntt(b);
        c0.add_product(&v, &self.pk.b.prefix(level + 1), b);
        c1.add_product(&v, &self.pk.a.prefix(level + 1), b);
        c0.add_assign(&pt.poly, b);
        Ok(Ciphertext { polys: vec![c0, c1], level, scale: pt.scale, params_id: self.ctx.id })
    }

    /// Encode (top level, default scale) and encrypt up to N/2 values.
    pub fn encrypt_values(&mut self, values: &[f64]) -> Result<Ciphertext> {
        let pt = self.encoder.encode_default(values)?;
        self.encrypt(&pt)
    }
}

/// Decrypts with the secret key.
pub struct Decryptor {
    ctx: Arc<CkksContext>,
    sk: SecretKey,
    encoder: Encoder,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decryptor { .. redacted }")
    }
}

impl Decryptor {
    /// A decryptor holding a copy of the secret key (zeroized on drop).
    pub fn new(ctx: &Arc<CkksContext>, sk: &SecretKey) -> Result<Self> {
        if sk.params_id != ctx.id {
            return Err(CkksError::ParameterMismatch { expected: ctx.id, found: sk.params_id });
        }
        Ok(Self { ctx: ctx.clone(), sk: sk.clone(), encoder: Encoder::new(ctx) })
    }

    /// c_0 + c_1·s (+ c_2·s²).
    pub fn decrypt(&self, ct: &Ciphertext) -> Result<Plaintext> {
        if ct.params_id != self.ctx.id {
            return Err(CkksError::ParameterMismatch { expected: self.ctx.id, found: ct.params_id });
        }
        let level = ct.level;
        let b = self.ctx.basis_q(level)?;
        let s = Zeroizing::new(self.sk.poly.sub_limbs(1, level + 1));
        let mut polys = ct.polys.iter();
        let mut m = polys.next().cloned().ok_or(CkksError::CiphertextSize { expected: 2, found: 0 })?;
        let mut s_pow = Zeroizing::new((*s).clone());
        for c in polys {
            m.add_product(c, &s_pow, b);
            s_pow.mul_assign(&s, b);
        }
        Ok(Plaintext { poly: m, level, scale: ct.scale, params_id: ct.params_id })
    }

    /// Decrypt and decode all N/2 slots.
    pub fn decrypt_values(&self, ct: &Ciphertext) -> Result<Vec<f64>> {
        self.encoder.decode(&self.decrypt(ct)?)
    }
}
