//! Demultiplexes arriving messages by (sender, step), so concurrent protocol steps never
//! mix, and turns any peer failure into an error for every waiting receive: a member
//! that disappears stops the whole session instead of leaving others hanging.
//!
//! A session that tolerates dropouts (federated averaging) instead records a lost peer
//! on its own: receives from that peer fail, receives from the others go on.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::error::NetError;
use crate::id::{PartyId, StepId};

#[derive(Default)]
struct State {
    queues: HashMap<(PartyId, StepId), VecDeque<Bytes>>,
    failure: Option<NetError>,
    done: HashSet<PartyId>,
    closing: bool,
    /// Peers whose connection was lost, in a session that tolerates dropouts.
    lost: HashMap<PartyId, NetError>,
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
}

impl Mailbox {
    pub(crate) fn new(latency: Duration, tolerate_dropouts: bool) -> Arc<Mailbox> {
        Arc::new(Mailbox { latency, tolerate_dropouts, ..Mailbox::default() })
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
        self.lock().queues.entry((from, step)).or_default().push_back(body);
        self.notify.notify_waiters();
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
                    let q = s.queues.get_mut(&key)?;
                    let msg = q.pop_front();
                    if q.is_empty() {
                        s.queues.remove(&key);
                    }
                    msg
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
