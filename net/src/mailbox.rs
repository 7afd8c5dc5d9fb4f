//! Demultiplexes arriving messages by (sender, step), so concurrent protocol steps never
//! mix, and turns any peer failure into an error for every waiting receive: a member
//! that disappears stops the whole session instead of leaving others hanging.
//!
//! A session that tolerates dropouts (federated averaging) instead records a lost peer
//! on its own: receives from that peer fail, receives from the others go on.
//!
//! Each peer has a byte budget: the bytes of its messages that are arriving or waiting
//! unread may not exceed it, nor may it keep more than [`MAX_PENDING_STEPS`] steps
//! waiting. A peer that floods a member (messages for steps that never come, frames
//! announced but trickled) is named and the session fails, within a memory bound of
//! one budget per peer.
//!
//! Every protocol sends at most one message per (sender, step): a second one, whether
//! the first is still waiting or was already read, is a replay or a duplicate, and the
//! sender is named.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::error::NetError;
use crate::id::{PartyId, StepId};

/// Most distinct steps one peer may have waiting unread.
pub const MAX_PENDING_STEPS: usize = 1 << 16;

#[derive(Default)]
struct State {
    /// At most one message per (sender, step): a second one is refused.
    queues: HashMap<(PartyId, StepId), Bytes>,
    /// Per peer: bytes arriving or queued unread, and steps waiting.
    held: HashMap<PartyId, (usize, usize)>,
    failure: Option<NetError>,
    done: HashSet<PartyId>,
    closing: bool,
    /// Peers whose connection was lost, in a session that tolerates dropouts.
    lost: HashMap<PartyId, NetError>,
    /// Digests of the (sender, step) pairs already read: 8 bytes per message received.
    read: HashSet<u64>,
}

/// A digest of (sender, step) for the set of steps already read. SipHash with fixed
/// keys: the set only ever holds keys of messages this member itself chose to read.
fn key_digest(from: PartyId, step: &StepId) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    from.hash(&mut h);
    step.as_str().hash(&mut h);
    h.finish()
}

/// Inbound messages of one member.
#[derive(Default)]
pub(crate) struct Mailbox {
    state: Mutex<State>,
    notify: Notify,
    /// Emulated one-way latency applied to every arriving message.
    latency: Duration,
    /// A lost peer fails only the receives from that peer.
    tolerate_dropouts: bool,
    /// Bytes a peer may have arriving or waiting unread.
    budget: usize,
}

impl Mailbox {
    pub(crate) fn new(latency: Duration, tolerate_dropouts: bool) -> Arc<Mailbox> {
        Mailbox::with_budget(latency, tolerate_dropouts, usize::MAX)
    }

    pub(crate) fn with_budget(latency: Duration, tolerate_dropouts: bool, budget: usize) -> Arc<Mailbox> {
        Arc::new(Mailbox { latency, tolerate_dropouts, budget, ..Mailbox::default() })
    }

    /// Counts `n` more bytes of `from` (a frame arriving): refused, naming it, beyond
    /// its budget. The bytes stay counted until the message is received or dropped.
    pub(crate) fn charge(&self, from: PartyId, n: usize) -> Result<(), NetError> {
        let mut s = self.lock();
        let held = s.held.entry(from).or_default();
        let total = held.0.saturating_add(n);
        if total > self.budget {
            return Err(NetError::PeerMisbehaved {
                party: from,
                step: "mailbox".into(),
                what: format!(
                    "it has {total} bytes arriving or waiting unread, more than the {} bytes a peer may hold",
                    self.budget
                ),
            });
        }
        held.0 = total;
        Ok(())
    }

    /// Uncounts `n` bytes of `from` (received, or a frame that failed).
    pub(crate) fn release(&self, from: PartyId, n: usize) {
        let mut s = self.lock();
        if let Some(h) = s.held.get_mut(&from) {
            h.0 = h.0.saturating_sub(n);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked while holding it; the queue
        // data is still consistent (every mutation is a single push/pop).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a message, after the emulated latency if one is set.
    pub(crate) fn deliver(self: &Arc<Self>, from: PartyId, step: StepId, body: Bytes) {
        if self.latency.is_zero() {
            self.push(from, step, body);
        } else {
            let me = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(me.latency).await;
                me.push(from, step, body);
            });
        }
    }

    fn push(&self, from: PartyId, step: StepId, body: Bytes) {
        let flooded = {
            let mut s = self.lock();
            let duplicate = s.read.contains(&key_digest(from, &step)) || s.queues.contains_key(&(from, step.clone()));
            let held = s.held.entry(from).or_default();
            if duplicate {
                Some((step.to_string(), "it sent a second message for this step (a duplicate or a replay)".into()))
            } else if held.1 >= MAX_PENDING_STEPS {
                Some((
                    "mailbox".into(),
                    format!("it has {} steps waiting unread (at most {MAX_PENDING_STEPS})", held.1),
                ))
            } else {
                held.1 += 1;
                s.queues.insert((from, step), body);
                None
            }
        };
        match flooded {
            Some((step, what)) => self.fail(NetError::PeerMisbehaved { party: from, step, what }),
            None => self.notify.notify_waiters(),
        }
    }

    /// Records a failure; the first one wins and every receive returns it from now on.
    pub(crate) fn fail(&self, err: NetError) {
        {
            let mut s = self.lock();
            if s.closing && matches!(err, NetError::PeerLost { .. }) {
                return;
            }
            if let (true, NetError::PeerLost { party, .. }) = (self.tolerate_dropouts, &err) {
                s.lost.entry(*party).or_insert(err);
            } else if s.failure.is_none() {
                s.failure = Some(err);
            }
        }
        self.notify.notify_waiters();
    }

    pub(crate) fn mark_done(&self, from: PartyId) {
        self.lock().done.insert(from);
        self.notify.notify_waiters();
    }

    /// After this, connections closing is expected and no longer a failure.
    pub(crate) fn set_closing(&self) {
        self.lock().closing = true;
    }

    pub(crate) fn failure(&self) -> Option<NetError> {
        self.lock().failure.clone()
    }

    /// Peers lost so far (only ever non-empty when dropouts are tolerated).
    pub(crate) fn lost(&self) -> Vec<PartyId> {
        let mut v: Vec<PartyId> = self.lock().lost.keys().copied().collect();
        v.sort();
        v
    }

    /// Waits until `ready` finds what the caller wants in the state, or a failure is
    /// recorded, or `timeout` passes (`None`). The notification is armed before the state
    /// is checked, so a wake-up between the check and the wait cannot be missed.
    async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&mut State) -> Option<T>,
        watch: Option<PartyId>,
    ) -> Option<Result<T, NetError>> {
        let wait = async {
            loop {
                let notified = self.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let mut s = self.lock();
                    if let Some(v) = ready(&mut s) {
                        return Ok(v);
                    }
                    if let Some(err) = &s.failure {
                        return Err(err.clone());
                    }
                    if let Some(err) = watch.and_then(|p| s.lost.get(&p)) {
                        return Err(err.clone());
                    }
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// Waits for the next message from `from` at `step`.
    pub(crate) async fn recv(&self, from: PartyId, step: &StepId, timeout: Duration) -> Result<Bytes, NetError> {
        let key = (from, step.clone());
        let got = self
            .wait_until(
                timeout,
                |s| {
                    let msg = s.queues.remove(&key)?;
                    s.read.insert(key_digest(from, step));
                    if let Some(h) = s.held.get_mut(&from) {
                        h.0 = h.0.saturating_sub(msg.len());
                        h.1 = h.1.saturating_sub(1);
                    }
                    Some(msg)
                },
                Some(from),
            )
            .await;
        got.unwrap_or_else(|| Err(NetError::Timeout { party: from, step: step.to_string(), after: timeout }))
    }

    /// Waits until every party in `peers` has said it is done.
    pub(crate) async fn wait_done(&self, peers: &[PartyId], timeout: Duration) -> Result<(), NetError> {
        let all_done = |s: &mut State| peers.iter().all(|p| s.done.contains(p) || s.lost.contains_key(p)).then_some(());
        match self.wait_until(timeout, all_done, None).await {
            Some(r) => r,
            None => {
                let missing = {
                    let s = self.lock();
                    peers.iter().copied().find(|p| !s.done.contains(p) && !s.lost.contains_key(p))
                };
                match missing {
                    Some(p) => Err(NetError::Timeout { party: p, step: "done".into(), after: timeout }),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_are_kept_apart_by_step_and_sender() {
        let m = Mailbox::new(Duration::ZERO, false);
        let (a, b) = (StepId::root("a"), StepId::root("b"));
        m.deliver(PartyId(1), b.clone(), Bytes::from_static(b"B"));
        m.deliver(PartyId(1), a.clone(), Bytes::from_static(b"A"));
        m.deliver(PartyId(2), a.clone(), Bytes::from_static(b"A2"));
        let t = Duration::from_secs(1);
        assert_eq!(&m.recv(PartyId(1), &a, t).await.unwrap()[..], b"A");
        assert_eq!(&m.recv(PartyId(2), &a, t).await.unwrap()[..], b"A2");
        assert_eq!(&m.recv(PartyId(1), &b, t).await.unwrap()[..], b"B");
    }

    #[tokio::test]
    async fn a_peer_beyond_its_budget_is_named_and_what_is_read_is_released() {
        let m = Mailbox::with_budget(Duration::ZERO, false, 100);
        m.charge(PartyId(1), 60).unwrap();
        m.deliver(PartyId(1), StepId::root("a"), Bytes::from(vec![0u8; 60]));
        let err = m.charge(PartyId(1), 41).unwrap_err();
        assert_eq!(
            err.to_string(),
            "party 1 misbehaved at step 'mailbox': it has 101 bytes arriving or waiting unread, more than the 100 \
             bytes a peer may hold"
        );
        // Another peer has its own budget; reading releases the bytes.
        m.charge(PartyId(2), 100).unwrap();
        m.recv(PartyId(1), &StepId::root("a"), Duration::from_secs(1)).await.unwrap();
        m.charge(PartyId(1), 100).unwrap();
    }

    #[tokio::test]
    async fn a_peer_with_too_many_steps_waiting_is_named() {
        let m = Mailbox::new(Duration::ZERO, false);
        for k in 0..=MAX_PENDING_STEPS as u64 {
            m.deliver(PartyId(3), StepId::root("s").index(k), Bytes::new());
        }
        let err = m.recv(PartyId(3), &StepId::root("x"), Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "party 3 misbehaved at step 'mailbox': it has {MAX_PENDING_STEPS} steps waiting unread (at most {MAX_PENDING_STEPS})"
            )
        );
    }

    #[tokio::test]
    async fn a_second_message_for_a_step_is_refused_naming_the_sender() {
        let t = Duration::from_secs(1);
        let (a, b) = (StepId::root("a"), StepId::root("b"));
        // Still waiting unread.
        let m = Mailbox::new(Duration::ZERO, false);
        m.deliver(PartyId(1), a.clone(), Bytes::from_static(b"1"));
        m.deliver(PartyId(2), a.clone(), Bytes::from_static(b"other sender"));
        m.deliver(PartyId(1), a.clone(), Bytes::from_static(b"2"));
        let err = m.recv(PartyId(2), &b, t).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "party 1 misbehaved at step 'a': it sent a second message for this step (a duplicate or a replay)"
        );
        // Already read: a replay of an old message.
        let m = Mailbox::new(Duration::ZERO, false);
        m.deliver(PartyId(1), a.clone(), Bytes::from_static(b"1"));
        assert_eq!(&m.recv(PartyId(1), &a, t).await.unwrap()[..], b"1");
        m.deliver(PartyId(1), a.clone(), Bytes::from_static(b"1"));
        let err = m.recv(PartyId(1), &b, t).await.unwrap_err();
        assert!(err.to_string().starts_with("party 1 misbehaved at step 'a': it sent a second message"), "{err}");
    }

    #[tokio::test]
    async fn receive_times_out_naming_the_party() {
        let m = Mailbox::new(Duration::ZERO, false);
        let err = m.recv(PartyId(4), &StepId::root("x"), Duration::from_millis(20)).await.unwrap_err();
        assert_eq!(err.to_string(), "timed out after 0.0s waiting for party 4 at step 'x'");
    }

    #[tokio::test]
    async fn a_failure_wakes_waiting_receivers() {
        let m = Mailbox::new(Duration::ZERO, false);
        let m2 = Arc::clone(&m);
        let waiter =
            tokio::spawn(async move { m2.recv(PartyId(1), &StepId::root("x"), Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        m.fail(NetError::PeerLost { party: PartyId(2), reason: "killed".into() });
        let err = waiter.await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "lost the connection to party 2: killed");
    }

    #[tokio::test]
    async fn a_tolerant_mailbox_fails_only_the_lost_peer() {
        let m = Mailbox::new(Duration::ZERO, true);
        m.deliver(PartyId(2), StepId::root("x"), Bytes::from_static(b"before"));
        m.fail(NetError::PeerLost { party: PartyId(2), reason: "killed".into() });
        m.deliver(PartyId(1), StepId::root("x"), Bytes::from_static(b"alive"));
        let t = Duration::from_secs(1);
        // What the lost peer sent before it vanished is still delivered, then its loss.
        assert_eq!(&m.recv(PartyId(2), &StepId::root("x"), t).await.unwrap()[..], b"before");
        let err = m.recv(PartyId(2), &StepId::root("x"), t).await.unwrap_err();
        assert_eq!(err.to_string(), "lost the connection to party 2: killed");
        assert_eq!(&m.recv(PartyId(1), &StepId::root("x"), t).await.unwrap()[..], b"alive");
        assert_eq!(m.lost(), vec![PartyId(2)]);
        m.mark_done(PartyId(1));
        m.wait_done(&[PartyId(1), PartyId(2)], t).await.unwrap();
    }
}
