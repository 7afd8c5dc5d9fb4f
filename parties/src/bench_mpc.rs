//! `consort bench mpc`: the arithmetic engine over real QUIC between local processes
//! (members plus a dealer process). Prints a table; measures, never asserts.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use consort_net::{CounterSnapshot, LinkEmulation, PartyId, StepId, Transport};
use consort_protocols::fixed::FracBits;
use consort_protocols::learn::spec::{ModelKind, SigmoidSpec, TrainSpec};
use consort_protocols::spdz::poly::{Function, Poly, error_table, render_error_table};
use consort_protocols::spdz::prep::{DealerClient, DealerCore, Preprocessing, Request, serve_dealer};
use consort_protocols::spdz::{Engine, MulQueue, Security};
use serde::{Deserialize, Serialize};

use crate::backend::common::load_rows;
use crate::config::Node;
use crate::error::NodeError;
use crate::files::{read_text, write_result};
use crate::node::connect;
use crate::simulate::{loopback_consortium, spawn_member};

/// One measured line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MpcRow {
    pub what: String,
    pub members: usize,
    pub security: Security,
    pub ops: u64,
    pub secs: f64,
    /// Sent by member 0 (the dealer's traffic is not included).
    pub bytes_sent: u64,
    pub rounds: u64,
}

const N: usize = 1_000_000;

fn row(what: &str, members: usize, security: Security, ops: u64, t0: Instant, c: CounterSnapshot) -> MpcRow {
    MpcRow {
        what: what.into(),
        members,
        security,
        ops,
        secs: t0.elapsed().as_secs_f64(),
        bytes_sent: c.bytes_sent,
        rounds: c.rounds,
    }
}

/// One process of the benchmark (`consort bench-mpc-peer`).
pub async fn peer(node_path: &Path, security: Security, data: &Path, out: Option<&Path>) -> Result<(), NodeError> {
    let node = Node::load(node_path)?;
    let t = connect(&node, LinkEmulation::default(), false, crate::backend::DEFAULT_PEER_BUDGET, None).await?;
    let n = t.parties().len() - 1;
    let dealer = PartyId(n as u16);
    let members: Vec<PartyId> = (0..n as u16).map(PartyId).collect();
    if t.me() == dealer {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| NodeError::Certs(e.to_string()))?;
        serve_dealer(&t, &members, DealerCore::new(n, security, seed), std::time::Duration::from_secs(600)).await?;
        t.finish().await?;
        return Ok(());
    }
    let me = t.me().index();
    let client = DealerClient::connect(&t, dealer, me, security).await?;
    let mut e = Engine::new(&t, members.clone(), client, FracBits::default())?;
    let s = |x: &str| StepId::root(x);
    let mut rows = Vec::new();

    // 1. 10^6 elementwise products.
    let vals: Vec<f64> = (0..N).map(|i| ((i % 2000) as f64 - 1000.0) / 7.0).collect();
    let enc = e.encode(&vals)?;
    let x = e.input(&s("x"), PartyId(0), (me == 0).then_some(&enc[..]), N, 1).await?;
    let y = e.input(&s("y"), PartyId(1), (me == 1).then_some(&enc[..]), N, 1).await?;
    e.check(&s("check-inputs")).await?;
    let (c0, t0) = (t.counters(), Instant::now());
    e.prep().reserve(&[Request::Triples { len: N }]).await?;
    rows.push(row("10^6 products: dealer preprocessing", n, security, N as u64, t0, t.counters().since(&c0)));
    let (c0, t0) = (t.counters(), Instant::now());
    let mut q = MulQueue::new();
    q.mul(&x, &y)?;
    let z = e.exchange(&s("mul"), q).await?;
    rows.push(row("10^6 products: online", n, security, N as u64, t0, t.counters().since(&c0)));
    if security == Security::Malicious {
        let (c0, t0) = (t.counters(), Instant::now());
        e.check(&s("check-mul")).await?;
        rows.push(row("10^6 products: MAC check (2·10^6 values)", n, security, N as u64, t0, t.counters().since(&c0)));
    }
    drop((x, y, z));

    // 2. A 100×100 by 100×100 fixed-point matrix product.
    let m = 100;
    let a = e.input(&s("a"), PartyId(0), (me == 0).then_some(enc.get(..m * m).unwrap_or(&[])), m, m).await?;
    let b = e.input(&s("b"), PartyId(1), (me == 1).then_some(enc.get(..m * m).unwrap_or(&[])), m, m).await?;
    let (c0, t0) = (t.counters(), Instant::now());
    e.prep().reserve(&[Request::MatTriple { m, k: m, n: m }, Request::Trunc { len: m * m, bits: 16 }]).await?;
    rows.push(row("100x100 matmul: dealer preprocessing", n, security, 1, t0, t.counters().since(&c0)));
    let (c0, t0) = (t.counters(), Instant::now());
    let mut q = MulQueue::new();
    q.matmul(&a, &b)?;
    let _ = e.mul_fixed(&s("matmul"), q).await?;
    rows.push(row("100x100 matmul + truncation: online", n, security, 1, t0, t.counters().since(&c0)));

    // 3. Sigmoid (degree 5) on 10^5 values, preprocessing fetched on demand.
    let k = 100_000;
    let xs: Vec<f64> = (0..k).map(|i| (i as f64 / k as f64) * 16.0 - 8.0).collect();
    let xe = e.encode(&xs)?;
    let v = e.input(&s("v"), PartyId(0), (me == 0).then_some(&xe[..]), k, 1).await?;
    let (c0, t0) = (t.counters(), Instant::now());
    let _ = e.poly(&s("sigmoid"), vec![v], 16, &Poly::of(Function::Sigmoid, 5)).await?;
    rows.push(row(
        "sigmoid (degree 5) on 10^5 values, incl. dealer",
        n,
        security,
        k as u64,
        t0,
        t.counters().since(&c0),
    ));

    // 4. Logistic regression on breast cancer: all 569 rows, 10 epochs (3 members only).
    if n == 3 {
        let spec = TrainSpec {
            model: ModelKind::Logreg,
            features: vec![],
            label: "target".into(),
            epochs: 10,
            iterations: None,
            batch_size: 64,
            learning_rate: 0.1,
            l2: 0.0,
            hidden: 0,
            sigmoid: SigmoidSpec { degree: 5, interval: [-12.0, 12.0] },
            test_fraction: 0.0,
            seed: 1,
            loss_every: None,
            reveal_to: vec![],
        };
        let path = data.join(format!("member-{me}.csv"));
        let header = read_text(&path)?;
        let features: Vec<String> =
            header.lines().next().unwrap_or("").split(',').filter(|c| *c != "target").map(str::to_string).collect();
        let r = load_rows(&path, &features, Some("target"))?;
        // Timing only: standardized with this member's own moments.
        let (mu, sd) = consort_protocols::learn::data::moments(&r);
        let xs = r.standardized(&mu, &sd);
        let (c0, t0) = (t.counters(), Instant::now());
        let _ = e.train(&s("logreg"), &spec, &xs, &r.y, features.len(), &[]).await?;
        rows.push(row(
            "logistic regression, 569x30, 10 epochs, incl. dealer",
            n,
            security,
            1,
            t0,
            t.counters().since(&c0),
        ));
    }
    e.finish(&s("finish")).await?;
    drop(e);
    t.finish().await?;
    if let (0, Some(out)) = (me, out) {
        let json = serde_json::to_string(&rows).map_err(|e| NodeError::Internal(e.to_string()))?;
        write_result(out, json.as_bytes(), &[])?;
    }
    Ok(())
}

/// Runs every scenario and prints the table.
pub async fn bench_mpc(data: &Path, out: Option<&Path>) -> Result<(), NodeError> {
    let exe = std::env::current_exe().map_err(|e| NodeError::Process(format!("cannot find this executable: {e}")))?;
    let dir = tempfile::tempdir().map_err(|e| NodeError::Process(format!("temporary directory: {e}")))?;
    let mut all = Vec::new();
    for members in [2usize, 3] {
        for security in [Security::SemiHonest, Security::Malicious] {
            eprintln!("bench: {members} members + dealer, {security}...");
            let d = dir.path().join(format!("{members}-{security}"));
            loopback_consortium(&d, members + 1, 300)?;
            let mut children = Vec::new();
            for i in 0..=members {
                let args = vec![
                    "bench-mpc-peer".to_string(),
                    "--node".into(),
                    d.join(format!("party-{i}.toml")).display().to_string(),
                    "--security".into(),
                    security.to_string(),
                    "--data".into(),
                    data.display().to_string(),
                    "--out".into(),
                    d.join("rows.json").display().to_string(),
                ];
                children.push(spawn_member(&exe, &args)?);
            }
            for (i, c) in children.iter_mut().enumerate() {
                let status = c.wait().await.map_err(|e| NodeError::Bench(format!("bench peer {i}: {e}")))?;
                if !status.success() {
                    return Err(NodeError::Bench(format!(
                        "bench peer {i} failed ({status}); rerun with RUST_LOG=debug"
                    )));
                }
            }
            let rows: Vec<MpcRow> = serde_json::from_str(&read_text(&d.join("rows.json"))?)
                .map_err(|e| NodeError::Internal(e.to_string()))?;
            all.extend(rows);
        }
    }
    let mut table = String::new();
    let _ = writeln!(
        table,
        "SPDZ engine over QUIC on 127.0.0.1 (members + a dealer process); bytes and rounds of member 0"
    );
    let _ = writeln!(
        table,
        "{:<52} {:>3} {:>12} {:>9} {:>13} {:>10} {:>7}",
        "operation", "n", "security", "time s", "ops/s", "bytes/op", "rounds"
    );
    for r in &all {
        let _ = writeln!(
            table,
            "{:<52} {:>3} {:>12} {:>9.3} {:>13.0} {:>10.1} {:>7}",
            r.what,
            r.members,
            r.security.to_string(),
            r.secs,
            r.ops as f64 / r.secs.max(1e-9),
            r.bytes_sent as f64 / r.ops.max(1) as f64,
            r.rounds
        );
    }
    let _ = writeln!(table, "\npolynomial approximations (max / mean absolute error over the interval)");
    table.push_str(&render_error_table(&error_table()));
    print!("{table}");
    if let Some(out) = out {
        let json = serde_json::to_string_pretty(&all).map_err(|e| NodeError::Internal(e.to_string()))?;
        write_result(out, json.as_bytes(), &[])?;
    }
    Ok(())
}
