//! The shared-store scenarios: what a host sees when several services, policies and
//! verifiers meet on one store, and the attacks the reviews found, each on a fresh store.
//!
//! [`check_scenarios`] runs every one of them on a [`Store`] (and [`check_scenarios_async`]
//! on an [`AsyncStore`](crate::AsyncStore), feature `conformance-tokio`): contexts that never
//! touch each other, the record's limits winning over the reader's, a verifier's window
//! and a scope shared on purpose, a suspended verifier learning nothing, a busy honest
//! verifier never suspended, send limits under 64 threads, replays by request id, a prune
//! between a verification's load and its write, 64 codes at once under one request id, a
//! nearly spent budget, and the races that pause one verification between two store calls
//! while others act. The races of the reservation (holds shared, moved on, freed) run on a
//! store without [`Store::TRANSACTIONS`]; the race of the transaction mode (a comparison
//! decided on an old verifier record) on a store with them. Run a store with transactions
//! once more through [`WithoutTransactions`](super::WithoutTransactions) for the other mode:
//!
//! ```
//! use handover_code::conformance::{self, WithoutTransactions};
//! use handover_code::MemoryStore;
//!
//! conformance::check_scenarios(MemoryStore::new)?;
//! conformance::check_scenarios(|| WithoutTransactions(MemoryStore::new()))?;
//! # Ok::<(), handover_code::conformance::Failure>(())
//! ```
//!
//! A scenario that fails answers a [`Failure`] naming it, with what it saw and the line of
//! the kit that saw it; the kit never panics on what a store answers.

use std::format;
use std::string::String;
use std::thread;
use std::vec::Vec;

use crate::code::Digits;
use crate::derive::{BookingId, Context};
use crate::error::Error;
use crate::ids::RequestId;
use crate::key::Key;
use crate::keyring::{KeyId, Keyring};
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::record::{Record, Verifier};
use crate::secret::Secret;
use crate::service::Service;
use crate::store::{Store, VerifierId};
use crate::time::Timestamp;
use crate::who::Attempt;

use super::Failure;

/// What a scenario comes to: `Err` says what it saw.
type Checked = Result<(), String>;

/// Ends the scenario with what it saw unless `cond` holds.
macro_rules! ensure {
    ($cond:expr $(,)?) => {
        ensure!($cond, "{}", stringify!($cond))
    };
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(std::format!("{}:{}: {}", file!(), line!(), std::format!($($why)+)));
        }
    };
}

/// Ends the scenario with both values unless they are equal.
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {
        ensure_eq!($left, $right, "")
    };
    ($left:expr, $right:expr, $($why:tt)+) => {
        if let (left, right) = (&$left, &$right)
            && *left != *right
        {
            return Err(std::format!(
                "{}:{}: {} is {:?}, not {:?} {}",
                file!(),
                line!(),
                stringify!($left),
                left,
                right,
                std::format!($($why)+)
            ));
        }
    };
}

/// Ends the scenario unless the values differ.
macro_rules! ensure_ne {
    ($left:expr, $right:expr $(,)?) => {
        ensure_ne!($left, $right, "{} == {}", stringify!($left), stringify!($right))
    };
    ($left:expr, $right:expr, $($why:tt)+) => {
        if let (left, right) = (&$left, &$right)
            && *left == *right
        {
            return Err(std::format!("{}:{}: {}", file!(), line!(), std::format!($($why)+)));
        }
    };
}

mod attacks;
mod contexts;
mod pausing;
mod races;
mod sends;

#[cfg(feature = "conformance-tokio")]
pub use check_async::check_scenarios_async;

/// Runs every scenario on a fresh store from `factory`, in the store's own mode
/// ([`Store::TRANSACTIONS`]).
///
/// # Errors
///
/// The first scenario's [`Failure`]: its name, and what it saw.
pub fn check_scenarios<S, F>(factory: F) -> Result<(), Failure>
where
    S: Store,
    F: Fn() -> S,
{
    macro_rules! run {
        ($($module:ident::$name:ident),+ $(,)?) => {
            $(
                $module::$name(&factory()).map_err(|detail| Failure {
                    check: concat!("scenario ", stringify!($name)),
                    detail,
                })?;
            )+
        };
    }
    run!(
        contexts::contexts_never_touch_each_other,
        contexts::the_record_limits_win_both_ways,
        contexts::a_verifier_record_keeps_its_window_and_limit,
        contexts::a_named_scope_shares_one_budget_across_contexts,
        contexts::nothing_that_compared_no_code_stays_charged,
        attacks::a_suspended_verifier_learns_nothing,
        attacks::a_busy_honest_verifier_is_never_suspended,
        attacks::one_request_id_many_codes_at_once_gets_one_comparison,
        attacks::alternating_request_ids_pay_for_every_comparison,
        attacks::a_nearly_spent_budget_allows_one_comparison_at_a_time,
        attacks::mixed_budgets_on_one_scope_under_threads,
        sends::send_limits_hold_under_threads,
        sends::retries_with_a_request_id_get_the_original_answer,
        sends::reissue_refuses_a_clock_before_the_issue,
        sends::prune_between_load_and_write_lands_nothing,
    );
    if S::TRANSACTIONS {
        run!(races::a_comparison_decided_on_an_old_verifier_is_decided_again);
    } else {
        // The reservation's holds: only a store without transactions takes them.
        run!(
            races::a_shared_hold_pays_for_one_write_only,
            races::a_lost_race_moves_the_hold_on,
            races::a_lost_race_with_nothing_to_compare_frees_the_hold,
            races::a_hold_adopted_in_the_race_is_not_moved,
            races::a_retry_holding_the_paying_slot_settles_it_as_the_failure,
        );
    }
    Ok(())
}

#[cfg(feature = "conformance-tokio")]
mod check_async {
    use tokio::runtime::{Handle, RuntimeFlavor};

    use super::check_scenarios;
    use crate::conformance::{Blocking, Failure};
    use crate::store::AsyncStore;

    /// [`check_scenarios`] on an [`AsyncStore`]: the scenarios' threads drive each store made
    /// by `factory` through `runtime` ([`Blocking`]). Call it from a plain thread (a
    /// `#[test]`, not inside the runtime) with a multi-thread runtime's handle, whose
    /// workers run the store's I/O while the kit's threads wait.
    ///
    /// ```
    /// use handover_code::conformance::{self, WithoutTransactions};
    /// use handover_code::MemoryStore;
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    /// conformance::check_scenarios_async(MemoryStore::new, runtime.handle())?;
    /// conformance::check_scenarios_async(|| WithoutTransactions(MemoryStore::new()), runtime.handle())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first scenario's [`Failure`], or one saying the call came from inside a runtime or
    /// with a current-thread runtime (where the kit's threads could not be served).
    pub fn check_scenarios_async<S, F>(factory: F, runtime: &Handle) -> Result<(), Failure>
    where
        S: AsyncStore,
        F: Fn() -> S,
    {
        if Handle::try_current().is_ok() {
            return Err(Failure {
                check: "setup",
                detail: "called from inside a tokio runtime: call it from a plain thread".into(),
            });
        }
        if runtime.runtime_flavor() != RuntimeFlavor::MultiThread {
            return Err(Failure {
                check: "setup",
                detail: "a current-thread runtime cannot serve the kit's threads: pass a \
                         multi-thread runtime's handle"
                    .into(),
            });
        }
        check_scenarios(|| Blocking {
            store: factory(),
            handle: runtime.clone(),
        })
    }
}

/// The scenarios' clock.
const T0: Timestamp = Timestamp(1_700_000_000);
/// The scenarios' expiry.
const UNTIL: Timestamp = Timestamp(1_700_086_400);
/// Threads released together.
const THREADS: usize = super::THREADS;
/// How long a scenario's threads wait for each other's hand-off.
const HANDOFF: core::time::Duration = core::time::Duration::from_secs(10);
/// How long the scenarios retry a busy budget.
const RETRY_FOR: core::time::Duration = core::time::Duration::from_secs(30);

/// A failure of the kit's own making, or of a store call, as what a scenario saw.
trait OrFail<T> {
    /// `Err` with where it happened and what came back.
    fn or_fail(self) -> Result<T, String>;
}

impl<T, E: core::fmt::Debug> OrFail<T> for Result<T, E> {
    #[track_caller]
    fn or_fail(self) -> Result<T, String> {
        let at = core::panic::Location::caller();
        self.map_err(|e| format!("{}:{}: {e:?}", at.file(), at.line()))
    }
}

impl<T> OrFail<T> for Option<T> {
    #[track_caller]
    fn or_fail(self) -> Result<T, String> {
        let at = core::panic::Location::caller();
        self.ok_or_else(|| format!("{}:{}: nothing there", at.file(), at.line()))
    }
}

fn keys() -> Result<std::sync::Arc<Keyring>, String> {
    Ok(Keyring::new(KeyId(1), Secret::from_bytes(&[0x37; 32]).or_fail()?).into())
}

fn id(s: &str) -> Result<BookingId<'_>, String> {
    BookingId::new(s).or_fail()
}

fn ctx(s: &str) -> Result<Context<'_>, String> {
    Context::new(s).or_fail()
}

fn who(s: &str) -> Result<Option<VerifierId<'_>>, String> {
    VerifierId::new(s).map(Some).or_fail()
}

fn request(s: &str) -> Result<RequestId<'_>, String> {
    RequestId::new(s).or_fail()
}

/// 4 digits, a verifier budget of `failures` per `window` seconds, and the most conflict
/// retries (64 threads at once contend).
fn budgeted(failures: u32, window: u64) -> Result<Policy, String> {
    Policy::new(Digits::Four)
        .with_verifier_budget(failures, window)
        .or_fail()?
        .with_max_retries(Policy::MAX_RETRIES)
        .or_fail()
}

/// A code of the same length as `right` other than it, different for each `k` (below
/// `10^len − 1`): `right` plus `1 + k`, wrapped to its digits.
fn wrong(right: &str, k: usize) -> String {
    let width = right.len();
    let modulus = (0..width).fold(1u64, |m, _| m.saturating_mul(10));
    let value = right.bytes().fold(0u64, |v, b| {
        v.saturating_mul(10)
            .saturating_add(u64::from(b.wrapping_sub(b'0')))
    });
    let step = u64::try_from(k)
        .unwrap_or(0)
        .checked_rem(modulus.saturating_sub(1))
        .unwrap_or(0);
    let next = value
        .saturating_add(1)
        .saturating_add(step)
        .checked_rem(modulus)
        .unwrap_or(0);
    format!("{next:0width$}")
}

/// Runs `f(i)` on [`THREADS`] threads released together (the kit's release, its failure
/// told as a scenario's).
fn release<T: Send>(f: impl Fn(usize) -> T + Sync) -> Result<Vec<T>, String> {
    super::release(f).map_err(|failure| failure.detail)
}

/// The booking ids of `names`.
fn ids(names: &[String]) -> Result<Vec<BookingId<'_>>, String> {
    names.iter().map(|n| id(n)).collect()
}

/// Retries `verify` while the budget is busy, as a host would, for at most [`RETRY_FOR`] (a
/// slot leaked by a store fault would otherwise keep it busy until the window ends; the busy
/// answer then fails the scenario instead of hanging it).
fn verify_retrying<S: Store>(
    service: &Service,
    store: &S,
    booking: BookingId<'_>,
    typed: &str,
    verifier: Option<VerifierId<'_>>,
    request: Option<RequestId<'_>>,
    now: Timestamp,
) -> Result<Outcome, Error> {
    let started = std::time::Instant::now();
    loop {
        let answer = match request {
            Some(r) => service.verify(
                store,
                booking,
                typed,
                Attempt::from(verifier).request(&r),
                now,
            ),
            None => service.verify(store, booking, typed, verifier, now),
        };
        if !matches!(answer, Err(Error::BudgetBusy { .. })) || started.elapsed() > RETRY_FOR {
            return answer;
        }
        thread::yield_now();
    }
}

/// The verifier's record under `scope`; `Err` when there is none.
fn verifier_record<S: Store>(store: &S, scope: &str, verifier: &str) -> Result<Verifier, String> {
    verifier_record_if_any(store, scope, verifier)?
        .ok_or_else(|| format!("{verifier} has no verifier record"))
}

/// The verifier's record under `scope`, or `None` when none was ever written; `Err` when the
/// key holds another kind of record.
fn verifier_record_if_any<S: Store>(
    store: &S,
    scope: &str,
    verifier: &str,
) -> Result<Option<Verifier>, String> {
    let key = Key::Verifier {
        scope: ctx(scope)?,
        id: VerifierId::new(verifier).or_fail()?,
    };
    match store.load(key).or_fail()? {
        Some((Record::Verifier(v), _)) => Ok(Some(v)),
        None => Ok(None),
        Some(other) => Err(format!("{verifier}: {other:?}")),
    }
}
