//! # consort-net: the transport under every consort protocol
//!
//! Protocol code is written against [`Transport`]: send to a party, receive from a
//! party, each message tagged with a [`StepId`] so concurrent steps never mix. Two
//! implementations:
//!
//! - [`MemoryNetwork`]: N members in one process, with latency and a hook to drop,
//!   tamper with or record any message (unit tests, fault injection, wire inspection);
//! - [`QuicTransport`]: a full mesh over QUIC (quinn) with mutual TLS 1.3 (rustls with
//!   the ring provider): every certificate is signed by the consortium CA and names its
//!   member as `party-<id>`; impostors and foreign certificates are refused and both
//!   sides log why.
//!
//! Every message goes through [`Counters`] (bytes, messages, rounds), every receive has
//! a timeout, and the loss of any peer fails every pending receive with an error naming
//! it, so no member ever hangs on a member that disappeared.
//!
//! Wire format: see [`frame`]. Headers are postcard (a maintained compact serde format;
//! bincode is unmaintained, RUSTSEC-2025-0141); bulk share vectors are raw
//! little-endian `u64`s ([`encode_u64s`]), and every length is checked before a buffer
//! is allocated.

mod counters;
mod erased;
mod error;
pub mod frame;
mod id;
mod link;
mod mailbox;
mod memory;
mod quic;
mod transport;

pub use counters::{CounterSnapshot, Counters};
pub use erased::DynTransport;
pub use error::NetError;
pub use frame::{decode_u64s, encode_u64s};
pub use id::{PartyId, SessionId, StepId};
pub use link::LinkEmulation;
pub use memory::{Envelope, MemoryNetwork, MemoryTransport, Verdict};
pub use quic::{ALPN, Identity, JobBinding, QuicConfig, QuicTransport, cert_fingerprint, cert_party_ids};
pub use transport::Transport;
