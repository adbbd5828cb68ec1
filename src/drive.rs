//! The driver: runs a [`Plan`] on an [`AsyncStore`], and never decides anything.
//!
//! Each operation is one call of [`drive`] on the plan its service method built. An
//! [`AsyncStore`] is awaited for real. A blocking [`Store`] is driven through [`Ready`], whose
//! every call answers at once, so the driver's future is complete on its first poll: the
//! blocking operations poll it once, with no runtime and no thread ([`ready`]).

use core::future::Future;
use core::pin::pin;
use core::task::{Context as TaskContext, Poll, Waker};

mod undecodable;

use crate::audit::Events;
use crate::error::Error;
use crate::plan::{Charge, Next, Plan};
use crate::store::{AsyncStore, Store, Swap};

/// A blocking [`Store`] as the driver's [`AsyncStore`]: each call is made on the caller's
/// thread and its future is ready at once, so a plan driven on it completes on its first
/// poll ([`ready`]). Private: the crate has no public bridge from a blocking store to an
/// async one.
pub(crate) struct Ready<'s, S>(pub(crate) &'s S);

crate::store::async_at_once!(impl ['s, S: Store] AsyncStore for Ready<'s, S>, calling S as |this| this.0);

/// Awaits a store call; with feature `metrics`, records how long it took in the histogram
/// `handover_store_call_seconds`, labelled by `operation`. Without it, only the `.await`.
macro_rules! timed {
    ($operation:literal, $call:expr) => {{
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let answer = $call.await;
        #[cfg(feature = "metrics")]
        metrics::histogram!("handover_store_call_seconds", "operation" => $operation)
            .record(started.elapsed().as_secs_f64());
        answer
    }};
}

/// The store calls one operation may make before the driver stops it as stuck.
const MAX_CALLS: u32 = 4_096;

/// Runs `plan` to its answer: executes each call it asks for and reports the result back.
/// The answer is returned only when the plan says so, after every write it needs has landed.
/// Each write that lands is told to `sink` as it lands, and the answer once it is given
/// ([`Plan::answered`]); nothing is told of a write that failed or lost its race.
pub(crate) async fn drive<S: AsyncStore, P: Plan>(
    b: &S,
    sink: &dyn Events,
    mut plan: P,
) -> Result<P::Output, Error> {
    let mut last = None;
    let mut calls: u32 = 0;
    loop {
        // No plan needs this many store calls (a verification's retries and settlements
        // come to about 1,100 at most): one that asks for more is stuck, and is stopped
        // before it answers anything.
        calls = calls.saturating_add(1);
        if calls > MAX_CALLS {
            return Err(Error::stuck());
        }
        match plan.next() {
            Next::Load(key) => match timed!("load", b.load(key)) {
                Ok(found) => plan.loaded(found),
                Err(e) => {
                    last = Some(undecodable::loading(Error::store(e), key));
                    plan.failed();
                }
            },
            Next::Swap { record, entry } => match timed!(
                "compare_and_swap",
                b.compare_and_swap_audited(&entry, &record)
            ) {
                Ok(swap) => {
                    if swap == Swap::Swapped {
                        entry.tell(&record, sink);
                    }
                    plan.swapped(swap);
                }
                Err(e) => {
                    last = Some(Error::store(e));
                    plan.failed();
                }
            },
            Next::Commit { booking, verifier } => {
                let (booking, verifier) = (*booking, *verifier);
                let result = match verifier {
                    Charge::Write(entry, record) => {
                        timed!(
                            "commit",
                            b.compare_and_swap_all(&[booking, (entry, record)], &[])
                        )
                    }
                    Charge::Unchanged(key, version) => {
                        timed!(
                            "commit",
                            b.compare_and_swap_all(&[booking], &[(key, version)])
                        )
                    }
                };
                match result {
                    Ok(swap) => {
                        if swap == Swap::Swapped {
                            booking.0.tell(&booking.1, sink);
                            if let Charge::Write(entry, record) = verifier {
                                entry.tell(&record, sink);
                            }
                        }
                        plan.swapped(swap);
                    }
                    Err(e) => {
                        last = Some(Error::store(e));
                        plan.failed();
                    }
                }
            }
            Next::Done(answer) => {
                // An answer read from a record, not written, is given once that record is
                // as durable as a write would have made it.
                let answer = match (answer, plan.rests_on()) {
                    (Ok(answer), Some((key, version))) => {
                        match timed!("make_durable", b.make_durable(key, version)) {
                            Ok(Swap::Swapped) => Ok(answer),
                            Ok(Swap::Conflict) => Err(Error::Contention),
                            Err(e) => Err(Error::store(e)),
                        }
                    }
                    (answer, _) => answer,
                };
                plan.answered(&answer, sink);
                return answer;
            }
            Next::Fail => return Err(last.unwrap_or_else(Error::inconsistent)),
        }
    }
}

/// Polls a future built only from synchronous store calls, which is complete on its first
/// poll. Were it ever not, the operation fails closed as contention: nothing was answered.
// Inlined into each operation, so the driver's future (over a kilobyte for a verification)
// is built where it is polled instead of being moved there: a verification copies less.
#[inline(always)]
pub(crate) fn ready<T>(future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    poll_once(future).unwrap_or(Err(Error::Contention))
}

/// Polls a future once: its output, if it is complete.
#[inline(always)] // as `ready`, which calls it
pub(crate) fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
