//! Federated averaging between real processes over QUIC: `consort keygen`, both
//! backends against plaintext FedAvg, and a member killed mid-run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Consortium, read_json, repo, spawn, spawn_run, wait_all};

const EXE: &str = env!("CARGO_BIN_EXE_consort");

fn keygen(dir: &Path, parties: usize, threshold: usize, test_primes: bool) -> std::process::Output {
    let mut cmd = Command::new(EXE);
    cmd.args(["keygen", "--parties", &parties.to_string(), "--threshold", &threshold.to_string(), "--out"]).arg(dir);
    if test_primes {
        cmd.arg("--insecure-test-primes");
    }
    cmd.output().expect("run consort keygen")
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
#[cfg(unix)]
fn keygen_deals_fresh_keys_with_private_shares_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let out = keygen(&dir, 3, 2, false);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("2048-bit threshold Paillier key for 3 members (any 2 decrypt)"), "{stdout}");
    assert_eq!(mode(&dir.join("public.json")) & 0o600, 0o600);
    for i in 0..3 {
        assert_eq!(mode(&dir.join(format!("party-{i}.share.json"))), 0o600);
    }
    let public = std::fs::read_to_string(dir.join("public.json")).unwrap();
    let before = std::fs::read(dir.join("party-0.share.json")).unwrap();
    // The public file holds no share.
    let share: serde_json::Value = serde_json::from_slice(&before).unwrap();
    let secret = share["share"].as_str().unwrap();
    assert!(secret.len() > 500, "{share}");
    assert!(!public.contains(secret), "a secret share appears in public.json");
    let again = keygen(&dir, 3, 2, false);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("public.json: exists; refusing to overwrite a key set (use another --out)"), "{err}");
    assert_eq!(std::fs::read(dir.join("party-0.share.json")).unwrap(), before, "a share was modified");
    let bad = keygen(&tmp.path().join("other"), 3, 4, false);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim(),
        "error: keys: --threshold 4 with --parties 3: need 2 <= parties <= 64 and 1 <= threshold <= parties"
    );
}

/// The ECG example job with fewer rounds and absolute input paths.
fn ecg_job(dir: &Path, backend: &str, rounds: usize, members: usize, aggregator: usize, threshold: usize) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("examples/jobs/fedavg-ecg-paillier.toml")).unwrap();
    let mut text = common::replace_once(&text, "rounds = 5", &format!("rounds = {rounds}"));
    text = common::replace_once(&text, "\nbackend = \"fedavg-paillier\"", &format!("\nbackend = \"{backend}\""));
    text = common::replace_once(&text, "aggregator = 3", &format!("aggregator = {aggregator}"));
    text = common::replace_once(&text, "threshold = 2", &format!("threshold = {threshold}"));
    let inputs = text.find("[inputs]").unwrap();
    text.truncate(inputs);
    text += "[inputs]\n";
    if members == 3 {
        for i in 0..3 {
            text +=
                &format!("party-{i} = \"{}\"\n", repo().join(format!("examples/data/ecg/member-{i}.csv")).display());
        }
    } else {
        // Deal the beats round-robin into `members` files.
        let full = std::fs::read_to_string(repo().join("examples/data/ecg/full.csv")).unwrap();
        let mut lines = full.lines();
        let head = lines.next().unwrap();
        let mut parts = vec![format!("{head}\n"); members];
        for (i, l) in lines.enumerate() {
            parts[i % members] += &format!("{l}\n");
        }
        for (i, p) in parts.iter().enumerate() {
            let f = dir.join(format!("ecg-{i}.csv"));
            std::fs::write(&f, p).unwrap();
            text += &format!("party-{i} = \"{}\"\n", f.display());
        }
    }
    let path = dir.join(format!("{backend}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn fedavg_paillier_and_additive_match_plaintext_fedavg() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    assert!(keygen(&keys, 3, 2, true).status.success());
    for backend in ["fedavg-paillier", "fedavg-additive"] {
        let job = ecg_job(tmp.path(), backend, 4, 3, 3, 2);
        let report = tmp.path().join(format!("{backend}.json"));
        let mut args = vec!["simulate".to_string(), "--parties".into(), "3".into(), "--quiet".into()];
        args.extend(["--job".into(), job.display().to_string(), "--out".into(), report.display().to_string()]);
        args.extend(["--keys".into(), keys.display().to_string(), "--timeout".into(), "60".into()]);
        let mut p = [spawn(&args, tmp.path())];
        let o = wait_all(&mut p, Duration::from_secs(300)).pop().unwrap();
        assert_eq!(o.code, Some(0), "{backend}: {}", o.stderr);
        assert!(o.stdout.contains("test accuracy on 101 held-out rows: secure "), "{}", o.stdout);
        let r = read_json(&report);
        let members = r["members"].as_array().unwrap().len();
        assert_eq!(members, if backend == "fedavg-paillier" { 4 } else { 3 }, "aggregator node only with paillier");
        let c = &r["comparison"];
        let (secure, plain) = (c["secure"].as_f64().unwrap(), c["plaintext"].as_f64().unwrap());
        // Fixed-point rounding of the averaged weights may flip at most a row or two.
        assert!((secure - plain).abs() <= 0.02, "{backend}: secure {secure} vs plaintext {plain}");
        assert!(plain > 0.8, "the plaintext twin learned nothing: {plain}");
        let rounds = r["result"]["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 4);
        assert_eq!(rounds[0]["contributors"], serde_json::json!([0, 1, 2]));
    }
}

#[test]
fn a_member_killed_mid_run_is_dropped_and_the_job_finishes() {
    let c = Consortium::new(6);
    let keys = c.tmp.path().join("keys");
    assert!(keygen(&keys, 5, 3, true).status.success());
    let job = ecg_job(c.tmp.path(), "fedavg-paillier", 4, 5, 5, 3);
    let keys_arg = keys.display().to_string();
    let mut procs = Vec::new();
    for i in 0..6 {
        // Generous timeouts: a slow member (six processes on two cores, beside the other
        // tests) must not be mistaken for a dead one, at start-up or later.
        let node = c.node_variant(
            i,
            &format!("slow-{i}.toml"),
            &[
                ("recv_timeout_secs = 8", "recv_timeout_secs = 60"),
                ("connect_timeout_secs = 8", "connect_timeout_secs = 60"),
            ],
        );
        let out = c.tmp.path().join(format!("result-{i}.json"));
        let out = out.display().to_string();
        procs.push(spawn_run(&node, &job, &["--keys", &keys_arg, "--out", &out]));
    }
    procs[4].wait_for_log("round done round=1", Duration::from_secs(120));
    procs[4].child.kill().unwrap();
    let outcomes = wait_all(&mut procs, Duration::from_secs(300));
    for (i, o) in outcomes.iter().enumerate().filter(|(i, _)| *i != 4) {
        assert_eq!(o.code, Some(0), "party {i}: {}\naggregator: {}", o.stderr, outcomes[5].stderr);
    }
    assert!(outcomes[5].stderr.contains("member dropped out; carrying on without it"), "{}", outcomes[5].stderr);
    assert!(outcomes[5].stderr.contains("party 4"), "{}", outcomes[5].stderr);
    let first = read_json(&c.tmp.path().join("result-0.json"));
    let rounds = first["result"]["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 4);
    assert_eq!(rounds[0]["contributors"], serde_json::json!([0, 1, 2, 3, 4]));
    assert_eq!(rounds[3]["contributors"], serde_json::json!([0, 1, 2, 3]));
    for i in 1..4 {
        let r = read_json(&c.tmp.path().join(format!("result-{i}.json")));
        assert_eq!(r["result"]["model"], first["result"]["model"], "party {i} ended with another model");
    }
    let agg = read_json(&c.tmp.path().join("result-5.json"));
    assert_eq!(agg["result"]["kind"], "aggregator");
    assert!(first["result"]["local_test_accuracy"].as_f64().unwrap() > 0.5);
}

#[test]
fn simulate_keeps_the_survivors_results_after_a_dropout_it_tolerated() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    assert!(keygen(&keys, 4, 2, true).status.success());
    let job = ecg_job(tmp.path(), "fedavg-paillier", 3, 4, 4, 2);
    let (report, results) = (tmp.path().join("report.json"), tmp.path().join("results"));
    let args: Vec<String> = [
        "simulate",
        "--parties",
        "4",
        "--quiet",
        "--timeout",
        "60",
        "--kill-party",
        "2",
        "--kill-on-log",
        "round done round=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--job".into(), job.display().to_string(), "--keys".into(), keys.display().to_string()])
    .chain(["--out".into(), report.display().to_string(), "--results".into(), results.display().to_string()])
    .collect();
    let mut p = [spawn(&args, tmp.path())];
    let o = wait_all(&mut p, Duration::from_secs(300)).pop().unwrap();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("dropped out: party 2 (signal: 9"), "{}", o.stdout);
    assert!(o.stdout.contains("; the job carried on without it"), "{}", o.stdout);
    let r = read_json(&report);
    assert_eq!(r["dropped"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["dropped"][0]["party"], 2);
    assert!(r["comparison"].is_null(), "a twin of all members' rows was compared after a dropout");
    let rounds = r["result"]["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 3);
    assert_eq!(rounds[0]["contributors"], serde_json::json!([0, 1, 2, 3]));
    assert_eq!(rounds[2]["contributors"], serde_json::json!([0, 1, 3]));
    for i in [0, 1, 3, 4] {
        let kept = read_json(&results.join(format!("party-{i}.json")));
        assert_eq!(kept["party"], i, "party-{i}.json");
    }
    assert!(!results.join("party-2.json").exists(), "the killed member left a result");
}
