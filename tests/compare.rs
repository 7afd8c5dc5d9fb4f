//! `consort compare` as a user runs it: one job file under several backends, each as real
//! processes over QUIC; the table, the JSON and the SVG; rows for backends that cannot
//! run the job; and `consort backends`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::{read_json, repo, spawn, wait_all};

#[test]
fn compare_runs_each_backend_and_explains_the_ones_that_cannot_run() {
    let out = tempfile::tempdir().unwrap();
    let job = repo().join("examples/jobs/compare-breast-cancer.toml");
    let before = std::fs::read(&job).unwrap();
    let backends = "spdz:semi-honest,fedavg-additive,split-he:plain,additive,spdz:paranoid";
    let args = [
        "compare",
        "--job",
        job.to_str().unwrap(),
        "--backends",
        backends,
        "--out",
        out.path().to_str().unwrap(),
        "--seed",
        "3",
    ];
    let mut p = vec![spawn(&args, &repo())];
    let o = wait_all(&mut p, Duration::from_secs(300)).remove(0);
    assert_eq!(o.code, Some(0), "{}\n{}", o.stdout, o.stderr);
    for b in ["spdz:semi-honest", "fedavg-additive", "split-he:plain"] {
        let line =
            o.stdout.lines().find(|l| l.starts_with(b)).unwrap_or_else(|| panic!("no row for {b}:\n{}", o.stdout));
        assert!(line.contains("trust") || line.contains("trusted") || line.contains("no third party"), "{line}");
    }
    assert!(
        o.stdout.contains(
            "additive             cannot run this job: backend \"additive\" computes statistics only (task \"stats\"), not \"train\""
        ),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("backend \"spdz\" has no variant \"paranoid\" (one of: semi-honest, malicious)"),
        "{}",
        o.stdout
    );

    let report = read_json(&out.path().join("compare.json"));
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    for r in rows.iter().take(3) {
        assert_eq!(r["status"], "ok", "{r}");
        let (secure, twin) = (r["secure"].as_f64().unwrap(), r["plaintext"].as_f64().unwrap());
        assert!(secure > 0.9 && (secure - twin).abs() <= 0.03, "{r}");
        assert!(r["bytes_per_member"].as_f64().unwrap() > 0.0 && r["rounds"].as_u64().unwrap() > 0, "{r}");
        let derived = r["job_file"].as_str().unwrap();
        assert!(std::path::Path::new(derived).exists(), "{derived}");
    }
    assert_eq!(rows[3]["status"], "unsupported");
    assert_eq!(rows[4]["status"], "unsupported");
    // The dealer of spdz is a helper process: its bytes are reported apart.
    assert!(rows[0]["helper_bytes"].as_u64().unwrap() > 0);
    assert!(rows[1]["helper_bytes"].is_null());

    let svg = std::fs::read_to_string(out.path().join("compare.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    for b in ["spdz:semi-honest", "fedavg-additive", "split-he:plain"] {
        assert!(svg.contains(b), "the chart does not name {b}");
    }
    assert!(!svg.contains("paranoid"), "an unsupported row must not be charted");
    assert_eq!(std::fs::read(&job).unwrap(), before, "compare must not modify the job file");
}

#[test]
fn backends_lists_every_backend_with_its_trust_line() {
    let mut p = vec![spawn(&["backends"], &repo())];
    let o = wait_all(&mut p, Duration::from_secs(30)).remove(0);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    for b in ["additive", "spdz", "fedavg-paillier", "fedavg-additive", "split-he"] {
        assert!(o.stdout.lines().any(|l| l.starts_with(&format!("{b}  tasks:"))), "{}", o.stdout);
    }
    assert!(o.stdout.contains("spdz:malicious     dealer trusted for privacy and correctness"), "{}", o.stdout);
    let mut p = vec![spawn(&["backends", "--markdown"], &repo())];
    let md = wait_all(&mut p, Duration::from_secs(30)).remove(0).stdout;
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(readme.contains(md.trim()), "README's security table differs from `consort backends --markdown`");
}
