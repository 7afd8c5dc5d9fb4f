//! `backend = "additive"`, `task = "stats"`: pooled statistics by additive secret
//! sharing over Z_2^64 (the smallest backend; the template for a new one).
//!
//! Every member reads its CSV, computes its local aggregates (count, Σx, Σx², bin
//! counts per column), shares them among all members and opens only the totals.

use std::path::Path;

use consort_net::PartyId;
use consort_protocols::stats;

use super::common::{agree, bad_input, blocking, fail, input_of, member_rng};
use super::{Backend, BoxFuture, Cheating, Collusion, Failure, RunCtx, SecurityClaim};
use crate::data;
use crate::error::NodeError;
use crate::job::{Backend as BackendName, Job, Task};
use crate::report::{Comparison, JobResult, MemberReport};

/// The stats backend.
pub struct Additive;

/// The part of a stats job's peer budget that does not depend on its columns.
pub const STATS_BASE_BUDGET: u64 = 16 << 20;

impl Backend for Additive {
    fn name(&self) -> BackendName {
        BackendName::Additive
    }

    fn tables(&self) -> &'static [&'static str] {
        &["stats"]
    }

    fn supports(&self, task: Task, _model: Option<super::learn::Model>) -> Result<(), String> {
        match task {
            Task::Stats => Ok(()),
            _ => {
                Err(format!("backend \"additive\" computes statistics only (task \"stats\"), not \"{}\"", task.wire()))
            }
        }
    }

    fn roles(&self, _job: &Job, roster: &[PartyId], _keys: Option<&Path>) -> Result<super::Roles, NodeError> {
        Ok(super::Roles::all_members(roster))
    }

    /// Every message of a stats job is one vector of the job's totals (16 bytes a
    /// word): 16 MiB plus 64 bytes per word bounds what a peer can make a node hold.
    fn peer_budget(&self, job: &Job) -> u64 {
        job.stats().map_or(super::DEFAULT_PEER_BUDGET, |s| STATS_BASE_BUDGET + 64 * s.vector_len() as u64)
    }

    fn claims(&self) -> Vec<SecurityClaim> {
        vec![SecurityClaim {
            label: "additive",
            variant: None,
            technique: "additive secret sharing over Z_2^64, fixed point",
            trusted: vec![],
            collusion: Collusion::AllButTwo,
            learns: vec![
                (
                    "every member",
                    "the totals per column: row count, Σx, Σx², bin counts (the statistics are functions of these)",
                ),
                ("nobody", "a member's rows or subtotals"),
            ],
            cheating: Cheating::WrongResult,
            cheating_note: "no MACs: a cheater can bias the totals (as by lying about its rows); one that sends \
                            members different values is caught by the echo of the totals; it cannot make a member \
                            reveal its inputs",
            tests: vec![
                "protocols/tests/stats_memory.rs::no_message_contains_a_members_inputs_or_subtotals",
                "protocols/tests/stats_memory.rs::tampering_changes_the_result_semi_honest_mode_has_no_integrity",
                "protocols/tests/stats_memory.rs::a_member_that_sends_members_different_values_makes_every_member_stop",
                "tests/security.rs::member_claiming_another_id_is_refused",
            ],
        }]
    }

    fn run<'a>(&'a self, cx: RunCtx<'a>) -> BoxFuture<'a, Result<JobResult, Failure>> {
        Box::pin(async move {
            let spec = cx.job.stats().map_err(fail)?.clone();
            let path = input_of(cx.job, cx.input)?.to_path_buf();
            let owned = spec.clone();
            let local = blocking(move || {
                let d = data::load_columns(&path, &owned.columns)?;
                data::check_values(&path, &owned, &d)?;
                Ok(d)
            })
            .await?;
            let mut rng = member_rng(cx.seed, consort_net::Transport::me(&cx.t), 0).map_err(bad_input)?;
            let r = stats::run(&cx.t, &spec, &local, &mut rng).await.map_err(fail)?;
            Ok(JobResult::Stats(r))
        })
    }

    fn combine(&self, _job: &Job, _roles: &super::Roles, reports: &[MemberReport]) -> Result<JobResult, NodeError> {
        let first = agree(reports.iter().map(|r| (r.party, &r.result)), "results")?;
        first.map(|(_, r)| r.clone()).ok_or_else(|| NodeError::Members("no member reported".into()))
    }

    fn twin(&self, job: &Job, roles: &super::Roles, reports: &[MemberReport]) -> Result<Option<Comparison>, NodeError> {
        let JobResult::Stats(secure) = self.combine(job, roles, reports)? else { return Ok(None) };
        let spec = job.stats()?;
        let mut pooled: Vec<Vec<f64>> = vec![Vec::new(); spec.columns.len()];
        for p in &roles.inputs {
            let cols = data::load_columns(&job.input_for(*p)?, &spec.columns)?;
            for (all, c) in pooled.iter_mut().zip(cols.columns) {
                all.extend(c);
            }
        }
        Ok(Some(Comparison::deviation(&secure, &pooled)))
    }
}
