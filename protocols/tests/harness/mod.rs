//! Runs `n` members (and optionally a dealer node) in one process over the in-memory
//! network.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use consort_net::{MemoryNetwork, MemoryTransport, PartyId};
use consort_protocols::fixed::{FracBits, decode, encode};
use consort_protocols::spdz::Security;
use consort_protocols::spdz::prep::LocalDealer;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

pub fn members(n: u16) -> Vec<PartyId> {
    (0..n).map(PartyId).collect()
}

/// Runs `f(i, transport, dealer handle)` for each member over `net`, returning results in order.
pub fn run_with<R, F, Fut>(net: MemoryNetwork, n: u16, security: Security, f: F) -> Vec<R>
where
    R: Send + 'static,
    F: Fn(usize, MemoryTransport, LocalDealer) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
{
    runtime().block_on(async {
        let nets = net.build();
        let preps = LocalDealer::new_set(n as usize, security, [7; 32]);
        let tasks: Vec<_> =
            nets.into_iter().zip(preps).enumerate().map(|(i, (t, p))| tokio::spawn(f(i, t, p))).collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
}

pub fn run<R, F, Fut>(n: u16, security: Security, f: F) -> Vec<R>
where
    R: Send + 'static,
    F: Fn(usize, MemoryTransport, LocalDealer) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
{
    run_with(MemoryNetwork::new(n).recv_timeout(Duration::from_secs(20)), n, security, f)
}

pub fn enc(xs: &[f64]) -> Vec<u64> {
    xs.iter().map(|x| encode(*x, FracBits::default()).unwrap()).collect()
}

pub fn dec(xs: &[u64]) -> Vec<f64> {
    xs.iter().map(|x| decode(*x, FracBits::default())).collect()
}

pub const ULP: f64 = 1.0 / 65536.0;
