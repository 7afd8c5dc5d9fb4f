#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Every decoder of peer data in `protocols` never panics: federated-averaging and
//! split-learning messages, a member's requests to the dealer and the dealer's bundles —
//! on arbitrary bytes and on mutations (flipped bytes, cuts, extensions) of valid
//! encodings. A decoder may accept or refuse (naming the sender); it must not panic.
//!
//! CI runs proptest's default number of cases; the long run is
//! `PROPTEST_CASES=100000 cargo test --release -p consort-protocols --test decoders`.

use consort_net::{NetError, PartyId, StepId};
use consort_protocols::fedavg::msg::FedMsg;
use consort_protocols::spdz::Security;
use consort_protocols::spdz::prep::{Bundle, DealerMsg, Request};
use consort_protocols::split::Scheme;
use consort_protocols::split::model::LayerShare;
use consort_protocols::split::msg::SplitMsg;
use proptest::prelude::*;

fn mutate(valid: &[u8], flips: &[(usize, u8)], cut: Option<usize>, extra: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    for (at, x) in flips {
        if !b.is_empty() {
            let i = at % b.len();
            b[i] ^= x | 1;
        }
    }
    if let Some(c) = cut {
        b.truncate(c % (b.len() + 1));
    }
    b.extend_from_slice(extra);
    b
}

fn mutation() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>, Vec<u8>)> {
    (
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        proptest::option::of(any::<usize>()),
        proptest::collection::vec(any::<u8>(), 0..4),
    )
}

/// A refusal must name the sender.
fn named(r: Result<impl Sized, NetError>) {
    if let Err(e) = r {
        assert_eq!(e.blamed_party(), Some(PartyId(2)), "{e}");
    }
}

fn fed_messages() -> Vec<Vec<u8>> {
    [
        FedMsg::Key { fingerprint: [7; 32] },
        FedMsg::Contribution { round: 3, ciphertexts: vec![1; 64] },
        FedMsg::Digest { round: 1, digest: [9; 32] },
        FedMsg::Echo { round: 1, digests: vec![(0, [1; 32]), (2, [3; 32])] },
        FedMsg::Relay { round: 2, parts: vec![(0, vec![5; 16]), (1, vec![6; 8])] },
        FedMsg::Partial { round: 0, bytes: vec![4; 40] },
    ]
    .iter()
    .map(|m| m.encode().unwrap().to_vec())
    .collect()
}

fn split_messages() -> Vec<Vec<u8>> {
    [
        SplitMsg::Keys { scheme: Scheme::Ckks, parts: vec![vec![1; 10], vec![]] },
        SplitMsg::Forward { rows: 16, cts: vec![vec![2; 12]] },
        SplitMsg::Logits { cts: vec![vec![3; 12]] },
        SplitMsg::Backward { rows: 4, cts: vec![vec![4; 3]] },
        SplitMsg::InputGrad { cts: vec![] },
        SplitMsg::TurnEnd,
        SplitMsg::Handover { turn: 2, share: LayerShare { w: vec![0.5; 6], b: vec![0.1; 2] } },
    ]
    .iter()
    .map(|m| m.encode().unwrap().to_vec())
    .collect()
}

fn requests() -> Vec<Request> {
    vec![
        Request::Triples { len: 3 },
        Request::MatTriple { m: 2, k: 2, n: 1 },
        Request::Trunc { len: 2, bits: 16 },
        Request::Random { len: 1 },
        Request::InputMask { owner: 1, len: 2 },
    ]
}

proptest! {
    #[test]
    fn federated_averaging_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), which in 0usize..6, m in mutation()) {
        let step = StepId::root("fedavg");
        named(FedMsg::decode(PartyId(2), &step, &bytes));
        named(FedMsg::decode(PartyId(2), &step, &mutate(&fed_messages()[which], &m.0, m.1, &m.2)));
    }

    #[test]
    fn split_learning_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), which in 0usize..7, m in mutation()) {
        let step = StepId::root("split");
        named(SplitMsg::decode(PartyId(2), &step, &bytes));
        named(SplitMsg::decode(PartyId(2), &step, &mutate(&split_messages()[which], &m.0, m.1, &m.2)));
    }

    #[test]
    fn requests_to_the_dealer_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), m in mutation()) {
        let _ = postcard::from_bytes::<DealerMsg>(&bytes);
        let valid = postcard::to_stdvec(&DealerMsg::Reserve(requests())).unwrap();
        if let Ok(DealerMsg::Reserve(reqs)) = postcard::from_bytes::<DealerMsg>(&mutate(&valid, &m.0, m.1, &m.2)) {
            // Sizes a member asks for are saturating: the dealer's cap check cannot overflow.
            for r in &reqs {
                let _ = r.size();
            }
        }
    }

    #[test]
    fn dealer_bundles_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000), me in 0usize..3, malicious: bool) {
        let security = if malicious { Security::Malicious } else { Security::SemiHonest };
        let step = StepId::root("prep");
        named(Bundle::decode(&bytes, &requests(), security, me, PartyId(2), &step));
    }
}
