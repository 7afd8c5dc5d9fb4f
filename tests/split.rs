//! Split learning between real processes over QUIC: CKKS and Paillier against plaintext
//! split learning, training then inference from the saved parts, a bad label, and a
//! server that dies mid-training.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Consortium, read_json, replace_once, repo, spawn, spawn_run, wait_all};
use consort_protocols::learn::data::Rows;
use consort_protocols::split::model::{ClientNet, LayerShare, argmax, tensor};
use consort_protocols::split::{ClientModel, SplitSpec, prepare};

/// A copy of an example split job with absolute input paths and `edits` applied.
fn job(dir: &Path, example: &str, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(repo().join("examples/jobs").join(example)).unwrap();
    for (old, new) in edits {
        text = replace_once(&text, old, new);
    }
    let text = text.replace("\"../data/", &format!("\"{}/examples/data/", repo().display()));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn simulate(dir: &Path, job: &Path, parties: usize, extra: &[&str]) -> (common::Outcome, serde_json::Value) {
    let report = dir.join(format!("{}.json", job.file_stem().unwrap().to_string_lossy()));
    let mut args: Vec<String> = vec!["simulate".into(), "--parties".into(), parties.to_string(), "--quiet".into()];
    args.extend(["--job".into(), job.display().to_string(), "--out".into(), report.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut p = [spawn(&args, dir)];
    let o = wait_all(&mut p, Duration::from_secs(600)).pop().unwrap();
    let r = if o.code == Some(0) { read_json(&report) } else { serde_json::Value::Null };
    (o, r)
}

/// Reads a CSV's label and x000..x127 columns.
fn ecg_rows(path: &Path) -> Rows {
    let mut r = csv::Reader::from_path(path).unwrap();
    let head = r.headers().unwrap().clone();
    let label = head.iter().position(|h| h == "label").unwrap();
    let first = head.iter().position(|h| h == "x000").unwrap();
    let mut out = Rows { d: 128, ..Rows::default() };
    for rec in r.records() {
        let rec = rec.unwrap();
        out.y.push(rec[label].parse().unwrap());
        out.x.extend((first..first + 128).map(|i| rec[i].parse::<f64>().unwrap()));
    }
    out
}

#[test]
fn ckks_split_learning_matches_plaintext_then_answers_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let train = job(tmp.path(), "split-ecg-ckks.toml", "train.toml", &[("epochs = 10", "epochs = 4")]);
    let results = tmp.path().join("parts");
    let (o, r) = simulate(tmp.path(), &train, 3, &["--results", &results.display().to_string()]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("test accuracy on 101 held-out rows: secure "), "{}", o.stdout);
    let c = &r["comparison"];
    let (secure, plain) = (c["secure"].as_f64().unwrap(), c["plaintext"].as_f64().unwrap());
    assert!((secure - plain).abs() <= 0.01, "secure {secure} vs plaintext {plain}");
    assert!(plain > 0.8, "the plaintext twin learned nothing: {plain}");
    assert_eq!(r["members"].as_array().unwrap().len(), 4, "three clients and a server process");
    let server = read_json(&results.join("party-3.json"));
    assert_eq!(server["result"]["kind"], "split-server");
    let turns = server["result"]["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 4 * 3 + 3, "every training turn and one evaluation pass per client");
    // The server's result holds its share and counts, nothing of the clients.
    let server_text = std::fs::read_to_string(results.join("party-3.json")).unwrap();
    assert!(!server_text.contains("losses") && !server_text.contains("predictions"));

    // Inference with the saved parts: each hospital's rows, encrypted, through the server.
    let infer = tmp.path().join("infer.toml");
    let mut text = std::fs::read_to_string(repo().join("examples/jobs/split-ecg-infer.toml")).unwrap();
    text = text.replace("\"../data/", &format!("\"{}/examples/data/", repo().display()));
    text = text.replace("\"../../results/split/", &format!("\"{}/", results.display()));
    std::fs::write(&infer, text).unwrap();
    let (o, r) = simulate(tmp.path(), &infer, 3, &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let got: Vec<usize> =
        r["result"]["predictions"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    // The same model in plaintext: client 0's layers, W = S + C.
    let part: serde_json::Value = read_json(&results.join("party-0.json"));
    let model: ClientModel = serde_json::from_value(part["result"]["model"].clone()).unwrap();
    let s: LayerShare = serde_json::from_value(server["result"]["share"].clone()).unwrap();
    let mut spec: SplitSpec = toml::from_str(
        std::fs::read_to_string(&infer).unwrap().split("[split]").nth(1).unwrap().split("[inputs]").next().unwrap(),
    )
    .unwrap();
    spec.validate().unwrap();
    let rows = prepare(&spec, &ecg_rows(&repo().join("examples/data/ecg/member-0.csv")), None).unwrap();
    let net = ClientNet::new(&spec, &model.weights).unwrap();
    let a = net.forward(&tensor(&rows.x, rows.n(), rows.d).unwrap()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let w = LayerShare {
        w: s.w.iter().zip(&model.share.w).map(|(x, y)| x + y).collect(),
        b: s.b.iter().zip(&model.share.b).map(|(x, y)| x + y).collect(),
    };
    let want = argmax(&w.apply(&a, rows.n(), spec.cut()), spec.classes);
    assert_eq!(got.len(), 250);
    let differ = got.iter().zip(&want).filter(|(g, w)| g != w).count();
    assert!(differ <= 1, "{differ} of 250 encrypted predictions differ from the plaintext model's");
}

#[test]
fn paillier_split_learning_matches_plaintext_on_the_mitbih_beats() {
    let tmp = tempfile::tempdir().unwrap();
    let edits = [
        ("scheme = \"ckks\"", "scheme = \"paillier\""),
        ("epochs = 150", "epochs = 1"),
        ("batch_size = 5", "batch_size = 25"),
    ];
    let path = job(tmp.path(), "split-mitbih-ckks.toml", "mitbih-paillier.toml", &edits);
    let (o, r) = simulate(tmp.path(), &path, 2, &["--timeout", "60"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let c = &r["comparison"];
    assert_eq!(c["test_rows"], 50, "the published test beats");
    let (secure, plain) = (c["secure"].as_f64().unwrap(), c["plaintext"].as_f64().unwrap());
    assert_eq!(secure, plain, "50 rows: one row is 2 points");
    assert_eq!(r["result"]["scheme"], "paillier");
}

#[test]
fn a_bad_label_stops_every_party_naming_the_file_and_row() {
    let tmp = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(repo().join("examples/data/ecg/member-1.csv")).unwrap();
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    lines[5] = format!("7{}", &lines[5][1..]);
    let bad = tmp.path().join("member-1-bad.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let path = job(tmp.path(), "split-ecg-ckks.toml", "bad.toml", &[]);
    let text = std::fs::read_to_string(&path).unwrap();
    let text =
        text.replace(&format!("{}/examples/data/ecg/member-1.csv", repo().display()), &bad.display().to_string());
    std::fs::write(&path, text).unwrap();
    let (o, _) = simulate(tmp.path(), &path, 3, &[]);
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("member-1-bad.csv") && o.stderr.contains("row 5: label 7 is not a class in 0..3"),
        "{}",
        o.stderr
    );
    for i in [0, 2, 3] {
        assert!(o.stderr.contains(&format!("party {i} failed")), "party {i} did not stop:\n{}", o.stderr);
    }
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), lines.join("\n") + "\n", "the input was modified");
}

#[test]
fn the_server_dying_mid_training_stops_every_client() {
    let c = Consortium::new(4);
    let path = job(c.tmp.path(), "split-ecg-ckks.toml", "long.toml", &[("epochs = 10", "epochs = 200")]);
    let mut procs: Vec<_> = (0..4).map(|i| spawn_run(&c.node(i), &path, &[])).collect();
    procs[3].wait_for_log("served a training turn", Duration::from_secs(120));
    procs[3].child.kill().unwrap();
    let outcomes = wait_all(&mut procs[..3], Duration::from_secs(60));
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(o.code, Some(1), "party {i}: {}", o.stderr);
        assert!(o.error_line().contains("party 3"), "party {i} should name the server: {}", o.error_line());
    }
}
