//! In-memory network for unit tests and in-process simulation: N members in one process,
//! with emulated latency and a hook that sees every message and may drop or tamper
//! with it (fault injection, wire inspection).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::counters::{CounterSnapshot, Counters};
use crate::error::NetError;
use crate::id::{PartyId, StepId};
use crate::mailbox::Mailbox;
use crate::transport::Transport;

/// One message in flight, as the fault hook sees it.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub from: PartyId,
    pub to: PartyId,
    pub step: &'a StepId,
    /// The body; the hook may rewrite it (tampering).
    pub payload: &'a mut Vec<u8>,
}

/// What the hook decides for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Deliver,
    Drop,
}

type Hook = dyn Fn(&mut Envelope<'_>) -> Verdict + Send + Sync;

/// Builds a set of connected in-memory members.
pub struct MemoryNetwork {
    n: u16,
    latency: Duration,
    recv_timeout: Duration,
    hook: Option<Arc<Hook>>,
    tolerate_dropouts: bool,
}

impl MemoryNetwork {
    /// `n` members, no latency, a 10 s receive timeout.
    pub fn new(n: u16) -> MemoryNetwork {
        MemoryNetwork {
            n,
            latency: Duration::ZERO,
            recv_timeout: Duration::from_secs(10),
            hook: None,
            tolerate_dropouts: false,
        }
    }

    /// A member that [vanishes](MemoryTransport::vanish) fails only the receives from it.
    pub fn tolerate_dropouts(mut self) -> Self {
        self.tolerate_dropouts = true;
        self
    }

    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub fn recv_timeout(mut self, timeout: Duration) -> Self {
        self.recv_timeout = timeout;
        self
    }

    /// Installs a hook that sees every message before delivery.
    pub fn hook(mut self, hook: impl Fn(&mut Envelope<'_>) -> Verdict + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// One transport per member, in party order.
    pub fn build(self) -> Vec<MemoryTransport> {
        let parties: Arc<[PartyId]> = (0..self.n).map(PartyId).collect();
        let mailboxes: Arc<[Arc<Mailbox>]> =
            (0..self.n).map(|_| Mailbox::new(self.latency, self.tolerate_dropouts)).collect();
        let counters: Arc<[Arc<Counters>]> = (0..self.n).map(|_| Arc::new(Counters::default())).collect();
        parties
            .iter()
            .map(|&me| MemoryTransport {
                me,
                parties: Arc::clone(&parties),
                mailboxes: Arc::clone(&mailboxes),
                counters: Arc::clone(&counters),
                recv_timeout: self.recv_timeout,
                hook: self.hook.clone(),
            })
            .collect()
    }
}

/// One member's end of a [`MemoryNetwork`].
#[derive(Clone)]
pub struct MemoryTransport {
    me: PartyId,
    parties: Arc<[PartyId]>,
    mailboxes: Arc<[Arc<Mailbox>]>,
    counters: Arc<[Arc<Counters>]>,
    recv_timeout: Duration,
    hook: Option<Arc<Hook>>,
}

impl MemoryTransport {
    fn mailbox(&self, p: PartyId) -> Result<&Arc<Mailbox>, NetError> {
        self.mailboxes.get(p.index()).ok_or_else(|| NetError::Misuse(format!("{p} is not a member")))
    }

    fn my_counters(&self) -> Option<&Arc<Counters>> {
        self.counters.get(self.me.index())
    }

    /// Emulates this member's process dying: every peer sees its connection lost.
    pub fn vanish(&self) {
        for p in self.parties.iter().filter(|p| **p != self.me) {
            if let Ok(mb) = self.mailbox(*p) {
                mb.fail(NetError::PeerLost { party: self.me, reason: "vanished".into() });
            }
        }
    }
}

impl Transport for MemoryTransport {
    fn me(&self) -> PartyId {
        self.me
    }

    fn parties(&self) -> &[PartyId] {
        &self.parties
    }

    async fn send(&self, to: PartyId, step: &StepId, payload: Bytes) -> Result<(), NetError> {
        if to == self.me {
            return Err(NetError::Misuse(format!("{} sent to itself at step '{step}'", self.me)));
        }
        let target = self.mailbox(to)?;
        let len = payload.len() + step.as_str().len();
        if let Some(c) = self.my_counters() {
            c.on_send(len);
        }
        let payload = match &self.hook {
            None => payload,
            Some(hook) => {
                let mut body = payload.to_vec();
                let verdict = hook(&mut Envelope { from: self.me, to, step, payload: &mut body });
                if verdict == Verdict::Drop {
                    return Ok(());
                }
                Bytes::from(body)
            }
        };
        if let Some(c) = self.counters.get(to.index()) {
            c.on_arrival(payload.len() + step.as_str().len());
        }
        target.deliver(self.me, step.clone(), payload);
        Ok(())
    }

    async fn recv(&self, from: PartyId, step: &StepId) -> Result<Bytes, NetError> {
        self.recv_within(from, step, self.recv_timeout).await
    }

    async fn recv_within(&self, from: PartyId, step: &StepId, timeout: Duration) -> Result<Bytes, NetError> {
        let msg = self.mailbox(self.me)?.recv(from, step, timeout).await?;
        if let Some(c) = self.my_counters() {
            c.on_recv();
        }
        Ok(msg)
    }

    async fn abort(&self, reason: &str, blame: Option<PartyId>) {
        for p in self.peers() {
            if let Ok(mb) = self.mailbox(p) {
                mb.fail(NetError::from_abort(self.me, reason.to_string(), blame, p));
            }
        }
    }

    fn lost(&self) -> Vec<PartyId> {
        self.mailbox(self.me).map(|m| m.lost()).unwrap_or_default()
    }

    fn counters(&self) -> CounterSnapshot {
        self.my_counters().map(|c| c.snapshot()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn broadcast_and_gather() {
        let nodes = MemoryNetwork::new(3).build();
        let step = StepId::root("hello");
        for n in &nodes {
            n.broadcast(&step, Bytes::from(vec![n.me().0 as u8])).await.unwrap();
        }
        for n in &nodes {
            let got = n.gather(&step).await.unwrap();
            let senders: Vec<u8> = got
                .iter()
                .map(|(p, b)| {
                    assert_eq!(b[0], p.0 as u8);
                    b[0]
                })
                .collect();
            assert_eq!(senders.len(), 2);
            assert!(!senders.contains(&(n.me().0 as u8)));
        }
        assert_eq!(nodes[0].counters().rounds, 1);
    }

    #[tokio::test]
    async fn hook_can_drop_and_tamper() {
        let nodes = MemoryNetwork::new(2)
            .recv_timeout(Duration::from_millis(50))
            .hook(|env| {
                if env.step.as_str() == "drop" {
                    return Verdict::Drop;
                }
                if let Some(b) = env.payload.first_mut() {
                    *b ^= 1;
                }
                Verdict::Deliver
            })
            .build();
        nodes[0].send(PartyId(1), &StepId::root("t"), Bytes::from_static(&[4])).await.unwrap();
        assert_eq!(&nodes[1].recv(PartyId(0), &StepId::root("t")).await.unwrap()[..], &[5]);
        nodes[0].send(PartyId(1), &StepId::root("drop"), Bytes::from_static(&[4])).await.unwrap();
        let err = nodes[1].recv(PartyId(0), &StepId::root("drop")).await.unwrap_err();
        assert!(matches!(err, NetError::Timeout { party: PartyId(0), .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn latency_delays_delivery() {
        let nodes = MemoryNetwork::new(2).latency(Duration::from_millis(30)).build();
        let t0 = tokio::time::Instant::now();
        nodes[0].send(PartyId(1), &StepId::root("t"), Bytes::from_static(b"x")).await.unwrap();
        nodes[1].recv(PartyId(0), &StepId::root("t")).await.unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn abort_reaches_every_peer() {
        let nodes = MemoryNetwork::new(3).build();
        nodes[2].abort("bad input", None).await;
        let err = nodes[0].recv(PartyId(1), &StepId::root("x")).await.unwrap_err();
        assert_eq!(err.to_string(), "party 2 aborted the job: bad input");
        let nodes = MemoryNetwork::new(3).build();
        nodes[2].abort("lost party 1", Some(PartyId(1))).await;
        let err = nodes[0].recv(PartyId(2), &StepId::root("x")).await.unwrap_err();
        assert_eq!(err.to_string(), "party 1 failed, as reported by party 2: lost party 1");
    }
}
