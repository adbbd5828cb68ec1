//! A proptest state machine: random issue, resend, re-issue, revoke and verify (right,
//! wrong, an old generation's code, malformed; with and without a verifier and a request
//! id), and overrides (with and without an actor budget, of closed bookings where a
//! service allows it) by four services on one store — two contexts with different policies and budgets,
//! a looser service on the first context, and one on the second context that keeps its
//! budgets in the first one's scope — with time moving forward and backward,
//! prunes, and injected store errors, conflicts and cut-off operations, on the reference
//! store, in both verification modes (with its transactions, and one key at a time). Each context is checked against its own model, which never sees the other's, so
//! any cross-talk fails; every answer, every stored record and the order of every
//! verification's store calls must agree with the model, and so must the audit log: every
//! record change has its entry, chained from the version before, saying what the model did.
#![cfg(feature = "conformance")]
#![allow(unreachable_pub)]

#[path = "support/ops.rs"]
mod ops;

use handover_code::MemoryStore;
use handover_code::conformance::WithoutTransactions;
use handover_code::conformance::model::{
    Guess, Op, check_sequence_audited, check_sequence_pruning,
};
use ops::op;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn crate_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        // In both verification modes: with the store's transactions, and one key at a time.
        if let Err(failure) = check_sequence_audited(MemoryStore::new(), &ops) {
            prop_assert!(false, "with transactions: {}", failure);
        }
        if let Err(failure) = check_sequence_audited(WithoutTransactions(MemoryStore::new()), &ops) {
            prop_assert!(false, "one key at a time: {}", failure);
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
    check_sequence_pruning(WithoutTransactions(MemoryStore::new()), &ops).unwrap();
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
    check_sequence_pruning(WithoutTransactions(MemoryStore::new()), &ops).unwrap();
}

/// A sequence that touches every kind of record and audit action: issue, resend, a wrong
/// code with a verifier (slot held, failure settled), the right code, an override of
/// another booking counted against an actor's budget, a revoke.
fn audited_ops() -> Vec<Op> {
    vec![
        Op::Issue {
            service: 0,
            booking: 1,
            ttl: 100,
        },
        Op::Resend {
            service: 0,
            booking: 1,
        },
        Op::Verify {
            service: 0,
            booking: 1,
            guess: Guess::Wrong(3),
            verifier: Some(0),
            request: Some(1),
        },
        Op::Verify {
            service: 0,
            booking: 1,
            guess: Guess::Right,
            verifier: Some(0),
            request: Some(2),
        },
        Op::Issue {
            service: 0,
            booking: 2,
            ttl: 100,
        },
        Op::Override {
            service: 0,
            booking: 2,
            actor: 1,
            reason: 0,
        },
        Op::Issue {
            service: 0,
            booking: 3,
            ttl: 100,
        },
        Op::Revoke {
            service: 0,
            booking: 3,
        },
    ]
}

#[test]
fn the_audit_log_of_a_full_sequence_agrees_with_the_model() {
    check_sequence_audited(MemoryStore::new(), &audited_ops()).unwrap();
    check_sequence_audited(WithoutTransactions(MemoryStore::new()), &audited_ops()).unwrap();
}

/// The audit check bites: a store that keeps no audit log fails it at the first write.
#[test]
fn the_model_catches_a_store_that_keeps_no_audit_log() {
    let failure =
        check_sequence_audited(MemoryStore::new().without_audit(), &audited_ops()).unwrap_err();
    assert!(failure.detail.contains("audit chain"), "{failure}");
}

/// The audit check bites: a store that drops the entries of budget writes (the swaps land,
/// their entries do not) fails it at the first verifier's slot.
#[test]
fn the_model_catches_a_store_that_drops_some_audit_entries() {
    use handover_code::Timestamp;
    use handover_code::audit::Entry;
    use handover_code::record::{Record, Version};
    use handover_code::store::{AuditEntry, AuditLog, Cursor};
    use handover_code::store::{Key, Store, Swap};

    struct Partial(MemoryStore);
    impl Store for Partial {
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
            self.0.compare_and_swap(key, expected, record, new)
        }
        fn compare_and_swap_audited(
            &self,
            entry: &Entry<'_>,
            record: &Record,
        ) -> Result<Swap, Self::Error> {
            match entry.key {
                Key::Verifier { .. } => {
                    self.0
                        .compare_and_swap(entry.key, entry.prior, record, entry.version)
                }
                _ => self.0.compare_and_swap_audited(entry, record),
            }
        }
        fn prune(&self, before: Timestamp) -> Result<u64, Self::Error> {
            self.0.prune(before)
        }
    }
    impl AuditLog for Partial {
        fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Self::Error> {
            self.0.history(key)
        }
        fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Self::Error> {
            self.0.since(cursor, limit)
        }
        fn prune_audit(&self, before: Timestamp) -> Result<u64, Self::Error> {
            self.0.prune_audit(before)
        }
    }
    let failure = check_sequence_audited(Partial(MemoryStore::new()), &audited_ops()).unwrap_err();
    assert!(
        failure.detail.contains("record (2, 0, 0)") && failure.detail.contains("audit chain"),
        "{failure}"
    );
}

/// A wrong code whose settlement on the verifier's budget is cut off (the store call fails,
/// nothing written) is not answered as a rejection: the model checks, whatever fault fired,
/// that a rejection's last store call landed the verifier's record. The retry with the
/// request id settles it and replays the rejection.
#[test]
fn a_rejection_whose_settlement_fails_is_not_answered() {
    use handover_code::conformance::model::{Fault, check_sequence};
    let verify = Op::Verify {
        service: 0,
        booking: 0,
        guess: Guess::Wrong(3),
        verifier: Some(0),
        request: Some(1),
    };
    let ops = [
        Op::Issue {
            service: 0,
            booking: 0,
            ttl: 300,
        },
        // Calls: load the verifier, load the booking, hold, write the booking, settle (4).
        Op::Arm(Fault::Cut {
            at: 4,
            lands: false,
        }),
        verify,
        verify,
    ];
    check_sequence(WithoutTransactions(MemoryStore::new()), &ops).unwrap();
    // With transactions the rejection and its failure are one write (call 2): cut off, it
    // is not answered, and the retry writes it.
    let mut atomic = ops;
    atomic[1] = Op::Arm(Fault::Cut {
        at: 2,
        lands: false,
    });
    check_sequence(MemoryStore::new(), &atomic).unwrap();
}
