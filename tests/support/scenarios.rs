//! The shared-store scenarios, generic over any store that can prune: several services on
//! one store, mixed policies, a suspended verifier, a busy honest verifier, send limits,
//! retries with request ids, prune between a verification's load and its write. Each store's
//! test file runs every scenario on a fresh store from its factory ([`run_all`]).

use std::sync::{Barrier, Mutex};

use handover_code::record::{Earlier, Record, Version};
use handover_code::store::{Key, Swap};
use handover_code::{
    BookingId, Context, Digits, Error, Inactive, KeyId, Keyring, Malformed, Outcome, Policy, Prune,
    RequestId, Secret, Service, Store, Timestamp, VerifierId,
};

pub const T0: Timestamp = Timestamp(1_700_000_000);
pub const UNTIL: Timestamp = Timestamp(1_700_086_400);
/// Threads released together.
pub const THREADS: usize = 64;

pub fn keys() -> Keyring {
    Keyring::new(KeyId(1), Secret::from_bytes(&[0x37; 32]).unwrap())
}

fn id(s: &str) -> BookingId<'_> {
    BookingId::new(s).unwrap()
}

fn ctx(s: &str) -> Context<'_> {
    Context::new(s).unwrap()
}

fn who(s: &str) -> Option<VerifierId<'_>> {
    Some(VerifierId::new(s).unwrap())
}

/// 4 digits, a verifier budget of `failures` per `window` seconds, and the most conflict
/// retries (64 threads at once contend).
fn budgeted(failures: u32, window: u64) -> Policy {
    Policy::new(Digits::Four)
        .with_verifier_budget(failures, window)
        .unwrap()
        .with_max_retries(Policy::MAX_RETRIES)
        .unwrap()
}

/// A code of the same length other than `right`, different for each `k`.
pub fn wrong(right: &str, k: usize) -> String {
    let width = right.len();
    let modulus = 10u64.pow(width as u32);
    let value: u64 = right.parse().unwrap();
    format!(
        "{:0width$}",
        (value + 1 + k as u64 % (modulus - 1)) % modulus
    )
}

/// Runs `f(i)` on [`THREADS`] threads released together.
pub fn release<T: Send>(f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Every scenario, each on a fresh store.
pub fn run_all<S: Store + Prune + Sync>(fresh: impl Fn() -> S) {
    contexts_never_touch_each_other(&fresh());
    the_record_limits_win_both_ways(&fresh());
    a_verifier_record_keeps_its_window_and_limit(&fresh());
    a_named_scope_shares_one_budget_across_contexts(&fresh());
    a_suspended_verifier_learns_nothing(&fresh());
    a_busy_honest_verifier_is_never_suspended(&fresh());
    nothing_that_compared_no_code_stays_charged(&fresh());
    send_limits_hold_under_threads(&fresh());
    retries_with_a_request_id_get_the_original_answer(&fresh());
    reissue_refuses_a_clock_before_the_issue(&fresh());
    prune_between_load_and_write_lands_nothing(&fresh());
    one_request_id_many_codes_at_once_gets_one_comparison(&fresh());
    alternating_request_ids_pay_for_every_comparison(&fresh());
    a_nearly_spent_budget_allows_one_comparison_at_a_time(&fresh());
    mixed_budgets_on_one_scope_under_threads(&fresh());
    if S::TRANSACTIONS {
        a_comparison_decided_on_an_old_verifier_is_decided_again(&fresh());
    } else {
        // The reservation's holds: only a store without transactions takes them.
        a_shared_hold_pays_for_one_write_only(&fresh());
        a_lost_race_moves_the_hold_on(&fresh());
        a_lost_race_with_nothing_to_compare_frees_the_hold(&fresh());
        a_hold_adopted_in_the_race_is_not_moved(&fresh());
    }
}

/// The shared-hold attack, on a store with transactions: O (the right code) reads the
/// verifier and its booking and pauses before its transaction; P and Q (wrong codes on two
/// other bookings) spend the budget of 2 meanwhile. O's transaction checks the verifier's
/// record unchanged, and it is not: it lands nothing, O reads again and is answered
/// suspended. Nothing but the verifier's record ties O to P and Q, so only that check stops
/// an acceptance after the suspension.
pub fn a_comparison_decided_on_an_old_verifier_is_decided_again<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Six)
        .with_attempts(5)
        .unwrap()
        .with_verifier_budget(2, 86_400)
        .unwrap();
    let service = Service::new(&keys, policy, ctx("decided-again"));
    let code = service.issue(store, id("B"), UNTIL, T0).unwrap();
    let c = service.issue(store, id("C"), UNTIL, T0).unwrap();
    let d = service.issue(store, id("D"), UNTIL, T0).unwrap();
    let v = who("mallory");
    let req = |r: &'static str| RequestId::new(r).unwrap();
    // On other bookings: only the verifier's record ties their writes to O's.
    let others = || {
        let p = service.verify_request(store, id("C"), &wrong(c.expose(), 2), v, req("p"), T0);
        assert!(matches!(p, Ok(Outcome::Rejected { .. })), "P: {p:?}");
        let q = service.verify_request(store, id("D"), &wrong(d.expose(), 3), v, req("q"), T0);
        assert!(matches!(q, Ok(Outcome::Rejected { .. })), "Q: {q:?}");
    };
    // O's calls: load the verifier, load the booking, write both.
    let paused = Pausing::new(store, 3, others);
    let o = service.verify_request(&paused, id("B"), code.expose(), v, req("o"), T0);
    assert!(
        matches!(o, Ok(Outcome::VerifierSuspended { .. })),
        "O was answered on a verifier that was suspended before its write: {o:?}"
    );
    let record = service.booking(store, id("B")).unwrap().unwrap();
    assert_eq!(record.lifetime_failures, 0);
    assert_eq!(record.state, handover_code::record::State::Active);
    let verifier = verifier_record(store, "decided-again", "mallory");
    assert_eq!((verifier.failures, verifier.held), (2, 0));
}

/// The second review's attack: O takes a slot for request `a` and pauses before its booking
/// write; P (the same request id, another code) completes on that slot, and Q (request `b`)
/// spends the last of the budget. O's write then conflicts; its slot has paid for P's
/// comparison, so O may not compare again on it: it needs a new slot, and there is none.
pub fn a_shared_hold_pays_for_one_write_only<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Six)
        .with_attempts(5)
        .unwrap()
        .with_verifier_budget(2, 86_400)
        .unwrap();
    let service = Service::new(&keys, policy, ctx("shared-hold"));
    let code = service.issue(store, id("B"), UNTIL, T0).unwrap();
    let v = who("mallory");
    let req = |r: &'static str| RequestId::new(r).unwrap();
    let others = || {
        let p = service.verify_request(store, id("B"), &wrong(code.expose(), 2), v, req("a"), T0);
        assert!(matches!(p, Ok(Outcome::Rejected { .. })), "P: {p:?}");
        let q = service.verify_request(store, id("B"), &wrong(code.expose(), 3), v, req("b"), T0);
        assert!(matches!(q, Ok(Outcome::Rejected { .. })), "Q: {q:?}");
    };
    // O's calls: load the verifier, load the booking, hold a slot, write the booking.
    let paused = Pausing::new(store, 4, others);
    let o = service.verify_request(&paused, id("B"), &wrong(code.expose(), 1), v, req("a"), T0);
    assert!(
        matches!(o, Ok(Outcome::VerifierSuspended { .. })),
        "O compared a third wrong code on a budget of 2: {o:?}"
    );
    let record = service.booking(store, id("B")).unwrap().unwrap();
    assert_eq!(record.lifetime_failures, 2);
    let verifier = verifier_record(store, "shared-hold", "mallory");
    assert_eq!(verifier.failures, 2);
}

/// Ann (budget 1) verifies `ann_types` on a fresh booking under a request id, and bob's
/// verification of `bob_types` lands between ann taking her slot and writing, so ann's write
/// loses the race. Ann's answer, bob's, ann's budget record and the booking's record.
fn ann_loses_a_race<S: Store + Sync>(
    store: &S,
    scope: &str,
    ann_types: fn(&str) -> String,
    bob_types: fn(&str) -> String,
) -> (
    Outcome,
    Outcome,
    handover_code::record::Verifier,
    handover_code::record::Booking,
) {
    let keys = keys();
    let service = Service::new(&keys, budgeted(1, 86_400), ctx(scope));
    let code = service.issue(store, id("B"), UNTIL, T0).unwrap();
    let bobs = Mutex::new(None);
    let other = || {
        let w = service.verify(store, id("B"), &bob_types(code.expose()), who("bob"), T0);
        *bobs.lock().unwrap() = Some(w.unwrap());
    };
    // Ann's calls: load the verifier, load the booking, hold a slot, write the booking.
    let paused = Pausing::new(store, 4, other);
    let typed = ann_types(code.expose());
    let req = RequestId::new("a").unwrap();
    let ann = service.verify_request(&paused, id("B"), &typed, who("ann"), req, T0);
    let bob = bobs.lock().unwrap().take().expect("bob went first");
    let record = service.booking(store, id("B")).unwrap().unwrap();
    (
        ann.unwrap(),
        bob,
        verifier_record(store, scope, "ann"),
        record,
    )
}

/// Ann's write loses the race to bob's wrong code. Her hold is still her own, so it moves on
/// with her to the booking's new version and pays for the comparison there: she is answered
/// (not busy for the rest of the day), and her budget ends with her one failure, nothing held.
pub fn a_lost_race_moves_the_hold_on<S: Store + Sync>(store: &S) {
    let (ann, bob, v, record) =
        ann_loses_a_race(store, "lost-race", |c| wrong(c, 1), |c| wrong(c, 2));
    assert!(matches!(bob, Outcome::Rejected { .. }), "bob: {bob:?}");
    assert!(matches!(ann, Outcome::Rejected { .. }), "ann: {ann:?}");
    assert_eq!((v.failures, v.held), (1, 0), "{v:?}");
    assert!(v.holds.iter().all(|h| *h == Default::default()), "{v:?}");
    assert_eq!(record.lifetime_failures, 2);
}

/// Ann's write loses the race to the right code typed at bob's counter: the booking is
/// redeemed, ann compares nothing more, and her slot is freed, not held until the window ends.
pub fn a_lost_race_with_nothing_to_compare_frees_the_hold<S: Store + Sync>(store: &S) {
    let (ann, bob, v, _) =
        ann_loses_a_race(store, "lost-race-free", |c| wrong(c, 1), str::to_owned);
    assert_eq!(
        (bob, ann),
        (
            Outcome::Accepted,
            Outcome::AlreadyRedeemed { by_override: false }
        )
    );
    assert_eq!((v.failures, v.held), (0, 0), "{v:?}");
    assert!(v.holds.iter().all(|h| *h == Default::default()), "{v:?}");
}

/// O takes a slot and pauses before its write; P, O's own retry (the same request id),
/// adopts the slot, marking it shared, and pauses before its write too, while bob's write
/// moves the booking. P loses its race and compares again, then pauses before settling;
/// bob writes once more, and O, resuming, loses its race and compares again too. The shared
/// slot may be moved on by neither: had both carried it to their second comparisons, two
/// wrong codes would be answered on one slot and one counted. Each pays with a new slot, and
/// every wrong code of ann's answered is a failure of ann's.
pub fn a_hold_adopted_in_the_race_is_not_moved<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = budgeted(3, 86_400).with_attempts(5).unwrap();
    let service = Service::new(&keys, policy, ctx("adopted-race"));
    let code = service.issue(store, id("B"), UNTIL, T0).unwrap();
    let req = RequestId::new("a").unwrap();
    let bob = |k| {
        let w = service.verify(store, id("B"), &wrong(code.expose(), k), who("bob"), T0);
        assert!(matches!(w, Ok(Outcome::Rejected { .. })), "bob: {w:?}");
    };
    // Hand-offs that time out: a plan whose calls go otherwise fails the test, not hangs it.
    let (paused_tx, paused) = std::sync::mpsc::channel::<()>();
    let (resume, resume_rx) = std::sync::mpsc::channel::<()>();
    let (paused_tx, resume_rx) = (Mutex::new(paused_tx), Mutex::new(resume_rx));
    let paused = Mutex::new(paused);
    let p_answer = std::thread::scope(|scope| {
        let o_hook = || {
            let p = scope.spawn(|| {
                // P's calls: load the verifier, load the booking, adopt (a verifier write),
                // write the booking (bob goes first: P loses), load the booking, hold a new
                // slot, write the booking, settle (here P waits for O).
                let wait = || {
                    paused_tx.lock().unwrap().send(()).unwrap();
                    let _ = resume_rx.lock().unwrap().recv_timeout(HANDOFF);
                };
                let at_settle = Pausing::new(store, 8, wait);
                let at_write = Pausing::new(&at_settle, 4, || bob(3));
                let typed = wrong(code.expose(), 2);
                service.verify_request(&at_write, id("B"), &typed, who("ann"), req, T0)
            });
            paused
                .lock()
                .unwrap()
                .recv_timeout(HANDOFF)
                .expect("P reached its settlement by the calls described");
            bob(4);
            p
        };
        let handle = Mutex::new(None);
        let o_store = Pausing::new(store, 4, || *handle.lock().unwrap() = Some(o_hook()));
        let o = service.verify_request(
            &o_store,
            id("B"),
            &wrong(code.expose(), 1),
            who("ann"),
            req,
            T0,
        );
        let _ = resume.send(());
        let p = handle.lock().unwrap().take().unwrap().join().unwrap();
        (o, p)
    });
    let (o, p) = p_answer;
    assert!(matches!(o, Ok(Outcome::Rejected { .. })), "O: {o:?}");
    assert!(matches!(p, Ok(Outcome::Rejected { .. })), "P: {p:?}");
    let v = verifier_record(store, "adopted-race", "ann");
    let record = service.booking(store, id("B")).unwrap().unwrap();
    // bob's two failures are on the booking, not on ann's budget.
    let anns = u32::from(record.lifetime_failures) - 2;
    assert_eq!(anns, 2);
    assert_eq!(
        v.failures, anns,
        "a wrong code of ann's was answered uncounted: {v:?}"
    );
    assert!(v.failures + v.held <= v.limit, "{v:?}");
}

/// How long a scenario's threads wait for each other's hand-off.
const HANDOFF: std::time::Duration = std::time::Duration::from_secs(10);

/// Retries `verify` while the budget is busy, as a host would, for at most 30 s (a slot
/// leaked by a store fault would otherwise keep it busy until the window ends; the busy
/// answer then fails the test instead of hanging it).
fn verify_retrying<S: Store>(
    service: &Service<'_>,
    store: &S,
    booking: &str,
    typed: &str,
    verifier: &str,
    request: Option<&str>,
    now: Timestamp,
) -> Result<Outcome, Error<S::Error>> {
    let started = std::time::Instant::now();
    loop {
        let answer = match request {
            Some(r) => service.verify_request(
                store,
                id(booking),
                typed,
                who(verifier),
                RequestId::new(r).unwrap(),
                now,
            ),
            None => service.verify(store, id(booking), typed, who(verifier), now),
        };
        if !matches!(answer, Err(Error::BudgetBusy)) || started.elapsed() > RETRY_FOR {
            return answer;
        }
        std::thread::yield_now();
    }
}

/// How long the scenarios retry a busy budget.
const RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// The first attack the review found: 64 requests at once under one request id, on one
/// booking, each with another code and one with the right one. One slot pays for one
/// comparison: exactly one answer is fresh, the rest are its replay (or the booking's
/// redemption), and the verifier ends with at most that one failure.
pub fn one_request_id_many_codes_at_once_gets_one_comparison<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = budgeted(3, 86_400);
    let service = Service::new(&keys, policy, ctx("same-id"));
    let code = service.issue(store, id("S"), UNTIL, T0).unwrap();
    let answers = release(|i| {
        let typed = if i == THREADS / 2 {
            code.expose().to_owned()
        } else {
            wrong(code.expose(), i)
        };
        verify_retrying(&service, store, "S", &typed, "mallory", Some("one-id"), T0)
    });
    let fresh = answers
        .iter()
        .filter(|a| matches!(a, Ok(Outcome::Accepted | Outcome::Rejected { .. })))
        .count();
    assert_eq!(fresh, 1, "{answers:?}");
    assert!(
        answers.iter().all(|a| matches!(
            a,
            Ok(Outcome::Accepted
                | Outcome::Rejected { .. }
                | Outcome::Replayed(_)
                | Outcome::AlreadyRedeemed { by_override: false })
        )),
        "{answers:?}"
    );
    // The one comparison answered is paid for: a failure if it was wrong. A loser whose
    // booking write lost the race lets its slot go unsettled (it cannot know whether a twin
    // sharing it paid with it): over-counted until the window ends, never under.
    let record = service.booking(store, id("S")).unwrap().unwrap();
    assert!(record.lifetime_failures <= 1);
    // In the transaction mode a right code writes no verifier record: when the right code
    // was the one compared, the verifier may have none, and then no failure is owed.
    match verifier_record_if_any(store, "same-id", "mallory") {
        Some(v) => {
            assert_eq!(v.failures, u32::from(record.lifetime_failures), "{v:?}");
            assert!(
                v.failures + v.held <= v.limit,
                "more slots than the budget: {v:?}"
            );
        }
        None => assert_eq!(
            record.lifetime_failures, 0,
            "a failure with no verifier record"
        ),
    }
}

/// The verifier's record under `scope`; panics when there is none.
pub fn verifier_record<S: Store>(
    store: &S,
    scope: &str,
    verifier: &str,
) -> handover_code::record::Verifier {
    match verifier_record_if_any(store, scope, verifier) {
        Some(v) => v,
        None => panic!("{verifier}: no verifier record"),
    }
}

/// The verifier's record under `scope`, or `None` when none was ever written; panics when
/// the key holds another kind of record.
pub fn verifier_record_if_any<S: Store>(
    store: &S,
    scope: &str,
    verifier: &str,
) -> Option<handover_code::record::Verifier> {
    let key = Key::Verifier {
        scope: ctx(scope),
        id: VerifierId::new(verifier).unwrap(),
    };
    match store.load(key).unwrap() {
        Some((Record::Verifier(v), _)) => Some(v),
        None => None,
        other => panic!("{verifier}: {other:?}"),
    }
}

/// The second attack the review found: two request ids taken in turns on one booking, with
/// new codes and malformed input. Every wrong code compared is a failure of the verifier's,
/// and no replay gives a slot back.
pub fn alternating_request_ids_pay_for_every_comparison<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Six)
        .with_attempts(10)
        .unwrap()
        .with_verifier_budget(20, 86_400)
        .unwrap();
    let service = Service::new(&keys, policy, ctx("alternate"));
    let code = service.issue(store, id("A"), UNTIL, T0).unwrap();
    let mut compared = 0;
    for k in 0..8 {
        let request = if k % 2 == 0 { "a" } else { "b" };
        let typed = wrong(code.expose(), k);
        let answer = verify_retrying(&service, store, "A", &typed, "mallory", Some(request), T0);
        if let Ok(Outcome::Rejected { .. }) = answer {
            compared += 1;
        }
        let replay = verify_retrying(&service, store, "A", "x", "mallory", Some(request), T0);
        assert!(matches!(replay, Ok(Outcome::Replayed(_))), "{replay:?}");
    }
    assert_eq!(compared, 8);
    let record = service.booking(store, id("A")).unwrap().unwrap();
    let v = verifier_record(store, "alternate", "mallory");
    assert_eq!(record.lifetime_failures, 8);
    assert_eq!((v.failures, v.held), (8, 0), "{v:?}");
}

/// The third attack: 64 guesses in flight, one of them right, when the budget has one slot
/// left. Only one code is compared at a time, so at most one wrong code is answered.
pub fn a_nearly_spent_budget_allows_one_comparison_at_a_time<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = budgeted(5, 86_400);
    let service = Service::new(&keys, policy, ctx("last-slot"));
    for k in 0..4 {
        let name = format!("spent-{k}");
        let code = service.issue(store, id(&name), UNTIL, T0).unwrap();
        let answer = service.verify(store, id(&name), &wrong(code.expose(), 0), who("eve"), T0);
        assert!(answer.unwrap().is_failure());
    }
    let names: Vec<String> = (0..THREADS).map(|i| format!("last-{i}")).collect();
    let codes: Vec<_> = names
        .iter()
        .map(|n| service.issue(store, id(n), UNTIL, T0).unwrap())
        .collect();
    let right = THREADS / 3;
    let answers = release(|i| {
        let typed = if i == right {
            codes[i].expose().to_owned()
        } else {
            wrong(codes[i].expose(), 0)
        };
        service.verify(store, id(&names[i]), &typed, who("eve"), T0)
    });
    let rejected = answers
        .iter()
        .filter(|a| matches!(a, Ok(o) if o.is_failure()))
        .count();
    let accepted = answers
        .iter()
        .filter(|a| matches!(a, Ok(Outcome::Accepted)))
        .count();
    assert!(
        rejected <= 1,
        "{rejected} wrong codes answered with one slot left: {answers:?}"
    );
    assert!(rejected + accepted <= 1 || matches!(answers[right], Ok(Outcome::Accepted)));
    assert!(
        answers.iter().enumerate().all(|(i, a)| i == right
            || matches!(
                a,
                Ok(Outcome::Rejected { .. } | Outcome::VerifierSuspended { .. })
                    | Err(Error::BudgetBusy)
            )),
        "{answers:?}"
    );
}

/// Two services with different budgets on one scope, 64 threads guessing through both at
/// once: the window's budget is the one the first guess opened it with, and exactly that many
/// wrong codes are answered.
pub fn mixed_budgets_on_one_scope_under_threads<S: Store + Sync>(store: &S) {
    let keys = keys();
    let four = budgeted(4, 86_400);
    let nine = budgeted(9, 3_600);
    let scope = ctx("mixed-scope");
    let a = Service::new(&keys, four, ctx("mixed/a")).with_budget_scope(scope);
    let b = Service::new(&keys, nine, ctx("mixed/b")).with_budget_scope(scope);
    let names: Vec<String> = (0..THREADS).map(|i| format!("m-{i}")).collect();
    let typed: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let service = if i % 2 == 0 { &a } else { &b };
            wrong(service.issue(store, id(n), UNTIL, T0).unwrap().expose(), i)
        })
        .collect();
    let answers = release(|i| {
        let service = if i % 2 == 0 { &a } else { &b };
        verify_retrying(service, store, &names[i], &typed[i], "vac", None, T0)
    });
    let rejected = answers
        .iter()
        .filter(|a| matches!(a, Ok(o) if o.is_failure()))
        .count();
    let v = verifier_record(store, "mixed-scope", "vac");
    assert!(v.limit == 4 || v.limit == 9, "{v:?}");
    assert_eq!(rejected, v.limit as usize, "{answers:?}");
    assert_eq!((v.failures, v.held), (v.limit, 0));
}

/// The issue's first reproduction: a `post/parcel` service and a `cowin/dose` service on one
/// store, with the same booking ids.
pub fn contexts_never_touch_each_other<S: Store + Sync>(store: &S) {
    let keys = keys();
    let cowin = Service::new(&keys, Policy::new(Digits::Four), ctx("cowin/dose"));
    let post = Service::new(&keys, Policy::new(Digits::Six), ctx("post/parcel"));
    let slot = id("SLOT-1");
    let cowin_code = cowin.issue(store, slot, UNTIL, T0).unwrap();
    // The parcel service does not know the cowin booking ...
    assert_eq!(
        post.verify(store, slot, "123456", None, T0).unwrap(),
        Outcome::UnknownBooking
    );
    assert!(matches!(
        post.resend(store, slot, T0),
        Err(Error::UnknownBooking)
    ));
    assert!(matches!(
        post.revoke(store, slot, T0),
        Err(Error::UnknownBooking)
    ));
    // ... can issue its own under the same id ...
    let post_code = post.issue(store, slot, UNTIL, T0).unwrap();
    // ... and wrong codes there never lock the cowin booking.
    for k in 0..3 {
        let typed = wrong(post_code.expose(), k);
        assert!(
            post.verify(store, slot, &typed, None, T0)
                .unwrap()
                .is_failure()
        );
    }
    assert_eq!(
        post.verify(store, slot, post_code.expose(), None, T0)
            .unwrap(),
        Outcome::Locked
    );
    assert_eq!(
        cowin
            .verify(store, slot, cowin_code.expose(), None, T0)
            .unwrap(),
        Outcome::Accepted
    );
    // Verifier budgets are kept per context: failures in one never suspend in the other.
    let budget = Policy::new(Digits::Four)
        .with_verifier_budget(2, 86_400)
        .unwrap();
    let a = Service::new(&keys, budget, ctx("cowin/dose1"));
    let b = Service::new(&keys, budget, ctx("cowin/dose2"));
    let (ca, cb) = (
        a.issue(store, id("X"), UNTIL, T0).unwrap(),
        b.issue(store, id("X"), UNTIL, T0).unwrap(),
    );
    for k in 0..2 {
        let answer = a.verify(store, id("X"), &wrong(ca.expose(), k), who("v"), T0);
        assert!(answer.unwrap().is_failure());
    }
    assert!(matches!(
        a.verify(store, id("X"), ca.expose(), who("v"), T0),
        Ok(Outcome::VerifierSuspended { .. })
    ));
    assert_eq!(
        b.verify(store, id("X"), cb.expose(), who("v"), T0).unwrap(),
        Outcome::Accepted
    );
}

/// A stricter and a looser service on one context: whichever reads, the limits the booking
/// was issued under apply, with 64 threads guessing through both at once.
pub fn the_record_limits_win_both_ways<S: Store + Sync>(store: &S) {
    let keys = keys();
    let strict = Policy::new(Digits::Six)
        .with_attempts(2)
        .unwrap()
        .with_max_retries(Policy::MAX_RETRIES)
        .unwrap();
    let loose = Policy::new(Digits::Six)
        .with_attempts(8)
        .unwrap()
        .with_max_retries(Policy::MAX_RETRIES)
        .unwrap();
    let strict = Service::new(&keys, strict, ctx("mixed"));
    let loose = Service::new(&keys, loose, ctx("mixed"));
    for (issuer, limit, name) in [(&strict, 2usize, "by-strict"), (&loose, 8, "by-loose")] {
        let code = issuer.issue(store, id(name), UNTIL, T0).unwrap();
        let answers = release(|i| {
            let reader = if i % 2 == 0 { &strict } else { &loose };
            reader.verify(store, id(name), &wrong(code.expose(), i), None, T0)
        });
        let rejected = answers
            .iter()
            .filter(|a| matches!(a, Ok(o) if o.is_failure()))
            .count();
        assert_eq!(rejected, limit, "{name}: {answers:?}");
        assert!(answers.iter().all(|a| matches!(
            a,
            Ok(Outcome::Rejected { .. } | Outcome::Locked) | Err(Error::Contention)
        )));
        let record = issuer.booking(store, id(name)).unwrap().unwrap();
        assert_eq!(usize::from(record.failures), limit);
        // The digits, limits and lifetime stay as issued through a re-issue by the other.
        let other = if limit == 2 { &loose } else { &strict };
        let code = other.reissue(store, id(name), UNTIL, T0).unwrap();
        assert_eq!(code.expose().len(), 6);
        let record = other.booking(store, id(name)).unwrap().unwrap();
        assert_eq!(usize::from(record.limits.attempts), limit);
    }
}

/// A verifier's window and limit are the record's while the window lasts, whichever service
/// reads it: one service with 5 failures an hour and one with 5 a day on one shared scope.
/// The window is the one the first guess of the period opened, never the reader's own.
pub fn a_verifier_record_keeps_its_window_and_limit<S: Store + Sync>(store: &S) {
    let keys = keys();
    let hourly = Policy::new(Digits::Four)
        .with_verifier_budget(5, 3_600)
        .unwrap();
    let daily = Policy::new(Digits::Four)
        .with_verifier_budget(5, 86_400)
        .unwrap();
    let scope = ctx("post");
    let hourly = Service::new(&keys, hourly, ctx("post/parcel")).with_budget_scope(scope);
    let daily = Service::new(&keys, daily, ctx("post/cod")).with_budget_scope(scope);
    let mut n = 0;
    // Three wrong codes through `service` at `now`: how many were answered, and the
    // suspensions' end.
    let mut spray = |service: &Service<'_>, now: Timestamp| {
        let (mut rejected, mut until) = (0, Vec::new());
        for k in 0..3 {
            n += 1;
            let name = format!("W{n}");
            let expiry = Timestamp(now.0 + 600);
            let code = service.issue(store, id(&name), expiry, now).unwrap();
            let typed = wrong(code.expose(), k);
            match service.verify(store, id(&name), &typed, who("postman"), now) {
                Ok(o) if o.is_failure() => rejected += 1,
                Ok(Outcome::VerifierSuspended { until: u }) => until.push(u),
                other => panic!("{other:?}"),
            }
        }
        (rejected, until)
    };
    let day = T0.0 - T0.0 % 86_400;
    let hour = |d: u64, h: u64| Timestamp(day + d * 86_400 + h * 3_600);
    // Day 0: the hourly service opens an hourly window; the daily one is held to it.
    assert_eq!(spray(&hourly, hour(0, 0)), (3, vec![]));
    assert_eq!(spray(&daily, hour(0, 0)), (2, vec![hour(0, 1)]));
    // Day 1: the daily service opens a day's window; the hourly one is held to it all day.
    assert_eq!(spray(&daily, hour(1, 0)), (3, vec![]));
    assert_eq!(spray(&hourly, hour(1, 0)), (2, vec![hour(2, 0)]));
    assert_eq!(
        spray(&hourly, hour(1, 5)),
        (0, vec![hour(2, 0), hour(2, 0), hour(2, 0)])
    );
    assert_eq!(spray(&hourly, hour(2, 0)), (3, vec![]));
}

/// A scope named on purpose: three contexts whose verifiers share one budget.
pub fn a_named_scope_shares_one_budget_across_contexts<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(4, 86_400)
        .unwrap();
    let scope = ctx("cowin");
    let doses: Vec<Service<'_>> = ["cowin/dose1", "cowin/dose2", "cowin/precaution"]
        .into_iter()
        .map(|c| Service::new(&keys, policy, ctx(c)).with_budget_scope(scope))
        .collect();
    let mut answers = Vec::new();
    for (i, service) in doses.iter().cycle().take(9).enumerate() {
        let name = format!("S{i}");
        let code = service.issue(store, id(&name), UNTIL, T0).unwrap();
        answers.push(
            service
                .verify(store, id(&name), &wrong(code.expose(), 0), who("vac-1"), T0)
                .unwrap(),
        );
    }
    assert_eq!(answers.iter().filter(|o| o.is_failure()).count(), 4);
    assert!(
        answers[4..]
            .iter()
            .all(|o| matches!(o, Outcome::VerifierSuspended { .. }))
    );
}

/// A suspended verifier gets one answer for every booking and every input, with its end.
pub fn a_suspended_verifier_learns_nothing<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(2, 86_400)
        .unwrap();
    let service = Service::new(&keys, policy, ctx("enum"));
    let codes: Vec<_> = ["active", "redeemed", "locked", "spray-0", "spray-1"]
        .into_iter()
        .map(|n| (n, service.issue(store, id(n), UNTIL, T0).unwrap()))
        .collect();
    let code = |n: &str| codes.iter().find(|(m, _)| *m == n).unwrap().1.clone();
    service
        .verify(store, id("redeemed"), code("redeemed").expose(), None, T0)
        .unwrap();
    for k in 0..3 {
        service
            .verify(
                store,
                id("locked"),
                &wrong(code("locked").expose(), k),
                None,
                T0,
            )
            .unwrap();
    }
    for n in ["spray-0", "spray-1"] {
        let answer = service.verify(store, id(n), &wrong(code(n).expose(), 0), who("eve"), T0);
        assert!(answer.unwrap().is_failure());
    }
    let until = Timestamp(T0.0 - T0.0 % 86_400 + 86_400);
    let cases = [
        ("unknown", "1234".to_owned()),
        ("active", code("active").expose().to_owned()),
        ("active", wrong(code("active").expose(), 1)),
        ("redeemed", code("redeemed").expose().to_owned()),
        ("locked", code("locked").expose().to_owned()),
        ("active", "x".to_owned()),
        ("unknown", "x".to_owned()),
        ("redeemed", "".to_owned()),
    ];
    for (booking, typed) in cases {
        let answer = service.verify(store, id(booking), &typed, who("eve"), T0);
        assert!(
            matches!(answer, Ok(Outcome::VerifierSuspended { until: u }) if u == until),
            "{booking} {typed:?}: {answer:?}"
        );
    }
    // The right code was never compared: the active booking is untouched.
    let record = service.booking(store, id("active")).unwrap().unwrap();
    assert_eq!((record.failures, record.last), (0, None));
}

/// One verifier with 64 requests in flight on distinct bookings, under a budget of 5: with
/// right codes never suspended; with wrong codes exactly 5 answered, then suspensions.
pub fn a_busy_honest_verifier_is_never_suspended<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = budgeted(5, 86_400);
    let service = Service::new(&keys, policy, ctx("busy"));
    for round in ["right", "wrong"] {
        let names: Vec<String> = (0..THREADS).map(|i| format!("{round}-{i}")).collect();
        let typed: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let code = service.issue(store, id(n), UNTIL, T0).unwrap();
                if round == "right" {
                    code.expose().to_owned()
                } else {
                    wrong(code.expose(), i)
                }
            })
            .collect();
        // A busy budget (slots held by the verifier's own verifications in flight) is a
        // retryable error: each request retries it until it is answered.
        let answers = release(|i| {
            verify_retrying(
                &service,
                store,
                &names[i],
                &typed[i],
                "vaccinator-17",
                None,
                T0,
            )
        });
        let count = |f: fn(&Outcome) -> bool| {
            answers
                .iter()
                .filter(|a| matches!(a, Ok(o) if f(o)))
                .count()
        };
        assert!(answers.iter().all(Result::is_ok), "{round}: {answers:?}");
        if round == "right" {
            assert_eq!(count(|o| *o == Outcome::Accepted), THREADS, "{answers:?}");
        } else {
            assert_eq!(count(Outcome::is_failure), 5, "{answers:?}");
            let suspended = count(|o| matches!(o, Outcome::VerifierSuspended { .. }));
            assert_eq!(suspended, THREADS - 5, "{answers:?}");
        }
    }
}

/// Unknown key, malformed input, a clock before the issue, acceptances and closed bookings
/// compare no wrong code: none of them charges the verifier.
pub fn nothing_that_compared_no_code_stays_charged<S: Store + Sync>(store: &S) {
    let mut keys = keys();
    keys.insert(KeyId(2), Secret::from_bytes(&[0x38; 32]).unwrap())
        .unwrap();
    keys.set_current(KeyId(2)).unwrap();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(3, 86_400)
        .unwrap();
    let old = {
        let service = Service::new(&keys, policy, ctx("charges"));
        service.issue(store, id("orphan"), UNTIL, T0).unwrap()
    };
    keys.set_current(KeyId(1)).unwrap();
    keys.remove(KeyId(2)).unwrap();
    let service = Service::new(&keys, policy, ctx("charges"));
    let code = service.issue(store, id("open"), UNTIL, T0).unwrap();
    for _ in 0..5 {
        assert!(matches!(
            service.verify(store, id("orphan"), old.expose(), who("asha"), T0),
            Err(Error::UnknownKey)
        ));
        assert!(matches!(
            service.verify(store, id("open"), "12", who("asha"), T0),
            Err(Error::Malformed(Malformed::WrongLength))
        ));
        assert!(matches!(
            service.verify(
                store,
                id("open"),
                code.expose(),
                who("asha"),
                Timestamp(T0.0 - 6)
            ),
            Err(Error::Clock)
        ));
        assert_eq!(
            service
                .verify(store, id("none"), "1234", who("asha"), T0)
                .unwrap(),
            Outcome::UnknownBooking
        );
    }
    assert_eq!(
        service
            .verify(store, id("open"), code.expose(), who("asha"), T0)
            .unwrap(),
        Outcome::Accepted
    );
    for _ in 0..5 {
        assert_eq!(
            service
                .verify(store, id("open"), "0000", who("asha"), T0)
                .unwrap(),
            Outcome::AlreadyRedeemed { by_override: false }
        );
    }
    let key = Key::Verifier {
        scope: ctx("charges"),
        id: VerifierId::new("asha").unwrap(),
    };
    // Only the acceptance compared a code: one key at a time it held a slot and settled it
    // freed; with transactions it checked the record and wrote none. No failure, nothing held.
    match store.load(key).unwrap() {
        Some((Record::Verifier(v), _)) => {
            assert_eq!((v.failures, v.held), (0, 0), "asha was charged: {v:?}");
        }
        None => assert!(S::TRANSACTIONS, "asha's acceptance held no slot"),
        Some(other) => panic!("{other:?}"),
    }
}

/// Sends per booking under the same atomic contract: 64 threads resend at once, and no more
/// sends are answered than the limit; the refusals say when to send again.
pub fn send_limits_hold_under_threads<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_send_limit(4, 600)
        .unwrap()
        .with_max_retries(Policy::MAX_RETRIES)
        .unwrap();
    let service = Service::new(&keys, policy, ctx("sms"));
    let code = service.issue(store, id("P"), UNTIL, T0).unwrap();
    let answers = release(|_| service.resend(store, id("P"), T0));
    let sent = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(sent, 3, "the issue was the first of 4 sends: {answers:?}");
    assert!(answers.iter().all(|a| match a {
        Ok(c) => *c == code,
        Err(Error::SendLimit { retry_at }) => *retry_at == Timestamp(T0.0 + 600),
        Err(_) => false,
    }));
    // A re-issue is a send too; the next window opens at the first send after this one.
    assert!(matches!(
        service.reissue(store, id("P"), UNTIL, Timestamp(T0.0 + 599)),
        Err(Error::SendLimit { .. })
    ));
    let later = Timestamp(T0.0 + 600);
    let fresh = service.reissue(store, id("P"), UNTIL, later).unwrap();
    assert_ne!(fresh, code);
    for _ in 0..3 {
        assert_eq!(service.resend(store, id("P"), later).unwrap(), fresh);
    }
    assert!(matches!(
        service.resend(store, id("P"), later),
        Err(Error::SendLimit { retry_at }) if retry_at == Timestamp(later.0 + 600)
    ));
    // Malformed and refused sends change nothing.
    assert!(matches!(
        service.reissue(store, id("P"), later, later),
        Err(Error::SendLimit { .. })
    ));
    assert_eq!(service.booking(store, id("P")).unwrap().unwrap().sends, 4);
}

/// Idempotent answers: a retry with the same request id gets the original answer (an
/// acceptance to the right code only), counted once; the record says who redeemed it.
pub fn retries_with_a_request_id_get_the_original_answer<S: Store + Sync>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(5, 86_400)
        .unwrap();
    let service = Service::new(&keys, policy, ctx("retry"));
    let code = service.issue(store, id("R"), UNTIL, T0).unwrap();
    let req = |s: &'static str| RequestId::new(s).unwrap();
    let bad = wrong(code.expose(), 0);
    let first = service
        .verify_request(store, id("R"), &bad, who("v1"), req("a"), T0)
        .unwrap();
    assert_eq!(first, Outcome::Rejected { attempts_left: 2 });
    for typed in [bad.as_str(), code.expose(), "x"] {
        assert_eq!(
            service
                .verify_request(store, id("R"), typed, who("v1"), req("a"), T0)
                .unwrap(),
            Outcome::Replayed(Earlier::Rejected { attempts_left: 2 })
        );
    }
    // Another verifier reusing the request id is a new request.
    assert_eq!(
        service
            .verify_request(store, id("R"), &bad, who("v2"), req("a"), T0)
            .unwrap(),
        Outcome::Rejected { attempts_left: 1 }
    );
    let accepted = service
        .verify_request(store, id("R"), code.expose(), who("v1"), req("b"), T0)
        .unwrap();
    assert_eq!(accepted, Outcome::Accepted);
    let at = Timestamp(T0.0 + 60);
    let replay = service
        .verify_request(store, id("R"), code.expose(), who("v1"), req("b"), at)
        .unwrap();
    assert_eq!(replay, Outcome::Replayed(Earlier::Accepted));
    assert!(replay.is_accepted());
    // Only to the right code, only to the same verifier, only under the same request.
    for (typed, v, r) in [
        (bad.as_str(), "v1", "b"),
        (code.expose(), "v2", "b"),
        (code.expose(), "v1", "c"),
    ] {
        assert_eq!(
            service
                .verify_request(store, id("R"), typed, who(v), req(r), at)
                .unwrap(),
            Outcome::AlreadyRedeemed { by_override: false }
        );
    }
    let last = service
        .booking(store, id("R"))
        .unwrap()
        .unwrap()
        .last
        .unwrap();
    assert_eq!(last.at, T0);
    assert!(last.verifier.unwrap().is(b"v1") && last.request.unwrap().is(b"b"));
    assert_eq!(last.answer, Earlier::Accepted);
    // v1's one wrong code is its one failure: the replays cost nothing, and its acceptance's
    // slot was freed.
    let v1 = Key::Verifier {
        scope: ctx("retry"),
        id: VerifierId::new("v1").unwrap(),
    };
    let Some((Record::Verifier(v), _)) = store.load(v1).unwrap() else {
        panic!("v1 has no budget record")
    };
    assert_eq!((v.failures, v.held), (1, 0));
}

/// A re-issue before the current generation's issue time is a clock fault; nothing moves.
pub fn reissue_refuses_a_clock_before_the_issue<S: Store + Sync>(store: &S) {
    let keys = keys();
    let service = Service::new(&keys, Policy::new(Digits::Four), ctx("clock"));
    service.issue(store, id("C"), UNTIL, T0).unwrap();
    assert!(matches!(
        service.reissue(store, id("C"), UNTIL, Timestamp(T0.0 - 1)),
        Err(Error::Clock)
    ));
    assert!(matches!(
        service.resend(store, id("C"), Timestamp(T0.0 - 1)),
        Err(Error::Clock)
    ));
    let record = service.booking(store, id("C")).unwrap().unwrap();
    assert_eq!((record.issued_at, record.sends), (T0, 1));
    service.revoke(store, id("C"), T0).unwrap();
    assert!(matches!(
        service.reissue(store, id("C"), UNTIL, T0),
        Err(Error::Inactive(Inactive::Revoked))
    ));
}

/// A store that runs a hook just before its call number `at` (from 1, loads and
/// compare-and-swaps alike): a pause between one step of a plan and the next, in which
/// others act.
pub struct Pausing<'s, S> {
    pub inner: &'s S,
    calls: Mutex<usize>,
    at: usize,
    hook: Mutex<Option<Box<dyn FnOnce() + Send + 's>>>,
}

impl<'s, S> Pausing<'s, S> {
    pub fn new(inner: &'s S, at: usize, hook: impl FnOnce() + Send + 's) -> Self {
        Self {
            inner,
            calls: Mutex::new(0),
            at,
            hook: Mutex::new(Some(Box::new(hook))),
        }
    }

    fn pause(&self) {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        if *calls == self.at {
            drop(calls);
            if let Some(hook) = self.hook.lock().unwrap().take() {
                hook();
            }
        }
    }
}

impl<S: Store> Store for Pausing<'_, S> {
    type Error = S::Error;
    const TRANSACTIONS: bool = S::TRANSACTIONS;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, S::Error> {
        self.pause();
        self.inner.load(key)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, S::Error> {
        self.pause();
        self.inner.compare_and_swap(key, expected, record, new)
    }
    fn compare_and_swap_all(
        &self,
        writes: &[(handover_code::audit::Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, S::Error> {
        self.pause();
        self.inner.compare_and_swap_all(writes, unchanged)
    }
}

/// Prune and re-issue between a verification's load and its compare-and-swap: the stale
/// write never lands on the new record, and the new record's code is a new code.
pub fn prune_between_load_and_write_lands_nothing<S: Store + Prune + Sync>(store: &S) {
    let keys = keys();
    let service = Service::new(&keys, Policy::new(Digits::Six), ctx("aba"));
    let (t1, t2) = (Timestamp(100), Timestamp(200));
    let first = service.issue(store, id("A"), Timestamp(150), t1).unwrap();
    let second = Mutex::new(None);
    let paused = Pausing::new(store, 2, || {
        assert_eq!(store.prune(Timestamp(151)).unwrap(), 1);
        let code = service
            .issue(store, id("A"), Timestamp(10_000), t2)
            .unwrap();
        *second.lock().unwrap() = Some(code);
    });
    // At t=149 the first code is still valid: the verification loads the record, decides to
    // redeem it, and meanwhile the record is pruned and the id issued again.
    let stale = service.verify(&paused, id("A"), first.expose(), None, Timestamp(149));
    assert!(matches!(stale, Err(Error::Clock)), "{stale:?}");
    let second = second.lock().unwrap().take().unwrap();
    assert_ne!(second, first, "the id issued again repeats its first code");
    let record = service.booking(store, id("A")).unwrap().unwrap();
    assert_eq!(record.expires_at, Timestamp(10_000));
    assert_eq!((record.failures, record.last), (0, None));
    assert_eq!(
        service
            .verify(store, id("A"), first.expose(), None, Timestamp(300))
            .unwrap(),
        Outcome::Rejected { attempts_left: 2 }
    );
    assert_eq!(
        service
            .verify(store, id("A"), second.expose(), None, Timestamp(300))
            .unwrap(),
        Outcome::Accepted
    );
}
