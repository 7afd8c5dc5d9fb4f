//! Secure training and inference on the SPDZ engine (`backend = "spdz"`), and their
//! plaintext twins.
//!
//! - [`spec`]: the `[train]` and `[infer]` tables of a job;
//! - [`data`]: local rows, standardization, train/test split, the public batch order;
//! - [`model`]: the revealed model (JSON) and plaintext prediction;
//! - [`plain`]: the same algorithms in `f64` — the reference a secure run is compared with;
//! - [`train`]: mini-batch SGD on shares: logistic regression, and a two-layer network
//!   with a polynomial-sigmoid hidden layer;
//! - [`infer`]: a model owned by one member applied to another member's rows.
//!
//! The gradient code is written by hand, not with an autograd library: on shares every
//! product is a protocol step whose rounds and truncations must be placed explicitly,
//! which no tensor library does. The plaintext twins follow the same steps in `f64`.
//!
//! # What is revealed, to whom
//! - Training: the pooled column means and variances (to standardize; the stats job),
//!   the row counts of every member, the batch order (public indices), the final model to
//!   the members the job names, and — only when the job asks for it with `loss_every` —
//!   the pooled training loss at those epochs, to every member. Nothing else: no row,
//!   no gradient, no intermediate weight.
//! - Inference: the input owner learns its predictions; the model owner learns the
//!   number of rows queried; neither learns the other's values. The architecture
//!   (features, hidden size, polynomial) is public.

pub mod data;
pub mod infer;
pub mod model;
pub mod plain;
pub mod spec;
pub mod train;
