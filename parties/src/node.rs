//! `consort run`: one member's part of a job. Connect to the mesh, agree on the job,
//! read the local input, run the protocol, write the result.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use consort_net::{Identity, LinkEmulation, QuicConfig, QuicTransport, SessionId, Transport};
use consort_protocols::stats;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::agree::agree;
use crate::config::Node;
use crate::data;
use crate::error::NodeError;
use crate::files::{check_private, read_text};
use crate::job::{Job, Task, VERSION};
use crate::progress::Spinner;
use crate::report::{JobResult, MemberReport};

/// Deliberate misbehaviour, for fault-injection tests (hidden from `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Stop responding after the job agreement, before the first protocol message
    /// (keeps the connection alive; a test then kills the process).
    StallAfterAgree,
    /// Cheat in an spdz job: add 1 to this member's share of the first opened value and
    /// carry on (the MAC check must catch it).
    CorruptShare,
}

/// Options of one member's run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub node: Node,
    pub job: Job,
    /// Overrides the job's `[inputs]` entry for this member.
    pub input: Option<PathBuf>,
    /// Seeds the share randomness (reproducible simulations only; otherwise OS entropy).
    pub seed: Option<u64>,
    pub link: LinkEmulation,
    pub fault: Option<Fault>,
    /// The threshold key directory of a `fedavg-paillier` job (`consort keygen --out`).
    pub keys: Option<PathBuf>,
}

/// Runs this member's part of the job and returns its report.
pub async fn run(opts: &RunOptions) -> Result<MemberReport, NodeError> {
    let started = Instant::now();
    let node = &opts.node;
    let me = node.me();
    let job_hash = opts.job.hash()?;
    let fedavg = opts.job.spec.backend.is_fedavg();
    let roster: Vec<consort_net::PartyId> = node.roster()?.iter().map(|(p, _)| *p).collect();
    let roles = match fedavg {
        true => Some(crate::fedavg_job::roles(&opts.job, &roster, opts.keys.as_deref())?),
        false => None,
    };
    // The dealer of an spdz job, the aggregator node of a federated job and members
    // without data (inference) have no input.
    let split = opts.job.spec.backend == crate::job::Backend::SplitHe;
    let needs_input = match (&roles, opts.job.spec.task) {
        (Some(r), _) => crate::fedavg_job::needs_input(r, me),
        (None, _) if split => crate::split_job::roles(&opts.job, &roster)?.0 != me,
        (None, Task::Stats | Task::Train) => opts.job.spec.spdz.as_ref().is_none_or(|s| s.dealer != me.0),
        (None, Task::Infer) => {
            opts.job.spec.infer.as_ref().is_some_and(|i| i.model_owner == me.0 || i.input_owner == me.0)
        }
    };
    let input = match &opts.input {
        Some(p) => Some(p.clone()),
        None if needs_input => Some(opts.job.input_for(me)?),
        None => None,
    };
    let members = node.roster()?.len();
    let spinner = Spinner::new(format!("{me}: connecting to {} members", members - 1));
    // Federated averaging with Paillier carries on without members that vanish.
    let tolerant = opts.job.spec.backend == crate::job::Backend::FedavgPaillier;
    let t = connect(node, opts.link, tolerant).await?;
    spinner.set(format!("{me}: agreeing on the job"));
    if let Err(e) = agree(&t, job_hash).await {
        return Err(stop(&t, e, "its job spec differs").await);
    }
    info!(%me, job = %opts.job.spec.name, "all members agree on the job");
    if opts.fault == Some(Fault::StallAfterAgree) {
        warn!("fault injection: stalling");
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }

    let result = match opts.job.spec.task {
        _ if split => {
            spinner.set(format!("{me}: split learning"));
            match crate::split_job::run(&t, &opts.job, &roster, input.as_deref()).await {
                Ok(r) => r,
                Err((e, reason)) => return Err(stop(&t, e, &reason).await),
            }
        }
        Task::Train if let Some(roles) = roles => {
            spinner.set(format!("{me}: federated averaging"));
            match crate::fedavg_job::run(&t, &opts.job, roles, input.as_deref(), opts.keys.as_deref(), opts.seed).await
            {
                Ok(r) => r,
                Err((e, reason)) => return Err(stop(&t, e, &reason).await),
            }
        }
        Task::Train | Task::Infer => {
            spinner.set(format!("{me}: computing ({})", wire_name(&opts.job.spec.task)));
            let corrupt = opts.fault == Some(Fault::CorruptShare);
            match crate::spdz_job::run(&t, &opts.job, input.as_deref(), opts.seed, corrupt).await {
                Ok(r) => r,
                Err((e, reason)) => return Err(stop(&t, e, &reason).await),
            }
        }
        Task::Stats => {
            let input = input.clone().unwrap_or_default();
            let spec = opts.job.stats()?;
            spinner.set(format!("{me}: reading {}", input.display()));
            // File reading and parsing block: keep them off the runtime that drives QUIC.
            let (path, owned) = (input.clone(), spec.clone());
            let loaded = tokio::task::spawn_blocking(move || {
                data::load_columns(&path, &owned.columns)
                    .and_then(|d| data::local_aggregates(&path, &owned, &d, members))
            })
            .await
            .unwrap_or_else(|e| Err(NodeError::file(&input, format!("reading was interrupted: {e}"))));
            let local = match loaded {
                Ok(v) => v,
                // Peers learn that our input is unusable, not which value or where.
                Err(e) => return Err(stop(&t, e, "its input data is invalid (see its log)").await),
            };
            spinner.set(format!("{me}: computing"));
            let mut rng = match opts.seed {
                Some(s) => ChaCha20Rng::seed_from_u64(s ^ (u64::from(me.0) << 32)),
                None => os_rng()?,
            };
            match stats::run(&t, spec, &local, &mut rng).await {
                Ok(r) => JobResult::Stats(r),
                Err(e) => return Err(stop(&t, e.into(), "protocol error").await),
            }
        }
    };
    spinner.set(format!("{me}: finishing"));
    let traffic = t.finish().await?;
    spinner.done();
    Ok(MemberReport {
        party: me.0,
        job: opts.job.spec.name.clone(),
        task: wire_name(&opts.job.spec.task),
        backend: wire_name(&opts.job.spec.backend),
        job_hash: hex::encode(job_hash),
        version: VERSION.into(),
        wall_secs: started.elapsed().as_secs_f64(),
        traffic,
        result,
    })
}

/// The name a job-spec enum has in the TOML file (its serde name).
fn wire_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|j| j.as_str().map(str::to_string)).unwrap_or_default()
}

/// Stops the job for every member after `err`. When another member caused it, the
/// others are told who (so they name the culprit, not us); otherwise they are told
/// `own_reason`, which must not reveal private data.
async fn stop<T: Transport>(t: &T, err: NodeError, own_reason: &str) -> NodeError {
    match err.blamed_party() {
        Some(culprit) if culprit != t.me() => t.abort(&err.to_string(), Some(culprit)).await,
        _ => t.abort(own_reason, None).await,
    }
    err
}

/// Joins the mesh described by a node config.
pub async fn connect(node: &Node, link: LinkEmulation, tolerate_dropouts: bool) -> Result<QuicTransport, NodeError> {
    let identity = load_identity(node)?;
    let (connect, recv, idle) = node.timeouts();
    let mut cfg = QuicConfig::new(node.me(), node.listen()?, node.roster()?);
    cfg.session = SessionId::derive(identity.ca.as_ref());
    cfg.connect_window = connect;
    cfg.recv_timeout = recv;
    cfg.idle_timeout = idle;
    cfg.link = link;
    cfg.tolerate_dropouts = tolerate_dropouts;
    Ok(QuicTransport::connect(cfg, &identity).await?)
}

pub(crate) fn os_rng() -> Result<ChaCha20Rng, NodeError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| NodeError::Certs(format!("no OS randomness: {e}")))?;
    Ok(ChaCha20Rng::from_seed(*seed))
}

fn load_identity(node: &Node) -> Result<Identity, NodeError> {
    let c = &node.config;
    let (key_path, cert_path, ca_path) = (node.resolve(&c.key), node.resolve(&c.cert), node.resolve(&c.ca));
    check_private(&key_path);
    let key = Zeroizing::new(read_text(&key_path)?);
    let cert = read_text(&cert_path)?;
    let ca = read_text(&ca_path)?;
    let id = Identity::from_pem(cert.as_bytes(), key.as_bytes(), ca.as_bytes())
        .map_err(|e| NodeError::file(&node.path, e.to_string()))?;
    let named = id.chain.first().map(|c| consort_net::cert_party_ids(c)).unwrap_or_default();
    if !named.contains(&node.me()) {
        warn!(cert = %cert_path.display(), "this certificate does not name {}; peers will refuse the connection", node.me());
    }
    Ok(id)
}
