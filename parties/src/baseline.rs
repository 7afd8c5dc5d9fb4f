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

/// The members' common federated model next to plaintext FedAvg with the same seed,
/// split, batch order and weighting, both scored on the pooled held-out rows.
pub fn compare_fedavg(
    job: &Job,
    reports: &[crate::report::MemberReport],
) -> Result<(crate::report::JobResult, Option<Comparison>), NodeError> {
    use consort_protocols::fedavg::local::prepare;
    use consort_protocols::fedavg::model::Arch;
    use consort_protocols::fedavg::{FedModel, plain as fplain};

    use crate::report::JobResult;

    let results: Vec<(u16, &crate::report::FedAvgResult)> = reports
        .iter()
        .filter_map(|r| match &r.result {
            JobResult::Fedavg(f) => Some((r.party, f.as_ref())),
            _ => None,
        })
        .collect();
    let (first_party, first) = results.first().ok_or_else(|| NodeError::Simulation("no member reported".into()))?;
    if let Some((b, _)) = results.iter().find(|(_, f)| f.model != first.model) {
        return Err(NodeError::Simulation(format!("party {first_party} and party {b} obtained different models")));
    }
    let spec = job.fedavg()?;
    let mut train = Vec::new();
    let mut test = Vec::new();
    for i in 0..results.len() {
        let rows = load_rows(&job.input_for(PartyId(i as u16))?, &spec.features, Some(&spec.label))?;
        let (tr, te) = rows.split(spec.test_fraction, spec.seed, i);
        train.push(tr);
        test.push(te);
    }
    let pooled_test = Rows::concat(&test);
    let (means, stds) = match spec.model {
        FedModel::Logreg => {
            let (m, s) = moments(&Rows::concat(&train));
            (m, s.into_iter().map(|v| if v > 0.0 { v } else { 1.0 }).collect())
        }
        FedModel::Cnn1d => (Vec::new(), Vec::new()),
    };
    let pooled = (!means.is_empty()).then_some((means.as_slice(), stds.as_slice()));
    let prepared: Vec<Rows> = train.iter().map(|r| prepare(spec.model, r, pooled)).collect();
    let arch = Arch { model: spec.model, inputs: spec.features.len(), classes: spec.classes };
    let fail = |e: consort_protocols::fedavg::FedError| NodeError::Simulation(format!("plaintext baseline: {e}"));
    let weights = fplain::fedavg(spec, arch, &prepared).map_err(fail)?;
    let baseline = consort_protocols::fedavg::model::SavedModel { means, stds, weights, ..first.model.clone() };
    let secure = first.model.accuracy(&pooled_test).map_err(fail)?.unwrap_or(0.0);
    let plaintext = baseline.accuracy(&pooled_test).map_err(fail)?.unwrap_or(0.0);
    let comparison = Comparison {
        metric: "accuracy".into(),
        test_rows: pooled_test.n(),
        secure,
        plaintext,
        plaintext_losses: Vec::new(),
    };
    Ok((JobResult::Fedavg(Box::new((*first).clone())), Some(comparison)))
}

/// Split learning: the clients' pooled held-out accuracy (each scored through the
/// server, encrypted) next to plaintext split learning with the same seed, turns and
/// batches; for inference, the first client's predictions.
pub fn compare_split(
    job: &Job,
    reports: &[crate::report::MemberReport],
) -> Result<(crate::report::JobResult, Option<Comparison>), NodeError> {
    use consort_protocols::split::plain::twin;

    use crate::report::JobResult;

    let spec = job.split()?;
    let clients: Vec<(u16, &crate::report::SplitClientResult)> = reports
        .iter()
        .filter_map(|r| match &r.result {
            JobResult::SplitClient(c) => Some((r.party, c.as_ref())),
            _ => None,
        })
        .collect();
    let (_, first) = clients.first().ok_or_else(|| NodeError::Simulation("no client reported".into()))?;
    if job.spec.task == crate::job::Task::Infer {
        return Ok((JobResult::SplitClient(Box::new((*first).clone())), None));
    }
    let data = clients
        .iter()
        .enumerate()
        .map(|(i, (party, _))| crate::split_job::client_rows(spec, &job.input_for(PartyId(*party))?, i))
        .collect::<Result<Vec<_>, NodeError>>()?;
    let tw = twin(spec, &data).map_err(|e| NodeError::Simulation(format!("plaintext baseline: {e}")))?;
    let test_rows: usize = data.iter().map(|(_, te)| te.n()).sum();
    let right = |acc: Option<f64>, n: usize| acc.unwrap_or(0.0) * n as f64;
    let secure: f64 = clients.iter().zip(&data).map(|((_, c), (_, te))| right(c.accuracy, te.n())).sum();
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
    let comparison = Comparison {
        metric: "accuracy".into(),
        test_rows,
        secure: secure / test_rows.max(1) as f64,
        plaintext: plaintext / test_rows.max(1) as f64,
        plaintext_losses: losses,
    };
    Ok((JobResult::SplitClient(Box::new((*first).clone())), Some(comparison)))
}
