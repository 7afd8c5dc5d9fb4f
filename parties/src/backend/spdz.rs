//! `backend = "spdz"`: training and inference on secret shares with a dealer. The
//! dealer serves preprocessing; the members standardize with pooled statistics, then
//! train or infer on shares (`protocols/src/spdz/`, `protocols/src/learn/`).

use std::path::Path;
use std::time::Duration;

use consort_net::{PartyId, StepId, Transport};
use consort_protocols::fixed::FracBits;
use consort_protocols::learn::data::Rows;
use consort_protocols::learn::model::{TrainedModel, accuracy, mse};
use consort_protocols::learn::spec::{ModelKind, TrainSpec};
use consort_protocols::spdz::prep::{DealerClient, DealerCore, serve_dealer};
use consort_protocols::spdz::{Engine, Security};
use tracing::info;

use super::common::{blocking, fail, input_of, load_rows, seed_bytes, stats_input};
use super::learn::{Learn, Model, fill, table};
use super::{Backend, BoxFuture, Cheating, Collusion, Failure, Fault, Helper, HelperRole, Roles, RunCtx};
use super::{SecurityClaim, Trusted};
use crate::error::NodeError;
use crate::job::{Backend as BackendName, Job, Task};
use crate::report::{Comparison, DealerResult, Evaluation, InferResult, JobResult, MemberReport, TrainResult};

/// The SPDZ backend.
pub struct Spdz;

/// How long the dealer waits for the members' next reservation.
const DEALER_IDLE: Duration = Duration::from_secs(600);

/// `[spdz]` keys; every other key of a neutral job's `[spdz]` is a training knob.
const ENGINE_KEYS: &[&str] = &["security", "dealer", "frac_bits"];

impl Backend for Spdz {
    fn name(&self) -> BackendName {
        BackendName::Spdz
    }

    fn tables(&self) -> &'static [&'static str] {
        &["spdz", "train", "infer"]
    }

    fn variants(&self) -> &'static [&'static str] {
        &["semi-honest", "malicious"]
    }

    fn set_variant(&self, doc: &mut toml::Table, variant: &str) -> Result<(), String> {
        table(doc, "spdz")?.insert("security".into(), toml::Value::String(variant.into()));
        Ok(())
    }

    fn variant_of(&self, job: &Job) -> Option<&'static str> {
        job.spec.spdz.as_ref().map(|s| match s.security {
            Security::SemiHonest => "semi-honest",
            Security::Malicious => "malicious",
        })
    }

    fn supports(&self, task: Task, model: Option<Model>) -> Result<(), String> {
        match (task, model) {
            (Task::Stats, _) => Err("backend \"spdz\" trains and infers; statistics run under \"additive\"".into()),
            (_, None | Some(Model::Logreg | Model::Mlp)) => Ok(()),
            (_, Some(m)) => Err(format!("backend \"spdz\" trains logreg and mlp, not {}", m.name())),
        }
    }

    fn resolve(&self, doc: &mut toml::Table, learn: &Learn) -> Result<(), String> {
        if learn.model == Model::Logreg && learn.classes.is_some_and(|c| c != 2) {
            return Err("[learn] logreg has 2 classes".into());
        }
        // Training knobs given under [spdz] (sigmoid, hidden, l2, ...) belong to [train].
        let spdz = table(doc, "spdz")?;
        let knobs: Vec<(String, toml::Value)> = spdz
            .iter()
            .filter(|(k, _)| !ENGINE_KEYS.contains(&k.as_ref()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, _) in &knobs {
            spdz.remove(k);
        }
        let train = table(doc, "train")?;
        for (k, v) in knobs {
            train.insert(k, v);
        }
        fill(train, "model", toml::Value::String(learn.model.name().into()));
        if let Some(e) = learn.epochs {
            fill(train, "epochs", super::learn::int(e));
        }
        for (k, v) in learn.common() {
            fill(train, k, v);
        }
        Ok(())
    }

    fn helper(&self, job: &Job) -> Option<Helper> {
        let s = job.spec.spdz.as_ref()?;
        Some(Helper { role: HelperRole::Dealer, party: PartyId(s.dealer), may_be_member: false })
    }

    /// The largest message of a SPDZ job is an input block or an opening of at most
    /// `MAX_INPUT_VALUES` values (256 MiB at 16 bytes in malicious mode); a peer may
    /// hold four of them at a node: 1 GiB.
    fn peer_budget(&self, _job: &Job) -> u64 {
        4 * consort_protocols::spdz::MAX_INPUT_VALUES as u64 * 16
    }

    fn roles(&self, job: &Job, roster: &[PartyId], _keys: Option<&Path>) -> Result<Roles, NodeError> {
        let dealer = PartyId(job.spdz()?.dealer);
        if !roster.contains(&dealer) {
            return Err(NodeError::Job {
                path: job.path.clone(),
                msg: format!("the dealer, {dealer}, is not in the roster of {} parties", roster.len()),
            });
        }
        let members: Vec<PartyId> = roster.iter().copied().filter(|p| *p != dealer).collect();
        let (inputs, outputs) = match job.spec.task {
            Task::Infer => {
                let i = job.infer()?;
                (vec![PartyId(i.model_owner), PartyId(i.input_owner)], vec![PartyId(i.input_owner)])
            }
            _ => {
                let reveal = &job.train()?.reveal_to;
                let out =
                    if reveal.is_empty() { members.clone() } else { reveal.iter().map(|p| PartyId(*p)).collect() };
                (members.clone(), out)
            }
        };
        Ok(Roles { roster: roster.to_vec(), members, helper: Some((HelperRole::Dealer, dealer)), inputs, outputs })
    }

    fn input_columns(&self, job: &Job, me: PartyId) -> Option<Vec<String>> {
        match job.spec.task {
            // The model owner's input is a model file; the input owner's rows may have a label.
            Task::Infer => job
                .infer()
                .ok()
                .filter(|i| PartyId(i.input_owner) == me)
                .map(|i| i.features.iter().chain(&i.label).cloned().collect()),
            _ => job.train().ok().map(|t| t.features.iter().chain([&t.label]).cloned().collect()),
        }
    }

    fn check_files(
        &self,
        job: &Job,
        _: &Roles,
        me: PartyId,
        _: Option<&Path>,
        input: Option<&Path>,
    ) -> Result<(), NodeError> {
        let (Task::Infer, Some(path)) = (job.spec.task, input) else { return Ok(()) };
        let spec = job.infer()?;
        if PartyId(spec.model_owner) == me {
            let m = load_model(path)?;
            m.check(spec.model, &spec.features, spec.hidden).map_err(|e| NodeError::file(path, e))?;
        }
        Ok(())
    }

    fn claims(&self) -> Vec<SecurityClaim> {
        let learns = vec![
            (
                "members",
                "training: pooled means and standard deviations, every member's row count, the public batch order, \
                 the model (only `reveal_to`), the pooled loss at `loss_every` epochs; inference: the input owner its \
                 predictions (for logreg the scores w·x + b, one-to-one with them), the model owner the row count",
            ),
            ("dealer", "every triple and the MAC key; no input and no opened value"),
        ];
        let base = SecurityClaim {
            label: "spdz:semi-honest",
            variant: Some("semi-honest"),
            technique: "additive sharing over Z_2^64, Beaver and matrix triples and truncation pairs from a dealer",
            trusted: vec![("dealer", Trusted::PrivacyAndCorrectness)],
            collusion: Collusion::AllButOne,
            learns,
            cheating: Cheating::WrongResult,
            cheating_note: "a changed share changes the result undetected",
            tests: vec![
                "protocols/tests/spdz_engine.rs::a_changed_share_silently_changes_the_result_in_semi_honest_mode",
                "protocols/tests/spdz_engine.rs::inputs_and_openings_on_the_wire_look_random",
                "protocols/tests/spdz_engine.rs::reveal_to_one_member_tells_only_that_member",
                "protocols/tests/spdz_prep.rs::the_dealer_node_conforms",
            ],
        };
        let malicious = SecurityClaim {
            label: "spdz:malicious",
            variant: Some("malicious"),
            technique: "SPDZ2k: shares and MACs in Z_2^128, a shared MAC key, batch MAC check before any output",
            cheating: Cheating::Abort,
            cheating_note: "a changed share or opened value is caught with probability ≈ 1 − 2^-57 before any output; \
                            the pooled statistics for standardization are computed in the engine from MACed inputs \
                            with a checked reveal, and row counts and masked inputs join the checked transcript: a \
                            member that equivocates or changes a share anywhere makes every member abort; what no \
                            protocol can stop is a member inputting false rows",
            tests: vec![
                "protocols/tests/spdz_engine.rs::a_changed_share_makes_every_member_abort_in_malicious_mode",
                "tests/spdz.rs::a_cheating_member_makes_every_honest_member_abort",
                "protocols/tests/spdz_stats.rs::a_member_that_equivocates_on_its_sums_makes_every_member_abort",
                "protocols/tests/spdz_stats.rs::a_member_that_equivocates_on_a_count_makes_every_member_abort",
                "protocols/tests/spdz_stats.rs::a_changed_share_in_the_sums_makes_every_member_abort",
                "protocols/tests/spdz_engine.rs::inputs_and_openings_on_the_wire_look_random",
            ],
            ..base.clone()
        };
        vec![base, malicious]
    }

    fn run<'a>(&'a self, cx: RunCtx<'a>) -> BoxFuture<'a, Result<JobResult, Failure>> {
        Box::pin(run(cx))
    }

    fn combine(&self, job: &Job, roles: &Roles, reports: &[MemberReport]) -> Result<JobResult, NodeError> {
        if job.spec.task == Task::Infer {
            let owner = job.infer()?.input_owner;
            let r = reports
                .iter()
                .find(|r| r.party == owner)
                .ok_or_else(|| NodeError::Members("the input owner did not report".into()))?;
            return Ok(r.result.clone());
        }
        let models = reports.iter().filter_map(|r| match &r.result {
            JobResult::Train(t) => t.model.as_ref().map(|m| (r.party, m)),
            _ => None,
        });
        super::common::agree(models, "models")?;
        let holder = reports
            .iter()
            .find(|r| matches!(&r.result, JobResult::Train(t) if t.model.is_some()))
            .or_else(|| reports.iter().find(|r| roles.members.contains(&PartyId(r.party))))
            .ok_or_else(|| NodeError::Members("no member reported".into()))?;
        Ok(holder.result.clone())
    }

    fn twin(&self, job: &Job, roles: &Roles, reports: &[MemberReport]) -> Result<Option<Comparison>, NodeError> {
        match self.combine(job, roles, reports)? {
            JobResult::Train(t) => match &t.model {
                Some(m) => Ok(Some(super::twin::compare(job, &roles.members, m)?)),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }
}

async fn run(cx: RunCtx<'_>) -> Result<JobResult, Failure> {
    let (t, job) = (&cx.t, cx.job);
    let spdz = job.spdz().map_err(fail)?.clone();
    let dealer = PartyId(spdz.dealer);
    let members = &cx.roles.members;
    if t.me() == dealer {
        info!("dealing preprocessing to {} members ({})", members.len(), spdz.security);
        let core = DealerCore::new(members.len(), spdz.security, seed_bytes(cx.seed).map_err(fail)?);
        let stats = serve_dealer(t, members, core, DEALER_IDLE).await.map_err(fail)?;
        return Ok(JobResult::Dealer(DealerResult { reservations: stats.reservations, values: stats.values }));
    }
    let me = members.iter().position(|p| *p == t.me()).unwrap_or(0);
    let frac = FracBits::new(spdz.frac_bits)
        .map_err(|e| fail(NodeError::Job { path: job.path.clone(), msg: e.to_string() }))?;
    let corrupt = cx.fault == Some(Fault::CorruptShare);
    match job.spec.task {
        Task::Train => {
            let spec = job.train().map_err(fail)?.clone();
            let p = input_of(job, cx.input)?.to_path_buf();
            let (features, label) = (spec.features.clone(), spec.label.clone());
            let rows = blocking(move || load_rows(&p, &features, Some(&label))).await?;
            let (train_rows, test_rows) = rows.split(spec.test_fraction, spec.seed, me);
            let (sspec, local) = stats_input(&spec.features, Some(&spec.label), &train_rows, frac)?;
            let client = DealerClient::connect(t, dealer, me, spdz.security).await.map_err(fail)?;
            let mut e = Engine::new(t, members.clone(), client, frac).map_err(fail)?;
            // The standardization's statistics inside the engine: MACed inputs and a
            // checked reveal, so malicious mode holds from the first message.
            let pooled = e.pooled_stats(&sspec, &local).await.map_err(fail)?;
            // The test fault hits training (cheating in the statistics is tested on
            // the engine: protocols/tests/spdz_stats.rs).
            arm_fault(&mut e, corrupt);
            train(&mut e, &spec, spdz.security, (train_rows, test_rows), pooled).await
        }
        Task::Infer => {
            let spec = job.infer().map_err(fail)?.clone();
            let (mo, io) = (PartyId(spec.model_owner), PartyId(spec.input_owner));
            let mut model = None;
            let mut rows = None;
            if t.me() == mo || t.me() == io {
                let path = input_of(job, cx.input)?.to_path_buf();
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
                    let (features, label) = (spec.features.clone(), spec.label.clone());
                    rows = Some(blocking(move || load_rows(&path, &features, label.as_deref())).await?);
                }
            }
            let client = DealerClient::connect(t, dealer, me, spdz.security).await.map_err(fail)?;
            let mut e = Engine::new(t, members.clone(), client, frac).map_err(fail)?;
            arm_fault(&mut e, corrupt);
            let x = rows.as_ref().map(|r| r.x.as_slice());
            let predictions = e.infer(&StepId::root("infer"), &spec, model.as_ref(), x).await.map_err(fail)?;
            e.finish(&StepId::root("finish")).await.map_err(fail)?;
            // Scored where the predictions and the labels already are: nothing is sent.
            let evaluation = match (&predictions, &rows, &spec.label) {
                (Some(p), Some(r), Some(label)) => Some(evaluate(spec.model, label, p, &r.y)),
                _ => None,
            };
            Ok(JobResult::Infer(InferResult { security: spdz.security, predictions, evaluation }))
        }
        Task::Stats => {
            Err(fail(NodeError::Job { path: job.path.clone(), msg: "stats jobs use the additive backend".into() }))
        }
    }
}

/// Test builds: with `--fault corrupt-share`, this member cheats at its next opening.
fn arm_fault<T: Transport>(e: &mut Engine<'_, T, DealerClient<'_, T>>, corrupt: bool) {
    #[cfg(feature = "test-tools")]
    if corrupt {
        e.inject_share_fault(1);
    }
    #[cfg(not(feature = "test-tools"))]
    let _ = (e, corrupt);
}

/// The predictions against the input owner's labels: accuracy at 0.5 (logreg) or the
/// mean squared error (MLP).
fn evaluate(model: ModelKind, label: &str, predictions: &[f64], y: &[f64]) -> Evaluation {
    let n = predictions.len().min(y.len());
    let (metric, value) = match model {
        ModelKind::Logreg => {
            let right = predictions.iter().zip(y).filter(|(p, y)| f64::from(u8::from(**p >= 0.5)) == **y).count();
            ("accuracy", right as f64 / n.max(1) as f64)
        }
        ModelKind::Mlp => {
            ("mse", predictions.iter().zip(y).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / n.max(1) as f64)
        }
    };
    Evaluation { label: label.to_string(), metric: metric.into(), value, rows: n }
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

async fn train<T: Transport>(
    e: &mut Engine<'_, T, DealerClient<'_, T>>,
    spec: &TrainSpec,
    security: Security,
    (train, test): (Rows, Rows),
    pooled: consort_protocols::stats::StatsResult,
) -> Result<JobResult, Failure> {
    let d = spec.features.len();
    let means: Vec<f64> = pooled.columns.iter().take(d).map(|c| c.mean).collect();
    let stds: Vec<f64> = pooled.columns.iter().take(d).map(|c| if c.std > 0.0 { c.std } else { 1.0 }).collect();
    let (label_mean, label_std) = match spec.model {
        ModelKind::Logreg => (0.0, 1.0),
        ModelKind::Mlp => pooled.columns.get(d).map_or((0.0, 1.0), |c| (c.mean, if c.std > 0.0 { c.std } else { 1.0 })),
    };
    let x = train.standardized(&means, &stds);
    let y: Vec<f64> = train.y.iter().map(|v| (v - label_mean) / label_std).collect();
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
