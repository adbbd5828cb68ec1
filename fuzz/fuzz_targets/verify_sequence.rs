//! Arbitrary operation sequences by four services on one memory store (behind a
//! fault-injecting, call-tracing wrapper), prunes included, checked step by step against
//! the plain model in `conformance::model`: answers, stored records, isolation between
//! contexts, the order of each verification's store calls, overrides, and the audit log the
//! store keeps (every record change chained to its entry, saying what the model did). Each
//! sequence runs in both verification modes: with the store's transactions, and one key at
//! a time (`WithoutTransactions`).
#![no_main]

use handover_code::MemoryStore;
use handover_code::conformance::WithoutTransactions;
use handover_code::conformance::model::{Op, check_sequence_audited};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: Vec<Op>| {
    if let Err(failure) = check_sequence_audited(MemoryStore::new(), &ops) {
        panic!("with transactions: {failure}");
    }
    if let Err(failure) = check_sequence_audited(WithoutTransactions(MemoryStore::new()), &ops) {
        panic!("one key at a time: {failure}");
    }
});
