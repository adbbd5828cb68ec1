//! Arbitrary operation sequences on the memory store (behind a fault-injecting wrapper),
//! checked step by step against the plain model the proptest state machine uses.
#![no_main]

#[allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::panic)]
#[path = "../../tests/support/model.rs"]
mod model;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: Vec<model::Op>| {
    model::Harness::run(&ops);
});
