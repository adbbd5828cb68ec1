//! A proptest state machine: random issue, resend, re-issue, revoke and verify (right,
//! wrong, an old generation's code, malformed; with and without a verifier), time moving
//! forward and backward, and injected store errors and conflicts, on the reference store.
//! The crate and the plain model in `conformance::model` must agree on every answer and
//! every stored record; faults must never yield an acceptance and leave only states the
//! model allows.
#![cfg(feature = "conformance")]

use handover_code::MemoryStore;
use handover_code::conformance::model::{Fault, Guess, Op, check_sequence};
use proptest::prelude::*;

fn guess() -> impl Strategy<Value = Guess> {
    prop_oneof![
        3 => Just(Guess::Right),
        4 => any::<u16>().prop_map(Guess::Wrong),
        1 => Just(Guess::Old),
        1 => Just(Guess::Malformed),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let ttl = prop_oneof![Just(0u16), 1u16..400];
    let fault = prop_oneof![
        Just(Fault::LoadError),
        Just(Fault::SwapError),
        Just(Fault::SpuriousConflict)
    ];
    prop_oneof![
        2 => (any::<u8>(), ttl.clone()).prop_map(|(booking, ttl)| Op::Issue { booking, ttl }),
        1 => any::<u8>().prop_map(|booking| Op::Resend { booking }),
        1 => (any::<u8>(), ttl).prop_map(|(booking, ttl)| Op::Reissue { booking, ttl }),
        1 => any::<u8>().prop_map(|booking| Op::Revoke { booking }),
        8 => (any::<u8>(), guess(), proptest::option::of(any::<u8>()))
            .prop_map(|(booking, guess, verifier)| Op::Verify { booking, guess, verifier }),
        2 => (-150i16..300).prop_map(|seconds| Op::Time { seconds }),
        1 => fault.prop_map(Op::Arm),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn crate_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        if let Err(failure) = check_sequence(MemoryStore::new(), &ops) {
            prop_assert!(false, "{}", failure);
        }
    }
}

/// The model catches a store that loses writes: here, one that forgets every update.
#[test]
fn the_model_catches_a_store_that_loses_writes() {
    use handover_code::record::{Record, Version};
    use handover_code::store::{Key, Store, Swap};

    struct Forgetful(MemoryStore);
    impl Store for Forgetful {
        type Error = <MemoryStore as Store>::Error;
        fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
            self.0.load(key)
        }
        fn compare_and_swap(
            &self,
            key: Key<'_>,
            expected: Option<Version>,
            record: &Record,
            new: Version,
        ) -> Result<Swap, Self::Error> {
            match expected {
                None => self.0.compare_and_swap(key, expected, record, new),
                Some(_) => Ok(Swap::Swapped), // claims the write, keeps nothing
            }
        }
    }
    let ops = [
        Op::Issue {
            booking: 1,
            ttl: 100,
        },
        Op::Verify {
            booking: 1,
            guess: Guess::Wrong(3),
            verifier: None,
        },
    ];
    let failure = check_sequence(Forgetful(MemoryStore::new()), &ops).unwrap_err();
    assert!(failure.detail.contains("stored"), "{failure}");
}
