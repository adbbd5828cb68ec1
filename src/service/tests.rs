//! The service on records no operation writes: counters and versions at their maximum, a
//! key that left the keyring. Built by hand, so unit tests (the fields are the crate's).

use crate::record::{Booking, Record, State, Version};
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
        Err(Error::Corrupt)
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
