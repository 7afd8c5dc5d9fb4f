//! `backend = "fedavg-paillier" | "fedavg-additive"`: federated averaging. Members train
//! locally (candle) and the round's weighted sum is encrypted under the consortium's
//! threshold Paillier key and added by an aggregator, or secret-shared among the
//! members (`protocols/src/fedavg/`).

use std::path::Path;
use std::sync::Arc;

use consort_net::{PartyId, Transport};
use consort_protocols::fedavg::local::{check_labels, prepare};
use consort_protocols::fedavg::model::{Arch, SavedModel};
use consort_protocols::fedavg::paillier::{MemberState, run_aggregator};
use consort_protocols::fedavg::{Backend as Aggregation, FedModel, run_member};
use tracing::info;

use super::common::{agree, blocking, fail, input_of, load_rows, member_rng, pooled_moments};
use super::learn::{Learn, Model, fill, int, table};
use super::{Backend, BoxFuture, Cheating, Collusion, Failure, Helper, HelperRole, Roles, RunCtx};
use super::{SecurityClaim, Trusted};
use crate::error::NodeError;
use crate::job::{Backend as BackendName, Job, Task};
use crate::keys;
use crate::report::{AggregatorResult, Comparison, FedAvgResult, JobResult, MemberReport};

/// Federated averaging, with the sum under threshold Paillier or by secret sharing.
pub struct FedAvg {
    paillier: bool,
}

impl FedAvg {
    pub const PAILLIER: FedAvg = FedAvg { paillier: true };
    pub const ADDITIVE: FedAvg = FedAvg { paillier: false };
}

impl Backend for FedAvg {
    fn name(&self) -> BackendName {
        if self.paillier { BackendName::FedavgPaillier } else { BackendName::FedavgAdditive }
    }

    fn tables(&self) -> &'static [&'static str] {
        &["fedavg"]
    }

    fn supports(&self, task: Task, model: Option<Model>) -> Result<(), String> {
        let name = self.name().wire();
        match (task, model) {
            (Task::Train, None | Some(Model::Logreg | Model::Cnn1d)) => Ok(()),
            (Task::Train, Some(m)) => Err(format!("backend \"{name}\" trains logreg and cnn1d, not {}", m.name())),
            (t, _) => Err(format!("backend \"{name}\" trains models (task \"train\"), not \"{}\"", t.wire())),
        }
    }

    fn resolve(&self, doc: &mut toml::Table, learn: &Learn) -> Result<(), String> {
        let f = table(doc, "fedavg")?;
        fill(f, "model", toml::Value::String(learn.model.name().into()));
        // One local epoch per round, as many rounds as epochs: the same passes over
        // the data as centralized training (override with rounds / local_epochs).
        if let Some(e) = learn.epochs {
            fill(f, "rounds", int(e));
        }
        if let Some(c) = learn.classes {
            fill(f, "classes", int(c));
        }
        for (k, v) in learn.common() {
            fill(f, k, v);
        }
        Ok(())
    }

    fn helper(&self, job: &Job) -> Option<Helper> {
        let a = job.spec.fedavg.as_ref()?.aggregator?;
        self.paillier.then_some(Helper { role: HelperRole::Aggregator, party: PartyId(a), may_be_member: true })
    }

    fn roles(&self, job: &Job, roster: &[PartyId], keys: Option<&Path>) -> Result<Roles, NodeError> {
        let spec = job.fedavg()?;
        if !self.paillier {
            // No aggregator: the members add shares among themselves (one job file runs
            // under both backends, so a named aggregator is ignored).
            check_min_contributors(job, roster.len())?;
            return Ok(Roles::all_members(roster));
        }
        let dir = keys.ok_or_else(|| NodeError::Job {
            path: job.path.clone(),
            msg: format!(
                "backend \"fedavg-paillier\" needs the consortium's threshold key: run `consort keygen --parties N \
                 --threshold {} --out DIR` (N members) and pass --keys DIR",
                spec.threshold
            ),
        })?;
        let key = keys::load_public(dir)?;
        let members: Vec<PartyId> = (0..key.parties()).map(|i| PartyId(i as u16)).collect();
        check_min_contributors(job, members.len())?;
        let aggregator = PartyId(spec.aggregator.unwrap_or(0));
        let mut expected = members.clone();
        if usize::from(aggregator.0) >= members.len() {
            expected.push(aggregator);
        }
        if expected != roster {
            return Err(NodeError::Job {
                path: job.path.clone(),
                msg: format!(
                    "the key in {} is for {} members and the aggregator is {aggregator}, so the roster must be \
                     parties 0..{}; it has {} parties",
                    dir.display(),
                    members.len(),
                    expected.len(),
                    roster.len()
                ),
            });
        }
        Ok(Roles {
            roster: roster.to_vec(),
            inputs: members.clone(),
            outputs: members.clone(),
            members,
            helper: Some((HelperRole::Aggregator, aggregator)),
        })
    }

    fn input_columns(&self, job: &Job, _me: PartyId) -> Option<Vec<String>> {
        job.fedavg().ok().map(|f| f.features.iter().chain([&f.label]).cloned().collect())
    }

    fn check_files(
        &self,
        _: &Job,
        roles: &Roles,
        me: PartyId,
        keys: Option<&Path>,
        _: Option<&Path>,
    ) -> Result<(), NodeError> {
        let Some(dir) = keys.filter(|_| self.paillier) else { return Ok(()) };
        let key = keys::load_public(dir)?;
        info!(
            fingerprint = %keys::fingerprint(&key),
            "threshold key of {} members (any {} decrypt): compare its fingerprint with keygen's",
            key.parties(),
            key.threshold()
        );
        if roles.members.contains(&me) {
            // Dropped at once: it is loaded again (and zeroized) when the job runs.
            keys::load_share(dir, me)?;
        }
        Ok(())
    }

    fn tolerates_dropouts(&self, _job: &Job) -> bool {
        self.paillier
    }

    fn claims(&self) -> Vec<SecurityClaim> {
        if !self.paillier {
            return vec![SecurityClaim {
                label: "fedavg-additive",
                variant: None,
                technique: "plaintext local training (candle); the round's weighted sum by additive sharing over Z_2^64",
                trusted: vec![],
                collusion: Collusion::AllButTwo,
                learns: vec![
                    (
                        "members",
                        "the global model after every round, the round's total row count; with logreg the pooled feature means and stds",
                    ),
                    ("nobody", "a member's rows or local model"),
                ],
                cheating: Cheating::WrongResult,
                cheating_note: "a cheater can bias the sum (no MACs) or contribute a poisoned model",
                tests: vec![
                    "protocols/tests/fedavg.rs::paillier_fedavg_with_a_member_aggregator_and_additive_fedavg_match_the_twin",
                    "tests/fedavg.rs::fedavg_paillier_and_additive_match_plaintext_fedavg",
                ],
            }];
        }
        vec![SecurityClaim {
            label: "fedavg-paillier",
            variant: None,
            technique: "plaintext local training (candle); the round's weighted sum under threshold Paillier (n ≥ 2048 \
                        bits): contributions relayed by an aggregator and checked by every member against digests \
                        the members echo-broadcast; partial decryptions with batch proofs",
            trusted: vec![("key dealer (`consort keygen`)", Trusted::Privacy)],
            collusion: Collusion::BelowThreshold,
            learns: vec![
                ("members", "the global model after every round, the round's total row count and who contributed"),
                ("aggregator", "the number of contributors and ciphertexts; no weight, count or sum"),
            ],
            cheating: Cheating::WrongResult,
            cheating_note: "only through a member's own model (a poisoned contribution, inherent to federated \
                            averaging); a bad partial decryption fails its proof and its sender is excluded; an \
                            aggregator that substitutes, drops or adds a contribution is named and nothing is decrypted",
            tests: vec![
                "protocols/tests/fedavg.rs::the_aggregator_receives_ciphertexts_and_never_a_weight",
                "protocols/tests/fedavg.rs::a_cheating_aggregator_is_named_and_nothing_is_decrypted",
                "protocols/tests/fedavg.rs::a_member_sending_bad_partials_is_named_and_excluded",
                "he/tests/paillier_threshold.rs::fewer_than_threshold_is_refused",
                "tests/fedavg.rs::a_member_killed_mid_run_is_dropped_and_the_job_finishes",
            ],
        }]
    }

    fn run<'a>(&'a self, cx: RunCtx<'a>) -> BoxFuture<'a, Result<JobResult, Failure>> {
        Box::pin(run(cx))
    }

    fn combine(&self, _job: &Job, _roles: &Roles, reports: &[MemberReport]) -> Result<JobResult, NodeError> {
        let results = reports.iter().filter_map(|r| match &r.result {
            JobResult::Fedavg(f) => Some((r.party, &f.model)),
            _ => None,
        });
        let Some((first, _)) = agree(results, "models")? else {
            return Err(NodeError::Members("no member reported".into()));
        };
        let r = reports.iter().find(|r| r.party == first).map(|r| r.result.clone());
        r.ok_or_else(|| NodeError::Members("no member reported".into()))
    }

    fn twin(&self, job: &Job, roles: &Roles, reports: &[MemberReport]) -> Result<Option<Comparison>, NodeError> {
        match self.combine(job, roles, reports)? {
            JobResult::Fedavg(f) => Ok(Some(super::twin::fedavg(job, &roles.members, &f.model)?)),
            _ => Ok(None),
        }
    }
}

/// A job whose members can never reach `min_contributors` stops before it connects.
fn check_min_contributors(job: &Job, members: usize) -> Result<(), NodeError> {
    let min = usize::from(job.fedavg()?.min_contributors);
    if members >= min {
        return Ok(());
    }
    Err(NodeError::Job {
        path: job.path.clone(),
        msg: format!(
            "[fedavg] min_contributors = {min} but the job has {members} members; with 2 members each can compute \
             the other's local model from the average: set min_contributors = 2 in [fedavg] if the members accept that"
        ),
    })
}

async fn run(cx: RunCtx<'_>) -> Result<JobResult, Failure> {
    let (t, job, roles) = (&cx.t, cx.job, cx.roles);
    let spec = job.fedavg().map_err(fail)?.clone();
    let arch = Arch { model: spec.model, inputs: spec.features.len(), classes: spec.classes };
    let me = t.me();
    let key = match (cx.keys, roles.helper) {
        (Some(dir), Some(_)) => Some(keys::load_public(dir).map_err(fail)?),
        _ => None,
    };
    if !roles.members.contains(&me) {
        let key = key.as_ref().ok_or_else(|| fail(NodeError::Keys("no key".into())))?;
        info!("aggregating {} members' encrypted contributions", roles.members.len());
        let contributors = run_aggregator(t, &spec, key, &roles.members, arch.len() + 1).await.map_err(fail)?;
        return Ok(JobResult::Aggregator(AggregatorResult { contributors }));
    }
    let index = roles.members.iter().position(|p| *p == me).unwrap_or(0);
    let mut rng = member_rng(cx.seed, me, 0xfed).map_err(fail)?;
    let mut state = match (key, roles.helper, cx.keys) {
        (Some(key), Some((_, aggregator)), Some(dir)) => {
            let share = keys::load_share(dir, me).map_err(fail)?;
            let st =
                MemberState::new(&spec, me, key, share, aggregator, &roles.members, arch.len() + 1).map_err(fail)?;
            st.agree(t).await.map_err(fail)?;
            Some(st)
        }
        _ => None,
    };
    let (p, s) = (input_of(job, cx.input)?.to_path_buf(), spec.clone());
    let rows = blocking(move || {
        let rows = load_rows(&p, &s.features, Some(&s.label))?;
        check_labels(&s, &rows).map_err(|m| NodeError::file(&p, m))?;
        Ok(rows)
    })
    .await?;
    let (train, test) = rows.split(spec.test_fraction, spec.seed, index);
    let (means, stds) = match spec.model {
        FedModel::Logreg => pooled_moments(t, &roles.members, &spec.features, &train, &mut rng).await?,
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
