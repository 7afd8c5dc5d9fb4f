//! What each member does on its own: prepare its rows, train E local epochs from the
//! global weights, and evaluate a model. Plaintext, on candle.

use candle_nn::Optimizer;

use super::FedError;
use super::model::{Arch, Net, labels, tensor};
use super::spec::{FedAvgSpec, FedModel};
use crate::learn::data::{Rows, permutation};

/// The features a model sees: standardized with pooled statistics (logistic regression),
/// or each row centred on its own mean (the CNN's signal).
pub fn prepare(model: FedModel, rows: &Rows, pooled: Option<(&[f64], &[f64])>) -> Rows {
    let x = match (model, pooled) {
        (FedModel::Logreg, Some((means, stds))) => rows.standardized(means, stds),
        (FedModel::Logreg, None) => rows.x.clone(),
        (FedModel::Cnn1d, _) => {
            let mut x = Vec::with_capacity(rows.x.len());
            for i in 0..rows.n() {
                let r = rows.row(i);
                let m = r.iter().sum::<f64>() / r.len().max(1) as f64;
                x.extend(r.iter().map(|v| v - m));
            }
            x
        }
    };
    Rows { x, y: rows.y.clone(), d: rows.d }
}

/// Checks labels against the model's classes, naming the first bad row.
pub fn check_labels(spec: &FedAvgSpec, rows: &Rows) -> Result<(), String> {
    crate::learn::data::check_class_labels(rows, spec.classes)
}

/// E local epochs of mini-batch SGD from `global`, on this member's prepared rows.
/// The batch order is seeded by (seed, round, member, epoch), so the plaintext twin
/// repeats it exactly.
pub fn train_local(
    spec: &FedAvgSpec,
    arch: Arch,
    global: &[f64],
    rows: &Rows,
    round: usize,
    member: usize,
) -> Result<Vec<f64>, FedError> {
    let net = Net::new(arch, global)?;
    let mut sgd = candle_nn::SGD::new(net.vars.clone(), spec.learning_rate)?;
    let n = rows.n();
    for epoch in 0..spec.local_epochs {
        let order = permutation(n, spec.seed, 0xfed0 + round as u64, (member as u64) << 16 | epoch as u64);
        for batch in order.chunks(spec.batch_size) {
            let mut x = Vec::with_capacity(batch.len() * rows.d);
            let mut y = Vec::with_capacity(batch.len());
            for &i in batch {
                x.extend_from_slice(rows.row(i));
                y.push(rows.y.get(i).copied().unwrap_or(0.0));
            }
            let loss = net.loss(&tensor(&x, batch.len(), rows.d)?, &labels(&y)?)?;
            sgd.backward_step(&loss)?;
        }
    }
    Ok(net.weights()?)
}

/// Share of `rows` whose class the model predicts right (`None` without rows).
pub fn accuracy(arch: Arch, weights: &[f64], rows: &Rows) -> Result<Option<f64>, FedError> {
    if rows.n() == 0 {
        return Ok(None);
    }
    let net = Net::new(arch, weights)?;
    let pred = net.predict(&tensor(&rows.x, rows.n(), rows.d)?)?;
    let right = pred.iter().zip(&rows.y).filter(|(p, y)| f64::from(**p) == **y).count();
    Ok(Some(right as f64 / rows.n() as f64))
}
