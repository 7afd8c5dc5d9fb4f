//! The plaintext twins of the training backends: what the same algorithm, seed, split
//! and hyper-parameters give in `f64` on the pooled rows. Only `simulate` and `compare`
//! compute them — the one place that sees every member's file.

use consort_net::PartyId;
use consort_protocols::learn::data::{Rows, moments};
use consort_protocols::learn::model::{TrainedModel, accuracy, mse};
use consort_protocols::learn::plain;
use consort_protocols::learn::spec::ModelKind;
use consort_protocols::spdz::poly::Function;

use super::common::{load_rows, nonzero};
use crate::error::NodeError;
use crate::job::Job;
use crate::report::{Comparison, JobResult, MemberReport};
use consort_protocols::fedavg::model::SavedModel;

/// Every member's (train, test) rows, split as each member splits its own file.
fn held_out(
    job: &Job,
    members: &[PartyId],
    features: &[String],
    label: &str,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<Rows>, Vec<Rows>), NodeError> {
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (i, p) in members.iter().enumerate() {
        let rows = load_rows(&job.input_for(*p)?, features, Some(label))?;
        let (tr, te) = rows.split(test_fraction, seed, i);
        train.push(tr);
        test.push(te);
    }
    Ok((train, test))
}

/// Scores `secure` and the plaintext baseline on the pooled held-out rows of `members`.
pub fn compare(job: &Job, members: &[PartyId], secure: &TrainedModel) -> Result<Comparison, NodeError> {
    let spec = job.train()?;
    let (train, test) = held_out(job, members, &spec.features, &spec.label, spec.test_fraction, spec.seed)?;
    let (pooled, test) = (Rows::concat(&train), Rows::concat(&test));
    let (means, stds) = moments(&pooled);
    let stds = nonzero(stds);
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

/// Plaintext FedAvg with the same seed, split, batch order and weighting, next to the
/// members' common model, both scored on the pooled held-out rows of `members`.
pub fn fedavg(job: &Job, members: &[PartyId], secure: &SavedModel) -> Result<Comparison, NodeError> {
    use consort_protocols::fedavg::local::prepare;
    use consort_protocols::fedavg::model::Arch;
    use consort_protocols::fedavg::{FedModel, plain as fplain};

    let spec = job.fedavg()?;
    let (train, test) = held_out(job, members, &spec.features, &spec.label, spec.test_fraction, spec.seed)?;
    let pooled_test = Rows::concat(&test);
    let (means, stds) = match spec.model {
        FedModel::Logreg => {
            let (m, s) = moments(&Rows::concat(&train));
            (m, nonzero(s))
        }
        FedModel::Cnn1d => (Vec::new(), Vec::new()),
    };
    let pooled = (!means.is_empty()).then_some((means.as_slice(), stds.as_slice()));
    let prepared: Vec<Rows> = train.iter().map(|r| prepare(spec.model, r, pooled)).collect();
    let arch = Arch { model: spec.model, inputs: spec.features.len(), classes: spec.classes };
    let fail = |e: consort_protocols::fedavg::FedError| NodeError::Twin(e.to_string());
    let weights = fplain::fedavg(spec, arch, &prepared).map_err(fail)?;
    let baseline = SavedModel { means, stds, weights, ..secure.clone() };
    Ok(Comparison {
        metric: "accuracy".into(),
        test_rows: pooled_test.n(),
        secure: secure.accuracy(&pooled_test).map_err(fail)?.unwrap_or(0.0),
        plaintext: baseline.accuracy(&pooled_test).map_err(fail)?.unwrap_or(0.0),
        plaintext_losses: Vec::new(),
    })
}

/// Split learning: the clients' pooled held-out accuracy (each scored through the
/// server, encrypted) next to plaintext split learning with the same seed, turns and
/// batches.
pub fn split(job: &Job, clients: &[PartyId], reports: &[MemberReport]) -> Result<Comparison, NodeError> {
    use consort_protocols::split::plain::twin;

    let spec = job.split()?;
    let files = clients.iter().map(|p| job.input_for(*p)).collect::<Result<Vec<_>, _>>()?;
    let data = super::split::plain_client_data(spec, &files)?;
    let tw = twin(spec, &data).map_err(|e| NodeError::Twin(e.to_string()))?;
    let accuracy = |p: &PartyId| {
        reports.iter().find(|r| r.party == p.0).and_then(|r| match &r.result {
            JobResult::SplitClient(c) => c.accuracy,
            _ => None,
        })
    };
    let test_rows: usize = data.iter().map(|(_, te)| te.n()).sum();
    let right = |acc: Option<f64>, n: usize| acc.unwrap_or(0.0) * n as f64;
    let secure: f64 = clients.iter().zip(&data).map(|(p, (_, te))| right(accuracy(p), te.n())).sum();
    let plaintext: f64 = tw.test_accuracy.iter().zip(&data).map(|(a, (_, te))| right(*a, te.n())).sum();
    let mut losses = Vec::new();
    for e in 0..spec.epochs {
        let (mut sum, mut n) = (0.0, 0usize);
        for (l, (tr, _)) in tw.losses.iter().zip(&data) {
            sum += l.get(e).copied().unwrap_or(0.0) * tr.n() as f64;
            n += tr.n();
        }
        losses.push((e + 1, sum / n.max(1) as f64));
    }
    Ok(Comparison {
        metric: "accuracy".into(),
        test_rows,
        secure: secure / test_rows.max(1) as f64,
        plaintext: plaintext / test_rows.max(1) as f64,
        plaintext_losses: losses,
    })
}
