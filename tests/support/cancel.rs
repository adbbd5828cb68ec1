//! Dropped futures, on any async store: a verification cut off at each of its store calls
//! (the call never completes, before or after it took effect), then retried with the same
//! request id. Run on the memory store by `tests/cancellation.rs` (in both modes), on SQLite's
//! async face by `stores/sqlite/tests/sqlite_async.rs`, on PostgreSQL by
//! `stores/postgres/tests/postgres.rs` and on Redis by `stores/redis/tests/redis.rs`. On a store with transactions nothing is ever left held; on one without,
//! a retry with the request id settles what a cut left held.

use std::sync::atomic::{AtomicUsize, Ordering};

use handover_code::Attempt;
use handover_code::record::{Earlier, Record, Version};
use handover_code::store::{Key, Swap};
use handover_code::{
    AsyncStore, BookingId, Digits, KeyId, Keyring, Outcome, Policy, RequestId, Secret, Service,
    Timestamp, VerifierId,
};
use tokio::sync::Notify;

const T0: Timestamp = Timestamp(1_700_000_000);
const UNTIL: Timestamp = Timestamp(1_700_086_400);

/// Forwards to `inner` until its call number `at` (from 0); that call never completes. With
/// `lands` it first makes the inner call, so its write takes effect: a timeout after the
/// commit. It tells `stalled` when it stops.
struct Stalling<'s, S> {
    inner: &'s S,
    calls: AtomicUsize,
    at: usize,
    lands: bool,
    stalled: &'s Notify,
}

impl<S: AsyncStore> Stalling<'_, S> {
    async fn stall(&self) -> ! {
        self.stalled.notify_one();
        std::future::pending().await
    }
}

impl<S: AsyncStore> AsyncStore for Stalling<'_, S> {
    type Error = S::Error;
    const TRANSACTIONS: bool = S::TRANSACTIONS;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, S::Error> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == self.at {
            if self.lands {
                let _ = self.inner.load(key).await;
            }
            self.stall().await
        }
        self.inner.load(key).await
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, S::Error> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == self.at {
            if self.lands {
                let _ = self
                    .inner
                    .compare_and_swap(key, expected, record, new)
                    .await;
            }
            self.stall().await
        }
        self.inner
            .compare_and_swap(key, expected, record, new)
            .await
    }
    async fn compare_and_swap_all(
        &self,
        writes: &[(handover_code::audit::Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, S::Error> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == self.at {
            if self.lands {
                let _ = self.inner.compare_and_swap_all(writes, unchanged).await;
            }
            self.stall().await
        }
        self.inner.compare_and_swap_all(writes, unchanged).await
    }
}

fn keys() -> std::sync::Arc<Keyring> {
    Keyring::new(KeyId(1), Secret::from_bytes(&[0x55; 32]).unwrap()).into()
}

/// The failures counted on the booking, and the verifier's settled failures and held slots.
async fn counts<S: AsyncStore>(store: &S, service: &Service, b: &str, v: &str) -> (u16, u32, u32) {
    let booking = service
        .booking_async(store, BookingId::new(b).unwrap())
        .await
        .unwrap()
        .unwrap();
    let key = Key::Verifier {
        scope: service.budget_scope(),
        id: VerifierId::new(v).unwrap(),
    };
    let (failures, held) = match AsyncStore::load(store, key).await.unwrap() {
        Some((Record::Verifier(r), _)) => (r.failures(), r.held()),
        None => (0, 0),
        Some(other) => panic!("{other:?}"),
    };
    (booking.lifetime_failures(), failures, held)
}

/// For every store call `k` of a budgeted verification (right code and wrong code, the call
/// landing or not): cut the future off there and drop it; then every counted failure is
/// paid for (a settled failure or a slot still held), at most one slot is over; a retry with
/// the same request id answers what an uncut verification answers (or its replay) and
/// leaves nothing held and exactly the counted failures settled.
pub async fn dropped_verifications_settle<S: AsyncStore>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(3, 86_400)
        .unwrap();
    let service = Service::new(keys.clone(), policy, "cancel").unwrap();
    let mut cut = 0;
    for right in [true, false] {
        for lands in [false, true] {
            for k in 0..6 {
                let b = format!("b-{right}-{lands}-{k}");
                let v = format!("v-{right}-{lands}-{k}");
                let booking = BookingId::new(&b).unwrap();
                let verifier = Some(VerifierId::new(&v).unwrap());
                let request = RequestId::new("req-1").unwrap();
                let code = service
                    .issue_async(store, booking, UNTIL, T0)
                    .await
                    .unwrap();
                let typed = if right {
                    code.expose().to_owned()
                } else {
                    let n: u32 = code.expose().parse().unwrap();
                    format!("{:04}", (n + 1) % 10_000)
                };
                let uncut = if right {
                    Outcome::Accepted
                } else {
                    Outcome::Rejected { attempts_left: 2 }
                };
                let stalled = Notify::new();
                let stalling = Stalling {
                    inner: store,
                    calls: AtomicUsize::new(0),
                    at: k,
                    lands,
                    stalled: &stalled,
                };
                let first = service.verify_async(
                    &stalling,
                    booking,
                    &typed,
                    Attempt::from(verifier).request(&request),
                    T0,
                );
                let finished = tokio::select! {
                    answer = first => Some(answer.unwrap()),
                    () = stalled.notified() => None,
                };
                if let Some(answer) = finished {
                    // Fewer than k + 1 calls: nothing was cut.
                    assert_eq!(answer, uncut, "{b}");
                    continue;
                }
                cut += 1;
                let (counted, failures, held) = counts(store, &service, &b, &v).await;
                if S::TRANSACTIONS {
                    // Everything or nothing landed, and nothing is held.
                    assert_eq!(
                        (u32::from(counted), held),
                        (failures, 0),
                        "{b}: a cut transaction left a part"
                    );
                }
                assert!(
                    u32::from(counted) <= failures + held,
                    "{b}: {counted} failures counted, {failures} settled and {held} held"
                );
                assert!(
                    failures + held <= u32::from(counted) + 1,
                    "{b}: over-charged"
                );
                if right {
                    assert_eq!(failures, 0, "{b}: a right code was counted as a failure");
                }
                let retry = service
                    .verify_async(
                        store,
                        booking,
                        &typed,
                        Attempt::from(verifier).request(&request),
                        T0,
                    )
                    .await
                    .unwrap();
                let replay = Outcome::Replayed(match uncut {
                    Outcome::Accepted => Earlier::Accepted,
                    _ => Earlier::Rejected { attempts_left: 2 },
                });
                assert!(retry == uncut || retry == replay, "{b}: retry {retry:?}");
                let (counted, failures, held) = counts(store, &service, &b, &v).await;
                assert_eq!(
                    (u32::from(counted), held),
                    (failures, 0),
                    "{b}: not settled"
                );
                assert_eq!(counted, u16::from(!right), "{b}");
            }
        }
    }
    // 3 store calls with transactions (two loads, one batch), 5 without.
    let calls = if S::TRANSACTIONS { 3 } else { 5 };
    assert_eq!(
        cut,
        calls * 4,
        "every one of the {calls} store calls, right and wrong, landing or not"
    );
}

/// The issue's reproduction: dropped right-code verifications must never suspend an honest
/// verifier. With transactions nothing is held, with request ids or without. Without
/// transactions, with request ids their retries settle every slot; without ids, each dropped
/// one holds its slot until the window ends, which makes the verifier busy (a retryable
/// error), never suspended, and counts no failure.
pub async fn dropped_right_codes_cost_nothing<S: AsyncStore>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(3, 86_400)
        .unwrap();
    let service = Service::new(keys.clone(), policy, "cancel-right").unwrap();
    for with_id in [true, false] {
        let who = if with_id { "honest" } else { "no-ids" };
        let verifier = Some(VerifierId::new(who).unwrap());
        // Cut off after the slot was held, after the booking was written, and again after
        // the slot was held: three slots left unsettled.
        // With transactions: after the batch landed, while the booking was read, after the
        // batch landed.
        let cuts = if S::TRANSACTIONS {
            [2, 1, 2]
        } else {
            [2usize, 3, 2]
        };
        for (n, k) in cuts.into_iter().enumerate() {
            let b = format!("r-{who}-{n}");
            let booking = BookingId::new(&b).unwrap();
            let code = service
                .issue_async(store, booking, UNTIL, T0)
                .await
                .unwrap();
            let request = RequestId::new(&b).unwrap();
            let stalled = Notify::new();
            let stalling = Stalling {
                inner: store,
                calls: AtomicUsize::new(0),
                at: k,
                lands: true,
                stalled: &stalled,
            };
            let cut = async {
                if with_id {
                    service
                        .verify_async(
                            &stalling,
                            booking,
                            code.expose(),
                            Attempt::from(verifier).request(&request),
                            T0,
                        )
                        .await
                } else {
                    service
                        .verify_async(&stalling, booking, code.expose(), verifier, T0)
                        .await
                }
            };
            tokio::select! {
                _ = cut => panic!("{b}: not cut off"),
                () = stalled.notified() => {}
            }
            if with_id {
                let retry = service
                    .verify_async(
                        store,
                        booking,
                        code.expose(),
                        Attempt::from(verifier).request(&request),
                        T0,
                    )
                    .await
                    .unwrap();
                assert!(retry.is_accepted(), "{b}: {retry:?}");
            }
        }
        let booking = BookingId::new(if with_id { "r-last" } else { "r-last-2" }).unwrap();
        let code = service
            .issue_async(store, booking, UNTIL, T0)
            .await
            .unwrap();
        let answer = service
            .verify_async(store, booking, code.expose(), verifier, T0)
            .await;
        let key = Key::Verifier {
            scope: service.budget_scope(),
            id: VerifierId::new(who).unwrap(),
        };
        // With transactions right codes write no budget record; one key at a time they do.
        let (failures, held) = match AsyncStore::load(store, key).await.unwrap() {
            Some((Record::Verifier(v), _)) => (v.failures(), v.held()),
            None if S::TRANSACTIONS => (0, 0),
            other => panic!("{who}: {other:?}"),
        };
        assert_eq!(failures, 0, "{who}: a right code was counted as a failure");
        if with_id || S::TRANSACTIONS {
            assert_eq!(answer.unwrap(), Outcome::Accepted, "{who}");
            assert_eq!(held, 0, "{who}: slots left held");
        } else {
            // The three slots held by the cut-off verifications are the budget: busy.
            assert!(
                matches!(answer, Err(handover_code::Error::BudgetBusy { .. })),
                "{who}: {answer:?}"
            );
            assert_eq!(held, 3);
        }
    }
}

/// For every store call `k` of an override with a budget (the call landing or not): cut the
/// future off there and drop it. With transactions the count and the redemption land
/// together or not at all: the actor's count equals the redemptions. One key at a time the
/// count lands first, so a cut between the two leaves it counted (over-counted, never
/// under). Either way a second override then redeems the booking at most once, and the
/// actor is never counted more than once for a redemption beyond the cut.
pub async fn dropped_overrides_count_only_what_landed<S: AsyncStore>(store: &S) {
    use handover_code::audit::{Override, Reason};
    use handover_code::{ActorId, Error};
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_override_budget(10, 86_400)
        .unwrap();
    let service = Service::new(keys.clone(), policy, "cancel-override").unwrap();
    for lands in [false, true] {
        for k in 0..4 {
            let b = format!("o-{lands}-{k}");
            let a = format!("a-{lands}-{k}");
            let booking = BookingId::new(&b).unwrap();
            let by = Override::new(ActorId::new(&a).unwrap(), Reason::NoPhone, "").unwrap();
            service
                .issue_async(store, booking, UNTIL, T0)
                .await
                .unwrap();
            let stalled = Notify::new();
            let stalling = Stalling {
                inner: store,
                calls: AtomicUsize::new(0),
                at: k,
                lands,
                stalled: &stalled,
            };
            let first = service.overrule_async(&stalling, booking, by, T0);
            let finished = tokio::select! {
                answer = first => Some(answer),
                () = stalled.notified() => None,
            };
            let counted = || async {
                let key = Key::Actor {
                    scope: service.budget_scope(),
                    id: ActorId::new(&a).unwrap(),
                };
                match AsyncStore::load(store, key).await.unwrap() {
                    Some((Record::Verifier(v), _)) => v.failures(),
                    None => 0,
                    Some(other) => panic!("{other:?}"),
                }
            };
            let redeemed = || async {
                let record = service
                    .booking_async(store, booking)
                    .await
                    .unwrap()
                    .unwrap();
                u32::from(record.state() == handover_code::record::State::Redeemed)
            };
            if let Some(answer) = finished {
                // Fewer than k + 1 calls: nothing was cut.
                answer.unwrap();
                assert_eq!((counted().await, redeemed().await), (1, 1), "{b}");
                continue;
            }
            let (count, done) = (counted().await, redeemed().await);
            if S::TRANSACTIONS {
                assert_eq!(count, done, "{b}: a cut transaction left a part");
            } else {
                assert!(
                    done <= count && count <= 1,
                    "{b}: {count} counted, {done} redeemed"
                );
            }
            // Again, uncut: redeemed now, or already by the cut override's landed write.
            let again = service.overrule_async(store, booking, by, T0).await;
            match again {
                Ok(()) => assert_eq!(done, 0, "{b}: redeemed twice"),
                Err(Error::Inactive(_)) => assert_eq!(done, 1, "{b}: {again:?}"),
                Err(e) => panic!("{b}: {e:?}"),
            }
            let count_after = counted().await;
            assert_eq!(redeemed().await, 1, "{b}");
            if S::TRANSACTIONS {
                assert_eq!(count_after, 1, "{b}: one redemption, {count_after} counted");
            } else {
                assert!((1..=2).contains(&count_after), "{b}: {count_after} counted");
            }
        }
    }
}
