//! The record encoding: every record round-trips, and no byte string makes decoding panic.

use handover_code::record::{Booking, DecodeError, Record, State, Verifier};
use handover_code::{Digits, KeyId, Timestamp};
use proptest::prelude::*;

fn record() -> impl Strategy<Value = Record> {
    let state = prop_oneof![
        Just(State::Active),
        Just(State::Redeemed),
        Just(State::Locked),
        Just(State::Revoked)
    ];
    let digits = prop_oneof![Just(Digits::Four), Just(Digits::Five), Just(Digits::Six)];
    let booking = (
        any::<u32>(),
        any::<u32>(),
        digits,
        any::<u8>(),
        any::<u16>(),
        state,
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(key, generation, digits, failures, lifetime_failures, state, issued, expires)| {
                Record::Booking(Booking {
                    key_id: KeyId(key),
                    generation,
                    digits,
                    failures,
                    lifetime_failures,
                    state,
                    issued_at: Timestamp(issued),
                    expires_at: Timestamp(expires),
                })
            },
        );
    let verifier = (any::<u64>(), any::<u32>()).prop_map(|(start, failures)| {
        Record::Verifier(Verifier {
            window_start: Timestamp(start),
            failures,
        })
    });
    prop_oneof![booking, verifier]
}

proptest! {
    #[test]
    fn every_record_round_trips(record in record()) {
        let mut buf = [0u8; Record::MAX_LEN];
        let len = record.encode(&mut buf);
        let want = if matches!(record, Record::Booking(_)) { Record::BOOKING_LEN } else { Record::VERIFIER_LEN };
        prop_assert_eq!(len, want);
        prop_assert_eq!(Record::decode(&buf[..len]), Ok(record));
        // One byte short or one byte long is an error.
        prop_assert_eq!(Record::decode(&buf[..len - 1]), Err(DecodeError::Length));
        let mut longer = buf[..len].to_vec();
        longer.push(0);
        prop_assert_eq!(Record::decode(&longer), Err(DecodeError::Length));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = Record::decode(&bytes);
    }

    #[test]
    fn decoding_near_valid_bytes_never_panics(record in record(), at in 0usize..31, byte in any::<u8>()) {
        let mut buf = [0u8; Record::MAX_LEN];
        let len = record.encode(&mut buf);
        buf[at % len] = byte;
        if let Ok(decoded) = Record::decode(&buf[..len]) {
            let mut again = [0u8; Record::MAX_LEN];
            let n = decoded.encode(&mut again);
            prop_assert_eq!(&again[..n], &buf[..len]);
        }
    }
}

#[test]
fn bad_fields_are_named() {
    let mut buf = [0u8; Record::MAX_LEN];
    let len = Record::Verifier(Verifier {
        window_start: Timestamp(1),
        failures: 2,
    })
    .encode(&mut buf);
    buf[0] = 9;
    assert_eq!(Record::decode(&buf[..len]), Err(DecodeError::Format));
    buf[0] = Record::FORMAT;
    buf[1] = 7;
    assert_eq!(Record::decode(&buf[..len]), Err(DecodeError::Field));
    assert_eq!(Record::decode(&[]), Err(DecodeError::Length));
}
