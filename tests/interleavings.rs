//! Every interleaving, not just the lucky ones: the real verification driver on
//! `MemoryStore`, under shuttle's controlled scheduler. Each store call hands control to the
//! scheduler first, so every point where another thread could run between a load and a
//! compare-and-swap is a point the scheduler chooses at.
//!
//! Both verification modes are explored: the memory store with its transactions, and one key
//! at a time (`WithoutTransactions`).
//!
//! The scenario: three verifications of one booking (two by a verifier whose budget allows
//! one wrong code, one with the right code), a re-issue and a prune racing them, and a
//! fourth verification (async) whose future is dropped after a random number of polls.
//! After each schedule the model's invariants are checked: at most one acceptance and only
//! of a redeemed record; no rejection answered but not counted; the verifier's budget
//! never exceeded, and its record counting every rejection it was answered.
//!
//! PCT (probabilistic concurrency testing) explores random schedules with bounded
//! preemptions; DFS explores a smaller case exhaustively. A check-then-write store (the
//! version checked, then the record written in a second step) is caught. The number of
//! schedules comes from `SHUTTLE_SCHEDULES` (CI's test run: the default, 300 PCT schedules
//! per check); the closing note's figures used 100,000.
#![cfg(feature = "std")]
#![allow(unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use handover_code::record::{Record, State, Version};
use handover_code::store::{Key, Swap};
use handover_code::{
    AsyncStore, BookingId, Context, Digits, Error, KeyId, Keyring, MemoryStore, Outcome, Policy,
    Secret, Service, Store, Timestamp, VerifierId,
};

const NOW: Timestamp = Timestamp(1_700_000_000);
const UNTIL: Timestamp = Timestamp(1_700_003_600);

fn schedules() -> usize {
    std::env::var("SHUTTLE_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

/// Yields to the scheduler before every call of the store underneath.
struct Yielding<S>(S);

impl<S: Store> Store for Yielding<S> {
    type Error = S::Error;
    const TRANSACTIONS: bool = S::TRANSACTIONS;
    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, S::Error> {
        shuttle::thread::yield_now();
        self.0.load(key)
    }
    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, S::Error> {
        shuttle::thread::yield_now();
        self.0.compare_and_swap(key, expected, record, new)
    }
    fn compare_and_swap_all(
        &self,
        writes: &[(handover_code::audit::Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, S::Error> {
        shuttle::thread::yield_now();
        self.0.compare_and_swap_all(writes, unchanged)
    }

    fn prune(&self, before: Timestamp) -> Result<u64, S::Error> {
        shuttle::thread::yield_now();
        self.0.prune(before)
    }
}

/// A future that is pending once: an async store call the poller can be cut off at.
struct Once(bool);

impl Future for Once {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl<S: Store + Sync> AsyncStore for Yielding<S>
where
    S::Error: Send,
{
    type Error = S::Error;
    const TRANSACTIONS: bool = S::TRANSACTIONS;
    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, S::Error> {
        Once(false).await;
        Store::load(self, key)
    }
    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, S::Error> {
        Once(false).await;
        Store::compare_and_swap(self, key, expected, record, new)
    }
    async fn compare_and_swap_all(
        &self,
        writes: &[(handover_code::audit::Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, S::Error> {
        Once(false).await;
        Store::compare_and_swap_all(self, writes, unchanged)
    }
}

/// The broken store the scheduler must catch: the version is checked, and then (after a
/// point where another thread can run) whatever is stored is overwritten.
struct CheckThenWrite(MemoryStore);

impl Store for CheckThenWrite {
    type Error = <MemoryStore as Store>::Error;
    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        self.0.load(key)
    }
    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        if self.0.load(key)?.map(|(_, v)| v) != expected {
            return Ok(Swap::Conflict);
        }
        shuttle::thread::yield_now();
        let now = self.0.load(key)?.map(|(_, v)| v);
        self.0.compare_and_swap(key, now, record, new)
    }

    fn prune(&self, before: Timestamp) -> Result<u64, Self::Error> {
        self.0.prune(before)
    }
}

fn service() -> Service {
    let keys = Arc::new(Keyring::new(
        KeyId(1),
        Secret::from_bytes(&[0x17; 32]).unwrap(),
    ));
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(1, 86_400)
        .unwrap()
        .with_max_retries(Policy::MAX_RETRIES)
        .unwrap();
    Service::new(keys, policy, "cowin/dose").unwrap()
}

fn wrong(right: &str, k: u32) -> String {
    let value: u32 = right.parse().unwrap();
    format!("{:04}", (value + 1 + k) % 10_000)
}

type Answers = Arc<Mutex<Vec<(&'static str, Result<Outcome, String>)>>>;

fn record(answers: &Answers, who: &'static str, answer: Result<Outcome, Error>) {
    let answer = answer.map_err(|e| format!("{e:?}"));
    answers.lock().unwrap().push((who, answer));
}

/// One schedule of the scenario on `store`; panics on a broken invariant.
fn scenario<S>(store: Arc<Yielding<S>>, full: bool)
where
    S: Store + Send + Sync + 'static,
    S::Error: Send + std::fmt::Debug,
{
    let service = Arc::new(service());
    let booking = BookingId::new("SLOT-1").unwrap();
    let code = service.issue(&store.0, booking, UNTIL, NOW).unwrap();
    let code = code.expose().to_owned();
    let old = BookingId::new("OLD-1").unwrap();
    service
        .issue(
            &store.0,
            old,
            Timestamp(NOW.0 - 3_000),
            Timestamp(NOW.0 - 3_600),
        )
        .unwrap();
    let answers: Answers = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    let verifiers: &[(&'static str, &'static str, u32)] = if full {
        &[
            ("eve", "wrong", 1),
            ("eve", "wrong", 2),
            ("bob", "right", 0),
        ]
    } else {
        &[("eve", "wrong", 1), ("eve", "wrong", 2)]
    };
    for &(who, what, k) in verifiers {
        let (store, service, answers) = (
            Arc::clone(&store),
            Arc::clone(&service),
            Arc::clone(&answers),
        );
        let typed = if what == "right" {
            code.clone()
        } else {
            wrong(&code, k)
        };
        threads.push(shuttle::thread::spawn(move || {
            let verifier = VerifierId::new(who).unwrap();
            let booking = BookingId::new("SLOT-1").unwrap();
            let answer = service.verify(&*store, booking, &typed, Some(verifier), NOW);
            record(&answers, who, answer);
        }));
    }
    if full {
        let (s, svc) = (Arc::clone(&store), Arc::clone(&service));
        threads.push(shuttle::thread::spawn(move || {
            let booking = BookingId::new("SLOT-1").unwrap();
            let _ = svc.reissue(&*s, booking, UNTIL, NOW);
        }));
        let s = Arc::clone(&store);
        threads.push(shuttle::thread::spawn(move || {
            let _ = Store::prune(&*s, Timestamp(NOW.0 - 1));
        }));
        // An async verification by carol, dropped after a random number of polls (or run
        // to its end): a cancelled request, cut off at any of its store calls.
        let (s, svc, answers) = (
            Arc::clone(&store),
            Arc::clone(&service),
            Arc::clone(&answers),
        );
        let typed = wrong(&code, 3);
        threads.push(shuttle::thread::spawn(move || {
            use shuttle::rand::Rng;
            let polls = shuttle::rand::thread_rng().gen_range(0..12usize);
            let carol = VerifierId::new("carol").unwrap();
            let booking = BookingId::new("SLOT-1").unwrap();
            let mut future =
                std::pin::pin!(svc.verify_async(&*s, booking, &typed, Some(carol), NOW));
            let mut cx = TaskContext::from_waker(Waker::noop());
            for _ in 0..polls {
                match future.as_mut().poll(&mut cx) {
                    Poll::Ready(answer) => {
                        record(&answers, "carol", answer);
                        return;
                    }
                    Poll::Pending => shuttle::thread::yield_now(),
                }
            }
            // Dropped here, unanswered.
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    check(&store.0, &answers.lock().unwrap());
}

/// The model's invariants over the answers and what the store holds.
fn check<S: Store>(store: &S, answers: &[(&'static str, Result<Outcome, String>)])
where
    S::Error: std::fmt::Debug,
{
    let booking_key = Key::Booking {
        context: Context::new("cowin/dose").unwrap(),
        id: BookingId::new("SLOT-1").unwrap(),
    };
    let Some((Record::Booking(b), _)) = store.load(booking_key).unwrap() else {
        panic!("the booking is gone: {answers:?}");
    };
    let accepted = answers
        .iter()
        .filter(|(_, a)| matches!(a, Ok(Outcome::Accepted)))
        .count();
    assert!(accepted <= 1, "accepted twice: {answers:?}");
    if accepted == 1 {
        assert_eq!(
            b.state(),
            State::Redeemed,
            "accepted, not redeemed: {answers:?}"
        );
    }
    let rejected = answers
        .iter()
        .filter(|(_, a)| matches!(a, Ok(Outcome::Rejected { .. })))
        .count();
    assert!(
        usize::from(b.lifetime_failures()) >= rejected,
        "{rejected} rejections answered, {} counted: {answers:?}",
        b.lifetime_failures()
    );
    let eve_rejected = answers
        .iter()
        .filter(|(who, a)| *who == "eve" && matches!(a, Ok(Outcome::Rejected { .. })))
        .count();
    assert!(
        eve_rejected <= 1,
        "eve answered past her budget: {answers:?}"
    );
    let eve_key = Key::Verifier {
        scope: Context::new("cowin/dose").unwrap(),
        id: VerifierId::new("eve").unwrap(),
    };
    if eve_rejected > 0 {
        let Some((Record::Verifier(v), _)) = store.load(eve_key).unwrap() else {
            panic!("eve's rejections are on no record: {answers:?}");
        };
        assert!(
            v.failures() as usize >= eve_rejected,
            "eve's record counts {} of {eve_rejected} rejections: {answers:?}",
            v.failures()
        );
        assert!(
            v.failures() <= v.limit(),
            "eve's record is past her budget: {v:?}"
        );
    }
}

/// The scenario as a shuttle test, counting its schedules in `explored`.
fn explore<S>(
    make: fn() -> S,
    full: bool,
    explored: &'static AtomicUsize,
) -> impl Fn() + Send + Sync + 'static
where
    S: Store + Send + Sync + 'static,
    S::Error: Send + std::fmt::Debug,
{
    move || {
        explored.fetch_add(1, Ordering::Relaxed);
        scenario(Arc::new(Yielding(make())), full);
    }
}

/// The memory store one key at a time: the reservation mode.
#[cfg(feature = "conformance")]
fn one_key_at_a_time() -> handover_code::conformance::WithoutTransactions<MemoryStore> {
    handover_code::conformance::WithoutTransactions(MemoryStore::new())
}

#[test]
fn random_schedules_with_pct_keep_every_invariant() {
    static EXPLORED: AtomicUsize = AtomicUsize::new(0);
    shuttle::check_pct(explore(MemoryStore::new, true, &EXPLORED), schedules(), 3);
    let explored = EXPLORED.load(Ordering::Relaxed);
    println!("PCT, with transactions: {explored} schedules explored, 0 violations");
}

#[cfg(feature = "conformance")]
#[test]
fn random_schedules_with_pct_keep_every_invariant_one_key_at_a_time() {
    static EXPLORED: AtomicUsize = AtomicUsize::new(0);
    shuttle::check_pct(explore(one_key_at_a_time, true, &EXPLORED), schedules(), 3);
    let explored = EXPLORED.load(Ordering::Relaxed);
    println!("PCT, one key at a time: {explored} schedules explored, 0 violations");
}

#[test]
fn every_schedule_of_two_budgeted_verifications_keeps_every_invariant() {
    static EXPLORED: AtomicUsize = AtomicUsize::new(0);
    shuttle::check_dfs(explore(MemoryStore::new, false, &EXPLORED), None);
    let explored = EXPLORED.load(Ordering::Relaxed);
    println!("DFS, with transactions: {explored} schedules, every one, 0 violations");
    assert!(
        explored > 1,
        "DFS explored one schedule: nothing interleaved"
    );
}

#[cfg(feature = "conformance")]
#[test]
fn every_schedule_of_two_budgeted_verifications_keeps_every_invariant_one_key_at_a_time() {
    static EXPLORED: AtomicUsize = AtomicUsize::new(0);
    shuttle::check_dfs(explore(one_key_at_a_time, false, &EXPLORED), None);
    let explored = EXPLORED.load(Ordering::Relaxed);
    println!("DFS, one key at a time: {explored} schedules, every one, 0 violations");
    assert!(
        explored > 1,
        "DFS explored one schedule: nothing interleaved"
    );
}

/// The checker bites: a store that checks the version and then writes in a second step
/// lets two verifications both land, and some schedule shows it.
#[test]
fn a_check_then_write_store_is_caught() {
    static EXPLORED: AtomicUsize = AtomicUsize::new(0);
    let caught = std::panic::catch_unwind(|| {
        shuttle::check_pct(
            explore(|| CheckThenWrite(MemoryStore::new()), true, &EXPLORED),
            schedules().max(300),
            3,
        );
    });
    let explored = EXPLORED.load(Ordering::Relaxed);
    println!("check-then-write store: a broken invariant found at schedule {explored}");
    assert!(
        caught.is_err(),
        "no schedule broke an invariant on a check-then-write store"
    );
}
