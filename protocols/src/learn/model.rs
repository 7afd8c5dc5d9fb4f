//! A trained model as revealed to its owners, written as JSON, and plaintext prediction.

use serde::{Deserialize, Serialize};

use super::spec::{ModelKind, SigmoidSpec};
use crate::spdz::poly::Function;

/// Weights on standardized features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Weights {
    Logreg {
        w: Vec<f64>,
        b: f64,
    },
    /// `w1` is `d × hidden`, row-major.
    Mlp {
        w1: Vec<f64>,
        b1: Vec<f64>,
        w2: Vec<f64>,
        b2: f64,
    },
}

/// A model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainedModel {
    pub model: ModelKind,
    pub features: Vec<String>,
    pub label: String,
    /// Standardization of the features (pooled training means and standard deviations).
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
    /// The label's scaling for regression (`y = out·label_std + label_mean`); 0 and 1
    /// for classification.
    pub label_mean: f64,
    pub label_std: f64,
    pub sigmoid: SigmoidSpec,
    pub weights: Weights,
}

impl TrainedModel {
    /// Checks the shapes against the architecture a job declares.
    pub fn check(&self, kind: ModelKind, features: &[String], hidden: usize) -> Result<(), String> {
        if self.model != kind {
            return Err(format!("the model is {:?}, the job expects {:?}", self.model, kind));
        }
        if self.features != features {
            return Err(format!("the model's features {:?} differ from the job's {:?}", self.features, features));
        }
        let d = features.len();
        let ok = self.means.len() == d
            && self.stds.len() == d
            && self.stds.iter().all(|s| s.is_finite() && *s > 0.0)
            && match &self.weights {
                Weights::Logreg { w, .. } => kind == ModelKind::Logreg && w.len() == d,
                Weights::Mlp { w1, b1, w2, .. } => {
                    kind == ModelKind::Mlp && w1.len() == d * hidden && b1.len() == hidden && w2.len() == hidden
                }
            };
        if !ok {
            return Err(format!("weights or standardization do not match {d} features and {hidden} hidden units"));
        }
        Ok(())
    }

    /// The prediction for one raw (unstandardized) row: a probability for logistic
    /// regression, a label value for the MLP. `exact` uses the true sigmoid rather than
    /// the polynomial the secure evaluation uses.
    pub fn predict(&self, row: &[f64], exact: bool) -> f64 {
        let poly = self.sigmoid.poly();
        let sig = |z: f64| if exact { Function::Sigmoid.eval(z) } else { poly.eval(z) };
        let x: Vec<f64> = row.iter().zip(self.means.iter().zip(&self.stds)).map(|(v, (m, s))| (v - m) / s).collect();
        match &self.weights {
            Weights::Logreg { w, b } => sig(x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + b),
            Weights::Mlp { w1, b1, w2, b2 } => {
                let h = b1.len();
                let out: f64 = (0..h)
                    .map(|j| {
                        let z: f64 =
                            x.iter().enumerate().map(|(i, v)| v * w1.get(i * h + j).copied().unwrap_or(0.0)).sum();
                        sig(z + b1.get(j).copied().unwrap_or(0.0)) * w2.get(j).copied().unwrap_or(0.0)
                    })
                    .sum::<f64>()
                    + b2;
                out * self.label_std + self.label_mean
            }
        }
    }
}

/// Accuracy of a logistic model on rows with 0/1 labels (threshold 0.5).
pub fn accuracy(model: &TrainedModel, x: &[f64], y: &[f64], exact: bool) -> f64 {
    let d = model.features.len().max(1);
    let right = x.chunks(d).zip(y).filter(|(r, l)| (model.predict(r, exact) >= 0.5) == (**l >= 0.5)).count();
    right as f64 / y.len().max(1) as f64
}

/// Mean squared error of a regression model on raw rows.
pub fn mse(model: &TrainedModel, x: &[f64], y: &[f64], exact: bool) -> f64 {
    let d = model.features.len().max(1);
    x.chunks(d).zip(y).map(|(r, l)| (model.predict(r, exact) - l).powi(2)).sum::<f64>() / y.len().max(1) as f64
}
