//! Split learning with homomorphically encrypted activations (U-shaped: seed 000's
//! system), in which the server never sees an activation, a gradient or its own
//! layer's weight gradient in the clear.
//!
//! # Roles
//! - **Clients** (data owners, e.g. hospitals) hold the inputs, the labels, their own
//!   first layers ([`model::ClientNet`], candle: convolutions, LeakyReLU, max-pooling)
//!   and the loss (softmax cross-entropy). Each client keeps its own first layers.
//!   The `linear` model has none: the cut is the standardized input, and the whole
//!   model is (multinomial) logistic regression with its weights on shares.
//! - The **server** holds the middle dense layer (cut → classes). Its weights are kept
//!   **additively shared**: W = S + C, where S is the server's share (drawn by the server
//!   at the start, PyTorch-style) and C the clients' share (zero at the start).
//!
//! # One training step of a client (batch of n rows)
//! 1. The client computes a = f(x) and sends Enc(a) under its own fresh key: CKKS
//!    ([`consort_he::ckks::BatchLinear`], a chunk of rows per ciphertext) or Paillier
//!    (one ciphertext per feature, the batch's rows packed in its slots).
//! 2. The server returns Enc(a·S + b_S), computed homomorphically.
//! 3. The client decrypts, adds a·C + b_C, and gets the logits z = a·W + b; it computes
//!    the loss and g = ∂L/∂z.
//! 4. The client sends Enc(g); the server returns Enc(g·Sᵀ); the client adds g·Cᵀ and has
//!    ∂L/∂a = g·Wᵀ, which it back-propagates through its own layers (SGD). Without
//!    layers (`linear`) nothing needs ∂L/∂a, so the client skips this exchange: the
//!    server then sees one request per batch and never an encrypted gradient.
//! 5. The weight gradient aᵀg and the bias gradient Σg are computed by the client, which
//!    knows a and g, and applied to the clients' share C. S never changes, so the
//!    server has nothing to learn from an update.
//!
//! Clients train in turn (round-robin, one turn per client per epoch). At the end of its
//! turn a client sends C to the next client directly (never through the server); after
//! the last turn, to every client. Then each client scores its held-out rows through the
//! server with the same encryption; `task = "infer"` does the same for new rows.
//!
//! # What each side learns, per step
//! - **Server:** per request, the number of rows and the ciphertexts (CKKS: ⌈n/B⌉
//!   ciphertexts at the top level, B = 4096/cut; Paillier: ⌈n/slots⌉·cut ciphertexts of
//!   its client's key, then ⌈n/slots⌉·classes for the gradient), which client sends them
//!   and when its turn ends; the clients' public key material (Galois keys / Paillier
//!   modulus). It never holds a secret key, so under IND-CPA it learns nothing about a,
//!   g, aᵀg or C. The test `protocols/tests/split.rs` records every message the server
//!   receives and checks exactly this.
//! - **A client:** its own data and layers; the logits z and ∂L/∂a of its own rows (the
//!   point of split learning); the clients' share C, hence — because it can solve S from
//!   a·S + b_S for its own a — the whole dense layer W. With several clients, C at the
//!   start of a turn minus C at the end of its previous turn is the sum of the other
//!   clients' updates to the layer in between (inherent to sequential split learning;
//!   with two clients, the other client's update). Clients never see another's
//!   activations, gradients or first layers.
//!
//! # Trust
//! Semi-honest server and clients. A server that returns wrong ciphertexts corrupts the
//! training but cannot learn more (it never sees a decryption); malformed ciphertexts,
//! wrong counts or batch sizes are refused with the sender named.
//!
//! # Why the dense layer is on shares and not updated by the server
//! Any server that applies ΔW itself learns it (it knows W before and after), and ΔW =
//! aᵀg reveals activations when batches are small (Split Ways' leak). Computing ΔW under
//! encryption needs ciphertext × ciphertext products (CKKS only) and still leaves the
//! server decrypting nothing, i.e. the update must end on the clients' side anyway.

pub mod cipher;
pub mod client;
pub mod model;
pub mod msg;
pub mod plain;
pub mod server;
pub mod spec;

use consort_net::{NetError, PartyId};

pub use client::{ClientModel, ClientOutcome, TurnCost, run_client, run_queries};
pub use server::{TurnLog, run_query_server, run_server};
pub use spec::{Holdout, Scheme, SplitModel, SplitSpec};

use crate::learn::data::Rows;

/// Why split learning stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    #[error(transparent)]
    Net(#[from] NetError),
    /// Local training failed (this node's own fault).
    #[error("local training: {0}")]
    Tensor(String),
    /// A peer sent something wrong (malformed, wrong count, wrong size).
    #[error("{party} sent a bad {what}: {reason}")]
    Bad { party: PartyId, what: &'static str, reason: String },
    /// A reply could not be decrypted or decoded (mapped to the server by the caller).
    #[error("bad reply: {0}")]
    Reply(String),
    /// This client's own values do not fit the encryption.
    #[error("{0}")]
    Range(String),
    #[error("ckks: {0}")]
    Ckks(#[from] consort_he::ckks::CkksError),
    #[error("paillier: {0}")]
    Paillier(#[from] consort_he::paillier::PaillierError),
    /// Misuse by the caller (roster, model shapes).
    #[error("{0}")]
    Usage(String),
}

impl SplitError {
    /// What the other nodes are told when this one stops on this error: a bad message
    /// from a named party and network events in full; its own failures only by kind,
    /// since their text may hold its activations or values.
    pub fn public_reason(&self) -> String {
        match self {
            SplitError::Net(_) | SplitError::Bad { .. } => self.to_string(),
            SplitError::Tensor(_) => "its local training failed (see its log)".into(),
            SplitError::Range(_) => "its values do not fit the encryption (see its log)".into(),
            _ => "protocol error (see its log)".into(),
        }
    }

    /// A reply that does not decrypt is the server's fault.
    pub(crate) fn blame_server(self, server: PartyId) -> SplitError {
        match self {
            SplitError::Reply(reason) => SplitError::Bad { party: server, what: "reply", reason },
            other => other,
        }
    }
}

impl From<candle_core::Error> for SplitError {
    fn from(e: candle_core::Error) -> Self {
        SplitError::Tensor(e.to_string())
    }
}

pub(crate) use crate::compute::offload;

impl From<crate::compute::Panicked> for SplitError {
    fn from(e: crate::compute::Panicked) -> Self {
        SplitError::Usage(e.to_string())
    }
}

impl From<crate::compute::EncodeError> for SplitError {
    fn from(e: crate::compute::EncodeError) -> Self {
        SplitError::Usage(e.to_string())
    }
}

/// Receives and decodes a message from `from`, waiting up to `wait`: turns are
/// sequential, so a client may wait for minutes while the others train. Failures (a lost
/// peer, an abort) still end the wait at once.
pub(crate) async fn patient_recv(
    t: &impl consort_net::Transport,
    from: PartyId,
    step: &consort_net::StepId,
    wait: std::time::Duration,
) -> Result<msg::SplitMsg, SplitError> {
    let bytes = t.recv_within(from, step, wait).await?;
    Ok(msg::SplitMsg::decode(from, step, &bytes)?)
}

/// The protocol's step names (clients and server derive the same).
pub(crate) mod steps {
    use consort_net::StepId;

    pub fn keys() -> StepId {
        StepId::root("split").child("keys")
    }

    pub fn turn(epoch: usize, client: usize) -> StepId {
        StepId::root("split").child("train").index(epoch as u64).index(client as u64)
    }

    pub fn handover(turn: usize) -> StepId {
        StepId::root("split").child("handover").index(turn as u64)
    }

    pub fn eval(client: usize) -> StepId {
        StepId::root("split").child("eval").index(client as u64)
    }
}

/// Whether [`prepare`] needs the pooled means and standard deviations of every client's
/// training rows (computed by the caller, e.g. with the secure-sum statistics protocol).
/// The linear model does: its inputs go to the server's layer as they are, so every
/// client must scale them the same way, and the same way for training and queries.
pub fn needs_pooled_stats(model: SplitModel) -> bool {
    matches!(model, SplitModel::Linear)
}

/// The rows the client layers see, times `input_scale`: signals centred on their own mean
/// (cnn1d, as federated averaging's CNN), pixels as they are (cnn2d), or features
/// standardized per column with the `pooled` (means, standard deviations) (linear; a
/// standard deviation ≤ 0 counts as 1). The CNNs ignore `pooled`; the linear model
/// refuses to run without it (see [`needs_pooled_stats`]) rather than train on raw
/// features of very different scales.
pub fn prepare(spec: &SplitSpec, rows: &Rows, pooled: Option<(&[f64], &[f64])>) -> Result<Rows, SplitError> {
    let mut out = match (spec.model, pooled) {
        (SplitModel::Cnn1d, _) => crate::fedavg::local::prepare(crate::fedavg::FedModel::Cnn1d, rows, None),
        (SplitModel::Cnn2d, _) => rows.clone(),
        (SplitModel::Linear, None) => {
            return Err(SplitError::Usage("the linear model needs pooled means and standard deviations".into()));
        }
        (SplitModel::Linear, Some((means, stds))) => {
            if means.len() != rows.d || stds.len() != rows.d {
                return Err(SplitError::Usage(format!(
                    "{} pooled means and {} standard deviations for rows of {} features",
                    means.len(),
                    stds.len(),
                    rows.d
                )));
            }
            Rows { x: rows.standardized(means, stds), y: rows.y.clone(), d: rows.d }
        }
    };
    out.x.iter_mut().for_each(|v| *v *= spec.input_scale);
    Ok(out)
}

/// Client `index`'s (train, test) rows, as the spec's `holdout` says.
pub fn split_rows(spec: &SplitSpec, rows: &Rows, index: usize) -> (Rows, Rows) {
    match spec.holdout {
        Holdout::Random => rows.split(spec.test_fraction, spec.seed, index),
        Holdout::Tail => {
            let test = (rows.n() as f64 * spec.test_fraction).round() as usize;
            let cut = rows.n() - test.min(rows.n());
            let part = |a: usize, b: usize| Rows {
                x: rows.x.get(a * rows.d..b * rows.d).unwrap_or(&[]).to_vec(),
                y: rows.y.get(a..b).unwrap_or(&[]).to_vec(),
                d: rows.d,
            };
            (part(0, cut), part(cut, rows.n()))
        }
    }
}

/// The features (row-major) and labels of the rows `idx`: one batch.
pub(crate) fn gather(rows: &Rows, idx: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let mut x = Vec::with_capacity(idx.len() * rows.d);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        x.extend_from_slice(rows.row(i));
        y.push(rows.y.get(i).copied().unwrap_or(0.0));
    }
    (x, y)
}

/// Checks labels against the classes, naming the first bad row.
pub fn check_labels(spec: &SplitSpec, rows: &Rows) -> Result<(), String> {
    crate::learn::data::check_class_labels(rows, spec.classes)
}
