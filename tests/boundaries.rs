//! Tests that pin down what cargo-mutants found the other tests left loose (see
//! `mutants.md`): each names the mutant it kills.

use handover_code::Attempt;
use handover_code::record::{Earlier, Record};
use handover_code::{
    BookingId, Context, Digits, Key, KeyId, Keyring, MemoryStore, Outcome, Policy, RequestId,
    Secret, Service, Store, Timestamp, VerifierId,
};

const NOW: Timestamp = Timestamp(1_700_000_000);
const UNTIL: Timestamp = Timestamp(1_700_086_400);

/// `assert_eq!` on what two values print: `Error` has no `PartialEq` (a store's error is not
/// comparable), and these checks compare answers that may be errors.
macro_rules! assert_eq_debug {
    ($left:expr, $right:expr $(, $($message:tt)*)?) => {
        assert_eq!(format!("{:?}", $left), format!("{:?}", $right) $(, $($message)*)?)
    };
}

fn keys() -> std::sync::Arc<Keyring> {
    Keyring::new(KeyId(1), Secret::from_bytes(&[0x33; 32]).unwrap()).into()
}

fn service(keys: &std::sync::Arc<Keyring>) -> Service {
    Service::new(
        std::sync::Arc::clone(keys),
        Policy::new(Digits::Four),
        "cowin/dose",
    )
    .unwrap()
}

fn wrong(right: &str) -> String {
    format!("{:04}", (right.parse::<u32>().unwrap() + 1) % 10_000)
}

/// Kills `Outcome::is_accepted -> true` (and `-> false`): only an acceptance, now or
/// replayed, lets the person be handed over to.
#[test]
fn only_acceptances_are_accepted() {
    assert!(Outcome::Accepted.is_accepted());
    assert!(Outcome::Replayed(Earlier::Accepted).is_accepted());
    for other in [
        Outcome::Rejected { attempts_left: 2 },
        Outcome::Replayed(Earlier::Rejected { attempts_left: 1 }),
        Outcome::AlreadyRedeemed { by_override: false },
        Outcome::Locked,
        Outcome::Expired,
        Outcome::UnknownBooking,
    ] {
        assert!(!other.is_accepted(), "{other:?}");
    }
}

/// Kills deleting the `(None, None)` arm of `Who::wrote`: a retry of a request made with no
/// verifier is the same request, and gets the first answer back.
#[test]
fn a_retry_without_a_verifier_is_replayed() {
    let keys = keys();
    let service = service(&keys);
    let store = MemoryStore::new();
    let id = BookingId::new("SLOT-1").unwrap();
    let code = service.issue(&store, id, UNTIL, NOW).unwrap();
    let bad = wrong(code.expose());
    let request = RequestId::new("req-1").unwrap();
    let first = service
        .verify(&store, id, &bad, Attempt::default().request(&request), NOW)
        .unwrap();
    assert_eq!(first, Outcome::Rejected { attempts_left: 2 });
    let again = service
        .verify(&store, id, &bad, Attempt::default().request(&request), NOW)
        .unwrap();
    assert_eq!(
        again,
        Outcome::Replayed(Earlier::Rejected { attempts_left: 2 })
    );
    // Counted once.
    let key = Key::Booking {
        context: Context::new("cowin/dose").unwrap(),
        id,
    };
    let Some((Record::Booking(b), _)) = Store::load(&store, key).unwrap() else {
        panic!("no booking")
    };
    assert_eq!(b.failures(), 1);
}

/// Kills `<` → `<=` in the replay window: a retry `Attempt::REPLAY_SECS` after the answer is a new
/// guess; one a second earlier is a replay.
#[test]
fn the_replay_window_ends_exactly_replay_secs_after_the_answer() {
    let keys = keys();
    let service = service(&keys);
    let id = BookingId::new("SLOT-2").unwrap();
    let eve = VerifierId::new("eve").unwrap();
    let request = RequestId::new("req-2").unwrap();
    for (after, replayed) in [
        (Attempt::REPLAY_SECS - 1, true),
        (Attempt::REPLAY_SECS, false),
    ] {
        let store = MemoryStore::new();
        let code = service.issue(&store, id, UNTIL, NOW).unwrap();
        let bad = wrong(code.expose());
        service
            .verify(&store, id, &bad, Attempt::from(eve).request(&request), NOW)
            .unwrap();
        let later = Timestamp(NOW.0 + after);
        let answer = service
            .verify(
                &store,
                id,
                &bad,
                Attempt::from(eve).request(&request),
                later,
            )
            .unwrap();
        let want = if replayed {
            Outcome::Replayed(Earlier::Rejected { attempts_left: 2 })
        } else {
            Outcome::Rejected { attempts_left: 1 }
        };
        assert_eq!(answer, want, "{after} s after");
    }
}

/// Kills deleting the `State::Redeemed` arm of `decide::reissue`: a redeemed booking is
/// never re-issued (which would open it for a second handover), and stays redeemed.
#[test]
fn a_redeemed_booking_is_never_reissued() {
    let keys = keys();
    let service = service(&keys);
    let store = MemoryStore::new();
    let id = BookingId::new("SLOT-3").unwrap();
    let code = service.issue(&store, id, UNTIL, NOW).unwrap();
    assert_eq!(
        service
            .verify(&store, id, code.expose(), None, NOW)
            .unwrap(),
        Outcome::Accepted
    );
    let again = service.reissue(&store, id, UNTIL, Timestamp(NOW.0 + 60));
    assert!(
        matches!(
            again,
            Err(handover_code::Error::Inactive(
                handover_code::Inactive::Redeemed
            ))
        ),
        "{again:?}"
    );
    assert_eq!(
        service
            .verify(&store, id, code.expose(), None, Timestamp(NOW.0 + 61))
            .unwrap(),
        Outcome::AlreadyRedeemed { by_override: false }
    );
}

/// Kills `<Code as Debug>::fmt -> Ok(())`: a code's `Debug` says what it is and how long,
/// and nothing more.
#[test]
fn a_codes_debug_names_its_length_only() {
    let code = handover_code::input::normalize("0427", Digits::Four).unwrap();
    assert_eq!(format!("{code:?}"), "Code { digits: 4, .. }");
}

/// Kills deleting `key_id` from the record `decide::reissue` writes: after a key rotation,
/// a re-issue moves the booking to the current key, and its new code verifies.
#[test]
fn a_reissue_after_a_rotation_uses_the_current_key() {
    let id = BookingId::new("SLOT-4").unwrap();
    let store = MemoryStore::new();
    service(&keys()).issue(&store, id, UNTIL, NOW).unwrap();
    // The host rotates: a new keyring with the old key and the new, the new one current.
    let mut rotated = Keyring::new(KeyId(1), Secret::from_bytes(&[0x33; 32]).unwrap());
    rotated
        .insert(KeyId(2), Secret::from_bytes(&[0x44; 32]).unwrap())
        .unwrap();
    rotated.set_current(KeyId(2)).unwrap();
    let service = service(&std::sync::Arc::new(rotated));
    let code = service
        .reissue(&store, id, UNTIL, Timestamp(NOW.0 + 60))
        .unwrap();
    let key = Key::Booking {
        context: Context::new("cowin/dose").unwrap(),
        id,
    };
    let Some((Record::Booking(b), _)) = Store::load(&store, key).unwrap() else {
        panic!("no booking")
    };
    assert_eq!(b.key_id(), KeyId(2));
    assert_eq!(
        service
            .verify(&store, id, code.expose(), None, Timestamp(NOW.0 + 61))
            .unwrap(),
        Outcome::Accepted
    );
}

/// Kills deleting `expires_at` and `issued_at` from the record `decide::reissue` writes:
/// the new generation is valid until its own expiry (not the old one's), and from its own
/// issue time (a clock reading before it is an error, not a comparison).
#[test]
fn a_reissue_sets_its_own_validity() {
    let keys = keys();
    let service = service(&keys);
    let id = BookingId::new("SLOT-5").unwrap();
    let store = MemoryStore::new();
    service
        .issue(&store, id, Timestamp(NOW.0 + 100), NOW)
        .unwrap();
    let at = Timestamp(NOW.0 + 60);
    let code = service.reissue(&store, id, UNTIL, at).unwrap();
    // Past the first expiry, within the new one.
    assert_eq!(
        service
            .verify(
                &store,
                id,
                &wrong(code.expose()),
                None,
                Timestamp(NOW.0 + 200)
            )
            .unwrap(),
        Outcome::Rejected { attempts_left: 2 }
    );
    // Before the re-issue: the clock went back.
    assert!(matches!(
        service.verify(&store, id, code.expose(), None, Timestamp(NOW.0 + 30)),
        Err(handover_code::Error::Clock)
    ));
    assert_eq!(
        service
            .verify(&store, id, code.expose(), None, Timestamp(NOW.0 + 201))
            .unwrap(),
        Outcome::Accepted
    );
}

/// Kills the boundary mutants of `Policy::with_send_limit`, `with_max_retries` and the
/// lifetime check, and the getters `send_limit` and `max_retries`: each setting is taken at
/// its edges, refused just past them, and read back as set.
/// A budget as `Policy` reads it back: count and window in seconds.
type Budget = Option<(u32, u64)>;

/// A policy with both budgets, read back: (verifier budget, override budget).
fn p_budgets() -> (Budget, Budget) {
    let p = Policy::default()
        .with_verifier_budget(10, 86_400)
        .and_then(|p| p.with_override_budget(20, 3_600))
        .unwrap();
    (p.verifier_budget(), p.override_budget())
}

#[test]
fn policy_settings_hold_at_their_edges() {
    use handover_code::Error;
    assert_eq!(Policy::default(), Policy::new(Digits::Four));
    // The budgets read back as they were set, and as nothing when unset.
    assert_eq!(p_budgets().0, Some((10, 86_400)));
    assert_eq!(p_budgets().1, Some((20, 3_600)));
    assert_eq!(Policy::default().verifier_budget(), None);
    assert_eq!(Policy::default().override_budget(), None);
    let p = Policy::new(Digits::Four);
    let sends = |n, w| p.with_send_limit(n, w).map(|q| q.send_limit());
    assert_eq_debug!(
        sends(Policy::MAX_SENDS, Policy::MIN_SEND_WINDOW),
        Ok::<_, Error>((Policy::MAX_SENDS, Policy::MIN_SEND_WINDOW))
    );
    assert_eq_debug!(sends(1, 3_600), Ok::<_, Error>((1, 3_600)));
    for (n, w) in [
        (0, 600),
        (Policy::MAX_SENDS + 1, 600),
        (3, Policy::MIN_SEND_WINDOW - 1),
    ] {
        assert_eq_debug!(
            sends(n, w),
            Err::<(u8, u32), _>(Error::PolicySends),
            "{n} sends a {w} s"
        );
    }
    for ok in [1, 2, Policy::MAX_RETRIES] {
        assert_eq!(p.with_max_retries(ok).unwrap().max_retries(), ok);
    }
    for bad in [0, Policy::MAX_RETRIES + 1] {
        assert_eq_debug!(
            p.with_max_retries(bad).map(|q| q.max_retries()),
            Err::<u8, _>(Error::PolicyRetries)
        );
    }
    // The lifetime cap: from the attempts per generation up to 3 × the hard maximum.
    let attempts = u16::from(p.attempts());
    let ceiling = u16::from(Policy::max_attempts_for(Digits::Four)) * Policy::LIFETIME_FACTOR;
    for ok in [attempts, attempts + 1, ceiling] {
        assert_eq!(p.with_lifetime_cap(ok).unwrap().lifetime_cap(), ok);
    }
    for bad in [attempts - 1, ceiling + 1] {
        assert_eq_debug!(
            p.with_lifetime_cap(bad).map(|q| q.lifetime_cap()),
            Err::<u16, _>(Error::PolicyLifetime)
        );
    }
}

/// Kills `||` → `&&` in `Policy::with_attempts`: 0 attempts and one past the digits' hard
/// maximum are both refused.
#[test]
fn attempts_hold_at_their_edges() {
    use handover_code::Error;
    for digits in [Digits::Four, Digits::Six] {
        let p = Policy::new(digits);
        let max = Policy::max_attempts_for(digits);
        for ok in [1, max] {
            assert_eq!(p.with_attempts(ok).unwrap().attempts(), ok);
        }
        for bad in [0, max + 1] {
            assert_eq_debug!(
                p.with_attempts(bad).map(|q| q.attempts()),
                Err::<u8, _>(Error::PolicyAttempts)
            );
        }
    }
}

/// Kills `Policy::arbitrary -> Ok(Default::default())`: fuzz inputs reach every digit
/// count, and policies other than the default, all of them valid.
#[cfg(feature = "arbitrary")]
#[test]
fn arbitrary_policies_vary_and_are_valid() {
    use arbitrary::{Arbitrary, Unstructured};
    let mut digits = std::collections::BTreeSet::new();
    let mut non_default = 0;
    for seed in 0u8..=255 {
        let bytes: Vec<u8> = (0..64u8)
            .map(|i| i.wrapping_mul(31).wrapping_add(seed.wrapping_mul(97)))
            .collect();
        let p = Policy::arbitrary(&mut Unstructured::new(&bytes)).unwrap();
        digits.insert(p.digits().count());
        non_default += usize::from(p != Policy::new(p.digits()));
        assert!(p.attempts() >= 1 && p.attempts() <= Policy::max_attempts_for(p.digits()));
        assert!(p.lifetime_cap() >= u16::from(p.attempts()));
    }
    assert_eq!(digits.len(), 3, "{digits:?}");
    assert!(
        non_default > 200,
        "{non_default} of 256 differ from the default"
    );
}

/// What a host maps to 503, or to 429 with `Retry-After`: the errors a retry may clear, and
/// the time a limit names; nothing else is retryable.
#[test]
fn retryable_errors_and_their_times() {
    use handover_code::{Error, Inactive, Malformed, StoreError, Timestamp};
    #[derive(Debug, thiserror::Error)]
    #[error("down")]
    struct Down;
    let at = Timestamp(1_700_000_600);
    let retryable: [Error; 6] = [
        Error::Store(StoreError::new(Down)),
        Error::Contention,
        Error::BudgetBusy { retry_at: at },
        Error::Rng,
        Error::SendLimit { retry_at: at },
        Error::OverrideLimit { retry_at: at },
    ];
    for e in &retryable {
        assert!(e.is_retryable(), "{e:?}");
    }
    let times: Vec<_> = retryable.iter().map(Error::retry_after).collect();
    assert_eq!(times, [None, None, Some(at), None, Some(at), Some(at)]);
    let not: [Error; 11] = [
        Error::Clock,
        Error::Corrupt(StoreError::new(Down)),
        Error::Refused(StoreError::new(Down)),
        Error::Setup(StoreError::new(Down)),
        Error::Validity,
        Error::UnknownBooking,
        Error::AlreadyIssued,
        Error::OverridesOff,
        Error::UnknownKey,
        Error::Inactive(Inactive::Redeemed),
        Error::Malformed(Malformed::WrongLength),
    ];
    for e in &not {
        assert!(!e.is_retryable() && e.retry_after().is_none(), "{e:?}");
    }
}
