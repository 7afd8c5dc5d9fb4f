//! The typed messages of federated averaging and split learning.
#![no_main]

use consort_net::{PartyId, StepId};
use consort_protocols::fedavg::msg::FedMsg;
use consort_protocols::split::msg::SplitMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let step = StepId::root("fuzz");
    if let Err(e) = FedMsg::decode(PartyId(2), &step, data) {
        assert_eq!(e.blamed_party(), Some(PartyId(2)));
    }
    if let Err(e) = SplitMsg::decode(PartyId(2), &step, data) {
        assert_eq!(e.blamed_party(), Some(PartyId(2)));
    }
});
