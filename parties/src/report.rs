//! Result files and the printed report.

use std::fmt::Write as _;

use consort_net::CounterSnapshot;
use consort_protocols::stats::StatsResult;
use serde::{Deserialize, Serialize};

/// What one member writes at the end of `consort run`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberReport {
    pub party: u16,
    pub job: String,
    pub task: String,
    pub backend: String,
    pub job_hash: String,
    pub version: String,
    pub wall_secs: f64,
    pub traffic: CounterSnapshot,
    pub result: StatsResult,
}

/// What `consort simulate` writes: the common result and each member's costs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimulationReport {
    pub job: String,
    pub parties: usize,
    pub wall_secs: f64,
    pub result: StatsResult,
    pub members: Vec<MemberCost>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberCost {
    pub party: u16,
    pub wall_secs: f64,
    pub traffic: CounterSnapshot,
}

/// A human-readable table of a stats result.
pub fn stats_table(r: &StatsResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "rows: {}", r.rows);
    let _ = writeln!(s, "{:<28} {:>14} {:>14} {:>14} {:>14}", "column", "sum", "mean", "variance", "std");
    for c in &r.columns {
        let _ = writeln!(s, "{:<28} {:>14.4} {:>14.6} {:>14.6} {:>14.6}", c.name, c.sum, c.mean, c.variance, c.std);
    }
    for c in &r.columns {
        if let Some(h) = &c.histogram {
            let _ = writeln!(
                s,
                "histogram of {} (below {}: {}, above {}: {})",
                c.name,
                h.edges.first().unwrap_or(&0.0),
                h.below,
                h.edges.last().unwrap_or(&0.0),
                h.above
            );
            for (i, n) in h.counts.iter().enumerate() {
                let (lo, hi) = (h.edges.get(i).copied().unwrap_or(0.0), h.edges.get(i + 1).copied().unwrap_or(0.0));
                let close = if i + 1 == h.counts.len() { "]" } else { ")" };
                let _ = writeln!(s, "  [{lo:>10}, {hi:>10}{close} {n:>8}");
            }
        }
    }
    s
}

/// A table of per-member costs.
pub fn cost_table(members: &[MemberCost]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<8} {:>10} {:>14} {:>14} {:>10} {:>8}",
        "member", "wall s", "bytes sent", "bytes recv", "messages", "rounds"
    );
    for m in members {
        let t = &m.traffic;
        let _ = writeln!(
            s,
            "{:<8} {:>10.3} {:>14} {:>14} {:>10} {:>8}",
            m.party, m.wall_secs, t.bytes_sent, t.bytes_received, t.messages_sent, t.rounds
        );
    }
    s
}
