//! Result files and the printed report.

use std::fmt::Write as _;

use consort_net::CounterSnapshot;
use consort_protocols::fedavg::RoundLog;
use consort_protocols::fedavg::model::SavedModel;
use consort_protocols::learn::model::TrainedModel;
use consort_protocols::spdz::Security;
use consort_protocols::split::model::LayerShare;
use consort_protocols::split::{ClientModel, Scheme, TurnLog};
use consort_protocols::stats::StatsResult;
use serde::{Deserialize, Serialize};

/// What one member writes at the end of `consort run`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberReport {
    pub party: u16,
    pub job: String,
    pub task: String,
    pub backend: String,
    pub job_hash: String,
    pub version: String,
    pub wall_secs: f64,
    pub traffic: CounterSnapshot,
    pub result: JobResult,
}

/// The outcome of a job on one member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum JobResult {
    Stats(StatsResult),
    Train(Box<TrainResult>),
    Infer(InferResult),
    /// The dealer node's part: what it dealt (it learns no result).
    Dealer(DealerResult),
    /// A member's outcome of federated averaging.
    Fedavg(Box<FedAvgResult>),
    /// The aggregator node's part: whose contributions each round added (it learns no
    /// weight).
    Aggregator(AggregatorResult),
    /// A split-learning client's outcome: its layers, the clients' layer share, its
    /// losses and held-out accuracy (or, for inference, its predictions).
    SplitClient(Box<SplitClientResult>),
    /// The split-learning server's part: its layer share and what it served.
    SplitServer(Box<SplitServerResult>),
}

/// A split-learning client's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitClientResult {
    pub scheme: Scheme,
    /// Its own layers and the clients' share of the server layer (training only).
    pub model: Option<ClientModel>,
    /// Mean training loss per epoch over this client's rows.
    pub losses: Vec<f64>,
    pub train_rows: usize,
    /// Held-out rows (training) or query rows (inference).
    pub rows: usize,
    /// Accuracy on the held-out rows, or on the queries when they are labelled.
    pub accuracy: Option<f64>,
    pub predictions: Vec<usize>,
}

/// The split-learning server's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitServerResult {
    pub scheme: Scheme,
    /// The server's share of the dense layer (it never changes during training).
    pub share: LayerShare,
    /// Every turn it served: the client, the batch and row counts (all it learns).
    pub turns: Vec<TurnLog>,
}

/// A member's outcome of federated averaging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FedAvgResult {
    pub model: SavedModel,
    pub rounds: Vec<RoundLog>,
    /// This member's training rows (its contribution's weight).
    pub train_rows: usize,
    pub local_test_rows: usize,
    /// Accuracy of the final global model on this member's held-out rows.
    pub local_test_accuracy: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregatorResult {
    /// Per round, the members whose encrypted contributions were added.
    pub contributors: Vec<Vec<u16>>,
}

/// A member's outcome of secure training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub security: Security,
    /// The model, on the members the job reveals it to.
    pub model: Option<TrainedModel>,
    pub iterations: usize,
    /// Training rows per member (public during the job).
    pub rows: Vec<usize>,
    /// `(epoch, pooled training loss)`, when the job asks for it.
    pub losses: Vec<(usize, f64)>,
    /// This member's held-out rows, scored with the model (when it has it).
    pub local_test_rows: usize,
    /// Accuracy (logistic regression) or mean squared error (MLP) on those rows.
    pub local_test_metric: Option<f64>,
}

/// A member's outcome of inference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferResult {
    pub security: Security,
    /// On the input owner only: probabilities (logreg) or values (MLP).
    pub predictions: Option<Vec<f64>>,
    /// On the input owner only, when the job names a label column in its file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
}

/// Predictions scored against the input owner's labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub label: String,
    /// `accuracy` (logreg, at 0.5) or `mse` (MLP).
    pub metric: String,
    pub value: f64,
    pub rows: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DealerResult {
    pub reservations: u64,
    pub values: u64,
}

/// A secure model next to the plaintext baseline on the same split (simulate only: it
/// alone sees every member's file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// "accuracy" or "mse".
    pub metric: String,
    pub test_rows: usize,
    pub secure: f64,
    pub plaintext: f64,
    /// The baseline's pooled training loss at the `loss_every` epochs.
    #[serde(default)]
    pub plaintext_losses: Vec<(usize, f64)>,
}

/// The metric name of a statistics twin.
pub const DEVIATION: &str = "max-deviation";

impl Comparison {
    /// Statistics next to their plaintext computation on the pooled columns: `secure`
    /// is the largest deviation of a mean or standard deviation from the plaintext one,
    /// relative to max(1, |plaintext|) (`plaintext` is 0).
    pub fn deviation(secure: &StatsResult, pooled: &[Vec<f64>]) -> Comparison {
        let mut worst: f64 = 0.0;
        for (c, values) in secure.columns.iter().zip(pooled) {
            let rows = consort_protocols::learn::data::Rows { x: values.clone(), y: vec![0.0; values.len()], d: 1 };
            let (m, s) = consort_protocols::learn::data::moments(&rows);
            let (m, s) = (m.first().copied().unwrap_or(0.0), s.first().copied().unwrap_or(0.0));
            for (got, want) in [(c.mean, m), (c.std, s)] {
                let d = (got - want).abs() / want.abs().max(1.0);
                worst = if d.is_nan() { f64::INFINITY } else { worst.max(d) };
            }
        }
        Comparison {
            metric: DEVIATION.into(),
            test_rows: pooled.first().map_or(0, Vec::len),
            secure: worst,
            plaintext: 0.0,
            plaintext_losses: Vec::new(),
        }
    }
}

/// What `consort simulate` writes: the common result and each member's costs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimulationReport {
    pub job: String,
    pub parties: usize,
    pub wall_secs: f64,
    pub result: JobResult,
    #[serde(default)]
    pub comparison: Option<Comparison>,
    /// Members that failed in a job that carried on without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<Dropout>,
    pub members: Vec<MemberCost>,
}

/// A member that failed (killed, crashed, cut off) while the others finished.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dropout {
    pub party: u16,
    /// Its exit status and last error line.
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberCost {
    pub party: u16,
    pub wall_secs: f64,
    pub traffic: CounterSnapshot,
}

/// Seven significant digits, in scientific notation where fixed would lose them.
fn num(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e9) { format!("{v:.6e}") } else { format!("{v:.6}") }
}

/// A human-readable table of a stats result.
pub fn stats_table(r: &StatsResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "rows: {}", r.rows);
    let _ = writeln!(
        s,
        "{:<28} {:>14} {:>14} {:>14} {:>14} {:>10}",
        "column", "sum", "mean", "variance", "std", "± variance"
    );
    for c in &r.columns {
        let _ = writeln!(
            s,
            "{:<28} {:>14} {:>14} {:>14} {:>14} {:>10.1e}",
            c.name,
            num(c.sum),
            num(c.mean),
            num(c.variance),
            num(c.std),
            c.variance_error
        );
    }
    for c in &r.columns {
        if let Some(h) = &c.histogram {
            let _ = writeln!(
                s,
                "histogram of {} (below {}: {}, above {}: {})",
                c.name,
                h.edges.first().unwrap_or(&0.0),
                h.below,
                h.edges.last().unwrap_or(&0.0),
                h.above
            );
            for (i, n) in h.counts.iter().enumerate() {
                let (lo, hi) = (h.edges.get(i).copied().unwrap_or(0.0), h.edges.get(i + 1).copied().unwrap_or(0.0));
                let close = if i + 1 == h.counts.len() { "]" } else { ")" };
                let _ = writeln!(s, "  [{lo:>10}, {hi:>10}{close} {n:>8}");
            }
        }
    }
    s
}

/// A table of per-member costs.
pub fn cost_table(members: &[MemberCost]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<8} {:>10} {:>14} {:>14} {:>10} {:>8}",
        "member", "wall s", "bytes sent", "bytes recv", "messages", "rounds"
    );
    for m in members {
        let t = &m.traffic;
        let _ = writeln!(
            s,
            "{:<8} {:>10.3} {:>14} {:>14} {:>10} {:>8}",
            m.party, m.wall_secs, t.bytes_sent, t.bytes_received, t.messages_sent, t.rounds
        );
    }
    s
}

/// A human-readable summary of any result.
pub fn result_text(r: &JobResult, cmp: Option<&Comparison>) -> String {
    let mut s = String::new();
    match r {
        JobResult::Stats(st) => s.push_str(&stats_table(st)),
        JobResult::Train(t) => {
            let _ = writeln!(s, "secure training ({}): {} iterations over {:?} rows", t.security, t.iterations, t.rows);
            let base = cmp.map(|c| c.plaintext_losses.as_slice()).unwrap_or(&[]);
            for (k, (e, l)) in t.losses.iter().enumerate() {
                match base.get(k) {
                    Some((_, p)) => {
                        let _ = writeln!(s, "  epoch {e:>5}: pooled training loss {l:.5} (plaintext baseline {p:.5})");
                    }
                    None => {
                        let _ = writeln!(s, "  epoch {e:>5}: pooled training loss {l:.5}");
                    }
                }
            }
            if let Some(m) = &t.model {
                let _ = writeln!(s, "model: {:?} on {} features, label '{}'", m.model, m.features.len(), m.label);
            }
        }
        JobResult::Infer(i) => {
            let _ = writeln!(s, "secure inference ({})", i.security);
            if let Some(p) = &i.predictions {
                let _ = writeln!(
                    s,
                    "{} predictions (input owner only); first: {:?}",
                    p.len(),
                    p.iter().take(5).map(|v| (v * 1e4).round() / 1e4).collect::<Vec<_>>()
                );
            }
            if let Some(e) = &i.evaluation {
                let _ = writeln!(s, "{} against column '{}' on {} rows: {:.4}", e.metric, e.label, e.rows, e.value);
            }
        }
        JobResult::Dealer(d) => {
            let _ = writeln!(s, "dealer: {} reservations, {} values dealt", d.reservations, d.values);
        }
        JobResult::Fedavg(f) => {
            let _ = writeln!(
                s,
                "federated averaging: {:?} with {} parameters, {} rounds",
                f.model.model,
                f.model.weights.len(),
                f.rounds.len()
            );
            for r in &f.rounds {
                // fedavg-additive decrypts nothing: its sum is opened from shares.
                let sum = match r.decryptors.as_slice() {
                    [] => "secret-shared sum".to_string(),
                    d => format!("decrypted by {d:?}"),
                };
                let _ = writeln!(
                    s,
                    "  round {:>3}: members {:?}, {sum}, local training {:.2} s, secure sum {:.2} s",
                    r.round + 1,
                    r.contributors,
                    r.train_secs,
                    r.secure_secs
                );
                if let Some(w) = &r.warning {
                    let _ = writeln!(s, "  WARNING: {w}");
                }
            }
        }
        JobResult::Aggregator(a) => {
            let _ = writeln!(s, "aggregator: added {} rounds of encrypted contributions", a.contributors.len());
        }
        JobResult::SplitClient(c) => {
            // An inference run keeps no model and trains on no rows: say what it did.
            if c.model.is_none() && c.losses.is_empty() {
                let _ = writeln!(s, "split-learning inference ({}), client: {} query rows", c.scheme.name(), c.rows);
            } else {
                let _ = writeln!(s, "split learning ({}): client with {} training rows", c.scheme.name(), c.train_rows);
            }
            for (e, l) in c.losses.iter().enumerate() {
                let _ = writeln!(s, "  epoch {:>3}: mean training loss {l:.5}", e + 1);
            }
            match c.accuracy {
                Some(a) => {
                    let _ = writeln!(s, "accuracy on {} rows: {a:.4}", c.rows);
                }
                None => {
                    let _ = writeln!(
                        s,
                        "{} predictions; first: {:?}",
                        c.predictions.len(),
                        c.predictions.iter().take(8).collect::<Vec<_>>()
                    );
                }
            }
        }
        JobResult::SplitServer(v) => {
            let rows: usize = v.turns.iter().map(|t| t.rows).sum();
            let _ = writeln!(
                s,
                "split-learning server ({}): served {} turns, {rows} rows in all",
                v.scheme.name(),
                v.turns.len()
            );
        }
    }
    match cmp {
        Some(c) if c.metric == DEVIATION => {
            let _ = writeln!(
                s,
                "\nplaintext twin on the pooled {} rows: largest deviation of a mean or std {:.2e} (relative to \
                 max(1, |value|))",
                c.test_rows, c.secure
            );
        }
        Some(c) => {
            let _ = writeln!(
                s,
                "\ntest {} on {} held-out rows: secure {:.4}, plaintext (same seed, split and hyper-parameters) {:.4}",
                c.metric, c.test_rows, c.secure, c.plaintext
            );
        }
        None => {}
    }
    s
}

#[cfg(test)]
mod tests {
    use consort_protocols::fedavg::FedModel;

    use super::*;

    #[test]
    fn an_additive_fedavg_round_says_secret_shared_not_decrypted_by_nobody() {
        let round = |decryptors: Vec<u16>| RoundLog { contributors: vec![0, 1, 2], decryptors, ..RoundLog::default() };
        let model = SavedModel {
            model: FedModel::Logreg,
            features: vec!["a".into()],
            label: "y".into(),
            classes: 2,
            means: vec![],
            stds: vec![],
            weights: vec![0.0; 2],
        };
        let result = |rounds| {
            JobResult::Fedavg(Box::new(FedAvgResult {
                model: model.clone(),
                rounds,
                train_rows: 10,
                local_test_rows: 2,
                local_test_accuracy: None,
            }))
        };
        let additive = result_text(&result(vec![round(vec![])]), None);
        assert!(additive.contains("members [0, 1, 2], secret-shared sum, local training"), "{additive}");
        assert!(!additive.contains("decrypted by"), "{additive}");
        let paillier = result_text(&result(vec![round(vec![0, 2])]), None);
        assert!(paillier.contains("members [0, 1, 2], decrypted by [0, 2], local training"), "{paillier}");
        // A round of two contributors is flagged in the printed report, under its line.
        let warned =
            RoundLog { warning: Some("round 1: only parties 0 and 2 contributed".into()), ..round(vec![0, 2]) };
        let text = result_text(&result(vec![warned]), None);
        assert!(
            text.contains(
                "local training 0.00 s, secure sum 0.00 s\n  WARNING: round 1: only parties 0 and 2 contributed\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn split_inference_reports_query_rows_not_zero_training_rows() {
        let inference = JobResult::SplitClient(Box::new(SplitClientResult {
            scheme: Scheme::Ckks,
            model: None,
            losses: vec![],
            train_rows: 0,
            rows: 37,
            accuracy: Some(0.9),
            predictions: vec![0; 37],
        }));
        let text = result_text(&inference, None);
        assert!(text.starts_with("split-learning inference (ckks), client: 37 query rows\n"), "{text}");
        assert!(!text.contains("training rows"), "{text}");
    }
}
