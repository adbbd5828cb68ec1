//! The conformance kit (feature `conformance`): proves a [`Store`] honours the contract.
//!
//! Call [`check_all`] from a test with a factory that makes a fresh, empty store (a new
//! table, a new database file, a cleared Redis database):
//!
//! ```
//! use handover_code::{conformance, MemoryStore};
//!
//! let report = conformance::check_all(MemoryStore::new).unwrap();
//! assert!(report.conflicts > 0, "the hammer really contended");
//! ```
//!
//! | check | what it proves | sync | async |
//! |---|---|---|---|
//! | the contract | each primitive, one call at a time | [`check_contract`] | [`check_contract_async`] |
//! | the hammers | nothing lost under 64 threads (or tasks) at once | [`check_concurrency`] | [`check_concurrency_async`] |
//! | both of those | | [`check_all`] | [`check_all_async`] |
//! | the scenarios | services, policies, budgets and the reviews' attacks on one store | [`check_scenarios`] | `check_scenarios_async` (feature `conformance-tokio`) |
//! | the model | operation sequences, faults and cut-off operations against a plain model | [`model::check_sequence`] and its siblings | through `Blocking` (feature `conformance-tokio`) |
//!
//! [`check_contract`] checks the primitives one call at a time; [`check_concurrency`]
//! releases many threads at once (a [`Barrier`]) on one record, on two records moved
//! together by [`Store::compare_and_swap_all`] (for a store with [`Store::TRANSACTIONS`]), on
//! one booking and on one verifier, and checks that nothing was lost: every landed swap is
//! visible, no booking answered more wrong guesses than its limit, no code was accepted twice
//! and no verifier was answered past its budget. A store that checks and then writes in two
//! steps fails it; the crate's own tests keep such a store to prove that.
//!
//! An [`AsyncStore`](crate::AsyncStore) is checked directly, on the caller's runtime, by
//! [`check_all_async`] ([`check_contract_async`], [`check_concurrency_async`]): many tasks
//! joined on one, interleaving at every await. The scenarios and the model run threads; with
//! feature `conformance-tokio`, `Blocking` drives an async store from them through a
//! multi-thread runtime, and `check_scenarios_async` runs the scenarios that way.
//!
//! A store with transactions runs the verification in one transaction; run each check once
//! more through [`WithoutTransactions`] for the one-key-at-a-time mode it falls back to (a
//! host that switches modes has both on one store for a while).

#[cfg(feature = "conformance-tokio")]
mod blocking;
mod contract;
mod doubles;
pub mod model;
mod pair;
mod scenarios;
mod tasks;

#[cfg(feature = "conformance-tokio")]
pub use blocking::Blocking;
pub use contract::{check_contract, check_contract_async};
pub use doubles::WithoutTransactions;
pub(crate) use pair::{
    PAIR_CALLS, count_of, counter, hammer_transactions, judge_pair_calls, pair_call, pair_keys,
    pair_writes,
};
pub use scenarios::check_scenarios;
#[cfg(feature = "conformance-tokio")]
pub use scenarios::check_scenarios_async;
pub use tasks::{check_all_async, check_concurrency_async};

use std::format;
use std::string::String;
use std::sync::Barrier;
use std::thread;
use std::vec::Vec;

use crate::code::Digits;
use crate::derive::{BookingId, Context};
use crate::key::Key;
use crate::keyring::{KeyId, Keyring};
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::record::{Record, Version};
use crate::secret::Secret;
use crate::service::Service;
use crate::store::{Stats, Store, Swap, VerifierId};
use crate::time::Timestamp;

/// A broken promise: which check, and what it saw.
#[derive(Debug, thiserror::Error)]
#[error("store contract broken in {check}: {detail}")]
pub struct Failure {
    /// The check that failed.
    pub check: &'static str,
    /// What it saw.
    pub detail: String,
}

/// Threads released together by each concurrency check.
pub const THREADS: usize = 64;

fn fail<T>(check: &'static str, detail: String) -> Result<T, Failure> {
    Err(Failure { check, detail })
}

fn ensure(ok: bool, check: &'static str, detail: impl FnOnce() -> String) -> Result<(), Failure> {
    if ok { Ok(()) } else { fail(check, detail()) }
}

/// A check's own set-up failed (a key, an id or a policy it builds was refused).
fn setup_failure<E: core::fmt::Display>(e: E) -> Failure {
    Failure {
        check: "setup",
        detail: format!("{e}"),
    }
}

fn io<T, E: core::fmt::Display>(check: &'static str, r: Result<T, E>) -> Result<T, Failure> {
    r.or_else(|e| fail(check, format!("store error: {e}")))
}

/// Every check: the contract one call at a time, then the concurrency hammer.
///
/// # Errors
///
/// The first [`Failure`].
pub fn check_all<S, F>(factory: F) -> Result<Stats, Failure>
where
    S: Store,
    F: Fn() -> S,
{
    check_contract(&factory)?;
    check_concurrency(&factory)
}

/// The hammer: [`THREADS`] threads released together.
///
/// 1. Each adds one to a counter record, 20 times, by load and compare-and-swap: the final
///    count must equal the swaps that landed (a lost update means the swap was not atomic).
///    Repeated, up to 50 times, until some compare-and-swap has lost a race.
/// 2. Each adds one to two counters in one [`Store::compare_and_swap_all`], on a store with
///    [`Store::TRANSACTIONS`]: both must equal the batches that landed (and, before the
///    threads, a batch with a stale version, written or checked unchanged, or naming a key
///    twice, writes nothing); on a store without, a batch of two must write nothing.
/// 3. On one booking with a 4-digit code and 3 attempts, every thread sends a wrong code and
///    one sends the right one: at most 3 rejections answered, at most one acceptance, and
///    the stored failure count equals the rejections answered.
/// 4. One verifier with a budget of 5 guesses wrong at a different booking from each
///    thread: at most 5 rejections answered.
///
/// # Errors
///
/// The first [`Failure`], or one saying the threads never contended.
pub fn check_concurrency<S, F>(factory: F) -> Result<Stats, Failure>
where
    S: Store,
    F: Fn() -> S,
{
    // A loaded machine can run every thread of a round to completion in turn; hammer again,
    // on the same counter, until the threads have raced.
    let counter_store = factory();
    let mut report = Stats::default();
    for _ in 0..MAX_HAMMERS {
        let round = hammer_counter(&counter_store, report.swaps)?;
        report.swaps = report.swaps.saturating_add(round.swaps);
        report.conflicts = report.conflicts.saturating_add(round.conflicts);
        if report.conflicts > 0 {
            break;
        }
    }
    hammer_transactions(&factory())?;
    hammer_booking(&factory())?;
    hammer_verifier(&factory())?;
    ensure(report.conflicts > 0, "contention", || {
        format!("no compare-and-swap conflicted in {MAX_HAMMERS} hammers; the threads never raced")
    })?;
    Ok(report)
}

/// Increments per thread in one hammer on the counter.
pub(crate) const ROUNDS: u32 = 20;
/// Races one thread's batch may lose in a row before the kit calls the store stuck.
pub(crate) const MAX_LOST: u32 = 100_000;
/// Hammers on the counter before the kit gives up on seeing a race.
pub(crate) const MAX_HAMMERS: u32 = 50;

/// One hammer on the counter, which already holds `before` increments.
fn hammer_counter<S: Store>(store: &S, before: u64) -> Result<Stats, Failure> {
    let key = Key::Verifier {
        scope: Context::new("conformance").map_err(setup_failure)?,
        id: VerifierId::new("counter").map_err(setup_failure)?,
    };
    let barrier = Barrier::new(THREADS);
    let per_thread: Vec<Result<Stats, Failure>> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let mut mine = Stats::default();
                    for _ in 0..ROUNDS {
                        loop {
                            let current = io("counter", store.load(key))?;
                            let (count, expected) = match current {
                                Some((Record::Verifier(v), version)) => (v.failures, Some(version)),
                                None => (0, None),
                                Some(other) => return fail("counter", format!("loaded {other:?}")),
                            };
                            let next = counter(count.saturating_add(1));
                            let new = Version(expected.map_or(1, |v| v.0.saturating_add(1)));
                            match io("counter", store.compare_and_swap(key, expected, &next, new))?
                            {
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
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| fail("counter", "a thread panicked".into()))
            })
            .collect()
    });
    let mut total = Stats::default();
    for r in per_thread {
        let r = r?;
        total.swaps = total.swaps.saturating_add(r.swaps);
        total.conflicts = total.conflicts.saturating_add(r.conflicts);
    }
    let stored = match io("counter", store.load(key))? {
        Some((Record::Verifier(v), _)) => u64::from(v.failures),
        other => return fail("counter", format!("final record {other:?}")),
    };
    let landed = before.saturating_add(total.swaps);
    ensure(stored == landed, "counter", || {
        format!("{landed} swaps landed but the counter reads {stored}: updates were lost")
    })?;
    Ok(total)
}

fn kit_keys() -> Result<Keyring, Failure> {
    let secret = Secret::from_bytes(&[0x4b; 32]).map_err(setup_failure)?;
    Ok(Keyring::new(KeyId(1), secret))
}

const NOW: Timestamp = Timestamp(1_000_000);
const UNTIL: Timestamp = Timestamp(2_000_000);
/// The verifier hammer's budget.
const BUDGET: u32 = 5;

fn wrong_code(right: &str) -> String {
    right
        .bytes()
        .map(|b| {
            if b == b'9' {
                '0'
            } else {
                char::from(b.saturating_add(1))
            }
        })
        .collect()
}

/// Runs `guess(i)` from every thread at once and collects the answers.
fn release<T: Send>(guess: impl Fn(usize) -> T + Sync) -> Result<Vec<T>, Failure> {
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, guess) = (&barrier, &guess);
                s.spawn(move || {
                    barrier.wait();
                    guess(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .or_else(|_| fail("hammer", "a thread panicked".into()))
            })
            .collect()
    })
}

fn hammer_booking<S: Store>(store: &S) -> Result<(), Failure> {
    let keys = kit_keys()?;
    let context = Context::new("conformance").map_err(setup_failure)?;
    let policy = Policy::new(Digits::Four)
        .with_max_retries(Policy::MAX_RETRIES)
        .map_err(setup_failure)?;
    let service = Service::new(keys, policy, context).map_err(setup_failure)?;
    let id = BookingId::new("hammered").map_err(setup_failure)?;
    let code = io("booking hammer", service.issue(store, id, UNTIL, NOW))?;
    let wrong = wrong_code(code.expose());
    let answers = release(|i| {
        let typed = if i == THREADS / 2 {
            code.expose()
        } else {
            wrong.as_str()
        };
        (
            i == THREADS / 2,
            service.verify(store, id, typed, None, NOW),
        )
    })?;
    let failures = match io("booking hammer", store.load(Key::Booking { context, id }))? {
        Some((Record::Booking(b), _)) => usize::from(b.failures),
        other => return fail("booking hammer", format!("final record {other:?}")),
    };
    judge_booking(&answers, failures)
}

/// The booking hammer's verdict: whether each thread or task typed the right code and what
/// it was answered, against the failures stored after. At most 3 rejections, at most one
/// acceptance and only of the right code, and every rejection answered counted.
pub(crate) fn judge_booking(
    answers: &[(bool, Result<Outcome, crate::Error>)],
    failures: usize,
) -> Result<(), Failure> {
    let rejected = answers
        .iter()
        .filter(|(_, a)| matches!(a, Ok(o) if o.is_failure()))
        .count();
    let accepted: Vec<bool> = answers
        .iter()
        .filter(|(_, a)| matches!(a, Ok(Outcome::Accepted)))
        .map(|(right, _)| *right)
        .collect();
    ensure(rejected <= 3, "booking hammer", || {
        format!("{rejected} wrong codes answered; the limit is 3")
    })?;
    ensure(accepted.len() <= 1, "booking hammer", || {
        format!("accepted {} times", accepted.len())
    })?;
    ensure(
        accepted.iter().all(|right| *right),
        "booking hammer",
        || "accepted a wrong code".into(),
    )?;
    ensure(failures == rejected, "booking hammer", || {
        format!(
            "{rejected} wrong codes answered but {failures} counted: an answer came before its count"
        )
    })
}

fn hammer_verifier<S: Store>(store: &S) -> Result<(), Failure> {
    let keys = kit_keys()?;
    let context = Context::new("conformance").map_err(setup_failure)?;
    let policy = sprayer_policy()?;
    let service = Service::new(keys, policy, context).map_err(setup_failure)?;
    let ids: Vec<String> = (0..THREADS).map(|i| format!("sprayed-{i}")).collect();
    let mut wrong = Vec::new();
    for id in &ids {
        let booking = BookingId::new(id).map_err(setup_failure)?;
        wrong.push(wrong_code(
            io("verifier hammer", service.issue(store, booking, UNTIL, NOW))?.expose(),
        ));
    }
    let verifier = VerifierId::new("sprayer").map_err(setup_failure)?;
    let targets: Vec<(&String, &String)> = ids.iter().zip(&wrong).collect();
    let answers = release(|i| {
        let (id, typed) = targets
            .get(i)
            .copied()
            .ok_or_else(crate::Error::inconsistent)?;
        let booking = BookingId::new(id)?;
        service.verify(store, booking, typed, Some(verifier), NOW)
    })?;
    judge_spray(&answers)
}

/// The verifier hammer's policy: 4 digits, a budget of [`BUDGET`] a day, the most retries.
pub(crate) fn sprayer_policy() -> Result<Policy, Failure> {
    Policy::new(Digits::Four)
        .with_verifier_budget(BUDGET, 86_400)
        .and_then(|p| p.with_max_retries(Policy::MAX_RETRIES))
        .map_err(setup_failure)
}

/// The verifier hammer's verdict: no more wrong codes answered than the budget.
pub(crate) fn judge_spray(answers: &[Result<Outcome, crate::Error>]) -> Result<(), Failure> {
    let rejected = answers
        .iter()
        .filter(|a| matches!(a, Ok(o) if o.is_failure()))
        .count();
    ensure(rejected <= BUDGET as usize, "verifier hammer", || {
        format!("{rejected} wrong codes answered for one verifier; the budget is {BUDGET}")
    })
}
