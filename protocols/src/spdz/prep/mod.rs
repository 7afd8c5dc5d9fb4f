//! Preprocessing: the correlated randomness the online phase consumes — Beaver triples,
//! matrix triples, truncation pairs, random masks and input masks — behind one trait.
//!
//! Sources:
//! - [`DealerClient`]: a member's side of a **dealer node** (a designated party; in
//!   `simulate`, an extra process) that runs [`serve_dealer`];
//! - [`LocalDealer`]: the same dealer logic in-process, for tests and single-process
//!   simulation.
//!
//! Both generate material with [`DealerCore`] from a ChaCha20 stream. In malicious mode
//! every value is authenticated (shares and MAC shares in Z_2^128).
//!
//! # Trust
//! The dealer knows every triple and the MAC key: it is trusted not to collude with any
//! member and to deal correct material. It sees no input and no opened value.
//!
//! # Bandwidth
//! Member 0 receives its shares explicitly; every other member receives a 32-byte seed
//! from which it expands its own shares (the standard PRG trick, as in CrypTen's TTP), so
//! preprocessing traffic does not grow with the number of members.

mod client;
mod dealer;
mod local;
mod store;

use std::future::Future;

use serde::{Deserialize, Serialize};

pub use client::{DealerClient, DealerMsg, serve_dealer};
pub use dealer::{Bundle, DealerCore};
pub use local::LocalDealer;
pub use store::{Stock, Store};

use super::{MpcError, PrepError, Security};

/// One request for material. Lengths count values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Request {
    /// `len` elementwise triples `c = a·b`.
    Triples { len: usize },
    /// One matrix triple `C = A·B` with `A: m×k`, `B: k×n`.
    MatTriple { m: usize, k: usize, n: usize },
    /// `len` truncation pairs for shifting by `bits`: `r`, its top bit, `(r mod 2^63) >> bits`.
    Trunc { len: usize, bits: u32 },
    /// `len` random values nobody knows (masks for outputs revealed to all).
    Random { len: usize },
    /// `len` random values whose clear value `owner` (a member index) also gets.
    InputMask { owner: u16, len: usize },
}

impl Request {
    /// Lengths of the shared components this request produces.
    pub fn parts(&self) -> Vec<usize> {
        match *self {
            Request::Triples { len } | Request::Trunc { len, .. } => vec![len; 3],
            Request::MatTriple { m, k, n } => vec![m.saturating_mul(k), k.saturating_mul(n), m.saturating_mul(n)],
            Request::Random { len } | Request::InputMask { len, .. } => vec![len],
        }
    }

    /// Values in all components.
    pub fn size(&self) -> usize {
        self.parts().iter().fold(0usize, |a, b| a.saturating_add(*b))
    }
}

/// Shares of authenticated values (MACs empty in semi-honest mode).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthVec {
    pub vals: Vec<u128>,
    pub macs: Vec<u128>,
}

impl std::fmt::Debug for AuthVec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthVec({} values)", self.vals.len())
    }
}

/// One member's part of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Material {
    pub parts: Vec<AuthVec>,
    /// Clear values of an input mask, for its owner only.
    pub clear: Vec<u128>,
}

/// A source of preprocessing material for one member.
pub trait Preprocessing: Send {
    /// The security mode the material is made for.
    fn security(&self) -> Security;

    /// This member's share of the MAC key (0 in semi-honest mode).
    fn mac_key_share(&self) -> u128;

    /// Obtains material for `requests` (all members must reserve the same, in the same
    /// order). A dealer round trip for remote sources.
    fn reserve(&mut self, requests: &[Request]) -> impl Future<Output = Result<(), MpcError>> + Send;

    /// The reserve this source fills.
    fn store(&self) -> &Store;

    fn store_mut(&mut self) -> &mut Store;

    /// What has been reserved and not yet taken.
    fn available(&self) -> Stock {
        self.store().stock()
    }

    /// Takes material for one request out of the reserve; it is never handed out again.
    fn take(&mut self, request: &Request) -> Result<Material, PrepError> {
        self.store_mut().take(request)
    }

    /// Tells the source this member needs nothing more (a dealer stops serving when every
    /// member has finished).
    fn finish(&mut self) -> impl Future<Output = Result<(), MpcError>> + Send;
}
