#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! One conformance suite that every preprocessing source must pass: the in-process dealer
//! and the dealer node over the network.

mod harness;

use std::collections::HashSet;
use std::time::Duration;

use consort_net::{MemoryNetwork, PartyId};
use consort_protocols::spdz::prep::{
    DealerClient, DealerCore, LocalDealer, Material, Preprocessing, Request, serve_dealer,
};
use consort_protocols::spdz::{MpcError, PrepError, Security};
use harness::runtime;

const BATCH_A: [Request; 5] = [
    Request::Triples { len: 100 },
    Request::MatTriple { m: 3, k: 4, n: 2 },
    Request::Trunc { len: 50, bits: 16 },
    Request::Random { len: 20 },
    Request::InputMask { owner: 1, len: 10 },
];

/// What one member got.
struct Taken {
    alpha: u128,
    mats: Vec<(Request, Material)>,
}

async fn exercise<P: Preprocessing>(mut p: P) -> Taken {
    p.reserve(&BATCH_A).await.unwrap();
    let stock = p.available();
    assert_eq!(stock.triples, 100);
    assert_eq!(stock.trunc.get(&16), Some(&50));
    assert_eq!(stock.random, 20);
    assert_eq!(stock.input_masks.get(&1), Some(&10));
    assert_eq!(stock.mat_triples.get(&(3, 4, 2)), Some(&1));
    let takes = [
        Request::Triples { len: 60 },
        Request::Triples { len: 40 },
        Request::MatTriple { m: 3, k: 4, n: 2 },
        Request::Trunc { len: 50, bits: 16 },
        Request::Random { len: 20 },
        Request::InputMask { owner: 1, len: 10 },
    ];
    let mut mats: Vec<(Request, Material)> = takes.iter().map(|r| (*r, p.take(r).unwrap())).collect();
    // Nothing is handed out twice: the reserve is now empty.
    for r in &takes {
        let e = p.take(r).unwrap_err();
        assert!(matches!(e, PrepError::Exhausted { .. }), "{e}");
    }
    assert_eq!(
        p.take(&Request::Triples { len: 1 }).unwrap_err().to_string(),
        "preprocessing exhausted: 1 triples wanted, 0 available (reserve more first)"
    );
    assert_eq!(p.available().triples, 0);
    p.reserve(&[Request::Triples { len: 30 }]).await.unwrap();
    mats.push((Request::Triples { len: 30 }, p.take(&Request::Triples { len: 30 }).unwrap()));
    let alpha = p.mac_key_share();
    p.finish().await.unwrap();
    Taken { alpha, mats }
}

fn ring(sec: Security) -> u128 {
    match sec {
        Security::SemiHonest => u64::MAX as u128,
        Security::Malicious => u128::MAX,
    }
}

/// Sums component `part` of material `idx` over the members.
fn open(all: &[Taken], idx: usize, part: usize, sec: Security) -> (Vec<u128>, Vec<u128>) {
    let len = all[0].mats[idx].1.parts[part].vals.len();
    let mut v = vec![0u128; len];
    let mut m = vec![0u128; len];
    for t in all {
        let p = &t.mats[idx].1.parts[part];
        assert_eq!(p.vals.len(), len);
        for k in 0..len {
            v[k] = v[k].wrapping_add(p.vals[k]);
            if sec == Security::Malicious {
                m[k] = m[k].wrapping_add(p.macs[k]);
            } else {
                assert!(p.macs.is_empty());
            }
        }
    }
    (v.into_iter().map(|x| x & ring(sec)).collect(), m)
}

fn conforms(all: Vec<Taken>, sec: Security) {
    let alpha = all.iter().fold(0u128, |a, t| a.wrapping_add(t.alpha));
    if sec == Security::SemiHonest {
        assert_eq!(alpha, 0);
    } else {
        assert!(alpha != 0 && alpha < 1 << 64, "the MAC key is a nonzero element of Z_2^64");
    }
    let mut seen = HashSet::new();
    for (idx, (req, _)) in all[0].mats.iter().enumerate() {
        let parts: Vec<(Vec<u128>, Vec<u128>)> = (0..req.parts().len()).map(|p| open(&all, idx, p, sec)).collect();
        // The MAC relation holds for every value.
        if sec == Security::Malicious {
            for (v, m) in &parts {
                for (x, mx) in v.iter().zip(m) {
                    assert_eq!(alpha.wrapping_mul(*x), *mx, "{req:?}: MAC relation");
                }
            }
        }
        let (a, b, c) = (&parts[0].0, parts.get(1).map(|p| &p.0), parts.get(2).map(|p| &p.0));
        match *req {
            Request::Triples { .. } => {
                for ((x, y), z) in a.iter().zip(b.unwrap()).zip(c.unwrap()) {
                    assert_eq!(x.wrapping_mul(*y) & ring(sec), *z, "c = a·b");
                }
            }
            Request::MatTriple { m, k, n } => {
                let (b, c) = (b.unwrap(), c.unwrap());
                for i in 0..m {
                    for j in 0..n {
                        let s = (0..k).fold(0u128, |s, l| s.wrapping_add(a[i * k + l].wrapping_mul(b[l * n + j])));
                        assert_eq!(s & ring(sec), c[i * n + j], "C = A·B");
                    }
                }
            }
            Request::Trunc { bits, .. } => {
                for ((r, msb), hi) in a.iter().zip(b.unwrap()).zip(c.unwrap()) {
                    let low = *r as u64;
                    assert_eq!(*msb, u128::from(low >> 63));
                    assert_eq!(*hi, u128::from((low & (u64::MAX >> 1)) >> bits));
                }
            }
            Request::InputMask { owner, .. } => {
                for (i, t) in all.iter().enumerate() {
                    let clear = &t.mats[idx].1.clear;
                    if i == usize::from(owner) {
                        let mine: Vec<u128> = clear.iter().map(|x| x & ring(sec)).collect();
                        assert_eq!(&mine, a, "the owner's clear mask is the shared value");
                    } else {
                        assert!(clear.is_empty(), "only the owner sees the mask");
                    }
                }
            }
            Request::Random { .. } => {}
        }
        // No value is handed out twice (collisions of random 64-bit values are negligible).
        for x in a {
            assert!(seen.insert(*x), "{req:?}: a value was handed out twice");
        }
    }
}

#[test]
fn the_in_process_dealer_conforms() {
    for sec in [Security::SemiHonest, Security::Malicious] {
        for n in [2usize, 3, 5] {
            let all = runtime().block_on(async {
                let tasks: Vec<_> =
                    LocalDealer::new_set(n, sec, [9; 32]).into_iter().map(|p| tokio::spawn(exercise(p))).collect();
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await.unwrap());
                }
                out
            });
            conforms(all, sec);
        }
    }
}

#[test]
fn the_dealer_node_conforms() {
    for sec in [Security::SemiHonest, Security::Malicious] {
        for n in [2u16, 3] {
            let all = runtime().block_on(async {
                let mut nets = MemoryNetwork::new(n + 1).recv_timeout(Duration::from_secs(10)).build();
                let dealer_t = nets.pop().unwrap();
                let members: Vec<PartyId> = (0..n).map(PartyId).collect();
                let dealer = tokio::spawn(async move {
                    let mut seed = [0u8; 32];
                    getrandom::fill(&mut seed).unwrap();
                    serve_dealer(&dealer_t, &members, DealerCore::new(n as usize, sec, seed), Duration::from_secs(10))
                        .await
                });
                let tasks: Vec<_> = nets
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| {
                        tokio::spawn(async move {
                            let c = DealerClient::connect(&t, PartyId(n), i, sec).await.unwrap();
                            exercise(c).await
                        })
                    })
                    .collect();
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await.unwrap());
                }
                let stats = dealer.await.unwrap().unwrap();
                assert_eq!(stats.reservations, 2);
                out
            });
            conforms(all, sec);
        }
    }
}

#[test]
fn members_asking_for_different_material_are_named() {
    let errs = runtime().block_on(async {
        let mut nets = MemoryNetwork::new(4).recv_timeout(Duration::from_secs(5)).build();
        let dealer_t = nets.pop().unwrap();
        let members: Vec<PartyId> = (0..3).map(PartyId).collect();
        let dealer = tokio::spawn(async move {
            let r = serve_dealer(
                &dealer_t,
                &members,
                DealerCore::new(3, Security::Malicious, [1; 32]),
                Duration::from_secs(5),
            )
            .await;
            if let Err(e) = &r {
                use consort_net::Transport;
                dealer_t.abort(&e.to_string(), e.blamed_party()).await;
            }
            r
        });
        let tasks: Vec<_> = nets
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                tokio::spawn(async move {
                    let mut c = DealerClient::connect(&t, PartyId(3), i, Security::Malicious).await.unwrap();
                    let len = if i == 2 { 11 } else { 10 };
                    c.reserve(&[Request::Triples { len }]).await.map(|_| ())
                })
            })
            .collect();
        let mut out: Vec<Result<(), MpcError>> = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        (dealer.await.unwrap().unwrap_err(), out)
    });
    assert_eq!(errs.0.to_string(), "party 2 asked the dealer for different preprocessing than party 0 at request 0");
    for e in errs.1 {
        let e = e.unwrap_err().to_string();
        assert!(e.contains("party 2"), "{e}");
    }
}

#[test]
fn an_oversized_request_is_refused_and_names_the_member() {
    let err = runtime().block_on(async {
        let mut nets = MemoryNetwork::new(3).recv_timeout(Duration::from_secs(5)).build();
        let dealer_t = nets.pop().unwrap();
        let members: Vec<PartyId> = (0..2).map(PartyId).collect();
        let dealer = tokio::spawn(async move {
            serve_dealer(&dealer_t, &members, DealerCore::new(2, Security::SemiHonest, [1; 32]), Duration::from_secs(5))
                .await
        });
        for (i, t) in nets.into_iter().enumerate() {
            tokio::spawn(async move {
                let mut c = DealerClient::connect(&t, PartyId(2), i, Security::SemiHonest).await.unwrap();
                let m = if i == 1 { usize::MAX / 4 } else { 4 };
                let _ = c.reserve(&[Request::MatTriple { m, k: m, n: 2 }]).await;
            });
        }
        dealer.await.unwrap().unwrap_err()
    });
    let e = err.to_string();
    assert!(e.starts_with("party 1 misbehaved at step 'prep/0/ask': asked for"), "{e}");
}
