#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The spdz backend between real processes over QUIC: training and inference with a
//! dealer process, and a cheating member caught by the MAC check.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Consortium, read_json, repo, spawn, spawn_run, wait_all};
use consort_protocols::learn::model::TrainedModel;

fn example(name: &str) -> String {
    std::fs::read_to_string(repo().join("examples/jobs").join(name)).unwrap()
}

/// An example job with absolute input paths and `edits` applied, written to `dir`.
fn job_variant(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = example(name);
    for (old, new) in edits {
        assert!(text.contains(old), "'{old}' not in {name}");
        text = text.replacen(old, new, 1);
    }
    let data = repo().join("examples/data");
    text = text.replace("\"../data/", &format!("\"{}/", data.display()));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn simulate(job: &Path, out: &Path) -> common::Outcome {
    let args: Vec<String> = vec![
        "simulate".into(),
        "--parties".into(),
        "3".into(),
        "--job".into(),
        job.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--quiet".into(),
    ];
    let mut p = [spawn(&args, &repo())];
    wait_all(&mut p, Duration::from_secs(180)).pop().unwrap()
}

#[test]
fn secure_training_then_inference_over_quic() {
    let tmp = tempfile::tempdir().unwrap();
    let job =
        job_variant(tmp.path(), "train-logreg.toml", &[("security = \"malicious\"", "security = \"semi-honest\"")]);
    let report = tmp.path().join("train.json");
    let o = simulate(&job, &report);
    assert_eq!(o.code, Some(0), "{}\n{}", o.stdout, o.stderr);
    let r = read_json(&report);
    assert_eq!(r["result"]["kind"], "train");
    let cmp = &r["comparison"];
    let (s, p) = (cmp["secure"].as_f64().unwrap(), cmp["plaintext"].as_f64().unwrap());
    assert_eq!(cmp["metric"], "accuracy");
    assert!((s - p).abs() <= 0.01 + 1e-9, "secure {s} vs plaintext {p}");
    assert!(o.stdout.contains("test accuracy on 114 held-out rows: secure"), "{}", o.stdout);
    // Three members and the dealer all report their traffic.
    assert_eq!(r["members"].as_array().unwrap().len(), 4);
    let model: TrainedModel = serde_json::from_value(r["result"]["model"].clone()).unwrap();

    // The trained model, owned by member 0, scores member 1's rows; only member 1 learns them.
    let infer = job_variant(
        tmp.path(),
        "infer-logreg.toml",
        &[("\"../models/breast-cancer-logreg.json\"", &format!("\"{}\"", report.display()))],
    );
    let out = tmp.path().join("infer.json");
    let o = simulate(&infer, &out);
    assert_eq!(o.code, Some(0), "{}\n{}", o.stdout, o.stderr);
    let r = read_json(&out);
    let preds: Vec<f64> = serde_json::from_value(r["result"]["predictions"].clone()).unwrap();
    let text = std::fs::read_to_string(repo().join("examples/data/breast_cancer/member-1.csv")).unwrap();
    let rows: Vec<Vec<f64>> =
        text.lines().skip(1).map(|l| l.split(',').take(31).map(|c| c.parse().unwrap()).collect()).collect();
    assert_eq!(preds.len(), rows.len());
    let mut right = 0;
    for (p, row) in preds.iter().zip(&rows) {
        // Probabilities: the exact sigmoid of the score, never outside [0, 1].
        assert!((0.0..=1.0).contains(p), "probability {p}");
        let want = model.predict(&row[..30], true);
        assert!((p - want).abs() < 5e-3, "{p} vs {want}");
        right += usize::from(f64::from(u8::from(want >= 0.5)) == row[30]);
    }
    let e = &r["result"]["evaluation"];
    assert_eq!(e["metric"], "accuracy");
    assert_eq!(e["label"], "target");
    assert_eq!(e["rows"], rows.len());
    let (got, plain) = (e["value"].as_f64().unwrap(), right as f64 / rows.len() as f64);
    // A probability within 5e-3 of 0.5 may land on the other side.
    assert!((got - plain).abs() <= 1.0 / rows.len() as f64 + 1e-12, "accuracy {got} vs plaintext {plain}");
    assert!(o.stdout.contains(&format!("accuracy against column 'target' on {} rows: ", rows.len())), "{}", o.stdout);
}

#[test]
fn a_cheating_member_makes_every_honest_member_abort() {
    let c = Consortium::new(4);
    let job = job_variant(c.tmp.path(), "train-logreg.toml", &[("epochs = 10", "epochs = 1")]);
    let mut procs: Vec<_> = (0..4)
        .map(|i| {
            if i == 1 {
                spawn_run(&c.node(i), &job, &["--fault", "corrupt-share"])
            } else {
                spawn_run(&c.node(i), &job, &[])
            }
        })
        .collect();
    let outs = wait_all(&mut procs, Duration::from_secs(120));
    for (i, o) in outs.iter().enumerate() {
        assert_ne!(o.code, Some(0), "party {i} must fail\n{}", o.stderr);
    }
    for i in [0, 2] {
        let e = outs[i].error_line();
        assert!(
            e.contains("MAC check failed for values opened at step 'train/"),
            "honest party {i}: {e}\n{}",
            outs[i].stderr
        );
    }
    // Nothing was revealed: no member wrote or printed a model.
    for o in &outs {
        assert!(!o.stdout.contains("\"weights\""), "{}", o.stdout);
    }
}
