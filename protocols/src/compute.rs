//! Heavy arithmetic off the async runtime, and typed messages on and off the wire:
//! what every protocol's driver shares.

use bytes::Bytes;
use consort_net::{NetError, PartyId, StepId};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A compute task ended without a result (a bug, not a peer's fault).
#[derive(Debug, thiserror::Error)]
#[error("a compute task panicked")]
pub struct Panicked;

/// Runs CPU-heavy work (training, encryption, NTTs, partial decryption) on rayon and
/// waits for it without blocking the tokio runtime that drives the network.
pub async fn offload<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R, Panicked> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.map_err(|_| Panicked)
}

/// A message that could not be encoded (never a peer's fault).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode a {what} message: {reason}")]
pub struct EncodeError {
    pub what: &'static str,
    pub reason: String,
}

/// A protocol message as postcard bytes.
pub fn encode<T: Serialize>(what: &'static str, msg: &T) -> Result<Bytes, EncodeError> {
    postcard::to_stdvec(msg).map(Bytes::from).map_err(|e| EncodeError { what, reason: e.to_string() })
}

/// A protocol message from `from`'s bytes; bytes that are not one are blamed on it.
pub fn decode<T: DeserializeOwned>(
    what: &'static str,
    from: PartyId,
    step: &StepId,
    bytes: &[u8],
) -> Result<T, NetError> {
    postcard::from_bytes(bytes).map_err(|e| NetError::PeerMisbehaved {
        party: from,
        step: step.to_string(),
        what: format!("not a {what} message: {e}"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn offload_returns_the_result() {
        // (A panic inside a rayon task aborts the process: rayon's global pool has no
        // panic handler. `Panicked` covers a task dropped without running.)
        assert_eq!(offload(|| 6 * 7).await.unwrap(), 42);
    }

    #[test]
    fn messages_round_trip_and_garbage_is_blamed_on_its_sender() {
        let b = encode("test", &(1u32, "x".to_string())).unwrap();
        let back: (u32, String) = decode("test", PartyId(1), &StepId::root("s"), &b).unwrap();
        assert_eq!(back, (1, "x".into()));
        let e = decode::<(u32, String)>("test", PartyId(2), &StepId::root("s"), &[0xff]).unwrap_err();
        assert!(matches!(e, NetError::PeerMisbehaved { party: PartyId(2), .. }), "{e}");
        assert!(e.to_string().contains("not a test message"), "{e}");
    }
}
