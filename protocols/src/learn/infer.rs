//! Inference (`task = "infer"`): the model owner inputs its model, the input owner its
//! rows; the predictions are revealed to the input owner only.
//!
//! The model owner inputs, in order: the feature means, the reciprocals of the standard
//! deviations, the weights in the augmented layout, and for the MLP the label's mean and
//! standard deviation. Standardization happens on shares, so the input owner never sees
//! the model's statistics either.
//!
//! Logistic regression reveals the score z = w·x + b and the input owner applies the
//! exact sigmoid: the probabilities are in [0, 1] and exact up to fixed-point rounding,
//! whatever the score (the `sigmoid` polynomial is used by the MLP's hidden layer only).

use consort_net::{PartyId, StepId, Transport};

use super::model::{TrainedModel, Weights};
use super::spec::{InferSpec, ModelKind};
use super::train::Ctx;
use crate::spdz::poly::Function;
use crate::spdz::prep::Preprocessing;
use crate::spdz::{Engine, MAX_INPUT_VALUES, MpcError, MulQueue, Shared};

/// The model's parameters in input order (model owner only).
fn flatten(m: &TrainedModel) -> Vec<f64> {
    let mut v = m.means.clone();
    v.extend(m.stds.iter().map(|s| 1.0 / s));
    match &m.weights {
        Weights::Logreg { w, b } => {
            v.extend(w);
            v.push(*b);
        }
        Weights::Mlp { w1, b1, w2, b2 } => {
            v.extend(w1);
            v.extend(b1);
            v.extend(w2);
            v.push(*b2);
            v.push(m.label_mean);
            v.push(m.label_std);
        }
    }
    v
}

fn param_len(spec: &InferSpec) -> usize {
    let d = spec.features.len();
    match spec.model {
        ModelKind::Logreg => 2 * d + d + 1,
        ModelKind::Mlp => 2 * d + (d + 1) * spec.hidden + spec.hidden + 1 + 2,
    }
}

fn take(v: &Shared, from: usize, len: usize, rows: usize, step: &StepId) -> Result<Shared, MpcError> {
    let idx: Vec<usize> = (from..from + len).collect();
    v.select_rows(&idx)?.reshape(rows, len / rows.max(1)).map_err(|_| MpcError::usage(step, "bad model layout"))
}

impl<T: Transport, P: Preprocessing> Engine<'_, T, P> {
    /// Runs inference. `model` is given on the model owner, `rows` (raw features,
    /// row-major) on the input owner. Returns the predictions on the input owner.
    pub async fn infer(
        &mut self,
        step: &StepId,
        spec: &InferSpec,
        model: Option<&TrainedModel>,
        rows: Option<&[f64]>,
    ) -> Result<Option<Vec<f64>>, MpcError> {
        let (mo, io) = (PartyId(spec.model_owner), PartyId(spec.input_owner));
        let d = spec.features.len();
        let f = u32::from(self.frac_bits().get());
        let mine = rows.map_or(0, |r| r.len() / d.max(1));
        let cap = (MAX_INPUT_VALUES / d.max(1)) as u64;
        let counts = self.exchange_public(&step.child("rows"), mine as u64, cap).await?;
        let n = counts.get(self.owner_index(step, io)?).copied().unwrap_or(0) as usize;
        if n == 0 {
            return Err(MpcError::usage(step, format!("{io} has no rows to score")));
        }
        let plen = param_len(spec);
        let params = model.map(flatten).map(|p| self.encode(&p)).transpose()?;
        if params.as_ref().is_some_and(|p| p.len() != plen) {
            return Err(MpcError::usage(step, "the model does not match the job's architecture"));
        }
        let params = self.input(&step.child("model"), mo, params.as_deref(), plen, 1).await?;
        let xs = rows.map(|r| self.encode(r)).transpose()?;
        let x = self.input(&step.child("rows-in"), io, xs.as_deref(), n, d).await?;
        let means = take(&params, 0, d, 1, step)?.repeat_rows(n)?;
        let inv = take(&params, d, d, 1, step)?.repeat_rows(n)?;
        let mut q = MulQueue::new();
        q.mul(&x.sub(&means)?, &inv)?;
        let xs = self
            .mul_fixed(&step.child("standardize"), q)
            .await?
            .pop()
            .ok_or_else(|| MpcError::usage(step, "no rows"))?;
        let one = self.encode(&[1.0])?.first().copied().unwrap_or(0);
        let xe = xs.hstack(&self.public(&vec![one; n], n, 1)?)?;
        let out = match spec.model {
            ModelKind::Logreg => {
                let w = take(&params, 2 * d, d + 1, d + 1, step)?;
                let mut q = MulQueue::new();
                q.matmul(&xe, &w)?;
                // The input owner gets the score z and applies the exact sigmoid itself:
                // σ is a bijection, so z tells it no more than σ(z) would, and a
                // polynomial σ would overshoot [0, 1] and go wrong outside its interval.
                self.mul_fixed(&step.child("z"), q).await?.pop()
            }
            ModelKind::Mlp => {
                let h = spec.hidden;
                let w1 = take(&params, 2 * d, (d + 1) * h, d + 1, step)?;
                let w2 = take(&params, 2 * d + (d + 1) * h, h + 1, h + 1, step)?;
                let ls = 2 * d + (d + 1) * h + h + 1;
                let ym = take(&params, ls, 1, 1, step)?.repeat_rows(n)?;
                let ysd = take(&params, ls + 1, 1, 1, step)?.repeat_rows(n)?;
                let ctx = Ctx { f, h };
                let sig = spec.sigmoid.poly();
                let (_, _, out) = self.mlp_forward(&step.child("forward"), &ctx, &xe, &w1, &w2, &sig).await?;
                let mut q = MulQueue::new();
                q.mul(&out, &ysd)?;
                let y = self
                    .mul_fixed(&step.child("unscale"), q)
                    .await?
                    .pop()
                    .ok_or_else(|| MpcError::usage(step, "no output"))?;
                Some(y.add(&ym)?)
            }
        }
        .ok_or_else(|| MpcError::usage(step, "no output"))?;
        let revealed = self.reveal_to(&step.child("predictions"), &out, io).await?;
        Ok(revealed.map(|v| {
            let y = self.decode(&v);
            match spec.model {
                ModelKind::Logreg => y.into_iter().map(|z| Function::Sigmoid.eval(z)).collect(),
                ModelKind::Mlp => y,
            }
        }))
    }
}
