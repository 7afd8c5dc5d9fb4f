//! `fedavg-paillier`: contributions packed and encrypted under the threshold key, summed
//! by the aggregator, decrypted jointly by any `threshold` contributors.

use std::collections::BTreeSet;
use std::sync::Arc;

use consort_he::paillier::threshold::{KeyShare, PartialDecryption, ThresholdPublicKey};
use consort_he::paillier::{Ciphertext, Packer, PackingSpec, PaillierError, PublicKey, RandomizerPool};
use consort_net::{NetError, PartyId, StepId, Transport};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tracing::warn;

use super::bind;
use super::msg::FedMsg;
use super::secure::RoundLog;
use super::spec::FedAvgSpec;
use super::{FedError, offload};

/// The step of one exchange of a round (public: an aggregator or a test built on the
/// messages must use the same names).
pub fn round_step(round: usize, what: &str) -> StepId {
    StepId::root("fedavg").index(round as u64).child(what)
}

fn step(round: usize, what: &str) -> StepId {
    round_step(round, what)
}

/// SHA-256 of the threshold public key (what nodes compare at start).
pub fn fingerprint(key: &ThresholdPublicKey) -> [u8; 32] {
    Sha256::digest(serde_json::to_vec(key).unwrap_or_default()).into()
}

/// Every node tells every other which key it loaded; a node with another key is named.
pub async fn agree_key<T: Transport>(t: &T, key: &ThresholdPublicKey) -> Result<(), FedError> {
    let ours = fingerprint(key);
    let s = StepId::root("fedavg").child("key");
    t.broadcast(&s, FedMsg::Key { fingerprint: ours }.encode()?).await?;
    for (from, bytes) in t.gather(&s).await? {
        match FedMsg::decode(from, &s, &bytes)? {
            FedMsg::Key { fingerprint } if fingerprint == ours => {}
            FedMsg::Key { fingerprint } => {
                return Err(FedError::KeyMismatch {
                    party: from,
                    theirs: hex::encode(&fingerprint[..8]),
                    ours: hex::encode(&ours[..8]),
                });
            }
            other => return Err(bad(from, 0, "key", format!("expected the key fingerprint, got a {}", other.kind()))),
        }
    }
    Ok(())
}

/// `round` counts from 0; the error counts rounds from 1, as the logs do.
pub(crate) fn bad(party: PartyId, round: usize, what: &'static str, reason: String) -> FedError {
    FedError::Bad { party, round: round + 1, what, reason }
}

/// A peer error that means the peer is gone (not a protocol violation or an abort).
pub(crate) fn gone(e: &NetError, peer: PartyId) -> bool {
    matches!(e, NetError::PeerLost { party, .. } | NetError::Timeout { party, .. } if *party == peer)
}

/// The packing every node derives from the agreed spec and key.
pub fn packer(spec: &FedAvgSpec, key: &PublicKey, members: usize) -> Result<Packer, FedError> {
    let max_summands = u32::try_from(members).map_err(|_| FedError::Usage("too many members".into()))?;
    Ok(Packer::new(key, PackingSpec { frac_bits: spec.frac_bits, max_abs: spec.contribution_bound(), max_summands })?)
}

fn parse(
    key: &PublicKey,
    from: PartyId,
    round: usize,
    what: &'static str,
    bytes: &[u8],
    count: usize,
) -> Result<Vec<Ciphertext>, FedError> {
    let len = key.ciphertext_len();
    if bytes.len() != count * len {
        return Err(bad(
            from,
            round,
            what,
            format!("{} bytes, expected {count} ciphertexts of {len} bytes", bytes.len()),
        ));
    }
    bytes
        .par_chunks(len)
        .enumerate()
        .map(|(i, c)| key.ciphertext_from_bytes(c).map_err(|e| bad(from, round, what, format!("ciphertext {i}: {e}"))))
        .collect()
}

fn concat(cts: &[Ciphertext]) -> Vec<u8> {
    cts.iter().flat_map(Ciphertext::to_bytes).collect()
}

/// One contribution as relayed: its member and its ciphertext bytes.
type Part = (PartyId, Vec<u8>);

/// Receives the round's contributions, checks each is well formed (naming and dropping
/// a member whose is not), and relays them all to every contributor, who multiplies them
/// (`bind`). `own` is the aggregator's own contribution when it is a member. Members
/// that are gone are dropped from `alive` with a warning.
async fn aggregate<T: Transport>(
    t: &T,
    key: &PublicKey,
    need: usize,
    round: usize,
    alive: &mut Vec<PartyId>,
    own: Option<Vec<u8>>,
    count: usize,
) -> Result<Vec<Part>, FedError> {
    let s = step(round, "contribute");
    let mut parts: Vec<Part> = Vec::new();
    if let Some(own) = own {
        parts.push((t.me(), own));
    }
    for p in alive.clone().into_iter().filter(|p| *p != t.me()) {
        let got = match t.recv(p, &s).await {
            Ok(b) => b,
            Err(e) if gone(&e, p) => {
                warn!(member = %p, round = round + 1, error = %e, "member dropped out; carrying on without it");
                alive.retain(|q| *q != p);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let checked = match FedMsg::decode(p, &s, &got) {
            Ok(FedMsg::Contribution { round: r, ciphertexts }) if r as usize == round => {
                let k = key.clone();
                offload(move || parse(&k, p, round, "contribution", &ciphertexts, count).map(|_| ciphertexts)).await?
            }
            Ok(other) => Err(bad(p, round, "contribution", format!("a {} for another step", other.kind()))),
            Err(e) => Err(bad(p, round, "contribution", e.to_string())),
        };
        match checked {
            Ok(c) => parts.push((p, c)),
            Err(e) => {
                warn!(member = %p, error = %e, "contribution refused; the member is dropped");
                alive.retain(|q| *q != p);
            }
        }
    }
    if parts.len() < need {
        return Err(FedError::TooFewMembers { round: round + 1, left: parts.len(), need });
    }
    let msg =
        FedMsg::Relay { round: round as u32, parts: parts.iter().map(|(p, c)| (p.0, c.clone())).collect() }.encode()?;
    let out = bind::relay_step(round);
    // One send at a time, not `send_to`: a member that dropped out must not stop the
    // relay from reaching the others.
    for (p, _) in parts.iter().filter(|(p, _)| *p != t.me()) {
        if let Err(e) = t.send(*p, &out, msg.clone()).await {
            warn!(member = %p, error = %e, "could not relay the contributions");
        }
    }
    Ok(parts)
}

/// The aggregator node's whole job (an aggregator that is also a member aggregates inside
/// [`MemberState::round`]). Returns the contributors of each round.
pub async fn run_aggregator<T: Transport>(
    t: &T,
    spec: &FedAvgSpec,
    key: &ThresholdPublicKey,
    members: &[PartyId],
    values: usize,
) -> Result<Vec<Vec<u16>>, FedError> {
    agree_key(t, key).await?;
    let pk = key.public_key();
    let count = packer(spec, pk, members.len())?.plaintexts_for(values);
    let mut alive = members.to_vec();
    let mut log = Vec::new();
    for round in 0..spec.rounds {
        let parts = aggregate(t, pk, spec.fewest_contributors(), round, &mut alive, None, count).await?;
        log.push(parts.iter().map(|(p, _)| p.0).collect());
    }
    Ok(log)
}

/// A member's state across rounds.
pub struct MemberState {
    key: Arc<ThresholdPublicKey>,
    share: Arc<KeyShare>,
    aggregator: PartyId,
    alive: Vec<PartyId>,
    excluded: BTreeSet<PartyId>,
    packer: Arc<Packer>,
    /// The pool being refilled on rayon for the next round (the offline phase: r^n for
    /// every ciphertext, computed while this member waits for the others).
    refill: Option<tokio::sync::oneshot::Receiver<RandomizerPool>>,
}

impl MemberState {
    /// Checks that the share is this member's, derives the packing, and starts filling
    /// the randomness pool for the first round's `values` (weights + 1) on rayon.
    pub fn new(
        spec: &FedAvgSpec,
        me: PartyId,
        key: ThresholdPublicKey,
        share: KeyShare,
        aggregator: PartyId,
        members: &[PartyId],
        values: usize,
    ) -> Result<MemberState, FedError> {
        if share.index() != u32::from(me.0) {
            return Err(FedError::Usage(format!(
                "the key share loaded is member {}'s, but this node is {me}",
                share.index()
            )));
        }
        if key.parties() as usize != members.len() || key.threshold() != u32::from(spec.threshold) {
            return Err(FedError::Usage(format!(
                "the key was dealt for {} members with threshold {}, the job has {} members with threshold {}",
                key.parties(),
                key.threshold(),
                members.len(),
                spec.threshold
            )));
        }
        let packer = Arc::new(packer(spec, key.public_key(), members.len())?);
        let pool = RandomizerPool::new(key.public_key());
        let count = packer.plaintexts_for(values);
        let mut st = MemberState {
            key: Arc::new(key),
            share: Arc::new(share),
            aggregator,
            alive: members.to_vec(),
            excluded: BTreeSet::new(),
            packer,
            refill: None,
        };
        st.refill_in_background(pool, count);
        Ok(st)
    }

    /// The start of the job: all nodes hold the same key.
    pub async fn agree<T: Transport>(&self, t: &T) -> Result<(), FedError> {
        agree_key(t, &self.key).await
    }

    /// One round: encrypt, aggregate (here or at the aggregator), decrypt jointly.
    pub async fn round<T: Transport>(
        &mut self,
        t: &T,
        spec: &FedAvgSpec,
        round: usize,
        contribution: Vec<f64>,
        log: &mut RoundLog,
    ) -> Result<Vec<f64>, FedError> {
        let values = contribution.len();
        let (pk, packer) = (self.key.public_key().clone(), Arc::clone(&self.packer));
        let pool = match self.refill.take() {
            Some(rx) => rx.await.ok(),
            None => None,
        };
        let mut pool = pool.unwrap_or_else(|| RandomizerPool::new(&pk));
        let (cts, pool) = offload(move || {
            let r = packer.pack(&contribution).and_then(|pts| pk.encrypt_batch(&pts, &mut pool));
            (r, pool)
        })
        .await?;
        if round + 1 < spec.rounds {
            self.refill_in_background(pool, self.packer.plaintexts_for(values));
        }
        let cts = cts.map_err(|e| match e {
            PaillierError::OutOfRange { .. } => FedError::Contribution { round, reason: e.to_string() },
            other => FedError::Paillier(other),
        })?;
        let count = cts.len();
        let (me, need) = (t.me(), spec.fewest_contributors());
        let bytes = concat(&cts);
        let mine = bind::digest(round, me, &bytes);
        // The contribution goes first, then its digest: a member whose digest the others
        // hold has sent its contribution.
        if self.aggregator != me {
            let msg = FedMsg::Contribution { round: round as u32, ciphertexts: bytes.clone() };
            t.send(self.aggregator, &step(round, "contribute"), msg.encode()?).await?;
        }
        let digests = bind::exchange(t, round, &mut self.alive, mine).await?;
        let parts = if self.aggregator == me {
            aggregate(t, self.key.public_key(), need, round, &mut self.alive, Some(bytes), count).await?
        } else {
            self.receive_relay(t, round).await?
        };
        let contributors = bind::check_relay(&parts, &digests, me, round, self.aggregator, need)?;
        let (k, a) = (self.key.public_key().clone(), self.aggregator);
        let sum = offload(move || -> Result<Vec<Ciphertext>, FedError> {
            let vectors =
                parts.iter().map(|(_, c)| parse(&k, a, round, "relay", c, count)).collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&[Ciphertext]> = vectors.iter().map(Vec::as_slice).collect();
            Ok(k.sum(&refs)?)
        })
        .await??;
        log.contributors = contributors.iter().map(|p| p.0).collect();
        let plains = self.decrypt(t, spec, round, sum, &contributors, log).await?;
        let summands = u32::try_from(contributors.len()).unwrap_or(u32::MAX);
        Ok(self.packer.unpack_sum(&plains, summands, values)?)
    }

    /// Refills the pool for the next round while this one goes on; the next round waits
    /// for it only if it is not done yet.
    fn refill_in_background(&mut self, mut pool: RandomizerPool, count: usize) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            let short = count.saturating_sub(pool.len());
            pool.fill(short);
            let _ = tx.send(pool);
        });
        self.refill = Some(rx);
    }

    /// The aggregator's relay of the round's contributions (checked by `bind`).
    async fn receive_relay<T: Transport>(&self, t: &T, round: usize) -> Result<Vec<Part>, FedError> {
        let (a, s) = (self.aggregator, bind::relay_step(round));
        let bytes = t.recv(a, &s).await?;
        match FedMsg::decode(a, &s, &bytes)? {
            // More parts than members means a repeat or an addition: `bind` names it.
            FedMsg::Relay { round: r, parts } if r as usize == round => {
                Ok(parts.into_iter().map(|(p, c)| (PartyId(p), c)).collect())
            }
            other => Err(bad(a, round, "relay", format!("a {} instead", other.kind()))),
        }
    }

    /// Partial decryptions among the contributors; any `threshold` valid ones decrypt.
    async fn decrypt<T: Transport>(
        &mut self,
        t: &T,
        spec: &FedAvgSpec,
        round: usize,
        sum: Vec<Ciphertext>,
        contributors: &[PartyId],
        log: &mut RoundLog,
    ) -> Result<Vec<consort_he::paillier::Plaintext>, FedError> {
        let sum = Arc::new(sum);
        // The proof's nonce must never come from a seeded job RNG (`--seed`): with the
        // nonce, the proof's response gives away the key share. OS randomness only.
        let mut seed = [0u8; 32];
        if getrandom::fill(&mut seed).is_err() {
            return Err(FedError::Usage("no OS randomness for the proof of decryption".into()));
        }
        let (key, share, cts) = (Arc::clone(&self.key), Arc::clone(&self.share), Arc::clone(&sum));
        let mine = offload(move || share.partial_decrypt(&key, &cts, &mut ChaCha20Rng::from_seed(seed))).await??;
        let s = step(round, "partial");
        // Every contributor gets every partial (they reveal only the sum it is owed);
        // partials of excluded members are received but not used.
        let peers: Vec<PartyId> = contributors.iter().copied().filter(|p| *p != t.me()).collect();
        let msg = FedMsg::Partial { round: round as u32, bytes: mine.to_bytes() }.encode()?;
        for p in &peers {
            if let Err(e) = t.send(*p, &s, msg.clone()).await {
                warn!(member = %p, error = %e, "could not send the partial decryption");
            }
        }
        let mut received = Vec::new();
        for p in peers {
            match t.recv(p, &s).await {
                Ok(b) if !self.excluded.contains(&p) => received.push((p, b)),
                Ok(_) => {}
                Err(e) if gone(&e, p) => {
                    warn!(member = %p, round = round + 1, error = %e, "member dropped out before decrypting");
                    self.alive.retain(|q| *q != p);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let (key, cts, count) = (Arc::clone(&self.key), Arc::clone(&sum), sum.len());
        let checked = offload(move || {
            received
                .into_par_iter()
                .map(|(p, b)| {
                    let r = match FedMsg::decode(p, &s, &b) {
                        Ok(FedMsg::Partial { round: r, bytes }) if r as usize == round => {
                            PartialDecryption::from_bytes(&key, u32::from(p.0), count, &bytes)
                                .and_then(|pd| key.verify(&cts, &pd).map(|()| pd))
                                .map_err(|e| e.to_string())
                        }
                        Ok(other) => Err(format!("a {} instead", other.kind())),
                        Err(e) => Err(e.to_string()),
                    };
                    (p, r)
                })
                .collect::<Vec<_>>()
        })
        .await?;
        let mut valid = vec![mine];
        log.decryptors = vec![t.me().0];
        for (p, r) in checked {
            match r {
                Ok(pd) => {
                    valid.push(pd);
                    log.decryptors.push(p.0);
                }
                Err(reason) => {
                    warn!(member = %p, round = round + 1, %reason, "invalid partial decryption; member excluded");
                    self.excluded.insert(p);
                }
            }
        }
        log.excluded = self.excluded.iter().map(|p| p.0).collect();
        let need = usize::from(spec.threshold);
        if valid.len() < need {
            return Err(FedError::TooFewMembers { round: round + 1, left: valid.len(), need });
        }
        // Every partial in `valid` passed `verify` above (this member's own is correct by
        // construction): combine without verifying twice.
        let (key, count) = (Arc::clone(&self.key), sum.len());
        Ok(offload(move || {
            let chosen: Vec<&PartialDecryption> = valid.iter().take(need).collect();
            key.combine_verified(count, &chosen)
        })
        .await??)
    }
}
