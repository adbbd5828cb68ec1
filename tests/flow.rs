//! The operations end to end on the in-memory store: issue, resend, verify, re-issue,
//! revoke, budgets, and the edges of time and counters.

use handover_code::{
    BookingId, Context, Digits, Error, Inactive, KeyId, Keyring, Malformed, MemoryStore, Outcome,
    Policy, Secret, Service, Timestamp, VerifierId,
};

fn keys() -> std::sync::Arc<Keyring> {
    Keyring::new(KeyId(1), Secret::from_bytes(&[9; 32]).unwrap()).into()
}

const T0: Timestamp = Timestamp(1_700_000_000);
const LATER: Timestamp = Timestamp(1_700_086_400);

fn wrong(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                char::from(c as u8 + 1)
            }
        })
        .collect()
}

fn id(s: &str) -> BookingId<'_> {
    BookingId::new(s).unwrap()
}

#[test]
fn the_whole_flow() {
    let keys = keys();
    let service = Service::new(keys.clone(), Policy::new(Digits::Four), "cowin/dose").unwrap();
    let store = MemoryStore::new();
    let code = service.issue(&store, id("B1"), LATER, T0).unwrap();
    assert_eq!(service.resend(&store, id("B1"), T0).unwrap(), code);
    assert!(matches!(
        service.issue(&store, id("B1"), LATER, T0),
        Err(Error::AlreadyIssued)
    ));

    let bad = wrong(code.expose());
    assert_eq!(
        service.verify(&store, id("B1"), &bad, None, T0).unwrap(),
        Outcome::Rejected { attempts_left: 2 }
    );
    assert!(matches!(
        service.verify(&store, id("B1"), "12", None, T0),
        Err(Error::Malformed(Malformed::WrongLength))
    ));
    assert_eq!(
        service
            .verify(&store, id("B1"), code.expose(), None, T0)
            .unwrap(),
        Outcome::Accepted
    );
    assert_eq!(
        service
            .verify(&store, id("B1"), code.expose(), None, T0)
            .unwrap(),
        Outcome::AlreadyRedeemed { by_override: false }
    );
    assert!(matches!(
        service.resend(&store, id("B1"), T0),
        Err(Error::Inactive(Inactive::Redeemed))
    ));
    assert_eq!(
        service
            .verify(&store, id("nobody"), "1234", None, T0)
            .unwrap(),
        Outcome::UnknownBooking
    );
}

#[test]
fn locking_reissue_and_the_lifetime_cap() {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_attempts(2)
        .unwrap()
        .with_lifetime_cap(3)
        .unwrap();
    let service = Service::new(keys.clone(), policy, "post/parcel").unwrap();
    let store = MemoryStore::new();
    let code = service.issue(&store, id("P"), LATER, T0).unwrap();
    let bad = wrong(code.expose());
    assert_eq!(
        service.verify(&store, id("P"), &bad, None, T0).unwrap(),
        Outcome::Rejected { attempts_left: 1 }
    );
    assert_eq!(
        service.verify(&store, id("P"), &bad, None, T0).unwrap(),
        Outcome::Rejected { attempts_left: 0 }
    );
    assert_eq!(
        service
            .verify(&store, id("P"), code.expose(), None, T0)
            .unwrap(),
        Outcome::Locked
    );

    let second = service.reissue(&store, id("P"), LATER, T0).unwrap();
    assert_ne!(
        second, code,
        "a new generation has a new code (this one differs)"
    );
    // The old code is dead: it is just a wrong code now. One lifetime attempt is left.
    assert_eq!(
        service
            .verify(&store, id("P"), code.expose(), None, T0)
            .unwrap(),
        Outcome::Rejected { attempts_left: 0 }
    );
    assert_eq!(
        service
            .verify(&store, id("P"), second.expose(), None, T0)
            .unwrap(),
        Outcome::Locked
    );
    assert!(matches!(
        service.reissue(&store, id("P"), LATER, T0),
        Err(Error::Inactive(Inactive::Exhausted))
    ));
}

#[test]
fn expiry_and_clock_edges() {
    let keys = keys();
    let service = Service::new(keys.clone(), Policy::new(Digits::Six), "ride/start").unwrap();
    let store = MemoryStore::new();
    assert!(matches!(
        service.issue(&store, id("R"), T0, T0),
        Err(Error::Validity)
    ));
    let code = service
        .issue(&store, id("R"), Timestamp(T0.0 + 600), T0)
        .unwrap();
    // Before the issue time by more than the clock-skew tolerance (5 s by default): nothing
    // compared, nothing counted.
    assert!(matches!(
        service.verify(&store, id("R"), code.expose(), None, Timestamp(T0.0 - 6)),
        Err(Error::Clock)
    ));
    // At exactly expires-at the code is no longer valid.
    assert_eq!(
        service
            .verify(&store, id("R"), code.expose(), None, Timestamp(T0.0 + 600))
            .unwrap(),
        Outcome::Expired
    );
    assert_eq!(
        service
            .verify(&store, id("R"), code.expose(), None, Timestamp(u64::MAX))
            .unwrap(),
        Outcome::Expired
    );
    assert_eq!(
        service
            .verify(&store, id("R"), code.expose(), None, Timestamp(T0.0 + 599))
            .unwrap(),
        Outcome::Accepted
    );

    // Generations are issue times in seconds, which a u32 holds until 2106: past that,
    // issuing fails closed.
    assert!(matches!(
        service.issue(
            &store,
            id("M"),
            Timestamp(u64::MAX),
            Timestamp(u64::MAX - 1),
        ),
        Err(Error::Clock)
    ));
    let last = Timestamp(u64::from(u32::MAX));
    let code = service
        .issue(&store, id("M"), Timestamp(u64::MAX), last)
        .unwrap();
    assert_eq!(
        service
            .verify(
                &store,
                id("M"),
                code.expose(),
                None,
                Timestamp(u64::MAX - 1)
            )
            .unwrap(),
        Outcome::Accepted
    );
}

#[test]
fn revoke_ends_a_booking() {
    let keys = keys();
    let service = Service::new(keys.clone(), Policy::new(Digits::Five), "c").unwrap();
    let store = MemoryStore::new();
    let code = service.issue(&store, id("V"), LATER, T0).unwrap();
    service.revoke(&store, id("V"), T0).unwrap();
    service.revoke(&store, id("V"), T0).unwrap();
    assert_eq!(
        service
            .verify(&store, id("V"), code.expose(), None, T0)
            .unwrap(),
        Outcome::Revoked
    );
    assert!(matches!(
        service.revoke(&store, id("none"), T0),
        Err(Error::UnknownBooking)
    ));
}

#[test]
fn a_spraying_verifier_is_suspended_without_locking_anyone_out() {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(3, 86_400)
        .unwrap();
    let service = Service::new(keys.clone(), policy, "c").unwrap();
    let store = MemoryStore::new();
    let ids: Vec<String> = (0..10).map(|i| format!("B{i}")).collect();
    let codes: Vec<_> = ids
        .iter()
        .map(|b| service.issue(&store, id(b), LATER, T0).unwrap())
        .collect();
    let eve = VerifierId::new("eve").unwrap();
    let mut outcomes = Vec::new();
    for (b, code) in ids.iter().zip(&codes) {
        outcomes.push(
            service
                .verify(&store, id(b), &wrong(code.expose()), Some(eve), T0)
                .unwrap(),
        );
    }
    assert_eq!(outcomes.iter().filter(|o| o.is_failure()).count(), 3);
    assert!(
        outcomes[3..]
            .iter()
            .all(|o| matches!(o, Outcome::VerifierSuspended { .. }))
    );
    // Honest verifiers are unaffected, even on the bookings eve guessed at.
    let asha = VerifierId::new("asha").unwrap();
    assert_eq!(
        service
            .verify(&store, id("B0"), codes[0].expose(), Some(asha), T0)
            .unwrap(),
        Outcome::Accepted
    );
    assert_eq!(
        service
            .verify(&store, id("B9"), codes[9].expose(), Some(asha), T0)
            .unwrap(),
        Outcome::Accepted
    );
    // Right codes, malformed input and closed bookings cost a verifier nothing.
    let bob = VerifierId::new("bob").unwrap();
    for _ in 0..5 {
        assert!(
            service
                .verify(&store, id("B1"), "x", Some(bob), T0)
                .is_err()
        );
        assert_eq!(
            service
                .verify(&store, id("B0"), "0000", Some(bob), T0)
                .unwrap(),
            Outcome::AlreadyRedeemed { by_override: false }
        );
    }
    assert_eq!(
        service
            .verify(&store, id("B2"), codes[2].expose(), Some(bob), T0)
            .unwrap(),
        Outcome::Accepted
    );
    // Next window, eve may guess again.
    let next_day = Timestamp(1_700_006_400); // the next multiple of 86,400 after T0
    assert!(
        service
            .verify(
                &store,
                id("B5"),
                &wrong(codes[5].expose()),
                Some(eve),
                next_day
            )
            .unwrap()
            .is_failure()
    );
    // Pruning drops what expired before the cut, bookings and verifiers alike.
    assert!(store.prune(Timestamp(LATER.0 + 1)).unwrap() > 0);
}

#[test]
fn async_operations_agree_and_are_send() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let keys = keys();
    let service = Service::new(keys.clone(), Policy::new(Digits::Four), "c").unwrap();
    let store = MemoryStore::new();
    let code = block_on(assert_send(service.issue_async(&store, id("A"), LATER, T0))).unwrap();
    assert_eq!(code, service.resend(&store, id("A"), T0).unwrap());
    let verify = assert_send(service.verify_async(&store, id("A"), code.expose(), None, T0));
    assert_eq!(block_on(verify).unwrap(), Outcome::Accepted);
}

/// A minimal executor: the memory store's futures never wait.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[test]
fn configuration_at_its_edges_is_clamped_never_a_panic() {
    let store = MemoryStore::with_shards(usize::MAX);
    assert!(store.is_empty().unwrap());
    let keys = keys();
    let service = Service::new(keys.clone(), Policy::new(Digits::Four), "c").unwrap();
    service.issue(&store, id("edge"), LATER, T0).unwrap();
    assert_eq!(store.len().unwrap(), 1);
    assert!(MemoryStore::with_shards(0).is_empty().unwrap());
}

/// Several servers share a store and their clocks differ by seconds: a verification or an
/// override whose `now` reads up to the policy's clock-skew tolerance before the booking's
/// issue time is judged; further back it is refused with `Clock` and nothing is counted; a
/// tolerance of 0 refuses any time before the issue time.
#[test]
fn a_clock_a_little_behind_the_issuers_is_judged() {
    use handover_code::ActorId;
    use handover_code::audit::{Override, Reason};
    let keys = keys();
    let store = MemoryStore::new();
    let ctx = Context::new("ride/start").unwrap();
    let lenient = Service::new(keys.clone(), Policy::new(Digits::Four), ctx).unwrap();
    let strict = Service::new(
        keys.clone(),
        Policy::new(Digits::Four).with_clock_skew(0).unwrap(),
        ctx,
    )
    .unwrap();
    let wide = Service::new(
        keys.clone(),
        Policy::new(Digits::Four).with_clock_skew(300).unwrap(),
        ctx,
    )
    .unwrap();
    let at = |behind: u64| Timestamp(T0.0 - behind);
    let code = lenient
        .issue(&store, id("S"), Timestamp(T0.0 + 600), T0)
        .unwrap();
    let typed = wrong(code.expose());
    let failures =
        |store: &MemoryStore| lenient.booking(store, id("S")).unwrap().unwrap().failures();
    for (service, behind) in [(&lenient, 6), (&strict, 1), (&wide, 301)] {
        assert!(matches!(
            service.verify(&store, id("S"), &typed, None, at(behind)),
            Err(Error::Clock)
        ));
    }
    assert_eq!(failures(&store), 0, "nothing counted");
    assert_eq!(
        lenient
            .verify(&store, id("S"), &typed, None, at(5))
            .unwrap(),
        Outcome::Rejected { attempts_left: 2 }
    );
    assert_eq!(
        wide.verify(&store, id("S"), &typed, None, at(300)).unwrap(),
        Outcome::Rejected { attempts_left: 1 }
    );
    assert_eq!(
        lenient
            .verify(&store, id("S"), code.expose(), None, at(5))
            .unwrap(),
        Outcome::Accepted
    );
    // The override at the door is judged the same way.
    lenient
        .issue(&store, id("O"), Timestamp(T0.0 + 600), T0)
        .unwrap();
    let by = Override::new(ActorId::new("supervisor").unwrap(), Reason::NoPhone, "").unwrap();
    assert!(matches!(
        strict.overrule(&store, id("O"), by, at(1)),
        Err(Error::Clock)
    ));
    assert!(matches!(
        lenient.overrule(&store, id("O"), by, at(6)),
        Err(Error::Clock)
    ));
    lenient.overrule(&store, id("O"), by, at(5)).unwrap();
    // Resend and re-issue stamp the booking's send times and generation: they stay strict.
    wide.issue(&store, id("P"), Timestamp(T0.0 + 600), T0)
        .unwrap();
    assert!(matches!(
        wide.resend(&store, id("P"), at(1)),
        Err(Error::Clock)
    ));
    assert!(matches!(
        wide.reissue(&store, id("P"), Timestamp(T0.0 + 600), at(1)),
        Err(Error::Clock)
    ));
}

#[test]
fn a_booking_reads_back_what_was_written() {
    use handover_code::record::{Earlier, Record, State};
    use handover_code::{Attempt, Key, Store};

    let policy = Policy::new(Digits::Five)
        .with_attempts(4)
        .unwrap()
        .with_lifetime_cap(5)
        .unwrap()
        .with_send_limit(3, 600)
        .unwrap()
        .with_verifier_budget(7, 3_600)
        .unwrap();
    let service = Service::new(keys(), policy, "c").unwrap();
    let store = MemoryStore::new();
    let read = || service.booking(&store, "B-1").unwrap().unwrap();

    let code = service.issue(&store, "B-1", LATER, T0).unwrap();
    let b = read();
    assert_eq!(b.state(), State::Active);
    assert_eq!((b.issued_at(), b.expires_at()), (T0, LATER));
    assert_eq!((b.digits(), b.key_id()), (Digits::Five, KeyId(1)));
    assert_eq!(u64::from(b.generation()), T0.0);
    assert_eq!(
        (b.failures(), b.lifetime_failures(), b.attempts_left()),
        (0, 0, 4)
    );
    assert_eq!((b.attempts_per_generation(), b.lifetime_cap()), (4, 5));
    assert_eq!((b.send_limit(), b.sends()), ((3, 600), 1));
    assert!(b.send_window_start().0 > 0 && b.send_window_start() <= T0);
    assert_eq!((b.last_answer(), b.last_at()), (None, None));
    assert_eq!((b.last_verifier(), b.last_request()), (None, None));

    service.resend(&store, "B-1", Timestamp(T0.0 + 10)).unwrap();
    assert_eq!(read().sends(), 2);

    // Two wrong codes: the second leaves 2 of the generation's 4 and 3 of the lifetime's 5.
    let bad = wrong(code.expose());
    // (Each under its own request id: the same id again would be a replay, counted once.)
    for (at, request) in [(20, "r-1"), (21, "r-2")] {
        let by = Attempt::by("v-1").request(request);
        service
            .verify(&store, "B-1", &bad, by, Timestamp(T0.0 + at))
            .unwrap();
    }
    let b = read();
    assert_eq!(
        (b.failures(), b.lifetime_failures(), b.attempts_left()),
        (2, 2, 2)
    );
    assert_eq!(
        b.last_answer(),
        Some(Earlier::Rejected { attempts_left: 2 })
    );
    assert_eq!(b.last_at(), Some(Timestamp(T0.0 + 21)));
    assert_eq!(b.last_verifier(), Some(&b"v-1"[..]));
    assert_eq!(b.last_request(), Some(&b"r-2"[..]));

    // A re-issue resets the generation's count, not the lifetime's: the lifetime now binds.
    let code = service
        .reissue(&store, "B-1", LATER, Timestamp(T0.0 + 30))
        .unwrap();
    let b = read();
    assert_eq!(u64::from(b.generation()), T0.0 + 30);
    assert_eq!(b.issued_at(), Timestamp(T0.0 + 30));
    assert_eq!(
        (b.failures(), b.lifetime_failures(), b.attempts_left()),
        (0, 2, 3)
    );
    assert_eq!(b.sends(), 3);

    let answer = service
        .verify(&store, "B-1", code.expose(), "v-2", Timestamp(T0.0 + 40))
        .unwrap();
    assert_eq!(answer, Outcome::Accepted);
    let b = read();
    assert_eq!((b.state(), b.attempts_left()), (State::Redeemed, 0));
    assert_eq!(b.last_answer(), Some(Earlier::Accepted));
    assert_eq!(
        (b.last_verifier(), b.last_request()),
        (Some(&b"v-2"[..]), None)
    );

    // The first verifier's budget: two failures of 7, in an hour-long window holding them.
    let key = Key::Verifier {
        scope: Context::new("c").unwrap(),
        id: VerifierId::new("v-1").unwrap(),
    };
    let Some((Record::Verifier(v), _)) = Store::load(&store, key).unwrap() else {
        panic!("no verifier record")
    };
    assert_eq!((v.failures(), v.held(), v.limit()), (2, 0, 7));
    assert_eq!(v.window_secs(), 3_600);
    assert!(v.window_start().0 <= T0.0 + 20 && T0.0 + 21 < v.window_end().0);
    assert_eq!(v.window_end().0, v.window_start().0 + 3_600);
}

#[test]
fn a_policy_reads_back_what_overrides_may_do() {
    let policy = Policy::default();
    assert!(policy.overrides_allowed());
    assert_eq!(policy.overrides_of(), (false, false, false));
    for of in [
        (true, false, false),
        (false, true, false),
        (false, false, true),
    ] {
        assert_eq!(
            policy.with_overrides_of(of.0, of.1, of.2).overrides_of(),
            of
        );
    }
    assert!(!policy.without_overrides().overrides_allowed());
}
