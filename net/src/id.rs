//! Identifiers: who a party is, which session a frame belongs to, which protocol step.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A member of the consortium, numbered from 0. Its certificate names it `party-<id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartyId(pub u16);

impl PartyId {
    /// The DNS name a member's certificate must carry (subject alternative name).
    pub fn dns_name(self) -> String {
        format!("party-{}", self.0)
    }

    /// Parses `party-<id>` as written in certificates.
    pub fn from_dns_name(name: &str) -> Option<PartyId> {
        name.strip_prefix("party-")?.parse().ok().map(PartyId)
    }

    /// The index of this party in a roster sorted 0..n.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "party {}", self.0)
    }
}

/// One run of a job over an established mesh. Frames of another session are refused,
/// so a stale process from an earlier run cannot inject messages into this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionId(pub u64);

impl SessionId {
    /// Derives a session id from bytes every member knows (e.g. the agreed job hash).
    /// FNV-1a: stable across platforms and versions, which `DefaultHasher` is not.
    pub fn derive(bytes: &[u8]) -> SessionId {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        SessionId(h)
    }
}

/// A protocol step, as a readable hierarchical path (`stats/share`, `mul/3/open`).
///
/// Every member derives the same id from the same sequence of calls, as mpz's
/// `ContextId::child` does, so two concurrent steps never read each other's messages.
/// The path is kept readable on purpose: errors name the step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StepId(Arc<str>);

impl StepId {
    /// A top-level step.
    pub fn root(name: &str) -> StepId {
        StepId(Arc::from(name))
    }

    /// A sub-step of this one.
    pub fn child(&self, name: &str) -> StepId {
        StepId(Arc::from(format!("{}/{}", self.0, name)))
    }

    /// The `i`-th repetition of a sub-step (loop iterations, rounds of training).
    pub fn index(&self, i: u64) -> StepId {
        StepId(Arc::from(format!("{}/{}", self.0, i)))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_wire(s: String) -> StepId {
        StepId(Arc::from(s))
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_names_round_trip() {
        assert_eq!(PartyId::from_dns_name("party-12"), Some(PartyId(12)));
        assert_eq!(PartyId::from_dns_name("party-x"), None);
        assert_eq!(PartyId::from_dns_name("node-1"), None);
        assert_eq!(PartyId::from_dns_name(&PartyId(7).dns_name()), Some(PartyId(7)));
    }

    #[test]
    fn steps_are_deterministic_and_distinct() {
        let a = StepId::root("stats").child("share");
        assert_eq!(a, StepId::root("stats").child("share"));
        assert_ne!(a, StepId::root("stats").child("open"));
        assert_eq!(a.index(3).as_str(), "stats/share/3");
    }

    #[test]
    fn session_derivation_is_stable() {
        assert_eq!(SessionId::derive(b"abc"), SessionId::derive(b"abc"));
        assert_ne!(SessionId::derive(b"abc"), SessionId::derive(b"abd"));
        // FNV-1a test vector for "a".
        assert_eq!(SessionId::derive(b"a").0, 0xaf63_dc4c_8601_ec8c);
    }
}
