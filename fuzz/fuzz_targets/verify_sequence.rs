//! Arbitrary operation sequences on the memory store (behind a fault-injecting wrapper),
//! checked step by step against the plain model in `conformance::model`.
#![no_main]

use handover_code::MemoryStore;
use handover_code::conformance::model::{Op, check_sequence};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: Vec<Op>| {
    if let Err(failure) = check_sequence(MemoryStore::new(), &ops) {
        panic!("{failure}");
    }
});
