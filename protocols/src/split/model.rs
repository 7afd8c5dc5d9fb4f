//! The client's layers on candle, the server layer's two shares, and the loss at the
//! client's end of the U.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;

use super::spec::{SplitModel, SplitSpec};
use crate::fedavg::model::conv_block;
use crate::learn::data::uniform;

fn dev() -> Device {
    Device::Cpu
}

/// Shapes of the client's parameters, in a fixed order.
pub fn client_shapes(model: SplitModel) -> Vec<Vec<usize>> {
    match model {
        SplitModel::Cnn1d => vec![vec![16, 1, 7], vec![16], vec![8, 16, 5], vec![8]],
        SplitModel::Cnn2d => vec![vec![8, 1, 3, 3], vec![8]],
        SplitModel::Linear => Vec::new(),
    }
}

/// Seeded initial weights of client `client`'s layers: uniform in ±1/√fan_in (PyTorch's
/// default), each client its own.
pub fn client_init(model: SplitModel, seed: u64, client: usize) -> Vec<Vec<f64>> {
    let shapes = client_shapes(model);
    let mut out = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        let w = shapes.get(i - i % 2).map_or(&[][..], Vec::as_slice);
        let fan_in: usize = w.iter().skip(1).product::<usize>().max(1);
        let n: usize = s.iter().product();
        out.push(uniform(n, 1.0 / (fan_in as f64).sqrt(), seed, 0x5c00 + ((client as u64) << 8) + i as u64));
    }
    out
}

/// The server layer (cut × classes, row-major, then the biases) as the server initializes
/// it: uniform in ±1/√cut. This is the server's share; the clients' share starts at zero.
pub fn server_init(spec: &SplitSpec) -> (Vec<f64>, Vec<f64>) {
    let a = 1.0 / (spec.cut() as f64).sqrt();
    (uniform(spec.cut() * spec.classes, a, spec.seed, 0x5e41), uniform(spec.classes, a, spec.seed, 0x5e42))
}

/// A client's own layers, with their optimizer (plain SGD).
pub struct ClientNet {
    model: SplitModel,
    inputs: usize,
    vars: Vec<Var>,
    sgd: candle_nn::SGD,
}

impl ClientNet {
    pub fn new(spec: &SplitSpec, weights: &[Vec<f64>]) -> candle_core::Result<Self> {
        let shapes = client_shapes(spec.model);
        if weights.len() != shapes.len() {
            candle_core::bail!("{} parameter tensors given, the client layers have {}", weights.len(), shapes.len());
        }
        let vars = shapes
            .into_iter()
            .zip(weights)
            .map(|(s, w)| Var::from_vec(w.clone(), s, &dev()))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let sgd = candle_nn::SGD::new(vars.clone(), spec.learning_rate)?;
        Ok(Self { model: spec.model, inputs: spec.features.len(), vars, sgd })
    }

    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The parameters, per tensor.
    pub fn weights(&self) -> candle_core::Result<Vec<Vec<f64>>> {
        self.vars.iter().map(|v| v.as_tensor().flatten_all()?.to_vec1::<f64>()).collect()
    }

    fn var(&self, i: usize) -> candle_core::Result<&Tensor> {
        self.vars.get(i).map(Var::as_tensor).ok_or_else(|| candle_core::Error::Msg(format!("no parameter {i}")))
    }

    /// Activations at the cut, `(n, cut)`, still attached to the graph.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        match self.model {
            SplitModel::Cnn1d => {
                let h = x.reshape((n, 1, self.inputs))?;
                let h = conv_block(&h, self.var(0)?, self.var(1)?, 3)?;
                let h = conv_block(&h, self.var(2)?, self.var(3)?, 2)?;
                h.flatten_from(1)
            }
            SplitModel::Cnn2d => {
                let h = x.reshape((n, 1, 8, 8))?.conv2d(self.var(0)?, 1, 1, 1, 1)?;
                let h = h.broadcast_add(&self.var(1)?.reshape((1, 8, 1, 1))?)?;
                candle_nn::ops::leaky_relu(&h, 0.01)?.max_pool2d(2)?.flatten_from(1)
            }
            // The cut is the (prepared) input itself.
            SplitModel::Linear => {
                let d = x.dim(1)?;
                if d != self.inputs {
                    candle_core::bail!("rows of {d} features given, the linear model takes {}", self.inputs);
                }
                Ok(x.clone())
            }
        }
    }

    /// One SGD step given the gradient of the loss at the cut (`da`, `(n, cut)`): the
    /// upstream gradient is pushed through the client layers as ∂⟨a, da⟩/∂θ.
    /// Without layers (the linear model) there is nothing to update, and no graph to
    /// walk: a no-op.
    pub fn backward_step(&mut self, a: &Tensor, da: &Tensor) -> candle_core::Result<()> {
        if self.vars.is_empty() {
            return Ok(());
        }
        let surrogate = (a * da.detach())?.sum_all()?;
        self.sgd.backward_step(&surrogate)
    }
}

/// Rows as an `(n, d)` tensor.
pub use crate::fedavg::model::tensor;

/// Mean softmax cross-entropy of logits `z` (`n × c`) and its gradient ∂L/∂z.
pub fn loss_and_grad(z: &[f64], y: &[f64], n: usize, c: usize) -> candle_core::Result<(f64, Vec<f64>)> {
    let z = Var::from_vec(z.to_vec(), (n, c), &dev())?;
    let labels = Tensor::from_slice(y, n, &dev())?.to_dtype(DType::U32)?;
    let loss = candle_nn::loss::cross_entropy(z.as_tensor(), &labels)?;
    let grads = loss.backward()?;
    let g = grads.get(z.as_tensor()).ok_or_else(|| candle_core::Error::Msg("no gradient at the logits".into()))?;
    Ok((loss.to_scalar::<f64>()?, g.flatten_all()?.to_vec1::<f64>()?))
}

/// Predicted class per row of logits.
pub fn argmax(z: &[f64], c: usize) -> Vec<usize> {
    z.chunks(c.max(1))
        .map(|r| r.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0)
        .collect()
}

/// A dense share: `w` is cut × classes row-major.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerShare {
    pub w: Vec<f64>,
    pub b: Vec<f64>,
}

impl LayerShare {
    pub fn zeros(d: usize, c: usize) -> Self {
        Self { w: vec![0.0; d * c], b: vec![0.0; c] }
    }

    /// a·w + b for `n` rows of `a` (n × d).
    pub fn apply(&self, a: &[f64], n: usize, d: usize) -> Vec<f64> {
        let c = self.b.len();
        let mut out = Vec::with_capacity(n * c);
        for i in 0..n {
            let row = a.get(i * d..(i + 1) * d).unwrap_or(&[]);
            for k in 0..c {
                let dot: f64 =
                    row.iter().enumerate().map(|(j, x)| x * self.w.get(j * c + k).copied().unwrap_or(0.0)).sum();
                out.push(dot + self.b.get(k).copied().unwrap_or(0.0));
            }
        }
        out
    }

    /// g·wᵀ for `n` rows of `g` (n × c): the share of ∂L/∂a.
    pub fn back(&self, g: &[f64], n: usize, d: usize) -> Vec<f64> {
        let c = self.b.len();
        let mut out = Vec::with_capacity(n * d);
        for i in 0..n {
            let row = g.get(i * c..(i + 1) * c).unwrap_or(&[]);
            for j in 0..d {
                out.push(
                    row.iter().enumerate().map(|(k, gk)| gk * self.w.get(j * c + k).copied().unwrap_or(0.0)).sum(),
                );
            }
        }
        out
    }

    /// SGD on this share with the whole layer's gradient: w −= lr·aᵀg, b −= lr·Σg.
    pub fn sgd(&mut self, a: &[f64], g: &[f64], n: usize, d: usize, lr: f64) {
        let c = self.b.len();
        for i in 0..n {
            let (ar, gr) = (a.get(i * d..(i + 1) * d).unwrap_or(&[]), g.get(i * c..(i + 1) * c).unwrap_or(&[]));
            for (j, x) in ar.iter().enumerate() {
                for (k, gk) in gr.iter().enumerate() {
                    if let Some(w) = self.w.get_mut(j * c + k) {
                        *w -= lr * x * gk;
                    }
                }
            }
            for (b, gk) in self.b.iter_mut().zip(gr) {
                *b -= lr * gk;
            }
        }
    }
}
