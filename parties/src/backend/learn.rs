//! The backend-neutral `[learn]` table: a training job said once — model, data, split,
//! epochs, learning rate, seed — and run under any backend that trains that model.
//!
//! ```toml
//! task = "train"
//! backend = "spdz"            # or fedavg-additive, fedavg-paillier, split-he
//! [learn]
//! model = "logreg"            # logreg | mlp | cnn1d | cnn2d
//! features = ["mean_radius", "mean_texture"]
//! label = "target"
//! epochs = 10
//! [spdz]                      # each backend's own knobs in its own table
//! dealer = 3
//! ```
//!
//! When the job has `[learn]`, the chosen backend builds its own tables from it
//! ([`Backend::resolve`](super::Backend::resolve)); a key its own table sets as well
//! wins (an override, e.g. a larger learning rate for federated averaging). The tables
//! of the other backends are dropped, so one file serves every backend.

use serde::{Deserialize, Serialize};

/// The model of `[learn] model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Logistic regression (2 classes) on standardized features.
    Logreg,
    /// A two-layer network with a polynomial sigmoid (regression).
    Mlp,
    /// A small 1D CNN over a signal (each backend's own architecture; see its docs).
    Cnn1d,
    /// A small 2D CNN over 8×8 images.
    Cnn2d,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Logreg => "logreg",
            Model::Mlp => "mlp",
            Model::Cnn1d => "cnn1d",
            Model::Cnn2d => "cnn2d",
        }
    }
}

/// `[learn]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learn {
    pub model: Model,
    /// Feature columns in order (`"x000..x127"` ranges allowed).
    pub features: Vec<String>,
    pub label: String,
    /// Classes of the label (0..classes); logistic regression has 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// Passes over the data (federated averaging: rounds of one local epoch each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// Share of each member's rows held out for testing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// Seeds the split, the initial weights and the batch order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Learn {
    /// The keys every backend takes under the same name, as TOML values.
    pub fn common(&self) -> Vec<(&'static str, toml::Value)> {
        let mut v: Vec<(&'static str, toml::Value)> = vec![
            ("features", toml::Value::Array(self.features.iter().map(|f| toml::Value::String(f.clone())).collect())),
            ("label", toml::Value::String(self.label.clone())),
        ];
        let ints = [("batch_size", self.batch_size.map(|x| x as u64)), ("seed", self.seed)];
        for (k, x) in ints {
            if let Some(x) = x.and_then(|x| i64::try_from(x).ok()) {
                v.push((k, toml::Value::Integer(x)));
            }
        }
        for (k, x) in [("learning_rate", self.learning_rate), ("test_fraction", self.test_fraction)] {
            if let Some(x) = x {
                v.push((k, toml::Value::Float(x)));
            }
        }
        v
    }
}

/// Sets `key` in `table` unless the table sets it already (its own value wins).
pub fn fill(table: &mut toml::Table, key: &str, value: toml::Value) {
    table.entry(key.to_string()).or_insert(value);
}

/// An integer TOML value.
pub fn int(x: usize) -> toml::Value {
    toml::Value::Integer(i64::try_from(x).unwrap_or(i64::MAX))
}

/// The table `name` of `doc`, created if missing; an error if it is not a table.
pub fn table<'a>(doc: &'a mut toml::Table, name: &str) -> Result<&'a mut toml::Table, String> {
    doc.entry(name.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| format!("[{name}] must be a table"))
}

/// Every table some backend reads: a neutral job keeps only its backend's.
pub const BACKEND_TABLES: &[&str] = &["stats", "spdz", "train", "infer", "fedavg", "split"];

/// Resolves a job document with `[learn]` for the backend it names (in place). A
/// document without `[learn]` is left as it is.
pub fn resolve(doc: &mut toml::Table) -> Result<(), String> {
    let Some(raw) = doc.get("learn").cloned() else { return Ok(()) };
    let learn: Learn = raw.try_into().map_err(|e: toml::de::Error| format!("[learn] {}", e.message()))?;
    let name: crate::job::Backend = match doc.get("backend") {
        Some(v) => v.clone().try_into().map_err(|e: toml::de::Error| format!("backend: {}", e.message()))?,
        None => crate::job::Backend::default(),
    };
    let task: crate::job::Task = match doc.get("task") {
        Some(v) => v.clone().try_into().map_err(|e: toml::de::Error| format!("task: {}", e.message()))?,
        None => return Err("missing field `task`".into()),
    };
    let backend = super::get(name);
    backend.supports(task, Some(learn.model))?;
    let own = backend.tables();
    for t in BACKEND_TABLES {
        if !own.contains(t) {
            doc.remove(*t);
        }
    }
    backend.resolve(doc, &learn)
}
