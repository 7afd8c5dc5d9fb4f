//! Ctrl-C on `consort simulate` stops every member process: no orphans.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_consort");

/// Pids whose parent is `parent`, read from /proc.
fn children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // Fields after the ")" that closes the command name: state, ppid, ...
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        if after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only its parent's wait is missing.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn ctrl_c_stops_every_member() {
    let repo = env!("CARGO_MANIFEST_DIR");
    // A 3 s latency keeps the job running long enough to interrupt it mid-way.
    let mut sim = Command::new(EXE)
        .args(["simulate", "--parties", "3", "--job", "examples/jobs/stats.toml", "--latency", "3000", "--quiet"])
        .current_dir(repo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start simulate");
    let start = Instant::now();
    let mut kids = Vec::new();
    while start.elapsed() < Duration::from_secs(20) && kids.len() < 3 {
        std::thread::sleep(Duration::from_millis(100));
        kids = children(sim.id());
    }
    assert_eq!(kids.len(), 3, "simulate should have started 3 members");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(sim.id() as i32, libc::SIGINT) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = sim.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "simulate did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut sim.stderr.take().expect("stderr"), &mut err).expect("read");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("error: interrupted; all members stopped"), "{err}");
    std::thread::sleep(Duration::from_millis(300));
    let left: Vec<u32> = kids.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "members still running after Ctrl-C: {left:?}");
}
