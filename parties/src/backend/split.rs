//! `backend = "split-he"`: split learning with encrypted activations. The server serves
//! its share of the dense layer; each client loads its rows, trains in turn and scores
//! its held-out rows (`task = "train"`), or sends its queries (`task = "infer"`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use consort_net::{PartyId, Transport};
use consort_protocols::learn::data::{Rows, moments};
use consort_protocols::split::model::{LayerShare, server_init};
use consort_protocols::split::{
    ClientModel, SplitSpec, check_labels, needs_pooled_stats, prepare, run_client, run_queries, run_query_server,
    run_server, split_rows,
};
use tracing::info;

use super::common::{blocking, fail, input_of, load_rows, member_rng, nonzero, pooled_moments};
use super::learn::{Learn, Model, fill, int, table};
use super::{Backend, BoxFuture, Cheating, Collusion, Failure, Helper, HelperRole, Roles, RunCtx, SecurityClaim};
use crate::error::NodeError;
use crate::files::read_text;
use crate::job::{Backend as BackendName, Job, Task};
use crate::report::{Comparison, JobResult, MemberReport, SplitClientResult, SplitServerResult};

/// The split-learning backend.
pub struct SplitHe;

impl Backend for SplitHe {
    fn name(&self) -> BackendName {
        BackendName::SplitHe
    }

    fn tables(&self) -> &'static [&'static str] {
        &["split"]
    }

    fn variants(&self) -> &'static [&'static str] {
        &["ckks", "paillier", "plain"]
    }

    fn set_variant(&self, doc: &mut toml::Table, variant: &str) -> Result<(), String> {
        table(doc, "split")?.insert("scheme".into(), toml::Value::String(variant.into()));
        Ok(())
    }

    fn variant_of(&self, job: &Job) -> Option<&'static str> {
        job.spec.split.as_ref().map(|s| s.scheme.name())
    }

    fn supports(&self, task: Task, model: Option<Model>) -> Result<(), String> {
        match (task, model) {
            (Task::Stats, _) => Err("backend \"split-he\" trains and infers; statistics run under \"additive\"".into()),
            (_, None | Some(Model::Logreg | Model::Cnn1d | Model::Cnn2d)) => Ok(()),
            (_, Some(m)) => Err(format!("backend \"split-he\" trains logreg, cnn1d and cnn2d, not {}", m.name())),
        }
    }

    fn resolve(&self, doc: &mut toml::Table, learn: &Learn) -> Result<(), String> {
        let s = table(doc, "split")?;
        // Logistic regression is the split model with no client layers: the server's
        // dense layer on the standardized features, the softmax loss at the client.
        let model = match learn.model {
            Model::Logreg => "linear",
            other => other.name(),
        };
        fill(s, "model", toml::Value::String(model.into()));
        fill(s, "classes", int(learn.classes.unwrap_or(2)));
        if let Some(e) = learn.epochs {
            fill(s, "epochs", int(e));
        }
        for (k, v) in learn.common() {
            fill(s, k, v);
        }
        Ok(())
    }

    fn helper(&self, job: &Job) -> Option<Helper> {
        let s = job.spec.split.as_ref()?;
        Some(Helper { role: HelperRole::Server, party: PartyId(s.server), may_be_member: true })
    }

    fn roles(&self, job: &Job, roster: &[PartyId], _keys: Option<&Path>) -> Result<Roles, NodeError> {
        let server = PartyId(job.split()?.server);
        if !roster.contains(&server) {
            return Err(NodeError::Job {
                path: job.path.clone(),
                msg: format!("[split] server = {} is not in the roster of {} parties", server.0, roster.len()),
            });
        }
        let clients: Vec<PartyId> = roster.iter().copied().filter(|p| *p != server).collect();
        if clients.is_empty() {
            return Err(NodeError::Job {
                path: job.path.clone(),
                msg: "split learning needs at least one client".into(),
            });
        }
        Ok(Roles {
            roster: roster.to_vec(),
            inputs: clients.clone(),
            outputs: clients.clone(),
            members: clients,
            helper: Some((HelperRole::Server, server)),
        })
    }

    fn input_columns(&self, job: &Job, _me: PartyId) -> Option<Vec<String>> {
        let s = job.split().ok()?;
        match job.spec.task {
            // Queries may come without labels (then no accuracy is reported).
            Task::Infer => Some(s.features.clone()),
            _ => Some(s.features.iter().chain([&s.label]).cloned().collect()),
        }
    }

    fn claims(&self) -> Vec<SecurityClaim> {
        let base = SecurityClaim {
            label: "split-he:ckks",
            variant: Some("ckks"),
            technique: "clients' layers in the clear on their nodes; the server's dense layer on additive shares \
                        W = S + C, evaluated on CKKS (N = 8192, 128-bit) ciphertexts under each client's fresh key",
            trusted: vec![],
            collusion: Collusion::AllButOne,
            learns: vec![
                ("server", "per request which client and how many rows, ciphertexts, turn ends, public key material"),
                (
                    "a client",
                    "its own logits and ∂L/∂a, the share C and hence the whole dense layer W, the other clients' aggregate updates between its turns",
                ),
            ],
            cheating: Cheating::WrongResult,
            cheating_note: "semi-honest: a server returning wrong ciphertexts corrupts training but decrypts nothing; \
                            malformed ciphertexts are refused naming the sender",
            tests: vec![
                "protocols/tests/split.rs::the_server_receives_only_what_the_docs_say",
                "protocols/tests/split.rs::the_layer_share_goes_from_client_to_client_only",
                "protocols/tests/split.rs::a_tampered_ciphertext_is_refused_naming_the_client",
            ],
        };
        let paillier = SecurityClaim {
            label: "split-he:paillier",
            variant: Some("paillier"),
            technique: "as split-he:ckks, with Paillier (2048-bit, fresh client key) at the cut",
            tests: vec![
                "protocols/tests/split.rs::paillier_two_clients_match_plaintext_split_learning",
                "protocols/tests/split.rs::the_server_receives_only_what_the_docs_say",
            ],
            ..base.clone()
        };
        let plain = SecurityClaim {
            label: "split-he:plain",
            variant: Some("plain"),
            technique: "the unencrypted baseline: activations and gradients in the clear (never for real data)",
            collusion: Collusion::None,
            learns: vec![("server", "every client's activations and gradients at the cut")],
            tests: vec!["protocols/tests/split.rs::the_server_receives_only_what_the_docs_say"],
            ..base.clone()
        };
        vec![base, paillier, plain]
    }

    fn run<'a>(&'a self, cx: RunCtx<'a>) -> BoxFuture<'a, Result<JobResult, Failure>> {
        Box::pin(run(cx))
    }

    fn combine(&self, _job: &Job, _roles: &Roles, reports: &[MemberReport]) -> Result<JobResult, NodeError> {
        reports
            .iter()
            .find(|r| matches!(r.result, JobResult::SplitClient(_)))
            .map(|r| r.result.clone())
            .ok_or_else(|| NodeError::Members("no client reported".into()))
    }

    fn twin(&self, job: &Job, roles: &Roles, reports: &[MemberReport]) -> Result<Option<Comparison>, NodeError> {
        if job.spec.task == Task::Infer {
            return Ok(None);
        }
        Ok(Some(super::twin::split(job, &roles.members, reports)?))
    }
}

/// Reads rows (training rows, or queries) and, when `labelled`, checks the labels.
/// Blocking: call it off the async runtime.
fn load(spec: &SplitSpec, path: &Path, labelled: bool) -> Result<Rows, NodeError> {
    let rows = load_rows(path, &spec.features, labelled.then_some(spec.label.as_str()))?;
    if labelled {
        check_labels(spec, &rows).map_err(|m| NodeError::file(path, m))?;
    }
    Ok(rows)
}

/// Client `index`'s raw (train, test) rows from its file, as the job splits them.
pub fn client_rows(spec: &SplitSpec, path: &Path, index: usize) -> Result<(Rows, Rows), NodeError> {
    Ok(split_rows(spec, &load(spec, path, true)?, index))
}

fn prepared(spec: &SplitSpec, rows: &Rows, pooled: Option<(&[f64], &[f64])>) -> Result<Rows, NodeError> {
    prepare(spec, rows, pooled).map_err(NodeError::from)
}

/// Every client's prepared (train, test) rows, computed in the clear from all their
/// files (the plaintext twin and `bench split`; pooled moments where the model needs
/// them, as the clients compute them securely).
pub fn plain_client_data(spec: &SplitSpec, files: &[PathBuf]) -> Result<Vec<(Rows, Rows)>, NodeError> {
    let raw = files.iter().enumerate().map(|(i, f)| client_rows(spec, f, i)).collect::<Result<Vec<_>, _>>()?;
    let pooled = match needs_pooled_stats(spec.model) {
        true => {
            let trains: Vec<Rows> = raw.iter().map(|(tr, _)| tr.clone()).collect();
            let (m, s) = moments(&Rows::concat(&trains));
            Some((m, nonzero(s)))
        }
        false => None,
    };
    let p = pooled.as_ref().map(|(m, s)| (m.as_slice(), s.as_slice()));
    raw.iter().map(|(tr, te)| Ok((prepared(spec, tr, p)?, prepared(spec, te, p)?))).collect()
}

/// Whether the query file has the label column (then the client also reports accuracy).
fn has_label(path: &Path, label: &str) -> bool {
    csv::Reader::from_path(path)
        .ok()
        .and_then(|mut r| r.headers().ok().map(|h| h.iter().any(|c| c == label)))
        .unwrap_or(false)
}

/// Loads a trained part from a result file of a training run.
fn load_result(path: &Path) -> Result<JobResult, NodeError> {
    let text = read_text(path)?;
    let report: MemberReport = serde_json::from_str(&text)
        .map_err(|e| NodeError::file(path, format!("not a result file of `consort run`: {e}")))?;
    Ok(report.result)
}

fn client_model(path: &Path) -> Result<ClientModel, NodeError> {
    match load_result(path)? {
        JobResult::SplitClient(c) => {
            c.model.ok_or_else(|| NodeError::file(path, "this result holds no model (an inference run?)".into()))
        }
        _ => Err(NodeError::file(path, "not a split-learning client's training result".into())),
    }
}

fn server_share(path: &Path) -> Result<LayerShare, NodeError> {
    match load_result(path)? {
        JobResult::SplitServer(s) => Ok(s.share),
        _ => Err(NodeError::file(path, "not a split-learning server's result".into())),
    }
}

async fn run(cx: RunCtx<'_>) -> Result<JobResult, Failure> {
    let (t, job) = (&cx.t, cx.job);
    let spec = Arc::new(job.split().map_err(fail)?.clone());
    let (server, clients) = match cx.roles.helper {
        Some((_, s)) => (s, cx.roles.members.clone()),
        None => return Err(fail(NodeError::Job { path: job.path.clone(), msg: "no server".into() })),
    };
    let me = t.me();
    let infer = job.spec.task == Task::Infer;
    if me == server {
        return serve(cx, &spec, &clients, infer).await;
    }
    let index = clients.iter().position(|p| *p == me).unwrap_or(0);
    let path = input_of(job, cx.input)?;
    if infer {
        let (model_path, p, s) = (job.model_for(me).map_err(fail)?, path.to_path_buf(), Arc::clone(&spec));
        let (model, labelled, queries) = blocking(move || {
            let labelled = has_label(&p, &s.label);
            Ok((client_model(&model_path)?, labelled, load(&s, &p, labelled)?))
        })
        .await?;
        let pooled = model.pooled.as_ref().map(|(m, s)| (m.as_slice(), s.as_slice()));
        let queries_p = Arc::new(prepared(&spec, &queries, pooled).map_err(fail)?);
        info!(rows = queries.n(), "sending encrypted queries");
        let predictions = run_queries(t, Arc::clone(&spec), server, &clients, model, queries_p).await.map_err(fail)?;
        let accuracy = (labelled && queries.n() > 0).then(|| {
            predictions.iter().zip(&queries.y).filter(|(p, y)| **p as f64 == **y).count() as f64 / queries.n() as f64
        });
        return Ok(JobResult::SplitClient(Box::new(SplitClientResult {
            scheme: spec.scheme,
            model: None,
            losses: Vec::new(),
            train_rows: 0,
            rows: queries.n(),
            accuracy,
            predictions,
        })));
    }
    let (p, s) = (path.to_path_buf(), Arc::clone(&spec));
    let (train, test) = blocking(move || client_rows(&s, &p, index)).await?;
    // The linear model standardizes with the clients' pooled moments (the stats
    // protocol among the clients; the server takes no part).
    let pooled = match needs_pooled_stats(spec.model) {
        true => {
            let mut rng = member_rng(cx.seed, me, 0x5917).map_err(fail)?;
            Some(pooled_moments(t, &clients, &spec.features, &train, &mut rng).await?)
        }
        false => None,
    };
    let pr = pooled.as_ref().map(|(m, s)| (m.as_slice(), s.as_slice()));
    let (train, test) = (prepared(&spec, &train, pr).map_err(fail)?, prepared(&spec, &test, pr).map_err(fail)?);
    let (train, test) = (Arc::new(train), Arc::new(test));
    info!(train = train.n(), test = test.n(), scheme = spec.scheme.name(), "training as a split-learning client");
    let mut out = run_client(t, Arc::clone(&spec), server, &clients, train, test).await.map_err(fail)?;
    out.model.pooled = pooled;
    Ok(JobResult::SplitClient(Box::new(SplitClientResult {
        scheme: spec.scheme,
        model: Some(out.model),
        losses: out.losses,
        train_rows: out.train_rows,
        rows: out.test_rows,
        accuracy: out.test_accuracy,
        predictions: out.predictions,
    })))
}

/// The server's part: its share of the layer (fresh, or from its training result).
async fn serve(cx: RunCtx<'_>, spec: &Arc<SplitSpec>, clients: &[PartyId], infer: bool) -> Result<JobResult, Failure> {
    let (t, job) = (&cx.t, cx.job);
    let share = if infer {
        let path = job.model_for(t.me()).map_err(fail)?;
        blocking(move || server_share(&path)).await?
    } else {
        let (w, b) = server_init(spec);
        LayerShare { w, b }
    };
    if share.w.len() != spec.cut() * spec.classes || share.b.len() != spec.classes {
        return Err(fail(NodeError::Job {
            path: job.path.clone(),
            msg: format!("the server's model is not {}×{}", spec.cut(), spec.classes),
        }));
    }
    info!(clients = clients.len(), scheme = spec.scheme.name(), "serving the split model's middle layer");
    let turns = if infer {
        run_query_server(t, Arc::clone(spec), share.clone(), clients).await
    } else {
        run_server(t, Arc::clone(spec), share.clone(), clients).await
    }
    .map_err(fail)?;
    Ok(JobResult::SplitServer(Box::new(SplitServerResult { scheme: spec.scheme, share, turns })))
}
