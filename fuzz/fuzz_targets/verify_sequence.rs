//! Arbitrary operation sequences by three services on one memory store (behind a
//! fault-injecting, call-tracing wrapper), prunes included, checked step by step against
//! the plain model in `conformance::model`: answers, stored records, isolation between
//! contexts, and the order of each verification's store calls.
#![no_main]

use handover_code::MemoryStore;
use handover_code::conformance::model::{Op, check_sequence_pruning};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: Vec<Op>| {
    if let Err(failure) = check_sequence_pruning(MemoryStore::new(), &ops) {
        panic!("{failure}");
    }
});
