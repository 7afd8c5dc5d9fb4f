//! A checked sum of 128-bit integers inside the engine: every member inputs a vector of
//! the same length, and every member learns only the total, after a MAC check in
//! malicious mode. This is what the pooled statistics of a training job use, so that
//! "malicious" holds from the first message: each member's contribution is fixed (as a
//! MACed input) before anything is opened, a member that sends different members
//! different masked inputs or openings is caught by the transcript check, and a changed
//! share is caught by the MAC check — before the totals are used.
//!
//! The engine's values live in Z_2^64, the totals of the statistics need up to 124 bits.
//! Each 128-bit word is cut into limbs of 56, 56 and 16 bits; with at most
//! [`MAX_SUM_MEMBERS`] members no limb total reaches 2^64, so the limb totals are exact
//! integers and recombine to the wrapping sum mod 2^128 of the members' words — the
//! same total [`crate::additive::secure_sum`] over `u128` yields.

use consort_net::{StepId, Transport};

use super::prep::Preprocessing;
use super::{Engine, MpcError};
use crate::stats::{self, LocalColumns, StatsResult, StatsSpec};

/// Most members a checked sum takes: 255 · (2^56 − 1) < 2^64.
pub const MAX_SUM_MEMBERS: usize = 255;

const LIMB: u32 = 56;
const LIMB_MASK: u128 = (1 << LIMB) - 1;

/// The three limbs of a word, low first.
fn limbs(w: u128) -> [u64; 3] {
    [(w & LIMB_MASK) as u64, ((w >> LIMB) & LIMB_MASK) as u64, (w >> (2 * LIMB)) as u64]
}

/// The wrapping sum mod 2^128 of the words whose limbs add up to `l`.
fn recombine(l: [u64; 3]) -> u128 {
    let [a, b, c] = l.map(u128::from);
    a.wrapping_add(b << LIMB).wrapping_add(c << (2 * LIMB))
}

impl<T: Transport, P: Preprocessing> Engine<'_, T, P> {
    /// Every member inputs `mine` (the same length for all, fixed by the job); returns
    /// the sum of all members' vectors mod 2^128, revealed to every member after a MAC
    /// check (malicious mode). Costs one input round and one checked opening.
    pub async fn checked_sum(&mut self, step: &StepId, mine: &[u128]) -> Result<Vec<u128>, MpcError> {
        let n = self.members.len();
        if n > MAX_SUM_MEMBERS {
            return Err(MpcError::usage(
                step,
                format!("a checked sum takes at most {MAX_SUM_MEMBERS} members, not {n}"),
            ));
        }
        let len = mine.len();
        let cols = len.checked_mul(3).ok_or_else(|| MpcError::usage(step, "too many values"))?;
        let limbs: Vec<u64> = mine.iter().flat_map(|w| limbs(*w)).collect();
        let blocks = self.input_each(&step.child("in"), cols, &limbs, &vec![1; n]).await?;
        let mut parts = blocks.into_iter();
        let mut total = parts.next().ok_or_else(|| MpcError::usage(step, "no members"))?;
        for b in parts {
            total = total.add(&b)?;
        }
        let opened = self.reveal(&step.child("total"), &total).await?;
        Ok(opened
            .chunks_exact(3)
            .map(|c| match c {
                [a, b, c] => recombine([*a, *b, *c]),
                _ => 0,
            })
            .collect())
    }
}

impl<T: Transport, P: Preprocessing> Engine<'_, T, P> {
    /// The pooled statistics of `spec` over every member's `data`, both rounds of
    /// [`crate::stats`] carried by [`Engine::checked_sum`]: the same totals, hence the
    /// same figures, as the additive protocol, with malicious security in that mode.
    pub async fn pooled_stats(&mut self, spec: &StatsSpec, data: &LocalColumns) -> Result<StatsResult, MpcError> {
        let local = stats::local_aggregates(spec, data)?;
        let round1 = self.checked_sum(&StepId::root(stats::ROUND1), &local).await?;
        let centred = stats::second_round(spec, data, &round1)?;
        let round2 = self.checked_sum(&stats::round2_step(), &centred).await?;
        Ok(stats::finish(spec, self.members.len(), &round1, &round2)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn limb_sums_recombine_to_the_wrapping_sum(ws in proptest::collection::vec(any::<u128>(), 1..=MAX_SUM_MEMBERS)) {
            let mut acc = [0u64; 3];
            for w in &ws {
                for (a, l) in acc.iter_mut().zip(limbs(*w)) {
                    // Exact: the limb totals never wrap.
                    *a = a.checked_add(l).unwrap_or_else(|| panic!("limb total wrapped"));
                }
            }
            let want = ws.iter().fold(0u128, |s, w| s.wrapping_add(*w));
            prop_assert_eq!(recombine(acc), want);
        }
    }
}
