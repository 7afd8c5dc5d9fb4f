//! The receiving side of one peer's connection: every frame arrives on its own stream,
//! is checked (header, session, size) and read as it arrives against the peer's byte
//! budget, then handed to the mailbox.

use std::sync::Arc;

use bytes::Bytes;
use quinn::{Connection, RecvStream, VarInt};
use tracing::{debug, warn};

use super::connection_error;
use super::session::Sessions;
use crate::counters::Counters;
use crate::error::NetError;
use crate::frame::{FrameKind, Header, MAX_HEADER};
use crate::id::{PartyId, StepId};
use crate::mailbox::Mailbox;

/// Accepts the peer's streams until its connection ends.
pub(super) async fn read_loop(
    me: PartyId,
    peer: PartyId,
    conn: Connection,
    mailbox: Arc<Mailbox>,
    counters: Arc<Counters>,
    session: Arc<Sessions>,
    max_frame: u64,
) {
    loop {
        match conn.accept_uni().await {
            Ok(stream) => {
                let (mb, c, session) = (Arc::clone(&mailbox), Arc::clone(&counters), Arc::clone(&session));
                tokio::spawn(async move {
                    if let Err(e) = read_frame(me, peer, stream, &mb, &c, &session, max_frame).await {
                        warn!(%peer, error = %e, "bad frame");
                        mb.fail(e);
                    }
                });
            }
            Err(quinn::ConnectionError::ApplicationClosed(c)) if c.error_code == VarInt::from_u32(0) => {
                debug!(%peer, "peer finished and closed");
                return;
            }
            Err(quinn::ConnectionError::LocallyClosed) => return,
            Err(e) => {
                mailbox.fail(connection_error(me, peer, &e));
                return;
            }
        }
    }
}

/// Largest piece of a frame body read at once.
const CHUNK: usize = 1 << 20;

async fn read_frame(
    me: PartyId,
    peer: PartyId,
    mut stream: RecvStream,
    mailbox: &Arc<Mailbox>,
    counters: &Counters,
    session: &Sessions,
    max_frame: u64,
) -> Result<(), NetError> {
    let truncated = |e: quinn::ReadExactError| match e {
        quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(c)) => connection_error(me, peer, &c),
        other => {
            NetError::PeerMisbehaved { party: peer, step: "frame".into(), what: format!("truncated frame: {other}") }
        }
    };
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(truncated)?;
    let len = usize::from(u16::from_le_bytes(len));
    if len > MAX_HEADER {
        return Err(NetError::PeerMisbehaved {
            party: peer,
            step: "frame".into(),
            what: format!("{len}-byte header (limit {MAX_HEADER})"),
        });
    }
    let mut hbuf = vec![0u8; len];
    stream.read_exact(&mut hbuf).await.map_err(truncated)?;
    let header = Header::decode(peer, &hbuf)?;
    let expected = session.expected(&header.kind, &header.step);
    if header.session != expected.0 {
        return Err(NetError::PeerMisbehaved {
            party: peer,
            step: header.step,
            what: format!("frame of session {:#x}, this session is {:#x}", header.session, expected.0),
        });
    }
    if header.body_len > max_frame {
        return Err(NetError::FrameTooLarge { party: peer, len: header.body_len, max: max_frame });
    }
    let body_len = usize::try_from(header.body_len).map_err(|_| NetError::FrameTooLarge {
        party: peer,
        len: header.body_len,
        max: max_frame,
    })?;
    // Read as it arrives, charging the peer's budget chunk by chunk: a frame announced
    // large but trickled (or never finished) holds only what was sent.
    let mut body = Vec::with_capacity(body_len.min(CHUNK));
    while body.len() < body_len {
        let want = (body_len - body.len()).min(CHUNK);
        let chunk = match stream.read_chunk(want, true).await {
            Ok(Some(c)) => c.bytes,
            Ok(None) => {
                mailbox.release(peer, body.len());
                return Err(NetError::PeerMisbehaved {
                    party: peer,
                    step: header.step,
                    what: format!("frame ended after {} of {body_len} bytes", body.len()),
                });
            }
            Err(e) => {
                mailbox.release(peer, body.len());
                return Err(match e {
                    quinn::ReadError::ConnectionLost(c) => connection_error(me, peer, &c),
                    other => NetError::PeerMisbehaved {
                        party: peer,
                        step: "frame".into(),
                        what: format!("truncated frame: {other}"),
                    },
                });
            }
        };
        if let Err(e) = mailbox.charge(peer, chunk.len()) {
            mailbox.release(peer, body.len());
            return Err(e);
        }
        body.extend_from_slice(&chunk);
    }
    counters.on_arrival(2 + len + body_len);
    if !matches!(header.kind, FrameKind::Data) {
        mailbox.release(peer, body.len());
    }
    match header.kind {
        FrameKind::Data => mailbox.deliver(peer, StepId::from_wire(header.step), Bytes::from(body)),
        FrameKind::Abort { reason, blame } => mailbox.fail(NetError::from_abort(peer, reason, blame.map(PartyId), me)),
        FrameKind::Done => mailbox.mark_done(peer),
    }
    Ok(())
}
