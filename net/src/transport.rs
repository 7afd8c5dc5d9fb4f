//! The N-party transport trait every protocol is written against.

use std::future::Future;

use bytes::Bytes;

use crate::counters::CounterSnapshot;
use crate::error::NetError;
use crate::id::{PartyId, StepId};

/// Sends and receives messages among the members of one session.
///
/// Messages are addressed by party and tagged by [`StepId`]; a receive waits for the next
/// message of exactly that sender and step, so protocol steps that run concurrently never
/// read each other's messages. Every receive has a timeout, and any failure of any peer
/// (lost connection, abort) makes every later receive fail with an error naming it.
pub trait Transport: Send + Sync {
    /// This member.
    fn me(&self) -> PartyId;

    /// All members of the session, this one included, in increasing order.
    fn parties(&self) -> &[PartyId];

    /// Sends `payload` to `to` for `step`.
    fn send(&self, to: PartyId, step: &StepId, payload: Bytes) -> impl Future<Output = Result<(), NetError>> + Send;

    /// Receives the next message from `from` for `step`.
    fn recv(&self, from: PartyId, step: &StepId) -> impl Future<Output = Result<Bytes, NetError>> + Send;

    /// Like [`Transport::recv`] but waits up to `timeout` instead of the session's
    /// receive timeout: for a step that legitimately waits on other members' work (a
    /// turn in a sequential protocol). A lost peer or an abort still ends it at once.
    fn recv_within(
        &self,
        from: PartyId,
        step: &StepId,
        timeout: std::time::Duration,
    ) -> impl Future<Output = Result<Bytes, NetError>> + Send;

    /// Tells every peer that this member stops the job, with a reason for their logs.
    /// `blame` names the member whose failure caused the stop (`None`: this member's own
    /// fault), so the others report the culprit rather than the messenger.
    fn abort(&self, reason: &str, blame: Option<PartyId>) -> impl Future<Output = ()> + Send;

    /// Traffic so far.
    fn counters(&self) -> CounterSnapshot;

    /// Peers whose connection was lost, in a session that tolerates dropouts (always
    /// empty otherwise: there a lost peer fails the whole session).
    fn lost(&self) -> Vec<PartyId> {
        Vec::new()
    }

    /// The other members.
    fn peers(&self) -> Vec<PartyId> {
        let me = self.me();
        self.parties().iter().copied().filter(|p| *p != me).collect()
    }

    /// Sends the same payload to every other member.
    fn broadcast(&self, step: &StepId, payload: Bytes) -> impl Future<Output = Result<(), NetError>> + Send
    where
        Self: Sized,
    {
        async move { self.send_to(&self.peers(), step, payload).await }
    }

    /// Sends the same payload to each of `to` (a subset of the members, e.g. the
    /// clients of a split-learning job, or the members but not the dealer).
    fn send_to(
        &self,
        to: &[PartyId],
        step: &StepId,
        payload: Bytes,
    ) -> impl Future<Output = Result<(), NetError>> + Send
    where
        Self: Sized,
    {
        async move {
            let sends = to.iter().map(|p| self.send(*p, step, payload.clone()));
            futures_util::future::try_join_all(sends).await.map(|_| ())
        }
    }

    /// Receives one message for `step` from each of `from`, in the order given.
    fn gather_from(
        &self,
        from: &[PartyId],
        step: &StepId,
    ) -> impl Future<Output = Result<Vec<(PartyId, Bytes)>, NetError>> + Send
    where
        Self: Sized,
    {
        async move {
            let recvs = from.iter().map(|p| async move { self.recv(*p, step).await.map(|b| (*p, b)) });
            futures_util::future::try_join_all(recvs).await
        }
    }

    /// Receives one message for `step` from every other member, in party order.
    fn gather(&self, step: &StepId) -> impl Future<Output = Result<Vec<(PartyId, Bytes)>, NetError>> + Send
    where
        Self: Sized,
    {
        async move { self.gather_from(&self.peers(), step).await }
    }
}
