//! Frame headers as a peer sends them: any bytes decode or are refused naming the peer.
#![no_main]

use consort_net::PartyId;
use consort_net::frame::Header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = Header::decode(PartyId(3), data) {
        assert_eq!(e.blamed_party(), Some(PartyId(3)));
    }
});
