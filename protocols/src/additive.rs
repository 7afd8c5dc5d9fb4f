//! Secure summation by additive secret sharing: every member contributes a vector; all
//! members learn the elementwise sum over Z_2^64 (or Z_2^128, see [`Word`]) and nothing
//! else.
//!
//! Three steps, one round each:
//! 1. `share`: each member splits its vector into `n` random shares and sends share `j`
//!    to member `j` (it keeps its own);
//! 2. `open`: each member adds the shares it holds (one from each member) and broadcasts
//!    that sum; everyone adds the `n` sums;
//! 3. `echo`: each member sends the others a SHA-256 digest of the total it computed; a
//!    digest that differs from its own stops the member, so a member that sends
//!    different members different values cannot leave them holding different totals.
//!
//! # Security (semi-honest)
//! Every message of step 1 is uniformly random. The sums opened in step 2 are uniformly
//! random subject to adding up to the total, so any coalition of up to `n-2` members
//! learns only the total (and whatever the total and its own inputs imply: with two
//! members, the total minus your contribution is the other's). A member that deviates
//! consistently can only shift the total by an amount of its choosing — the same as
//! lying about its own input, which no protocol prevents; one that equivocates (sends
//! different members different values) is caught at the echo, before anyone uses the
//! total.

use consort_net::{NetError, PartyId, StepId, Transport, decode_u64s, encode_u64s};
use rand_core::Rng;

/// An element of the ring the sum runs over: `u64` (Z_2^64) or `u128` (Z_2^128, for
/// sums that need more room, such as the statistics' second moments). On the wire a
/// word is its little-endian 64-bit limbs, so a `u64` sum's bytes are unchanged.
pub trait Word: Copy + Default + Send + Sync + 'static {
    /// 64-bit limbs per word.
    const LIMBS: usize;
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn random(rng: &mut impl Rng) -> Self;
    fn push_limbs(self, out: &mut Vec<u64>);
    fn from_limbs(limbs: &[u64]) -> Self;
}

impl Word for u64 {
    const LIMBS: usize = 1;
    fn add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    fn sub(self, other: Self) -> Self {
        self.wrapping_sub(other)
    }
    fn random(rng: &mut impl Rng) -> Self {
        rng.next_u64()
    }
    fn push_limbs(self, out: &mut Vec<u64>) {
        out.push(self);
    }
    fn from_limbs(limbs: &[u64]) -> Self {
        limbs.first().copied().unwrap_or(0)
    }
}

impl Word for u128 {
    const LIMBS: usize = 2;
    fn add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    fn sub(self, other: Self) -> Self {
        self.wrapping_sub(other)
    }
    fn random(rng: &mut impl Rng) -> Self {
        (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
    }
    fn push_limbs(self, out: &mut Vec<u64>) {
        out.extend([self as u64, (self >> 64) as u64]);
    }
    fn from_limbs(limbs: &[u64]) -> Self {
        let l = |i: usize| u128::from(limbs.get(i).copied().unwrap_or(0));
        l(0) | (l(1) << 64)
    }
}

fn encode_words<W: Word>(v: &[W]) -> bytes::Bytes {
    let mut limbs = Vec::with_capacity(v.len() * W::LIMBS);
    v.iter().for_each(|w| w.push_limbs(&mut limbs));
    encode_u64s(&limbs)
}

fn decode_words<W: Word>(from: PartyId, step: &StepId, bytes: &[u8], len: usize) -> Result<Vec<W>, NetError> {
    let limbs = decode_u64s(from, step, bytes, len.saturating_mul(W::LIMBS))?;
    Ok(limbs.chunks_exact(W::LIMBS).map(W::from_limbs).collect())
}

fn add_words<W: Word>(acc: &mut [W], other: &[W]) {
    for (a, b) in acc.iter_mut().zip(other) {
        *a = a.add(*b);
    }
}

/// Runs the secure sum of `input` (this member's vector; all members' vectors must have
/// the same length, which is part of the agreed job) and returns the total.
pub async fn secure_sum<T: Transport, W: Word>(
    t: &T,
    step: &StepId,
    input: &[W],
    rng: &mut impl Rng,
) -> Result<Vec<W>, NetError> {
    let parties = t.parties().to_vec();
    secure_sum_among(t, &parties, step, input, rng).await
}

/// [`secure_sum`] among `parties` only (other members of the session, such as a dealer
/// node, take no part and learn nothing).
pub async fn secure_sum_among<T: Transport, W: Word>(
    t: &T,
    parties: &[PartyId],
    step: &StepId,
    input: &[W],
    rng: &mut impl Rng,
) -> Result<Vec<W>, NetError> {
    let me = t.me();
    let others: Vec<PartyId> = parties.iter().copied().filter(|p| *p != me).collect();
    let len = input.len();
    // n − 1 uniformly random shares, and the last one so that they add up to the input.
    let mut mine: Vec<W> = input.to_vec();
    let mut outgoing = Vec::new();
    for p in &others {
        let share: Vec<W> = (0..len).map(|_| W::random(rng)).collect();
        for (m, s) in mine.iter_mut().zip(&share) {
            *m = m.sub(*s);
        }
        outgoing.push((*p, encode_words(&share)));
    }
    let share_step = step.child("share");
    futures_util::future::try_join_all(outgoing.into_iter().map(|(p, b)| t.send(p, &share_step, b))).await?;
    for (from, bytes) in t.gather_from(&others, &share_step).await? {
        add_words(&mut mine, &decode_words(from, &share_step, &bytes, len)?);
    }

    let open_step = step.child("open");
    t.send_to(&others, &open_step, encode_words(&mine)).await?;
    let mut total = mine;
    for (from, bytes) in t.gather_from(&others, &open_step).await? {
        add_words(&mut total, &decode_words(from, &open_step, &bytes, len)?);
    }
    echo(t, &others, step, &encode_words(&total)).await?;
    Ok(total)
}

/// Every member tells the others a digest of what it computed (`total`'s bytes); a
/// member that holds another total is named: it, or whoever sent it different values,
/// deviated. Each member's opening of its sum is what the digest binds, so two members
/// can agree only if they received the same values.
pub async fn echo<T: Transport>(t: &T, others: &[PartyId], step: &StepId, total: &[u8]) -> Result<(), NetError> {
    use sha2::{Digest, Sha256};
    let echo_step = step.child("echo");
    let mut h = Sha256::new();
    h.update(echo_step.as_str().as_bytes());
    h.update(total);
    let mine: [u8; 32] = h.finalize().into();
    t.send_to(others, &echo_step, bytes::Bytes::copy_from_slice(&mine)).await?;
    for (from, theirs) in t.gather_from(others, &echo_step).await? {
        if theirs.as_ref() != mine {
            return Err(NetError::PeerMisbehaved {
                party: from,
                step: echo_step.to_string(),
                what: "it holds a different total than this member: it or another member sent different members \
                       different values; nothing is reported"
                    .into(),
            });
        }
    }
    Ok(())
}
