//! Building the full mesh: member `i` dials every member `j < i` and accepts every
//! member `j > i`. Start-up order does not matter: dials are retried with backoff until
//! the connect window closes. After TLS, the dialer says who it claims to be (`Hello`);
//! the acceptor checks the claim against the certificate and refuses impostors with a
//! reason that both sides log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use quinn::{Connection, ConnectionError, Endpoint, Incoming};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::tls::cert_party_ids;
use crate::error::NetError;
use crate::frame::WIRE_VERSION;
use crate::id::PartyId;

const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_HELLO: usize = 1024;

#[derive(Serialize, Deserialize)]
struct Hello {
    party: u16,
    wire_version: u8,
}

#[derive(Serialize, Deserialize)]
struct HelloReply {
    accepted: bool,
    reason: String,
}

/// Describes why a connection ended, in words an operator understands.
pub(crate) fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ApplicationClosed(c) => {
            format!("it closed the connection: {}", String::from_utf8_lossy(&c.reason))
        }
        ConnectionError::TimedOut => "no packets within the idle timeout (crashed, killed, or network down)".into(),
        ConnectionError::Reset => "connection reset (the process restarted or exited)".into(),
        other => other.to_string(),
    }
}

/// The SHA-256 of a certificate's DER bytes: what `certs sign` prints and what a node
/// config's `revoked_certs` lists.
pub fn cert_fingerprint(der: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(der).into()
}

/// The peer's end-entity certificate, if it presented one.
fn peer_cert(conn: &Connection) -> Option<rustls::pki_types::CertificateDer<'static>> {
    conn.peer_identity()
        .and_then(|id| id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok())
        .and_then(|chain| chain.first().cloned())
}

/// Why a peer's certificate is refused although it chains to the CA, if it is revoked.
fn revocation(conn: &Connection, revoked: &[[u8; 32]]) -> Option<String> {
    let fp = cert_fingerprint(peer_cert(conn)?.as_ref());
    revoked
        .contains(&fp)
        .then(|| format!("its certificate (SHA-256 {}…) is revoked in this node's config", hex::encode(&fp[..8])))
}

/// Connects to every member; returns one connection per peer.
pub(crate) async fn establish(
    endpoint: &Endpoint,
    me: PartyId,
    roster: &[(PartyId, SocketAddr)],
    window: Duration,
    revoked: &[[u8; 32]],
) -> Result<BTreeMap<PartyId, Connection>, NetError> {
    let deadline = Instant::now() + window;
    let to_dial: Vec<(PartyId, SocketAddr)> = roster.iter().copied().filter(|(p, _)| *p < me).collect();
    let to_accept: Vec<PartyId> = roster.iter().map(|(p, _)| *p).filter(|p| *p > me).collect();
    let dials = futures_util::future::try_join_all(to_dial.iter().map(|(p, addr)| async move {
        dial(endpoint, me, *p, *addr, deadline, window, revoked).await.map(|c| (*p, c))
    }));
    let (dialed, accepted) = tokio::try_join!(dials, accept_all(endpoint, me, &to_accept, deadline, window, revoked))?;
    let mut conns: BTreeMap<PartyId, Connection> = dialed.into_iter().collect();
    conns.extend(accepted);
    Ok(conns)
}

async fn dial(
    endpoint: &Endpoint,
    me: PartyId,
    peer: PartyId,
    addr: SocketAddr,
    deadline: Instant,
    window: Duration,
    revoked: &[[u8; 32]],
) -> Result<Connection, NetError> {
    let mut backoff = Duration::from_millis(50);
    let mut last = String::from("no answer");
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(NetError::ConnectTimeout {
                party: peer,
                after: window,
                detail: format!(" at {addr} (last attempt: {last})"),
            });
        }
        let attempt = endpoint
            .connect(addr, &peer.dns_name())
            .map_err(|e| NetError::Config(format!("cannot dial {peer} at {addr}: {e}")))?;
        // QUIC retransmits a lost Initial after about a second; give an attempt room for that.
        let budget = (deadline - now).min(Duration::from_secs(4));
        match tokio::time::timeout(budget, attempt).await {
            Err(_) => last = "no answer".into(),
            Ok(Ok(conn)) => {
                if let Some(reason) = revocation(&conn, revoked) {
                    warn!(%peer, %reason, "refusing peer");
                    conn.close(1u32.into(), reason.as_bytes());
                    return Err(NetError::Refused { party: peer, reason });
                }
                return hello(conn, me, peer).await;
            }
            Ok(Err(e)) => match e {
                // Our own TLS check of its certificate failed: it is not who the roster says.
                ConnectionError::TransportError(t) => {
                    let reason = format!("we rejected the certificate presented at {addr}: {t}");
                    warn!(%peer, %reason, "refusing peer");
                    return Err(NetError::Refused { party: peer, reason });
                }
                // It sent a TLS alert: it does not accept our certificate.
                ConnectionError::ConnectionClosed(c) => {
                    let reason = format!("it rejected our certificate: {c}");
                    warn!(%peer, %reason, "refused by peer");
                    return Err(NetError::Refused { party: peer, reason });
                }
                ConnectionError::ApplicationClosed(c) => {
                    let reason = String::from_utf8_lossy(&c.reason).into_owned();
                    warn!(%peer, %reason, "refused by peer");
                    return Err(NetError::Refused { party: peer, reason });
                }
                other => last = other.to_string(),
            },
        }
        debug!(%peer, %addr, %last, "dial attempt failed; retrying");
        tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now()))).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// Dialer side of the hello: claim our id, wait for the verdict.
async fn hello(conn: Connection, me: PartyId, peer: PartyId) -> Result<Connection, NetError> {
    let refused = |reason: String| {
        warn!(%peer, %reason, "refused by peer");
        NetError::Refused { party: peer, reason }
    };
    let exchange = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| describe(&e))?;
        let msg = postcard::to_stdvec(&Hello { party: me.0, wire_version: WIRE_VERSION }).map_err(|e| e.to_string())?;
        send.write_all(&msg).await.map_err(|e| e.to_string())?;
        let _ = send.finish();
        let reply = recv.read_to_end(MAX_HELLO).await.map_err(|e| match e {
            quinn::ReadToEndError::Read(quinn::ReadError::ConnectionLost(c)) => describe(&c),
            other => other.to_string(),
        })?;
        postcard::from_bytes::<HelloReply>(&reply).map_err(|e| format!("undecodable hello reply: {e}"))
    };
    match tokio::time::timeout(HELLO_TIMEOUT, exchange).await {
        Err(_) => Err(refused("no hello reply".into())),
        Ok(Err(reason)) => Err(refused(reason)),
        Ok(Ok(r)) if !r.accepted => Err(refused(r.reason)),
        Ok(Ok(_)) => {
            info!(%peer, addr = %conn.remote_address(), "connected");
            Ok(conn)
        }
    }
}

async fn accept_all(
    endpoint: &Endpoint,
    me: PartyId,
    expected: &[PartyId],
    deadline: Instant,
    window: Duration,
    revoked: &[[u8; 32]],
) -> Result<Vec<(PartyId, Connection)>, NetError> {
    let (tx, mut rx) = mpsc::channel::<Result<(PartyId, Connection), String>>(16);
    let mut got: BTreeMap<PartyId, Connection> = BTreeMap::new();
    let mut last_refusal: Option<String> = None;
    let expected_set: Vec<PartyId> = expected.to_vec();
    while got.len() < expected.len() {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                let missing = expected.iter().copied().find(|p| !got.contains_key(p)).unwrap_or(me);
                let detail = last_refusal.map(|r| format!(" (refused a connection: {r})")).unwrap_or_default();
                return Err(NetError::ConnectTimeout { party: missing, after: window, detail });
            }
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else {
                    return Err(NetError::Io("endpoint closed while waiting for peers".into()));
                };
                let tx = tx.clone();
                let (expected, revoked) = (expected_set.clone(), revoked.to_vec());
                tokio::spawn(async move {
                    let _ = tx.send(admit(incoming, me, &expected, &revoked).await).await;
                });
            }
            Some(result) = rx.recv() => match result {
                Ok((p, conn)) => match got.entry(p) {
                    std::collections::btree_map::Entry::Occupied(_) => {
                        let reason = format!("{p} is already connected");
                        warn!(%reason, "refusing a second connection");
                        conn.close(1u32.into(), reason.as_bytes());
                    }
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        info!(peer = %p, addr = %conn.remote_address(), "connected");
                        slot.insert(conn);
                    }
                },
                Err(reason) => {
                    warn!(%reason, "refused a connection");
                    last_refusal = Some(reason);
                }
            }
        }
    }
    Ok(got.into_iter().collect())
}

/// After start-up every member is connected: a later connection (a second process
/// claiming a connected member's id, a restarted member) is completed only to be closed
/// with the reason, and logged. Runs until the endpoint closes or the task is aborted.
pub(crate) fn refuse_late(endpoint: Endpoint) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let remote = incoming.remote_address();
            tokio::spawn(async move {
                match incoming.await {
                    Ok(conn) => {
                        let named = peer_cert(&conn).map(|c| cert_party_ids(&c)).unwrap_or_default();
                        let names: Vec<String> = named.iter().map(|p| p.to_string()).collect();
                        warn!(%remote, certificate = %names.join(", "), "refusing a connection: every member is already connected");
                        conn.close(1u32.into(), LATE.as_bytes());
                    }
                    Err(e) => warn!(%remote, error = %describe(&e), "refused a late connection"),
                }
            });
        }
    })
}

/// Why a connection after start-up is closed.
pub(crate) const LATE: &str = "every member is already connected: a second connection for a member is refused";

/// Acceptor side: TLS has checked the chain; check the claimed id against the certificate.
async fn admit(
    incoming: Incoming,
    me: PartyId,
    expected: &[PartyId],
    revoked: &[[u8; 32]],
) -> Result<(PartyId, Connection), String> {
    let remote = incoming.remote_address();
    let conn = incoming.await.map_err(|e| format!("TLS handshake with {remote} failed: {}", describe(&e)))?;
    let named: Vec<PartyId> = peer_cert(&conn).map(|c| cert_party_ids(&c)).unwrap_or_default();
    let revoked = revocation(&conn, revoked);
    let read = async {
        let (send, mut recv) = conn.accept_bi().await.map_err(|e| describe(&e))?;
        let bytes = recv.read_to_end(MAX_HELLO).await.map_err(|e| e.to_string())?;
        let hello: Hello = postcard::from_bytes(&bytes).map_err(|e| format!("undecodable hello: {e}"))?;
        Ok::<_, String>((hello, send))
    };
    let (hello, mut send) = match tokio::time::timeout(HELLO_TIMEOUT, read).await {
        Err(_) => return Err(format!("{remote} sent no hello within {}s", HELLO_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(format!("hello from {remote} failed: {e}")),
        Ok(Ok(x)) => x,
    };
    let claimed = PartyId(hello.party);
    let names = if named.is_empty() {
        "no party".to_string()
    } else {
        named.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
    };
    let refusal = if let Some(r) = revoked {
        Some(format!("{claimed} at {remote}: {r}"))
    } else if hello.wire_version != WIRE_VERSION {
        Some(format!("{claimed} at {remote} speaks wire version {} (we speak {WIRE_VERSION})", hello.wire_version))
    } else if !named.contains(&claimed) {
        Some(format!("{remote} claims to be {claimed} but its certificate names {names}"))
    } else if !expected.contains(&claimed) {
        Some(format!("{claimed} at {remote} is not a member that dials {me}"))
    } else {
        None
    };
    let reply = HelloReply { accepted: refusal.is_none(), reason: refusal.clone().unwrap_or_default() };
    if let Ok(bytes) = postcard::to_stdvec(&reply) {
        let _ = send.write_all(&bytes).await;
        let _ = send.finish();
    }
    match refusal {
        Some(reason) => {
            // Give the reply a moment to leave before the close frame overtakes it.
            let _ = tokio::time::timeout(Duration::from_millis(500), send.stopped()).await;
            conn.close(1u32.into(), reason.as_bytes());
            Err(reason)
        }
        None => Ok((claimed, conn)),
    }
}
