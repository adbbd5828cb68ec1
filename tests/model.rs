//! A proptest state machine: random issue, resend, re-issue, revoke and verify (right,
//! wrong, an old generation's code, malformed; with and without a verifier and a request
//! id) by four services on one store — two contexts with different policies and budgets,
//! a looser service on the first context, and one on the second context that keeps its
//! budgets in the first one's scope — with time moving forward and backward,
//! prunes, and injected store errors, conflicts and cut-off operations, on the reference
//! store. Each context is checked against its own model, which never sees the other's, so
//! any cross-talk fails; every answer, every stored record and the order of every
//! verification's store calls must agree with the model.
#![cfg(feature = "conformance")]
#![allow(unreachable_pub)]

#[path = "support/ops.rs"]
mod ops;

use handover_code::MemoryStore;
use handover_code::conformance::model::{Guess, Op, check_sequence_pruning};
use ops::op;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn crate_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        if let Err(failure) = check_sequence_pruning(MemoryStore::new(), &ops) {
            prop_assert!(false, "{}", failure);
        }
    }
}

/// The model catches a store that loses writes: here, one that forgets every update.
#[test]
fn the_model_catches_a_store_that_loses_writes() {
    use handover_code::conformance::model::check_sequence;
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
            service: 0,
            booking: 1,
            ttl: 100,
        },
        Op::Verify {
            service: 0,
            booking: 1,
            guess: Guess::Wrong(3),
            verifier: None,
            request: None,
        },
    ];
    let failure = check_sequence(Forgetful(MemoryStore::new()), &ops).unwrap_err();
    assert!(failure.detail.contains("stored"), "{failure}");
}

/// The model catches a store that ignores namespaces: one context's records seen by another.
#[test]
fn the_model_catches_a_store_that_ignores_namespaces() {
    use handover_code::Context;
    use handover_code::conformance::model::check_sequence;
    use handover_code::record::{Record, Version};
    use handover_code::store::{Key, Store, Swap};

    /// Stores every booking under one context: the bug the shared-store issue found.
    struct OneNamespace(MemoryStore);
    fn flatten(key: Key<'_>) -> Key<'_> {
        match key {
            Key::Booking { id, .. } => Key::Booking {
                context: Context::new("all").unwrap(),
                id,
            },
            other => other,
        }
    }
    impl Store for OneNamespace {
        type Error = <MemoryStore as Store>::Error;
        fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
            self.0.load(flatten(key))
        }
        fn compare_and_swap(
            &self,
            key: Key<'_>,
            expected: Option<Version>,
            record: &Record,
            new: Version,
        ) -> Result<Swap, Self::Error> {
            self.0.compare_and_swap(flatten(key), expected, record, new)
        }
    }
    let ops = [
        Op::Issue {
            service: 0,
            booking: 2,
            ttl: 100,
        },
        Op::Issue {
            service: 1,
            booking: 2,
            ttl: 100,
        },
    ];
    let failure = check_sequence(OneNamespace(MemoryStore::new()), &ops).unwrap_err();
    assert!(failure.detail.contains("stored"), "{failure}");
}

/// Found by the fuzz target: a retry of an accepted request with anything but the right code
/// is answered `AlreadyRedeemed`, and still settles the slot that paid for the original.
#[test]
fn a_retry_of_an_accepted_request_settles_its_slot_whatever_it_types() {
    use handover_code::conformance::model::Fault;
    let ops = [
        Op::Issue {
            service: 1,
            booking: 1,
            ttl: 1_000,
        },
        // Cut off after the redemption landed, before the slot was settled.
        Op::Arm(Fault::Cut { at: 3, lands: true }),
        Op::Verify {
            service: 1,
            booking: 1,
            guess: Guess::Right,
            verifier: Some(1),
            request: Some(3),
        },
        Op::Verify {
            service: 1,
            booking: 1,
            guess: Guess::Malformed,
            verifier: Some(1),
            request: Some(3),
        },
    ];
    check_sequence_pruning(MemoryStore::new(), &ops).unwrap();
}

/// Found by the fuzz target: a retry whose slot was taken on an older version of the booking
/// reads the booking to find that out, and then is busy like anyone else.
#[test]
fn a_retry_holding_a_stale_slot_is_busy_after_reading_the_booking() {
    use handover_code::conformance::model::Fault;
    let cut = Op::Arm(Fault::Cut { at: 2, lands: true });
    let verify = |booking, request| Op::Verify {
        service: 1,
        booking,
        guess: Guess::Wrong(1),
        verifier: Some(1),
        request: Some(request),
    };
    let ops = [
        Op::Issue {
            service: 1,
            booking: 1,
            ttl: 1_000,
        },
        Op::Issue {
            service: 1,
            booking: 2,
            ttl: 1_000,
        },
        cut,
        verify(1, 1),
        Op::Resend {
            service: 1,
            booking: 1,
        },
        cut,
        verify(2, 2),
        // Both slots of the budget of 2 are held; request 1's on booking 1's old version.
        verify(1, 1),
    ];
    check_sequence_pruning(MemoryStore::new(), &ops).unwrap();
}
