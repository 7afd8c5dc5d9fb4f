//! The models, on candle: parameters in a fixed order (so every member flattens them the
//! same way), seeded initialization, forward pass and loss.

use candle_core::{D, DType, Device, Tensor, Var};

use super::spec::FedModel;
use crate::learn::data::uniform;

/// Layer sizes of the 1D CNN (the Split Ways client layers, then a linear head).
const C1: usize = 16;
const K1: usize = 7;
const C2: usize = 8;
const K2: usize = 5;

/// A model's architecture: what is needed to rebuild it from a flat weight vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arch {
    pub model: FedModel,
    /// Features per row (the signal length for the CNN).
    pub inputs: usize,
    pub classes: usize,
}

fn pooled(len: usize) -> usize {
    len / 2
}

impl Arch {
    /// Length of the CNN's flattened features before the linear head.
    fn cnn_flat(&self) -> usize {
        let l1 = pooled(self.inputs.saturating_sub(K1 - 1));
        let l2 = pooled(l1.saturating_sub(K2 - 1));
        C2 * l2
    }

    /// Parameter tensors' shapes, in the fixed order used for flattening.
    pub fn shapes(&self) -> Vec<Vec<usize>> {
        match self.model {
            FedModel::Logreg => vec![vec![1, self.inputs], vec![1]],
            FedModel::Cnn1d => vec![
                vec![C1, 1, K1],
                vec![C1],
                vec![C2, C1, K2],
                vec![C2],
                vec![self.classes, self.cnn_flat()],
                vec![self.classes],
            ],
        }
    }

    /// Total number of parameters.
    pub fn len(&self) -> usize {
        self.shapes().iter().map(|s| s.iter().product::<usize>()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Seeded initial weights: zero for logistic regression, uniform in ±1/√fan_in
    /// (PyTorch's default) for the CNN.
    pub fn init(&self, seed: u64) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        let shapes = self.shapes();
        for (i, s) in shapes.iter().enumerate() {
            let n: usize = s.iter().product();
            match self.model {
                FedModel::Logreg => out.extend(std::iter::repeat_n(0.0, n)),
                FedModel::Cnn1d => {
                    // Weight tensors and their biases share the fan-in of the weight.
                    let w = shapes.get(i - i % 2).map_or(&[][..], Vec::as_slice);
                    let fan_in: usize = w.iter().skip(1).product::<usize>().max(1);
                    out.extend(uniform(n, 1.0 / (fan_in as f64).sqrt(), seed, 0xf00 + i as u64));
                }
            }
        }
        out
    }
}

/// Live parameters of one model on the CPU.
pub struct Net {
    pub arch: Arch,
    pub vars: Vec<Var>,
}

fn dev() -> Device {
    Device::Cpu
}

impl Net {
    /// Builds the network with `weights` (flat, in [`Arch::shapes`] order).
    pub fn new(arch: Arch, weights: &[f64]) -> candle_core::Result<Net> {
        if weights.len() != arch.len() {
            candle_core::bail!("{} weights given, the model has {}", weights.len(), arch.len());
        }
        let mut vars = Vec::new();
        let mut at = 0;
        for s in arch.shapes() {
            let n: usize = s.iter().product();
            let chunk = weights.get(at..at + n).unwrap_or(&[]).to_vec();
            vars.push(Var::from_vec(chunk, s, &dev())?);
            at += n;
        }
        Ok(Net { arch, vars })
    }

    /// The weights, flattened in order.
    pub fn weights(&self) -> candle_core::Result<Vec<f64>> {
        let mut out = Vec::with_capacity(self.arch.len());
        for v in &self.vars {
            out.extend(v.as_tensor().flatten_all()?.to_vec1::<f64>()?);
        }
        Ok(out)
    }

    fn var(&self, i: usize) -> candle_core::Result<&Tensor> {
        self.vars.get(i).map(Var::as_tensor).ok_or_else(|| candle_core::Error::Msg(format!("no parameter {i}")))
    }

    /// Logits: `(batch, 1)` for logistic regression, `(batch, classes)` for the CNN.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self.arch.model {
            FedModel::Logreg => x.matmul(&self.var(0)?.t()?)?.broadcast_add(self.var(1)?),
            FedModel::Cnn1d => {
                let b = x.dim(0)?;
                let h = x.reshape((b, 1, self.arch.inputs))?;
                let h = conv_block(&h, self.var(0)?, self.var(1)?, 0)?;
                let h = conv_block(&h, self.var(2)?, self.var(3)?, 0)?;
                let h = h.flatten_from(1)?;
                h.matmul(&self.var(4)?.t()?)?.broadcast_add(self.var(5)?)
            }
        }
    }

    /// Mean loss of a batch: binary cross-entropy on logits (stable form), or softmax
    /// cross-entropy.
    pub fn loss(&self, x: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
        let z = self.forward(x)?;
        match self.arch.model {
            FedModel::Logreg => {
                let y = y.reshape(z.shape())?;
                // softplus(z) − y·z, with softplus(z) = max(z, 0) + log(1 + e^−|z|)
                let softplus = (z.relu()? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
                (softplus - (y * &z)?)?.mean_all()
            }
            FedModel::Cnn1d => candle_nn::loss::cross_entropy(&z, &y.to_dtype(DType::U32)?),
        }
    }

    /// Predicted class per row.
    pub fn predict(&self, x: &Tensor) -> candle_core::Result<Vec<u32>> {
        let z = self.forward(x)?;
        match self.arch.model {
            FedModel::Logreg => Ok(z.flatten_all()?.to_vec1::<f64>()?.iter().map(|v| u32::from(*v > 0.0)).collect()),
            FedModel::Cnn1d => z.argmax(D::Minus1)?.to_vec1::<u32>(),
        }
    }
}

/// Conv1d (`pad` zeros each side; 0 = valid), bias, LeakyReLU, max-pool by 2 (a trailing
/// odd sample is dropped). Shared with split learning's client layers.
pub(crate) fn conv_block(x: &Tensor, w: &Tensor, b: &Tensor, pad: usize) -> candle_core::Result<Tensor> {
    let c = x.conv1d(w, pad, 1, 1, 1)?;
    let (bs, ch, l) = c.dims3()?;
    let c = c.broadcast_add(&b.reshape((1, ch, 1))?)?;
    let c = candle_nn::ops::leaky_relu(&c, 0.01)?;
    let half = l / 2;
    c.narrow(2, 0, half * 2)?.reshape((bs, ch, half, 2))?.max(D::Minus1)
}

/// Rows as a `(n, d)` tensor.
pub fn tensor(x: &[f64], n: usize, d: usize) -> candle_core::Result<Tensor> {
    Tensor::from_slice(x, (n, d), &dev())
}

/// Labels as an `(n,)` tensor (f64; the CNN's loss converts them to class indices).
pub fn labels(y: &[f64]) -> candle_core::Result<Tensor> {
    Tensor::from_slice(y, y.len(), &dev())
}

/// A trained federated model as written to the result file: enough to score new rows.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedModel {
    pub model: FedModel,
    pub features: Vec<String>,
    pub label: String,
    pub classes: usize,
    /// Pooled standardization (logistic regression; empty for the CNN).
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
    pub weights: Vec<f64>,
}

impl SavedModel {
    pub fn arch(&self) -> Arch {
        Arch { model: self.model, inputs: self.features.len(), classes: self.classes }
    }

    /// Accuracy on raw rows (prepared the way training prepared them).
    pub fn accuracy(&self, rows: &crate::learn::data::Rows) -> Result<Option<f64>, super::FedError> {
        let pooled = (!self.means.is_empty()).then_some((self.means.as_slice(), self.stds.as_slice()));
        let prepared = super::local::prepare(self.model, rows, pooled);
        super::local::accuracy(self.arch(), &self.weights, &prepared)
    }
}
