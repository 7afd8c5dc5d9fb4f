//! What every backend's node part shares: how a failure is reported to the others,
//! reading input off the async runtime, rows from a CSV, pooled statistics, randomness.

use std::path::Path;

use consort_net::{PartyId, Transport};
use consort_protocols::fixed::FracBits;
use consort_protocols::learn::data::Rows;
use consort_protocols::stats::{self, LocalColumns, StatsResult, StatsSpec};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroizing;

use crate::data;
use crate::error::NodeError;

/// Why a member stops, as told to the others: never the private detail itself.
pub type Failure = (NodeError, String);

const PROTOCOL: &str = "protocol error";
/// What the others are told when a member's own input is unusable.
pub const BAD_INPUT: &str = "its input data is invalid (see its log)";

/// A failure and what the others are told: each protocol's `public_reason`, which
/// names steps, rounds and members but never a value of this member's (the full error
/// goes to its own log only).
pub fn fail(e: impl Into<NodeError>) -> Failure {
    let e = e.into();
    let reason = match &e {
        NodeError::Mpc(m) => m.public_reason(),
        NodeError::Fed(f) => f.public_reason(),
        NodeError::Split(s) => s.public_reason(),
        _ => PROTOCOL.to_string(),
    };
    (e, reason)
}

/// A failure of this node's own input: the others learn only that.
pub fn bad_input(e: NodeError) -> Failure {
    (e, BAD_INPUT.to_string())
}

/// Runs `f` (file reading and parsing) off the async runtime that drives the network;
/// its errors are this node's input's fault.
pub async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, NodeError> + Send + 'static,
) -> Result<R, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(NodeError::Internal(format!("reading was interrupted: {e}"))))
        .map_err(bad_input)
}

/// The input file of a node that must have one.
pub fn input_of<'a>(job: &crate::job::Job, input: Option<&'a Path>) -> Result<&'a Path, Failure> {
    input.ok_or_else(|| fail(NodeError::Job { path: job.path.clone(), msg: "no input file".into() }))
}

/// Loads feature columns (and the label) of a CSV into rows.
pub fn load_rows(path: &Path, features: &[String], label: Option<&str>) -> Result<Rows, NodeError> {
    let mut cols: Vec<String> = features.to_vec();
    if let Some(l) = label {
        cols.push(l.to_string());
    }
    let c = data::load_columns(path, &cols)?;
    let d = features.len();
    let n = c.rows();
    let mut rows = Rows { x: Vec::with_capacity(n * d), y: Vec::with_capacity(n), d };
    for i in 0..n {
        for col in c.columns.iter().take(d) {
            rows.x.push(col.get(i).copied().unwrap_or(0.0));
        }
        if label.is_some() {
            rows.y.push(c.columns.get(d).and_then(|col| col.get(i)).copied().unwrap_or(0.0));
        }
    }
    Ok(rows)
}

/// Pooled statistics of a member's training rows (features, then the label if given):
/// the stats protocol among `members` (a dealer, aggregator or server takes no part).
pub async fn pooled_stats<T: Transport>(
    t: &T,
    members: &[PartyId],
    features: &[String],
    label: Option<&str>,
    rows: &Rows,
    frac: FracBits,
    rng: &mut ChaCha20Rng,
) -> Result<StatsResult, Failure> {
    let (sspec, local) = stats_input(features, label, rows, frac)?;
    stats::run_among(t, members, &sspec, &local, rng).await.map_err(fail)
}

/// The stats job over a member's training rows: its spec and the member's columns,
/// checked against the documented range.
pub fn stats_input(
    features: &[String],
    label: Option<&str>,
    rows: &Rows,
    frac: FracBits,
) -> Result<(StatsSpec, LocalColumns), Failure> {
    let mut columns: Vec<String> = features.to_vec();
    let mut local = LocalColumns {
        columns: (0..rows.d)
            .map(|c| (0..rows.n()).map(|i| rows.row(i).get(c).copied().unwrap_or(0.0)).collect())
            .collect(),
    };
    if let Some(l) = label {
        columns.push(l.to_string());
        local.columns.push(rows.y.clone());
    }
    let sspec = StatsSpec { columns, frac_bits: frac, histograms: Default::default() };
    stats::check(&sspec, &local).map_err(|e| bad_input(e.into()))?;
    Ok((sspec, local))
}

/// Pooled means and standard deviations of the features (a zero std becomes 1, so a
/// constant column standardizes to 0).
pub async fn pooled_moments<T: Transport>(
    t: &T,
    members: &[PartyId],
    features: &[String],
    rows: &Rows,
    rng: &mut ChaCha20Rng,
) -> Result<(Vec<f64>, Vec<f64>), Failure> {
    let p = pooled_stats(t, members, features, None, rows, FracBits::default(), rng).await?;
    let means = p.columns.iter().map(|c| c.mean).collect();
    Ok((means, p.columns.iter().map(|c| if c.std > 0.0 { c.std } else { 1.0 }).collect()))
}

/// Share randomness of `me`: from the OS, or (reproducible simulations only) derived
/// from `seed`, `me` and a per-backend `domain`.
pub fn member_rng(seed: Option<u64>, me: PartyId, domain: u64) -> Result<ChaCha20Rng, NodeError> {
    match seed {
        Some(s) => Ok(ChaCha20Rng::seed_from_u64(s ^ (u64::from(me.0) << 32) ^ domain)),
        None => os_rng(),
    }
}

/// A ChaCha20 generator seeded from the OS.
pub fn os_rng() -> Result<ChaCha20Rng, NodeError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| NodeError::Internal(format!("no OS randomness: {e}")))?;
    Ok(ChaCha20Rng::from_seed(*seed))
}

/// 32 bytes of seed: from the OS, or the test seed's bytes.
pub fn seed_bytes(seed: Option<u64>) -> Result<[u8; 32], NodeError> {
    let mut s = [0u8; 32];
    match seed {
        Some(v) => s[..8].copy_from_slice(&v.to_le_bytes()),
        None => getrandom::fill(&mut s).map_err(|e| NodeError::Internal(format!("no OS randomness: {e}")))?,
    }
    Ok(s)
}

/// The members' results must agree: the first pair that differs is named.
pub fn agree<'a, R: PartialEq + 'a>(
    results: impl IntoIterator<Item = (u16, &'a R)>,
    what: &str,
) -> Result<Option<(u16, &'a R)>, NodeError> {
    let mut it = results.into_iter();
    let Some(first) = it.next() else { return Ok(None) };
    if let Some((b, _)) = it.find(|(_, r)| *r != first.1) {
        return Err(NodeError::Disagree { a: first.0, b, what: what.to_string() });
    }
    Ok(Some(first))
}

/// The stds of plaintext moments as the secure side uses them (zero → 1).
pub fn nonzero(stds: Vec<f64>) -> Vec<f64> {
    stds.into_iter().map(|s| if s > 0.0 { s } else { 1.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use consort_protocols::fedavg::FedError;
    use consort_protocols::spdz::MpcError;
    use consort_protocols::split::SplitError;

    /// A member's private value, as it would appear in its own error text.
    const SECRET: &str = "987654.321";

    #[test]
    fn what_the_others_are_told_holds_no_value_of_this_member() {
        let own: Vec<(NodeError, &str)> = vec![
            (
                FedError::Contribution { round: 0, reason: format!("local weight 3 is {SECRET}, beyond max_abs") }
                    .into(),
                "its contribution at round 1 could not be encoded (see its log)",
            ),
            (FedError::Tensor(format!("nan loss after {SECRET}")).into(), "its local training failed (see its log)"),
            (FedError::Usage(format!("weight {SECRET}")).into(), "protocol error (see its log)"),
            (
                NodeError::Mpc(MpcError::Usage {
                    step: "train/3".into(),
                    what: format!("{SECRET} is outside the range"),
                }),
                "a local check failed at step 'train/3' (see its log)",
            ),
            (
                SplitError::Range(format!("activation {SECRET} too large")).into(),
                "its values do not fit the encryption (see its log)",
            ),
            (SplitError::Tensor(format!("loss {SECRET}")).into(), "its local training failed (see its log)"),
            (SplitError::Usage(format!("shape {SECRET}")).into(), "protocol error (see its log)"),
        ];
        for (e, told) in own {
            let full = e.to_string();
            assert!(full.contains(SECRET), "the local error keeps the detail: {full}");
            let (_, reason) = fail(e);
            assert_eq!(reason, told);
        }
        // Protocol events pass in full: they name steps and members, not values.
        let e = NodeError::Mpc(MpcError::MacCheckFailed { step: "train/finish".into() });
        let full = e.to_string();
        assert_eq!(fail(e).1, full);
    }
}
