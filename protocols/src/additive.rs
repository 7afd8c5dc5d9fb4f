//! Secure summation by additive secret sharing: every member contributes a vector; all
//! members learn the elementwise sum over Z_2^64 and nothing else.
//!
//! Two steps, one round each:
//! 1. `share`: each member splits its vector into `n` random shares and sends share `j`
//!    to member `j` (it keeps its own);
//! 2. `open`: each member adds the shares it holds (one from each member) and broadcasts
//!    that sum; everyone adds the `n` sums.
//!
//! # Security (semi-honest)
//! Every message of step 1 is uniformly random. The sums opened in step 2 are uniformly
//! random subject to adding up to the total, so any coalition of up to `n-2` members
//! learns only the total (and whatever the total and its own inputs imply: with two
//! members, the total minus your contribution is the other's). A member that deviates
//! can make the result wrong; detecting that needs the MACs of the malicious mode.

use consort_net::{NetError, PartyId, StepId, Transport, decode_u64s, encode_u64s};
use rand_core::Rng;

use crate::share::{add_assign, share_vec};

/// Runs the secure sum of `input` (this member's vector; all members' vectors must have
/// the same length, which is part of the agreed job) and returns the total.
pub async fn secure_sum<T: Transport>(
    t: &T,
    step: &StepId,
    input: &[u64],
    rng: &mut impl Rng,
) -> Result<Vec<u64>, NetError> {
    let parties = t.parties().to_vec();
    secure_sum_among(t, &parties, step, input, rng).await
}

/// [`secure_sum`] among `parties` only (other members of the session, such as a dealer
/// node, take no part and learn nothing).
pub async fn secure_sum_among<T: Transport>(
    t: &T,
    parties: &[PartyId],
    step: &StepId,
    input: &[u64],
    rng: &mut impl Rng,
) -> Result<Vec<u64>, NetError> {
    let me = t.me();
    let others: Vec<PartyId> = parties.iter().copied().filter(|p| *p != me).collect();
    let len = input.len();
    let mut shares = share_vec(input, parties.len(), rng);

    let share_step = step.child("share");
    let mut mine = Vec::new();
    let mut outgoing = Vec::new();
    for (p, s) in parties.iter().zip(shares.drain(..)) {
        if *p == me {
            mine = s;
        } else {
            outgoing.push((*p, encode_u64s(&s)));
        }
    }
    futures_util::future::try_join_all(outgoing.into_iter().map(|(p, b)| t.send(p, &share_step, b))).await?;
    for (from, bytes) in t.gather_from(&others, &share_step).await? {
        add_assign(&mut mine, &decode_u64s(from, &share_step, &bytes, len)?);
    }

    let open_step = step.child("open");
    t.send_to(&others, &open_step, encode_u64s(&mine)).await?;
    let mut total = mine;
    for (from, bytes) in t.gather_from(&others, &open_step).await? {
        add_assign(&mut total, &decode_u64s(from, &open_step, &bytes, len)?);
    }
    Ok(total)
}
