//! `consort compare`: one job under several backends, each run as real processes over
//! QUIC (as `simulate` runs it), side by side: time, bytes, messages, rounds, the
//! secure result next to its plaintext twin, and whom each backend trusts.
//!
//! Each backend's job is derived from the one file (its `[learn]` table resolved for
//! that backend, the variant set, input paths made absolute) and kept in
//! `OUT/jobs/<backend>.toml`, so every row can be rerun alone with `simulate`. A
//! backend that cannot run the job says why in its row; one that fails at run time
//! reports its error there, and the others still run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::backend::{self, Backend, REGISTRY};
use crate::error::NodeError;
use crate::files::read_text;
use crate::job::{Job, Task};
use crate::simulate::{SimulateOptions, plan, simulate};

/// Options of a comparison.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    pub exe: PathBuf,
    pub job: PathBuf,
    /// `name[:variant]` choices; empty: every backend and variant for the job's task.
    pub backends: Vec<String>,
    /// Members (default: the job's `[inputs]` entries).
    pub parties: Option<usize>,
    /// A threshold key for fedavg-paillier (default: a fresh one, dealt for this run).
    pub keys: Option<PathBuf>,
    pub out: PathBuf,
    pub seed: Option<u64>,
    pub timeout_secs: u64,
    pub show_logs: bool,
}

/// How a backend's row ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    /// The backend cannot run this job's task or model (not tried).
    Unsupported,
    /// It ran and failed.
    Failed,
}

/// One backend's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub backend: String,
    pub status: Status,
    /// Why it is unsupported or failed.
    pub reason: Option<String>,
    pub wall_secs: Option<f64>,
    /// Mean bytes sent per data member.
    pub bytes_per_member: Option<f64>,
    /// Bytes the helper process (dealer, aggregator, server) sent, when there is one.
    pub helper_bytes: Option<u64>,
    pub messages_per_member: Option<f64>,
    /// Most rounds of any member.
    pub rounds: Option<u64>,
    /// "accuracy", "mse" or "max-deviation".
    pub metric: Option<String>,
    pub secure: Option<f64>,
    pub plaintext: Option<f64>,
    pub trust: String,
    /// The derived job file this row ran.
    pub job_file: Option<PathBuf>,
}

/// What `compare` writes as `compare.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompareReport {
    pub job: String,
    pub task: String,
    pub parties: usize,
    pub rows: Vec<Row>,
}

/// Every `name[:variant]` that can run `task`, variants expanded.
pub fn default_choices(task: Task) -> Vec<String> {
    let mut out = Vec::new();
    for b in REGISTRY {
        if b.supports(task, None).is_err() {
            continue;
        }
        match b.variants() {
            [] => out.push(b.name().wire().to_string()),
            vs => out.extend(vs.iter().map(|v| format!("{}:{v}", b.name().wire()))),
        }
    }
    out
}

/// Runs the comparison; rows come back in the order asked.
pub async fn compare(opts: &CompareOptions) -> Result<CompareReport, NodeError> {
    let text = read_text(&opts.job)?;
    let doc: toml::Table =
        toml::from_str(&text).map_err(|e| NodeError::Job { path: opts.job.clone(), msg: e.to_string() })?;
    let base = Job::load(&opts.job)?;
    let parties = match opts.parties {
        Some(n) => n,
        None => doc.get("inputs").and_then(|v| v.as_table()).map_or(0, |t| t.len()),
    };
    let choices = if opts.backends.is_empty() { default_choices(base.spec.task) } else { opts.backends.clone() };
    let jobs_dir = opts.out.join("jobs");
    std::fs::create_dir_all(&jobs_dir)
        .map_err(|e| NodeError::file(&jobs_dir, format!("cannot create the directory: {e}")))?;
    let mut fresh_keys: Option<tempfile::TempDir> = None;
    let mut rows = Vec::new();
    for choice in &choices {
        info!(backend = %choice, "comparing");
        let row = match backend::parse_choice(choice) {
            Err(reason) => unsupported(choice, reason, String::new()),
            Ok((b, variant)) => {
                let claims = b.claims();
                let trust = claims
                    .iter()
                    .find(|c| c.variant == variant)
                    .or(claims.first())
                    .map_or_else(String::new, |c| c.trust_line());
                match derive(&opts.job, &doc, b, variant, &jobs_dir, choice) {
                    Err(reason) => unsupported(choice, reason, trust),
                    Ok(path) => {
                        let keys = match (b.name(), &opts.keys) {
                            (crate::job::Backend::FedavgPaillier, None) => {
                                match fresh_key(&mut fresh_keys, parties, &path) {
                                    Ok(k) => Some(k),
                                    Err(e) => {
                                        rows.push(failed(choice, e.to_string(), trust, Some(path)));
                                        continue;
                                    }
                                }
                            }
                            (_, k) => k.clone(),
                        };
                        run_row(opts, choice, &path, parties, keys, trust).await
                    }
                }
            }
        };
        rows.push(row);
    }
    Ok(CompareReport { job: base.spec.name.clone(), task: base.spec.task.wire().into(), parties, rows })
}

fn unsupported(choice: &str, reason: String, trust: String) -> Row {
    Row { status: Status::Unsupported, reason: Some(reason), ..empty(choice, trust) }
}

fn failed(choice: &str, reason: String, trust: String, job_file: Option<PathBuf>) -> Row {
    Row { status: Status::Failed, reason: Some(reason), job_file, ..empty(choice, trust) }
}

fn empty(choice: &str, trust: String) -> Row {
    Row {
        backend: choice.to_string(),
        status: Status::Ok,
        reason: None,
        wall_secs: None,
        bytes_per_member: None,
        helper_bytes: None,
        messages_per_member: None,
        rounds: None,
        metric: None,
        secure: None,
        plaintext: None,
        trust,
        job_file: None,
    }
}

/// Writes the job of file `job` (parsed: `doc`) as `backend` with `variant` would run
/// it into `dir` as `<choice>.toml`; an error says why this backend cannot run it.
pub fn derive(
    job: &Path,
    doc: &toml::Table,
    b: &dyn Backend,
    variant: Option<&str>,
    dir: &Path,
    choice: &str,
) -> Result<PathBuf, String> {
    let mut d = doc.clone();
    let task: Task = d
        .get("task")
        .cloned()
        .ok_or("the job has no task")?
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    let model = match d.get("learn") {
        Some(l) => {
            Some(l.clone().try_into::<backend::learn::Learn>().map_err(|e| format!("[learn] {}", e.message()))?.model)
        }
        None => None,
    };
    b.supports(task, model)?;
    d.insert("backend".into(), toml::Value::String(b.name().wire().into()));
    if let Some(v) = variant {
        b.set_variant(&mut d, v)?;
    }
    let base = job.parent().unwrap_or(Path::new("."));
    for key in ["inputs", "models"] {
        if let Some(t) = d.get_mut(key).and_then(|v| v.as_table_mut()) {
            for (_, v) in t.iter_mut() {
                if let Some(p) = v.as_str().map(PathBuf::from).filter(|p| p.is_relative()) {
                    let joined = base.join(p);
                    let abs =
                        joined.canonicalize().or_else(|_| std::path::absolute(&joined)).map_err(|e| e.to_string())?;
                    *v = toml::Value::String(abs.display().to_string());
                }
            }
        }
    }
    let path = dir.join(format!("{}.toml", choice.replace(':', "-")));
    let text = toml::to_string(&d).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    // Loading resolves and validates it exactly as every member will.
    Job::load(&path).map_err(|e| match e {
        NodeError::Job { msg, .. } => msg,
        other => other.to_string(),
    })?;
    Ok(path)
}

/// A fresh threshold key for this comparison's fedavg-paillier run (deleted after).
fn fresh_key(slot: &mut Option<tempfile::TempDir>, parties: usize, job: &Path) -> Result<PathBuf, NodeError> {
    if let Some(d) = slot {
        return Ok(d.path().join("keys"));
    }
    let threshold = Job::load(job)?.fedavg()?.threshold;
    let d = tempfile::tempdir().map_err(|e| NodeError::Process(format!("cannot create a temporary directory: {e}")))?;
    let keys = d.path().join("keys");
    info!(
        "dealing a fresh 2048-bit threshold Paillier key for fedavg-paillier ({parties} members, threshold {threshold})"
    );
    // The job's own threshold, even 1: the job file already chose it.
    crate::keys::keygen(&keys, parties as u32, u32::from(threshold), 2048, false, true)?;
    *slot = Some(d);
    Ok(keys)
}

async fn run_row(
    opts: &CompareOptions,
    choice: &str,
    path: &Path,
    parties: usize,
    keys: Option<PathBuf>,
    trust: String,
) -> Row {
    let sim = SimulateOptions {
        exe: opts.exe.clone(),
        parties,
        job: path.to_path_buf(),
        seed: opts.seed,
        latency_ms: None,
        bandwidth_mbit: None,
        timeout_secs: opts.timeout_secs,
        show_logs: opts.show_logs,
        keys,
        results: None,
        kill: None,
    };
    let roles = match plan(&sim) {
        Ok(p) => p.roles,
        Err(e) => return unsupported(choice, e.to_string(), trust),
    };
    let report = match simulate(&sim).await {
        Ok(r) => r,
        Err(e) => {
            warn!(backend = %choice, "failed: {e}");
            return failed(choice, e.to_string(), trust, Some(path.to_path_buf()));
        }
    };
    if !report.dropped.is_empty() {
        // A row compares backends on the same members and rows; a dropout changes both.
        let who: Vec<String> = report.dropped.iter().map(|d| format!("party {} ({})", d.party, d.reason)).collect();
        let msg = format!("members dropped out: {}", who.join(", "));
        warn!(backend = %choice, "{msg}");
        return failed(choice, msg, trust, Some(path.to_path_buf()));
    }
    let members: Vec<_> = report.members.iter().filter(|m| roles.members.iter().any(|p| p.0 == m.party)).collect();
    let helper = roles.helper.filter(|(_, p)| !roles.members.contains(p)).map(|(_, p)| p.0);
    let n = members.len().max(1) as f64;
    let cmp = report.comparison.as_ref();
    Row {
        status: Status::Ok,
        wall_secs: Some(report.wall_secs),
        bytes_per_member: Some(members.iter().map(|m| m.traffic.bytes_sent as f64).sum::<f64>() / n),
        helper_bytes: helper.and_then(|h| report.members.iter().find(|m| m.party == h)).map(|m| m.traffic.bytes_sent),
        messages_per_member: Some(members.iter().map(|m| m.traffic.messages_sent as f64).sum::<f64>() / n),
        rounds: report.members.iter().map(|m| m.traffic.rounds).max(),
        metric: cmp.map(|c| c.metric.clone()),
        secure: cmp.map(|c| c.secure),
        plaintext: cmp.map(|c| c.plaintext),
        job_file: Some(path.to_path_buf()),
        ..empty(choice, trust)
    }
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// The printed table.
pub fn render(r: &CompareReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "job '{}' ({}), {} members\n", r.job, r.task, r.parties);
    let _ = writeln!(
        s,
        "{:<20} {:>8} {:>12} {:>12} {:>9} {:>7} {:>9} {:>9}  trust",
        "backend", "wall s", "MB/member", "helper MB", "msgs/mbr", "rounds", "secure", "twin"
    );
    for row in &r.rows {
        match row.status {
            Status::Ok => {
                let metric = row.metric.as_deref().unwrap_or("");
                let digits = if metric == crate::report::DEVIATION { 6 } else { 4 };
                let _ = writeln!(
                    s,
                    "{:<20} {:>8} {:>12} {:>12} {:>9} {:>7} {:>9} {:>9}  {}",
                    row.backend,
                    fmt_opt(row.wall_secs, 2),
                    fmt_opt(row.bytes_per_member.map(|b| b / 1e6), 3),
                    fmt_opt(row.helper_bytes.map(|b| b as f64 / 1e6), 3),
                    fmt_opt(row.messages_per_member, 0),
                    row.rounds.map_or_else(|| "-".into(), |x| x.to_string()),
                    fmt_opt(row.secure, digits),
                    fmt_opt(row.plaintext, digits),
                    row.trust
                );
            }
            Status::Unsupported | Status::Failed => {
                let word = if row.status == Status::Failed { "failed" } else { "cannot run this job" };
                let _ = writeln!(s, "{:<20} {word}: {}", row.backend, row.reason.as_deref().unwrap_or(""));
            }
        }
    }
    if let Some(m) = r.rows.iter().find_map(|x| x.metric.clone()) {
        let _ = writeln!(
            s,
            "\nsecure / twin: test {m} of the secure run and of the plaintext twin (same seed, split and \
                              hyper-parameters) on the pooled held-out rows"
        );
    }
    s
}

/// Writes `compare.json` and `compare.svg` into `out`; returns their paths.
pub fn write(r: &CompareReport, out: &Path) -> Result<(PathBuf, PathBuf), NodeError> {
    let json = serde_json::to_string_pretty(r).map_err(|e| NodeError::Internal(e.to_string()))?;
    let (jp, sp) = (out.join("compare.json"), out.join("compare.svg"));
    std::fs::write(&jp, json).map_err(|e| NodeError::file(&jp, e.to_string()))?;
    let svg = crate::chart::svg(r).map_err(|e| NodeError::Internal(format!("chart: {e}")))?;
    std::fs::write(&sp, svg).map_err(|e| NodeError::file(&sp, e.to_string()))?;
    Ok((jp, sp))
}
