//! The `consort` command.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::{BenchCommand, CertsCommand, Cli, Command, FaultArg, LinkArgs, PresetArg, SchemeArg, SecurityArg};
use consort_net::LinkEmulation;
use consort_parties::backend::{self, learn::Model};
use consort_parties::compare::{self, CompareOptions};
use consort_parties::config::Node;
use consort_parties::job::Job;
use consort_parties::job::Task;
use consort_parties::node::{Fault, RunOptions};
use consort_parties::report::{cost_table, result_text};
use consort_parties::simulate::SimulateOptions;
use consort_parties::{NodeError, bench, bench_mpc, bench_paillier, bench_split, certs, files, keys, node, simulate};
use consort_protocols::spdz::Security;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,consort=info,consort_net=info,consort_parties=info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Test-only options exist in every build's parser (hidden), but only the tests' builds
/// carry what they do: a release build refuses them.
fn test_tool(used: bool, flag: &str) -> Result<(), NodeError> {
    if used && !consort_parties::TEST_TOOLS {
        return Err(NodeError::Usage(format!("{flag} is a test tool, only in the tests' builds of consort")));
    }
    Ok(())
}

fn link(l: &LinkArgs) -> LinkEmulation {
    LinkEmulation {
        latency: std::time::Duration::from_secs_f64(l.latency.unwrap_or(0.0).max(0.0) / 1000.0),
        bandwidth_bps: l.bandwidth.filter(|b| *b > 0.0).map(|b| (b * 1e6) as u64),
    }
}

async fn dispatch(cmd: Command) -> Result<(), NodeError> {
    match cmd {
        Command::Certs(c) => certs_cmd(c),
        Command::Run(a) => {
            test_tool(a.fault.is_some(), "--fault")?;
            test_tool(a.seed.is_some(), "--seed")?;
            let fault = a.fault.map(|f| match f {
                FaultArg::StallAfterAgree => Fault::StallAfterAgree,
                FaultArg::CorruptShare => Fault::CorruptShare,
                FaultArg::Flood => Fault::Flood,
            });
            let opts = RunOptions {
                node: Node::load(&a.node)?,
                job: Job::load(&a.job)?,
                input: a.input.clone(),
                seed: a.seed,
                link: link(&a.link),
                fault,
                keys: a.keys.clone(),
            };
            let report = node::run(&opts).await?;
            let json = serde_json::to_string_pretty(&report).map_err(|e| NodeError::Internal(e.to_string()))?;
            match &a.out {
                Some(out) => {
                    let input =
                        opts.input.clone().or_else(|| opts.job.input_for(opts.node.me()).ok()).unwrap_or_default();
                    files::write_result(out, json.as_bytes(), &[&input, &a.job, &a.node])?;
                    tracing::info!(out = %out.display(), "result written");
                }
                None => println!("{json}"),
            }
            Ok(())
        }
        Command::Simulate(a) => {
            test_tool(a.kill_party.is_some(), "--kill-party")?;
            test_tool(a.seed.is_some(), "--seed")?;
            let opts = SimulateOptions {
                exe: this_exe()?,
                parties: a.parties,
                job: a.job.clone(),
                seed: a.seed,
                latency_ms: a.link.latency,
                bandwidth_mbit: a.link.bandwidth,
                timeout_secs: a.timeout,
                show_logs: !a.quiet,
                keys: a.keys.clone(),
                results: a.results.clone(),
                kill: a.kill_party.zip(a.kill_on_log.clone()),
            };
            let report = simulate::simulate(&opts).await?;
            println!("job '{}': {} members, {:.3} s wall time\n", report.job, report.parties, report.wall_secs);
            print!("{}", result_text(&report.result, report.comparison.as_ref()));
            for d in &report.dropped {
                println!("dropped out: party {} ({}); the job carried on without it", d.party, d.reason);
            }
            if !report.dropped.is_empty() {
                println!("no plaintext comparison: the twin would train on the dropped member's rows too");
            }
            println!();
            print!("{}", cost_table(&report.members));
            if let Some(out) = &a.out {
                let json = serde_json::to_string_pretty(&report).map_err(|e| NodeError::Internal(e.to_string()))?;
                files::write_result(out, json.as_bytes(), &[&a.job])?;
                println!("\nreport written to {}", out.display());
            }
            Ok(())
        }
        Command::Compare(a) => {
            test_tool(a.seed.is_some(), "--seed")?;
            let opts = CompareOptions {
                exe: this_exe()?,
                job: a.job.clone(),
                backends: a.backends.clone(),
                parties: a.parties,
                keys: a.keys.clone(),
                out: a.out.clone(),
                seed: a.seed,
                timeout_secs: a.timeout,
                show_logs: a.verbose,
            };
            let report = compare::compare(&opts).await?;
            print!("{}", compare::render(&report));
            let (json, svg) = compare::write(&report, &a.out)?;
            println!("\nwritten: {} and {}", json.display(), svg.display());
            Ok(())
        }
        Command::Backends(a) => {
            let claims: Vec<_> = backend::REGISTRY.iter().flat_map(|b| b.claims()).collect();
            if a.markdown {
                print!("{}", backend::claim::markdown_table(&claims));
                return Ok(());
            }
            for b in backend::REGISTRY {
                let tasks: Vec<&str> = [Task::Stats, Task::Train, Task::Infer]
                    .into_iter()
                    .filter(|t| b.supports(*t, None).is_ok())
                    .map(Task::wire)
                    .collect();
                let models: Vec<&str> = [Model::Logreg, Model::Mlp, Model::Cnn1d, Model::Cnn2d]
                    .into_iter()
                    .filter(|m| tasks.iter().any(|t| *t != "stats") && b.supports(Task::Train, Some(*m)).is_ok())
                    .map(Model::name)
                    .collect();
                println!(
                    "{}  tasks: {}  models: {}",
                    b.name().wire(),
                    tasks.join(", "),
                    if models.is_empty() { "-".into() } else { models.join(", ") }
                );
                for c in b.claims() {
                    println!("  {:<18} {}", c.label, c.trust_line());
                }
            }
            Ok(())
        }
        Command::Bench(BenchCommand::Net(a)) => bench::bench_net(&a.sizes, a.pings, a.rows, a.out.as_deref()).await,
        Command::BenchPeer(a) => bench::peer(&a.node, &a.sizes, a.pings, a.out.as_deref()).await,
        Command::Bench(BenchCommand::Ckks(a)) => {
            use consort_he::ckks::{Preset, bench as ckks_bench};
            let presets: Vec<Preset> =
                a.n.iter()
                    .map(|n| match n {
                        PresetArg::N8192 => Preset::N8192,
                        PresetArg::N16384 => Preset::N16384,
                    })
                    .collect();
            let rows =
                tokio::task::spawn_blocking(move || ckks_bench::run_presets(&presets, &|m| eprintln!("bench: {m}")))
                    .await
                    .map_err(|e| NodeError::Internal(e.to_string()))?
                    .map_err(|e| NodeError::Bench(e.to_string()))?;
            print!("{}", ckks_bench::render_table(&rows));
            Ok(())
        }
        Command::Keygen(a) => {
            test_tool(a.insecure_test_primes, "--insecure-test-primes")?;
            let (out, p, t, bits, test) = (a.out.clone(), a.parties, a.threshold, a.bits, a.insecure_test_primes);
            let allow = a.allow_threshold_1;
            let r = tokio::task::spawn_blocking(move || keys::keygen(&out, p, t, bits, test, allow))
                .await
                .map_err(|e| NodeError::Keys(e.to_string()))??;
            println!(
                "{}-bit threshold Paillier key for {} members (any {} decrypt) written in {:.1} s:",
                r.bits, r.parties, r.threshold, r.secs
            );
            for f in &r.files {
                println!("  {}", f.display());
            }
            println!("public key fingerprint (SHA-256): {}", r.fingerprint);
            println!("give public.json to every node, and party-<i>.share.json to member i only; each node logs");
            println!("the fingerprint at start: read it to each other to check, then delete this copy of the shares");
            Ok(())
        }
        Command::Bench(BenchCommand::Paillier(a)) => {
            let r = tokio::task::spawn_blocking(move || bench_paillier::run(&a.bits, a.params, a.prime_search))
                .await
                .map_err(|e| NodeError::Internal(e.to_string()))??;
            print!("{r}");
            Ok(())
        }
        Command::Bench(BenchCommand::Split(a)) => {
            use consort_protocols::split::Scheme;
            let schemes: Vec<Scheme> = a
                .schemes
                .iter()
                .map(|s| match s {
                    SchemeArg::Plain => Scheme::Plain,
                    SchemeArg::Ckks => Scheme::Ckks,
                    SchemeArg::Paillier => Scheme::Paillier,
                })
                .collect();
            if a.epochs == 0 {
                return Err(NodeError::Usage("--epochs must be at least 1".into()));
            }
            let rows = bench_split::run(&a.data, &a.datasets, &schemes, a.epochs).await?;
            print!("{}", bench_split::render(&rows, a.epochs));
            if let Some(out) = &a.out {
                let json = serde_json::to_string_pretty(&rows).map_err(|e| NodeError::Internal(e.to_string()))?;
                files::write_result(out, json.as_bytes(), &[])?;
            }
            Ok(())
        }
        Command::Bench(BenchCommand::Mpc(a)) => bench_mpc::bench_mpc(&a.data, a.out.as_deref()).await,
        Command::BenchMpcPeer(a) => {
            let security = match a.security {
                SecurityArg::SemiHonest => Security::SemiHonest,
                SecurityArg::Malicious => Security::Malicious,
            };
            bench_mpc::peer(&a.node, security, &a.data, a.out.as_deref()).await
        }
    }
}

fn this_exe() -> Result<std::path::PathBuf, NodeError> {
    std::env::current_exe().map_err(|e| NodeError::Process(format!("cannot find this executable: {e}")))
}

fn certs_cmd(c: CertsCommand) -> Result<(), NodeError> {
    match c {
        CertsCommand::Init { parties, out, hosts, base_port } => {
            let n = usize::from(parties);
            let addrs: Vec<String> = match hosts.len() {
                1 => {
                    let host = hosts.first().map_or("127.0.0.1", String::as_str);
                    (0..n).map(|i| with_port(host, base_port.saturating_add(i as u16), false)).collect()
                }
                k if k == n => hosts
                    .iter()
                    .enumerate()
                    .map(|(i, h)| with_port(h, base_port.saturating_add(i as u16), true))
                    .collect(),
                k => {
                    return Err(NodeError::Certs(format!(
                        "--host given {k} times; give it once or once per member ({n})"
                    )));
                }
            };
            certs::init(&out, &addrs, None)?;
            println!("consortium of {n} members written to {}:", out.display());
            println!("  ca.crt, ca.key (keep ca.key offline)");
            for (i, a) in addrs.iter().enumerate() {
                println!("  party-{i}.key, party-{i}.crt, party-{i}.toml  (listens on {a})");
            }
            Ok(())
        }
        CertsCommand::Ca { out } => {
            certs::ca(&out)?;
            println!(
                "CA written: {} (give it to every member), {} (0600: keep it offline); valid until {}",
                out.join("ca.crt").display(),
                out.join("ca.key").display(),
                certs::expiry(certs::CA_DAYS)
            );
            Ok(())
        }
        CertsCommand::Request { party, out } => {
            let fingerprint = certs::request(party, &out)?;
            // Joined, not formatted: `--out node/` must not print `node//party-0.key`.
            println!(
                "wrote {} (keep it here) and {} (send it to the CA)",
                out.join(format!("party-{party}.key")).display(),
                out.join(format!("party-{party}.csr")).display()
            );
            println!("CSR fingerprint (SHA-256): {fingerprint}");
            println!("read it to the CA: `certs sign` prints the same fingerprint for this CSR");
            Ok(())
        }
        CertsCommand::Sign { ca_cert, ca_key, csr, party, out } => {
            let (fingerprint, cert_fingerprint) = certs::sign(&ca_cert, &ca_key, &csr, party, &out)?;
            println!("CSR fingerprint (SHA-256): {fingerprint}");
            println!("compare it with the member's before you send the certificate back");
            println!(
                "signed certificate for party-{party} written to {}, valid {} days (until {})",
                out.display(),
                certs::MEMBER_DAYS,
                certs::expiry(certs::MEMBER_DAYS)
            );
            println!("certificate fingerprint (SHA-256): {cert_fingerprint}  (for revoked_certs, if ever needed)");
            Ok(())
        }
        CertsCommand::Show { cert } => {
            let i = certs::show(&cert)?;
            let parties: Vec<String> = i.parties.iter().map(|p| format!("party-{p}")).collect();
            println!("{}: {}", cert.display(), i.subject);
            println!("  names: {}", if parties.is_empty() { "no party".into() } else { parties.join(", ") });
            println!("  valid until: {}", i.not_after);
            println!("  fingerprint (SHA-256): {}", i.fingerprint);
            Ok(())
        }
        CertsCommand::Renew { party, key, out } => {
            let fingerprint = certs::renew(party, &key, &out)?;
            println!("wrote {} (send it to the CA; your key stays as it is)", out.display());
            println!("CSR fingerprint (SHA-256): {fingerprint}");
            Ok(())
        }
    }
}

/// Appends a port unless the address has one. With one host shared by everybody, the
/// port always comes from `base_port + i`.
fn with_port(host: &str, port: u16, keep_given: bool) -> String {
    let has_port =
        host.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok());
    if has_port && keep_given { host.to_string() } else { format!("{host}:{port}") }
}
