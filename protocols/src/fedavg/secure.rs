//! A member's rounds: local training, the secure sum of the contributions (either
//! backend), and the new global model.

use std::sync::Arc;
use std::time::Instant;

use consort_net::{PartyId, Transport};
use rand_core::Rng;
use tracing::{info, warn};

use super::local::train_local;
use super::model::Arch;
use super::spec::FedAvgSpec;
use super::{FedError, additive, offload, paillier};
use crate::learn::data::Rows;

/// How the round's sum is computed.
pub enum Backend<'a> {
    Additive,
    Paillier(&'a mut paillier::MemberState),
}

/// What happened in one round, as this member saw it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoundLog {
    pub round: usize,
    /// Members whose contributions are in the sum.
    pub contributors: Vec<u16>,
    /// Members whose partial decryption this member used.
    pub decryptors: Vec<u16>,
    /// Members excluded so far for a bad partial decryption.
    pub excluded: Vec<u16>,
    /// Set when the round's average reveals more than the job meant (two contributors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub train_secs: f64,
    /// Encrypt/share, aggregate and decrypt.
    pub secure_secs: f64,
}

/// The final global model and the rounds' log.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberOutcome {
    pub weights: Vec<f64>,
    pub rounds: Vec<RoundLog>,
}

/// Runs every round as member `t.me()` among `members`, on its prepared training rows.
pub async fn run_member<T: Transport>(
    t: &T,
    spec: &FedAvgSpec,
    arch: Arch,
    members: &[PartyId],
    rows: Arc<Rows>,
    mut backend: Backend<'_>,
    rng: &mut (impl Rng + Send),
) -> Result<MemberOutcome, FedError> {
    let me = members
        .iter()
        .position(|p| *p == t.me())
        .ok_or_else(|| FedError::Usage(format!("{} is not a member of this job", t.me())))?;
    let mut global = arch.init(spec.seed);
    let mut rounds = Vec::with_capacity(spec.rounds);
    for round in 0..spec.rounds {
        let start = Instant::now();
        let (s, g, r) = (spec.clone(), global.clone(), Arc::clone(&rows));
        let local = offload(move || train_local(&s, arch, &g, &r, round, me)).await??;
        let train_secs = start.elapsed().as_secs_f64();
        let contribution = contribution(spec, round, &local, rows.n())?;
        let start = Instant::now();
        let mut log = RoundLog { round, train_secs, ..RoundLog::default() };
        let sum = match &mut backend {
            Backend::Additive => {
                log.contributors = members.iter().map(|p| p.0).collect();
                additive::sum_round(t, spec, members, round, &contribution, rng).await?
            }
            Backend::Paillier(state) => state.round(t, spec, round, contribution, &mut log).await?,
        };
        log.secure_secs = start.elapsed().as_secs_f64();
        if let [a, b] = log.contributors[..] {
            let w = format!(
                "round {}: only parties {a} and {b} contributed, so each can compute the other's local model \
                 from the average (min_contributors = {} allows it)",
                round + 1,
                spec.min_contributors
            );
            warn!("{w}");
            log.warning = Some(w);
        }
        global = average(&sum, arch.len())
            .ok_or_else(|| FedError::Usage(format!("round {}: the contributions hold no training rows", round + 1)))?;
        info!(
            round = round + 1,
            of = spec.rounds,
            members = log.contributors.len(),
            train_s = format!("{:.2}", log.train_secs),
            secure_s = format!("{:.2}", log.secure_secs),
            "round done"
        );
        rounds.push(log);
    }
    Ok(MemberOutcome { weights: global, rounds })
}

/// `[n·w…, n]`, after checking every weight against the agreed bound.
fn contribution(spec: &FedAvgSpec, round: usize, local: &[f64], rows: usize) -> Result<Vec<f64>, FedError> {
    if let Some((i, w)) = local.iter().enumerate().find(|(_, w)| !(w.is_finite() && w.abs() <= spec.max_abs)) {
        return Err(FedError::Contribution {
            round,
            reason: format!(
                "local weight {i} is {w}, beyond max_abs = {} (lower the learning rate or raise max_abs)",
                spec.max_abs
            ),
        });
    }
    if rows as u64 > spec.max_rows {
        return Err(FedError::Contribution {
            round,
            reason: format!("{rows} training rows exceed max_rows = {}", spec.max_rows),
        });
    }
    let n = rows as f64;
    let mut v: Vec<f64> = local.iter().map(|w| w * n).collect();
    v.push(n);
    Ok(v)
}

/// The new global model from the summed contributions.
fn average(sum: &[f64], len: usize) -> Option<Vec<f64>> {
    let total = *sum.get(len)?;
    (total >= 0.5).then(|| sum.iter().take(len).map(|s| s / total).collect())
}
