//! The training algorithms in plain `f64`, step for step what [`super::train`] does on
//! shares: same initial weights, same batches, same updates. With the exact sigmoid it
//! is the plaintext baseline a secure run is judged against; with the polynomial it
//! isolates the fixed-point error.

use super::data::{batches, uniform};
use super::model::Weights;
use super::spec::{ModelKind, TrainSpec};

/// Weights in the augmented layout the engine uses: biases as the last row.
#[derive(Clone, Debug, PartialEq)]
pub struct Augmented {
    /// Logistic regression: `(d+1) × 1`. MLP: `(d+1) × hidden`.
    pub w1: Vec<f64>,
    /// MLP only: `(hidden+1) × 1`.
    pub w2: Vec<f64>,
}

impl Augmented {
    /// Public initial weights (zeros for logistic regression; seeded Glorot-uniform for
    /// the MLP's weights, zero biases).
    pub fn initial(spec: &TrainSpec, d: usize) -> Augmented {
        match spec.model {
            ModelKind::Logreg => Augmented { w1: vec![0.0; d + 1], w2: Vec::new() },
            ModelKind::Mlp => {
                let h = spec.hidden;
                let mut w1 = uniform(d * h, (6.0 / (d + h) as f64).sqrt(), spec.seed, 1);
                w1.extend(std::iter::repeat_n(0.0, h));
                let mut w2 = uniform(h, (6.0 / (h + 1) as f64).sqrt(), spec.seed, 2);
                w2.push(0.0);
                Augmented { w1, w2 }
            }
        }
    }

    /// The model file's form.
    pub fn weights(&self, kind: ModelKind, d: usize, hidden: usize) -> Weights {
        match kind {
            ModelKind::Logreg => Weights::Logreg {
                w: self.w1.get(..d).unwrap_or(&[]).to_vec(),
                b: self.w1.get(d).copied().unwrap_or(0.0),
            },
            ModelKind::Mlp => Weights::Mlp {
                w1: self.w1.get(..d * hidden).unwrap_or(&[]).to_vec(),
                b1: self.w1.get(d * hidden..).unwrap_or(&[]).to_vec(),
                w2: self.w2.get(..hidden).unwrap_or(&[]).to_vec(),
                b2: self.w2.get(hidden).copied().unwrap_or(0.0),
            },
        }
    }
}

/// The number of SGD steps a spec runs over `n` rows, and the epochs they span.
pub fn schedule(spec: &TrainSpec, n: usize) -> (usize, usize) {
    let per_epoch = n.div_ceil(spec.batch_size.max(1)).max(1);
    match spec.iterations {
        Some(it) => (it, it.div_ceil(per_epoch)),
        None => (spec.epochs * per_epoch, spec.epochs),
    }
}

/// The result of a plaintext run.
#[derive(Clone, Debug, PartialEq)]
pub struct PlainRun {
    pub weights: Augmented,
    /// `(epoch, mean squared error on the training rows)` at the `loss_every` epochs.
    pub losses: Vec<(usize, f64)>,
    pub iterations: usize,
}

struct Net<'a> {
    x: &'a [f64],
    d: usize,
    h: usize,
}

impl Net<'_> {
    fn row(&self, i: usize) -> &[f64] {
        self.x.get(i * self.d..(i + 1) * self.d).unwrap_or(&[])
    }

    /// Hidden activations (with the constant 1 appended) and the output of one row.
    fn forward(&self, w: &Augmented, i: usize, sig: &dyn Fn(f64) -> f64) -> (Vec<f64>, f64) {
        let h = self.h;
        let x = self.row(i);
        let mut a: Vec<f64> = (0..h)
            .map(|j| {
                let z: f64 = x.iter().enumerate().map(|(k, v)| v * w.w1.get(k * h + j).copied().unwrap_or(0.0)).sum();
                sig(z + w.w1.get(self.d * h + j).copied().unwrap_or(0.0))
            })
            .collect();
        a.push(1.0);
        let out = a.iter().zip(&w.w2).map(|(p, q)| p * q).sum();
        (a, out)
    }

    fn mse(&self, w: &Augmented, y: &[f64], sig: &dyn Fn(f64) -> f64) -> f64 {
        y.iter().enumerate().map(|(i, t)| (self.forward(w, i, sig).1 - t).powi(2)).sum::<f64>() / y.len().max(1) as f64
    }
}

/// Trains on standardized pooled rows `x` (`d` per row) with labels `y`.
pub fn train(spec: &TrainSpec, x: &[f64], y: &[f64], d: usize, sig: &dyn Fn(f64) -> f64) -> PlainRun {
    let n = y.len();
    let (steps, epochs) = schedule(spec, n);
    let mut w = Augmented::initial(spec, d);
    let decay = 1.0 - spec.learning_rate * spec.l2;
    let net = Net { x, d, h: spec.hidden };
    let mut losses = Vec::new();
    let mut done = 0;
    'epochs: for epoch in 0..epochs {
        for batch in batches(n, spec.batch_size, spec.seed, epoch) {
            if done == steps {
                break 'epochs;
            }
            let c = spec.learning_rate / batch.len() as f64;
            match spec.model {
                ModelKind::Logreg => {
                    let mut g = vec![0.0; d + 1];
                    for &i in &batch {
                        let xi = net.row(i);
                        let z: f64 =
                            xi.iter().zip(&w.w1).map(|(a, b)| a * b).sum::<f64>() + w.w1.get(d).copied().unwrap_or(0.0);
                        let err = sig(z) - y.get(i).copied().unwrap_or(0.0);
                        for (gk, xk) in g.iter_mut().zip(xi.iter().chain(std::iter::once(&1.0))) {
                            *gk += err * xk;
                        }
                    }
                    for (wk, gk) in w.w1.iter_mut().zip(&g) {
                        *wk = *wk * decay - c * gk;
                    }
                }
                ModelKind::Mlp => {
                    let h = spec.hidden;
                    let mut g1 = vec![0.0; (d + 1) * h];
                    let mut g2 = vec![0.0; h + 1];
                    for &i in &batch {
                        let (a, out) = net.forward(&w, i, sig);
                        let err = out - y.get(i).copied().unwrap_or(0.0);
                        for (gk, ak) in g2.iter_mut().zip(&a) {
                            *gk += err * ak;
                        }
                        let xi = net.row(i);
                        for j in 0..h {
                            let aj = a.get(j).copied().unwrap_or(0.0);
                            let dz = err * w.w2.get(j).copied().unwrap_or(0.0) * aj * (1.0 - aj);
                            for (k, xk) in xi.iter().chain(std::iter::once(&1.0)).enumerate() {
                                if let Some(gk) = g1.get_mut(k * h + j) {
                                    *gk += dz * xk;
                                }
                            }
                        }
                    }
                    for (wk, gk) in w.w1.iter_mut().zip(&g1) {
                        *wk = *wk * decay - c * gk;
                    }
                    for (wk, gk) in w.w2.iter_mut().zip(&g2) {
                        *wk = *wk * decay - c * gk;
                    }
                }
            }
            done += 1;
        }
        if let (Some(every), ModelKind::Mlp) = (spec.loss_every, spec.model)
            && (epoch + 1) % every == 0
        {
            losses.push((epoch + 1, net.mse(&w, y, sig)));
        }
    }
    PlainRun { weights: w, losses, iterations: done }
}
