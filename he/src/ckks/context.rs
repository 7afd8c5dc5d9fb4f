//! The working context: moduli, NTT operators and precomputed constants.
//!
//! Limb order: the special prime P comes **first**, then q_0, ..., q_L. A polynomial over
//! Q_l uses the contiguous moduli `[1, l + 2)`, and one over Q_l·P uses `[0, l + 2)`, so
//! every basis is a slice.

use fhe_math::zq::Modulus;

use super::encoder::EncoderTables;
use super::error::{CkksError, Result};
use super::params::CkksParams;

/// Negacyclic NTT modulo one prime: tfhe-ntt 0.7's `prime64::Plan`, which uses AVX-512 on
/// stable Rust (≈ 2.5× faster here than the tfhe-ntt 0.6 that fhe-math 0.1.1 wraps in
/// `NttOperator`; same bit-reversed output order, checked by a test).
pub(crate) struct NttOperator {
    plan: tfhe_ntt::prime64::Plan,
}

impl NttOperator {
    fn new(p: u64, n: usize) -> Option<Self> {
        tfhe_ntt::prime64::Plan::try_new(n, p).map(|plan| Self { plan })
    }

    /// In-place forward NTT (input and output reduced).
    pub(crate) fn forward(&self, a: &mut [u64]) {
        self.plan.fwd(a);
    }

    /// In-place inverse NTT, normalized.
    pub(crate) fn backward(&self, a: &mut [u64]) {
        self.plan.inv(a);
        self.plan.normalize(a);
    }
}

/// A set of consecutive moduli with their NTT operators.
#[derive(Clone, Copy)]
pub(crate) struct Basis<'a> {
    pub(crate) mods: &'a [Modulus],
    pub(crate) ops: &'a [NttOperator],
}

/// Precomputed state of a parameter set. Shared by `Arc` between all objects.
pub struct CkksContext {
    pub(crate) params: CkksParams,
    pub(crate) id: u64,
    pub(crate) n: usize,
    /// [P, q_0, ..., q_L]
    pub(crate) mods: Vec<Modulus>,
    pub(crate) ops: Vec<NttOperator>,
    /// `inv_q_last[l][j]` = q_l^{-1} mod q_j for j < l (rescale from level l).
    pub(crate) inv_q_last: Vec<Vec<u64>>,
    /// P^{-1} mod q_j (mod-down after key switching).
    pub(crate) inv_p: Vec<u64>,
    pub(crate) encoder: EncoderTables,
}

impl std::fmt::Debug for CkksContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksContext")
            .field("id", &format_args!("{:016x}", self.id))
            .field("n", &self.n)
            .field("moduli", &self.mods.iter().map(|m| **m).collect::<Vec<_>>())
            .finish()
    }
}

fn backend<E: std::fmt::Display>(e: E) -> CkksError {
    CkksError::Backend(e.to_string())
}

impl CkksContext {
    pub(crate) fn new(params: CkksParams) -> Result<Self> {
        let n = params.degree();
        let primes = params.generate_primes()?;
        let (q_primes, p_prime) = match primes.split_last() {
            Some((p, q)) => (q.to_vec(), *p),
            None => return Err(CkksError::InvalidParameters { reason: "no primes" }),
        };
        let ordered: Vec<u64> = std::iter::once(p_prime).chain(q_primes.iter().copied()).collect();
        let mut mods = Vec::with_capacity(ordered.len());
        let mut ops = Vec::with_capacity(ordered.len());
        for &p in &ordered {
            let m = Modulus::new(p).map_err(backend)?;
            let op = NttOperator::new(p, n).ok_or(CkksError::InvalidParameters { reason: "prime without NTT" })?;
            mods.push(m);
            ops.push(op);
        }
        let q_mods = mods.get(1..).unwrap_or(&[]);
        let mut inv_q_last = Vec::with_capacity(q_mods.len());
        for (l, ql) in q_primes.iter().enumerate() {
            let row = q_mods
                .iter()
                .take(l)
                .map(|qj| qj.inv(qj.reduce(*ql)).ok_or(CkksError::InvalidParameters { reason: "primes not coprime" }))
                .collect::<Result<Vec<u64>>>()?;
            inv_q_last.push(row);
        }
        let inv_p = q_mods
            .iter()
            .map(|qj| qj.inv(qj.reduce(p_prime)).ok_or(CkksError::InvalidParameters { reason: "primes not coprime" }))
            .collect::<Result<Vec<u64>>>()?;
        let id = params.id()?;
        Ok(Self { id, n, mods, ops, inv_q_last, inv_p, encoder: EncoderTables::new(n), params })
    }

    /// The parameter description.
    pub fn params(&self) -> &CkksParams {
        &self.params
    }

    /// Identifier of the parameter set (see [`CkksParams::id`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Ring degree N.
    pub fn degree(&self) -> usize {
        self.n
    }

    /// Number of slots, N/2.
    pub fn slots(&self) -> usize {
        self.n / 2
    }

    /// Highest level.
    pub fn max_level(&self) -> usize {
        self.mods.len().saturating_sub(2)
    }

    /// Default scale of the parameter set.
    pub fn default_scale(&self) -> f64 {
        self.params.default_scale()
    }

    /// The ciphertext primes q_0..q_L.
    pub fn q_primes(&self) -> Vec<u64> {
        self.mods.iter().skip(1).map(|m| **m).collect()
    }

    /// The special prime P.
    pub fn special_prime(&self) -> u64 {
        self.mods.first().map(|m| **m).unwrap_or(0)
    }

    /// q_l, the prime dropped by a rescale from level `level`.
    pub fn q_at(&self, level: usize) -> Result<u64> {
        self.mods
            .get(level + 1)
            .map(|m| **m)
            .ok_or(CkksError::LevelMismatch { expected: self.max_level(), found: level })
    }

    pub(crate) fn check_level(&self, level: usize) -> Result<()> {
        if level > self.max_level() {
            return Err(CkksError::LevelMismatch { expected: self.max_level(), found: level });
        }
        Ok(())
    }

    /// Basis Q_l = q_0..q_l.
    pub(crate) fn basis_q(&self, level: usize) -> Result<Basis<'_>> {
        self.check_level(level)?;
        let mods = self.mods.get(1..level + 2).ok_or(CkksError::OutOfLevels)?;
        let ops = self.ops.get(1..level + 2).ok_or(CkksError::OutOfLevels)?;
        Ok(Basis { mods, ops })
    }

    /// Basis P·Q_l = P, q_0..q_l.
    pub(crate) fn basis_qp(&self, level: usize) -> Result<Basis<'_>> {
        self.check_level(level)?;
        let mods = self.mods.get(..level + 2).ok_or(CkksError::OutOfLevels)?;
        let ops = self.ops.get(..level + 2).ok_or(CkksError::OutOfLevels)?;
        Ok(Basis { mods, ops })
    }

    /// Basis of the special prime alone.
    pub(crate) fn basis_p(&self) -> Result<Basis<'_>> {
        let mods = self.mods.get(..1).ok_or(CkksError::OutOfLevels)?;
        let ops = self.ops.get(..1).ok_or(CkksError::OutOfLevels)?;
        Ok(Basis { mods, ops })
    }
}
