//! The concurrency checks for an [`AsyncStore`]: many tasks joined on the caller's runtime,
//! interleaved at every await, with no runtime of the kit's own.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context as TaskContext, Poll};
use std::boxed::Box;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::{
    Failure, MAX_HAMMERS, MAX_LOST, NOW, PAIR_CALLS, ROUNDS, THREADS, UNTIL, check_contract_async,
    count_of, counter, ensure, fail, io, judge_booking, judge_pair_calls, judge_spray, kit_keys,
    pair_call, pair_keys, pair_writes, setup_failure, sprayer_policy, wrong_code,
};
use crate::code::Digits;
use crate::derive::{BookingId, Context};
use crate::key::Key;
use crate::policy::Policy;
use crate::record::{Record, Version};
use crate::service::Service;
use crate::store::{AsyncStore, Stats, Swap, VerifierId};

/// Every check on an [`AsyncStore`]: the contract one call at a time, then the concurrency
/// hammer, awaited on the caller's runtime (`#[tokio::test]`, or any executor).
///
/// ```
/// use handover_code::{conformance, MemoryStore};
///
/// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
/// #     let mut f = core::pin::pin!(f);
/// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
/// #     loop { if let core::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) { return out; } }
/// # }
/// let report = block_on(conformance::check_all_async(MemoryStore::new)).unwrap();
/// assert!(report.conflicts > 0, "the tasks really interleaved");
/// ```
///
/// # Errors
///
/// The first [`Failure`].
pub async fn check_all_async<S, F>(factory: F) -> Result<Stats, Failure>
where
    S: AsyncStore,
    F: Fn() -> S,
{
    check_contract_async(&factory).await?;
    check_concurrency_async(&factory).await
}

/// The hammer for an [`AsyncStore`]: [`THREADS`] tasks at once, each yielding between its
/// load and its compare-and-swap so that they interleave even on a store whose futures
/// never wait.
///
/// 1. Each adds one to a counter record, 20 times, by load and compare-and-swap: the
///    final count must equal the swaps that landed.
/// 2. On a store with [`AsyncStore::TRANSACTIONS`], each adds one to two counters in one
///    [`AsyncStore::compare_and_swap_all`]: both must equal the batches that landed (and,
///    before the tasks, a batch with a stale version, written or checked unchanged, or
///    naming a key twice, writes nothing); on a store without, a batch of two must write
///    nothing.
/// 3. One booking, every task a wrong code and one the right one: at most 3 rejections, at
///    most one acceptance, and the stored count equals the rejections answered.
/// 4. One verifier with a budget of 5, a wrong code from each task at a different booking:
///    at most 5 rejections answered.
///
/// # Errors
///
/// The first [`Failure`], or one saying the tasks never contended.
pub async fn check_concurrency_async<S, F>(factory: F) -> Result<Stats, Failure>
where
    S: AsyncStore,
    F: Fn() -> S,
{
    let counter = factory();
    let mut report = Stats::default();
    for _ in 0..MAX_HAMMERS {
        let round = hammer_counter(&counter, report.swaps).await?;
        report.swaps = report.swaps.saturating_add(round.swaps);
        report.conflicts = report.conflicts.saturating_add(round.conflicts);
        if report.conflicts > 0 {
            break;
        }
    }
    hammer_transactions(&factory()).await?;
    hammer_booking(&factory()).await?;
    hammer_verifier(&factory()).await?;
    ensure(report.conflicts > 0, "contention", || {
        format!("no compare-and-swap conflicted in {MAX_HAMMERS} hammers; the tasks never raced")
    })?;
    Ok(report)
}

/// Gives the other tasks a turn: pending once, woken at once.
struct YieldNow(bool);

impl Future for YieldNow {
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

/// Runs futures concurrently on one task and collects their outputs in order.
struct JoinAll<'a, T> {
    futures: Vec<Option<Pin<Box<dyn Future<Output = T> + 'a>>>>,
    outputs: Vec<Option<T>>,
}

// The outputs are only moved out, never pinned: the joined futures are pinned in their boxes.
impl<T> Unpin for JoinAll<'_, T> {}

impl<T> Future for JoinAll<'_, T> {
    type Output = Vec<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Vec<T>> {
        let this = self.get_mut();
        for (slot, out) in this.futures.iter_mut().zip(this.outputs.iter_mut()) {
            if let Some(future) = slot
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *out = Some(value);
                *slot = None;
            }
        }
        if this.futures.iter().all(Option::is_none) {
            Poll::Ready(this.outputs.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    }
}

/// Runs `task(i)` for every `i` below [`THREADS`] at once.
async fn join<'a, T, Fut>(task: impl Fn(usize) -> Fut) -> Vec<T>
where
    Fut: Future<Output = T> + 'a,
{
    let futures: Vec<Option<Pin<Box<dyn Future<Output = T> + 'a>>>> = (0..THREADS)
        .map(|i| Some(Box::pin(task(i)) as Pin<Box<dyn Future<Output = T> + 'a>>))
        .collect();
    let outputs = (0..THREADS).map(|_| None).collect();
    JoinAll { futures, outputs }.await
}

fn counter_key() -> Result<Key<'static>, Failure> {
    Ok(Key::Verifier {
        scope: Context::new("conformance").map_err(setup_failure)?,
        id: VerifierId::new("counter").map_err(setup_failure)?,
    })
}

async fn stored_count<S: AsyncStore>(store: &S, check: &'static str) -> Result<u64, Failure> {
    match io(check, store.load(counter_key()?).await)? {
        Some((Record::Verifier(v), _)) => Ok(u64::from(v.failures)),
        None => Ok(0),
        other => fail(check, format!("final record {other:?}")),
    }
}

async fn hammer_counter<S: AsyncStore>(store: &S, before: u64) -> Result<Stats, Failure> {
    let key = counter_key()?;
    let per_task = join(|_| async move {
        let mut mine = Stats::default();
        for _ in 0..ROUNDS {
            loop {
                let current = io("counter", store.load(key).await)?;
                let (count, expected) = match current {
                    Some((Record::Verifier(v), version)) => (v.failures, Some(version)),
                    None => (0, None),
                    Some(other) => return fail("counter", format!("loaded {other:?}")),
                };
                YieldNow(false).await;
                let new = Version(expected.map_or(1, |v| v.0.saturating_add(1)));
                let next = counter(count.saturating_add(1));
                match io(
                    "counter",
                    store.compare_and_swap(key, expected, &next, new).await,
                )? {
                    Swap::Swapped => {
                        mine.swaps = mine.swaps.saturating_add(1);
                        break;
                    }
                    Swap::Conflict => mine.conflicts = mine.conflicts.saturating_add(1),
                }
            }
        }
        Ok(mine)
    })
    .await;
    let mut total = Stats::default();
    for r in per_task {
        let r = r?;
        total.swaps = total.swaps.saturating_add(r.swaps);
        total.conflicts = total.conflicts.saturating_add(r.conflicts);
    }
    let stored = stored_count(store, "counter").await?;
    let landed = before.saturating_add(total.swaps);
    ensure(stored == landed, "counter", || {
        format!("{landed} swaps landed but the counter reads {stored}: updates were lost")
    })?;
    Ok(total)
}

/// As the blocking kit's transaction hammer, with tasks that yield between their loads and
/// their batch.
async fn hammer_transactions<S: AsyncStore>(store: &S) -> Result<(), Failure> {
    let keys = pair_keys()?;
    let [ka, kb, _] = keys;
    let check = "transactions";
    let load = |k| async move { io(check, store.load(k).await) };
    let mut answers = Vec::new();
    for n in 0..PAIR_CALLS.len() {
        let (writes, unchanged) = pair_call(n, keys, load(ka).await?, load(kb).await?)?;
        answers.push(io(
            check,
            store.compare_and_swap_all(&writes, &unchanged).await,
        )?);
        if !S::TRANSACTIONS {
            break;
        }
    }
    let after = [
        count_of(load(ka).await?.as_ref())?,
        count_of(load(kb).await?.as_ref())?,
    ];
    judge_pair_calls(S::TRANSACTIONS, &answers, after)?;
    if !S::TRANSACTIONS {
        return Ok(());
    }
    let answers = join(|_| async move {
        let mut landed = 0u64;
        for _ in 0..ROUNDS {
            let mut lost = 0u32;
            loop {
                let loaded = [load(ka).await?, load(kb).await?];
                YieldNow(false).await;
                let writes = pair_writes([ka, kb], loaded)?;
                if io(check, store.compare_and_swap_all(&writes, &[]).await)? == Swap::Swapped {
                    landed = landed.saturating_add(1);
                    break;
                }
                lost = lost.saturating_add(1);
                if lost > MAX_LOST {
                    return fail(check, format!("a batch lost {MAX_LOST} races in a row"));
                }
            }
        }
        Ok::<u64, Failure>(landed)
    })
    .await;
    let mut landed = 0u64;
    for a in answers {
        landed = landed.saturating_add(a?);
    }
    let stored = [
        count_of(load(ka).await?.as_ref())?,
        count_of(load(kb).await?.as_ref())?,
    ];
    let want = [landed.saturating_add(2), landed.saturating_add(1)];
    ensure(stored == want, check, || {
        format!(
            "{landed} batches landed but the counters read {stored:?}, not {want:?}: the batch \
             is not one transaction"
        )
    })
}

async fn hammer_booking<S: AsyncStore>(store: &S) -> Result<(), Failure> {
    let keys = kit_keys()?;
    let context = Context::new("conformance").map_err(setup_failure)?;
    let policy = Policy::new(Digits::Four)
        .with_max_retries(Policy::MAX_RETRIES)
        .map_err(setup_failure)?;
    let service = Service::new(keys, policy, context).map_err(setup_failure)?;
    let id = BookingId::new("hammered").map_err(setup_failure)?;
    let code = io(
        "booking hammer",
        service.issue_async(store, id, UNTIL, NOW).await,
    )?;
    let wrong = wrong_code(code.expose());
    let (right, wrong) = (code.expose(), wrong.as_str());
    let service = &service;
    let answers = join(|i| async move {
        YieldNow(false).await;
        let typed = if i == THREADS / 2 { right } else { wrong };
        (
            i == THREADS / 2,
            service.verify_async(store, id, typed, None, NOW).await,
        )
    })
    .await;
    let stored = io("booking hammer", service.booking_async(store, id).await)?;
    judge_booking(&answers, stored.map_or(0, |b| usize::from(b.failures)))
}

async fn hammer_verifier<S: AsyncStore>(store: &S) -> Result<(), Failure> {
    let keys = kit_keys()?;
    let context = Context::new("conformance").map_err(setup_failure)?;
    let policy = sprayer_policy()?;
    let service = Service::new(keys, policy, context).map_err(setup_failure)?;
    let ids: Vec<String> = (0..THREADS).map(|i| format!("sprayed-{i}")).collect();
    let mut wrong = Vec::new();
    for id in &ids {
        let booking = BookingId::new(id).map_err(setup_failure)?;
        let code = io(
            "verifier hammer",
            service.issue_async(store, booking, UNTIL, NOW).await,
        )?;
        wrong.push(wrong_code(code.expose()));
    }
    let verifier = VerifierId::new("sprayer").map_err(setup_failure)?;
    let (ids, wrong, service) = (&ids, &wrong, &service);
    let answers = join(|i| async move {
        YieldNow(false).await;
        let (Some(id), Some(typed)) = (ids.get(i), wrong.get(i)) else {
            return Err(crate::Error::inconsistent());
        };
        let booking = BookingId::new(id)?;
        service
            .verify_async(store, booking, typed, Some(verifier), NOW)
            .await
    })
    .await;
    judge_spray(&answers)
}
