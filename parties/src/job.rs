//! The job spec (TOML): what to compute, under which backend, with which parameters.
//! Every member must load the same spec; only `[inputs]` (where each member's own data
//! lives on its own machine) is local and excluded from the agreed hash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use consort_net::PartyId;
use consort_protocols::fedavg::FedAvgSpec;
use consort_protocols::learn::spec::{InferSpec, SpdzSpec, TrainSpec};
use consort_protocols::split::SplitSpec;
use consort_protocols::stats::StatsSpec;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::learn::{self, Learn};
use crate::error::NodeError;
use crate::files::read_text;

/// Version of this software, exchanged at session start.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Pooled statistics over the members' rows.
    Stats,
    /// Train a model on the members' pooled rows (`[train]`).
    Train,
    /// Apply one member's model to another member's rows (`[infer]`).
    Infer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// Additive secret sharing over Z_2^64.
    #[default]
    Additive,
    /// SPDZ-style arithmetic with a dealer (`[spdz]`): triples, truncation, MACs.
    Spdz,
    /// Federated averaging (`[fedavg]`), the sum encrypted under a threshold Paillier key
    /// and added by an aggregator.
    FedavgPaillier,
    /// Federated averaging (`[fedavg]`), the sum by additive secret sharing.
    FedavgAdditive,
    /// Split learning (`[split]`) with the activations at the cut encrypted (CKKS or
    /// Paillier) for a server that holds the middle layer.
    SplitHe,
}

impl Backend {
    /// Federated averaging, under either aggregation.
    pub fn is_fedavg(self) -> bool {
        matches!(self, Backend::FedavgPaillier | Backend::FedavgAdditive)
    }

    /// Its name in the job spec.
    pub fn wire(self) -> &'static str {
        match self {
            Backend::Additive => "additive",
            Backend::Spdz => "spdz",
            Backend::FedavgPaillier => "fedavg-paillier",
            Backend::FedavgAdditive => "fedavg-additive",
            Backend::SplitHe => "split-he",
        }
    }
}

impl Task {
    /// Its name in the job spec.
    pub fn wire(self) -> &'static str {
        match self {
            Task::Stats => "stats",
            Task::Train => "train",
            Task::Infer => "infer",
        }
    }
}

/// A job spec file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub name: String,
    pub task: Task,
    #[serde(default)]
    pub backend: Backend,
    /// The backend-neutral training table ([`crate::backend::learn`]); the backend's
    /// own table is built from it when the job is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learn: Option<Learn>,
    #[serde(default)]
    pub stats: Option<StatsSpec>,
    #[serde(default)]
    pub spdz: Option<SpdzSpec>,
    #[serde(default)]
    pub train: Option<TrainSpec>,
    #[serde(default)]
    pub infer: Option<InferSpec>,
    #[serde(default)]
    pub fedavg: Option<FedAvgSpec>,
    #[serde(default)]
    pub split: Option<SplitSpec>,
    /// Input file per member (`party-0 = "path.csv"`), relative to the job file. Local:
    /// not part of the agreed hash.
    #[serde(default, skip_serializing)]
    pub inputs: BTreeMap<String, PathBuf>,
    /// Trained model per member for `task = "infer"` with `split-he` (the result file of
    /// the training run), relative to the job file. Local, like `[inputs]`.
    #[serde(default, skip_serializing)]
    pub models: BTreeMap<String, PathBuf>,
}

/// A loaded job spec.
#[derive(Clone, Debug)]
pub struct Job {
    pub spec: JobSpec,
    pub path: PathBuf,
}

impl Job {
    pub fn load(path: &Path) -> Result<Job, NodeError> {
        let text = read_text(path)?;
        let err = |e: toml::de::Error| NodeError::Job { path: path.to_path_buf(), msg: e.to_string() };
        let doc: toml::Table = toml::from_str(&text).map_err(err)?;
        if doc.contains_key("learn") {
            return Job::from_doc(doc, path);
        }
        // Straight from the text: errors then point at the line and column.
        Job::from_spec(toml::from_str(&text).map_err(err)?, path)
    }

    /// Resolves a parsed job document (its `[learn]` table, if any, for the backend it
    /// names), then validates it.
    pub fn from_doc(mut doc: toml::Table, path: &Path) -> Result<Job, NodeError> {
        let err = |msg: String| NodeError::Job { path: path.to_path_buf(), msg };
        learn::resolve(&mut doc).map_err(err)?;
        let spec: JobSpec =
            toml::Value::Table(doc).try_into().map_err(|e: toml::de::Error| err(e.message().to_string()))?;
        Job::from_spec(spec, path)
    }

    /// Validates a parsed spec (and expands its feature ranges).
    pub fn from_spec(mut spec: JobSpec, path: &Path) -> Result<Job, NodeError> {
        if let Some(f) = spec.fedavg.as_mut() {
            f.validate().map_err(|msg| NodeError::Job { path: path.to_path_buf(), msg })?;
        }
        if let Some(f) = spec.split.as_mut() {
            f.validate().map_err(|msg| NodeError::Job { path: path.to_path_buf(), msg: format!("[split] {msg}") })?;
        }
        let job = Job { spec, path: path.to_path_buf() };
        job.validate()?;
        Ok(job)
    }

    fn err(&self, msg: impl Into<String>) -> NodeError {
        NodeError::Job { path: self.path.clone(), msg: msg.into() }
    }

    fn validate(&self) -> Result<(), NodeError> {
        match (self.spec.task, self.spec.backend) {
            (Task::Stats, Backend::Additive) => {
                let stats = self.stats()?;
                stats.validate().map_err(|e| self.err(e.to_string()))
            }
            (Task::Train, Backend::Spdz) => {
                self.spdz()?;
                self.train()?.validate().map_err(|e| self.err(e))
            }
            (Task::Infer, Backend::Spdz) => {
                let spdz = self.spdz()?;
                let infer = self.infer()?;
                if spdz.dealer == infer.model_owner || spdz.dealer == infer.input_owner {
                    return Err(self.err("the dealer cannot own the model or the rows"));
                }
                infer.validate().map_err(|e| self.err(e))
            }
            (Task::Train, Backend::FedavgPaillier) => match self.fedavg()?.aggregator {
                Some(_) => Ok(()),
                None => Err(self.err("backend \"fedavg-paillier\" needs an aggregator in [fedavg] (a member, or the party after the members)")),
            },
            // The aggregator is ignored: the members add shares among themselves, so one
            // job file runs under both backends.
            (Task::Train, Backend::FedavgAdditive) => self.fedavg().map(|_| ()),
            (Task::Train | Task::Infer, Backend::SplitHe) => self.split().map(|_| ()),
            (task, backend) => Err(self.err(format!(
                "backend \"{}\" does not run task \"{}\" (stats: additive; train: spdz, fedavg-paillier, fedavg-additive, split-he; infer: spdz, split-he)",
                backend.wire(),
                task.wire()
            ))),
        }
    }

    /// The `[spdz]` table.
    pub fn spdz(&self) -> Result<&SpdzSpec, NodeError> {
        self.spec.spdz.as_ref().ok_or_else(|| self.err("backend \"spdz\" needs a [spdz] table with a dealer"))
    }

    /// The `[fedavg]` table.
    pub fn fedavg(&self) -> Result<&FedAvgSpec, NodeError> {
        self.spec.fedavg.as_ref().ok_or_else(|| self.err("federated averaging needs a [fedavg] table"))
    }

    /// The `[split]` table.
    pub fn split(&self) -> Result<&SplitSpec, NodeError> {
        self.spec.split.as_ref().ok_or_else(|| self.err("backend \"split-he\" needs a [split] table"))
    }

    /// The trained model file of `party`, from `[models]` (relative to the job file).
    pub fn model_for(&self, party: PartyId) -> Result<PathBuf, NodeError> {
        let key = party.dns_name();
        let p = self.spec.models.get(&key).ok_or_else(|| {
            self.err(format!(
                "no model for {party} (add `{key} = \"result.json\"` under [models]: its training result)"
            ))
        })?;
        Ok(if p.is_absolute() { p.clone() } else { self.path.parent().unwrap_or(Path::new("")).join(p) })
    }

    /// The `[train]` table.
    pub fn train(&self) -> Result<&TrainSpec, NodeError> {
        self.spec.train.as_ref().ok_or_else(|| self.err("task \"train\" needs a [train] table"))
    }

    /// The `[infer]` table.
    pub fn infer(&self) -> Result<&InferSpec, NodeError> {
        self.spec.infer.as_ref().ok_or_else(|| self.err("task \"infer\" needs an [infer] table"))
    }

    /// The `[stats]` table of a stats job.
    pub fn stats(&self) -> Result<&StatsSpec, NodeError> {
        self.spec.stats.as_ref().ok_or_else(|| self.err("task \"stats\" needs a [stats] table"))
    }

    /// The input file of `party`, from `[inputs]` (relative to the job file).
    pub fn input_for(&self, party: PartyId) -> Result<PathBuf, NodeError> {
        let key = party.dns_name();
        let p = self.spec.inputs.get(&key).ok_or_else(|| {
            self.err(format!("no input for {party} (add `{key} = \"file.csv\"` under [inputs], or pass --input)"))
        })?;
        Ok(if p.is_absolute() { p.clone() } else { self.path.parent().unwrap_or(Path::new("")).join(p) })
    }

    /// SHA-256 of the agreed part of the spec (everything but `[inputs]`) and the version.
    pub fn hash(&self) -> Result<[u8; 32], NodeError> {
        let canonical =
            serde_json::to_vec(&(&self.spec, VERSION)).map_err(|e| self.err(format!("cannot hash: {e}")))?;
        Ok(Sha256::digest(&canonical).into())
    }

    /// SHA-256 of each top-level field of the agreed part of the spec (`name`, `task`,
    /// `backend`, `[stats]`, `[train]`, ...), so that members whose job hashes differ
    /// can say where. An absent table hashes as `null`, or is missing (`[learn]`).
    pub fn section_hashes(&self) -> Result<Vec<(String, [u8; 32])>, NodeError> {
        match serde_json::to_value(&self.spec).map_err(|e| self.err(format!("cannot hash: {e}")))? {
            serde_json::Value::Object(fields) => {
                Ok(fields.iter().map(|(k, v)| (k.clone(), Sha256::digest(v.to_string()).into())).collect())
            }
            _ => Err(self.err("cannot hash: the spec is not a table")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(text: &str) -> Result<Job, NodeError> {
        let doc: toml::Table =
            toml::from_str(text).map_err(|e| NodeError::Job { path: "t.toml".into(), msg: e.to_string() })?;
        Job::from_doc(doc, Path::new("t.toml"))
    }

    #[test]
    fn inputs_do_not_change_the_hash_but_parameters_do() {
        let a = job("name='x'\ntask='stats'\n[stats]\ncolumns=['a']\n[inputs]\nparty-0='a.csv'\n").unwrap();
        let b = job("name='x'\ntask='stats'\n[stats]\ncolumns=['a']\n[inputs]\nparty-0='elsewhere.csv'\n").unwrap();
        let c = job("name='x'\ntask='stats'\n[stats]\ncolumns=['b']\n").unwrap();
        assert_eq!(a.hash().unwrap(), b.hash().unwrap());
        assert_ne!(a.hash().unwrap(), c.hash().unwrap());
    }

    #[test]
    fn section_hashes_differ_exactly_where_the_specs_do() {
        let a = job("name='x'\ntask='stats'\n[stats]\ncolumns=['a']\n").unwrap();
        let b = job("name='x'\ntask='stats'\n[stats]\ncolumns=['b']\n").unwrap();
        let (ha, hb) = (a.section_hashes().unwrap(), b.section_hashes().unwrap());
        let names: Vec<&str> = ha.iter().map(|(k, _)| k.as_str()).collect();
        for k in ["name", "task", "backend", "stats", "spdz", "train", "infer", "fedavg", "split"] {
            assert!(names.contains(&k), "no section {k} in {names:?}");
        }
        let differ: Vec<&str> = ha.iter().zip(&hb).filter(|(x, y)| x != y).map(|(x, _)| x.0.as_str()).collect();
        assert_eq!(differ, ["stats"]);
    }

    #[test]
    fn bad_specs_are_refused_with_reasons() {
        let e = job("name='x'\ntask='learn'\n").unwrap_err().to_string();
        assert!(e.contains("unknown variant `learn`"), "{e}");
        let e = job("name='x'\ntask='train'\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "job spec t.toml: backend \"additive\" does not run task \"train\" (stats: additive; train: spdz, \
             fedavg-paillier, fedavg-additive, split-he; infer: spdz, split-he)"
        );
        let e = job("name='x'\ntask='train'\nbackend='spdz'\n").unwrap_err().to_string();
        assert_eq!(e, "job spec t.toml: backend \"spdz\" needs a [spdz] table with a dealer");
        let e = job("name='x'\ntask='stats'\n").unwrap_err().to_string();
        assert_eq!(e, "job spec t.toml: task \"stats\" needs a [stats] table");
        let e = job("name='x'\ntask='stats'\n[stats]\ncolumns=['a']\nhistograms={a=[1,0]}\n").unwrap_err().to_string();
        assert!(e.ends_with("histogram edges of 'a' must be finite and strictly increasing"), "{e}");
    }
}
