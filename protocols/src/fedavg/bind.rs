//! What the members decrypt is bound to what they contributed, so an actively malicious
//! aggregator cannot have one member's contribution decrypted in place of the sum.
//!
//! After sending its contribution to the aggregator, each member sends every other
//! member a digest of it, then echoes the digests it received, so every member sees the
//! same set (a member that sends different members different digests is caught at the
//! echo). The aggregator relays the contributions themselves; each member checks every
//! one against its owner's digest and that none is added, repeated or left out, then
//! multiplies them itself. Only then does it send a partial decryption. An aggregator
//! that substitutes, drops or adds a contribution is named and nothing is decrypted.
//!
//! The price: each member downloads every contribution (n times its own upload) and
//! multiplies them, instead of receiving one product. There are no zero-knowledge
//! proofs here, so nothing else is assumed.

use std::collections::{BTreeMap, BTreeSet};

use consort_net::{PartyId, StepId, Transport};
use sha2::{Digest as _, Sha256};
use tracing::warn;

use super::FedError;
use super::msg::FedMsg;
use super::paillier::{bad, gone, round_step};

/// The digest a member sends of its contribution: SHA-256 over a domain tag, the round,
/// the member and the ciphertext bytes, so a digest of one round or member cannot be
/// replayed for another.
pub fn digest(round: usize, party: PartyId, ciphertexts: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"consort fedavg contribution v1");
    h.update((round as u64).to_le_bytes());
    h.update(party.0.to_le_bytes());
    h.update(ciphertexts);
    h.finalize().into()
}

/// The digests a member holds after the echo.
#[derive(Clone, Debug, Default)]
pub struct Digests {
    /// Every digest received (and this member's own).
    pub got: BTreeMap<PartyId, [u8; 32]>,
    /// The members that sent their digest and then echoed: alive through the exchange,
    /// so an aggregator that leaves one of them out is withholding it.
    pub confirmed: BTreeSet<PartyId>,
}

fn short(d: &[u8; 32]) -> String {
    hex::encode(&d[..6])
}

/// Sends `mine` to the other `alive` members, receives theirs, then echoes. Members that
/// are gone are dropped from `alive` with a warning, as in the rest of the round.
pub async fn exchange<T: Transport>(
    t: &T,
    round: usize,
    alive: &mut Vec<PartyId>,
    mine: [u8; 32],
) -> Result<Digests, FedError> {
    let me = t.me();
    let mut d = Digests::default();
    d.got.insert(me, mine);
    let s = round_step(round, "digest");
    let msg = FedMsg::Digest { round: round as u32, digest: mine }.encode()?;
    let peers: Vec<PartyId> = alive.iter().copied().filter(|p| *p != me).collect();
    for p in &peers {
        if let Err(e) = t.send(*p, &s, msg.clone()).await {
            warn!(member = %p, error = %e, "could not send the contribution digest");
        }
    }
    for p in peers {
        match t.recv(p, &s).await {
            Ok(b) => match FedMsg::decode(p, &s, &b)? {
                FedMsg::Digest { round: r, digest } if r as usize == round => {
                    d.got.insert(p, digest);
                }
                other => return Err(bad(p, round, "digest", format!("a {} instead", other.kind()))),
            },
            Err(e) if gone(&e, p) => {
                warn!(member = %p, round = round + 1, error = %e, "member dropped out; carrying on without it");
                alive.retain(|q| *q != p);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let s = round_step(round, "echo");
    let echo: Vec<(u16, [u8; 32])> = d.got.iter().map(|(p, h)| (p.0, *h)).collect();
    let msg = FedMsg::Echo { round: round as u32, digests: echo }.encode()?;
    let peers: Vec<PartyId> = alive.iter().copied().filter(|p| *p != me).collect();
    for p in &peers {
        if let Err(e) = t.send(*p, &s, msg.clone()).await {
            warn!(member = %p, error = %e, "could not echo the digests");
        }
    }
    d.confirmed.insert(me);
    for q in peers {
        let theirs = match t.recv(q, &s).await {
            Ok(b) => match FedMsg::decode(q, &s, &b)? {
                FedMsg::Echo { round: r, digests } if r as usize == round => digests,
                other => return Err(bad(q, round, "digest echo", format!("a {} instead", other.kind()))),
            },
            Err(e) if gone(&e, q) => {
                warn!(member = %q, round = round + 1, error = %e, "member dropped out; carrying on without it");
                alive.retain(|x| *x != q);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for (p, h) in theirs {
            let p = PartyId(p);
            if let Some(ours) = d.got.get(&p).filter(|ours| **ours != h) {
                let reason = if p == q {
                    format!("it echoes its own digest as {}, but sent this member {}", short(&h), short(ours))
                } else {
                    format!(
                        "it reports {p}'s digest as {}, but {p} sent this member {}: {p} or it sends different \
                         members different digests",
                        short(&h),
                        short(ours)
                    )
                };
                return Err(bad(q, round, "digest echo", reason));
            }
        }
        d.confirmed.insert(q);
    }
    Ok(d)
}

/// Checks the aggregator's relayed contributions against the digests: returns the
/// contributors (sorted) when every contribution is its owner's, none is repeated or
/// added, no confirmed member is left out, this member is in, and there are at least
/// `need`. Anything else is the aggregator's doing, and it is named.
pub fn check_relay(
    parts: &[(PartyId, Vec<u8>)],
    d: &Digests,
    me: PartyId,
    round: usize,
    aggregator: PartyId,
    need: usize,
) -> Result<Vec<PartyId>, FedError> {
    let refuse = |reason: String| Err(bad(aggregator, round, "relay", format!("{reason}; nothing is decrypted")));
    let mut seen = BTreeSet::new();
    for (p, bytes) in parts {
        if !seen.insert(*p) {
            return refuse(format!("it relays {p}'s contribution twice"));
        }
        match d.got.get(p) {
            None => return refuse(format!("it adds a contribution for {p}, who sent the members no digest")),
            Some(h) if *h != digest(round, *p, bytes) => {
                return refuse(format!("{p}'s contribution does not match the digest {p} sent"));
            }
            Some(_) => {}
        }
    }
    if let Some(p) = d.confirmed.iter().find(|p| !seen.contains(p)) {
        let whose = if *p == me { "this member's own".to_string() } else { format!("{p}'s") };
        return refuse(format!("it leaves out {whose} contribution, though {p} sent its digest and confirmed it"));
    }
    if seen.len() < need {
        return refuse(format!("it holds {} contributions; the job needs at least {need}", seen.len()));
    }
    for p in d.got.keys().filter(|p| !seen.contains(p)) {
        warn!(member = %p, round = round + 1, "the aggregator left out a member that sent its digest but then dropped out");
    }
    Ok(seen.into_iter().collect())
}

/// The step of the round's relay (the aggregator to each contributor).
pub fn relay_step(round: usize) -> StepId {
    round_step(round, "relay")
}
