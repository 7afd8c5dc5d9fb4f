//! Mini-batch SGD on shares. Every member inputs its standardized training rows once
//! (the horizontal split); batches are public index sets into the pooled rows; weights
//! stay shared until the end, when they are revealed to the members the job names.
//!
//! Rounds per step (sigmoid of degree `p`): logistic regression `2p + 2`; the MLP
//! `2p + 8`. Gradient scaling by `learning_rate / batch` is folded into the truncation.

use consort_net::{PartyId, StepId, Transport};

use super::data::batches;
use super::plain::{Augmented, schedule};
use super::spec::{ModelKind, TrainSpec};
use crate::spdz::prep::Preprocessing;
use crate::spdz::{Engine, MAX_INPUT_VALUES, MpcError, MulQueue, Shared};

/// What a member gets from secure training.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOutput {
    /// The model, on the members it was revealed to.
    pub weights: Option<Augmented>,
    /// `(epoch, pooled training MSE)` when `loss_every` is set (revealed to everyone).
    pub losses: Vec<(usize, f64)>,
    pub iterations: usize,
    /// Rows per member (public).
    pub counts: Vec<usize>,
}

pub(crate) struct Ctx {
    pub(crate) f: u32,
    pub(crate) h: usize,
}

impl<T: Transport, P: Preprocessing> Engine<'_, T, P> {
    fn enc1(&self, step: &StepId, x: f64) -> Result<u64, MpcError> {
        self.encode(&[x])?.first().copied().ok_or_else(|| MpcError::usage(step, "encoding failed"))
    }

    /// `w·(1 − lr·l2) − c·g` where `g` has `2f` fractional bits: one truncation round.
    async fn sgd_update(
        &mut self,
        step: &StepId,
        ws: Vec<(Shared, Shared)>,
        c: f64,
        decay: f64,
    ) -> Result<Vec<Shared>, MpcError> {
        let f = u32::from(self.frac_bits().get());
        let c_raw = self.enc1(step, c)? as i64;
        let d_raw = self.enc1(step, decay)? as i64;
        let decaying = decay != 1.0;
        let mut items = Vec::new();
        for (w, g) in &ws {
            items.push((g.scale(c_raw), 2 * f));
            if decaying {
                items.push((w.scale(d_raw), f));
            }
        }
        let mut out = self.truncate(step, items).await?.into_iter();
        let mut next = Vec::with_capacity(ws.len());
        for (w, _) in &ws {
            let g = out.next().ok_or_else(|| MpcError::usage(step, "missing gradient"))?;
            let base =
                if decaying { out.next().ok_or_else(|| MpcError::usage(step, "missing weight"))? } else { w.clone() };
            next.push(base.sub(&g)?);
        }
        Ok(next)
    }

    fn ones(&self, step: &StepId, rows: usize) -> Result<Shared, MpcError> {
        let one = self.enc1(step, 1.0)?;
        self.public(&vec![one; rows], rows, 1)
    }

    /// The MLP forward pass: hidden activations (with a ones column) and the output.
    pub(crate) async fn mlp_forward(
        &mut self,
        step: &StepId,
        ctx: &Ctx,
        x: &Shared,
        w1: &Shared,
        w2: &Shared,
        sig: &crate::spdz::poly::Poly,
    ) -> Result<(Shared, Shared, Shared), MpcError> {
        let mut q = MulQueue::new();
        q.matmul(x, w1)?;
        let z1 = self.exchange(&step.child("z1"), q).await?;
        let a1 = self
            .poly(&step.child("sigmoid"), z1, 2 * ctx.f, sig)
            .await?
            .pop()
            .ok_or_else(|| MpcError::usage(step, "no activation"))?;
        let a1e = a1.hstack(&self.ones(step, x.rows())?)?;
        let mut q = MulQueue::new();
        q.matmul(&a1e, w2)?;
        let out =
            self.mul_fixed(&step.child("out"), q).await?.pop().ok_or_else(|| MpcError::usage(step, "no output"))?;
        Ok((a1, a1e, out))
    }

    /// Trains the job's model on every member's rows. `mine` is this member's
    /// standardized training rows (row-major, `d` per row) and `labels` their labels.
    pub async fn train(
        &mut self,
        step: &StepId,
        spec: &TrainSpec,
        mine: &[f64],
        labels: &[f64],
        d: usize,
        reveal_to: &[PartyId],
    ) -> Result<TrainOutput, MpcError> {
        let f = u32::from(self.frac_bits().get());
        let ctx = Ctx { f, h: spec.hidden };
        let counts: Vec<usize> = self
            .exchange_public(&step.child("counts"), labels.len() as u64, (MAX_INPUT_VALUES / (d + 1)) as u64)
            .await?
            .into_iter()
            .map(|c| c as usize)
            .collect();
        let n: usize = counts.iter().sum();
        let xs = self.encode(mine)?;
        let ys = self.encode(labels)?;
        let blocks = self.input_each(&step.child("x"), d, &xs, &counts).await?;
        let x = Shared::vstack(&blocks)?;
        let x = x.hstack(&self.ones(step, n)?)?;
        let y = Shared::vstack(&self.input_each(&step.child("y"), 1, &ys, &counts).await?)?;
        let init = Augmented::initial(spec, d);
        let mut w1 =
            self.public(&self.encode(&init.w1)?, d + 1, if spec.model == ModelKind::Mlp { ctx.h } else { 1 })?;
        let mut w2 = self.public(&self.encode(&init.w2)?, init.w2.len(), 1)?;
        let sig = spec.sigmoid.poly();
        let decay = 1.0 - spec.learning_rate * spec.l2;
        let (steps, epochs) = schedule(spec, n);
        let mut losses = Vec::new();
        let mut done = 0usize;
        'epochs: for epoch in 0..epochs {
            let es = step.child("epoch").index(epoch as u64);
            for (b, batch) in batches(n, spec.batch_size, spec.seed, epoch).into_iter().enumerate() {
                if done == steps {
                    break 'epochs;
                }
                let bs = es.index(b as u64);
                let xb = x.select_rows(&batch)?;
                let yb = y.select_rows(&batch)?;
                let c = spec.learning_rate / batch.len() as f64;
                match spec.model {
                    ModelKind::Logreg => {
                        let mut q = MulQueue::new();
                        q.matmul(&xb, &w1)?;
                        let z = self.exchange(&bs.child("z"), q).await?;
                        let p = self
                            .poly(&bs.child("sigmoid"), z, 2 * f, &sig)
                            .await?
                            .pop()
                            .ok_or_else(|| MpcError::usage(&bs, "no output"))?;
                        let err = p.sub(&yb)?;
                        let mut q = MulQueue::new();
                        q.matmul(&xb.transpose(), &err)?;
                        let g = self
                            .exchange(&bs.child("grad"), q)
                            .await?
                            .pop()
                            .ok_or_else(|| MpcError::usage(&bs, "no gradient"))?;
                        w1 = self
                            .sgd_update(&bs.child("update"), vec![(w1, g)], c, decay)
                            .await?
                            .pop()
                            .ok_or_else(|| MpcError::usage(&bs, "no weights"))?;
                    }
                    ModelKind::Mlp => {
                        let (a1, a1e, out) = self.mlp_forward(&bs, &ctx, &xb, &w1, &w2, &sig).await?;
                        let err = out.sub(&yb)?;
                        let w2r = w2.select_rows(&(0..ctx.h).collect::<Vec<_>>())?.transpose();
                        let one = self.enc1(&bs, 1.0)?;
                        let one_minus = self.public(&vec![one; a1.len()], a1.rows(), a1.cols())?.sub(&a1)?;
                        let mut q = MulQueue::new();
                        q.matmul(&a1e.transpose(), &err)?;
                        q.matmul(&err, &w2r)?;
                        q.mul(&a1, &one_minus)?;
                        let mut r = self.exchange(&bs.child("back"), q).await?.into_iter();
                        let (g2, da1, s) = match (r.next(), r.next(), r.next()) {
                            (Some(a), Some(b), Some(c)) => (a, b, c),
                            _ => return Err(MpcError::usage(&bs, "missing products")),
                        };
                        let mut t = self.rescale(&bs.child("back-trunc"), vec![da1, s]).await?.into_iter();
                        let (da1, s) = match (t.next(), t.next()) {
                            (Some(a), Some(b)) => (a, b),
                            _ => return Err(MpcError::usage(&bs, "missing products")),
                        };
                        let mut q = MulQueue::new();
                        q.mul(&da1, &s)?;
                        let dz1 = self
                            .mul_fixed(&bs.child("dz1"), q)
                            .await?
                            .pop()
                            .ok_or_else(|| MpcError::usage(&bs, "no dz1"))?;
                        let mut q = MulQueue::new();
                        q.matmul(&xb.transpose(), &dz1)?;
                        let g1 = self
                            .exchange(&bs.child("g1"), q)
                            .await?
                            .pop()
                            .ok_or_else(|| MpcError::usage(&bs, "no g1"))?;
                        let mut nw =
                            self.sgd_update(&bs.child("update"), vec![(w1, g1), (w2, g2)], c, decay).await?.into_iter();
                        match (nw.next(), nw.next()) {
                            (Some(a), Some(b)) => {
                                w1 = a;
                                w2 = b;
                            }
                            _ => return Err(MpcError::usage(&bs, "missing weights")),
                        }
                    }
                }
                done += 1;
            }
            if let (Some(every), ModelKind::Mlp) = (spec.loss_every, spec.model)
                && (epoch + 1) % every == 0
            {
                let ls = es.child("loss");
                let (_, _, out) = self.mlp_forward(&ls, &ctx, &x, &w1, &w2, &sig).await?;
                let err = out.sub(&y)?;
                let mut q = MulQueue::new();
                q.mul(&err, &err)?;
                let sq = self
                    .mul_fixed(&ls.child("square"), q)
                    .await?
                    .pop()
                    .ok_or_else(|| MpcError::usage(&ls, "no loss"))?;
                let total = self.reveal(&ls.child("reveal"), &sq.sum_rows()).await?;
                let total = self.decode(&total).first().copied().unwrap_or(f64::NAN);
                losses.push((epoch + 1, total / n as f64));
            }
        }
        let weights = self.reveal_weights(&step.child("model"), &[w1, w2], reveal_to).await?;
        let weights = weights.map(|mut v| {
            let w2 = v.pop().unwrap_or_default();
            let w1 = v.pop().unwrap_or_default();
            Augmented { w1, w2 }
        });
        Ok(TrainOutput { weights, losses, iterations: done, counts })
    }

    /// Reveals `values` to `to` (everyone when empty); decoded, on the recipients only.
    pub async fn reveal_weights(
        &mut self,
        step: &StepId,
        values: &[Shared],
        to: &[PartyId],
    ) -> Result<Option<Vec<Vec<f64>>>, MpcError> {
        let all = Shared::vstack(&values.iter().map(|v| v.reshape(v.len(), 1)).collect::<Result<Vec<_>, _>>()?)?;
        let opened = if to.is_empty() {
            Some(self.reveal(step, &all).await?)
        } else {
            let mut mine = None;
            for p in to {
                if let Some(v) = self.reveal_to(&step.child(&p.dns_name()), &all, *p).await? {
                    mine = Some(v);
                }
            }
            mine
        };
        Ok(opened.map(|v| {
            let mut vals = self.decode(&v).into_iter();
            values.iter().map(|s| vals.by_ref().take(s.len()).collect()).collect()
        }))
    }
}
