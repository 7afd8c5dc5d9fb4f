//! One conformance suite for every backend, in memory (real protocol code, the
//! in-memory transport): for each backend and variant that runs a task, the same
//! assertions —
//! 1. the result matches its plaintext twin within the backend's tolerance;
//! 2. the wire carries no member's raw input (its CSV values as f64 or as fixed point);
//! 3. a member that disappears is named by every other party (or, where the backend
//!    tolerates dropouts, left out of every later round);
//! 4. a malformed message is blamed on its sender.
//!
//! A new backend joins the suite with one line in the `conformance!` invocation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consort_net::{DynTransport, MemoryNetwork, PartyId, Transport, Verdict};
use consort_parties::backend::{self, Backend, Roles, RunCtx};
use consort_parties::job::Job;
use consort_parties::report::{Comparison, JobResult, MemberReport};
use consort_parties::simulate::{SimulateOptions, plan};

/// One backend under test: the job it runs, edits that keep it small, and how close
/// its result must be to the plaintext twin.
struct Case {
    choice: &'static str,
    job: &'static str,
    edits: &'static [(&'static str, &'static str, &'static str)],
    /// Largest |secure − twin| of the metric.
    tolerance: f64,
}

const SMALL: &[(&str, &str, &str)] = &[("learn", "epochs", "3")];

/// What to do to one party.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// It never runs (its peers see the connection lost).
    Vanish(PartyId),
    /// Its messages to every peer arrive cut to 3 bytes.
    Truncate(PartyId),
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Setup {
    job: Job,
    backend: &'static dyn Backend,
    roles: Roles,
    keys: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

fn setup(case: &Case) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = repo().join("examples/jobs").join(case.job);
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (table, key, value) in case.edits {
        let v: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}")).unwrap().remove("v").unwrap();
        doc.get_mut(*table).and_then(|t| t.as_table_mut()).unwrap().insert(key.to_string(), v);
    }
    let (b, variant) = backend::parse_choice(case.choice).unwrap();
    let derived = consort_parties::compare::derive(&path, &doc, b, variant, dir.path(), case.choice).unwrap();
    let keys = (b.name() == consort_parties::job::Backend::FedavgPaillier).then(|| {
        let k = dir.path().join("keys");
        consort_parties::keys::keygen(&k, 3, 2, 2048, true, false).unwrap();
        k
    });
    let opts = SimulateOptions {
        exe: PathBuf::new(),
        parties: 3,
        job: derived,
        seed: Some(7),
        latency_ms: None,
        bandwidth_mbit: None,
        timeout_secs: 5,
        show_logs: false,
        keys: keys.clone(),
        results: None,
        kill: None,
    };
    let p = plan(&opts).unwrap();
    Setup { job: p.job, backend: p.backend, roles: p.roles, keys, _dir: dir }
}

type Tap = Arc<Mutex<Vec<(PartyId, Vec<u8>)>>>;

/// Runs every party of the job in memory; returns each party's report or error text,
/// and every message sent.
async fn run(s: &Setup, fault: Fault) -> (Vec<Result<MemberReport, String>>, Tap) {
    let n = s.roles.roster.len() as u16;
    let tap: Tap = Arc::default();
    let t2 = Arc::clone(&tap);
    let mut net = MemoryNetwork::new(n).recv_timeout(Duration::from_secs(4)).hook(move |env| {
        if fault == Fault::Truncate(env.from) {
            env.payload.truncate(3);
        }
        t2.lock().unwrap().push((env.from, env.payload.clone()));
        Verdict::Deliver
    });
    if s.backend.tolerates_dropouts(&s.job) {
        net = net.tolerate_dropouts();
    }
    let nodes = net.build();
    let job = Arc::new(s.job.clone());
    let roles = Arc::new(s.roles.clone());
    let mut tasks = Vec::new();
    for t in nodes {
        let me = t.me();
        if fault == Fault::Vanish(me) {
            t.vanish();
            continue;
        }
        let (job, roles, backend, keys) = (Arc::clone(&job), Arc::clone(&roles), s.backend, s.keys.clone());
        let input = roles.needs_input(me).then(|| job.input_for(me).unwrap());
        tasks.push(tokio::spawn(async move {
            let cx = RunCtx {
                t: DynTransport::new(&t),
                job: &job,
                roles: &roles,
                input: input.as_deref(),
                keys: keys.as_deref(),
                seed: Some(7),
                fault: None,
            };
            match backend.run(cx).await {
                Ok(result) => Ok(MemberReport {
                    party: me.0,
                    job: job.spec.name.clone(),
                    task: job.spec.task.wire().into(),
                    backend: job.spec.backend.wire().into(),
                    job_hash: String::new(),
                    version: String::new(),
                    wall_secs: 0.0,
                    traffic: t.counters(),
                    result,
                }),
                Err((e, reason)) => Err(consort_parties::node::stop(&t, e, &reason).await.to_string()),
            }
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    (out, tap)
}

/// The raw input values of member `p` that are distinctive enough to look for, as
/// 8-byte words: f64 and fixed point at 16, 20 and 24 fraction bits. (4-byte words such
/// as f32 would match random shares by chance: megabytes of them cross the wire.)
fn raw_words(s: &Setup, p: PartyId) -> HashSet<[u8; 8]> {
    let path = s.job.input_for(p).unwrap();
    let mut w8 = HashSet::new();
    let mut reader = csv::Reader::from_path(path).unwrap();
    for rec in reader.records().take(40) {
        for cell in rec.unwrap().iter() {
            let Ok(x) = cell.parse::<f64>() else { continue };
            if x.fract() == 0.0 || x.abs() < 1e-3 {
                continue;
            }
            w8.insert(x.to_le_bytes());
            for f in [16, 20, 24] {
                w8.insert(((x * f64::from(1u32 << f)).round() as i64).to_le_bytes());
            }
        }
    }
    w8
}

fn metric(c: &Comparison) -> (f64, f64) {
    (c.secure, c.plaintext)
}

async fn check_case(case: &Case) {
    let s = setup(case);
    let clock = std::time::Instant::now();
    // 1 + 2: a clean run matches the twin, and nobody's raw input is on the wire.
    let (reports, tap) = run(&s, Fault::None).await;
    let reports: Vec<MemberReport> =
        reports.into_iter().map(|r| r.unwrap_or_else(|e| panic!("{}: {e}", case.choice))).collect();
    let result = s.backend.combine(&s.job, &s.roles, &reports).unwrap();
    let twin = s.backend.twin(&s.job, &s.roles, &reports).unwrap().expect("every training backend has a twin");
    let (secure, plain) = metric(&twin);
    let gap = (secure - plain).abs();
    assert!(
        gap <= case.tolerance,
        "{}: secure {secure} vs plaintext {plain} (tolerance {})",
        case.choice,
        case.tolerance
    );
    if matches!(result, JobResult::Stats(_)) {
        assert!(secure <= case.tolerance, "{}: statistics deviate by {secure}", case.choice);
    } else {
        assert!(secure > 0.8, "{}: accuracy {secure}", case.choice);
    }
    let sent = tap.lock().unwrap().clone();
    assert!(!sent.is_empty());
    for p in &s.roles.inputs {
        let w8 = raw_words(&s, *p);
        assert!(!w8.is_empty());
        for (from, payload) in sent.iter().filter(|(f, _)| f == p) {
            let hit = payload.windows(8).any(|x| <[u8; 8]>::try_from(x).is_ok_and(|x| w8.contains(&x)));
            assert!(!hit, "{}: {from} sent a raw input value", case.choice);
        }
    }
    eprintln!("{}: clean run checked after {:.1} s", case.choice, clock.elapsed().as_secs_f64());
    // 3: a member that disappears is named (or left out by a backend that tolerates it).
    let gone = *s.roles.members.last().unwrap();
    let (out, _) = run(&s, Fault::Vanish(gone)).await;
    for r in &out {
        match r {
            Err(e) => assert!(e.contains(&gone.to_string()), "{}: error does not name {gone}: {e}", case.choice),
            Ok(rep) => {
                assert!(s.backend.tolerates_dropouts(&s.job), "{}: finished without {gone}", case.choice);
                if let JobResult::Fedavg(f) = &rep.result {
                    assert!(f.rounds.iter().all(|r| !r.contributors.contains(&gone.0)), "{}", case.choice);
                }
            }
        }
    }
    eprintln!("{}: dropout checked after {:.1} s", case.choice, clock.elapsed().as_secs_f64());
    // 4: a malformed message is blamed on its sender.
    let liar = PartyId(0);
    let (out, _) = run(&s, Fault::Truncate(liar)).await;
    let mut blamed = 0;
    for (i, r) in out.iter().enumerate() {
        if i == 0 {
            continue;
        }
        if let Err(e) = r {
            assert!(e.contains("party 0"), "{}: error does not blame party 0: {e}", case.choice);
            blamed += 1;
        }
    }
    assert!(blamed > 0, "{}: nobody noticed party 0's malformed messages", case.choice);
}

macro_rules! conformance {
    ($($name:ident: $case:expr,)*) => {
        const CASES: &[Case] = &[$($case),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                check_case(&$case).await;
            }
        )*
    };
}

// One line per backend (and variant).
conformance! {
    additive: Case { choice: "additive", job: "stats.toml", edits: &[], tolerance: 1e-3 },
    spdz_semi_honest: Case { choice: "spdz:semi-honest", job: "compare-breast-cancer.toml", edits: SMALL, tolerance: 0.03 },
    spdz_malicious: Case { choice: "spdz:malicious", job: "compare-breast-cancer.toml", edits: SMALL, tolerance: 0.03 },
    fedavg_additive: Case { choice: "fedavg-additive", job: "compare-breast-cancer.toml", edits: SMALL, tolerance: 1e-9 },
    fedavg_paillier: Case { choice: "fedavg-paillier", job: "compare-breast-cancer.toml", edits: SMALL, tolerance: 1e-9 },
    split_he_plain: Case { choice: "split-he:plain", job: "compare-breast-cancer.toml", edits: SMALL, tolerance: 1e-9 },
    split_he_ckks: Case { choice: "split-he:ckks", job: "compare-breast-cancer.toml", edits: SMALL, tolerance: 0.01 },
}

#[test]
fn every_backend_is_in_the_suite() {
    for b in backend::REGISTRY {
        let name = b.name().wire();
        assert!(
            CASES.iter().any(|c| c.choice == name || c.choice.starts_with(&format!("{name}:"))),
            "backend {name} is not in the conformance suite"
        );
    }
}
