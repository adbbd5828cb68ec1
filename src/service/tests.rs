//! What only the crate can build, under the service: records no operation writes (counters
//! and versions at their maximum, a key that left the keyring), and plans driven by hand,
//! where a test needs a store call answered as no real store would. Unit tests, as the
//! records' fields and the plans are the crate's; here, not under `plan`, so that the tests
//! import only downwards (service → plan → drive → store).

use std::borrow::ToOwned;
use std::format;
use std::vec::Vec;

use crate::decide::{Rules, Who};
use crate::ids::{RequestId, VerifierId};
use crate::plan::{Atomic, Next, Plan, Verify};
use crate::record::{Booking, Record, State, Version};
use crate::store::{Store, Swap};
use crate::{BookingId, Context, Digits, Error, Inactive, Key, KeyId, Keyring, MemoryStore};
use crate::{Outcome, Policy, Secret, Service, Timestamp};

fn keys() -> std::sync::Arc<Keyring> {
    Keyring::new(KeyId(1), Secret::from_bytes(&[9; 32]).unwrap()).into()
}

const T0: Timestamp = Timestamp(1_700_000_000);
const LATER: Timestamp = Timestamp(1_700_086_400);

fn id(s: &str) -> BookingId<'_> {
    BookingId::new(s).unwrap()
}

#[test]
fn counters_at_their_maximum_fail_closed() {
    let keys = keys();
    let service = Service::new(keys.clone(), Policy::new(Digits::Four), "c").unwrap();
    let store = MemoryStore::new();
    let booking = Booking {
        key_id: KeyId(1),
        generation: u32::MAX,
        digits: Digits::Four,
        failures: u8::MAX,
        lifetime_failures: u16::MAX,
        state: State::Active,
        issued_at: T0,
        expires_at: LATER,
        limits: Policy::new(Digits::Four).limits(),
        sends: 0,
        send_window_start: T0,
        last: None,
    };
    let key = Key::Booking {
        context: Context::new("c").unwrap(),
        id: id("max"),
    };
    store
        .compare_and_swap(key, None, &Record::Booking(booking), Version(u64::MAX))
        .unwrap();
    assert_eq!(
        service.verify(&store, id("max"), "0000", None, T0).unwrap(),
        Outcome::Locked
    );
    assert!(matches!(
        service.reissue(&store, id("max"), LATER, T0),
        Err(Error::Inactive(Inactive::Exhausted))
    ));
    // A version at its limit cannot be written past: an error, never an answer.
    let open = Booking {
        failures: 0,
        lifetime_failures: 0,
        generation: 0,
        ..booking
    };
    store
        .compare_and_swap(
            key,
            Some(Version(u64::MAX)),
            &Record::Booking(open),
            Version(u64::MAX),
        )
        .unwrap();
    assert!(matches!(
        service.verify(&store, id("max"), "0000", None, T0),
        Err(Error::Corrupt(_))
    ));
    // A record whose key has left the keyring is a fault, not a rejection.
    let orphan = Booking {
        key_id: KeyId(99),
        ..open
    };
    store
        .compare_and_swap(
            Key::Booking {
                context: Context::new("c").unwrap(),
                id: id("orphan"),
            },
            None,
            &Record::Booking(orphan),
            Version(1),
        )
        .unwrap();
    assert!(matches!(
        service.verify(&store, id("orphan"), "0000", None, T0),
        Err(Error::UnknownKey)
    ));
}

/// The reservation plan driven by hand: its settlement loses one race, and the verifier's
/// key then reads as a booking's record (corrupt). A wrong code is answered
/// `Error::Corrupt`, never a rejection whose failure is not counted; a right code keeps its
/// acceptance (its slot is only left held: over-counted, never under).
#[test]
fn a_settlement_that_reads_a_corrupt_verifier_record() {
    let keys = Keyring::new(KeyId(1), Secret::from_bytes(&[0x21; 32]).unwrap());
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(3, 86_400)
        .unwrap();
    let context = Context::new("corrupt-settle").unwrap();
    let service = Service::new(keys, policy, context).unwrap();
    let keys = service.keys.get();
    for right in [false, true] {
        let store = MemoryStore::new();
        let booking = BookingId::new("B").unwrap();
        let code = service
            .issue(&store, booking, Timestamp(2_000), Timestamp(1_000))
            .unwrap();
        let typed = if right {
            code.expose().to_owned()
        } else {
            let n: u32 = code.expose().parse().unwrap();
            format!("{:04}", (n + 1) % 10_000)
        };
        let booking_record = Store::load(
            &store,
            Key::Booking {
                context,
                id: booking,
            },
        )
        .unwrap()
        .unwrap();
        let rules = Rules {
            keys,
            policy: &policy,
            context,
        };
        let who = Who {
            verifier: Some(VerifierId::new("v").unwrap()),
            request: None,
        };
        let mut plan = Verify::new(rules, context, booking, &typed, who, Timestamp(1_000));
        let (mut swaps, mut settling) = (0, false);
        let answer = loop {
            match plan.next() {
                Next::Load(Key::Verifier { .. }) if settling => plan.loaded(Some(booking_record)),
                Next::Load(key) => {
                    let found = Store::load(&store, key).unwrap();
                    plan.loaded(found);
                }
                Next::Swap { record, entry } => {
                    swaps += 1;
                    // The third swap is the settlement: it loses its race once.
                    if swaps == 3 {
                        settling = true;
                        plan.swapped(Swap::Conflict);
                    } else {
                        let swap = store.compare_and_swap_audited(&entry, &record).unwrap();
                        plan.swapped(swap);
                    }
                }
                Next::Done(answer) => break answer,
                other => panic!("{other:?}"),
            }
        };
        if right {
            assert_eq!(answer.unwrap(), Outcome::Accepted);
        } else {
            assert!(
                matches!(answer, Err(crate::Error::Corrupt(_))),
                "a rejection answered uncounted: {answer:?}"
            );
        }
    }
}

/// Each mode's plan says what it is and where it stands, and leaves out what was typed: a
/// plan holding the right code, before and after it has run a step.
#[test]
fn plans_carry_no_code() {
    let keys = Keyring::new(KeyId(1), Secret::from_bytes(&[0x5e; 32]).unwrap());
    let policy = Policy::new(Digits::Six)
        .with_verifier_budget(3, 60)
        .unwrap();
    let context = Context::new("post/parcel").unwrap();
    let service = Service::new(keys, policy, context).unwrap();
    let keys = service.keys.get();
    let store = MemoryStore::new();
    let id = BookingId::new("EE123456789IN").unwrap();
    let code = service
        .issue(&store, id, Timestamp(100), Timestamp(1))
        .unwrap();
    let digits = code.expose().to_owned();
    let (verifier, request) = (
        Some(VerifierId::new("postman-7").unwrap()),
        RequestId::new("req-1").unwrap(),
    );
    let mut rendered = Vec::new();
    let who = Who {
        verifier,
        request: Some(request),
    };
    let rules = Rules {
        keys,
        policy: &policy,
        context,
    };
    let mut plan = Verify::new(rules, context, id, &digits, who, Timestamp(2));
    for stage in ["stage: Check", "stage: Check"] {
        let shown = format!("{plan:?}");
        assert!(
            shown.starts_with("Verify {") && shown.contains("typed: \"<redacted>\""),
            "{shown}"
        );
        assert!(
            shown.contains(stage) && shown.contains("EE123456789IN"),
            "{shown}"
        );
        rendered.push(shown);
        let _ = plan.next();
    }
    // Each mode's plan says what it is and where it stands, and leaves out what was typed.
    let rules = Rules {
        keys,
        policy: &policy,
        context,
    };
    let mut atomic = Atomic::new(rules, context, id, &digits, who, Timestamp(2));
    for _ in 0..2 {
        let shown = format!("{atomic:?}");
        assert!(
            shown.starts_with("Atomic {") && shown.contains("typed: \"<redacted>\""),
            "{shown}"
        );
        assert!(
            shown.contains("state: Read") && shown.contains("EE123456789IN"),
            "{shown}"
        );
        rendered.push(shown);
        let _ = atomic.next();
    }
    for shown in &rendered {
        assert!(!shown.contains(&digits), "{shown}");
    }
}
