//! Per-member traffic counters. Every send and receive goes through them, so every job
//! report can say how many bytes, messages and rounds it cost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Live counters of one member.
#[derive(Debug, Default)]
pub struct Counters {
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    messages_sent: AtomicU64,
    messages_received: AtomicU64,
    rounds: AtomicU64,
    received_since_send: AtomicBool,
}

/// A copy of the counters at one moment.
///
/// `bytes_*` count application bytes (frame headers and bodies), not QUIC/UDP overhead.
/// A *round* is a flight of messages: a send counts as a new round when it is this
/// member's first send, or when the member has received a message since it last sent.
/// That is the number of sequential network latencies the member waited through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub rounds: u64,
}

impl Counters {
    pub(crate) fn on_send(&self, bytes: usize) {
        let first = self.messages_sent.fetch_add(1, Ordering::Relaxed) == 0;
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        if self.received_since_send.swap(false, Ordering::Relaxed) || first {
            self.rounds.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Session control frames (done, abort): bytes only, not rounds or messages.
    pub(crate) fn on_control_send(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Bytes that arrived from the network (counted when they arrive).
    pub(crate) fn on_arrival(&self, bytes: usize) {
        self.bytes_received.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A protocol-level receive completed.
    pub(crate) fn on_recv(&self) {
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        self.received_since_send.store(true, Ordering::Relaxed);
    }

    /// Reads all counters.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            messages_sent: self.messages_sent.load(Ordering::Relaxed),
            messages_received: self.messages_received.load(Ordering::Relaxed),
            rounds: self.rounds.load(Ordering::Relaxed),
        }
    }
}

impl CounterSnapshot {
    /// Traffic between two snapshots (for measuring one phase).
    pub fn since(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
            bytes_received: self.bytes_received.saturating_sub(earlier.bytes_received),
            messages_sent: self.messages_sent.saturating_sub(earlier.messages_sent),
            messages_received: self.messages_received.saturating_sub(earlier.messages_received),
            rounds: self.rounds.saturating_sub(earlier.rounds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_count_flights_not_messages() {
        let c = Counters::default();
        c.on_send(10);
        c.on_send(10); // same flight (a broadcast)
        c.on_recv();
        c.on_recv();
        c.on_send(5); // new flight after receiving
        let s = c.snapshot();
        assert_eq!((s.rounds, s.messages_sent, s.bytes_sent, s.messages_received), (2, 3, 25, 2));
    }
}
