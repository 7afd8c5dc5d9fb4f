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

use crate::certs;
use crate::error::NodeError;
use crate::job::Job;
use crate::progress::members_bar;
use crate::report::{JobResult, MemberCost, MemberReport, SimulationReport};
use consort_protocols::learn::model::TrainedModel;

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
}

/// Picks `n` free UDP ports on 127.0.0.1 (bound, noted, released).
pub fn free_ports(n: usize) -> Result<Vec<u16>, NodeError> {
    let socks = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr().map(|a| (s, a.port()))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NodeError::Simulation(format!("no free UDP port on 127.0.0.1: {e}")))?;
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
    cmd.spawn().map_err(|e| NodeError::Simulation(format!("cannot start {}: {e}", exe.display())))
}

/// Forwards a child's stderr (prefixed) and remembers its last `error:` line.
fn forward_logs(child: &mut Child, party: usize, show: bool) -> Arc<Mutex<Option<String>>> {
    let last = Arc::new(Mutex::new(None));
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
            }
        });
    }
    last
}

/// Runs the simulation and returns the combined report.
pub async fn simulate(opts: &SimulateOptions) -> Result<SimulationReport, NodeError> {
    if opts.parties < 2 {
        return Err(NodeError::Simulation("a simulation needs at least 2 parties".into()));
    }
    let job = Job::load(&opts.job)?;
    // An spdz job has a dealer: one more process, the party after the members. So does a
    // fedavg-paillier job whose aggregator is not a member.
    let dealer = job.spec.spdz.as_ref().map(|s| s.dealer);
    if let Some(d) = dealer
        && usize::from(d) != opts.parties
    {
        return Err(NodeError::Job {
            path: opts.job.clone(),
            msg: format!(
                "the job names party {d} as its dealer; with --parties {0} the dealer must be party {0}",
                opts.parties
            ),
        });
    }
    let aggregator = match job.spec.backend {
        crate::job::Backend::FedavgPaillier => job.fedavg()?.aggregator,
        _ => None,
    };
    if let Some(a) = aggregator
        && usize::from(a) > opts.parties
    {
        return Err(NodeError::Job {
            path: opts.job.clone(),
            msg: format!(
                "the job names party {a} as its aggregator; with --parties {0} it must be a member (0..{0}) or \
                 party {0}",
                opts.parties
            ),
        });
    }
    if job.spec.backend == crate::job::Backend::FedavgPaillier {
        let dir = opts.keys.as_deref().ok_or_else(|| NodeError::Job {
            path: opts.job.clone(),
            msg: format!(
                "backend \"fedavg-paillier\" needs the consortium's threshold key: run `consort keygen --parties {} \
                 --threshold T --out DIR` and pass --keys DIR",
                opts.parties
            ),
        })?;
        let key = crate::keys::load_public(dir)?;
        if key.parties() as usize != opts.parties {
            return Err(NodeError::file(
                &crate::keys::public_path(dir),
                format!("the key was dealt for {} members, the simulation has {}", key.parties(), opts.parties),
            ));
        }
    }
    let split_server = match job.spec.backend {
        crate::job::Backend::SplitHe => Some(job.split()?.server),
        _ => None,
    };
    if let Some(s) = split_server
        && usize::from(s) > opts.parties
    {
        return Err(NodeError::Job {
            path: opts.job.clone(),
            msg: format!(
                "the job names party {s} as its server; with --parties {0} it must be one of them (0..{0}) or party {0}",
                opts.parties
            ),
        });
    }
    let extra = dealer.is_some()
        || aggregator.is_some_and(|a| usize::from(a) == opts.parties)
        || split_server.is_some_and(|s| usize::from(s) == opts.parties);
    for i in 0..opts.parties {
        let p = PartyId(i as u16);
        let needs = match &job.spec.infer {
            _ if split_server == Some(p.0) => false,
            Some(inf) if job.spec.task == crate::job::Task::Infer => inf.model_owner == p.0 || inf.input_owner == p.0,
            _ => true,
        };
        if needs {
            job.input_for(p)?;
        }
    }
    let processes = opts.parties + usize::from(extra);
    let dir =
        tempfile::tempdir().map_err(|e| NodeError::Simulation(format!("cannot create a temporary directory: {e}")))?;
    loopback_consortium(dir.path(), processes, opts.timeout_secs)?;
    let started = Instant::now();
    let mut children = Vec::new();
    for i in 0..processes {
        let mut args = vec![
            "run".to_string(),
            "--node".into(),
            dir.path().join(format!("party-{i}.toml")).display().to_string(),
            "--job".into(),
            opts.job.display().to_string(),
            "--out".into(),
            dir.path().join(format!("result-{i}.json")).display().to_string(),
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
        let mut child = spawn_member(&opts.exe, &args)?;
        let last = forward_logs(&mut child, i, opts.show_logs);
        children.push((i, child, last));
    }
    let bar = members_bar(processes as u64);
    let wait_all = async {
        let mut statuses = Vec::new();
        for (i, child, last) in &mut children {
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
            for (_, child, _) in &mut children {
                let _ = child.start_kill();
            }
            for (_, child, _) in &mut children {
                let _ = child.wait().await;
            }
            return Err(NodeError::Simulation("interrupted; all members stopped".into()));
        }
    };
    bar.finish_and_clear();
    let wall_secs = started.elapsed().as_secs_f64();
    // Let the log forwarders drain the last lines.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for (i, status, last) in statuses {
        let reason =
            last.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_else(|| "no error message".into());
        match status {
            Ok(s) if s.success() => {
                let path = dir.path().join(format!("result-{i}.json"));
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
            Ok(s) => failures.push(format!("party {i} failed ({s}): {reason}")),
            Err(e) => failures.push(format!("party {i}: cannot wait for it: {e}")),
        }
    }
    if !failures.is_empty() {
        return Err(NodeError::Simulation(format!("simulation failed:\n  {}", failures.join("\n  "))));
    }
    let is_dealer = |r: &MemberReport| dealer == Some(r.party);
    let (result, comparison) = match job.spec.task {
        _ if split_server.is_some() => crate::baseline::compare_split(&job, &reports)?,
        crate::job::Task::Train if job.spec.backend.is_fedavg() => crate::baseline::compare_fedavg(&job, &reports)?,
        crate::job::Task::Stats => {
            let first = reports.first().ok_or_else(|| NodeError::Simulation("no member reported".into()))?;
            if let Some(other) = reports.iter().find(|r| r.result != first.result) {
                return Err(NodeError::Simulation(format!(
                    "party {} and party {} obtained different results",
                    first.party, other.party
                )));
            }
            (first.result.clone(), None)
        }
        crate::job::Task::Train => {
            let models: Vec<(u16, &TrainedModel)> = reports
                .iter()
                .filter_map(|r| match &r.result {
                    JobResult::Train(t) => t.model.as_ref().map(|m| (r.party, m)),
                    _ => None,
                })
                .collect();
            if let Some((a, first)) = models.first()
                && let Some((b, _)) = models.iter().find(|(_, x)| x != first)
            {
                return Err(NodeError::Simulation(format!("party {a} and party {b} obtained different models")));
            }
            let holder = reports
                .iter()
                .find(|r| matches!(&r.result, JobResult::Train(t) if t.model.is_some()))
                .or_else(|| reports.iter().find(|r| !is_dealer(r)))
                .ok_or_else(|| NodeError::Simulation("no member reported".into()))?;
            let comparison = match models.first() {
                Some((_, m)) => Some(crate::baseline::compare(&job, opts.parties, m)?),
                None => None,
            };
            (holder.result.clone(), comparison)
        }
        crate::job::Task::Infer => {
            let owner = job.infer()?.input_owner;
            let r = reports
                .iter()
                .find(|r| r.party == owner)
                .ok_or_else(|| NodeError::Simulation("the input owner did not report".into()))?;
            (r.result.clone(), None)
        }
    };
    Ok(SimulationReport {
        job: job.spec.name.clone(),
        parties: opts.parties,
        wall_secs,
        result,
        comparison,
        members: reports
            .iter()
            .map(|r| MemberCost { party: r.party, wall_secs: r.wall_secs, traffic: r.traffic })
            .collect(),
    })
}
