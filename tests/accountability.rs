//! Accountability (issue 8): the events a service tells its sink, the audit log stores keep,
//! and the audited override — told only after writes land, never for a write that failed or
//! lost its race, never with a code; overrides within the actor's budget under 64 threads
//! released together, refused for what they may not redeem, and marked on the record.
#![allow(unreachable_pub)]

use std::sync::{Arc, Mutex};

use handover_code::Attempt;
use handover_code::audit::{Action, Event, Events, Override, Reason, Send};
use handover_code::record::{Earlier, Record, Version};
use handover_code::store::Cursor;
use handover_code::store::{Key, Store, Swap};
use handover_code::{
    ActorId, Digits, Error, Inactive, MemoryStore, Outcome, Policy, RequestId, Service, Timestamp,
    VerifierId,
};

#[path = "support/audited.rs"]
mod audited;

use audited::{
    T0, UNTIL, actions, check_history, context, id, keys, override_budget_under_threads, wrong,
};

/// An event as an owned line, so the sequence can be compared whole.
fn line(event: &Event<'_>) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match *event {
        Event::Issued {
            booking,
            generation,
            expires_at,
            ..
        } => format!(
            "issued {} g{generation} until {}",
            text(booking.as_bytes()),
            expires_at.0
        ),
        Event::Sent {
            booking,
            send,
            generation,
            ..
        } => format!(
            "sent {} {} g{generation}",
            text(booking.as_bytes()),
            send.name()
        ),
        Event::SendRefused {
            booking,
            send,
            retry_at,
            ..
        } => format!(
            "send refused {} {} until {}",
            text(booking.as_bytes()),
            send.name(),
            retry_at.0
        ),
        Event::Revoked { booking, .. } => format!("revoked {}", text(booking.as_bytes())),
        Event::Verified {
            booking,
            outcome,
            verifier,
            request,
            ..
        } => format!(
            "verified {} {outcome:?} by {:?} request {:?}",
            text(booking.as_bytes()),
            verifier.map(|v| text(v.as_bytes())),
            request.map(|r| text(r.as_bytes()))
        ),
        Event::Locked { booking, .. } => format!("locked {}", text(booking.as_bytes())),
        Event::VerifierSuspended {
            verifier, until, ..
        } => format!("suspended {} until {}", text(verifier.as_bytes()), until.0),
        Event::Overridden {
            booking,
            actor,
            reason,
            ..
        } => format!(
            "overridden {} by {} for {}",
            text(booking.as_bytes()),
            text(actor.as_bytes()),
            reason.name()
        ),
        _ => format!("{event:?}"),
    }
}

/// Collects every event, as lines and as `Debug` renderings.
#[derive(Default)]
struct Collect(Mutex<Vec<(String, String)>>);

impl Events for Collect {
    fn event(&self, event: &Event<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((line(event), format!("{event:?}")));
    }
}

impl Collect {
    fn take(&self) -> Vec<String> {
        self.0.lock().unwrap().drain(..).map(|(l, _)| l).collect()
    }
}

#[test]
fn a_sink_sees_issue_resend_wrong_right_replay_exactly() {
    sink_sees_issue_resend_wrong_right_replay(&MemoryStore::new());
    sink_sees_issue_resend_wrong_right_replay(&handover_code::conformance::WithoutTransactions(
        MemoryStore::new(),
    ));
}

/// The test above on `store`, in its mode (one transaction, or one key at a time).
fn sink_sees_issue_resend_wrong_right_replay<S: Store>(store: &S) {
    let keys = keys();
    let sink = std::sync::Arc::new(Collect::default());
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(5, 86_400)
        .unwrap();
    let service = Service::new(keys.clone(), policy, context())
        .unwrap()
        .with_events(std::sync::Arc::clone(&sink));
    let booking = id("SLOT-1");
    let vaccinator = Some(VerifierId::new("vaccinator-7").unwrap());
    let code = service.issue(store, booking, UNTIL, T0).unwrap();
    let again = service.resend(store, booking, Timestamp(T0.0 + 5)).unwrap();
    assert_eq!(code.expose(), again.expose());
    let at = Timestamp(T0.0 + 60);
    let (r1, r2) = (
        RequestId::new("req-1").unwrap(),
        RequestId::new("req-2").unwrap(),
    );
    let bad = wrong(code.expose());
    assert_eq!(
        service
            .verify(
                store,
                booking,
                &bad,
                Attempt::from(vaccinator).request(&r1),
                at
            )
            .unwrap(),
        Outcome::Rejected { attempts_left: 2 }
    );
    assert_eq!(
        service
            .verify(
                store,
                booking,
                code.expose(),
                Attempt::from(vaccinator).request(&r2),
                at
            )
            .unwrap(),
        Outcome::Accepted
    );
    assert_eq!(
        service
            .verify(
                store,
                booking,
                code.expose(),
                Attempt::from(vaccinator).request(&r2),
                at
            )
            .unwrap(),
        Outcome::Replayed(Earlier::Accepted)
    );
    let g = T0.0;
    assert_eq!(
        sink.take(),
        [
            format!("issued SLOT-1 g{g} until {}", UNTIL.0),
            format!("sent SLOT-1 issue g{g}"),
            format!("sent SLOT-1 resend g{g}"),
            "verified SLOT-1 Rejected { attempts_left: 2 } by Some(\"vaccinator-7\") request Some(\"req-1\")".to_owned(),
            "verified SLOT-1 Accepted by Some(\"vaccinator-7\") request Some(\"req-2\")".to_owned(),
            "verified SLOT-1 Replayed(Accepted) by Some(\"vaccinator-7\") request Some(\"req-2\")".to_owned(),
        ]
    );
}

#[test]
fn locks_suspensions_refusals_revokes_and_overrides_are_told() {
    locks_suspensions_refusals_revokes_and_overrides_told(&MemoryStore::new());
    locks_suspensions_refusals_revokes_and_overrides_told(
        &handover_code::conformance::WithoutTransactions(MemoryStore::new()),
    );
}

/// The test above on `store`, in its mode (one transaction, or one key at a time).
fn locks_suspensions_refusals_revokes_and_overrides_told<S: Store>(store: &S) {
    let keys = keys();
    let sink = std::sync::Arc::new(Collect::default());
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(3, 86_400)
        .unwrap()
        .with_send_limit(1, 600)
        .unwrap();
    let service = Service::new(keys.clone(), policy, context())
        .unwrap()
        .with_events(std::sync::Arc::clone(&sink));
    let v = Some(VerifierId::new("v").unwrap());
    let code = service.issue(store, id("A"), UNTIL, T0).unwrap();
    let refused = service.resend(store, id("A"), T0).unwrap_err();
    assert!(matches!(refused, Error::SendLimit { .. }));
    let bad = wrong(code.expose());
    for _ in 0..3 {
        service.verify(store, id("A"), &bad, v, T0).unwrap();
    }
    assert_eq!(
        service.verify(store, id("A"), &bad, v, T0).unwrap(),
        Outcome::VerifierSuspended {
            until: Timestamp(1_036_800)
        }
    );
    service.issue(store, id("B"), UNTIL, T0).unwrap();
    service.revoke(store, id("B"), T0).unwrap();
    service.issue(store, id("C"), UNTIL, T0).unwrap();
    let by = Override::new(ActorId::new("supervisor").unwrap(), Reason::NoPhone, "").unwrap();
    service.overrule(store, id("C"), by, T0).unwrap();
    let g = T0.0;
    let by_v = "by Some(\"v\") request None";
    assert_eq!(
        sink.take(),
        [
            format!("issued A g{g} until {}", UNTIL.0),
            format!("sent A issue g{g}"),
            format!("send refused A resend until {}", T0.0 + 600),
            format!("verified A Rejected {{ attempts_left: 2 }} {by_v}"),
            format!("verified A Rejected {{ attempts_left: 1 }} {by_v}"),
            format!("verified A Rejected {{ attempts_left: 0 }} {by_v}"),
            "locked A".to_owned(),
            "suspended v until 1036800".to_owned(),
            format!("verified A VerifierSuspended {{ until: Timestamp(1036800) }} {by_v}"),
            format!("issued B g{g} until {}", UNTIL.0),
            format!("sent B issue g{g}"),
            "revoked B".to_owned(),
            format!("issued C g{g} until {}", UNTIL.0),
            format!("sent C issue g{g}"),
            "overridden C by supervisor for no_phone".to_owned(),
        ]
    );
}

/// A store whose compare-and-swaps all fail (`fail`) or all lose their race.
struct Refusing {
    inner: MemoryStore,
    fail: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("refused")]
struct Refused;

impl Store for Refusing {
    type Error = Refused;
    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Refused> {
        Store::load(&self.inner, key).map_err(|_| Refused)
    }
    fn compare_and_swap(
        &self,
        _key: Key<'_>,
        _expected: Option<Version>,
        _record: &Record,
        _new: Version,
    ) -> Result<Swap, Refused> {
        if self.fail {
            Err(Refused)
        } else {
            Ok(Swap::Conflict)
        }
    }
}

#[test]
fn nothing_is_told_for_a_write_that_failed_or_lost_its_race() {
    let keys = keys();
    let sink = std::sync::Arc::new(Collect::default());
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(5, 86_400)
        .unwrap();
    let quiet = Service::new(keys.clone(), policy, context()).unwrap();
    let service = quiet.clone().with_events(std::sync::Arc::clone(&sink));
    for fail in [true, false] {
        let store = Refusing {
            inner: MemoryStore::new(),
            fail,
        };
        // A booking issued behind the sink's back, so verifications have one to compare.
        let code = quiet.issue(&store.inner, id("X"), UNTIL, T0).unwrap();
        let v = Some(VerifierId::new("v").unwrap());
        let by = Override::new(ActorId::new("s").unwrap(), Reason::Other, "").unwrap();
        let answers = [
            service.issue(&store, id("Y"), UNTIL, T0).map(drop),
            service.resend(&store, id("X"), T0).map(drop),
            service.reissue(&store, id("X"), UNTIL, T0).map(drop),
            service.revoke(&store, id("X"), T0),
            service
                .verify(&store, id("X"), code.expose(), v, T0)
                .map(drop),
            service
                .verify(&store, id("X"), code.expose(), None, T0)
                .map(drop),
            service.overrule(&store, id("X"), by, T0),
        ];
        for answer in answers {
            let e = answer.unwrap_err();
            assert!(
                matches!(e, Error::Store(_) | Error::Contention),
                "fail {fail}: {e:?}"
            );
        }
        assert_eq!(sink.take(), Vec::<String>::new(), "fail {fail}");
        assert!(store.inner.since(Cursor::START, 100).unwrap().len() == 1);
    }
}

#[test]
fn the_memory_store_keeps_a_booking_history_and_a_log_to_ship() {
    check_history(&MemoryStore::new());
    // And in the reservation mode, one key at a time.
    #[cfg(feature = "conformance")]
    check_history(&handover_code::conformance::WithoutTransactions(
        MemoryStore::new(),
    ));
}

#[test]
fn an_override_redeems_once_marks_the_record_and_is_audited() {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_override_budget(5, 86_400)
        .unwrap();
    let service = Service::new(keys.clone(), policy, context()).unwrap();
    let store = MemoryStore::new();
    let code = service.issue(&store, id("P"), UNTIL, T0).unwrap();
    let supervisor = ActorId::new("supervisor-3").unwrap();
    let by = Override::new(
        supervisor,
        Reason::NotReceived,
        "SMS never came; ID card seen",
    )
    .unwrap();
    service.overrule(&store, id("P"), by, T0).unwrap();
    let record = service.booking(&store, id("P")).unwrap().unwrap();
    assert_eq!(record.last_answer(), Some(Earlier::Overridden));
    assert_eq!(record.last_verifier(), Some(&b"supervisor-3"[..]));
    assert_eq!(record.last_request(), None);
    for typed in [code.expose(), wrong(code.expose()).as_str()] {
        assert_eq!(
            service.verify(&store, id("P"), typed, None, T0).unwrap(),
            Outcome::AlreadyRedeemed { by_override: true }
        );
    }
    // Never twice, by override or by code.
    assert!(matches!(
        service.overrule(&store, id("P"), by, T0),
        Err(Error::Inactive(Inactive::Redeemed))
    ));
    let history = store
        .history(Key::Booking {
            context: context(),
            id: id("P"),
        })
        .unwrap();
    let over = history.last().unwrap();
    assert_eq!(
        over.action,
        Action::Overridden {
            reason: Reason::NotReceived
        }
    );
    assert_eq!(over.actor.as_deref(), Some(&b"supervisor-3"[..]));
    assert_eq!(over.note, "SMS never came; ID card seen");
    let counted = store
        .history(Key::Actor {
            scope: context(),
            id: supervisor,
        })
        .unwrap();
    assert_eq!(actions(&counted), [Action::OverrideCounted]);
}

#[test]
fn overrides_are_refused_for_what_they_may_not_redeem_and_change_nothing() {
    let keys = keys();
    let store = MemoryStore::new();
    let strict = Service::new(keys.clone(), Policy::new(Digits::Four), context()).unwrap();
    let by = Override::new(ActorId::new("s").unwrap(), Reason::Other, "x").unwrap();
    let code = strict.issue(&store, id("L"), UNTIL, T0).unwrap();
    for _ in 0..3 {
        strict
            .verify(&store, id("L"), &wrong(code.expose()), None, T0)
            .unwrap();
    }
    strict.issue(&store, id("R"), UNTIL, T0).unwrap();
    strict.revoke(&store, id("R"), T0).unwrap();
    strict
        .issue(&store, id("E"), Timestamp(T0.0 + 10), T0)
        .unwrap();
    let redeemed = strict.issue(&store, id("D"), UNTIL, T0).unwrap();
    strict
        .verify(&store, id("D"), redeemed.expose(), None, T0)
        .unwrap();
    let later = Timestamp(T0.0 + 20);
    let before = store.since(Cursor::START, usize::MAX).unwrap();
    let cases: [(&str, Error); 5] = [
        ("L", Error::Inactive(Inactive::Locked)),
        ("R", Error::Inactive(Inactive::Revoked)),
        ("E", Error::Inactive(Inactive::Expired)),
        ("D", Error::Inactive(Inactive::Redeemed)),
        ("none", Error::UnknownBooking),
    ];
    for (b, want) in &cases {
        let got = strict.overrule(&store, id(b), by, later).unwrap_err();
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{b}");
    }
    let off = Service::new(
        keys.clone(),
        Policy::new(Digits::Four).without_overrides(),
        context(),
    )
    .unwrap();
    assert!(matches!(
        off.overrule(&store, id("E"), by, T0),
        Err(Error::OverridesOff)
    ));
    assert_eq!(store.since(Cursor::START, usize::MAX).unwrap(), before);
    // What a policy allows: locked, expired and revoked bookings; never a redeemed one.
    let lenient = Service::new(
        keys.clone(),
        Policy::new(Digits::Four).with_overrides_of(true, true, true),
        context(),
    )
    .unwrap();
    for b in ["L", "R", "E"] {
        lenient.overrule(&store, id(b), by, later).unwrap();
        assert_eq!(
            lenient.verify(&store, id(b), "0000", None, later).unwrap(),
            Outcome::AlreadyRedeemed { by_override: true }
        );
    }
    assert!(matches!(
        lenient.overrule(&store, id("D"), by, later),
        Err(Error::Inactive(Inactive::Redeemed))
    ));
    // A note too long is refused before anything runs.
    assert!(Override::new(ActorId::new("s").unwrap(), Reason::Other, &"n".repeat(201)).is_err());
}

#[test]
fn override_budgets_hold_under_64_threads_on_the_memory_store() {
    override_budget_under_threads(&MemoryStore::new());
}

#[test]
fn override_budgets_hold_under_64_threads_one_key_at_a_time() {
    override_budget_under_threads(&handover_code::conformance::WithoutTransactions(
        MemoryStore::new(),
    ));
}

#[test]
fn no_event_audit_entry_or_debug_output_holds_a_code() {
    let keys = keys();
    let sink = Arc::new(Collect::default());
    let policy = Policy::new(Digits::Six)
        .with_verifier_budget(2, 86_400)
        .unwrap()
        .with_override_budget(3, 86_400)
        .unwrap();
    let service = Service::new(keys.clone(), policy, context())
        .unwrap()
        .with_events(std::sync::Arc::clone(&sink));
    let store = MemoryStore::new();
    let v = Some(VerifierId::new("v").unwrap());
    let mut codes = Vec::new();
    for b in ["A", "B", "C"] {
        let code = service.issue(&store, id(b), UNTIL, T0).unwrap();
        codes.push(code.expose().to_owned());
        service.resend(&store, id(b), T0).unwrap();
    }
    let wrong6 = |c: &str| format!("{:06}", (c.parse::<u32>().unwrap() + 1) % 1_000_000);
    service
        .verify(&store, id("A"), &wrong6(&codes[0]), v, T0)
        .unwrap();
    service.verify(&store, id("A"), &codes[0], v, T0).unwrap();
    service
        .verify(&store, id("B"), &wrong6(&codes[1]), v, T0)
        .unwrap();
    let by = Override::new(
        ActorId::new("s").unwrap(),
        Reason::CannotAccess,
        "phone died",
    )
    .unwrap();
    service.overrule(&store, id("C"), by, T0).unwrap();
    service.reissue(&store, id("B"), UNTIL, T0).unwrap();
    let mut rendered: Vec<String> = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, d)| d.clone())
        .collect();
    assert!(rendered.len() > 10);
    for e in store.since(Cursor::START, usize::MAX).unwrap() {
        rendered.push(format!("{e:?}"));
        rendered.push(format!("{:?}", e.action));
    }
    rendered.push(format!("{service:?}"));
    rendered.push(format!("{by:?}"));
    for r in &rendered {
        for code in &codes {
            assert!(!r.contains(code.as_str()), "{r} shows the code {code}");
        }
    }
}

/// Checks the `tracing` sink: one event per crate event, target `handover_code`, fields (not a
/// formatted message) naming what happened, WARN for a lock and a suspension.
#[cfg(feature = "tracing")]
mod tracing_sink {
    use std::sync::Mutex;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    /// One event: its level, target and fields.
    type Seen = (Level, String, Vec<(String, String)>);

    /// Every event.
    #[derive(Default)]
    struct Capture(Mutex<Vec<Seen>>);

    struct Fields(Vec<(String, String)>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl Subscriber for &'static Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            let m = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((*m.level(), m.target().to_owned(), fields.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn events_become_structured_tracing_events_with_alerting_levels() {
        use handover_code::audit::TracingEvents;
        use handover_code::{Digits, MemoryStore, Policy, Service, VerifierId};

        let capture: &'static Capture = Box::leak(Box::default());
        let keys = super::keys();
        let policy = Policy::new(Digits::Four)
            .with_verifier_budget(3, 86_400)
            .unwrap();
        let service = Service::new(keys.clone(), policy, super::context())
            .unwrap()
            .with_events(TracingEvents);
        let store = MemoryStore::new();
        let v = Some(VerifierId::new("vaccinator-7").unwrap());
        let code = tracing::subscriber::with_default(capture, || {
            let code = service
                .issue(&store, super::id("T"), super::UNTIL, super::T0)
                .unwrap();
            for _ in 0..3 {
                service
                    .verify(
                        &store,
                        super::id("T"),
                        &super::wrong(code.expose()),
                        v,
                        super::T0,
                    )
                    .unwrap();
            }
            code
        });
        let seen = capture.0.lock().unwrap();
        let summary: Vec<(Level, String)> = seen
            .iter()
            .map(|(level, target, fields)| {
                assert_eq!(target, "handover_code");
                let name = fields
                    .iter()
                    .find(|(k, _)| k == "event")
                    .map(|(_, v)| v.clone())
                    .unwrap();
                for (_, value) in fields {
                    assert!(!value.contains(code.expose()), "{fields:?}");
                }
                (*level, name)
            })
            .collect();
        let expected = [
            (Level::INFO, "issued"),
            (Level::INFO, "sent"),
            (Level::INFO, "verified"),
            (Level::INFO, "verified"),
            (Level::INFO, "verified"),
            (Level::WARN, "locked"),
            (Level::WARN, "verifier_suspended"),
        ];
        let expected: Vec<(Level, String)> = expected
            .iter()
            .map(|(l, n)| (*l, (*n).to_owned()))
            .collect();
        assert_eq!(summary, expected);
        let verified = &seen[4].2;
        let field = |name: &str| {
            verified
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(field("outcome"), Some("rejected"));
        assert_eq!(field("attempts_left"), Some("0"));
        assert_eq!(field("verifier"), Some("vaccinator-7"));
        assert_eq!(field("booking"), Some("T"));
    }
}

#[test]
fn send_is_named_as_stored() {
    assert_eq!(
        [Send::Issue, Send::Resend, Send::Reissue].map(Send::name),
        ["issue", "resend", "reissue"]
    );
    for reason in Reason::ALL {
        assert_eq!(
            Reason::from_number(u64::from(reason.number())),
            Some(reason)
        );
        let action = Action::Overridden { reason };
        assert_eq!(
            Action::from_parts(action.name(), action.detail()),
            Some(action)
        );
    }
}

/// A store on which another writer gets to a booking between an override's count and its
/// booking write, once: it redeems the booking (`redeem`) or only moves its version on.
struct Interloper {
    inner: MemoryStore,
    redeem: bool,
    done: std::sync::atomic::AtomicBool,
    /// Also writes the actor's record once just before the give-back, so that it loses a
    /// race and is made again.
    race_refund: bool,
    refund_raced: std::sync::atomic::AtomicBool,
    /// The booking's code, for the redeeming verifier.
    code: Mutex<String>,
}

impl Store for Interloper {
    type Error = <MemoryStore as Store>::Error;
    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        Store::load(&self.inner, key)
    }
    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        Store::compare_and_swap(&self.inner, key, expected, record, new)
    }
    fn compare_and_swap_audited(
        &self,
        entry: &handover_code::audit::Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Self::Error> {
        if self.race_refund
            && entry.action() == Action::OverrideRefunded
            && !self
                .refund_raced
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let Some((actor, v)) = Store::load(&self.inner, entry.key)? else {
                panic!("no actor record to get to first");
            };
            let moved = Version(v.0 + 1);
            assert_eq!(
                Store::compare_and_swap(&self.inner, entry.key, Some(v), &actor, moved)?,
                Swap::Swapped
            );
        }
        let first = !self.done.swap(true, std::sync::atomic::Ordering::SeqCst);
        if first && matches!(entry.action(), Action::Overridden { .. }) && self.redeem {
            // Another verifier redeems the booking with its code, through a service of its
            // own (no events: the test's sink hears only the override's service).
            let code = self.code.lock().unwrap().clone();
            let other = Service::new(keys(), Policy::new(Digits::Four), context()).unwrap();
            assert_eq!(
                other.verify(&self.inner, id("Q"), &code, None, T0).unwrap(),
                Outcome::Accepted
            );
        } else if first && matches!(entry.action(), Action::Overridden { .. }) {
            let Some((Record::Booking(b), v)) = Store::load(&self.inner, entry.key)? else {
                panic!("no booking to get to first");
            };
            let moved = Version(v.0 + 1);
            assert_eq!(
                Store::compare_and_swap(
                    &self.inner,
                    entry.key,
                    Some(v),
                    &Record::Booking(b),
                    moved
                )?,
                Swap::Swapped
            );
        } else if first {
            self.done.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.compare_and_swap_audited(entry, record)
    }
}

#[test]
fn an_override_that_loses_its_booking_gives_its_count_back_and_tells_nothing() {
    let keys = keys();
    let sink = std::sync::Arc::new(Collect::default());
    let policy = Policy::new(Digits::Four)
        .with_override_budget(3, 86_400)
        .unwrap();
    let service = Service::new(keys.clone(), policy, context())
        .unwrap()
        .with_events(std::sync::Arc::clone(&sink));
    let supervisor = ActorId::new("supervisor").unwrap();
    let actor = Key::Actor {
        scope: context(),
        id: supervisor,
    };
    let by = Override::new(supervisor, Reason::NoPhone, "").unwrap();
    for (redeem, race_refund) in [(true, false), (false, false), (true, true)] {
        let store = Interloper {
            inner: MemoryStore::new(),
            redeem,
            done: std::sync::atomic::AtomicBool::new(false),
            race_refund,
            refund_raced: std::sync::atomic::AtomicBool::new(false),
            code: Mutex::new(String::new()),
        };
        let code = service.issue(&store.inner, id("Q"), UNTIL, T0).unwrap();
        *store.code.lock().unwrap() = code.expose().to_owned();
        sink.take();
        let answer = service.overrule(&store, id("Q"), by, T0);
        let budget = store.inner.history(actor).unwrap();
        let count = match Store::load(&store.inner, actor).unwrap() {
            Some((Record::Verifier(v), _)) => v.failures(),
            other => panic!("{other:?}"),
        };
        if redeem {
            // Redeemed under it: refused, and the count given back in a second write.
            assert!(
                matches!(answer, Err(Error::Inactive(Inactive::Redeemed))),
                "{answer:?}"
            );
            // The interloper's own write is not audited: the chain skips it.
            let budget = if race_refund {
                budget.iter().map(|e| e.action).collect()
            } else {
                actions(&budget)
            };
            assert_eq!(budget, [Action::OverrideCounted, Action::OverrideRefunded]);
            assert_eq!(count, 0);
            assert_eq!(sink.take(), Vec::<String>::new());
        } else {
            // Only moved on: decided again and made, counted once.
            answer.unwrap();
            assert_eq!(actions(&budget), [Action::OverrideCounted]);
            assert_eq!(count, 1);
            assert_eq!(sink.take(), ["overridden Q by supervisor for no_phone"]);
        }
    }
}
