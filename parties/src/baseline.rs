//! The plaintext baseline of a training job: what the same algorithm, seed, split and
//! hyper-parameters give in `f64` with the exact sigmoid on the pooled rows. Only
//! `simulate` can compute it — it is the one place that sees every member's file.

use consort_net::PartyId;
use consort_protocols::learn::data::{Rows, moments};
use consort_protocols::learn::model::{TrainedModel, accuracy, mse};
use consort_protocols::learn::plain;
use consort_protocols::learn::spec::ModelKind;
use consort_protocols::spdz::poly::Function;

use crate::error::NodeError;
use crate::job::Job;
use crate::report::Comparison;
use crate::spdz_job::load_rows;

/// Scores `secure` and the plaintext baseline on the pooled held-out rows of `members`.
pub fn compare(job: &Job, members: usize, secure: &TrainedModel) -> Result<Comparison, NodeError> {
    let spec = job.train()?;
    let mut train = Vec::new();
    let mut test = Vec::new();
    for i in 0..members {
        let rows = load_rows(&job.input_for(PartyId(i as u16))?, &spec.features, Some(&spec.label))?;
        let (tr, te) = rows.split(spec.test_fraction, spec.seed, i);
        train.push(tr);
        test.push(te);
    }
    let (pooled, test) = (Rows::concat(&train), Rows::concat(&test));
    let (means, stds) = moments(&pooled);
    let stds: Vec<f64> = stds.into_iter().map(|s| if s > 0.0 { s } else { 1.0 }).collect();
    let (label_mean, label_std) = match spec.model {
        ModelKind::Logreg => (0.0, 1.0),
        ModelKind::Mlp => {
            let (m, s) = moments(&Rows { x: pooled.y.clone(), y: pooled.y.clone(), d: 1 });
            (m.first().copied().unwrap_or(0.0), s.first().copied().filter(|v| *v > 0.0).unwrap_or(1.0))
        }
    };
    let x = pooled.standardized(&means, &stds);
    let y: Vec<f64> = pooled.y.iter().map(|v| (v - label_mean) / label_std).collect();
    let run = plain::train(spec, &x, &y, spec.features.len(), &|z| Function::Sigmoid.eval(z));
    let baseline = TrainedModel {
        means,
        stds,
        label_mean,
        label_std,
        weights: run.weights.weights(spec.model, spec.features.len(), spec.hidden),
        ..secure.clone()
    };
    let (metric, s, p) = match spec.model {
        ModelKind::Logreg => {
            ("accuracy", accuracy(secure, &test.x, &test.y, false), accuracy(&baseline, &test.x, &test.y, true))
        }
        ModelKind::Mlp => ("mse", mse(secure, &test.x, &test.y, false), mse(&baseline, &test.x, &test.y, true)),
    };
    Ok(Comparison { metric: metric.into(), test_rows: test.n(), secure: s, plaintext: p, plaintext_losses: run.losses })
}
