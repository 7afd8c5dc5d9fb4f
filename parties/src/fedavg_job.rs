//! A node's part of a federated-averaging job (`fedavg-paillier`, `fedavg-additive`):
//! the aggregator node adds ciphertexts; members load their rows, standardize them with
//! pooled statistics (logistic regression), and run the rounds.

use std::path::Path;
use std::sync::Arc;

use consort_he::paillier::threshold::ThresholdPublicKey;
use consort_net::{PartyId, Transport};
use consort_protocols::fedavg::local::{check_labels, prepare};
use consort_protocols::fedavg::model::{Arch, SavedModel};
use consort_protocols::fedavg::paillier::{MemberState, run_aggregator};
use consort_protocols::fedavg::{Backend as Aggregation, FedModel, run_member};
use consort_protocols::fixed::FracBits;
use consort_protocols::learn::data::Rows;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tracing::info;

use crate::error::NodeError;
use crate::job::{Backend, Job};
use crate::keys;
use crate::report::{AggregatorResult, FedAvgResult, JobResult};
use crate::spdz_job::{BAD_INPUT, Failure, fail, load_rows, pooled_stats};

/// The members of the job and, for `fedavg-paillier`, the key.
pub struct Roles {
    pub members: Vec<PartyId>,
    pub aggregator: Option<PartyId>,
    pub key: Option<ThresholdPublicKey>,
}

/// Who is a member: every key holder (`fedavg-paillier`), or every party (additive).
pub fn roles(job: &Job, parties: &[PartyId], keys: Option<&Path>) -> Result<Roles, NodeError> {
    let spec = job.fedavg()?;
    match job.spec.backend {
        Backend::FedavgPaillier => {
            let dir = keys.ok_or_else(|| NodeError::Job {
                path: job.path.clone(),
                msg: "backend \"fedavg-paillier\" needs the consortium's key directory (--keys DIR, made by \
                      `consort keygen`)"
                    .into(),
            })?;
            let key = keys::load_public(dir)?;
            let members: Vec<PartyId> = (0..key.parties()).map(|i| PartyId(i as u16)).collect();
            let aggregator = PartyId(spec.aggregator.unwrap_or(0));
            let mut expected = members.clone();
            if usize::from(aggregator.0) >= members.len() {
                expected.push(aggregator);
            }
            if expected != parties {
                return Err(NodeError::Job {
                    path: job.path.clone(),
                    msg: format!(
                        "the key in {} is for {} members and the aggregator is {aggregator}, so the roster must be \
                         parties 0..{}; it has {} parties",
                        dir.display(),
                        members.len(),
                        expected.len(),
                        parties.len()
                    ),
                });
            }
            Ok(Roles { members, aggregator: Some(aggregator), key: Some(key) })
        }
        _ => Ok(Roles { members: parties.to_vec(), aggregator: None, key: None }),
    }
}

/// Whether `me` holds rows in this job (the aggregator node does not).
pub fn needs_input(roles: &Roles, me: PartyId) -> bool {
    roles.members.contains(&me)
}

fn rng_for(seed: Option<u64>, me: PartyId) -> Result<ChaCha20Rng, NodeError> {
    match seed {
        Some(s) => Ok(ChaCha20Rng::seed_from_u64(s ^ (u64::from(me.0) << 32) ^ 0xfed)),
        None => crate::node::os_rng(),
    }
}

/// Runs this node's part.
pub async fn run<T: Transport>(
    t: &T,
    job: &Job,
    roles: Roles,
    input: Option<&Path>,
    keys_dir: Option<&Path>,
    seed: Option<u64>,
) -> Result<JobResult, Failure> {
    let spec = job.fedavg().map_err(fail)?.clone();
    let arch = Arch { model: spec.model, inputs: spec.features.len(), classes: spec.classes };
    let me = t.me();
    if !roles.members.contains(&me) {
        let key = roles.key.as_ref().ok_or_else(|| fail(NodeError::Keys("no key".into())))?;
        info!("aggregating {} members' encrypted contributions", roles.members.len());
        let contributors = run_aggregator(t, &spec, key, &roles.members, arch.len() + 1).await.map_err(fail)?;
        return Ok(JobResult::Aggregator(AggregatorResult { contributors }));
    }
    let index = roles.members.iter().position(|p| *p == me).unwrap_or(0);
    let mut rng = rng_for(seed, me).map_err(fail)?;
    let mut state = match (&roles.key, roles.aggregator) {
        (Some(key), Some(aggregator)) => {
            let dir = keys_dir.ok_or_else(|| fail(NodeError::Keys("no key directory".into())))?;
            let share = keys::load_share(dir, me).map_err(fail)?;
            let st = MemberState::new(&spec, me, key.clone(), share, aggregator, &roles.members, arch.len() + 1)
                .map_err(fail)?;
            st.agree(t).await.map_err(fail)?;
            Some(st)
        }
        _ => None,
    };
    let path = input
        .ok_or_else(|| fail(NodeError::Job { path: job.path.clone(), msg: "no input file".into() }))?
        .to_path_buf();
    let (p, s) = (path.clone(), spec.clone());
    let rows = tokio::task::spawn_blocking(move || -> Result<Rows, NodeError> {
        let rows = load_rows(&p, &s.features, Some(&s.label))?;
        check_labels(&s, &rows).map_err(|m| NodeError::file(&p, m))?;
        Ok(rows)
    })
    .await
    .unwrap_or_else(|e| Err(NodeError::Simulation(format!("reading was interrupted: {e}"))))
    .map_err(|e| (e, BAD_INPUT.to_string()))?;
    let (train, test) = rows.split(spec.test_fraction, spec.seed, index);
    let (means, stds) = match spec.model {
        FedModel::Logreg => {
            let p =
                pooled_stats(t, &roles.members, &spec.features, None, &train, FracBits::default(), &mut rng).await?;
            let means = p.columns.iter().map(|c| c.mean).collect();
            (means, p.columns.iter().map(|c| if c.std > 0.0 { c.std } else { 1.0 }).collect())
        }
        FedModel::Cnn1d => (Vec::new(), Vec::new()),
    };
    let pooled = (!means.is_empty()).then_some((means.as_slice(), stds.as_slice()));
    let prepared = Arc::new(prepare(spec.model, &train, pooled));
    let aggregation = match state.as_mut() {
        Some(st) => Aggregation::Paillier(st),
        None => Aggregation::Additive,
    };
    let out =
        run_member(t, &spec, arch, &roles.members, Arc::clone(&prepared), aggregation, &mut rng).await.map_err(fail)?;
    let model = SavedModel {
        model: spec.model,
        features: spec.features.clone(),
        label: spec.label.clone(),
        classes: spec.classes,
        means,
        stds,
        weights: out.weights,
    };
    let local_test_accuracy = model.accuracy(&test).map_err(fail)?;
    Ok(JobResult::Fedavg(Box::new(FedAvgResult {
        model,
        rounds: out.rounds,
        train_rows: train.n(),
        local_test_rows: test.n(),
        local_test_accuracy,
    })))
}
