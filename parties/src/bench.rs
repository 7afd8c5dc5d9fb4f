//! `consort bench net`: QUIC throughput and small-message latency between two local
//! processes, and the pooled-statistics job for 3 members. Prints a table; measures,
//! never asserts.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use consort_net::{LinkEmulation, PartyId, StepId, Transport};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::Node;
use crate::error::NodeError;
use crate::files::{read_text, write_result};
use crate::node::connect;
use crate::report::cost_table;
use crate::simulate::{SimulateOptions, loopback_consortium, simulate, spawn_member};

/// Figures measured by party 0 of the two-process benchmark.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerFigures {
    pub throughput: Vec<Throughput>,
    pub rtt_us_median: f64,
    pub rtt_us_p99: f64,
    pub pings: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Throughput {
    pub mb: u64,
    pub repetitions: u32,
    pub secs_median: f64,
    pub mib_per_s: f64,
}

/// One side of the two-process benchmark (`consort bench-peer`).
pub async fn peer(node_path: &Path, sizes: &[u64], pings: u32, out: Option<&Path>) -> Result<(), NodeError> {
    let node = Node::load(node_path)?;
    let t = connect(&node, LinkEmulation::default(), false, crate::backend::DEFAULT_PEER_BUDGET, None).await?;
    let (me, other) = (node.me(), PartyId(1 - node.me().0.min(1)));
    let mut throughput = Vec::new();
    for &mb in sizes {
        let reps = (64 / mb.max(1)).clamp(1, 5) as u32;
        let payload = Bytes::from(vec![0xa5u8; (mb * 1_000_000) as usize]);
        let mut times = Vec::new();
        for r in 0..reps {
            let step = StepId::root("bulk").index(mb).index(u64::from(r));
            if me.0 == 0 {
                let t0 = Instant::now();
                t.send(other, &step, payload.clone()).await?;
                t.recv(other, &step).await?;
                times.push(t0.elapsed().as_secs_f64());
            } else {
                let got = t.recv(other, &step).await?;
                t.send(other, &step, Bytes::from(vec![got.len() as u8])).await?;
            }
        }
        let med = median(&mut times);
        throughput.push(Throughput {
            mb,
            repetitions: reps,
            secs_median: med,
            mib_per_s: if med > 0.0 { mb as f64 * 1e6 / 1048576.0 / med } else { 0.0 },
        });
    }
    let mut rtts = Vec::new();
    for k in 0..u64::from(pings) {
        let step = StepId::root("ping").index(k);
        if me.0 == 0 {
            let t0 = Instant::now();
            t.send(other, &step, Bytes::from_static(&[0u8; 8])).await?;
            t.recv(other, &step).await?;
            rtts.push(t0.elapsed().as_secs_f64() * 1e6);
        } else {
            let got = t.recv(other, &step).await?;
            t.send(other, &step, got).await?;
        }
    }
    t.finish().await?;
    if let (0, Some(out)) = (me.0, out) {
        rtts.sort_by(f64::total_cmp);
        let p99 = rtts.get(((rtts.len() as f64) * 0.99) as usize).or(rtts.last()).copied().unwrap_or(0.0);
        let figures = PeerFigures { throughput, rtt_us_median: median(&mut rtts), rtt_us_p99: p99, pings };
        let json = serde_json::to_string(&figures).map_err(|e| NodeError::Internal(e.to_string()))?;
        write_result(out, json.as_bytes(), &[])?;
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Writes `rows` synthetic rows (seeded, labelled synthetic) with 4 columns.
fn synthetic_csv(path: &Path, rows: usize, seed: u64) -> Result<(), NodeError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut s = String::with_capacity(rows * 40);
    s.push_str("age,bmi,glucose,cost\n");
    let mut uni = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    for _ in 0..rows {
        let age = 18.0 + 70.0 * uni();
        let bmi = 16.0 + 24.0 * uni();
        let glucose = 60.0 + 140.0 * uni() * uni();
        let cost = (1000.0 * uni() * uni() * 50.0).round() / 10.0;
        let _ = writeln!(s, "{age:.1},{bmi:.2},{glucose:.1},{cost}");
    }
    std::fs::write(path, s).map_err(|e| NodeError::file(path, format!("cannot write: {e}")))
}

/// Runs the whole benchmark and prints the table.
pub async fn bench_net(sizes: &[u64], pings: u32, rows: usize, out: Option<&Path>) -> Result<(), NodeError> {
    let exe = std::env::current_exe().map_err(|e| NodeError::Process(format!("cannot find this executable: {e}")))?;
    let dir = tempfile::tempdir().map_err(|e| NodeError::Process(format!("temporary directory: {e}")))?;
    let d = dir.path();

    eprintln!("bench: QUIC between two processes ({} sizes, {pings} pings)...", sizes.len());
    loopback_consortium(&d.join("pair"), 2, 120)?;
    let size_arg = sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let mut children = Vec::new();
    for i in 0..2 {
        let args = vec![
            "bench-peer".to_string(),
            "--node".into(),
            d.join(format!("pair/party-{i}.toml")).display().to_string(),
            "--sizes".into(),
            size_arg.clone(),
            "--pings".into(),
            pings.to_string(),
            "--out".into(),
            d.join("peer.json").display().to_string(),
        ];
        children.push(spawn_member(&exe, &args)?);
    }
    for (i, c) in children.iter_mut().enumerate() {
        let status = c.wait().await.map_err(|e| NodeError::Bench(format!("bench peer {i}: {e}")))?;
        if !status.success() {
            return Err(NodeError::Bench(format!("bench peer {i} failed ({status}); rerun with RUST_LOG=debug")));
        }
    }
    let figures: PeerFigures =
        serde_json::from_str(&read_text(&d.join("peer.json"))?).map_err(|e| NodeError::Internal(e.to_string()))?;

    eprintln!("bench: stats job, 3 members x {rows} rows...");
    let mut job = String::from(
        "name = \"bench-stats\"\ntask = \"stats\"\n[stats]\ncolumns = [\"age\", \"bmi\", \"glucose\", \"cost\"]\n[stats.histograms]\nage = [18, 30, 45, 60, 75, 88]\n[inputs]\n",
    );
    for i in 0..3 {
        synthetic_csv(&d.join(format!("member-{i}.csv")), rows, 1000 + i)?;
        let _ = writeln!(job, "party-{i} = \"member-{i}.csv\"");
    }
    let job_path = d.join("bench-stats.toml");
    std::fs::write(&job_path, job).map_err(|e| NodeError::file(&job_path, format!("cannot write: {e}")))?;
    let opts = SimulateOptions {
        exe,
        parties: 3,
        job: job_path,
        seed: None,
        latency_ms: None,
        bandwidth_mbit: None,
        timeout_secs: 120,
        show_logs: false,
        keys: None,
        results: None,
        kill: None,
    };
    let stats = simulate(&opts).await?;

    let mut table = String::new();
    let _ = writeln!(table, "QUIC, 2 processes on 127.0.0.1 (mutual TLS 1.3, one stream per message)");
    let _ = writeln!(table, "{:>10} {:>6} {:>12} {:>12}", "message", "reps", "median s", "MiB/s");
    for t in &figures.throughput {
        let _ = writeln!(table, "{:>7} MB {:>6} {:>12.4} {:>12.1}", t.mb, t.repetitions, t.secs_median, t.mib_per_s);
    }
    let _ = writeln!(
        table,
        "small-message round trip (8 bytes, {} pings): median {:.0} us, p99 {:.0} us",
        figures.pings, figures.rtt_us_median, figures.rtt_us_p99
    );
    let _ = writeln!(
        table,
        "\nstats job, 3 members x {rows} rows, 4 columns + 1 histogram: {:.3} s wall (simulate, incl. process start)",
        stats.wall_secs
    );
    table.push_str(&cost_table(&stats.members));
    print!("{table}");
    if let Some(out) = out {
        let json = serde_json::json!({ "quic": figures, "stats": stats });
        write_result(out, json.to_string().as_bytes(), &[])?;
    }
    Ok(())
}
