//! Feature `serde`: the documented JSON shapes, exact round trips, and refusals that leave
//! no value breaking its bounds.
#![cfg(feature = "serde")]

use handover_code::record::Earlier;
use handover_code::{BookingId, Digits, KeyId, Outcome, Policy, RequestId, Timestamp};
use proptest::prelude::*;

/// Every outcome with the JSON the docs promise for it.
fn shapes() -> Vec<(Outcome, &'static str)> {
    vec![
        (Outcome::Accepted, r#"{"outcome":"accepted"}"#),
        (
            Outcome::Rejected { attempts_left: 2 },
            r#"{"outcome":"rejected","attempts_left":2}"#,
        ),
        (
            Outcome::Replayed(Earlier::Accepted),
            r#"{"outcome":"replayed","answer":"accepted"}"#,
        ),
        (
            Outcome::Replayed(Earlier::Rejected { attempts_left: 1 }),
            r#"{"outcome":"replayed","answer":"rejected","attempts_left":1}"#,
        ),
        (Outcome::Locked, r#"{"outcome":"locked"}"#),
        (Outcome::Expired, r#"{"outcome":"expired"}"#),
        (
            Outcome::AlreadyRedeemed { by_override: false },
            r#"{"outcome":"already_redeemed","by_override":false}"#,
        ),
        (
            Outcome::AlreadyRedeemed { by_override: true },
            r#"{"outcome":"already_redeemed","by_override":true}"#,
        ),
        (Outcome::Revoked, r#"{"outcome":"revoked"}"#),
        (Outcome::UnknownBooking, r#"{"outcome":"unknown_booking"}"#),
        (
            Outcome::VerifierSuspended {
                until: Timestamp(1_700_000_000),
            },
            r#"{"outcome":"verifier_suspended","until":1700000000}"#,
        ),
    ]
}

#[test]
fn outcomes_have_the_documented_shape_and_read_back() {
    for (outcome, json) in shapes() {
        assert_eq!(serde_json::to_string(&outcome).unwrap(), json);
        assert_eq!(serde_json::from_str::<Outcome>(json).unwrap(), outcome);
    }
}

#[test]
fn outcome_fields_read_in_any_order() {
    let json = r#"{"attempts_left":1,"answer":"rejected","outcome":"replayed"}"#;
    assert_eq!(
        serde_json::from_str::<Outcome>(json).unwrap(),
        Outcome::Replayed(Earlier::Rejected { attempts_left: 1 })
    );
}

#[test]
fn malformed_outcomes_are_refused() {
    for json in [
        r#"{}"#,
        r#"{"outcome":"granted"}"#,
        r#"{"outcome":"rejected"}"#,
        r#"{"outcome":"accepted","attempts_left":1}"#,
        r#"{"outcome":"accepted","until":5}"#,
        r#"{"outcome":"replayed"}"#,
        r#"{"outcome":"replayed","answer":"accepted","attempts_left":1}"#,
        r#"{"outcome":"replayed","answer":"rejected"}"#,
        r#"{"outcome":"verifier_suspended"}"#,
        r#"{"outcome":"accepted","outcome":"accepted"}"#,
        r#"{"outcome":"accepted","extra":true}"#,
        r#"{"outcome":"rejected","attempts_left":256}"#,
        r#""accepted""#,
    ] {
        assert!(
            serde_json::from_str::<Outcome>(json).is_err(),
            "{json} was read"
        );
    }
}

#[test]
fn earlier_answers_stand_alone() {
    let rejected = Earlier::Rejected { attempts_left: 3 };
    let json = serde_json::to_string(&rejected).unwrap();
    assert_eq!(json, r#"{"answer":"rejected","attempts_left":3}"#);
    assert_eq!(serde_json::from_str::<Earlier>(&json).unwrap(), rejected);
    assert!(serde_json::from_str::<Earlier>(r#"{"answer":"accepted","outcome":"x"}"#).is_err());
}

#[test]
fn scalars_are_bare_numbers() {
    assert_eq!(serde_json::to_string(&Timestamp(42)).unwrap(), "42");
    assert_eq!(serde_json::to_string(&KeyId(7)).unwrap(), "7");
    assert_eq!(serde_json::to_string(&Digits::Five).unwrap(), "5");
    assert_eq!(serde_json::from_str::<Digits>("6").unwrap(), Digits::Six);
    for bad in ["3", "7", "0", "-4", "\"4\""] {
        assert!(
            serde_json::from_str::<Digits>(bad).is_err(),
            "{bad} read as digits"
        );
    }
}

#[test]
fn policies_round_trip_exactly_and_are_checked_on_the_way_in() {
    let policies = [
        Policy::new(Digits::Four),
        Policy::new(Digits::Six)
            .with_attempts(10)
            .unwrap()
            .with_lifetime_cap(25)
            .unwrap()
            .with_verifier_budget(20, 86_400)
            .unwrap()
            .with_send_limit(3, 3_600)
            .unwrap()
            .with_max_retries(64)
            .unwrap()
            .with_clock_skew(300)
            .unwrap(),
        Policy::new(Digits::Four)
            .with_clock_skew(0)
            .unwrap()
            .with_override_budget(5, 3_600)
            .unwrap()
            .with_overrides_of(true, false, true),
        Policy::new(Digits::Five).without_overrides(),
    ];
    for policy in policies {
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(
            serde_json::from_str::<Policy>(&json).unwrap(),
            policy,
            "{json}"
        );
    }
    assert_eq!(
        serde_json::to_string(&Policy::new(Digits::Four)).unwrap(),
        r#"{"digits":4,"attempts":3,"lifetime_cap":null,"verifier_budget":null,"sends":5,"send_window_secs":600,"max_retries":16,"overrides":{"enabled":true,"budget":null,"locked":false,"expired":false,"revoked":false},"clock_skew_secs":5}"#
    );
    let minimal: Policy = serde_json::from_str(r#"{"digits":4}"#).unwrap();
    assert_eq!(minimal, Policy::new(Digits::Four));
    for bad in [
        r#"{"digits":4,"attempts":6}"#,
        r#"{"digits":4,"attempts":0}"#,
        r#"{"digits":4,"attempts":3,"lifetime_cap":2}"#,
        r#"{"digits":4,"verifier_budget":{"failures":0,"window_secs":60}}"#,
        r#"{"digits":4,"sends":11}"#,
        r#"{"digits":4,"send_window_secs":59}"#,
        r#"{"digits":4,"max_retries":65}"#,
        r#"{"digits":4,"clock_skew_secs":301}"#,
        r#"{"digits":4,"typo":1}"#,
        r#"{"attempts":3}"#,
    ] {
        let err = serde_json::from_str::<Policy>(bad).unwrap_err().to_string();
        assert!(!err.is_empty(), "{bad}");
    }
    let err = serde_json::from_str::<Policy>(r#"{"digits":4,"attempts":6}"#).unwrap_err();
    assert!(err.to_string().contains("attempts per generation"), "{err}");
    let err = serde_json::from_str::<Policy>(r#"{"digits":4,"clock_skew_secs":301}"#).unwrap_err();
    assert!(err.to_string().contains("clock-skew tolerance"), "{err}");
}

#[test]
fn ids_are_text_borrowed_and_length_checked() {
    let booking = BookingId::new("SLOT-2021-000123").unwrap();
    let json = serde_json::to_string(&booking).unwrap();
    assert_eq!(json, r#""SLOT-2021-000123""#);
    assert_eq!(
        serde_json::from_str::<BookingId<'_>>(&json).unwrap(),
        booking
    );
    assert!(serde_json::from_str::<RequestId<'_>>(r#""""#).is_err());
    let long = format!("\"{}\"", "r".repeat(65));
    assert!(serde_json::from_str::<RequestId<'_>>(&long).is_err());
    // An escaped string cannot be borrowed: refused with an error, never copied silently.
    assert!(serde_json::from_str::<BookingId<'_>>(r#""a\"b""#).is_err());
}

fn any_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Accepted),
        any::<u8>().prop_map(|attempts_left| Outcome::Rejected { attempts_left }),
        Just(Outcome::Replayed(Earlier::Accepted)),
        any::<u8>().prop_map(|a| Outcome::Replayed(Earlier::Rejected { attempts_left: a })),
        Just(Outcome::Locked),
        Just(Outcome::Expired),
        Just(Outcome::AlreadyRedeemed { by_override: false }),
        Just(Outcome::Revoked),
        Just(Outcome::UnknownBooking),
        any::<u64>().prop_map(|t| Outcome::VerifierSuspended {
            until: Timestamp(t)
        }),
    ]
}

proptest! {
    #[test]
    fn every_outcome_round_trips(outcome in any_outcome()) {
        let json = serde_json::to_string(&outcome).unwrap();
        prop_assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), outcome);
    }
}

#[test]
fn policies_digits_and_times_round_trip_in_a_format_that_does_not_describe_itself() {
    let policy = Policy::new(Digits::Five)
        .with_attempts(2)
        .unwrap()
        .with_verifier_budget(7, 3_600)
        .unwrap();
    for policy in [Policy::new(Digits::Four), policy] {
        let bytes = postcard::to_allocvec(&policy).unwrap();
        assert_eq!(postcard::from_bytes::<Policy>(&bytes).unwrap(), policy);
    }
    let bytes = postcard::to_allocvec(&(Digits::Six, Timestamp(9), KeyId(3))).unwrap();
    let back: (Digits, Timestamp, KeyId) = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, (Digits::Six, Timestamp(9), KeyId(3)));
}

/// An override's reason reads back from its JSON, a string of its name, and nothing else.
#[test]
fn reasons_read_back_from_their_json() {
    use handover_code::audit::Reason;
    for reason in Reason::ALL {
        let json = serde_json::to_string(&reason).unwrap();
        assert_eq!(json, format!("\"{}\"", reason.name()));
        assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), reason);
    }
    assert!(serde_json::from_str::<Reason>("\"NoPhone\"").is_err());
    assert!(serde_json::from_str::<Reason>("0").is_err());
}
