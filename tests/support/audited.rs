//! The audit log's read-back, on any store that keeps one: a booking's whole history and a
//! verifier budget's, chained; the log in order and in pages; record pruning and log
//! retention apart; override budgets under 64 threads; and the key, ids and times the
//! accountability tests share.

use std::sync::Barrier;

use handover_code::audit::{Action, Override, Reason};
use handover_code::record::Record;
use handover_code::store::Key;
use handover_code::store::{AuditEntry, AuditLog, Cursor};
use handover_code::{
    ActorId, BookingId, Context, Digits, Error, Inactive, KeyId, Keyring, Policy, Secret, Service,
    Store, Timestamp, VerifierId,
};

pub const T0: Timestamp = Timestamp(1_000_000);
pub const UNTIL: Timestamp = Timestamp(1_003_600);

pub fn keys() -> std::sync::Arc<Keyring> {
    Keyring::new(KeyId(1), Secret::from_bytes(&[0x42; 32]).unwrap()).into()
}

pub fn id(s: &str) -> BookingId<'_> {
    BookingId::new(s).unwrap()
}

pub fn context() -> Context<'static> {
    Context::new("cowin/dose").unwrap()
}

pub fn wrong(right: &str) -> String {
    let v: u32 = right.parse().unwrap();
    format!("{:04}", (v + 1) % 10_000)
}

/// The booking's audit history, as (action, prior, version) with the versions chained.
pub fn actions(entries: &[AuditEntry]) -> Vec<Action> {
    for pair in entries.windows(2) {
        assert_eq!(pair[1].prior, Some(pair[0].version), "{entries:?}");
    }
    entries.iter().map(|e| e.action).collect()
}

/// The booking history check, on an empty store.
pub fn check_history<S: AuditLog>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(5, 86_400)
        .unwrap();
    let service = Service::new(keys.clone(), policy, context()).unwrap();
    let v = Some(VerifierId::new("vaccinator-7").unwrap());
    let code = service.issue(store, id("H"), UNTIL, T0).unwrap();
    service.resend(store, id("H"), T0).unwrap();
    service
        .verify(store, id("H"), &wrong(code.expose()), v, T0)
        .unwrap();
    service
        .verify(store, id("H"), code.expose(), v, T0)
        .unwrap();
    service
        .verify(store, id("H"), code.expose(), v, T0)
        .unwrap(); // answered, nothing written
    let key = Key::Booking {
        context: context(),
        id: id("H"),
    };
    let history = store.history(key).unwrap();
    let g = u32::try_from(T0.0).unwrap();
    assert_eq!(
        actions(&history),
        [
            Action::Issued { generation: g },
            Action::Resent { generation: g },
            Action::Rejected { attempts_left: 2 },
            Action::Accepted,
        ]
    );
    assert_eq!(history[0].prior, None);
    let (record, version) = store.load(key).unwrap().unwrap();
    assert!(matches!(record, Record::Booking(_)));
    assert_eq!(history.last().unwrap().version, version);
    for e in &history[2..] {
        assert_eq!(e.verifier.as_deref(), Some(&b"vaccinator-7"[..]));
    }
    let budget = store
        .history(Key::Verifier {
            scope: context(),
            id: VerifierId::new("vaccinator-7").unwrap(),
        })
        .unwrap();
    // With transactions, a wrong code's failure is written with its answer; without, a slot
    // is held before each comparison and settled after.
    let charged: &[Action] = if S::TRANSACTIONS {
        // The right code only checked the verifier's record unchanged.
        &[Action::BudgetSettled { failed: true }]
    } else {
        &[
            Action::BudgetHeld,
            Action::BudgetSettled { failed: true },
            Action::BudgetHeld,
            Action::BudgetSettled { failed: false },
        ]
    };
    assert_eq!(actions(&budget), charged);
    // The whole log, in pages, in order, each entry once.
    let all = store.since(Cursor::START, usize::MAX).unwrap();
    assert_eq!(all.len(), history.len() + budget.len());
    let mut paged = Vec::new();
    let mut cursor = Cursor::START;
    loop {
        let page = store.since(cursor, 3).unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert!(all.windows(2).all(|p| p[0].cursor < p[1].cursor));
    // Pruning the records leaves the log; pruning the log leaves the records.
    assert_eq!(store.prune(Timestamp(u64::MAX)).unwrap(), 2);
    assert_eq!(store.history(key).unwrap(), history);
    service
        .issue(store, id("H2"), UNTIL, Timestamp(T0.0 + 10))
        .unwrap();
    let made = u64::try_from(history.len() + charged.len()).unwrap();
    assert_eq!(store.prune_audit(Timestamp(T0.0 + 1)).unwrap(), made);
    let left = store.since(Cursor::START, usize::MAX).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].booking, b"H2");
    assert!(service.booking(store, id("H2")).unwrap().is_some());
}

/// 64 threads released together, one actor, 64 bookings, a budget of 10: exactly 10
/// overrides, and the rest refused with the window's end; then 64 actors racing for one
/// booking: exactly one override, and every other count given back.
pub fn override_budget_under_threads<S: Store + AuditLog + Sync>(store: &S) {
    const THREADS: usize = 64;
    const BUDGET: u32 = 10;
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_override_budget(BUDGET, 86_400)
        .unwrap()
        .with_max_retries(Policy::MAX_RETRIES)
        .unwrap();
    let service = Service::new(keys.clone(), policy, context()).unwrap();
    let names: Vec<String> = (0..THREADS).map(|i| format!("CAMP-{i}")).collect();
    for name in &names {
        service.issue(store, id(name), UNTIL, T0).unwrap();
    }
    let barrier = Barrier::new(THREADS);
    let answers: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                let (service, barrier) = (&service, &barrier);
                s.spawn(move || {
                    let by =
                        Override::new(ActorId::new("supervisor").unwrap(), Reason::NoPhone, "")
                            .unwrap();
                    barrier.wait();
                    service.overrule(store, id(name), by, T0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let done = answers.iter().filter(|a| a.is_ok()).count();
    let limited = answers
        .iter()
        .filter(|a| matches!(a, Err(Error::OverrideLimit { retry_at }) if *retry_at == Timestamp(1_036_800)))
        .count();
    assert_eq!(
        (done, limited),
        (BUDGET as usize, THREADS - BUDGET as usize),
        "{answers:?}"
    );
    let log = store.since(Cursor::START, usize::MAX).unwrap();
    let overridden = log
        .iter()
        .filter(|e| matches!(e.action, Action::Overridden { .. }))
        .count();
    assert_eq!(overridden, BUDGET as usize);
    let actor = Key::Actor {
        scope: context(),
        id: ActorId::new("supervisor").unwrap(),
    };
    match store.load(actor).unwrap() {
        Some((Record::Verifier(v), _)) => assert_eq!(v.failures(), BUDGET),
        other => panic!("{other:?}"),
    }

    service.issue(store, id("ONE"), UNTIL, T0).unwrap();
    let answers: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (service, barrier) = (&service, &barrier);
                s.spawn(move || {
                    let name = format!("actor-{i}");
                    let by =
                        Override::new(ActorId::new(&name).unwrap(), Reason::Other, "").unwrap();
                    barrier.wait();
                    service.overrule(store, id("ONE"), by, T0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let done = answers.iter().filter(|a| a.is_ok()).count();
    let refused = answers
        .iter()
        .filter(|a| matches!(a, Err(Error::Inactive(Inactive::Redeemed))))
        .count();
    assert_eq!((done, refused), (1, THREADS - 1), "{answers:?}");
    let counted: u32 = (0..THREADS)
        .map(|i| {
            let name = format!("actor-{i}");
            let key = Key::Actor {
                scope: context(),
                id: ActorId::new(&name).unwrap(),
            };
            match store.load(key).unwrap() {
                Some((Record::Verifier(v), _)) => v.failures(),
                None => 0,
                other => panic!("{other:?}"),
            }
        })
        .sum();
    assert_eq!(counted, 1, "every count but the winner's was given back");
}
