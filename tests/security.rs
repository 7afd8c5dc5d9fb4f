//! Real `consort run` processes over QUIC with mutual TLS: a clean run, then members that
//! present foreign or borrowed certificates, disagree on the job, die mid-job, or bring
//! bad data. Every failure must stop every member with an error that names the culprit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    CONNECT_SECS, Consortium, IDLE_SECS, Outcome, Proc, RECV_SECS, assert_result_matches, assert_traffic, data,
    plain_stats, read_json, replace_once, spawn_run, wait_all, write_job,
};

const COLUMNS: [&str; 3] = ["mean_radius", "mean_area", "target"];

fn radius_edges() -> Vec<f64> {
    vec![5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
}

fn member_files() -> Vec<PathBuf> {
    (0..3).map(|i| data(&format!("member-{i}.csv"))).collect()
}

/// Writes the job every honest member loads (inputs: the example member files).
fn job_in(dir: &Path) -> PathBuf {
    let path = dir.join("job.toml");
    let inputs: Vec<(usize, PathBuf)> = member_files().into_iter().enumerate().collect();
    write_job(&path, "security", &COLUMNS, None, &[("mean_radius", radius_edges())], &inputs);
    path
}

/// Generous bound for a whole failing run: start-up window, one receive, idle, margin.
fn deadline() -> Duration {
    Duration::from_secs(CONNECT_SECS + RECV_SECS + IDLE_SECS + 30)
}

fn logs(outs: &[Outcome]) -> String {
    outs.iter()
        .enumerate()
        .map(|(i, o)| format!("--- member {i} exit {:?}:\n{}", o.code, o.stderr))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_failed(outs: &[Outcome], who: usize) {
    assert_eq!(outs[who].code, Some(1), "member {who} should exit 1\n{}", logs(outs));
    assert!(!outs[who].error_line().is_empty(), "member {who} printed no 'error: ' line\n{}", logs(outs));
}

fn assert_error_has(outs: &[Outcome], who: usize, needles: &[&str]) {
    let line = outs[who].error_line();
    for n in needles {
        assert!(line.contains(n), "member {who}'s error should contain '{n}', got: {line}\n{}", logs(outs));
    }
}

#[test]
fn clean_run_results_agree_and_match_plaintext() {
    let c = Consortium::new(3);
    let job = job_in(c.tmp.path());
    // Member 2 keeps its own copy of the job without [inputs] and names its file with
    // --input: [inputs] is local and must not take part in the agreement.
    let own = c.tmp.path().join("member-2-only");
    std::fs::create_dir(&own).expect("mkdir");
    let job2 = own.join("job.toml");
    write_job(&job2, "security", &COLUMNS, None, &[("mean_radius", radius_edges())], &[]);
    let out = |i: usize| c.tmp.path().join(format!("result-{i}.json"));
    let input2 = data("member-2.csv").display().to_string();
    let mut procs = [
        spawn_run(&c.node(0), &job, &["--out", &out(0).display().to_string()]),
        spawn_run(&c.node(1), &job, &["--out", &out(1).display().to_string()]),
        spawn_run(&c.node(2), &job2, &["--out", &out(2).display().to_string(), "--input", &input2]),
    ];
    let outs = wait_all(&mut procs, deadline());
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(o.code, Some(0), "member {i} failed\n{}", logs(&outs));
    }
    let reports: Vec<_> = (0..3).map(|i| read_json(&out(i))).collect();
    let plain = plain_stats(&member_files(), &COLUMNS, &BTreeMap::from([("mean_radius".to_string(), radius_edges())]));
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r["party"].as_u64(), Some(i as u64));
        assert_eq!(r["job"].as_str(), Some("security"));
        assert_eq!(r["task"].as_str(), Some("stats"));
        assert_eq!(r["backend"].as_str(), Some("additive"));
        let hash = r["job_hash"].as_str().expect("job_hash");
        assert!(hash.len() == 64 && hash.chars().all(|ch| ch.is_ascii_hexdigit()), "job_hash {hash}");
        assert_eq!(r["job_hash"], reports[0]["job_hash"], "members agreed on different hashes");
        assert_eq!(r["version"], reports[0]["version"]);
        assert_eq!(r["result"], reports[0]["result"], "member {i} obtained a different result");
        assert_traffic(&r["traffic"], &format!("member {i}"));
        assert_result_matches(&r["result"], &plain, 16);
    }
}

#[test]
fn certificate_from_another_ca_is_refused() {
    let c = Consortium::new(3);
    let other = Consortium::new(3);
    let job = job_in(c.tmp.path());
    let key = format!("key = \"{}\"", other.dir.join("party-2.key").display());
    let cert = format!("cert = \"{}\"", other.dir.join("party-2.crt").display());
    let node2 = c.node_variant(
        2,
        "party-2-foreign.toml",
        &[("key = \"party-2.key\"", &key), ("cert = \"party-2.crt\"", &cert)],
    );
    let mut procs = [spawn_run(&c.node(0), &job, &[]), spawn_run(&c.node(1), &job, &[]), spawn_run(&node2, &job, &[])];
    let outs = wait_all(&mut procs, deadline());
    for i in 0..3 {
        assert_failed(&outs, i);
    }
    let limit = Duration::from_secs(CONNECT_SECS + 10);
    for (i, o) in outs.iter().enumerate().take(2) {
        assert_error_has(&outs, i, &["party 2", "did not connect within"]);
        assert!(o.elapsed < limit, "member {i} took {:?} (limit {limit:?})", o.elapsed);
    }
    // Member 2 stops at the first refusal (its other dial may never reach its target);
    // the member that refused it must give the reason.
    let by = refused_by(&outs);
    assert_error_has(&outs, by, &["party 2 did not connect within", "refused a connection"]);
}

/// The member that refused member 2, read from member 2's `connection with party <k>
/// refused` error.
fn refused_by(outs: &[Outcome]) -> usize {
    let line = outs[2].error_line();
    let k = line.split("connection with party ").nth(1).and_then(|r| r.split(' ').next()).and_then(|k| k.parse().ok());
    match k {
        Some(k @ (0 | 1)) if line.contains(&format!("party {k} refused")) => k,
        _ => panic!("member 2's error should say which member refused it, got: {line}\n{}", logs(outs)),
    }
}

#[test]
fn member_claiming_another_id_is_refused() {
    let c = Consortium::new(3);
    let job = job_in(c.tmp.path());
    // Says party 2, presents party 1's (valid, same-CA) certificate and key.
    let node2 = c.node_variant(
        2,
        "party-2-impostor.toml",
        &[("key = \"party-2.key\"", "key = \"party-1.key\""), ("cert = \"party-2.crt\"", "cert = \"party-1.crt\"")],
    );
    let mut procs = [spawn_run(&c.node(0), &job, &[]), spawn_run(&c.node(1), &job, &[]), spawn_run(&node2, &job, &[])];
    let outs = wait_all(&mut procs, deadline());
    for i in 0..3 {
        assert_failed(&outs, i);
    }
    let claim = "claims to be party 2 but its certificate names party 1";
    assert_error_has(&outs, 2, &["refused", claim]);
    let by = refused_by(&outs);
    assert!(outs[by].stderr.contains(claim), "member {by} should log the refusal\n{}", logs(&outs));
    for i in 0..2 {
        assert_error_has(&outs, i, &["party 2"]);
    }
}

#[test]
fn mismatched_job_spec_stops_every_member() {
    let c = Consortium::new(3);
    let job = job_in(c.tmp.path());
    // Member 1's job differs only in one histogram edge.
    let text = std::fs::read_to_string(&job).expect("read job");
    let job1 = c.tmp.path().join("job-member-1.toml");
    std::fs::write(&job1, replace_once(&text, "25.0, 30.0]", "25.0, 31.0]")).expect("write job");
    let out = |i: usize| c.tmp.path().join(format!("result-{i}.json"));
    let mut procs: Vec<Proc> = (0..3)
        .map(|i| spawn_run(&c.node(i), if i == 1 { &job1 } else { &job }, &["--out", &out(i).display().to_string()]))
        .collect();
    let outs = wait_all(&mut procs, deadline());
    for i in 0..3 {
        assert_failed(&outs, i);
        assert!(!out(i).exists(), "member {i} wrote a result despite the mismatch");
    }
    // Only [stats] differs, and the error says so.
    for i in [0, 2] {
        assert_error_has(
            &outs,
            i,
            &[
                "job spec mismatch: party 1 runs a different job: [stats] differs (its job spec ",
                "every member must load the same job file",
            ],
        );
        let other = 2 - i;
        assert!(
            !outs[i].error_line().contains(&format!("party {other} runs a different job")),
            "member {i} blames party {other}\n{}",
            logs(&outs)
        );
    }
    assert_error_has(
        &outs,
        1,
        &[
            "job spec mismatch",
            "party 0 runs a different job: [stats] differs",
            "party 2 runs a different job: [stats]",
        ],
    );
}

#[test]
fn member_killed_mid_job_is_named_by_the_others() {
    let c = Consortium::new(3);
    let job = job_in(c.tmp.path());
    let mut procs = [spawn_run(&c.node(0), &job, &[]), spawn_run(&c.node(1), &job, &[])];
    let mut victim = spawn_run(&c.node(2), &job, &["--fault", "stall-after-agree"]);
    let startup = Duration::from_secs(CONNECT_SECS + 10);
    victim.wait_for_log("fault injection: stalling", startup);
    for p in &mut procs {
        p.wait_for_log("all members agree on the job", startup);
    }
    // The others are now waiting for member 2's shares.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(matches!(victim.child.try_wait(), Ok(None)), "the stalled member exited by itself:\n{}", victim.stderr());
    let killed = Instant::now();
    victim.child.kill().expect("kill member 2");
    let status = victim.child.wait().expect("wait for member 2");
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    let outs = wait_all(&mut procs, Duration::from_secs(RECV_SECS + IDLE_SECS + 30));
    let took = killed.elapsed();
    for i in 0..2 {
        assert_failed(&outs, i);
        assert_error_has(&outs, i, &["party 2"]);
    }
    assert!(took < Duration::from_secs(20), "the others needed {took:?} to give up on the killed member");
}

/// Member 1 reads a copy of its file with one cell replaced; it must name the file, line
/// and column, and the others must stop, blaming member 1 but learning nothing more.
fn bad_cell(line: usize, column: &str, cell: &str, expected: &str) {
    let c = Consortium::new(3);
    let job = job_in(c.tmp.path());
    let text = std::fs::read_to_string(data("member-1.csv")).expect("read member-1.csv");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let col = lines[0].split(',').position(|h| h.trim() == column).expect("column in header");
    let mut cells: Vec<&str> = lines[line - 1].split(',').collect();
    cells[col] = cell;
    let edited = cells.join(",");
    lines[line - 1] = edited;
    let bad = c.tmp.path().join("bad-member-1.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").expect("write bad csv");

    let bad_arg = bad.display().to_string();
    let mut procs = [
        spawn_run(&c.node(0), &job, &[]),
        spawn_run(&c.node(1), &job, &["--input", &bad_arg]),
        spawn_run(&c.node(2), &job, &[]),
    ];
    let outs = wait_all(&mut procs, deadline());
    for i in 0..3 {
        assert_failed(&outs, i);
    }
    let want = format!("error: {}, line {line}, column '{column}': {expected}", bad.display());
    assert!(
        outs[1].error_line().starts_with(&want),
        "member 1's error should start with\n  {want}\ngot\n  {}\n{}",
        outs[1].error_line(),
        logs(&outs)
    );
    for i in [0, 2] {
        assert_error_has(&outs, i, &["party 1 aborted the job: its input data is invalid"]);
        assert!(!outs[i].stderr.contains(cell), "member {i} learned the bad cell's value");
    }
}

#[test]
fn non_numeric_cell_is_named_and_stops_everyone() {
    bad_cell(5, "mean_area", "12.x3", "'12.x3' is not a number");
}

#[test]
fn out_of_range_cell_is_named_and_stops_everyone() {
    bad_cell(7, "mean_radius", "2e12", "2000000000000 is outside the supported range");
}

#[test]
fn a_members_own_values_never_reach_the_others_when_it_aborts() {
    use consort_protocols::learn::model::{TrainedModel, Weights};
    use consort_protocols::learn::spec::{ModelKind, SigmoidSpec};
    let c = Consortium::new(4);
    let example = std::fs::read_to_string(common::repo().join("examples/jobs/infer-logreg.toml")).unwrap();
    let spec: toml::Table = toml::from_str(&example).unwrap();
    let features: Vec<String> =
        spec["infer"]["features"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    let d = features.len();
    // Member 0's model passes every check but one standard deviation is so small that
    // its reciprocal does not fit the fixed point: member 0 stops inside the engine.
    let mut stds = vec![1.0; d];
    stds[4] = 1e-20;
    let model = TrainedModel {
        model: ModelKind::Logreg,
        features,
        label: "target".into(),
        means: vec![0.5; d],
        stds,
        label_mean: 0.0,
        label_std: 1.0,
        sigmoid: SigmoidSpec::default(),
        weights: Weights::Logreg { w: vec![0.25; d], b: 0.0 },
    };
    let model_file = c.tmp.path().join("model.json");
    std::fs::write(&model_file, serde_json::to_string(&model).unwrap()).unwrap();
    let text = common::replace_once(
        &example,
        "\"../models/breast-cancer-logreg.json\"",
        &format!("\"{}\"", model_file.display()),
    );
    let text = text.replace("\"../data/", &format!("\"{}/", common::repo().join("examples/data").display()));
    let job = c.tmp.path().join("infer.toml");
    std::fs::write(&job, text).unwrap();
    let mut procs: Vec<_> = (0..4).map(|i| spawn_run(&c.node(i), &job, &[])).collect();
    let outs = wait_all(&mut procs, deadline());
    for i in 0..4 {
        assert_failed(&outs, i);
    }
    // Member 0 sees its own value (1/1e-20) in its log; the others only the kind of failure.
    let own = "100000000000000000000";
    assert!(outs[0].stderr.contains(own), "{}", logs(&outs));
    for i in 1..4 {
        assert_error_has(&outs, i, &["party 0 aborted the job: a local check failed at step 'encode' (see its log)"]);
        assert!(!outs[i].stderr.contains(own), "party {i} learned member 0's value\n{}", logs(&outs));
    }
}

#[test]
fn a_revoked_certificate_is_refused_although_the_ca_signed_it() {
    let c = Consortium::new(3);
    let job = job_in(c.tmp.path());
    let show = std::process::Command::new(common::EXE)
        .args(["certs", "show", "--cert"])
        .arg(c.dir.join("party-2.crt"))
        .output()
        .unwrap();
    assert!(show.status.success(), "{}", String::from_utf8_lossy(&show.stderr));
    let stdout = String::from_utf8_lossy(&show.stdout);
    assert!(stdout.contains("  names: party-2\n"), "{stdout}");
    let fingerprint = stdout.lines().find_map(|l| l.strip_prefix("  fingerprint (SHA-256): ")).unwrap().to_string();
    let idle = format!("idle_timeout_secs = {IDLE_SECS}\n");
    // Member 0 revokes member 2's certificate (pasted as printed, spaces and all).
    let node0 =
        c.node_variant(0, "party-0-revokes.toml", &[(&idle, &format!("{idle}revoked_certs = [\"{fingerprint}\"]\n"))]);
    let mut procs = [spawn_run(&node0, &job, &[]), spawn_run(&c.node(1), &job, &[]), spawn_run(&c.node(2), &job, &[])];
    let outs = wait_all(&mut procs, deadline());
    for i in 0..3 {
        assert_failed(&outs, i);
    }
    let short: String = fingerprint.replace(' ', "").chars().take(16).collect();
    let why = format!("its certificate (SHA-256 {short}…) is revoked in this node's config");
    assert_error_has(&outs, 2, &["party 0 refused", &why]);
    assert!(outs[0].stderr.contains(&why), "member 0 should log the refusal\n{}", logs(&outs));
    assert_error_has(&outs, 0, &["party 2"]);

    // A malformed entry stops the node at once, naming its config.
    let bad = c.node_variant(0, "party-0-bad.toml", &[(&idle, &format!("{idle}revoked_certs = [\"abc\"]\n"))]);
    let mut procs = [spawn_run(&bad, &job, &[])];
    let o = wait_all(&mut procs, Duration::from_secs(20)).remove(0);
    assert_eq!(o.code, Some(1));
    assert_eq!(
        o.error_line(),
        format!("error: {}: revoked_certs[0] 'abc' is not a SHA-256 fingerprint (64 hex digits)", bad.display())
    );
}

#[test]
fn a_member_that_floods_the_others_is_named_within_the_stated_budget() {
    // Member 1 sends 1 MiB messages for steps nobody reads. A stats job's budget is
    // 16 MiB plus 64 bytes per word of its totals: the others hold no more than that of
    // member 1's bytes, then name it and stop.
    let c = Consortium::new(3);
    let job = job_in(c.tmp.path());
    let mut procs = [
        spawn_run(&c.node(0), &job, &[]),
        spawn_run(&c.node(1), &job, &["--fault", "flood"]),
        spawn_run(&c.node(2), &job, &[]),
    ];
    let outs = wait_all(&mut procs, deadline());
    for i in 0..3 {
        assert_failed(&outs, i);
    }
    let budget_of = |line: &str| -> Option<u64> {
        let tail = line.split("more than the ").nth(1)?;
        tail.split(' ').next()?.parse().ok()
    };
    let mut named_with_budget = 0;
    for i in [0, 2] {
        assert_error_has(&outs, i, &["party 1"]);
        let line = outs[i].error_line();
        if let Some(b) = budget_of(&line) {
            assert!(line.contains("party 1 misbehaved at step 'mailbox': it has "), "{line}");
            assert!((16 << 20..17 << 20).contains(&b), "member {i}: a budget of {b} bytes\n{}", logs(&outs));
            named_with_budget += 1;
        }
    }
    // At least one member hit the budget itself (the other may learn it from its abort).
    assert!(named_with_budget >= 1, "{}", logs(&outs));
}
