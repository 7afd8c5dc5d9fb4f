//! Keys: ternary secret key, public key, and key-switching keys (relinearization and
//! Galois) for hybrid key switching with one special prime P.
//!
//! A key-switching key from s' to s has one digit per ciphertext prime q_j:
//! `(b_j, a_j)` over Q_L·P with `b_j = -a_j·s + e_j + P·[j = i]·s'` in limb q_i, so that
//! Σ_j [d]_{q_j}·(b_j, a_j) decrypts to P·d·s' and dividing by P gives d·s' plus small noise.
//! The `a` components are expanded from a 32-byte seed (ChaCha20), which is all that is
//! serialized of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::context::CkksContext;
use super::error::{CkksError, Result};
use super::ring::{RnsPoly, galois_permutation, sample_cbd, sample_ternary};

/// 32 bytes of OS randomness.
pub(crate) fn os_seed() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| CkksError::Randomness(e.to_string()))?;
    Ok(seed)
}

/// The secret key s (ternary), kept in NTT form over Q_L·P. Zeroized on drop; its
/// `Debug` prints nothing of it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    pub(crate) poly: RnsPoly,
    pub(crate) params_id: u64,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey { .. redacted }")
    }
}

/// Public key (b, a) = (-a·s + e, a) over Q_L, NTT form; `a` comes from `seed`.
#[derive(Clone, PartialEq)]
pub struct PublicKey {
    pub(crate) b: RnsPoly,
    pub(crate) a: RnsPoly,
    pub(crate) seed: [u8; 32],
    pub(crate) params_id: u64,
}

/// A key-switching key: one (b_j, a_j) pair per ciphertext prime, over Q_L·P.
#[derive(Clone, PartialEq)]
pub struct KeySwitchKey {
    pub(crate) b: Vec<RnsPoly>,
    pub(crate) a: Vec<RnsPoly>,
    pub(crate) seed: [u8; 32],
    pub(crate) params_id: u64,
}

/// Relinearization key: switches s² to s.
#[derive(Clone, PartialEq)]
pub struct RelinKey(pub(crate) KeySwitchKey);

/// Galois keys, indexed by Galois element g (X -> X^g), switching s(X^g) to s.
#[derive(Clone, PartialEq)]
pub struct GaloisKeys {
    pub(crate) keys: BTreeMap<usize, KeySwitchKey>,
    pub(crate) params_id: u64,
}

macro_rules! public_debug {
    ($t:ty, $name:literal) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct($name).finish_non_exhaustive()
            }
        }
    };
}
public_debug!(PublicKey, "PublicKey");
public_debug!(KeySwitchKey, "KeySwitchKey");
public_debug!(RelinKey, "RelinKey");

impl std::fmt::Debug for GaloisKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaloisKeys").field("galois_elements", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl GaloisKeys {
    /// Whether a key for this Galois element is present.
    pub fn contains_element(&self, g: usize) -> bool {
        self.keys.contains_key(&g)
    }
    /// Galois elements held.
    pub fn elements(&self) -> Vec<usize> {
        self.keys.keys().copied().collect()
    }
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub(crate) fn get(&self, g: usize, step: i64) -> Result<&KeySwitchKey> {
        self.keys.get(&g).ok_or(CkksError::MissingGaloisKey { step, galois_element: g })
    }
}

/// Galois element of a left rotation by `step` slots: 5^step mod 2N (steps taken mod N/2).
pub fn galois_element(n: usize, step: i64) -> usize {
    let slots = (n / 2) as i64;
    let k = step.rem_euclid(slots.max(1)) as u64;
    let m = 2 * n as u64;
    let mut result = 1u64;
    let mut base = 5u64 % m;
    let mut e = k;
    while e > 0 {
        if e & 1 == 1 {
            result = result * base % m;
        }
        base = base * base % m;
        e >>= 1;
    }
    result as usize
}

/// Galois element of complex conjugation: 2N - 1.
pub fn conjugation_element(n: usize) -> usize {
    2 * n - 1
}

/// The power-of-two steps ±1, ±2, ±4, ... < N/2: any rotation is a sum of these.
pub fn power_of_two_steps(n: usize) -> Vec<i64> {
    let slots = (n / 2) as i64;
    let mut steps = Vec::new();
    let mut k = 1i64;
    while k < slots {
        steps.push(k);
        steps.push(-k);
        k <<= 1;
    }
    steps
}

pub(crate) fn expand_a(ctx: &CkksContext, seed: &[u8; 32], count: usize, with_p: bool) -> Result<Vec<RnsPoly>> {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    let b = if with_p { ctx.basis_qp(ctx.max_level())? } else { ctx.basis_q(ctx.max_level())? };
    Ok((0..count).map(|_| RnsPoly::uniform(ctx.n, b, &mut rng)).collect())
}

/// Generates all keys from one secret key.
pub struct KeyGenerator {
    ctx: Arc<CkksContext>,
    sk: SecretKey,
    rng: ChaCha20Rng,
}

impl std::fmt::Debug for KeyGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyGenerator { .. redacted }")
    }
}

impl KeyGenerator {
    /// A fresh secret key from OS randomness.
    pub fn new(ctx: &Arc<CkksContext>) -> Result<Self> {
        Ok(Self::from_seed(ctx, os_seed()?))
    }

    /// Deterministic key generation from a seed (tests and reproducible benchmarks).
    pub fn from_seed(ctx: &Arc<CkksContext>, seed: [u8; 32]) -> Self {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let sk = Self::sample_secret(ctx, &mut rng);
        Self { ctx: ctx.clone(), sk, rng }
    }

    fn sample_secret<R: RngCore + CryptoRng>(ctx: &CkksContext, rng: &mut R) -> SecretKey {
        let coeffs = Zeroizing::new(sample_ternary(ctx.n, rng));
        let poly = match ctx.basis_qp(ctx.max_level()) {
            Ok(b) => {
                let mut p = RnsPoly::from_signed(&coeffs, b);
                p.ntt(b);
                p
            }
            Err(_) => RnsPoly::zero(ctx.n, 0),
        };
        SecretKey { poly, params_id: ctx.id }
    }

    /// The secret key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.sk
    }

    fn next_seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        seed
    }

    fn noise_ntt(&mut self, with_p: bool) -> Result<RnsPoly> {
        let level = self.ctx.max_level();
        let b = if with_p { self.ctx.basis_qp(level)? } else { self.ctx.basis_q(level)? };
        let mut e = RnsPoly::from_signed(&sample_cbd(self.ctx.n, &mut self.rng), b);
        e.ntt(b);
        Ok(e)
    }

    /// Public key (-a·s + e, a) over Q_L.
    pub fn public_key(&mut self) -> Result<PublicKey> {
        let ctx = self.ctx.clone();
        let level = ctx.max_level();
        let bq = ctx.basis_q(level)?;
        let seed = self.next_seed();
        let a = expand_a(&self.ctx, &seed, 1, false)?.pop().ok_or(CkksError::Malformed { what: "seed expansion" })?;
        let s_q = self.sk.poly.sub_limbs(1, level + 1);
        let mut b = self.noise_ntt(false)?;
        let mut as_ = a.clone();
        as_.mul_assign(&s_q, bq);
        b.sub_assign(&as_, bq);
        Ok(PublicKey { b, a, seed, params_id: self.ctx.id })
    }

    /// Key-switching key from `s_prime` (NTT over Q_L·P) to s.
    fn switch_key(&mut self, s_prime: &RnsPoly) -> Result<KeySwitchKey> {
        let ctx = self.ctx.clone();
        let level = ctx.max_level();
        let bqp = ctx.basis_qp(level)?;
        let seed = self.next_seed();
        let a = expand_a(&self.ctx, &seed, level + 1, true)?;
        let p = self.ctx.special_prime();
        let mut bs = Vec::with_capacity(level + 1);
        for (j, aj) in a.iter().enumerate() {
            let mut bj = self.noise_ntt(true)?;
            let mut as_ = aj.clone();
            as_.mul_assign(&self.sk.poly, bqp);
            bj.sub_assign(&as_, bqp);
            // Gadget term P·s' in limb q_j only (limb index j + 1, after P).
            let n = self.ctx.n;
            if let (Some(m), Some(dst), Some(src)) = (
                bqp.mods.get(j + 1),
                bj.data.get_mut((j + 1) * n..(j + 2) * n),
                s_prime.data.get((j + 1) * n..(j + 2) * n),
            ) {
                let p_mod = m.reduce(p);
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d = m.add(*d, m.mul(p_mod, s)));
            }
            bs.push(bj);
        }
        Ok(KeySwitchKey { b: bs, a, seed, params_id: self.ctx.id })
    }

    /// Relinearization key (s² to s).
    pub fn relin_key(&mut self) -> Result<RelinKey> {
        let bqp = self.ctx.basis_qp(self.ctx.max_level())?;
        let mut s2 = self.sk.poly.clone();
        s2.mul_assign(&self.sk.poly, bqp);
        let key = self.switch_key(&s2);
        s2.zeroize();
        key.map(RelinKey)
    }

    /// Galois keys for the given rotation steps (left rotations; negative = right),
    /// plus conjugation if asked.
    pub fn galois_keys(&mut self, steps: &[i64], conjugation: bool) -> Result<GaloisKeys> {
        let n = self.ctx.n;
        let mut elements: Vec<usize> = steps.iter().map(|&s| galois_element(n, s)).filter(|&g| g != 1).collect();
        if conjugation {
            elements.push(conjugation_element(n));
        }
        elements.sort_unstable();
        elements.dedup();
        let mut keys = BTreeMap::new();
        for g in elements {
            let perm = galois_permutation(n, g);
            let mut s_g = self.sk.poly.permute(&perm);
            let key = self.switch_key(&s_g);
            s_g.zeroize();
            keys.insert(g, key?);
        }
        Ok(GaloisKeys { keys, params_id: self.ctx.id })
    }

    /// Galois keys for all power-of-two steps (±1, ±2, ...) and conjugation, plus `extra` steps.
    pub fn galois_keys_pow2(&mut self, extra: &[i64]) -> Result<GaloisKeys> {
        let mut steps = power_of_two_steps(self.ctx.n);
        steps.extend_from_slice(extra);
        self.galois_keys(&steps, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::CkksParams;

    #[test]
    fn secret_key_is_redacted_and_zeroizable() {
        let ctx = CkksParams::insecure_for_tests(5, &[30], 30, 20).unwrap().build().unwrap();
        let kg = KeyGenerator::from_seed(&ctx, [3; 32]);
        let mut sk = kg.secret_key().clone();
        assert_eq!(format!("{sk:?}"), "SecretKey { .. redacted }");
        assert_eq!(format!("{kg:?}"), "KeyGenerator { .. redacted }");
        assert!(sk.poly.data.iter().any(|&c| c != 0));
        sk.zeroize();
        assert!(sk.poly.data.iter().all(|&c| c == 0));
        fn zeroized_on_drop<T: ZeroizeOnDrop>() {}
        zeroized_on_drop::<SecretKey>();
    }

    #[test]
    fn galois_elements() {
        assert_eq!(galois_element(16, 0), 1);
        assert_eq!(galois_element(16, 1), 5);
        assert_eq!(galois_element(16, 2), 25);
        assert_eq!(galois_element(16, 3), 125 % 32);
        assert_eq!(galois_element(16, -1), galois_element(16, 7));
        assert_eq!(conjugation_element(16), 31);
        assert_eq!(power_of_two_steps(16), vec![1, -1, 2, -2, 4, -4]);
    }
}
