//! Network emulation for simulations: a per-destination bandwidth limit applied by the
//! sender (the message occupies the link for `bits / rate`), and a one-way latency
//! applied by the receiver's mailbox.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::id::PartyId;

/// How the emulated links behave. The default is the real network, unshaped.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkEmulation {
    /// Added to every message's delivery.
    pub latency: Duration,
    /// Link rate in bits per second, per destination; `None` means unlimited.
    pub bandwidth_bps: Option<u64>,
}

/// Serializes sends per destination at the emulated rate.
#[derive(Debug, Default)]
pub(crate) struct Shaper {
    rate: Option<u64>,
    free_at: Mutex<HashMap<PartyId, Instant>>,
}

impl Shaper {
    pub(crate) fn new(rate: Option<u64>) -> Shaper {
        Shaper { rate, free_at: Mutex::default() }
    }

    /// Waits until a message of `bytes` bytes has been "transmitted" to `to`.
    pub(crate) async fn transmit(&self, to: PartyId, bytes: usize) {
        let Some(rate) = self.rate.filter(|r| *r > 0) else { return };
        let tx = Duration::from_secs_f64(bytes as f64 * 8.0 / rate as f64);
        let depart = {
            let mut map = self.free_at.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = map.entry(to).or_insert(now);
            let start = (*slot).max(now);
            *slot = start + tx;
            *slot
        };
        tokio::time::sleep_until(depart).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bandwidth_serializes_messages_per_link() {
        let s = Shaper::new(Some(8_000_000)); // 1 MB/s
        let t0 = Instant::now();
        s.transmit(PartyId(1), 500_000).await;
        s.transmit(PartyId(1), 500_000).await;
        let one_link = t0.elapsed();
        assert!(one_link >= Duration::from_millis(999), "{one_link:?}");
        let t1 = Instant::now();
        s.transmit(PartyId(2), 100_000).await;
        assert!(t1.elapsed() < Duration::from_millis(150));
    }
}
