//! A node's part of a split-learning job (`backend = "split-he"`): the server serves its
//! share of the dense layer; each client loads its rows, trains in turn and scores its
//! held-out rows (`task = "train"`), or sends its queries (`task = "infer"`).

use std::path::Path;
use std::sync::Arc;

use consort_net::{PartyId, Transport};
use consort_protocols::learn::data::Rows;
use consort_protocols::split::model::{LayerShare, server_init};
use consort_protocols::split::{
    ClientModel, SplitSpec, check_labels, prepare, run_client, run_queries, run_query_server, run_server, split_rows,
};
use tracing::info;

use crate::error::NodeError;
use crate::files::read_text;
use crate::job::{Job, Task};
use crate::report::{JobResult, MemberReport, SplitClientResult, SplitServerResult};
use crate::spdz_job::{BAD_INPUT, Failure, fail, load_rows};

/// The server and the clients (every other party, in order).
pub fn roles(job: &Job, roster: &[PartyId]) -> Result<(PartyId, Vec<PartyId>), NodeError> {
    let server = PartyId(job.split()?.server);
    if !roster.contains(&server) {
        return Err(NodeError::Job {
            path: job.path.clone(),
            msg: format!("[split] server = {} is not in the roster of {} parties", server.0, roster.len()),
        });
    }
    let clients: Vec<PartyId> = roster.iter().copied().filter(|p| *p != server).collect();
    if clients.is_empty() {
        return Err(NodeError::Job { path: job.path.clone(), msg: "split learning needs at least one client".into() });
    }
    Ok((server, clients))
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

/// Client `index`'s prepared (train, test) rows from its file, as the job splits them
/// (also what `simulate`'s plaintext twin and `bench split` use). Blocking.
pub fn client_rows(spec: &SplitSpec, path: &Path, index: usize) -> Result<(Rows, Rows), NodeError> {
    let (train, test) = split_rows(spec, &load(spec, path, true)?, index);
    Ok((prepare(spec, &train), prepare(spec, &test)))
}

/// Runs `f` (file reading and parsing) off the async runtime; its errors are this
/// node's input's fault.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R, NodeError> + Send + 'static) -> Result<R, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(NodeError::Simulation(format!("reading was interrupted: {e}"))))
        .map_err(|e| (e, BAD_INPUT.to_string()))
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

/// Runs this node's part.
pub async fn run<T: Transport>(
    t: &T,
    job: &Job,
    roster: &[PartyId],
    input: Option<&Path>,
) -> Result<JobResult, Failure> {
    let spec = Arc::new(job.split().map_err(fail)?.clone());
    let (server, clients) = roles(job, roster).map_err(fail)?;
    let me = t.me();
    let infer = job.spec.task == Task::Infer;
    if me == server {
        let share = if infer {
            let path = job.model_for(me).map_err(fail)?;
            blocking(move || server_share(&path)).await?
        } else {
            let (w, b) = server_init(&spec);
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
            run_query_server(t, Arc::clone(&spec), share.clone(), &clients).await
        } else {
            run_server(t, Arc::clone(&spec), share.clone(), &clients).await
        }
        .map_err(fail)?;
        return Ok(JobResult::SplitServer(Box::new(SplitServerResult { scheme: spec.scheme, share, turns })));
    }
    let index = clients.iter().position(|p| *p == me).unwrap_or(0);
    let path = input.ok_or_else(|| fail(NodeError::Job { path: job.path.clone(), msg: "no input file".into() }))?;
    if infer {
        let (model_path, p, s) = (job.model_for(me).map_err(fail)?, path.to_path_buf(), Arc::clone(&spec));
        let (model, labelled, queries) = blocking(move || {
            let labelled = has_label(&p, &s.label);
            Ok((client_model(&model_path)?, labelled, load(&s, &p, labelled)?))
        })
        .await?;
        let prepared = Arc::new(prepare(&spec, &queries));
        info!(rows = queries.n(), "sending encrypted queries");
        let predictions = run_queries(t, Arc::clone(&spec), server, &clients, model, prepared).await.map_err(fail)?;
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
    let (train, test) = (Arc::new(train), Arc::new(test));
    info!(train = train.n(), test = test.n(), scheme = spec.scheme.name(), "training as a split-learning client");
    let out = run_client(t, Arc::clone(&spec), server, &clients, train, test).await.map_err(fail)?;
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
