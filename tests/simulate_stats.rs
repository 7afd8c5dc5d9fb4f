//! `consort simulate`: whole jobs as N real processes over QUIC, checked against a
//! plaintext computation of the same statistics done here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    Plain, assert_result_matches, assert_traffic, data, plain_stats, read_json, repo, spawn, wait_all, write_job,
};
use serde_json::Value;

/// The parts of a stats job file this test needs, read with a tiny line parser (the
/// test must not depend on the product's own job parser).
struct JobInfo {
    name: String,
    columns: Vec<String>,
    frac_bits: u32,
    histograms: BTreeMap<String, Vec<f64>>,
}

fn list(value: &str) -> Vec<String> {
    let inner = value.trim().trim_start_matches('[').trim_end_matches(']');
    inner.split(',').map(|s| s.trim().trim_matches('"').to_string()).filter(|s| !s.is_empty()).collect()
}

fn parse_job(path: &Path) -> JobInfo {
    let text = std::fs::read_to_string(path).expect("read job");
    let mut job = JobInfo { name: String::new(), columns: Vec::new(), frac_bits: 16, histograms: BTreeMap::new() };
    let mut section = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if line.starts_with('[') && !line.contains('=') {
            section = line.trim_matches(['[', ']']).to_string();
            continue;
        }
        let (key, value) = line.split_once('=').expect("key = value");
        let (key, value) = (key.trim(), value.trim());
        match (section.as_str(), key) {
            ("", "name") => job.name = value.trim_matches('"').to_string(),
            ("stats", "columns") => job.columns = list(value),
            ("stats", "frac_bits") => job.frac_bits = value.parse().expect("frac_bits"),
            ("stats.histograms", col) => {
                job.histograms.insert(col.to_string(), list(value).iter().map(|e| e.parse().expect("edge")).collect());
            }
            _ => {}
        }
    }
    assert!(!job.columns.is_empty(), "no columns found in {}", path.display());
    job
}

/// Runs `consort simulate` and returns the parsed `--out` report.
fn simulate(parties: usize, job: &Path, out: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<String> =
        vec!["simulate".into(), "--parties".into(), parties.to_string(), "--job".into(), job.display().to_string()];
    args.extend(["--out".into(), out.display().to_string(), "--quiet".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut procs = [spawn(&args, &repo())];
    let o = wait_all(&mut procs, Duration::from_secs(180)).pop().expect("outcome");
    assert_eq!(o.code, Some(0), "simulate failed:\nstdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    read_json(out)
}

fn check_report(report: &Value, parties: usize, job_name: &str, plain: &[Plain], frac_bits: u32) {
    assert_eq!(report["job"].as_str(), Some(job_name), "{report}");
    assert_eq!(report["parties"].as_u64(), Some(parties as u64));
    assert!(report["wall_secs"].as_f64().is_some_and(|w| w > 0.0), "wall_secs in {report}");
    assert_result_matches(&report["result"], plain, frac_bits);
    let members = report["members"].as_array().expect("members");
    assert_eq!(members.len(), parties, "one cost entry per member");
    let mut ids: Vec<u64> = members.iter().map(|m| m["party"].as_u64().expect("party")).collect();
    ids.sort();
    assert_eq!(ids, (0..parties as u64).collect::<Vec<_>>());
    for m in members {
        assert_traffic(&m["traffic"], &format!("party {}", m["party"]));
        // Secure sum: every member sends a share to and receives a share from each peer.
        let msgs = m["traffic"]["messages_received"].as_u64().unwrap_or(0);
        assert!(
            msgs >= 2 * (parties as u64 - 1),
            "party {}: {msgs} messages received for {parties} members",
            m["party"]
        );
    }
}

#[test]
fn three_members_match_plaintext_of_full_csv() {
    let job_path = repo().join("examples/jobs/stats.toml");
    let job = parse_job(&job_path);
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("r.json");
    let report = simulate(3, &job_path, &out, &["--seed", "7"]);

    let cols: Vec<&str> = job.columns.iter().map(String::as_str).collect();
    let plain = plain_stats(&[data("full.csv")], &cols, &job.histograms);
    // The member files must be a split of full.csv for this comparison to mean anything.
    let parts =
        plain_stats(&[data("member-0.csv"), data("member-1.csv"), data("member-2.csv")], &cols, &job.histograms);
    assert_eq!(parts[0].count, plain[0].count, "member files do not add up to full.csv");
    assert!(
        job.histograms.values().all(|e| e.len() >= 2) && !job.histograms.is_empty(),
        "the example job should have histograms"
    );
    check_report(&report, 3, &job.name, &plain, job.frac_bits);
}

#[test]
fn five_unequal_members_with_histograms_match_plaintext() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(data("full.csv")).expect("read full.csv");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().expect("header");
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() > 400, "full.csv too small: {} rows", rows.len());

    // Five unequal slices; the last takes the rest.
    let sizes = [7usize, 60, 123, 150, rows.len() - 340];
    let mut files = Vec::new();
    let mut at = 0;
    for (i, n) in sizes.iter().enumerate() {
        let path = tmp.path().join(format!("m{i}.csv"));
        let body: Vec<&str> = rows[at..at + n].to_vec();
        std::fs::write(&path, format!("{header}\n{}\n", body.join("\n"))).expect("write member csv");
        files.push(path);
        at += n;
    }
    assert_eq!(at, rows.len());

    let cols = ["mean_radius", "mean_texture", "worst_area", "worst_smoothness", "target"];
    // Edges that hit data values exactly: the lowest edge is a data value (counted in the
    // first bin, smaller ones below) and the highest is the maximum (counted in the last,
    // closed bin, not above).
    let mut radius = common::read_columns(&files, &["mean_radius"]).remove(0);
    radius.sort_by(f64::total_cmp);
    let (lo, hi) = (radius[20], *radius.last().expect("rows"));
    let radius_edges = vec![lo, 10.0, 12.5, 15.0, 20.0, hi];
    assert!(radius_edges.windows(2).all(|w| w[0] < w[1]), "{radius_edges:?}");
    let hists = [
        ("mean_radius", radius_edges),
        ("worst_area", vec![500.0, 1000.0, 1500.0, 2000.0]),
        ("target", vec![0.0, 0.5, 1.0]),
    ];
    let inputs: Vec<(usize, PathBuf)> = files.iter().cloned().enumerate().collect();
    let job_path = tmp.path().join("five.toml");
    write_job(&job_path, "five-members", &cols, Some(20), &hists, &inputs);

    let report = simulate(5, &job_path, &tmp.path().join("r.json"), &[]);
    let hist_map: BTreeMap<String, Vec<f64>> = hists.into_iter().map(|(c, e)| (c.to_string(), e)).collect();
    let plain = plain_stats(&files, &cols, &hist_map);
    // The chosen edges must exercise below, above and the closed last bin.
    let (_, below, bins, above) = plain[0].histogram.clone().expect("radius histogram");
    assert!(below > 0 && above == 0 && bins.iter().all(|&b| b > 0), "{below} {bins:?} {above}");
    let (_, wbelow, _, wabove) = plain[2].histogram.clone().expect("area histogram");
    assert!(wbelow > 0 && wabove > 0);
    check_report(&report, 5, "five-members", &plain, 20);
}
