//! The record encoding: every record round-trips, and no byte string makes decoding panic.

use std::vec;

use proptest::prelude::*;

use crate::record::{
    Booking, DecodeError, Earlier, Hold, IdBuf, Last, Limits, Record, State, Verifier, Version,
};
use crate::{BookingId, Context, Digits, Key, KeyId, MemoryStore, Swap, Timestamp};

fn id() -> impl Strategy<Value = Option<IdBuf>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=64))
        .prop_map(|bytes| bytes.and_then(|b| IdBuf::new(&b)))
}

fn last() -> impl Strategy<Value = Option<Last>> {
    let answer = prop_oneof![
        Just(Earlier::Accepted),
        any::<u8>().prop_map(|attempts_left| Earlier::Rejected { attempts_left }),
        Just(Earlier::Overridden),
    ];
    proptest::option::of((any::<u64>(), any::<u64>(), id(), id(), answer).prop_map(
        |(at, paid_by, verifier, request, answer)| Last {
            at: Timestamp(at),
            paid_by: Version(paid_by),
            verifier,
            request,
            answer,
        },
    ))
}

fn record() -> impl Strategy<Value = Record> {
    let state = prop_oneof![
        Just(State::Active),
        Just(State::Redeemed),
        Just(State::Locked),
        Just(State::Revoked)
    ];
    let digits = prop_oneof![Just(Digits::Four), Just(Digits::Five), Just(Digits::Six)];
    let limits = (1..=u8::MAX, any::<u16>(), 1..=u8::MAX, 1..=u32::MAX).prop_map(
        |(attempts, lifetime_cap, sends, send_window_secs)| Limits {
            attempts,
            lifetime_cap,
            sends,
            send_window_secs,
        },
    );
    let booking = (
        (
            any::<u32>(),
            any::<u32>(),
            digits,
            any::<u8>(),
            any::<u16>(),
            state,
        ),
        (
            any::<u64>(),
            any::<u64>(),
            limits,
            any::<u8>(),
            any::<u64>(),
            last(),
        ),
    )
        .prop_map(
            |(
                (key, generation, digits, failures, lifetime_failures, state),
                (issued, expires, limits, sends, send_start, last),
            )| {
                Record::Booking(Booking {
                    key_id: KeyId(key),
                    generation,
                    digits,
                    failures,
                    lifetime_failures,
                    state,
                    issued_at: Timestamp(issued),
                    expires_at: Timestamp(expires),
                    limits,
                    sends,
                    send_window_start: Timestamp(send_start),
                    last,
                })
            },
        );
    let verifier = (
        any::<u64>(),
        1..=u64::MAX,
        1..=u32::MAX,
        any::<u32>(),
        any::<u32>(),
        any::<[([u8; 16], u64, u64, bool); Verifier::HOLDS]>(),
    )
        .prop_map(|(start, window_secs, limit, failures, held, holds)| {
            Record::Verifier(Verifier {
                window_start: Timestamp(start),
                window_secs,
                limit,
                failures,
                held,
                holds: holds.map(|(tag, on, id, shared)| Hold {
                    tag,
                    on: Version(on),
                    id: Version(id),
                    shared,
                }),
            })
        });
    prop_oneof![booking, verifier]
}

/// The encoded length of a record.
fn length(record: &Record) -> usize {
    match record {
        Record::Verifier(_) => Record::VERIFIER_LEN,
        Record::Booking(b) => match &b.last {
            None => Record::BOOKING_MIN_LEN,
            Some(l) => {
                let id = |i: &Option<IdBuf>| i.as_ref().map_or(0, |i| i.as_bytes().len());
                Record::BOOKING_MIN_LEN + 18 + 2 + id(&l.verifier) + id(&l.request)
            }
        },
    }
}

proptest! {
    #[test]
    fn every_record_round_trips(record in record()) {
        let mut buf = [0u8; Record::MAX_LEN];
        let len = record.encode(&mut buf);
        prop_assert_eq!(len, length(&record));
        prop_assert!(len <= Record::MAX_LEN);
        prop_assert_eq!(Record::decode_checked(&buf[..len]), Ok(record));
        // One byte short or one byte long is an error.
        prop_assert_eq!(Record::decode_checked(&buf[..len - 1]), Err(DecodeError::Length));
        let mut longer = buf[..len].to_vec();
        longer.push(0);
        prop_assert_eq!(Record::decode_checked(&longer), Err(DecodeError::Length));
    }

    /// The memory store keeps records packed (a booking's last ids out of line, a verifier's
    /// budget boxed, boxes reused by the writes over them): each record reads back exactly
    /// as written, whatever it replaced.
    #[test]
    fn the_memory_store_gives_back_every_record_exactly(
        records in proptest::collection::vec(record(), 1..6),
    ) {
        let store = MemoryStore::new();
        // A key kept inline, and one too long for it.
        let (wide, long) = ("c".repeat(64), "b".repeat(128));
        let keys = [
            Key::Booking {
                context: Context::new("records").unwrap(),
                id: BookingId::new("b").unwrap(),
            },
            Key::Booking {
                context: Context::new(&wide).unwrap(),
                id: BookingId::new(&long).unwrap(),
            },
        ];
        for key in keys {
            let mut prior = None;
            for (n, record) in (1..).zip(&records) {
                prop_assert_eq!(
                    store.compare_and_swap(key, prior, record, Version(n)).ok(),
                    Some(Swap::Swapped)
                );
                prop_assert_eq!(store.load(key).ok(), Some(Some((*record, Version(n)))));
                prior = Some(Version(n));
            }
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..250)) {
        let _ = Record::decode_checked(&bytes);
    }

    #[test]
    fn decoding_near_valid_bytes_never_panics(record in record(), at in 0usize..250, byte in any::<u8>()) {
        let mut buf = [0u8; Record::MAX_LEN];
        let len = record.encode(&mut buf);
        buf[at % len] = byte;
        if let Ok(decoded) = Record::decode_checked(&buf[..len]) {
            let mut again = [0u8; Record::MAX_LEN];
            let n = decoded.encode(&mut again);
            if buf[0] == Record::FORMAT {
                prop_assert_eq!(&again[..n], &buf[..len]);
            } else {
                // The previous format, still read, is written back in the current one (a
                // booking's format byte turned 4 -> 3 decodes as the same booking).
                prop_assert_eq!(buf[0], Record::FORMAT_3);
                prop_assert_eq!(again[0], Record::FORMAT);
                prop_assert_eq!(Record::decode_checked(&again[..n]), Ok(decoded));
            }
        }
    }
}

/// A verifier's record with two failures and `holds`.
fn verifier_holding(holds: [Hold; Verifier::HOLDS]) -> Verifier {
    Verifier {
        window_start: Timestamp(1),
        window_secs: 60,
        limit: 5,
        failures: 2,
        held: 1,
        holds,
    }
}

#[test]
fn bad_fields_are_named() {
    let mut buf = [0u8; Record::MAX_LEN];
    let verifier = verifier_holding(Default::default());
    let len = Record::Verifier(verifier).encode(&mut buf);
    buf[0] = 9;
    assert_eq!(
        Record::decode_checked(&buf[..len]),
        Err(DecodeError::Format)
    );
    buf[0] = Record::FORMAT;
    buf[1] = 7;
    assert_eq!(Record::decode_checked(&buf[..len]), Err(DecodeError::Field));
    assert_eq!(Record::decode_checked(&[]), Err(DecodeError::Length));
    // A window of 0 seconds or a limit of 0 is no budget a record can have.
    buf[1] = 2;
    buf[10..18].fill(0);
    assert_eq!(Record::decode_checked(&buf[..len]), Err(DecodeError::Field));
    let len = Record::Verifier(Verifier {
        limit: 0,
        ..verifier
    })
    .encode(&mut buf);
    assert_eq!(Record::decode_checked(&buf[..len]), Err(DecodeError::Field));
    // A hold's shared byte is 0 or 1.
    let len = Record::Verifier(verifier).encode(&mut buf);
    buf[len - 1] = 2;
    assert_eq!(Record::decode_checked(&buf[..len]), Err(DecodeError::Field));
}

/// Records of the previous format (3) still read: their holds had no shared byte, and none
/// was shared.
#[test]
fn format_3_verifier_records_still_read() {
    let hold = Hold {
        tag: [7; 16],
        on: Version(5),
        id: Version(9),
        shared: false,
    };
    let verifier = verifier_holding([hold, Hold::default(), Hold::default(), Hold::default()]);
    let mut buf = [0u8; Record::MAX_LEN];
    let len = Record::Verifier(verifier).encode(&mut buf);
    // The same record in format 3: drop each hold's last byte.
    let mut old = vec![Record::FORMAT_3];
    old.extend_from_slice(&buf[1..30]);
    for place in buf[30..len].chunks(33) {
        old.extend_from_slice(&place[..32]);
    }
    assert_eq!(old.len(), len - Verifier::HOLDS);
    assert_eq!(Record::decode_checked(&old), Ok(Record::Verifier(verifier)));
    let shared = Verifier {
        holds: [
            Hold {
                shared: true,
                ..hold
            },
            Hold::default(),
            Hold::default(),
            Hold::default(),
        ],
        ..verifier
    };
    let len = Record::Verifier(shared).encode(&mut buf);
    assert_eq!(
        Record::decode_checked(&buf[..len]),
        Ok(Record::Verifier(shared))
    );
}

/// A record that does not decode is a corrupt store error, wrapped by a store's own error
/// type (twice, even) or not: the service answers it `Error::Corrupt`.
#[test]
fn a_decode_failure_anywhere_in_the_chain_is_corrupt() {
    use crate::{Error, StoreError};
    use std::string::ToString;
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] StoreError);

    let decode = Record::decode_stored(&[0xff; 3]).unwrap_err();
    let wrapped = StoreError::new(Outer(StoreError::new(Outer(decode))));
    assert_eq!(wrapped.to_string(), "outer");
    assert!(wrapped.find::<DecodeError>().is_some());
    assert!(matches!(Error::from(wrapped), Error::Corrupt(_)));
    assert!(matches!(Record::decode(&[]), Err(Error::Corrupt(_))));
}
