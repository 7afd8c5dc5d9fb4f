//! QUIC transport: a full mesh among the members over quinn, mutual TLS 1.3 with the
//! consortium CA, one unidirectional stream per message.
//!
//! A stream per message costs one frame of overhead and lets large share vectors and
//! small control messages travel side by side without head-of-line blocking.

mod mesh;
mod reader;
mod session;
mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quinn::{Connection, Endpoint, TransportConfig, VarInt};
use tracing::debug;

pub use mesh::cert_fingerprint;
pub use session::JobBinding;
use session::Sessions;
pub use tls::{ALPN, Identity, cert_party_ids};

use crate::counters::{CounterSnapshot, Counters};
use crate::error::NetError;
use crate::frame::{FrameKind, Header, WIRE_VERSION};
use crate::id::{PartyId, SessionId, StepId};
use crate::link::{LinkEmulation, Shaper};
use crate::mailbox::Mailbox;
use crate::transport::Transport;

/// Close code of a member that aborts through its own fault.
const CLOSE_ABORT: u32 = 2;
/// Close code `CLOSE_BLAME_BASE + p`: the member stops because member `p` failed.
const CLOSE_BLAME_BASE: u32 = 0x100;

/// Everything a member needs to join the mesh.
#[derive(Clone, Debug)]
pub struct QuicConfig {
    pub me: PartyId,
    /// Local address to bind.
    pub listen: SocketAddr,
    /// Every member (this one included) and the address where it listens.
    pub roster: Vec<(PartyId, SocketAddr)>,
    pub session: SessionId,
    /// How long start-up waits for all members to be connected.
    pub connect_window: Duration,
    /// How long any receive waits before naming the silent member.
    pub recv_timeout: Duration,
    /// QUIC idle timeout: a killed peer is noticed within this time.
    pub idle_timeout: Duration,
    /// Largest accepted message body, checked before allocating.
    pub max_frame: u64,
    pub link: LinkEmulation,
    /// A lost peer fails only the receives from it, instead of the whole session (for
    /// protocols that carry on without members that vanish, such as federated averaging).
    pub tolerate_dropouts: bool,
    /// SHA-256 fingerprints of certificates this node refuses although the CA signed
    /// them (revoked members, replaced certificates).
    pub revoked: Vec<[u8; 32]>,
    /// Bytes one peer may have arriving or waiting unread at this node (the memory a
    /// peer can make it hold); beyond, the peer is named and the session fails.
    pub peer_budget: u64,
    /// The job the session is bound to (see [`JobBinding`]); none for tools that run no
    /// job (benchmarks).
    pub job: Option<JobBinding>,
}

impl QuicConfig {
    /// Defaults suited to a consortium on a WAN: 60 s to start, 60 s per receive.
    pub fn new(me: PartyId, listen: SocketAddr, roster: Vec<(PartyId, SocketAddr)>) -> QuicConfig {
        QuicConfig {
            me,
            listen,
            roster,
            session: SessionId(0),
            connect_window: Duration::from_secs(60),
            recv_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(10),
            max_frame: 1 << 30,
            link: LinkEmulation::default(),
            tolerate_dropouts: false,
            revoked: Vec::new(),
            peer_budget: 2 << 30,
            job: None,
        }
    }

    fn transport(&self) -> Result<Arc<TransportConfig>, NetError> {
        let mut t = TransportConfig::default();
        // Windows sized for bulk share vectors: one 64 MiB stream in flight, 256 MiB total.
        t.stream_receive_window(VarInt::from_u32(64 << 20));
        t.receive_window(VarInt::from_u32(256 << 20));
        t.send_window(256 << 20);
        t.max_concurrent_uni_streams(VarInt::from_u32(4096));
        t.max_concurrent_bidi_streams(VarInt::from_u32(16));
        let idle = self.idle_timeout.try_into().map_err(|_| NetError::Config("idle timeout too large".into()))?;
        t.max_idle_timeout(Some(idle));
        t.keep_alive_interval(Some(self.idle_timeout / 4));
        Ok(Arc::new(t))
    }
}

/// One member's end of the QUIC mesh.
pub struct QuicTransport {
    me: PartyId,
    parties: Vec<PartyId>,
    endpoint: Endpoint,
    conns: BTreeMap<PartyId, Connection>,
    mailbox: Arc<Mailbox>,
    counters: Arc<Counters>,
    shaper: Shaper,
    /// Per peer: the session ids of this connection.
    sessions: BTreeMap<PartyId, Arc<Sessions>>,
    recv_timeout: Duration,
    max_frame: u64,
    /// Closes connections that arrive after start-up ([`mesh::refuse_late`]).
    refuser: tokio::task::JoinHandle<()>,
}

impl Drop for QuicTransport {
    fn drop(&mut self) {
        self.refuser.abort();
    }
}

impl QuicTransport {
    /// Binds, connects to every member (any start order, within the connect window) and
    /// starts reading. Returns once the whole mesh is up.
    pub async fn connect(cfg: QuicConfig, identity: &Identity) -> Result<QuicTransport, NetError> {
        let transport = cfg.transport()?;
        let server_tls = quinn::crypto::rustls::QuicServerConfig::try_from(identity.server_config()?)
            .map_err(|e| NetError::Config(format!("QUIC server TLS: {e}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(Arc::clone(&transport));
        let client_tls = quinn::crypto::rustls::QuicClientConfig::try_from(identity.client_config()?)
            .map_err(|e| NetError::Config(format!("QUIC client TLS: {e}")))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client_tls));
        client.transport_config(transport);
        let mut endpoint = Endpoint::server(server, cfg.listen)
            .map_err(|e| NetError::Config(format!("cannot listen on {}: {e}", cfg.listen)))?;
        endpoint.set_default_client_config(client);

        if !cfg.roster.iter().any(|(p, _)| *p == cfg.me) {
            return Err(NetError::Config(format!("{} is not in the roster", cfg.me)));
        }
        let conns = mesh::establish(&endpoint, cfg.me, &cfg.roster, cfg.connect_window, &cfg.revoked).await?;
        let budget = usize::try_from(cfg.peer_budget).unwrap_or(usize::MAX);
        let mailbox = Mailbox::with_budget(cfg.link.latency, cfg.tolerate_dropouts, budget);
        let counters = Arc::new(Counters::default());
        let mut sessions = BTreeMap::new();
        for (&peer, conn) in &conns {
            let session = Arc::new(Sessions::new(cfg.session, conn, cfg.job.as_ref())?);
            sessions.insert(peer, Arc::clone(&session));
            tokio::spawn(reader::read_loop(
                cfg.me,
                peer,
                conn.clone(),
                Arc::clone(&mailbox),
                Arc::clone(&counters),
                session,
                cfg.max_frame,
            ));
        }
        let mut parties: Vec<PartyId> = cfg.roster.iter().map(|(p, _)| *p).collect();
        parties.sort();
        let refuser = mesh::refuse_late(endpoint.clone());
        Ok(QuicTransport {
            me: cfg.me,
            parties,
            endpoint,
            conns,
            mailbox,
            counters,
            shaper: Shaper::new(cfg.link.bandwidth_bps),
            sessions,
            recv_timeout: cfg.recv_timeout,
            max_frame: cfg.max_frame,
            refuser,
        })
    }

    /// The session id of the connection to `peer`: every frame on it must carry this id.
    pub fn session_with(&self, peer: PartyId) -> Option<SessionId> {
        self.sessions.get(&peer).map(|s| s.connection())
    }

    /// Sends a data frame stamped with `session` instead of the connection's: a peer
    /// replaying a frame of an earlier session, for the tests that check it is refused.
    #[doc(hidden)]
    #[cfg(feature = "test-tools")]
    pub async fn send_with_session(
        &self,
        to: PartyId,
        session: SessionId,
        step: &StepId,
        payload: Bytes,
    ) -> Result<(), NetError> {
        self.send_stamped(to, FrameKind::Data, step, payload, Some(session)).await.map(|_| ())
    }

    /// The address this member listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.endpoint.local_addr().map_err(|e| NetError::Io(e.to_string()))
    }

    async fn send_frame(
        &self,
        to: PartyId,
        kind: FrameKind,
        step: &StepId,
        payload: Bytes,
    ) -> Result<quinn::SendStream, NetError> {
        self.send_stamped(to, kind, step, payload, None).await
    }

    async fn send_stamped(
        &self,
        to: PartyId,
        kind: FrameKind,
        step: &StepId,
        payload: Bytes,
        session: Option<SessionId>,
    ) -> Result<quinn::SendStream, NetError> {
        if to == self.me {
            return Err(NetError::Misuse(format!("{} sent to itself at step '{step}'", self.me)));
        }
        let control = !matches!(kind, FrameKind::Data);
        let conn = self.conns.get(&to).ok_or_else(|| NetError::Misuse(format!("{to} is not a member")))?;
        if payload.len() as u64 > self.max_frame {
            return Err(NetError::Misuse(format!(
                "a {}-byte message exceeds the {}-byte frame limit",
                payload.len(),
                self.max_frame
            )));
        }
        let header = Header {
            version: WIRE_VERSION,
            session: session
                .or_else(|| self.sessions.get(&to).map(|s| s.expected(&kind, step.as_str())))
                .unwrap_or(SessionId(0))
                .0,
            kind,
            step: step.to_string(),
            body_len: payload.len() as u64,
        }
        .encode()?;
        let total = header.len() + payload.len();
        self.shaper.transmit(to, total).await;
        let me = self.me;
        let mut stream = conn.open_uni().await.map_err(|e| connection_error(me, to, &e))?;
        stream.write_all_chunks(&mut [Bytes::from(header), payload]).await.map_err(|e| match e {
            quinn::WriteError::ConnectionLost(c) => connection_error(me, to, &c),
            other => NetError::PeerLost { party: to, reason: other.to_string() },
        })?;
        let _ = stream.finish();
        if control {
            self.counters.on_control_send(total);
        } else {
            self.counters.on_send(total);
        }
        Ok(stream)
    }

    /// Ends the session cleanly: tells every peer we are done, waits until every peer is
    /// done too, then closes. Returns the final counters.
    pub async fn finish(self) -> Result<CounterSnapshot, NetError> {
        let step = StepId::root("done");
        let mut streams = Vec::new();
        // Peers lost in a session that tolerates dropouts are not waited for.
        let lost = self.mailbox.lost();
        for p in self.peers().into_iter().filter(|p| !lost.contains(p)) {
            match self.send_frame(p, FrameKind::Done, &step, Bytes::new()).await {
                Ok(s) => streams.push(s),
                Err(e) if self.mailbox.lost().contains(&p) => debug!(%p, error = %e, "peer lost while finishing"),
                Err(e) => return Err(e),
            }
        }
        let peers = self.peers();
        self.mailbox.wait_done(&peers, self.recv_timeout).await?;
        debug!("all peers done");
        // Our Done must have reached every peer before the close frame can overtake it.
        for s in streams {
            let _ = tokio::time::timeout(Duration::from_secs(2), s.stopped()).await;
        }
        debug!("our done frames were read");
        self.mailbox.set_closing();
        for conn in self.conns.values() {
            conn.close(0u32.into(), b"done");
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        Ok(self.counters.snapshot())
    }
}

impl Transport for QuicTransport {
    fn me(&self) -> PartyId {
        self.me
    }

    fn parties(&self) -> &[PartyId] {
        &self.parties
    }

    async fn send(&self, to: PartyId, step: &StepId, payload: Bytes) -> Result<(), NetError> {
        if let Some(err) = self.mailbox.failure() {
            return Err(err);
        }
        self.send_frame(to, FrameKind::Data, step, payload).await.map(|_| ())
    }

    async fn recv(&self, from: PartyId, step: &StepId) -> Result<Bytes, NetError> {
        self.recv_within(from, step, self.recv_timeout).await
    }

    async fn recv_within(&self, from: PartyId, step: &StepId, timeout: Duration) -> Result<Bytes, NetError> {
        if !self.conns.contains_key(&from) {
            return Err(NetError::Misuse(format!("cannot receive from {from}: not a peer")));
        }
        let msg = self.mailbox.recv(from, step, timeout).await?;
        self.counters.on_recv();
        Ok(msg)
    }

    async fn abort(&self, reason: &str, blame: Option<PartyId>) {
        let step = StepId::root("abort");
        let kind = FrameKind::Abort { reason: reason.to_string(), blame: blame.map(|p| p.0) };
        // All peers at once, each bounded: a dead peer must not delay telling the others.
        let sends = self.peers().into_iter().map(|p| {
            let kind = kind.clone();
            let step = &step;
            async move {
                let send = async {
                    if let Ok(s) = self.send_frame(p, kind, step, Bytes::new()).await {
                        let _ = s.stopped().await;
                    }
                };
                let _ = tokio::time::timeout(Duration::from_millis(800), send).await;
            }
        });
        futures_util::future::join_all(sends).await;
        self.mailbox.set_closing();
        // The close carries the same news, in case it overtakes the frame.
        let code = blame.map_or(CLOSE_ABORT, |p| CLOSE_BLAME_BASE + u32::from(p.0));
        for conn in self.conns.values() {
            conn.close(code.into(), reason.as_bytes());
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }

    fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    fn lost(&self) -> Vec<PartyId> {
        self.mailbox.lost()
    }
}

/// What the end of `peer`'s connection means: a clean abort (with the culprit it names),
/// or a lost peer.
pub(crate) fn connection_error(me: PartyId, peer: PartyId, e: &quinn::ConnectionError) -> NetError {
    if let quinn::ConnectionError::ApplicationClosed(c) = e {
        let code = c.error_code.into_inner();
        if code >= u64::from(CLOSE_ABORT) {
            let reason = String::from_utf8_lossy(&c.reason).into_owned();
            let blame = code.checked_sub(u64::from(CLOSE_BLAME_BASE)).and_then(|p| u16::try_from(p).ok()).map(PartyId);
            return NetError::from_abort(peer, reason, blame, me);
        }
    }
    NetError::PeerLost { party: peer, reason: mesh::describe(e) }
}
