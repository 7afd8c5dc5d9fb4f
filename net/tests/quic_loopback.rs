//! QUIC mesh on 127.0.0.1 inside one process (the multi-process tests live in the
//! workspace's `tests/`): connection in any start order, messages by step, counters,
//! and refusal of foreign certificates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use consort_net::{
    Identity, NetError, PartyId, QuicConfig, QuicTransport, StepId, Transport, decode_u64s, encode_u64s,
};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = p.self_signed(&key).unwrap().pem();
    Ca { issuer: Issuer::new(p, key), pem }
}

fn identity(ca: &Ca, trust: &Ca, party: u16) -> Identity {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![format!("party-{party}")]).unwrap();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    Identity::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes(), trust.pem.as_bytes()).unwrap()
}

fn roster(n: u16) -> Vec<(PartyId, SocketAddr)> {
    (0..n)
        .map(|i| {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            (PartyId(i), s.local_addr().unwrap())
        })
        .collect()
}

fn config(me: u16, roster: &[(PartyId, SocketAddr)]) -> QuicConfig {
    let listen = roster[usize::from(me)].1;
    let mut c = QuicConfig::new(PartyId(me), listen, roster.to_vec());
    c.connect_window = Duration::from_secs(6);
    c.recv_timeout = Duration::from_secs(6);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_exchange_vectors_in_any_start_order() {
    let ca = ca();
    let r = roster(3);
    let mut tasks = Vec::new();
    // Start in reverse order, with gaps: the dialers must retry.
    for me in (0..3u16).rev() {
        let (cfg, id) = (config(me, &r), identity(&ca, &ca, me));
        tasks.push(tokio::spawn(async move {
            let t = QuicTransport::connect(cfg, &id).await?;
            let step = StepId::root("v");
            let mine: Vec<u64> = (0..100_000).map(|k| k * u64::from(me + 1)).collect();
            t.broadcast(&step, encode_u64s(&mine)).await?;
            let mut total = 0u64;
            for (from, b) in t.gather(&step).await? {
                let v = decode_u64s(from, &step, &b, 100_000)?;
                assert_eq!(v[7], 7 * u64::from(from.0 + 1));
                total += 1;
            }
            let c = t.finish().await?;
            Ok::<_, NetError>((total, c))
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for task in tasks {
        let (got, c) = task.await.unwrap().unwrap();
        assert_eq!(got, 2);
        assert_eq!(c.rounds, 1);
        assert!(c.bytes_sent >= 2 * 800_000 && c.bytes_received >= 2 * 800_000, "{c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_foreign_certificate_is_refused() {
    let (ca, other) = (ca(), ca());
    let r = roster(2);
    let honest = {
        let (cfg, id) = (config(0, &r), identity(&ca, &ca, 0));
        tokio::spawn(async move { QuicTransport::connect(cfg, &id).await.map(|_| ()) })
    };
    // Party 1 trusts our CA but its own certificate comes from another CA.
    let mut cfg = config(1, &r);
    cfg.connect_window = Duration::from_secs(3);
    let err = QuicTransport::connect(cfg, &identity(&other, &ca, 1)).await.err().unwrap();
    assert!(matches!(err, NetError::Refused { party: PartyId(0), .. }), "{err}");
    let err = honest.await.unwrap().unwrap_err().to_string();
    assert!(err.starts_with("party 1 did not connect within"), "{err}");
    assert!(err.contains("refused a connection"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_to_oneself_or_a_stranger_is_misuse() {
    let ca = ca();
    let r = roster(2);
    let tasks: Vec<_> = (0..2u16)
        .map(|me| {
            let (cfg, id) = (config(me, &r), identity(&ca, &ca, me));
            tokio::spawn(async move {
                let t = QuicTransport::connect(cfg, &id).await.unwrap();
                let s = StepId::root("x");
                assert!(matches!(t.send(PartyId(me), &s, Bytes::new()).await, Err(NetError::Misuse(_))));
                assert!(matches!(t.send(PartyId(9), &s, Bytes::new()).await, Err(NetError::Misuse(_))));
                t.finish().await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_is_refused_before_allocation_and_blamed() {
    let ca = ca();
    let r = roster(2);
    let mut small = config(0, &r);
    small.max_frame = 1000;
    let (id0, id1) = (identity(&ca, &ca, 0), identity(&ca, &ca, 1));
    let receiver = tokio::spawn(async move {
        let t = QuicTransport::connect(small, &id0).await.unwrap();
        t.recv(PartyId(1), &StepId::root("big")).await
    });
    let cfg1 = config(1, &r);
    let t1 = QuicTransport::connect(cfg1, &id1).await.unwrap();
    t1.send(PartyId(0), &StepId::root("big"), Bytes::from(vec![0u8; 5000])).await.unwrap();
    let err = receiver.await.unwrap().unwrap_err();
    assert_eq!(err.to_string(), "party 1 announced a 5000-byte frame; the limit is 1000 bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_floods_a_member_is_named_within_its_byte_budget() {
    let ca = ca();
    let r = roster(2);
    let mut small = config(0, &r);
    small.peer_budget = 1 << 20;
    let (id0, id1) = (identity(&ca, &ca, 0), identity(&ca, &ca, 1));
    let receiver = tokio::spawn(async move {
        let t = QuicTransport::connect(small, &id0).await.unwrap();
        // Waits for a step the flooder never sends; its unread messages pile up.
        t.recv(PartyId(1), &StepId::root("wanted")).await
    });
    let t1 = QuicTransport::connect(config(1, &r), &id1).await.unwrap();
    for k in 0..40u64 {
        // 40 × 64 KiB = 2.5 MiB for steps nobody reads.
        if t1.send(PartyId(0), &StepId::root("junk").index(k), Bytes::from(vec![7u8; 64 << 10])).await.is_err() {
            break;
        }
    }
    let err = receiver.await.unwrap().unwrap_err();
    assert_eq!(err.blamed_party(), Some(PartyId(1)), "{err}");
    assert!(
        err.to_string().starts_with("party 1 misbehaved at step 'mailbox': it has ")
            && err
                .to_string()
                .ends_with("bytes arriving or waiting unread, more than the 1048576 bytes a peer may hold"),
        "{err}"
    );
}

/// Two members connect, exchange one message and finish: one run of a job. Returns the
/// session id each holds for the other.
async fn one_session(ca: &Ca, r: &[(PartyId, SocketAddr)]) -> (consort_net::SessionId, consort_net::SessionId) {
    let (c0, c1) = (config(0, r), config(1, r));
    let (id0, id1) = (identity(ca, ca, 0), identity(ca, ca, 1));
    let a = tokio::spawn(async move {
        let t = QuicTransport::connect(c0, &id0).await.unwrap();
        t.send(PartyId(1), &StepId::root("x"), Bytes::from_static(b"hi")).await.unwrap();
        let s = t.session_with(PartyId(1)).unwrap();
        t.finish().await.unwrap();
        s
    });
    let t = QuicTransport::connect(c1, &id1).await.unwrap();
    t.recv(PartyId(0), &StepId::root("x")).await.unwrap();
    let s = t.session_with(PartyId(0)).unwrap();
    t.finish().await.unwrap();
    (a.await.unwrap(), s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_of_an_earlier_session_is_refused_naming_the_sender() {
    let ca = ca();
    // Both ends of a connection agree on its session; the same job run again (same CA,
    // same members and configuration) gets another one.
    let (a0, a1) = one_session(&ca, &roster(2)).await;
    assert_eq!(a0, a1);
    let (b0, b1) = one_session(&ca, &roster(2)).await;
    assert_eq!(b0, b1);
    assert_ne!(a0, b0, "two runs of the same job share a session id");
    // A third run: member 1 replays a frame stamped with the first run's session.
    let r = roster(2);
    let (c0, c1) = (config(0, &r), config(1, &r));
    let (id0, id1) = (identity(&ca, &ca, 0), identity(&ca, &ca, 1));
    let receiver = tokio::spawn(async move {
        let t = QuicTransport::connect(c0, &id0).await.unwrap();
        t.recv(PartyId(1), &StepId::root("x")).await
    });
    let t1 = QuicTransport::connect(c1, &id1).await.unwrap();
    let _ = t1.send_with_session(PartyId(0), a0, &StepId::root("x"), Bytes::from_static(b"hi")).await;
    let err = receiver.await.unwrap().unwrap_err();
    assert_eq!(err.blamed_party(), Some(PartyId(1)), "{err}");
    assert!(err.to_string().contains(&format!("frame of session {:#x}, this session is", a0.0)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_another_job_is_heard_at_the_agreement_and_refused_after() {
    let ca = ca();
    let r = roster(2);
    let bind = |h: u8| Some(consort_net::JobBinding { job_hash: [h; 32], agree_step: "agree".into() });
    let (mut c0, mut c1) = (config(0, &r), config(1, &r));
    (c0.job, c1.job) = (bind(1), bind(2));
    let (id0, id1) = (identity(&ca, &ca, 0), identity(&ca, &ca, 1));
    let receiver = tokio::spawn(async move {
        let t = QuicTransport::connect(c0, &id0).await.unwrap();
        let agreed = t.recv(PartyId(1), &StepId::root("agree")).await.unwrap();
        (agreed, t.recv(PartyId(1), &StepId::root("stats/share")).await)
    });
    let t1 = QuicTransport::connect(c1, &id1).await.unwrap();
    t1.send(PartyId(0), &StepId::root("agree"), Bytes::from_static(b"my job")).await.unwrap();
    let _ = t1.send(PartyId(0), &StepId::root("stats/share"), Bytes::from_static(b"share")).await;
    let (agreed, err) = receiver.await.unwrap();
    assert_eq!(&agreed[..], b"my job");
    let err = err.unwrap_err();
    assert_eq!(err.blamed_party(), Some(PartyId(1)), "{err}");
    assert!(err.to_string().starts_with("party 1 misbehaved at step 'stats/share': frame of session "), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_for_a_connected_member_is_refused() {
    let ca = ca();
    let r = roster(2);
    let (c0, c1) = (config(0, &r), config(1, &r));
    let (id0, id1) = (identity(&ca, &ca, 0), identity(&ca, &ca, 1));
    let first = tokio::spawn(async move { QuicTransport::connect(c0, &id0).await.unwrap() });
    let t1 = QuicTransport::connect(c1, &id1).await.unwrap();
    let t0 = first.await.unwrap();
    // A second process with member 1's certificate, elsewhere, dials member 0.
    let mut again = config(1, &[r[0], (PartyId(1), roster(1)[0].1)]);
    again.connect_window = Duration::from_secs(3);
    let err = QuicTransport::connect(again, &identity(&ca, &ca, 1)).await.err().expect("a second member 1 joined");
    assert_eq!(err.blamed_party(), Some(PartyId(0)), "{err}");
    assert!(err.to_string().contains("every member is already connected"), "{err}");
    // The first connection is untouched.
    t1.send(PartyId(0), &StepId::root("x"), Bytes::from_static(b"still here")).await.unwrap();
    assert_eq!(&t0.recv(PartyId(1), &StepId::root("x")).await.unwrap()[..], b"still here");
}
