//! Dropped futures, on any async store: a verification cut off at each of its store calls
//! (the call never completes, before or after it took effect), then retried with the same
//! request id. Run on the memory store by `tests/cancellation.rs` and on PostgreSQL by
//! `tests/postgres.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};

use handover_code::record::{Earlier, Record, Version};
use handover_code::store::{Key, Swap};
use handover_code::{
    AsyncStore, BookingId, Context, Digits, KeyId, Keyring, Outcome, Policy, RequestId, Secret,
    Service, Timestamp, VerifierId,
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
}

fn keys() -> Keyring {
    Keyring::new(KeyId(1), Secret::from_bytes(&[0x55; 32]).unwrap())
}

async fn counts<S: AsyncStore>(store: &S, service: &Service<'_>, b: &str, v: &str) -> (u16, u32) {
    let booking = service
        .booking_async(store, BookingId::new(b).unwrap())
        .await
        .unwrap()
        .unwrap();
    let key = Key::Verifier {
        scope: service.budget_scope(),
        id: VerifierId::new(v).unwrap(),
    };
    let charged = match AsyncStore::load(store, key).await.unwrap() {
        Some((Record::Verifier(r), _)) => r.failures,
        None => 0,
        Some(other) => panic!("{other:?}"),
    };
    (booking.lifetime_failures, charged)
}

/// For every store call `k` of a budgeted verification (right code and wrong code, the call
/// landing or not): cut the future off there and drop it; then no counted failure is
/// uncharged, at most one charge is over; a retry with the same request id answers what an
/// uncut verification answers (or its replay) and leaves charges and counted failures equal.
pub async fn dropped_verifications_settle<S: AsyncStore>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(3, 86_400)
        .unwrap();
    let service = Service::new(&keys, policy, Context::new("cancel").unwrap());
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
                let first =
                    service.verify_request_async(&stalling, booking, &typed, verifier, request, T0);
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
                let (counted, charged) = counts(store, &service, &b, &v).await;
                assert!(
                    u32::from(counted) <= charged,
                    "{b}: {counted} failures counted, {charged} charged"
                );
                assert!(charged <= u32::from(counted) + 1, "{b}: over-charged");
                if right {
                    assert_eq!(charged, 0, "{b}: a right code was charged");
                }
                let retry = service
                    .verify_request_async(store, booking, &typed, verifier, request, T0)
                    .await
                    .unwrap();
                let replay = Outcome::Replayed(match uncut {
                    Outcome::Accepted => Earlier::Accepted,
                    _ => Earlier::Rejected { attempts_left: 2 },
                });
                assert!(retry == uncut || retry == replay, "{b}: retry {retry:?}");
                let (counted, charged) = counts(store, &service, &b, &v).await;
                assert_eq!(u32::from(counted), charged, "{b}: not settled");
                assert_eq!(counted, u16::from(!right), "{b}");
            }
        }
    }
    assert!(cut >= 14, "only {cut} verifications were cut off");
}

/// The issue's reproduction: three dropped right-code verifications must not suspend an
/// honest verifier, whatever store call they were cut off at.
pub async fn dropped_right_codes_cost_nothing<S: AsyncStore>(store: &S) {
    let keys = keys();
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(3, 86_400)
        .unwrap();
    let service = Service::new(&keys, policy, Context::new("cancel-right").unwrap());
    for k in 0..3 {
        for lands in [false, true] {
            let b = format!("r-{k}-{lands}");
            let booking = BookingId::new(&b).unwrap();
            let code = service
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
            let verifier = Some(VerifierId::new("honest").unwrap());
            tokio::select! {
                _ = service.verify_async(&stalling, booking, code.expose(), verifier, T0) => {}
                () = stalled.notified() => {}
            }
        }
    }
    let booking = BookingId::new("r-last").unwrap();
    let code = service
        .issue_async(store, booking, UNTIL, T0)
        .await
        .unwrap();
    let verifier = Some(VerifierId::new("honest").unwrap());
    let answer = service
        .verify_async(store, booking, code.expose(), verifier, T0)
        .await
        .unwrap();
    assert_eq!(answer, Outcome::Accepted);
}
