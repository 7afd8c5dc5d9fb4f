//! A node's part of a `backend = "spdz"` job: the dealer serves preprocessing; the
//! members standardize with pooled statistics, then train or infer on shares.

use std::path::Path;
use std::time::Duration;

use consort_net::{PartyId, StepId, Transport};
use consort_protocols::fixed::FracBits;
use consort_protocols::learn::data::Rows;
use consort_protocols::learn::model::{TrainedModel, accuracy, mse};
use consort_protocols::learn::spec::{ModelKind, TrainSpec};
use consort_protocols::spdz::prep::{DealerClient, DealerCore, serve_dealer};
use consort_protocols::spdz::{Engine, Security};
use consort_protocols::stats::{self, LocalColumns, StatsResult, StatsSpec};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tracing::info;

use crate::data;
use crate::error::NodeError;
use crate::job::{Job, Task};
use crate::report::{DealerResult, InferResult, JobResult, TrainResult};

/// Why a member stops, as told to the others: never the private detail itself.
pub type Failure = (NodeError, String);

const PROTOCOL: &str = "protocol error";
pub(crate) const BAD_INPUT: &str = "its input data is invalid (see its log)";

/// A failure and what the others are told. Engine errors (a failed MAC check, a broken
/// commitment) and federated-averaging errors name steps, rounds and members, never
/// values: the others may read them.
pub(crate) fn fail(e: impl Into<NodeError>) -> Failure {
    let e = e.into();
    let reason = match &e {
        NodeError::Mpc(m) => m.to_string(),
        NodeError::Fed(f) => f.to_string(),
        NodeError::Split(e @ consort_protocols::split::SplitError::Bad { .. }) => e.to_string(),
        _ => PROTOCOL.to_string(),
    };
    (e, reason)
}

/// How long the dealer waits for the members' next reservation.
const DEALER_IDLE: Duration = Duration::from_secs(600);

async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R, NodeError> + Send + 'static) -> Result<R, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(NodeError::Simulation(format!("reading was interrupted: {e}"))))
        .map_err(|e| (e, BAD_INPUT.to_string()))
}

fn seed_bytes(seed: Option<u64>) -> Result<[u8; 32], NodeError> {
    let mut s = [0u8; 32];
    match seed {
        Some(v) => s[..8].copy_from_slice(&v.to_le_bytes()),
        None => getrandom::fill(&mut s).map_err(|e| NodeError::Certs(format!("no OS randomness: {e}")))?,
    }
    Ok(s)
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

/// Reads a model file: a bare model, or a `consort run` training result holding one.
pub fn load_model(path: &Path) -> Result<TrainedModel, NodeError> {
    let text = crate::files::read_text(path)?;
    if let Ok(m) = serde_json::from_str::<TrainedModel>(&text) {
        return Ok(m);
    }
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| NodeError::file(path, format!("not JSON: {e}")))?;
    let inner = v.get("result").and_then(|r| r.get("model")).cloned().unwrap_or(serde_json::Value::Null);
    serde_json::from_value(inner)
        .map_err(|e| NodeError::file(path, format!("neither a model nor a training result with a model: {e}")))
}

/// Runs this node's part. `corrupt` makes a member cheat (fault-injection tests).
pub async fn run<T: Transport>(
    t: &T,
    job: &Job,
    input: Option<&Path>,
    seed: Option<u64>,
    corrupt: bool,
) -> Result<JobResult, Failure> {
    let spdz = job.spdz().map_err(fail)?.clone();
    let dealer = PartyId(spdz.dealer);
    if !t.parties().contains(&dealer) {
        return Err(fail(NodeError::Job {
            path: job.path.clone(),
            msg: format!("the dealer, {dealer}, is not in this node's roster"),
        }));
    }
    let members: Vec<PartyId> = t.parties().iter().copied().filter(|p| *p != dealer).collect();
    if t.me() == dealer {
        info!("dealing preprocessing to {} members ({})", members.len(), spdz.security);
        let core = DealerCore::new(members.len(), spdz.security, seed_bytes(seed).map_err(fail)?);
        let stats = serve_dealer(t, &members, core, DEALER_IDLE).await.map_err(fail)?;
        return Ok(JobResult::Dealer(DealerResult { reservations: stats.reservations, values: stats.values }));
    }
    let me = members.iter().position(|p| *p == t.me()).unwrap_or(0);
    let frac = FracBits::new(spdz.frac_bits)
        .map_err(|e| fail(NodeError::Job { path: job.path.clone(), msg: e.to_string() }))?;
    match job.spec.task {
        Task::Train => {
            let spec = job.train().map_err(fail)?.clone();
            let path =
                input.ok_or_else(|| fail(NodeError::Job { path: job.path.clone(), msg: "no input file".into() }))?;
            let (p, features, label) = (path.to_path_buf(), spec.features.clone(), spec.label.clone());
            let rows = blocking(move || load_rows(&p, &features, Some(&label))).await?;
            train(t, &spec, &members, me, dealer, spdz.security, frac, rows, seed, corrupt).await
        }
        Task::Infer => {
            let spec = job.infer().map_err(fail)?.clone();
            let (mo, io) = (PartyId(spec.model_owner), PartyId(spec.input_owner));
            let mut model = None;
            let mut rows = None;
            if t.me() == mo || t.me() == io {
                let path = input
                    .ok_or_else(|| fail(NodeError::Job { path: job.path.clone(), msg: "no input file".into() }))?
                    .to_path_buf();
                if t.me() == mo {
                    let s = spec.clone();
                    model = Some(
                        blocking(move || {
                            let m = load_model(&path)?;
                            m.check(s.model, &s.features, s.hidden).map_err(|e| NodeError::file(&path, e))?;
                            Ok(m)
                        })
                        .await?,
                    );
                } else {
                    let features = spec.features.clone();
                    rows = Some(blocking(move || load_rows(&path, &features, None)).await?.x);
                }
            }
            let client = DealerClient::connect(t, dealer, me, spdz.security).await.map_err(fail)?;
            let mut e = Engine::new(t, members.clone(), client, frac).map_err(fail)?;
            if corrupt {
                e.inject_share_fault(1);
            }
            let predictions =
                e.infer(&StepId::root("infer"), &spec, model.as_ref(), rows.as_deref()).await.map_err(fail)?;
            e.finish(&StepId::root("finish")).await.map_err(fail)?;
            Ok(JobResult::Infer(InferResult { security: spdz.security, predictions }))
        }
        Task::Stats => {
            Err(fail(NodeError::Job { path: job.path.clone(), msg: "stats jobs use the additive backend".into() }))
        }
    }
}

/// Pooled statistics of a member's training rows (features, then the label if given):
/// the stats protocol among `members` (a dealer or aggregator node takes no part).
pub async fn pooled_stats<T: Transport>(
    t: &T,
    members: &[PartyId],
    features: &[String],
    label: Option<&str>,
    rows: &Rows,
    frac: FracBits,
    rng: &mut ChaCha20Rng,
) -> Result<StatsResult, Failure> {
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
    let aggregates =
        stats::local_aggregates(&sspec, &local, members.len()).map_err(|e| (e.into(), BAD_INPUT.to_string()))?;
    stats::run_among(t, members, &sspec, &aggregates, rng).await.map_err(fail)
}

#[allow(clippy::too_many_arguments)]
async fn train<T: Transport>(
    t: &T,
    spec: &TrainSpec,
    members: &[PartyId],
    me: usize,
    dealer: PartyId,
    security: Security,
    frac: consort_protocols::fixed::FracBits,
    rows: Rows,
    seed: Option<u64>,
    corrupt: bool,
) -> Result<JobResult, Failure> {
    let (train, test) = rows.split(spec.test_fraction, spec.seed, me);
    // Pooled means and standard deviations of the training rows: the stats protocol
    // among the members (the dealer takes no part).
    let mut rng = match seed {
        Some(s) => ChaCha20Rng::seed_from_u64(s ^ ((me as u64) << 32)),
        None => ChaCha20Rng::from_seed(seed_bytes(None).map_err(fail)?),
    };
    let pooled = pooled_stats(t, members, &spec.features, Some(&spec.label), &train, frac, &mut rng).await?;
    let d = spec.features.len();
    let means: Vec<f64> = pooled.columns.iter().take(d).map(|c| c.mean).collect();
    let stds: Vec<f64> = pooled.columns.iter().take(d).map(|c| if c.std > 0.0 { c.std } else { 1.0 }).collect();
    let (label_mean, label_std) = match spec.model {
        ModelKind::Logreg => (0.0, 1.0),
        ModelKind::Mlp => pooled.columns.get(d).map_or((0.0, 1.0), |c| (c.mean, if c.std > 0.0 { c.std } else { 1.0 })),
    };
    let x = train.standardized(&means, &stds);
    let y: Vec<f64> = train.y.iter().map(|v| (v - label_mean) / label_std).collect();

    let client = DealerClient::connect(t, dealer, me, security).await.map_err(fail)?;
    let mut e = Engine::new(t, members.to_vec(), client, frac).map_err(fail)?;
    if corrupt {
        e.inject_share_fault(1);
    }
    let reveal_to: Vec<PartyId> = spec.reveal_to.iter().map(|p| PartyId(*p)).collect();
    let out = e.train(&StepId::root("train"), spec, &x, &y, d, &reveal_to).await.map_err(fail)?;
    e.finish(&StepId::root("finish")).await.map_err(fail)?;
    let model = out.weights.map(|w| TrainedModel {
        model: spec.model,
        features: spec.features.clone(),
        label: spec.label.clone(),
        means,
        stds,
        label_mean,
        label_std,
        sigmoid: spec.sigmoid.clone(),
        weights: w.weights(spec.model, d, spec.hidden),
    });
    let metric = model.as_ref().filter(|_| test.n() > 0).map(|m| match spec.model {
        ModelKind::Logreg => accuracy(m, &test.x, &test.y, false),
        ModelKind::Mlp => mse(m, &test.x, &test.y, false),
    });
    Ok(JobResult::Train(Box::new(TrainResult {
        security,
        model,
        iterations: out.iterations,
        rows: out.counts,
        losses: out.losses,
        local_test_rows: test.n(),
        local_test_metric: metric,
    })))
}
