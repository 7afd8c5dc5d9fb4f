//! # Backends: one trait, one registry
//!
//! A job (task, model, data, parameters) is independent of the protocol that runs it.
//! Each protocol family is a [`Backend`]: it says which roles a job needs (the only
//! place role rules live: `consort run`, `simulate` and `compare` all ask it), whether
//! it tolerates dropouts, how one node runs its part over any transport, how the
//! members' reports combine into one result, what its plaintext twin gives on the
//! pooled data, and what it claims about security ([`SecurityClaim`], data from which
//! the README's table is generated).
//!
//! The party node picks a backend by name at the job-spec edge ([`get`]) and talks to
//! it through `&dyn Backend`; below that, protocol code stays generic over
//! `T: Transport` (the backend runs it on a [`DynTransport`]).
//!
//! ## Adding a backend
//! Write one file with a unit struct that implements [`Backend`] (the smallest,
//! [`stats::Additive`], is about 150 lines), and add one line to [`REGISTRY`]. Then add
//! it to the conformance suite (`parties/tests/conformance.rs`, one line) and, if it
//! runs a new task or model, say so in `supports`.

pub mod claim;
pub mod common;
pub mod fedavg;
pub mod learn;
pub mod spdz;
pub mod split;
pub mod stats;
pub mod twin;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use consort_net::{DynTransport, PartyId};

pub use claim::{Cheating, Collusion, SecurityClaim, Trusted};
pub use common::{BAD_INPUT, Failure, fail};

use crate::error::NodeError;
use crate::job::{Backend as BackendName, Job, Task};
use crate::report::{Comparison, JobResult, MemberReport};

/// A boxed future, for the object-safe [`Backend::run`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Deliberate misbehaviour, for fault-injection tests (hidden from `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Stop responding after the job agreement, before the first protocol message
    /// (keeps the connection alive; a test then kills the process).
    StallAfterAgree,
    /// Cheat in an spdz job: add 1 to this member's share of the first opened value and
    /// carry on (the MAC check must catch it).
    CorruptShare,
    /// After the job agreement, send every peer 1 MiB messages for steps nobody reads
    /// until stopped (a member that floods: its peers must name it within their budget).
    Flood,
}

/// The peer budget of a job whose messages have no tighter bound (federated averaging,
/// split learning): 2 GiB.
pub const DEFAULT_PEER_BUDGET: u64 = 2 << 30;

/// A role beside the data members: a process that serves the job but holds no rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperRole {
    /// Deals preprocessing (spdz).
    Dealer,
    /// Adds encrypted contributions (fedavg-paillier).
    Aggregator,
    /// Holds the middle layers (split-he).
    Server,
}

impl HelperRole {
    pub fn name(self) -> &'static str {
        match self {
            HelperRole::Dealer => "dealer",
            HelperRole::Aggregator => "aggregator",
            HelperRole::Server => "server",
        }
    }
}

/// The helper a job names, before the roster is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Helper {
    pub role: HelperRole,
    pub party: PartyId,
    /// Whether the job may name a data member for this role (an aggregator may be a
    /// member; a dealer may not). A split server named among the members holds no data.
    pub may_be_member: bool,
}

/// Who does what in one job, over one roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roles {
    /// Every process of the job, in party order.
    pub roster: Vec<PartyId>,
    /// The parties that compute on data (every party but a helper process).
    pub members: Vec<PartyId>,
    /// The helper role, if the backend has one.
    pub helper: Option<(HelperRole, PartyId)>,
    /// The parties that read an input file.
    pub inputs: Vec<PartyId>,
    /// The parties that receive the job's result.
    pub outputs: Vec<PartyId>,
}

impl Roles {
    /// Every party a member: no helper, everybody reads input and gets the result.
    pub fn all_members(roster: &[PartyId]) -> Roles {
        Roles {
            roster: roster.to_vec(),
            members: roster.to_vec(),
            helper: None,
            inputs: roster.to_vec(),
            outputs: roster.to_vec(),
        }
    }

    /// Whether `p` reads an input file.
    pub fn needs_input(&self, p: PartyId) -> bool {
        self.inputs.contains(&p)
    }

    /// Every party the job names as an input or result owner is a member of the roster
    /// (not missing from it, not its helper): checked at start, before any connection.
    pub fn check_named(&self, job: &Job) -> Result<(), NodeError> {
        let Some(p) = self.inputs.iter().chain(&self.outputs).find(|p| !self.members.contains(p)) else {
            return Ok(());
        };
        let members: Vec<String> = self.members.iter().map(ToString::to_string).collect();
        let why = if self.roster.contains(p) { "it is the job's helper" } else { "it is not in the roster" };
        Err(NodeError::Job {
            path: job.path.clone(),
            msg: format!(
                "the job names {p} to read an input or receive a result, but {why}; the members are {}",
                members.join(", ")
            ),
        })
    }
}

/// Everything one node's run needs.
pub struct RunCtx<'a> {
    pub t: DynTransport<'a>,
    pub job: &'a Job,
    pub roles: &'a Roles,
    /// This node's input file, when it has one.
    pub input: Option<&'a Path>,
    /// The threshold key directory (fedavg-paillier).
    pub keys: Option<&'a Path>,
    /// Seeds share randomness: reproducible simulations only.
    pub seed: Option<u64>,
    pub fault: Option<Fault>,
}

/// One protocol family behind the job spec.
pub trait Backend: Send + Sync {
    /// The job spec's name for it (`backend = "…"`).
    fn name(&self) -> BackendName;

    /// The job-spec tables it reads (a neutral job keeps only these; see [`learn`]).
    fn tables(&self) -> &'static [&'static str];

    /// Variants `compare` accepts as `name:variant` (the default first), e.g. the
    /// security mode or the encryption scheme.
    fn variants(&self) -> &'static [&'static str] {
        &[]
    }

    /// Sets `variant` in a job document (its own table).
    fn set_variant(&self, doc: &mut toml::Table, variant: &str) -> Result<(), String> {
        let _ = doc;
        Err(format!("backend \"{}\" has no variant \"{variant}\"", self.name().wire()))
    }

    /// The variant a loaded job runs (for its security claim and reports).
    fn variant_of(&self, job: &Job) -> Option<&'static str> {
        let _ = job;
        None
    }

    /// Whether it runs `task` with the backend-neutral `model` (`[learn] model`), and
    /// why not.
    fn supports(&self, task: Task, model: Option<learn::Model>) -> Result<(), String>;

    /// Builds its own tables from the backend-neutral `[learn]` table (see [`learn`]).
    fn resolve(&self, doc: &mut toml::Table, learn: &learn::Learn) -> Result<(), String> {
        let _ = (doc, learn);
        Err(format!("backend \"{}\" does not take a [learn] table", self.name().wire()))
    }

    /// The helper the job names (dealer, aggregator, server), if any.
    fn helper(&self, job: &Job) -> Option<Helper> {
        let _ = job;
        None
    }

    /// The roles over `roster` (all the job's processes); refuses a roster that does
    /// not fit the job (a missing dealer, a key for other members).
    fn roles(&self, job: &Job, roster: &[PartyId], keys: Option<&Path>) -> Result<Roles, NodeError>;

    /// The columns `me`'s input CSV must have, which a node checks in the file's header
    /// before it waits for its peers; `None` when its input is no CSV (a model file),
    /// which is then only checked to open. Statistics read `[stats] columns`.
    fn input_columns(&self, job: &Job, me: PartyId) -> Option<Vec<String>> {
        let _ = (job, me);
        None
    }

    /// Checks `me`'s own files other than its input CSV (a key share, a model file) and
    /// logs what its members compare out of band (a key fingerprint), before the node
    /// waits for its peers.
    fn check_files(
        &self,
        job: &Job,
        roles: &Roles,
        me: PartyId,
        keys: Option<&Path>,
        input: Option<&Path>,
    ) -> Result<(), NodeError> {
        let _ = (job, roles, me, keys, input);
        Ok(())
    }

    /// Bytes one peer may have arriving or waiting unread at this node during `job`:
    /// the most memory a peer can make a node hold, sized from what the job's
    /// messages can legitimately be. Beyond it the peer is named and the job stops.
    fn peer_budget(&self, job: &Job) -> u64 {
        let _ = job;
        DEFAULT_PEER_BUDGET
    }

    /// Whether the job carries on when a member disappears.
    fn tolerates_dropouts(&self, job: &Job) -> bool {
        let _ = job;
        false
    }

    /// What it claims, per variant (one entry when it has none).
    fn claims(&self) -> Vec<SecurityClaim>;

    /// This node's part of the job.
    fn run<'a>(&'a self, cx: RunCtx<'a>) -> BoxFuture<'a, Result<JobResult, Failure>>;

    /// The job's result from every member's report (checks that they agree).
    fn combine(&self, job: &Job, roles: &Roles, reports: &[MemberReport]) -> Result<JobResult, NodeError>;

    /// The same computation in the clear on the pooled data (same seed, split and
    /// hyper-parameters), next to the secure result. Reads every member's input, so
    /// only `simulate` and `compare` can run it.
    fn twin(&self, job: &Job, roles: &Roles, reports: &[MemberReport]) -> Result<Option<Comparison>, NodeError>;
}

impl dyn Backend {
    /// The claim of the variant `job` runs.
    pub fn claim_for(&self, job: &Job) -> Option<SecurityClaim> {
        let v = self.variant_of(job);
        let claims = self.claims();
        claims.iter().find(|c| c.variant == v).cloned().or_else(|| claims.into_iter().next())
    }
}

/// Every backend, in the order `compare` and the README list them.
pub static REGISTRY: &[&(dyn Backend + 'static)] =
    &[&stats::Additive, &spdz::Spdz, &fedavg::FedAvg::PAILLIER, &fedavg::FedAvg::ADDITIVE, &split::SplitHe];

/// The backend of a job spec's `backend = "…"`.
pub fn get(name: BackendName) -> &'static dyn Backend {
    REGISTRY.iter().copied().find(|b| b.name() == name).unwrap_or(&stats::Additive)
}

/// A `name[:variant]` choice, as `compare --backends` takes it.
pub fn parse_choice(choice: &str) -> Result<(&'static dyn Backend, Option<&'static str>), String> {
    let (name, variant) = match choice.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (choice, None),
    };
    let names: Vec<&str> = REGISTRY.iter().map(|b| b.name().wire()).collect();
    let backend = REGISTRY
        .iter()
        .copied()
        .find(|b| b.name().wire() == name)
        .ok_or_else(|| format!("unknown backend \"{name}\" (one of: {})", names.join(", ")))?;
    let variant = match variant {
        None => None,
        Some(v) => {
            Some(backend.variants().iter().copied().find(|x| *x == v).ok_or_else(|| match backend.variants() {
                [] => format!("backend \"{name}\" has no variants"),
                vs => format!("backend \"{name}\" has no variant \"{v}\" (one of: {})", vs.join(", ")),
            })?)
        }
    };
    Ok((backend, variant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_is_registered_once_under_its_name() {
        for b in REGISTRY {
            assert_eq!(get(b.name()).name(), b.name());
        }
        let names: std::collections::BTreeSet<_> = REGISTRY.iter().map(|b| b.name().wire()).collect();
        assert_eq!(names.len(), REGISTRY.len());
    }

    #[test]
    fn choices_parse_with_variants_and_unknown_ones_are_named() {
        let (b, v) = parse_choice("split-he:ckks").unwrap();
        assert_eq!((b.name().wire(), v), ("split-he", Some("ckks")));
        let (b, v) = parse_choice("spdz").unwrap();
        assert_eq!((b.name().wire(), v), ("spdz", None));
        assert_eq!(
            parse_choice("spdz:paranoid").err().unwrap(),
            "backend \"spdz\" has no variant \"paranoid\" (one of: semi-honest, malicious)"
        );
        assert!(parse_choice("mpc").err().unwrap().starts_with("unknown backend \"mpc\" (one of: additive, spdz,"));
        assert_eq!(parse_choice("additive:x").err().unwrap(), "backend \"additive\" has no variants");
    }

    fn repo() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn the_readme_security_table_is_generated_from_the_claims() {
        let claims: Vec<SecurityClaim> = REGISTRY.iter().flat_map(|b| b.claims()).collect();
        let table = claim::markdown_table(&claims);
        let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
        let (_, rest) = readme.split_once(claim::BEGIN).expect("README has the security-table markers");
        let (embedded, _) = rest.split_once(claim::END).expect("README closes the security table");
        assert_eq!(
            embedded.trim(),
            table.trim(),
            "README's security table is stale: regenerate it with `consort backends --markdown`"
        );
    }

    #[test]
    fn every_claim_names_tests_that_exist() {
        for b in REGISTRY {
            let claims = b.claims();
            assert!(!claims.is_empty());
            for c in claims {
                assert!(!c.tests.is_empty(), "{} backs its claim with no test", c.label);
                for t in &c.tests {
                    let (file, name) = t.split_once("::").unwrap();
                    let src = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
                    assert!(src.contains(&format!("fn {name}(")), "{}: no test {t}", c.label);
                }
            }
        }
    }
}
