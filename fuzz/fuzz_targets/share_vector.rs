//! Share vectors of Z_2^64 with a peer-influenced expected length.
#![no_main]

use consort_net::{PartyId, StepId, decode_u64s};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&k, bytes)) = data.split_first() else { return };
    let step = StepId::root("open");
    for expected in [usize::from(k), usize::MAX - usize::from(k)] {
        match decode_u64s(PartyId(1), &step, bytes, expected) {
            Ok(v) => assert_eq!(v.len() * 8, bytes.len()),
            Err(e) => assert_eq!(e.blamed_party(), Some(PartyId(1))),
        }
    }
});
