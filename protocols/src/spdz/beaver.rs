//! Products with Beaver triples, queued and opened together (MP-SPDZ's `Beaver.h`
//! shape): [`MulQueue::mul`]/[`MulQueue::matmul`] queue, [`Engine::exchange`] opens every
//! `d = x − a`, `e = y − b` of the queue in one round and finalizes
//! `z = c + d·b + a·e + d·e` (the public `d·e` added by member 0, and to the MACs as
//! `α_i·d·e`). A matrix triple makes an `m×k · k×n` product open `m·k + k·n` values.
//!
//! Products come back untruncated, with twice the fractional bits of their operands.

use consort_net::{StepId, Transport};

use super::prep::{Material, Preprocessing, Request};
use super::shared::matmul;
use super::{Engine, MpcError, Security, Shared};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Elem,
    Mat,
}

/// A handle on a queued product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Product(pub usize);

/// Products waiting for their round.
#[derive(Default)]
pub struct MulQueue {
    ops: Vec<(Kind, Shared, Shared)>,
}

impl MulQueue {
    pub fn new() -> MulQueue {
        MulQueue::default()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Queues the elementwise product of two matrices of the same shape.
    pub fn mul(&mut self, x: &Shared, y: &Shared) -> Result<Product, MpcError> {
        if x.shape() != y.shape() {
            return Err(MpcError::usage(&StepId::root("mul"), format!("elementwise product of {x:?} and {y:?}")));
        }
        self.ops.push((Kind::Elem, x.clone(), y.clone()));
        Ok(Product(self.ops.len() - 1))
    }

    /// Queues the matrix product `x·y`.
    pub fn matmul(&mut self, x: &Shared, y: &Shared) -> Result<Product, MpcError> {
        if x.cols != y.rows {
            return Err(MpcError::usage(&StepId::root("matmul"), format!("matrix product of {x:?} and {y:?}")));
        }
        self.ops.push((Kind::Mat, x.clone(), y.clone()));
        Ok(Product(self.ops.len() - 1))
    }

    fn request(kind: Kind, x: &Shared, y: &Shared) -> Request {
        match kind {
            Kind::Elem => Request::Triples { len: x.len() },
            Kind::Mat => Request::MatTriple { m: x.rows, k: x.cols, n: y.cols },
        }
    }
}

fn sub(a: &[u128], b: &[u128]) -> Vec<u128> {
    a.iter().zip(b).map(|(x, y)| x.wrapping_sub(*y)).collect()
}

struct Ctx {
    me0: bool,
    alpha: u128,
    security: Security,
}

/// The copy of α a rayon closure carries is wiped when the closure is done.
impl Drop for Ctx {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.alpha);
    }
}

/// `c + d·b + a·e + d·e` for one product, on values and on MACs.
fn finalize(
    ctx: &Ctx,
    kind: Kind,
    x: &Shared,
    y: &Shared,
    t: &Material,
    d: &[u128],
    e: &[u128],
) -> Result<Shared, MpcError> {
    let part = |i: usize| t.parts.get(i).cloned().unwrap_or_default();
    let (a, b, c) = (part(0), part(1), part(2));
    let mal = ctx.security == Security::Malicious;
    let (rows, cols) = match kind {
        Kind::Elem => x.shape(),
        Kind::Mat => (x.rows, y.cols),
    };
    let one = |av: &[u128], bv: &[u128], cv: &[u128], de_weight: Option<u128>| -> Vec<u128> {
        match kind {
            Kind::Elem => (0..cv.len())
                .map(|i| {
                    let (di, ei) = (d.get(i).copied().unwrap_or(0), e.get(i).copied().unwrap_or(0));
                    let mut z = cv.get(i).copied().unwrap_or(0);
                    z = z.wrapping_add(di.wrapping_mul(bv.get(i).copied().unwrap_or(0)));
                    z = z.wrapping_add(ei.wrapping_mul(av.get(i).copied().unwrap_or(0)));
                    if let Some(w) = de_weight {
                        z = z.wrapping_add(w.wrapping_mul(di.wrapping_mul(ei)));
                    }
                    z
                })
                .collect(),
            Kind::Mat => {
                let (m, k, n) = (x.rows, x.cols, y.cols);
                let db = matmul(d, bv, m, k, n);
                let ae = matmul(av, e, m, k, n);
                let de = de_weight.map(|w| (w, matmul(d, e, m, k, n)));
                (0..cv.len())
                    .map(|i| {
                        let mut z = cv.get(i).copied().unwrap_or(0);
                        z = z.wrapping_add(db.get(i).copied().unwrap_or(0));
                        z = z.wrapping_add(ae.get(i).copied().unwrap_or(0));
                        if let Some((w, de)) = &de {
                            z = z.wrapping_add(w.wrapping_mul(de.get(i).copied().unwrap_or(0)));
                        }
                        z
                    })
                    .collect()
            }
        }
    };
    let vals: Vec<u128> =
        one(&a.vals, &b.vals, &c.vals, ctx.me0.then_some(1)).into_iter().map(|v| ctx.security.reduce(v)).collect();
    let macs = if mal { one(&a.macs, &b.macs, &c.macs, Some(ctx.alpha)) } else { Vec::new() };
    Shared::new(rows, cols, vals, macs)
}

impl<T: Transport, P: Preprocessing> Engine<'_, T, P> {
    /// Opens every queued product in one round and returns them in queue order
    /// (untruncated: `2f` fractional bits).
    pub async fn exchange(&mut self, step: &StepId, queue: MulQueue) -> Result<Vec<Shared>, MpcError> {
        if queue.ops.is_empty() {
            return Ok(Vec::new());
        }
        let requests: Vec<Request> = queue.ops.iter().map(|(k, x, y)| MulQueue::request(*k, x, y)).collect();
        self.ensure(&requests).await?;
        let triples = requests.iter().map(|r| self.take(r)).collect::<Result<Vec<_>, _>>()?;
        let ops = queue.ops;
        let (vals, macs, ops, triples) = super::offload(move || {
            let (mut vals, mut macs) = (Vec::new(), Vec::new());
            for ((_, x, y), t) in ops.iter().zip(&triples) {
                let a = t.parts.first().cloned().unwrap_or_default();
                let b = t.parts.get(1).cloned().unwrap_or_default();
                vals.extend(sub(&x.vals, &a.vals));
                vals.extend(sub(&y.vals, &b.vals));
                macs.extend(sub(&x.macs, &a.macs));
                macs.extend(sub(&y.macs, &b.macs));
            }
            (vals, macs, ops, triples)
        })
        .await?;
        let opened = self.open(step, vals, macs).await?;
        let ctx = Ctx { me0: self.me == 0, alpha: self.alpha, security: self.security };
        super::offload(move || {
            let mut at = 0usize;
            let mut out = Vec::with_capacity(ops.len());
            for ((kind, x, y), t) in ops.iter().zip(&triples) {
                let d = opened.get(at..at + x.len()).unwrap_or(&[]);
                let e = opened.get(at + x.len()..at + x.len() + y.len()).unwrap_or(&[]);
                at += x.len() + y.len();
                out.push(finalize(&ctx, *kind, x, y, t, d, e)?);
            }
            Ok::<_, MpcError>(out)
        })
        .await?
    }
}
