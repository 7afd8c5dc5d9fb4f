//! The `[train]` and `[infer]` tables of a job spec.

use serde::{Deserialize, Serialize};

use crate::spdz::Security;
use crate::spdz::poly::{Function, Method, Poly};

/// Which model to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Logistic regression (binary labels 0/1), cross-entropy gradient.
    Logreg,
    /// Two layers: `hidden` polynomial-sigmoid units, a linear output, squared error
    /// (regression on a standardized label).
    Mlp,
}

fn d_epochs() -> usize {
    10
}
fn d_batch() -> usize {
    32
}
fn d_lr() -> f64 {
    0.5
}
fn d_hidden() -> usize {
    8
}
fn d_degree() -> usize {
    5
}
fn d_interval() -> [f64; 2] {
    [-8.0, 8.0]
}
fn d_test() -> f64 {
    0.2
}
fn d_seed() -> u64 {
    1
}
fn d_frac() -> u8 {
    16
}

/// The approximation of the sigmoid both training and inference use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigmoidSpec {
    #[serde(default = "d_degree")]
    pub degree: usize,
    #[serde(default = "d_interval")]
    pub interval: [f64; 2],
}

impl Default for SigmoidSpec {
    fn default() -> Self {
        SigmoidSpec { degree: d_degree(), interval: d_interval() }
    }
}

impl SigmoidSpec {
    pub fn poly(&self) -> Poly {
        Poly::fit(Function::Sigmoid, self.interval[0], self.interval[1], self.degree, Method::LeastSquares)
    }

    fn validate(&self) -> Result<(), String> {
        if !(1..=15).contains(&self.degree) {
            return Err(format!("sigmoid degree {} is not in 1..=15", self.degree));
        }
        let [lo, hi] = self.interval;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(format!("sigmoid interval [{lo}, {hi}] is not a finite, increasing interval"));
        }
        Ok(())
    }
}

/// Engine settings shared by training and inference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpdzSpec {
    #[serde(default)]
    pub security: Security,
    /// The party that deals preprocessing (not one of the members).
    pub dealer: u16,
    #[serde(default = "d_frac")]
    pub frac_bits: u8,
}

/// `[train]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub model: ModelKind,
    pub features: Vec<String>,
    pub label: String,
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    /// Stops after this many SGD steps instead (may span many epochs).
    #[serde(default)]
    pub iterations: Option<usize>,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    #[serde(default = "d_lr")]
    pub learning_rate: f64,
    /// Weight decay (L2), keeps weights and hence polynomial inputs bounded.
    #[serde(default)]
    pub l2: f64,
    #[serde(default = "d_hidden")]
    pub hidden: usize,
    #[serde(default)]
    pub sigmoid: SigmoidSpec,
    /// Share of each member's rows held out for testing (locally, never trained on).
    #[serde(default = "d_test")]
    pub test_fraction: f64,
    /// Seeds the split, the initial weights and the public batch order.
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// Reveal the pooled training loss every this many epochs (MLP only).
    #[serde(default)]
    pub loss_every: Option<usize>,
    /// Members (party ids) who receive the model; all members when empty.
    #[serde(default)]
    pub reveal_to: Vec<u16>,
}

impl TrainSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.features.is_empty() {
            return Err("[train] features is empty".into());
        }
        if self.features.contains(&self.label) {
            return Err(format!("the label '{}' is also listed as a feature", self.label));
        }
        if self.batch_size == 0 || self.epochs == 0 || self.iterations == Some(0) {
            return Err("batch_size, epochs and iterations must be positive".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.l2.is_finite() && self.l2 >= 0.0) {
            return Err("learning_rate must be positive and l2 non-negative".into());
        }
        if !(0.0..0.9).contains(&self.test_fraction) {
            return Err(format!("test_fraction {} is not in [0, 0.9)", self.test_fraction));
        }
        if self.model == ModelKind::Mlp && self.hidden == 0 {
            return Err("an mlp needs hidden >= 1".into());
        }
        if self.loss_every == Some(0) {
            return Err("loss_every must be positive".into());
        }
        self.sigmoid.validate()
    }
}

/// `[infer]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferSpec {
    pub model: ModelKind,
    pub features: Vec<String>,
    #[serde(default = "d_hidden")]
    pub hidden: usize,
    #[serde(default)]
    pub sigmoid: SigmoidSpec,
    /// The member whose input file is the model JSON.
    pub model_owner: u16,
    /// The member whose input file holds the rows to score; it alone gets the predictions.
    pub input_owner: u16,
    /// A label column in the input owner's file: it then scores the predictions against
    /// it, locally (accuracy for logreg, mean squared error for the MLP).
    #[serde(default)]
    pub label: Option<String>,
}

impl InferSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.model_owner == self.input_owner {
            return Err("model_owner and input_owner must be different members".into());
        }
        if self.features.is_empty() {
            return Err("[infer] features is empty".into());
        }
        if let Some(l) = self.label.as_ref().filter(|l| self.features.contains(l)) {
            return Err(format!("[infer] label '{l}' is also one of the features"));
        }
        self.sigmoid.validate()
    }
}
