//! The `[split]` table of a job spec: the split model, the encryption at the cut, the
//! training schedule and who the server is.

use serde::{Deserialize, Serialize};

use crate::fedavg::spec::expand_features;

/// How the activations and gradients at the cut travel to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// CKKS (N = 8192, 128-bit): a chunk of rows per ciphertext, feature-major.
    Ckks,
    /// Paillier (fresh client key): one ciphertext per feature, packing the rows.
    Paillier,
    /// No encryption: the server sees activations and gradients (the baseline that
    /// encryption is measured against; never for real data).
    Plain,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ckks => "ckks",
            Scheme::Paillier => "paillier",
            Scheme::Plain => "plain",
        }
    }
}

/// The client's first layers (the server always holds one dense layer to the classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitModel {
    /// Split Ways' client: Conv1d 1→16 k7, LeakyReLU, MaxPool 2, Conv1d 16→8 k5,
    /// LeakyReLU, MaxPool 2 ("same" padding, so a 128-sample beat gives 256 features).
    Cnn1d,
    /// For 8×8 images: Conv2d 1→8 k3 (padding 1), LeakyReLU, MaxPool 2 → 128 features.
    Cnn2d,
    /// No client layers: the cut activations are the input features themselves,
    /// standardized with the pooled means and standard deviations of every client's
    /// training rows (see [`super::prepare`]). With the server's dense layer and the
    /// client's softmax cross-entropy this is multinomial logistic regression (binary
    /// logistic regression for 2 classes).
    Linear,
}

/// Which of a client's rows are held out for testing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Holdout {
    /// A seeded random `test_fraction` of the rows.
    #[default]
    Random,
    /// The last `test_fraction` of the rows in file order (a published train/test split
    /// stored in one file).
    Tail,
}

fn d_epochs() -> usize {
    5
}
fn d_batch() -> usize {
    16
}
fn d_lr() -> f64 {
    0.05
}
fn d_test() -> f64 {
    0.2
}
fn d_seed() -> u64 {
    1
}
fn d_bits() -> u32 {
    2048
}
fn d_frac() -> u32 {
    16
}
fn d_scale() -> f64 {
    1.0
}
fn d_wait() -> u64 {
    3600
}

/// `[split]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    pub scheme: Scheme,
    pub model: SplitModel,
    /// Input columns in order (`"x000..x127"` ranges allowed): the signal, the 64
    /// pixels row-major, or the linear model's features.
    pub features: Vec<String>,
    pub label: String,
    pub classes: usize,
    /// The party holding the server layer; every other party is a client.
    pub server: u16,
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    #[serde(default = "d_lr")]
    pub learning_rate: f64,
    /// Share of each client's rows held out for testing (0 with a separate test file).
    #[serde(default = "d_test")]
    pub test_fraction: f64,
    #[serde(default)]
    pub holdout: Holdout,
    /// Seeds the split, the initial weights and the batch order.
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// Inputs are multiplied by this before the client layers (16 → 1/16 for digits).
    #[serde(default = "d_scale")]
    pub input_scale: f64,
    /// Paillier modulus size of each client's fresh key.
    #[serde(default = "d_bits")]
    pub key_bits: u32,
    /// Paillier fixed-point fraction bits of activations and weights (gradients get 8 more).
    #[serde(default = "d_frac")]
    pub frac_bits: u32,
    /// How long a party waits for a peer that is connected but busy (a client waiting
    /// for its turn while the others train, or for the server's answer behind other
    /// clients' requests). A lost connection still fails at once.
    #[serde(default = "d_wait")]
    pub wait_secs: u64,
}

/// Largest |activation| the Paillier packing accepts (slots of 60 bits).
pub const PAILLIER_MAX_ACTIVATION: f64 = 1024.0;

impl SplitSpec {
    /// Checks ranges and expands feature ranges in place.
    pub fn validate(&mut self) -> Result<(), String> {
        self.features = expand_features(&self.features)?;
        if self.features.contains(&self.label) {
            return Err(format!("the label '{}' is also listed as a feature", self.label));
        }
        match self.model {
            SplitModel::Cnn1d if self.features.len() < 16 || !self.features.len().is_multiple_of(4) => {
                return Err(format!(
                    "cnn1d needs a signal whose length is a multiple of 4 and at least 16, got {}",
                    self.features.len()
                ));
            }
            SplitModel::Cnn2d if self.features.len() != 64 => {
                return Err(format!("cnn2d takes 8×8 images (64 features), got {}", self.features.len()));
            }
            // The cut is the features: at most one CKKS ciphertext's slots wide.
            SplitModel::Linear if self.features.is_empty() || self.features.len() > 4096 => {
                return Err(format!("the linear model takes 1..=4096 features, got {}", self.features.len()));
            }
            _ => {}
        }
        if !(2..=64).contains(&self.classes) {
            return Err(format!("classes {} is not in 2..=64", self.classes));
        }
        if self.epochs == 0 || self.batch_size == 0 || self.batch_size > 4096 {
            return Err("epochs must be positive and batch_size in 1..=4096".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err("learning_rate must be positive".into());
        }
        if !(0.0..0.9).contains(&self.test_fraction) {
            return Err(format!("test_fraction {} is not in [0, 0.9)", self.test_fraction));
        }
        if !(self.input_scale.is_finite() && self.input_scale > 0.0) {
            return Err("input_scale must be positive".into());
        }
        if !(8..=20).contains(&self.frac_bits) {
            return Err(format!("frac_bits {} is not in 8..=20", self.frac_bits));
        }
        if self.key_bits < 2048 || !self.key_bits.is_multiple_of(8) {
            return Err(format!("key_bits {} must be a multiple of 8 and at least 2048", self.key_bits));
        }
        if self.wait_secs == 0 {
            return Err("wait_secs must be positive".into());
        }
        if self.cut() > 4096 || self.classes.next_power_of_two() > self.cut().next_power_of_two() {
            return Err(format!("a cut of {} features cannot serve {} classes", self.cut(), self.classes));
        }
        Ok(())
    }

    /// Features at the cut (the server layer's inputs).
    pub fn cut(&self) -> usize {
        match self.model {
            SplitModel::Cnn1d => 8 * (self.features.len() / 4),
            SplitModel::Cnn2d => 8 * 4 * 4,
            SplitModel::Linear => self.features.len(),
        }
    }
}
