#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The network's decoders of peer data never panic: frame headers (any bytes, and
//! mutations of valid headers of every kind) and vectors of ring elements (any bytes
//! against any expected count). A refusal names the sender.
//!
//! CI runs proptest's default number of cases; the long run is
//! `PROPTEST_CASES=100000 cargo test --release -p consort-net --test decoders`.

use consort_net::frame::{FrameKind, Header, WIRE_VERSION};
use consort_net::{PartyId, StepId, decode_u64s};
use proptest::prelude::*;

fn headers() -> Vec<Vec<u8>> {
    let kinds = [FrameKind::Data, FrameKind::Abort { reason: "stop".into(), blame: Some(1) }, FrameKind::Done];
    kinds
        .into_iter()
        .map(|kind| {
            let h = Header { version: WIRE_VERSION, session: 77, kind, step: "train/epoch/3".into(), body_len: 4096 };
            // Without the 2-byte length prefix: `decode` gets the header body.
            h.encode().unwrap()[2..].to_vec()
        })
        .collect()
}

proptest! {
    #[test]
    fn frame_headers_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        which in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in proptest::option::of(any::<usize>()),
    ) {
        if let Err(e) = Header::decode(PartyId(3), &bytes) {
            prop_assert_eq!(e.blamed_party(), Some(PartyId(3)));
        }
        let mut b = headers()[which].clone();
        for (at, x) in &flips {
            let i = at % b.len();
            b[i] ^= x | 1;
        }
        if let Some(c) = cut {
            b.truncate(c % (b.len() + 1));
        }
        if let Err(e) = Header::decode(PartyId(3), &b) {
            prop_assert_eq!(e.blamed_party(), Some(PartyId(3)));
        }
    }

    #[test]
    fn ring_vectors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), expected in any::<usize>()) {
        let step = StepId::root("open");
        match decode_u64s(PartyId(1), &step, &bytes, expected % 64) {
            Ok(v) => prop_assert_eq!(v.len() * 8, bytes.len()),
            Err(e) => prop_assert_eq!(e.blamed_party(), Some(PartyId(1))),
        }
        // A count near usize::MAX must not overflow either.
        prop_assert!(decode_u64s(PartyId(1), &step, &bytes, usize::MAX - (expected % 8)).is_err());
    }
}
