//! The batched MAC check of SPDZ2k (malicious mode).
//!
//! Every opened value `y` is logged with this member's MAC share `m_i`. A check:
//! 1. tosses a coin: each member commits to a random seed, then opens it; the XOR seeds
//!    ChaCha20, which draws a coefficient `χ_j ∈ Z_2^64` per logged value, so the
//!    combination is fixed only after every opening is;
//! 2. per opening step, each member computes `σ_i = Σ_j χ_j·m_ij − α_i·Σ_j χ_j·y_j`
//!    (mod 2^128), commits to its `σ` vector and the hash of every opened and input value
//!    it saw, then opens;
//! 3. a commitment that does not match names its member; a hash that differs means
//!    someone equivocated; a step whose `σ`s do not sum to zero failed the check.
//!
//! A changed share shifts `Σσ` by `α·δ` for an unknown `α`: it passes with probability
//! about 2^-57 when `δ` touches the low 64 bits (the value); changes only above bit 64 do
//! not change any value.

use consort_net::{StepId, Transport};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::prep::Preprocessing;
use super::wire;
use super::{Engine, MpcError, Security};

/// Above this many logged values an opening triggers a check, to bound memory.
pub(crate) const AUTO_CHECK_VALUES: usize = 1 << 22;

struct Entry {
    step: StepId,
    ys: Vec<u128>,
    ms: Vec<u128>,
}

/// Opened values awaiting their MAC check, and the hash of everything public so far.
pub(crate) struct CheckLog {
    entries: Vec<Entry>,
    values: usize,
    transcript: Sha256,
    dirty: bool,
}

impl Default for CheckLog {
    fn default() -> Self {
        CheckLog { entries: Vec::new(), values: 0, transcript: Sha256::new(), dirty: false }
    }
}

impl CheckLog {
    pub(crate) fn record(&mut self, step: &StepId, ys: &[u128], ms: Vec<u128>) {
        self.absorb(step, ys);
        self.values += ys.len();
        self.entries.push(Entry { step: step.clone(), ys: ys.to_vec(), ms });
    }

    /// Adds public values (openings, masked inputs) to the transcript hash.
    pub(crate) fn absorb(&mut self, step: &StepId, vals: &[u128]) {
        self.transcript.update(step.as_str().as_bytes());
        self.transcript.update((vals.len() as u64).to_le_bytes());
        for v in vals {
            self.transcript.update(v.to_le_bytes());
        }
        self.dirty = true;
    }

    pub(crate) fn values(&self) -> usize {
        self.values
    }
}

fn commit(tag: &[u8], body: &[u8], nonce: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update((body.len() as u64).to_le_bytes());
    h.update(body);
    h.update(nonce);
    h.finalize().into()
}

impl<T: Transport, P: Preprocessing> Engine<'_, T, P> {
    /// Runs the MAC check over everything opened since the last one (no-op in
    /// semi-honest mode or when nothing was opened). Four rounds.
    pub async fn check(&mut self, step: &StepId) -> Result<(), MpcError> {
        if self.security == Security::SemiHonest || !self.log.dirty {
            return Ok(());
        }
        let log = std::mem::take(&mut self.log);

        // 1. Coin: commit to a seed, then open it.
        let mut seed = [0u8; 32];
        let mut nonce = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        self.rng.fill_bytes(&mut nonce);
        let coin_c = step.child("coin-commit");
        self.send_members(&coin_c, commit(b"consort/coin", &seed, &nonce).to_vec().into()).await?;
        let commits = self.gather_members(&coin_c).await?;
        let coin_o = step.child("coin-open");
        self.send_members(&coin_o, [seed, nonce].concat().into()).await?;
        let mut coin = seed;
        for ((from, c), (_, opened)) in commits.iter().zip(self.gather_members(&coin_o).await?) {
            let (s, n) = opened.split_at(opened.len().min(32));
            let n: [u8; 32] = n.try_into().unwrap_or([0; 32]);
            if opened.len() != 64 || commit(b"consort/coin", s, &n).as_slice() != c.as_ref() {
                return Err(MpcError::BadCommitment { party: *from, step: coin_o.to_string() });
            }
            for (a, b) in coin.iter_mut().zip(s) {
                *a ^= b;
            }
        }

        // 2. σ per opening step, committed together with the transcript hash.
        // The copy moved to the rayon thread is wiped when the closure is done with it.
        let alpha = zeroize::Zeroizing::new(self.alpha);
        let sigmas = super::offload(move || {
            let alpha = *alpha;
            let mut chi = ChaCha20Rng::from_seed(coin);
            let sig: Vec<u128> = log
                .entries
                .iter()
                .map(|e| {
                    let (mut sy, mut sm) = (0u128, 0u128);
                    for (y, m) in e.ys.iter().zip(&e.ms) {
                        let c = u128::from(chi.next_u64());
                        sy = sy.wrapping_add(c.wrapping_mul(*y));
                        sm = sm.wrapping_add(c.wrapping_mul(*m));
                    }
                    sm.wrapping_sub(alpha.wrapping_mul(sy))
                })
                .collect();
            let hash: [u8; 32] = log.transcript.finalize().into();
            let steps: Vec<StepId> = log.entries.into_iter().map(|e| e.step).collect();
            (sig, hash, steps)
        })
        .await?;
        let (mut total, hash, steps) = sigmas;
        let mut body = wire::encode(Security::Malicious, &total).to_vec();
        body.extend_from_slice(&hash);
        let mut nonce2 = [0u8; 32];
        self.rng.fill_bytes(&mut nonce2);
        let sig_c = step.child("sigma-commit");
        self.send_members(&sig_c, commit(b"consort/sigma", &body, &nonce2).to_vec().into()).await?;
        let commits = self.gather_members(&sig_c).await?;
        let sig_o = step.child("sigma-open");
        body.extend_from_slice(&nonce2);
        self.send_members(&sig_o, body.into()).await?;
        let expected = total.len() * 16 + 64;
        let mut differing = None;
        for ((from, c), (_, opened)) in commits.iter().zip(self.gather_members(&sig_o).await?) {
            if opened.len() != expected {
                return Err(MpcError::BadCommitment { party: *from, step: sig_o.to_string() });
            }
            let (b, n) = opened.split_at(expected - 32);
            let n: [u8; 32] = n.try_into().unwrap_or([0; 32]);
            if commit(b"consort/sigma", b, &n).as_slice() != c.as_ref() {
                return Err(MpcError::BadCommitment { party: *from, step: sig_o.to_string() });
            }
            let (sig, theirs) = b.split_at(total.len() * 16);
            if theirs != hash && differing.is_none() {
                differing = Some(*from);
            }
            let sig = wire::decode(Security::Malicious, *from, &sig_o, sig, total.len())?;
            for (t, s) in total.iter_mut().zip(sig) {
                *t = t.wrapping_add(s);
            }
        }
        // A wrong MAC is reported first: it is what a cheating member causes even when it
        // is consistent; a differing transcript alone means someone equivocated.
        if let Some((_, s)) = total.iter().zip(&steps).find(|(t, _)| **t != 0) {
            return Err(MpcError::MacCheckFailed { step: s.to_string() });
        }
        if let Some(party) = differing {
            return Err(MpcError::Inconsistent { party, step: step.to_string() });
        }
        Ok(())
    }
}
