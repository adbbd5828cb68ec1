//! A proptest state machine: random issue, resend, re-issue, revoke and verify (right,
//! wrong, an old generation's code, malformed; with and without a verifier), time moving
//! forward and backward, and injected store errors and conflicts. The crate and a plain
//! model must agree on every answer; faults must never yield an acceptance and leave only
//! states the model allows.
#![allow(unreachable_pub)]

#[path = "support/model.rs"]
mod model;

use model::{Fault, Guess, Harness, Op};
use proptest::prelude::*;

fn guess() -> impl Strategy<Value = Guess> {
    prop_oneof![3 => Just(Guess::Right), 4 => any::<u16>().prop_map(Guess::Wrong), 1 => Just(Guess::Old), 1 => Just(Guess::Malformed)]
}

fn op() -> impl Strategy<Value = Op> {
    let ttl = prop_oneof![Just(0u16), 1u16..400];
    prop_oneof![
        2 => (any::<u8>(), ttl.clone()).prop_map(|(booking, ttl)| Op::Issue { booking, ttl }),
        1 => any::<u8>().prop_map(|booking| Op::Resend { booking }),
        1 => (any::<u8>(), ttl).prop_map(|(booking, ttl)| Op::Reissue { booking, ttl }),
        1 => any::<u8>().prop_map(|booking| Op::Revoke { booking }),
        8 => (any::<u8>(), guess(), proptest::option::of(any::<u8>())).prop_map(|(booking, guess, verifier)| Op::Verify { booking, guess, verifier }),
        2 => (-150i16..300).prop_map(|seconds| Op::Time { seconds }),
        1 => prop_oneof![Just(Fault::LoadError), Just(Fault::SwapError), Just(Fault::SpuriousConflict)].prop_map(Op::Arm),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn crate_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        Harness::run(&ops);
    }
}
