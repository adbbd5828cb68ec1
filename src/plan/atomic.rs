//! The verification on a store with transactions ([`Store::TRANSACTIONS`](crate::Store::TRANSACTIONS)):
//! read, decide, and write the booking and the verifier's count together.
//!
//! | step | store call | why |
//! |---|---|---|
//! | 1 | load the verifier | a suspended (or busy) verifier is answered now, before anything about the booking or the input is read |
//! | 2 | load the booking | the gate (unknown, replay, closed, clock, malformed) and the comparison, all pure |
//! | 3 | [`compare_and_swap_all`](crate::Store::compare_and_swap_all): the booking, and the verifier | one transaction: the redemption, with the verifier's record checked unchanged; or the counted failure, with the verifier's failure written; each over the version it was decided on; then the answer |
//!
//! So a budgeted verification costs 3 store calls and one write transaction; without a
//! budget, 2 calls, as in the reservation mode; answers that compare nothing cost 2 calls and
//! write nothing. Nothing is reserved, so nothing is ever left held: a verification cut off
//! anywhere (a dropped future, a timeout, a killed process) has written everything or
//! nothing, and an honest verifier is never locked out by its own lost requests.
//!
//! The guarantees of the reservation mode hold here, for these reasons:
//! - **Suspended first.** A suspended verifier is answered from step 1, with nothing about
//!   the booking read.
//! - **No answer before its count.** The answer is given only once step 3 has landed, and a
//!   wrong code's failure is in that write, on the booking and on the verifier.
//! - **At most the budget.** Every comparison's transaction is conditional on the
//!   verifier's version it was decided on, and a wrong code's changes that version. Of the
//!   wrong codes decided on one version, one lands; the others reload and decide again, and
//!   a verifier whose failures reached its limit is answered suspended. So no more wrong
//!   codes than the budget are answered in a window, however many are in flight. A right
//!   code lands only while no failure has landed since it was decided (a suspension among
//!   them), and counts nothing: right codes of one verifier never race each other.
//! - **Replays by request id.** A retry of a request whose answer was written finds it on
//!   the booking and replays it, counting nothing (its failure was counted with it).
//!
//! One store, one mode: a verifier's record may still hold budget slots reserved by a
//! service that ran the reservation mode on the same store (a host's wrapper, a switch of
//! modes during a rolling upgrade). They count here as they do there (the verifier is busy
//! while they fill its budget) and are settled by their own requests' retries in that mode,
//! or end with their window; this plan neither takes nor settles them. Switching a store's
//! mode takes at most one budget window to drain.
//!
//! A lost race reloads both records and decides again, at most
//! [`Policy::max_retries`](crate::Policy::max_retries) times; then [`Error::Contention`],
//! with nothing written. A store error answers the error: the write landed whole or not at
//! all, and a retry with the request id replays it if it landed.

use crate::audit::{Action, Entry, Events};
use crate::decide::{self, Compared, Rules, Standing, Who};
use crate::derive::BookingId;
use crate::error::Error;
use crate::key::Key;
use crate::outcome::Outcome;
use crate::plan::{Charge, Next, Plan};
use crate::record::{Record, Verifier, Version};
use crate::store::Swap;
use crate::time::Timestamp;

use super::{
    Asked, Tries, booking_of, charge, replay_rests_on_booking, verdict_action, verifier_of,
    version_after,
};

/// Where an atomic verification stands.
// The transaction is kept here and lent to the driver, so `Next` stays small.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum State<'a> {
    /// Read the verifier (when a budget pays) and the booking, and decide.
    Read,
    /// The writes of step 3 are in flight: answer `answer` once they land. Without a
    /// budget (`verifier` is `None`) the booking's write is a plain compare-and-swap.
    Writing {
        answer: Outcome,
        booking: (Entry<'a>, Record),
        verifier: Option<Charge<'a>>,
    },
    /// Answer.
    Done(Result<Outcome, Error>),
    /// Answer the last store call's error.
    Failed,
}

/// What step 1 or 2 comes to when it is not the transaction: a load, or an answer that
/// writes nothing.
enum Early<'a> {
    Load(Key<'a>),
    Answer(Result<Outcome, Error>),
}

/// The verifier's record as step 1 read it: where it stands now, its version, its key.
struct Read<'a> {
    current: Verifier,
    version: Option<Version>,
    key: Key<'a>,
}

/// A verification on a store with transactions (see the [module docs](self)). Its `Debug`
/// output leaves out what was typed.
pub(crate) struct Atomic<'a> {
    ask: Asked<'a>,
    state: State<'a>,
    tries: Tries,
    /// Whether the writes landed (the answer was told with them).
    wrote: bool,
}

impl core::fmt::Debug for Atomic<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.ask.debug(f, "Atomic", |d| {
            d.field("state", &self.state);
        })
    }
}

impl<'a> Atomic<'a> {
    /// A verification of `typed` against `booking` in `rules.context`, by `who`, with the
    /// verifier's budget record kept under `scope` when the policy has a budget.
    #[must_use]
    pub(crate) fn new(
        rules: Rules<'a>,
        scope: crate::Context<'a>,
        booking: BookingId<'a>,
        typed: &'a str,
        who: Who<'a>,
        now: Timestamp,
    ) -> Self {
        let tries = Tries::new(rules.policy.max_retries());
        Self {
            ask: Asked::new(rules, scope, booking, typed, who, now),
            state: State::Read,
            tries,
            wrote: false,
        }
    }

    /// Step 1: the verifier as it stands now, once loaded (`None` without a budget), or the
    /// load or answer that comes first.
    fn verifier(&self) -> Result<Option<Read<'a>>, Early<'a>> {
        let (Some(slot), Some(budget)) = (&self.ask.v, &self.ask.budget) else {
            return Ok(None);
        };
        let Some(found) = &slot.known else {
            return Err(Early::Load(slot.key));
        };
        let current = match verifier_of(found.as_ref()) {
            Ok(v) => decide::current(v, budget, self.ask.now),
            Err(e) => return Err(Early::Answer(Err(e))),
        };
        match decide::standing(&current, None) {
            Standing::Clear => Ok(Some(Read {
                current,
                version: slot.version(),
                key: slot.key,
            })),
            Standing::Suspended(until) => {
                Err(Early::Answer(Ok(Outcome::VerifierSuspended { until })))
            }
            Standing::Busy => Err(Early::Answer(Err(Error::BudgetBusy {
                retry_at: decide::busy_until(&current, self.ask.now),
            }))),
        }
    }

    /// Steps 1 to 3: the next load or the answer that writes nothing, or (`Ok`) the
    /// transaction, kept in the state.
    fn read(&mut self) -> Result<(), Early<'a>> {
        let verifier = self.verifier()?;
        let Some(found) = &self.ask.b.known else {
            return Err(Early::Load(self.ask.b.key));
        };
        let record = booking_of(found.as_ref()).map_err(|e| Early::Answer(Err(e)))?;
        let compared = decide::compare(
            &self.ask.rules,
            self.ask.booking,
            record,
            self.ask.typed,
            &self.ask.who,
            self.ask.now,
        );
        let (mut next, answer) = match compared {
            Compared::Answer(answer) => return Err(Early::Answer(answer)),
            Compared::Replay(answer) => {
                self.ask.b.answered_from = replay_rests_on_booking(&answer);
                return Err(Early::Answer(answer));
            }
            Compared::Right(next) => (next, Outcome::Accepted),
            Compared::Wrong(next, left) => (
                next,
                Outcome::Rejected {
                    attempts_left: left,
                },
            ),
        };
        let prior = self.ask.b.version();
        let version = version_after(prior, self.ask.now).map_err(|e| Early::Answer(Err(e)))?;
        let booking = Entry {
            key: self.ask.b.key,
            prior,
            version,
            audit: self.ask.audit(verdict_action(answer)),
        };
        let verifier = match verifier {
            None => None,
            // A right code counts nothing: the verifier's record is only checked unchanged.
            Some(read) if !answer.is_failure() => Some(Charge::Unchanged(read.key, read.version)),
            Some(read) => {
                let charged = decide::charge(&read.current)
                    .map_err(|_| Early::Answer(Err(Error::inconsistent())))?;
                let action = if charged.failures >= charged.limit {
                    Action::Suspended {
                        until: charged.window_end(),
                    }
                } else {
                    Action::BudgetSettled { failed: true }
                };
                let audit = self.ask.audit(action);
                let (charge, id) =
                    charge::write(read.key, read.version, charged, self.ask.now, audit)
                        .map_err(|e| Early::Answer(Err(e)))?;
                // The verifier version written with the rejection paid for its comparison.
                if let Some(last) = next.last.as_mut() {
                    last.paid_by = id;
                }
                Some(charge)
            }
        };
        self.state = State::Writing {
            answer,
            booking: (booking, Record::Booking(next)),
            verifier,
        };
        Ok(())
    }
}

impl Plan for Atomic<'_> {
    type Output = Outcome;

    fn next(&mut self) -> Next<'_, Outcome> {
        if let State::Read = self.state {
            match self.read() {
                Ok(()) => {}
                Err(Early::Load(key)) => return Next::Load(key),
                Err(Early::Answer(answer)) => return Next::Done(answer),
            }
        }
        match &mut self.state {
            State::Writing {
                booking: (entry, record),
                verifier: None,
                ..
            } => Next::Swap {
                record: *record,
                entry: *entry,
            },
            State::Writing {
                booking,
                verifier: Some(verifier),
                ..
            } => Next::Commit { booking, verifier },
            State::Done(answer) => {
                Next::Done(core::mem::replace(answer, Err(Error::inconsistent())))
            }
            State::Failed => Next::Fail,
            State::Read => Next::Done(Err(Error::inconsistent())),
        }
    }

    fn loaded(&mut self, found: Option<(Record, Version)>) {
        // The verifier is read first, the booking once it is known.
        let slot = match self.ask.v.as_mut() {
            Some(v) if v.known.is_none() => v,
            _ => &mut self.ask.b,
        };
        slot.known = Some(found);
    }

    fn swapped(&mut self, swap: Swap) {
        let state = core::mem::replace(&mut self.state, State::Failed);
        self.state = match (state, swap) {
            (State::Writing { answer, .. }, Swap::Swapped) => {
                self.wrote = true;
                State::Done(Ok(answer))
            }
            (State::Writing { .. }, Swap::Conflict) => {
                if self
                    .tries
                    .lost_race([Some(&mut self.ask.b), self.ask.v.as_mut()])
                {
                    State::Read
                } else {
                    State::Done(Err(Error::Contention))
                }
            }
            _ => State::Done(Err(Error::inconsistent())),
        };
    }

    fn failed(&mut self) {
        self.state = State::Failed;
    }

    fn answered(&self, answer: &Result<Outcome, Error>, sink: &dyn Events) {
        // An answer whose writes landed was told with them.
        self.ask.answered(answer, self.wrote, sink);
    }

    fn rests_on(&self) -> Option<(Key<'_>, Version)> {
        self.ask.b.rests_on()
    }
}
