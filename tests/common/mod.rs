//! Helpers shared by the integration tests: free ports, throw-away consortia, spawning
//! `consort` processes with a deadline, and an independent plaintext computation of the
//! statistics a stats job must produce.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const EXE: &str = env!("CARGO_BIN_EXE_consort");

/// Timeouts written into every test node config (connect, recv, idle), in seconds.
pub const CONNECT_SECS: u64 = 8;
pub const RECV_SECS: u64 = 8;
pub const IDLE_SECS: u64 = 3;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data(file: &str) -> PathBuf {
    repo().join("examples/data/breast_cancer").join(file)
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.write_u128(now.as_nanos() ^ u128::from(std::process::id()));
    h.finish()
}

/// Ports already handed out in this test process (tests run in parallel threads).
static TAKEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A base port such that `base .. base + n` are all free UDP ports on 127.0.0.1.
pub fn free_base_port(n: u16) -> u16 {
    for _ in 0..500 {
        let base = 20000 + (random_u64() % 40000) as u16;
        let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
        let taken = taken.get_or_insert_with(HashSet::new);
        if (base..base + n).any(|p| taken.contains(&p)) {
            continue;
        }
        if (base..base + n).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            taken.extend(base..base + n);
            return base;
        }
    }
    panic!("no range of {n} free UDP ports found");
}

/// A consortium made by `consort certs init`, with short timeouts, in its own temp dir.
pub struct Consortium {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Consortium {
    pub fn new(n: usize) -> Consortium {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("consortium");
        let base_port = free_base_port(n as u16);
        let out = Command::new(EXE)
            .args(["certs", "init", "--parties", &n.to_string(), "--base-port", &base_port.to_string()])
            .arg("--out")
            .arg(&dir)
            .output()
            .expect("run consort certs init");
        assert!(out.status.success(), "certs init failed: {}", String::from_utf8_lossy(&out.stderr));
        for i in 0..n {
            let path = dir.join(format!("party-{i}.toml"));
            let mut text = std::fs::read_to_string(&path).expect("read node config");
            for (key, default, secs) in [
                ("connect_timeout_secs", 60, CONNECT_SECS),
                ("recv_timeout_secs", 60, RECV_SECS),
                ("idle_timeout_secs", 10, IDLE_SECS),
            ] {
                text = replace_once(&text, &format!("\n{key} = {default}\n"), &format!("\n{key} = {secs}\n"));
            }
            assert!(text.contains(&format!("listen = \"127.0.0.1:{}\"", base_port + i as u16)), "{text}");
            std::fs::write(&path, text).expect("write node config");
        }
        Consortium { tmp, dir }
    }

    pub fn node(&self, i: usize) -> PathBuf {
        self.dir.join(format!("party-{i}.toml"))
    }

    /// Writes a variant of member `i`'s node config with `edits` (old, new) applied.
    pub fn node_variant(&self, i: usize, name: &str, edits: &[(&str, &str)]) -> PathBuf {
        let mut text = std::fs::read_to_string(self.node(i)).expect("read node config");
        for (old, new) in edits {
            text = replace_once(&text, old, new);
        }
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write node config");
        path
    }
}

/// Replaces the single occurrence of `old`; panics if it is missing or repeated, so a
/// changed config format is noticed instead of silently ignored.
pub fn replace_once(text: &str, old: &str, new: &str) -> String {
    assert_eq!(text.matches(old).count(), 1, "expected exactly one '{old}' in:\n{text}");
    text.replacen(old, new, 1)
}

/// Writes a stats job file. `inputs` are (party, path) pairs.
pub fn write_job(
    path: &Path,
    name: &str,
    columns: &[&str],
    frac_bits: Option<u8>,
    hists: &[(&str, Vec<f64>)],
    inputs: &[(usize, PathBuf)],
) {
    let mut t = format!("name = \"{name}\"\ntask = \"stats\"\n\n[stats]\ncolumns = [");
    t += &columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
    t += "]\n";
    if let Some(f) = frac_bits {
        t += &format!("frac_bits = {f}\n");
    }
    if !hists.is_empty() {
        t += "\n[stats.histograms]\n";
        for (c, edges) in hists {
            // `{:?}` prints the shortest text that parses back to the same f64.
            t += &format!("{c} = [{}]\n", edges.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(", "));
        }
    }
    if !inputs.is_empty() {
        t += "\n[inputs]\n";
        for (p, f) in inputs {
            t += &format!("party-{p} = \"{}\"\n", f.display());
        }
    }
    std::fs::write(path, t).expect("write job");
}

/// A running `consort` process whose stdout and stderr are collected by threads.
pub struct Proc {
    pub child: Child,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    pub started: Instant,
}

fn collect(mut r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap_or_else(|p| p.into_inner()).push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    buf
}

pub fn spawn<S: AsRef<std::ffi::OsStr>>(args: &[S], cwd: &Path) -> Proc {
    let mut child = Command::new(EXE)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn consort");
    let stdout = collect(child.stdout.take().expect("stdout"));
    let stderr = collect(child.stderr.take().expect("stderr"));
    Proc { child, stdout, stderr, started: Instant::now() }
}

/// `consort run` for one member.
pub fn spawn_run(node: &Path, job: &Path, extra: &[&str]) -> Proc {
    let mut args: Vec<String> =
        vec!["run".into(), "--node".into(), node.display().to_string(), "--job".into(), job.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    spawn(&args, &repo())
}

impl Proc {
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until stderr contains `needle`; panics (after killing) at the deadline.
    pub fn wait_for_log(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.stderr().contains(needle) {
            if Instant::now() > deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!("'{needle}' did not appear in the log within {within:?}:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Never leave a member behind, whatever the test did.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How a process ended.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From spawn to exit (as observed with 50 ms polling).
    pub elapsed: Duration,
}

impl Outcome {
    /// The last `error: ` line of stderr (empty if there is none).
    pub fn error_line(&self) -> String {
        self.stderr.lines().rev().find(|l| l.starts_with("error: ")).unwrap_or("").to_string()
    }
}

/// Waits for every process; if any is still running at the deadline, kills all of them
/// and panics with their logs, so a hang fails the test instead of hanging CI.
pub fn wait_all(procs: &mut [Proc], within: Duration) -> Vec<Outcome> {
    let deadline = Instant::now() + within;
    let mut ended: Vec<Option<(Option<i32>, Instant)>> = procs.iter().map(|_| None).collect();
    loop {
        for (p, e) in procs.iter_mut().zip(ended.iter_mut()).filter(|(_, e)| e.is_none()) {
            *e = p.child.try_wait().expect("try_wait").map(|status| (status.code(), Instant::now()));
        }
        if ended.iter().all(Option::is_some) {
            break;
        }
        if Instant::now() > deadline {
            for p in procs.iter_mut() {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
            std::thread::sleep(Duration::from_millis(100));
            let logs: Vec<String> = procs
                .iter()
                .zip(&ended)
                .map(|(p, e)| format!("--- ended: {:?}:\n{}", e.map(|e| e.0), p.stderr()))
                .collect();
            panic!("processes still running after {within:?}; killed them\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the reader threads take the last bytes.
    std::thread::sleep(Duration::from_millis(100));
    procs
        .iter()
        .zip(ended)
        .map(|(p, e)| {
            let (code, at) = e.expect("ended");
            Outcome {
                code,
                stdout: p.stdout.lock().unwrap_or_else(|x| x.into_inner()).clone(),
                stderr: p.stderr(),
                elapsed: at - p.started,
            }
        })
        .collect()
}

/// Plaintext statistics of one column, computed here independently of the product.
#[derive(Debug, Clone)]
pub struct Plain {
    pub name: String,
    pub count: u64,
    pub sum: f64,
    pub mean: f64,
    pub variance: f64,
    pub variance_population: f64,
    pub max_abs: f64,
    /// (edges, below, bins, above)
    pub histogram: Option<(Vec<f64>, u64, Vec<u64>, u64)>,
}

/// Reads `columns` from each CSV (header line, then rows) and returns the values.
pub fn read_columns(files: &[PathBuf], columns: &[&str]) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new(); columns.len()];
    for f in files {
        let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(f).expect("open csv");
        let headers = r.headers().expect("headers").clone();
        let idx: Vec<usize> = columns
            .iter()
            .map(|c| headers.iter().position(|h| h == *c).unwrap_or_else(|| panic!("no column {c} in {}", f.display())))
            .collect();
        for rec in r.records() {
            let rec = rec.expect("csv record");
            for (o, &i) in out.iter_mut().zip(&idx) {
                o.push(rec[i].parse::<f64>().expect("numeric cell"));
            }
        }
    }
    out
}

/// Two-pass statistics and a linear-scan histogram (bins [e_i, e_i+1), last closed).
pub fn plain_stats(files: &[PathBuf], columns: &[&str], hists: &BTreeMap<String, Vec<f64>>) -> Vec<Plain> {
    let values = read_columns(files, columns);
    columns
        .iter()
        .zip(values)
        .map(|(name, v)| {
            let n = v.len() as f64;
            let sum: f64 = v.iter().sum();
            let mean = sum / n;
            let ss: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
            let histogram = hists.get(*name).map(|e| {
                let k = e.len() - 1;
                let (mut below, mut above, mut bins) = (0, 0, vec![0u64; k]);
                for &x in &v {
                    if x < e[0] {
                        below += 1;
                    } else if x > e[k] {
                        above += 1;
                    } else {
                        let bin =
                            (0..k).find(|&i| e[i] <= x && (x < e[i + 1] || (i == k - 1 && x == e[k]))).expect("a bin");
                        bins[bin] += 1;
                    }
                }
                (e.clone(), below, bins, above)
            });
            Plain {
                name: name.to_string(),
                count: v.len() as u64,
                sum,
                mean,
                variance: ss / (n - 1.0),
                variance_population: ss / n,
                max_abs: v.iter().fold(0.0, |m, x| x.abs().max(m)),
                histogram,
            }
        })
        .collect()
}

fn close(what: &str, got: &Value, want: f64, tol: f64) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, expected {want} (|diff| {} > tol {tol})",
        (got - want).abs()
    );
}

/// Compares a `result` object (`{"rows", "columns": [...]}`) with the plaintext.
///
/// Tolerances: a relative part (1e-6 for sum/mean, 1e-4 for variances) plus the worst
/// case of fixed-point rounding with `frac_bits` (each encoded x and x² is off by at most
/// half a unit, 2^-(f+1)); a wrong formula or a lost row is far outside both.
pub fn assert_result_matches(result: &Value, plain: &[Plain], frac_bits: u32) {
    let n = plain[0].count;
    assert_eq!(result["rows"].as_u64(), Some(n), "rows in {result}");
    let cols = result["columns"].as_array().expect("columns array");
    assert_eq!(cols.len(), plain.len(), "number of columns in {result}");
    let half_unit = 2f64.powi(-(frac_bits as i32) - 1);
    for (c, p) in cols.iter().zip(plain) {
        let w = |f: &str| format!("column {} {f}", p.name);
        assert_eq!(c["name"].as_str(), Some(p.name.as_str()));
        assert_eq!(c["count"].as_u64(), Some(p.count), "{}", w("count"));
        let nf = n as f64;
        let q = nf * half_unit; // bound on the error of Σx and of Σx²
        close(&w("sum"), &c["sum"], p.sum, 1e-6 * p.sum.abs() + q);
        close(&w("mean"), &c["mean"], p.mean, 1e-6 * p.mean.abs() + q / nf);
        // Σ(x-mean)² = Σx² - (Σx)²/n: error ≤ q + 2|mean|·q (+ f64 cancellation noise).
        let ss_err = q * (1.0 + 2.0 * p.mean.abs()) + 1e-12 * nf * (p.max_abs * p.max_abs);
        let var_tol = 1e-4 * p.variance + ss_err / (nf - 1.0);
        close(&w("variance"), &c["variance"], p.variance, var_tol);
        close(
            &w("variance_population"),
            &c["variance_population"],
            p.variance_population,
            1e-4 * p.variance_population + ss_err / nf,
        );
        // |√a - √b| ≤ |a - b| / √b.
        let std = p.variance.sqrt();
        close(&w("std"), &c["std"], std, if std > 0.0 { var_tol / std } else { var_tol.sqrt() });
        match &p.histogram {
            None => assert!(c.get("histogram").is_none_or(Value::is_null), "{}: unexpected histogram", w("")),
            Some((edges, below, bins, above)) => {
                let h = &c["histogram"];
                let got_edges: Vec<f64> =
                    h["edges"].as_array().expect("edges").iter().map(|x| x.as_f64().expect("edge")).collect();
                assert_eq!(&got_edges, edges, "{}", w("histogram edges"));
                let counts: Vec<u64> =
                    h["counts"].as_array().expect("counts").iter().map(|x| x.as_u64().expect("count")).collect();
                assert_eq!(&counts, bins, "{}", w("histogram counts"));
                assert_eq!(h["below"].as_u64(), Some(*below), "{}", w("histogram below"));
                assert_eq!(h["above"].as_u64(), Some(*above), "{}", w("histogram above"));
            }
        }
    }
}

/// Checks a traffic object: something was sent and received, in at least one round.
pub fn assert_traffic(t: &Value, who: &str) {
    for f in ["bytes_sent", "bytes_received", "messages_sent", "messages_received", "rounds"] {
        assert!(t[f].as_u64().is_some_and(|v| v > 0), "{who}: traffic.{f} should be > 0 in {t}");
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}\n{text}", path.display()))
}
