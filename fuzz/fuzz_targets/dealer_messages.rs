//! Requests to the dealer and the bundles it answers with, in both security modes.
#![no_main]

use consort_net::{PartyId, StepId};
use consort_protocols::spdz::Security;
use consort_protocols::spdz::prep::{Bundle, DealerMsg, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(DealerMsg::Reserve(reqs)) = postcard::from_bytes::<DealerMsg>(data) {
        for r in &reqs {
            let _ = r.size();
        }
    }
    let reqs = [Request::Triples { len: 4 }, Request::Trunc { len: 2, bits: 16 }, Request::Random { len: 3 }];
    let step = StepId::root("prep");
    for security in [Security::SemiHonest, Security::Malicious] {
        if let Err(e) = Bundle::decode(data, &reqs, security, 1, PartyId(2), &step) {
            assert_eq!(e.blamed_party(), Some(PartyId(2)));
        }
    }
});
