//! `consort simulate`: a whole N-member job as N real OS processes of this binary on
//! 127.0.0.1, each with a fresh certificate from a throw-away CA, talking real QUIC.
//! Children die with the parent (Ctrl-C, or the parent being killed): no orphans.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use consort_net::PartyId;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::backend::{self, Backend, Roles};
use crate::certs;
use crate::error::NodeError;
use crate::job::Job;
use crate::progress::members_bar;
use crate::report::{Dropout, MemberCost, MemberReport, SimulationReport};

/// Options of a simulation.
#[derive(Clone, Debug)]
pub struct SimulateOptions {
    /// The `consort` binary to start (normally the running one).
    pub exe: PathBuf,
    pub parties: usize,
    pub job: PathBuf,
    pub seed: Option<u64>,
    pub latency_ms: Option<f64>,
    pub bandwidth_mbit: Option<f64>,
    /// Start-up window and receive timeout of every member, in seconds.
    pub timeout_secs: u64,
    /// Prefix every child's log line with its party id on our stderr.
    pub show_logs: bool,
    /// The threshold key directory of a `fedavg-paillier` job.
    pub keys: Option<PathBuf>,
    /// Where to keep each member's result file (`party-<i>.json`).
    pub results: Option<PathBuf>,
    /// Tests only: kill this party once its log shows this text (a real dropout).
    pub kill: Option<(usize, String)>,
}

/// Picks `n` free UDP ports on 127.0.0.1 (bound, noted, released).
pub fn free_ports(n: usize) -> Result<Vec<u16>, NodeError> {
    let socks = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr().map(|a| (s, a.port()))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NodeError::Process(format!("no free UDP port on 127.0.0.1: {e}")))?;
    Ok(socks.into_iter().map(|(_, p)| p).collect())
}

/// Makes a throw-away consortium of `n` loopback members in `dir`.
pub fn loopback_consortium(dir: &Path, n: usize, timeout_secs: u64) -> Result<(), NodeError> {
    let addrs: Vec<String> = free_ports(n)?.into_iter().map(|p| format!("127.0.0.1:{p}")).collect();
    certs::init(dir, &addrs, Some((timeout_secs, timeout_secs, timeout_secs.clamp(2, 10))))
}

/// Starts `consort <args>` as a child that is killed if we exit or are killed.
pub fn spawn_member(exe: &Path, args: &[String]) -> Result<Child, NodeError> {
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches only the calling (child) process.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| NodeError::Process(format!("cannot start {}: {e}", exe.display())))
}

/// Forwards a child's stderr (prefixed) and remembers its last `error:` line; kills
/// the child at the first line containing `kill_on`.
fn forward_logs(child: &mut Child, party: usize, show: bool, kill_on: Option<String>) -> Arc<Mutex<Option<String>>> {
    let last = Arc::new(Mutex::new(None));
    let pid = child.id();
    if let Some(err) = child.stderr.take() {
        let last = Arc::clone(&last);
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(msg) = line.strip_prefix("error: ") {
                    *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg.to_string());
                }
                if show {
                    eprintln!("[party {party}] {line}");
                }
                if kill_on.as_ref().is_some_and(|k| line.contains(k.as_str())) {
                    kill(pid);
                }
            }
        });
    }
    last
}

#[cfg(unix)]
fn kill(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: kill(2) on our own child's pid; it has not been reaped (we hold its handle).
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn kill(_pid: Option<u32>) {}

/// What a simulation starts: the job, its backend, and the roles over its processes.
pub struct Plan {
    pub job: Job,
    pub backend: &'static dyn Backend,
    pub roles: Roles,
}

/// Loads the job and lays out its processes: `parties` members, plus the party after
/// them when the backend's helper (dealer, aggregator, server) is an extra process.
/// Every check a member would make at start (roles, keys, every input file named)
/// runs here, before any process starts.
pub fn plan(opts: &SimulateOptions) -> Result<Plan, NodeError> {
    if opts.parties < 2 {
        return Err(NodeError::Usage("a simulation needs at least 2 parties".into()));
    }
    let job = Job::load(&opts.job)?;
    let backend = backend::get(job.spec.backend);
    let n = opts.parties;
    let mut processes = n;
    if let Some(h) = backend.helper(&job) {
        let p = usize::from(h.party.0);
        let role = h.role.name();
        let msg = match (h.may_be_member, p) {
            (false, p) if p != n => {
                Some(format!("the job names party {p} as its {role}; with --parties {n} the {role} must be party {n}"))
            }
            (true, p) if p > n => Some(format!(
                "the job names party {p} as its {role}; with --parties {n} it must be one of them (0..{n}) or party {n}"
            )),
            _ => None,
        };
        if let Some(msg) = msg {
            return Err(NodeError::Job { path: opts.job.clone(), msg });
        }
        if p == n {
            processes += 1;
        }
    }
    let roster: Vec<PartyId> = (0..processes).map(|i| PartyId(i as u16)).collect();
    let roles = backend.roles(&job, &roster, opts.keys.as_deref())?;
    roles.check_named(&job)?;
    // What each member would find out alone at start, found before any process starts
    // (key shares are checked by the members themselves).
    for p in &roles.inputs {
        let input = job.input_for(*p)?;
        crate::node::check_input(&job, backend, *p, &input)?;
        backend.check_files(&job, &roles, *p, None, Some(&input))?;
    }
    Ok(Plan { job, backend, roles })
}

/// Runs the simulation and returns the combined report.
pub async fn simulate(opts: &SimulateOptions) -> Result<SimulationReport, NodeError> {
    let Plan { job, backend, roles } = plan(opts)?;
    let processes = roles.roster.len();
    let dir =
        tempfile::tempdir().map_err(|e| NodeError::Process(format!("cannot create a temporary directory: {e}")))?;
    loopback_consortium(dir.path(), processes, opts.timeout_secs)?;
    let started = Instant::now();
    let mut children = Vec::new();
    for i in 0..processes {
        let mut child = spawn_member(&opts.exe, &member_args(opts, dir.path(), i))?;
        let kill_on = opts.kill.as_ref().filter(|(p, _)| *p == i).map(|(_, text)| text.clone());
        let last = forward_logs(&mut child, i, opts.show_logs, kill_on);
        children.push((i, child, last));
    }
    let statuses = wait_children(&mut children, processes).await?;
    let wall_secs = started.elapsed().as_secs_f64();
    // Let the log forwarders drain the last lines.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (reports, dropped) = collect(opts, dir.path(), statuses, backend.tolerates_dropouts(&job))?;
    let result = backend.combine(&job, &roles, &reports)?;
    // The plaintext twin trains on every member's rows in every round: after a dropout
    // it answers another question, so it is not run.
    let comparison = if dropped.is_empty() { backend.twin(&job, &roles, &reports)? } else { None };
    Ok(SimulationReport {
        job: job.spec.name.clone(),
        parties: opts.parties,
        wall_secs,
        result,
        comparison,
        dropped,
        members: reports
            .iter()
            .map(|r| MemberCost { party: r.party, wall_secs: r.wall_secs, traffic: r.traffic })
            .collect(),
    })
}

/// The `consort run` arguments of process `i`.
fn member_args(opts: &SimulateOptions, dir: &Path, i: usize) -> Vec<String> {
    let mut args = vec![
        "run".to_string(),
        "--node".into(),
        dir.join(format!("party-{i}.toml")).display().to_string(),
        "--job".into(),
        opts.job.display().to_string(),
        "--out".into(),
        dir.join(format!("result-{i}.json")).display().to_string(),
    ];
    if let Some(s) = opts.seed {
        args.extend(["--seed".into(), s.to_string()]);
    }
    if let Some(k) = &opts.keys {
        args.extend(["--keys".into(), k.display().to_string()]);
    }
    if let Some(l) = opts.latency_ms {
        args.extend(["--latency".into(), l.to_string()]);
    }
    if let Some(b) = opts.bandwidth_mbit {
        args.extend(["--bandwidth".into(), b.to_string()]);
    }
    args
}

/// A child's last `error:` line, as its log forwarder saw it.
type LastError = Arc<Mutex<Option<String>>>;
type Status = (usize, std::io::Result<std::process::ExitStatus>, LastError);

/// Waits for every child (a progress bar meanwhile); Ctrl-C stops them all.
async fn wait_children(children: &mut [(usize, Child, LastError)], processes: usize) -> Result<Vec<Status>, NodeError> {
    let bar = members_bar(processes as u64);
    let wait_all = async {
        let mut statuses = Vec::new();
        for (i, child, last) in children.iter_mut() {
            let status = child.wait().await;
            bar.inc(1);
            statuses.push((*i, status, Arc::clone(last)));
        }
        statuses
    };
    let statuses = tokio::select! {
        s = wait_all => s,
        _ = tokio::signal::ctrl_c() => {
            bar.finish_and_clear();
            for (_, child, _) in children.iter_mut() {
                let _ = child.start_kill();
            }
            for (_, child, _) in children.iter_mut() {
                let _ = child.wait().await;
            }
            return Err(NodeError::Members("interrupted; all members stopped".into()));
        }
    };
    bar.finish_and_clear();
    Ok(statuses)
}

/// Every member's report, or every failure with its last error line. A backend that
/// tolerates dropouts keeps the survivors' reports and names the members that failed.
fn collect(
    opts: &SimulateOptions,
    dir: &Path,
    statuses: Vec<Status>,
    tolerated: bool,
) -> Result<(Vec<MemberReport>, Vec<Dropout>), NodeError> {
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for (i, status, last) in statuses {
        let reason =
            last.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_else(|| "no error message".into());
        match status {
            Ok(s) if s.success() => {
                let path = dir.join(format!("result-{i}.json"));
                let text = crate::files::read_text(&path)?;
                let r: MemberReport =
                    serde_json::from_str(&text).map_err(|e| NodeError::file(&path, format!("invalid result: {e}")))?;
                if let Some(keep) = &opts.results {
                    std::fs::create_dir_all(keep)
                        .map_err(|e| NodeError::file(keep, format!("cannot create the directory: {e}")))?;
                    crate::files::write_result(&keep.join(format!("party-{i}.json")), text.as_bytes(), &[])?;
                }
                reports.push(r);
            }
            Ok(s) => failures.push(Dropout { party: i as u16, reason: format!("{s}: {reason}") }),
            Err(e) => failures.push(Dropout { party: i as u16, reason: format!("cannot wait for it: {e}") }),
        }
    }
    if failures.is_empty() || (tolerated && !reports.is_empty()) {
        return Ok((reports, failures));
    }
    let lines: Vec<String> = failures.iter().map(|d| format!("party {} failed ({})", d.party, d.reason)).collect();
    Err(NodeError::Members(format!("simulation failed:\n  {}", lines.join("\n  "))))
}
