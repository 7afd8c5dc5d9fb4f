//! `consort bench split`: one epoch of split learning per dataset and scheme (plaintext,
//! CKKS, Paillier) on this machine, with its time, bytes and accuracy against plaintext.
//! Clients and server run in this process over the in-memory transport, whose counters
//! count the same application bytes as QUIC's.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use consort_net::{MemoryNetwork, PartyId};
use consort_protocols::learn::data::Rows;
use consort_protocols::split::model::{LayerShare, server_init};
use consort_protocols::split::plain::twin;
use consort_protocols::split::{Scheme, SplitSpec, run_client, run_server};
use tracing::info;

use crate::backend::split::plain_client_data;
use crate::error::NodeError;

fn err(e: impl std::fmt::Display) -> NodeError {
    NodeError::Bench(format!("bench split: {e}"))
}

/// One row of the table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SplitBenchRow {
    pub dataset: String,
    pub scheme: String,
    pub train_rows: usize,
    pub epoch_secs: f64,
    pub epoch_bytes: u64,
    pub accuracy: f64,
    pub plaintext_accuracy: f64,
}

fn dataset(name: &str, dir: &Path, scheme: Scheme, epochs: usize) -> Result<(SplitSpec, Vec<(Rows, Rows)>), NodeError> {
    let (toml, folder, prefix) = match name {
        "ecg" => (
            "model = 'cnn1d'\nfeatures = ['x000..x127']\nlabel = 'label'\nclasses = 3\nlearning_rate = 0.05\n",
            "ecg",
            "member",
        ),
        "digits" => (
            "model = 'cnn2d'\nfeatures = ['px00..px63']\nlabel = 'target'\nclasses = 10\nlearning_rate = 0.1\n\
             input_scale = 0.0625\n",
            "digits",
            "client",
        ),
        other => return Err(err(format!("unknown dataset '{other}' (ecg, digits)"))),
    };
    let mut spec: SplitSpec = toml::from_str(&format!(
        "{toml}scheme = '{}'\nserver = 3\nepochs = {epochs}\nbatch_size = 32\n",
        scheme.name()
    ))
    .map_err(err)?;
    spec.validate().map_err(err)?;
    let files: Vec<_> = (0..3).map(|k| dir.join(folder).join(format!("{prefix}-{k}.csv"))).collect();
    let data = plain_client_data(&spec, &files)?;
    Ok((spec, data))
}

async fn one(spec: SplitSpec, data: &[(Rows, Rows)]) -> Result<(f64, u64, f64), NodeError> {
    let nets = MemoryNetwork::new(4).build();
    let clients: Vec<PartyId> = (0..3).map(PartyId).collect();
    let spec = Arc::new(spec);
    let mut tasks = Vec::new();
    for (t, (tr, te)) in nets.iter().cloned().zip(data.iter().cloned()) {
        let (s, c) = (Arc::clone(&spec), clients.clone());
        tasks.push(tokio::spawn(async move { run_client(&t, s, PartyId(3), &c, Arc::new(tr), Arc::new(te)).await }));
    }
    let (t, s, c) = (nets.get(3).cloned().ok_or_else(|| err("no server"))?, Arc::clone(&spec), clients.clone());
    let server = tokio::spawn(async move {
        let (w, b) = server_init(&s);
        run_server(&t, s, LayerShare { w, b }, &c).await
    });
    let (mut secs, mut bytes, mut right, mut rows) = (0.0, 0u64, 0.0, 0usize);
    for task in tasks {
        let out = task.await.map_err(err)?.map_err(err)?;
        secs += out.turns.iter().map(|t| t.secs).sum::<f64>();
        bytes += out.turns.iter().map(|t| t.bytes).sum::<u64>();
        right += out.test_accuracy.unwrap_or(0.0) * out.test_rows as f64;
        rows += out.test_rows;
    }
    server.await.map_err(err)?.map_err(err)?;
    let epochs = spec.epochs as f64;
    Ok((secs / epochs, (bytes as f64 / epochs) as u64, right / rows.max(1) as f64))
}

/// Runs the benchmark and returns the rows.
pub async fn run(
    dir: &Path,
    datasets: &[String],
    schemes: &[Scheme],
    epochs: usize,
) -> Result<Vec<SplitBenchRow>, NodeError> {
    let mut rows = Vec::new();
    for name in datasets {
        for &scheme in schemes {
            let (n, d) = (name.clone(), dir.to_path_buf());
            let (spec, data) =
                tokio::task::spawn_blocking(move || dataset(&n, &d, scheme, epochs)).await.map_err(err)??;
            info!(dataset = %name, scheme = scheme.name(), "split learning, {epochs} epoch(s)");
            let plain_acc = {
                let (s, d) = (spec.clone(), data.clone());
                let tw = tokio::task::spawn_blocking(move || twin(&s, &d)).await.map_err(err)?.map_err(err)?;
                let (mut right, mut n) = (0.0, 0usize);
                for (a, (_, te)) in tw.test_accuracy.iter().zip(&data) {
                    right += a.unwrap_or(0.0) * te.n() as f64;
                    n += te.n();
                }
                right / n.max(1) as f64
            };
            let train_rows = data.iter().map(|(tr, _)| tr.n()).sum();
            let (secs, bytes, acc) = one(spec, &data).await?;
            rows.push(SplitBenchRow {
                dataset: name.clone(),
                scheme: scheme.name().into(),
                train_rows,
                epoch_secs: secs,
                epoch_bytes: bytes,
                accuracy: acc,
                plaintext_accuracy: plain_acc,
            });
        }
    }
    Ok(rows)
}

/// The printed table, with ratios to the plaintext row of the same dataset.
pub fn render(rows: &[SplitBenchRow], epochs: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "split learning, 3 clients + server, batch 32, per epoch (mean of {epochs}); accuracy after {epochs} epoch(s)"
    );
    let _ = writeln!(
        s,
        "{:<8} {:<9} {:>6} {:>10} {:>8} {:>12} {:>8} {:>9} {:>9} {:>9}",
        "dataset", "scheme", "rows", "s/epoch", "× plain", "MB/epoch", "× plain", "rows/s", "accuracy", "plain acc"
    );
    for r in rows {
        let base = rows.iter().find(|b| b.dataset == r.dataset && b.scheme == "plain");
        let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.0}", a / b) } else { "-".into() };
        let (tr, br) = match base {
            Some(b) => (ratio(r.epoch_secs, b.epoch_secs), ratio(r.epoch_bytes as f64, b.epoch_bytes as f64)),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "{:<8} {:<9} {:>6} {:>10.2} {:>8} {:>12.2} {:>8} {:>9.1} {:>9.4} {:>9.4}",
            r.dataset,
            r.scheme,
            r.train_rows,
            r.epoch_secs,
            tr,
            r.epoch_bytes as f64 / 1e6,
            br,
            r.train_rows as f64 / r.epoch_secs.max(1e-9),
            r.accuracy,
            r.plaintext_accuracy
        );
    }
    let _ = writeln!(
        s,
        "\nreference: HESplitNet (CKKS) 987 s per epoch on MIT-BIH (13,245 beats, ~13 beats/s); \
         Split Ways loses 2.65 accuracy points to encryption"
    );
    s
}
