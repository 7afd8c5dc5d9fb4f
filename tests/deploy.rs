//! The README's separate-machines walkthrough, as the script `examples/deploy/deploy.sh`
//! runs it: a CA, three members making their own keys and CSRs, the CA signing them
//! (fingerprints compared), node configs, and three `consort run` processes started in
//! the order 2, 0, 1 on 127.0.0.1. Every member's result must match plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{EXE, assert_result_matches, data, free_base_port, plain_stats, read_json, repo};

#[test]
#[cfg(unix)]
fn the_deployment_script_runs_three_members_from_the_docs() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("deploy");
    let base = free_base_port(3);
    let out = Command::new("bash")
        .arg(repo().join("examples/deploy/deploy.sh"))
        .arg(&work)
        .env("CONSORT", EXE)
        .env("BASE_PORT", base.to_string())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "deploy.sh failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("== done"), "{stdout}");
    // Each member printed a CSR fingerprint, and the CA printed the same one.
    for i in 0..3 {
        assert_eq!(stdout.matches(&format!("signed certificate for party-{i} written to")).count(), 1, "{stdout}");
    }
    assert_eq!(stdout.matches("CSR fingerprint (SHA-256): ").count(), 6, "{stdout}");

    let job: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo().join("examples/jobs/stats.toml")).unwrap()).unwrap();
    let cols: Vec<String> =
        job["stats"]["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    let hists: BTreeMap<String, Vec<f64>> = job["stats"]["histograms"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(c, e)| {
            (
                c.clone(),
                e.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_float().or(v.as_integer().map(|i| i as f64)).unwrap())
                    .collect(),
            )
        })
        .collect();
    let files: Vec<_> = (0..3).map(|i| data(&format!("member-{i}.csv"))).collect();
    let plain = plain_stats(&files, &cols, &hists);
    for (i, m) in ["hospital-a", "lab-b", "insurer-c"].iter().enumerate() {
        let r = read_json(&work.join(m).join("result.json"));
        assert_eq!(r["party"], i, "{m}");
        assert_result_matches(&r["result"], &plain, 16);
        // The CA's key never left the CA's directory.
        assert!(!work.join(m).join("ca.key").exists(), "{m} holds the CA key");
    }
}
