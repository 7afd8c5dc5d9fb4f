//! `consort run`: one member's part of a job. Connect to the mesh, agree on the job,
//! run the backend's part ([`crate::backend`]), finish; the caller writes the result.

use std::path::{Path, PathBuf};
use std::time::Instant;

use consort_net::{DynTransport, Identity, LinkEmulation, PartyId, QuicConfig, QuicTransport, SessionId, Transport};
use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::agree::agree;
pub use crate::backend::Fault;
use crate::backend::{self, Backend, RunCtx};
use crate::config::Node;
use crate::data;
use crate::error::NodeError;
use crate::files::{check_private, read_text};
use crate::job::{Job, Task, VERSION};
use crate::progress::Spinner;
use crate::report::MemberReport;

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

/// Runs this member's part of the job and returns its report: connect, agree on the
/// job, run the backend's part, finish.
pub async fn run(opts: &RunOptions) -> Result<MemberReport, NodeError> {
    let started = Instant::now();
    let (node, job) = (&opts.node, &opts.job);
    let me = node.me();
    let (job_hash, sections) = (job.hash()?, job.section_hashes()?);
    let backend = backend::get(job.spec.backend);
    let roster: Vec<PartyId> = node.roster()?.iter().map(|(p, _)| *p).collect();
    let roles = backend.roles(job, &roster, opts.keys.as_deref())?;
    roles.check_named(job)?;
    let input = match &opts.input {
        Some(p) => Some(p.clone()),
        None if roles.needs_input(me) => Some(job.input_for(me)?),
        None => None,
    };
    let own_input = roles.needs_input(me).then_some(input.as_deref()).flatten();
    preflight(node, job, backend, me, own_input)?;
    backend.check_files(job, &roles, me, opts.keys.as_deref(), own_input)?;
    let spinner = Spinner::new(format!("{me}: connecting to {} members", roster.len() - 1));
    let binding = consort_net::JobBinding { job_hash, agree_step: crate::agree::AGREE_STEP.into() };
    let t = connect(node, opts.link, backend.tolerates_dropouts(job), backend.peer_budget(job), Some(binding)).await?;
    spinner.set(format!("{me}: agreeing on the job"));
    if let Err(e) = agree(&t, job_hash, sections).await {
        return Err(stop(&t, e, "its job spec differs").await);
    }
    info!(%me, job = %job.spec.name, "all members agree on the job");
    #[cfg(feature = "test-tools")]
    if opts.fault == Some(Fault::StallAfterAgree) {
        warn!("fault injection: stalling");
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    #[cfg(feature = "test-tools")]
    if opts.fault == Some(Fault::Flood) {
        return Err(flood(&t).await);
    }
    spinner.set(format!("{me}: {} ({})", job.spec.task.wire(), job.spec.backend.wire()));
    let cx = RunCtx {
        t: DynTransport::new(&t),
        job,
        roles: &roles,
        input: input.as_deref(),
        keys: opts.keys.as_deref(),
        seed: opts.seed,
        fault: opts.fault,
    };
    let result = match backend.run(cx).await {
        Ok(r) => r,
        Err((e, reason)) => return Err(stop(&t, e, &reason).await),
    };
    spinner.set(format!("{me}: finishing"));
    let traffic = t.finish().await?;
    spinner.done();
    Ok(MemberReport {
        party: me.0,
        job: job.spec.name.clone(),
        task: job.spec.task.wire().into(),
        backend: job.spec.backend.wire().into(),
        job_hash: hex::encode(job_hash),
        version: VERSION.into(),
        wall_secs: started.elapsed().as_secs_f64(),
        traffic,
        result,
    })
}

/// Checks what this node can check alone before it waits up to the connect window for
/// its peers: its key, certificate and CA open, and its input file opens and its header
/// has every column the job reads. Only the header is read; the rows are read (off the
/// runtime) once the job is agreed.
fn preflight(
    node: &Node,
    job: &Job,
    backend: &dyn Backend,
    me: PartyId,
    input: Option<&Path>,
) -> Result<(), NodeError> {
    let c = &node.config;
    for p in [&c.key, &c.cert, &c.ca] {
        let path = node.resolve(p);
        std::fs::File::open(&path).map_err(|e| NodeError::file(&path, format!("cannot read: {e}")))?;
    }
    check_private(&node.resolve(&c.key))?;
    crate::certs::check_validity(&node.resolve(&c.cert))?;
    match input {
        Some(input) => check_input(job, backend, me, input),
        None => Ok(()),
    }
}

/// Checks `me`'s input file: it opens, and a CSV's header has every column the job
/// reads (only the header is read).
pub fn check_input(job: &Job, backend: &dyn Backend, me: PartyId, input: &Path) -> Result<(), NodeError> {
    let columns = match job.spec.task {
        Task::Stats => Some(job.stats()?.columns.clone()),
        _ => backend.input_columns(job, me),
    };
    match columns {
        Some(columns) => data::check_header(input, &columns),
        None => std::fs::File::open(input).map(drop).map_err(|e| NodeError::file(input, format!("cannot open: {e}"))),
    }
}

/// Stops the job for every member after `err`. When another member caused it, the
/// others are told who (so they name the culprit, not us); otherwise they are told
/// `own_reason`, which must not reveal private data.
pub async fn stop<T: Transport>(t: &T, err: NodeError, own_reason: &str) -> NodeError {
    match err.blamed_party() {
        Some(culprit) if culprit != t.me() => t.abort(&err.to_string(), Some(culprit)).await,
        _ => t.abort(own_reason, None).await,
    }
    err
}

/// Fault injection: 1 MiB messages to every peer for steps nobody reads, until a send
/// fails (the peers named this member and closed).
#[cfg(feature = "test-tools")]
async fn flood(t: &QuicTransport) -> NodeError {
    warn!("fault injection: flooding every peer");
    let junk = bytes::Bytes::from(vec![0u8; 1 << 20]);
    for k in 0u64.. {
        for p in t.peers() {
            if let Err(e) = t.send(p, &consort_net::StepId::root("flood").index(k), junk.clone()).await {
                return e.into();
            }
        }
    }
    NodeError::Internal("the flood ended".into())
}

/// Joins the mesh described by a node config; a peer may have at most `peer_budget`
/// bytes arriving or waiting unread at this node (and no frame may be larger). With
/// `job`, every data frame after the job agreement is bound to the job's hash.
pub async fn connect(
    node: &Node,
    link: LinkEmulation,
    tolerate_dropouts: bool,
    peer_budget: u64,
    job: Option<consort_net::JobBinding>,
) -> Result<QuicTransport, NodeError> {
    let identity = load_identity(node)?;
    let (connect, recv, idle) = node.timeouts();
    let mut cfg = QuicConfig::new(node.me(), node.listen()?, node.roster()?);
    cfg.session = SessionId::derive(identity.ca.as_ref());
    cfg.connect_window = connect;
    cfg.recv_timeout = recv;
    cfg.idle_timeout = idle;
    cfg.link = link;
    cfg.tolerate_dropouts = tolerate_dropouts;
    cfg.revoked = node.revoked()?;
    cfg.peer_budget = peer_budget;
    cfg.job = job;
    cfg.max_frame = cfg.max_frame.min(peer_budget);
    Ok(QuicTransport::connect(cfg, &identity).await?)
}

fn load_identity(node: &Node) -> Result<Identity, NodeError> {
    let c = &node.config;
    let (key_path, cert_path, ca_path) = (node.resolve(&c.key), node.resolve(&c.cert), node.resolve(&c.ca));
    check_private(&key_path)?;
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
