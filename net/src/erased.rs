//! [`DynTransport`]: any [`Transport`] behind one concrete type.
//!
//! [`Transport`] returns `impl Future`, so it is not object safe. Backends are picked at
//! run time from the job spec (`Arc<dyn Backend>` in the party node) and must run over
//! QUIC in a node and over the in-memory network in tests, so they take a
//! `DynTransport`: one boxed future per message, which is noise next to a network
//! round trip, and protocol code stays generic over `T: Transport` underneath.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use crate::counters::CounterSnapshot;
use crate::error::NetError;
use crate::id::{PartyId, StepId};
use crate::transport::Transport;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe face of a [`Transport`]; implemented for every transport.
trait Erased: Send + Sync {
    fn me(&self) -> PartyId;
    fn parties(&self) -> &[PartyId];
    fn send<'a>(&'a self, to: PartyId, step: &'a StepId, payload: Bytes) -> BoxFuture<'a, Result<(), NetError>>;
    fn recv_within<'a>(
        &'a self,
        from: PartyId,
        step: &'a StepId,
        timeout: Option<Duration>,
    ) -> BoxFuture<'a, Result<Bytes, NetError>>;
    fn abort<'a>(&'a self, reason: &'a str, blame: Option<PartyId>) -> BoxFuture<'a, ()>;
    fn counters(&self) -> CounterSnapshot;
    fn lost(&self) -> Vec<PartyId>;
}

impl<T: Transport> Erased for T {
    fn me(&self) -> PartyId {
        Transport::me(self)
    }
    fn parties(&self) -> &[PartyId] {
        Transport::parties(self)
    }
    fn send<'a>(&'a self, to: PartyId, step: &'a StepId, payload: Bytes) -> BoxFuture<'a, Result<(), NetError>> {
        Box::pin(Transport::send(self, to, step, payload))
    }
    fn recv_within<'a>(
        &'a self,
        from: PartyId,
        step: &'a StepId,
        timeout: Option<Duration>,
    ) -> BoxFuture<'a, Result<Bytes, NetError>> {
        match timeout {
            Some(t) => Box::pin(Transport::recv_within(self, from, step, t)),
            None => Box::pin(Transport::recv(self, from, step)),
        }
    }
    fn abort<'a>(&'a self, reason: &'a str, blame: Option<PartyId>) -> BoxFuture<'a, ()> {
        Box::pin(Transport::abort(self, reason, blame))
    }
    fn counters(&self) -> CounterSnapshot {
        Transport::counters(self)
    }
    fn lost(&self) -> Vec<PartyId> {
        Transport::lost(self)
    }
}

/// A borrowed transport of any kind, itself a [`Transport`].
#[derive(Clone, Copy)]
pub struct DynTransport<'a> {
    inner: &'a dyn Erased,
}

impl<'a> DynTransport<'a> {
    pub fn new<T: Transport>(t: &'a T) -> Self {
        DynTransport { inner: t }
    }
}

impl std::fmt::Debug for DynTransport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DynTransport({})", self.inner.me())
    }
}

impl Transport for DynTransport<'_> {
    fn me(&self) -> PartyId {
        self.inner.me()
    }

    fn parties(&self) -> &[PartyId] {
        self.inner.parties()
    }

    async fn send(&self, to: PartyId, step: &StepId, payload: Bytes) -> Result<(), NetError> {
        self.inner.send(to, step, payload).await
    }

    async fn recv(&self, from: PartyId, step: &StepId) -> Result<Bytes, NetError> {
        self.inner.recv_within(from, step, None).await
    }

    async fn recv_within(&self, from: PartyId, step: &StepId, timeout: Duration) -> Result<Bytes, NetError> {
        self.inner.recv_within(from, step, Some(timeout)).await
    }

    async fn abort(&self, reason: &str, blame: Option<PartyId>) {
        self.inner.abort(reason, blame).await
    }

    fn counters(&self) -> CounterSnapshot {
        self.inner.counters()
    }

    fn lost(&self) -> Vec<PartyId> {
        self.inner.lost()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::DynTransport;
    use crate::{MemoryNetwork, PartyId, StepId, Transport};

    #[tokio::test]
    async fn a_dyn_transport_carries_messages_and_counts_them() {
        let nodes = MemoryNetwork::new(2).build();
        let (a, b) = (DynTransport::new(&nodes[0]), DynTransport::new(&nodes[1]));
        let step = StepId::root("erased");
        a.send(PartyId(1), &step, Bytes::from_static(b"hi")).await.unwrap();
        assert_eq!(b.recv(PartyId(0), &step).await.unwrap(), Bytes::from_static(b"hi"));
        assert_eq!(a.counters().messages_sent, 1);
        assert_eq!(b.parties(), &[PartyId(0), PartyId(1)]);
        a.abort("stop", None).await;
        let e = b.recv(PartyId(0), &StepId::root("next")).await.unwrap_err();
        assert!(e.to_string().contains("party 0"), "{e}");
    }
}
