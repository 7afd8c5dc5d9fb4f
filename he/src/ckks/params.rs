//! Parameter sets: ring degree, modulus chain, special prime and scale, with the
//! 128-bit security check of the HomomorphicEncryption.org standard.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::context::CkksContext;
use super::error::{CkksError, Result};

/// Largest log2(QP) for 128-bit classical security with a ternary secret, from the
/// HomomorphicEncryption.org security standard (Albrecht et al., 2018), Table 1.
pub const HE_STANDARD_128: [(usize, u32); 6] =
    [(1024, 27), (2048, 54), (4096, 109), (8192, 218), (16384, 438), (32768, 881)];

/// The parameter sets that consort ships. Both meet 128-bit security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// N = 8192, primes [60, 40, 40, 60] (the last one is the special prime), scale 2^40:
    /// log QP ≈ 200 ≤ 218, 2 multiplicative levels, 4096 slots (SEAL's and TenSEAL's usual set).
    N8192,
    /// N = 16384, primes [60, 40 × 8, 58] (the last one is the special prime), scale 2^40:
    /// log QP ≈ 438 ≤ 438, 8 multiplicative levels, 8192 slots.
    N16384,
}

impl Preset {
    /// Short human name of the preset, e.g. `"N8192"`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::N8192 => "N8192",
            Preset::N16384 => "N16384",
        }
    }
}

/// A CKKS parameter description. Build the working [`CkksContext`] with [`CkksParams::build`].
///
/// The primes are derived deterministically from the bit sizes (the largest primes
/// ≡ 1 mod 2N below 2^bits), so two parties with the same description get the same ring.
#[derive(Debug, Clone, PartialEq)]
pub struct CkksParams {
    pub(crate) log_n: u32,
    pub(crate) q_bits: Vec<u32>,
    pub(crate) p_bits: u32,
    pub(crate) log_scale: u32,
    pub(crate) insecure: bool,
}

impl CkksParams {
    /// A preset parameter set (128-bit secure).
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::N8192 => Self { log_n: 13, q_bits: vec![60, 40, 40], p_bits: 60, log_scale: 40, insecure: false },
            Preset::N16384 => {
                let mut q_bits = vec![60];
                q_bits.extend(std::iter::repeat_n(40, 8));
                Self { log_n: 14, q_bits, p_bits: 58, log_scale: 40, insecure: false }
            }
        }
    }

    /// A custom parameter set. `q_bits` lists the ciphertext primes from q_0 (the base
    /// prime, which holds the final result) upwards; `p_bits` is the special prime used by
    /// key switching. Refused with [`CkksError::InsecureParameters`] when log2(QP)
    /// exceeds the 128-bit bound for N.
    pub fn new(log_n: u32, q_bits: &[u32], p_bits: u32, log_scale: u32) -> Result<Self> {
        let params = Self { log_n, q_bits: q_bits.to_vec(), p_bits, log_scale, insecure: false };
        params.check_shape()?;
        params.check_security()?;
        Ok(params)
    }

    /// A parameter set **without** the security check: small rings for fast tests only.
    /// Never use it for real data.
    pub fn insecure_for_tests(log_n: u32, q_bits: &[u32], p_bits: u32, log_scale: u32) -> Result<Self> {
        let params = Self { log_n, q_bits: q_bits.to_vec(), p_bits, log_scale, insecure: true };
        params.check_shape()?;
        Ok(params)
    }

    /// Ring degree N.
    pub fn degree(&self) -> usize {
        1usize << self.log_n
    }

    /// Number of slots, N/2.
    pub fn slots(&self) -> usize {
        self.degree() / 2
    }

    /// Highest level of a fresh ciphertext (number of rescales available).
    pub fn max_level(&self) -> usize {
        self.q_bits.len().saturating_sub(1)
    }

    /// Default encoding scale 2^log_scale.
    pub fn default_scale(&self) -> f64 {
        (self.log_scale as f64).exp2()
    }

    /// Bit sizes of the ciphertext primes q_0..q_L.
    pub fn q_bits(&self) -> Vec<u32> {
        self.q_bits.clone()
    }

    /// Bit size of the special prime P.
    pub fn special_bits(&self) -> u32 {
        self.p_bits
    }

    /// Whether this set skipped the security check.
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// Bound on log2(QP) of the HE standard for this N (None when N is not in the table).
    pub fn security_bound(&self) -> Option<u32> {
        HE_STANDARD_128.iter().find(|(n, _)| *n == self.degree()).map(|(_, b)| *b)
    }

    fn check_shape(&self) -> Result<()> {
        if !(4..=15).contains(&self.log_n) {
            return Err(CkksError::InvalidParameters { reason: "log_n must be in 4..=15" });
        }
        if self.q_bits.is_empty() {
            return Err(CkksError::InvalidParameters { reason: "at least one ciphertext prime is needed" });
        }
        let all = self.q_bits.iter().chain(std::iter::once(&self.p_bits));
        if all.clone().any(|b| !(20..=60).contains(b)) {
            return Err(CkksError::InvalidParameters { reason: "prime sizes must be between 20 and 60 bits" });
        }
        let max_q = self.q_bits.iter().copied().max().unwrap_or(0);
        if self.p_bits + 2 < max_q {
            return Err(CkksError::InvalidParameters {
                reason: "the special prime must be about as large as the largest ciphertext prime",
            });
        }
        if !(10..=59).contains(&self.log_scale) {
            return Err(CkksError::InvalidParameters { reason: "log_scale must be in 10..=59" });
        }
        Ok(())
    }

    fn check_security(&self) -> Result<()> {
        let n = self.degree();
        let primes = self.generate_primes()?;
        let log_qp: f64 = primes.iter().map(|&p| (p as f64).log2()).sum();
        let max_log_qp = self.security_bound().unwrap_or(0);
        if log_qp > max_log_qp as f64 {
            return Err(CkksError::InsecureParameters { n, log_qp, max_log_qp });
        }
        Ok(())
    }

    /// The primes [q_0, ..., q_L, P]: for each bit size, the largest unused primes
    /// ≡ 1 mod 2N below 2^bits.
    pub fn generate_primes(&self) -> Result<Vec<u64>> {
        let modulo = 2 * self.degree() as u64;
        let mut out: Vec<u64> = Vec::with_capacity(self.q_bits.len() + 1);
        for &bits in self.q_bits.iter().chain(std::iter::once(&self.p_bits)) {
            // Largest prime below the smallest prime of this size already taken.
            let mut upper = 1u64 << bits;
            if let Some(min_taken) = out.iter().copied().filter(|&p| 64 - p.leading_zeros() == bits).min() {
                upper = min_taken;
            }
            let prime = fhe_math::zq::primes::generate_prime(bits as usize, modulo, upper).ok_or(
                CkksError::InvalidParameters { reason: "not enough NTT-friendly primes of the requested size" },
            )?;
            out.push(prime);
        }
        Ok(out)
    }

    /// Stable 64-bit identifier of the ring (degree and primes); carried by every
    /// serialized object so that a peer cannot mix parameter sets.
    pub fn id(&self) -> Result<u64> {
        let mut h = Sha256::new();
        h.update(b"consort-ckks-params-v1");
        h.update((self.degree() as u64).to_le_bytes());
        for p in self.generate_primes()? {
            h.update(p.to_le_bytes());
        }
        let digest = h.finalize();
        let mut id = [0u8; 8];
        id.iter_mut().zip(digest.iter()).for_each(|(d, s)| *d = *s);
        Ok(u64::from_le_bytes(id))
    }

    /// Precompute everything (NTT tables, rescale constants, encoder tables).
    pub fn build(&self) -> Result<Arc<CkksContext>> {
        CkksContext::new(self.clone()).map(Arc::new)
    }
}
