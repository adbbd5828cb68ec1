//! Many handovers on one store, on the reference store: every scenario of the conformance
//! kit (`conformance::check_scenarios`, in both verification modes; every adapter crate's
//! tests run them too), the settlements that lose races, and the store round trips a
//! verification costs.
#![allow(unreachable_pub, dead_code)]

#[path = "support/settlement.rs"]
mod settlement;

use std::sync::atomic::{AtomicUsize, Ordering};

use handover_code::record::{Record, Version};
use handover_code::store::{Key, Swap};
use handover_code::{
    BookingId, Context, Digits, MemoryStore, Outcome, Policy, Service, Store, VerifierId,
};
use settlement::{T0, UNTIL, keys, wrong};

#[cfg(feature = "conformance")]
#[test]
fn every_scenario_on_the_memory_store() {
    use handover_code::conformance::check_scenarios;
    check_scenarios(MemoryStore::new).unwrap();
    check_scenarios(|| MemoryStore::with_shards(1)).unwrap();
}

#[cfg(feature = "conformance")]
#[test]
fn every_scenario_on_the_memory_store_without_transactions() {
    use handover_code::conformance::{WithoutTransactions, check_scenarios};
    check_scenarios(|| WithoutTransactions(MemoryStore::new())).unwrap();
    check_scenarios(|| WithoutTransactions(MemoryStore::with_shards(1))).unwrap();
}

#[test]
fn settlements_that_lose_races_on_the_memory_store() {
    settlement::a_rejection_waits_for_its_settlement(MemoryStore::new);
    settlement::a_sprayer_whose_settlements_lose_is_suspended(&MemoryStore::new());
    settlement::contention_never_hides_a_sprayer(&MemoryStore::new());
    settlement::contention_never_hides_a_sprayer(&MemoryStore::with_shards(1));
}

/// Counts the store calls an operation makes: loads, single compare-and-swaps, and
/// batches; a store with transactions when `TX`.
#[derive(Default)]
struct Counting<const TX: bool> {
    inner: MemoryStore,
    loads: AtomicUsize,
    swaps: AtomicUsize,
    batches: AtomicUsize,
}

impl<const TX: bool> Counting<TX> {
    /// (loads, single swaps, batches) since the last take.
    fn take(&self) -> (usize, usize, usize) {
        (
            self.loads.swap(0, Ordering::Relaxed),
            self.swaps.swap(0, Ordering::Relaxed),
            self.batches.swap(0, Ordering::Relaxed),
        )
    }
}

impl<const TX: bool> Store for Counting<TX> {
    type Error = <MemoryStore as Store>::Error;
    const TRANSACTIONS: bool = TX;
    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.inner.load(key)
    }
    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        self.swaps.fetch_add(1, Ordering::Relaxed);
        self.inner.compare_and_swap(key, expected, record, new)
    }
    fn compare_and_swap_all(
        &self,
        writes: &[(handover_code::audit::Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Self::Error> {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.inner.compare_and_swap_all(writes, unchanged)
    }
}

#[test]
fn round_trips_per_verification() {
    // A budgeted verification that compares: the verifier and the booking read, then both
    // written in one transaction (3 round trips); one key at a time, a slot held, the
    // booking written, the slot settled (5).
    round_trips(&Counting::<true>::default(), (2, 0, 1));
    round_trips(&Counting::<false>::default(), (2, 3, 0));
}

/// The store calls of each kind of verification, on `store`; `compared` is what a
/// budgeted one that compares a code costs.
fn round_trips<const TX: bool>(store: &Counting<TX>, compared: (usize, usize, usize)) {
    let keys = keys();
    let plain = Service::new(keys.clone(), Policy::new(Digits::Four), "rt").unwrap();
    let budgeted = Service::new(
        keys.clone(),
        Policy::new(Digits::Four)
            .with_verifier_budget(5, 86_400)
            .unwrap(),
        "rt",
    )
    .unwrap();
    let v = Some(VerifierId::new("v").unwrap());
    let mut codes = Vec::new();
    for n in ["a", "b", "c", "d"] {
        codes.push(
            plain
                .issue(store, BookingId::new(n).unwrap(), UNTIL, T0)
                .unwrap(),
        );
    }
    assert_eq!(store.take(), (4, 4, 0), "an issue: one load, one insert");
    let id = |n| BookingId::new(n).unwrap();

    // Without a budget: one load and one compare-and-swap, right or wrong.
    let answer = plain.verify(store, id("a"), &wrong(codes[0].expose(), 0), None, T0);
    assert!(answer.unwrap().is_failure());
    assert_eq!(store.take(), (1, 1, 0));
    let answer = plain.verify(store, id("a"), codes[0].expose(), None, T0);
    assert_eq!(answer.unwrap(), Outcome::Accepted);
    assert_eq!(store.take(), (1, 1, 0));

    // With a budget, right or wrong.
    let answer = budgeted.verify(store, id("b"), codes[1].expose(), v, T0);
    assert_eq!(answer.unwrap(), Outcome::Accepted);
    assert_eq!(store.take(), compared, "accepted with a budget");
    let answer = budgeted.verify(store, id("c"), &wrong(codes[2].expose(), 0), v, T0);
    assert!(answer.unwrap().is_failure());
    assert_eq!(store.take(), compared, "rejected with a budget");
    // Answers that compare nothing write nothing.
    let answer = budgeted.verify(store, id("zz"), "1234", v, T0);
    assert_eq!(answer.unwrap(), Outcome::UnknownBooking);
    assert_eq!(store.take(), (2, 0, 0));
    // A resend counts its send: one load, one compare-and-swap.
    budgeted.resend(store, id("d"), T0).unwrap();
    assert_eq!(store.take(), (1, 1, 0));
}

/// A store with transactions whose every transaction loses its race.
#[derive(Default)]
struct Losing {
    inner: MemoryStore,
    batches: AtomicUsize,
}

impl Store for Losing {
    type Error = <MemoryStore as Store>::Error;
    const TRANSACTIONS: bool = true;
    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        self.inner.load(key)
    }
    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        self.inner.compare_and_swap(key, expected, record, new)
    }
    fn compare_and_swap_all(
        &self,
        _writes: &[(handover_code::audit::Entry<'_>, Record)],
        _unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Self::Error> {
        self.batches.fetch_add(1, Ordering::Relaxed);
        Ok(Swap::Conflict)
    }
}

/// A budgeted verification whose transaction loses every race, right code or wrong: tried
/// once and again `max_retries` times, then answered `Contention`, with nothing written to
/// the booking or the verifier.
#[test]
fn a_transaction_that_always_loses_answers_contention_and_writes_nothing() {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(5, 86_400)
        .unwrap()
        .with_max_retries(3)
        .unwrap();
    let context = Context::new("losing").unwrap();
    let service = Service::new(keys.clone(), policy, context).unwrap();
    let store = Losing::default();
    let id = BookingId::new("B").unwrap();
    let code = service.issue(&store, id, UNTIL, T0).unwrap();
    let v = Some(VerifierId::new("v").unwrap());
    for typed in [wrong(code.expose(), 0), code.expose().to_owned()] {
        let answer = service.verify(&store, id, &typed, v, T0);
        assert!(
            matches!(answer, Err(handover_code::Error::Contention)),
            "{answer:?}"
        );
        assert_eq!(
            store.batches.swap(0, Ordering::Relaxed),
            4,
            "1 try + 3 retries"
        );
    }
    let booking = service.booking(&store, id).unwrap().unwrap();
    assert_eq!(
        (booking.lifetime_failures(), booking.state()),
        (0, handover_code::record::State::Active)
    );
    let verifier = Key::Verifier {
        scope: context,
        id: VerifierId::new("v").unwrap(),
    };
    assert!(store.inner.load(verifier).unwrap().is_none());
}
