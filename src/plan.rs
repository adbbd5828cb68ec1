//! Operations as sans-IO plans: which record to read, what to write, in which order, and
//! what to answer, decided without any I/O.
//!
//! A [`Plan`] says what it needs next ([`Next`]): a record loaded, a compare-and-swap made,
//! or nothing more (the answer). The driver that runs plans on a [`Store`](crate::Store) or an
//! [`AsyncStore`](crate::AsyncStore) only executes those calls and hands back their results;
//! it never decides. So one plan serves blocking and async hosts, and the order of a
//! verification's steps (suspension check, comparison, charge, write, settlement) is fixed
//! here, where the model tests and the fuzz target see it.
//!
//! A verification with a verifier budget runs, on the happy path:
//!
//! | step | store call | why |
//! |---|---|---|
//! | 1 | load the verifier | a suspended verifier is answered now, before anything about the booking or the input is read |
//! | 2 | load the booking | the gate (unknown, replay, closed, clock, malformed) and the comparison, all pure |
//! | 3 | swap the verifier (wrong codes only) | the wrong code is charged before it is counted or answered |
//! | 4 | swap the booking | the redemption or the counted failure lands; then it is answered |
//!
//! So an accepted code costs 3 round trips (2 without a budget) and a wrong one 4. A right
//! code is never charged, so an honest verifier with many requests in flight is never
//! suspended by them. If the booking changed between steps 2 and 4 so that the guess no
//! longer ends as a counted failure, the charge is given back (step 5); if that write is
//! lost too, the verifier stays charged: over-counted, never under. A retry with the same
//! request id finds its charge by tag and completes the original request instead of being
//! charged again.
//!
//! Each lost compare-and-swap reloads that record and decides again, at most
//! [`Policy::max_retries`](crate::Policy::max_retries) times per operation.

use crate::code::Code;
use crate::decide::{self, Charge, Compared, Decision, Outcome, Rules, Who};
use crate::derive::BookingId;
use crate::error::Error;
use crate::policy::VerifierBudget;
use crate::record::{Booking, Earlier, Record, Tag, Verifier, Version};
use crate::store::{Key, Swap};
use crate::time::Timestamp;

/// What a plan needs next.
// A record rides along with each write; the plan allocates nothing, so it is moved, not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Next<'a, T> {
    /// Load this key's record and pass it to [`Plan::loaded`].
    Load(Key<'a>),
    /// Compare-and-swap and pass the result to [`Plan::swapped`].
    Swap {
        /// The key.
        key: Key<'a>,
        /// The version the write expects (`None`: insert if absent).
        expected: Option<Version>,
        /// The record to store.
        record: Record,
        /// Its new version.
        new: Version,
    },
    /// Answer this: every write it depends on has landed.
    Done(Result<T, Error>),
    /// The last store call failed: answer its error.
    Fail,
}

/// A sans-IO operation. Call [`Plan::next`], execute what it asks, report the result, and
/// repeat until it says [`Next::Done`] or [`Next::Fail`].
pub trait Plan {
    /// What the operation answers.
    type Output;

    /// What to do next.
    fn next(&mut self) -> Next<'_, Self::Output>;

    /// The record the last [`Next::Load`] found.
    fn loaded(&mut self, found: Option<(Record, Version)>);

    /// What the last [`Next::Swap`] did.
    fn swapped(&mut self, swap: Swap);

    /// The last store call failed.
    fn failed(&mut self);
}

/// One record's key and, once loaded, what the plan knows of it.
#[derive(Debug)]
struct Slot<'a> {
    key: Key<'a>,
    known: Option<Option<(Record, Version)>>,
}

impl<'a> Slot<'a> {
    const fn new(key: Key<'a>) -> Self {
        Self { key, known: None }
    }

    fn version(&self) -> Option<Version> {
        self.known
            .as_ref()
            .and_then(Option::as_ref)
            .map(|(_, v)| *v)
    }
}

/// The version a write after `expected` stores, for a record created at `now` if new.
fn version_after(expected: Option<Version>, now: Timestamp) -> Result<Version, Error> {
    match expected {
        None => Version::first_at(now).ok_or(Error::Clock),
        Some(v) => v.next().ok_or(Error::Corrupt),
    }
}

/// The booking in a record read under a booking key; a verifier's record there is corrupt.
fn booking_of(found: Option<&(Record, Version)>) -> Result<Option<&Booking>, Error> {
    match found {
        None => Ok(None),
        Some((Record::Booking(b), _)) => Ok(Some(b)),
        Some((Record::Verifier(_), _)) => Err(Error::Corrupt),
    }
}

/// The verifier in a record read under a verifier key; a booking's record there is corrupt.
fn verifier_of(found: Option<&(Record, Version)>) -> Result<Option<&Verifier>, Error> {
    match found {
        None => Ok(None),
        Some((Record::Verifier(v), _)) => Ok(Some(v)),
        Some((Record::Booking(_), _)) => Err(Error::Corrupt),
    }
}

/// Lost races left before [`Error::Contention`].
#[derive(Debug)]
struct Tries(u8);

impl Tries {
    /// Counts a lost race; `false` once none are left.
    fn lost(&mut self) -> bool {
        match self.0.checked_sub(1) {
            Some(left) => {
                self.0 = left;
                true
            }
            None => false,
        }
    }
}

/// What a [`Single`] plan does to its booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// [`decide::issue`], valid until the time given.
    Issue(Timestamp),
    /// [`decide::resend`].
    Resend,
    /// [`decide::reissue`], valid until the time given.
    Reissue(Timestamp),
    /// [`decide::revoke`].
    Revoke,
}

/// An operation on one booking's record: issue, resend, re-issue or revoke. It answers the
/// code to send (`None` for a revoke).
#[derive(Debug)]
pub struct Single<'a, const N: usize> {
    rules: Rules<'a, N>,
    booking: BookingId<'a>,
    operation: Operation,
    slot: Slot<'a>,
    now: Timestamp,
    tries: Tries,
    /// The answer waiting on the write in flight.
    pending: Option<Option<Code>>,
    /// The answer to give.
    done: Option<Result<Option<Code>, Error>>,
    failed: bool,
}

impl<'a, const N: usize> Single<'a, N> {
    /// A plan that loads the booking's record, decides `operation` on it, and writes what it
    /// decides. On a lost race it reloads and decides again, at most
    /// [`Policy::max_retries`](crate::Policy::max_retries) times.
    #[must_use]
    pub fn new(
        rules: Rules<'a, N>,
        booking: BookingId<'a>,
        operation: Operation,
        now: Timestamp,
    ) -> Self {
        let key = Key::Booking {
            context: rules.context,
            id: booking,
        };
        let tries = Tries(rules.policy.max_retries());
        Self {
            rules,
            booking,
            operation,
            slot: Slot::new(key),
            now,
            tries,
            pending: None,
            done: None,
            failed: false,
        }
    }

    fn decide(&self, record: Option<&Booking>) -> Decision<Option<Code>> {
        let (rules, booking, now) = (&self.rules, self.booking, self.now);
        let code = |d: Decision<Code>| Decision {
            answer: d.answer.map(Some),
            next: d.next,
        };
        match self.operation {
            Operation::Issue(until) => code(decide::issue(rules, booking, record, until, now)),
            Operation::Resend => code(decide::resend(rules, booking, record, now)),
            Operation::Reissue(until) => code(decide::reissue(rules, booking, record, until, now)),
            Operation::Revoke => {
                let d = decide::revoke(record);
                Decision {
                    answer: d.answer.map(|()| None),
                    next: d.next,
                }
            }
        }
    }
}

impl<const N: usize> Plan for Single<'_, N> {
    type Output = Option<Code>;

    fn next(&mut self) -> Next<'_, Option<Code>> {
        if self.failed {
            return Next::Fail;
        }
        if let Some(done) = self.done.take() {
            return Next::Done(done);
        }
        let Some(found) = &self.slot.known else {
            return Next::Load(self.slot.key);
        };
        let record = match booking_of(found.as_ref()) {
            Ok(record) => record,
            Err(e) => return Next::Done(Err(e)),
        };
        let Decision { answer, next } = self.decide(record);
        let (answer, next) = match (answer, next) {
            (Ok(answer), Some(next)) => (answer, next),
            (answer, _) => return Next::Done(answer),
        };
        let expected = self.slot.version();
        let new = match version_after(expected, self.now) {
            Ok(new) => new,
            Err(e) => return Next::Done(Err(e)),
        };
        self.pending = Some(answer);
        Next::Swap {
            key: self.slot.key,
            expected,
            record: Record::Booking(next),
            new,
        }
    }

    fn loaded(&mut self, found: Option<(Record, Version)>) {
        self.slot.known = Some(found);
    }

    fn swapped(&mut self, swap: Swap) {
        let pending = self.pending.take();
        match (swap, pending) {
            (Swap::Swapped, Some(answer)) => self.done = Some(Ok(answer)),
            (Swap::Swapped, None) => self.done = Some(Err(Error::Corrupt)),
            (Swap::Conflict, _) => {
                self.slot.known = None;
                if !self.tries.lost() {
                    self.done = Some(Err(Error::Contention));
                }
            }
        }
    }

    fn failed(&mut self) {
        self.failed = true;
    }
}

/// Where a verification stands.
#[derive(Debug)]
enum Stage {
    /// Is the verifier suspended?
    Check,
    /// Read the booking and compare.
    Compare,
    /// Charge the verifier for a wrong code, then write the booking.
    Charge { next: Booking, left: u8 },
    /// Write the booking, then answer.
    Write { next: Booking, answer: Outcome },
    /// Give the verifier's charge back, then answer.
    Refund(Result<Outcome, Error>),
    /// Answer.
    Done(Result<Outcome, Error>),
    /// Answer the last store call's error.
    Failed,
}

/// What one step of a verification comes to.
enum Flow<'a> {
    /// A store call to make.
    Call(Next<'a, Outcome>),
    /// The stage to go on to.
    Go(Stage),
}

/// A verification (see the [module docs](self) for its steps). Its `Debug` output leaves
/// out what was typed.
pub struct Verify<'a, const N: usize> {
    rules: Rules<'a, N>,
    booking: BookingId<'a>,
    typed: &'a str,
    who: Who<'a>,
    now: Timestamp,
    /// The budget, when there is one and a verifier to charge.
    budget: Option<VerifierBudget>,
    tag: Option<Tag>,
    b: Slot<'a>,
    v: Option<Slot<'a>>,
    stage: Stage,
    /// The window start of a charge this request holds.
    charged: Option<Timestamp>,
    /// The verifier's record in flight, and its version: what the plan knows of it once
    /// the write lands.
    proposed: Option<(Record, Version)>,
    tries: Tries,
    max_retries: u8,
}

impl<const N: usize> core::fmt::Debug for Verify<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verify")
            .field("context", &self.rules.context)
            .field("booking", &self.booking)
            .field("typed", &"<redacted>")
            .field("who", &self.who)
            .field("now", &self.now)
            .field("stage", &self.stage)
            .field("charged", &self.charged)
            .finish_non_exhaustive()
    }
}

impl<'a, const N: usize> Verify<'a, N> {
    /// A verification of `typed` against `booking` in `rules.context`, by `who`, with the
    /// verifier's budget record kept under `scope` when the policy has a budget.
    #[must_use]
    pub fn new(
        rules: Rules<'a, N>,
        scope: crate::Context<'a>,
        booking: BookingId<'a>,
        typed: &'a str,
        who: Who<'a>,
        now: Timestamp,
    ) -> Self {
        let budget = rules
            .policy
            .verifier_budget()
            .filter(|_| who.verifier.is_some());
        let v = who
            .verifier
            .filter(|_| budget.is_some())
            .map(|id| Slot::new(Key::Verifier { scope, id }));
        let tag = who
            .request
            .filter(|_| budget.is_some())
            .map(|r| decide::charge_tag(rules.context, booking, r));
        let max_retries = rules.policy.max_retries();
        Self {
            b: Slot::new(Key::Booking {
                context: rules.context,
                id: booking,
            }),
            rules,
            booking,
            typed,
            who,
            now,
            budget,
            tag,
            v,
            stage: Stage::Check,
            charged: None,
            proposed: None,
            tries: Tries(max_retries),
            max_retries,
        }
    }

    /// The verifier as it stands now, if loaded: `Err` to answer instead.
    fn verifier_now(&self) -> Option<Result<Verifier, Error>> {
        let (slot, budget) = (self.v.as_ref()?, self.budget.as_ref()?);
        let found = slot.known.as_ref()?;
        Some(verifier_of(found.as_ref()).map(|v| decide::current(v, budget, self.now)))
    }

    /// Ends with `answer`, giving back a charge first unless the answer is the failure it
    /// paid for (now or in the replayed original).
    fn settle(&mut self, answer: Result<Outcome, Error>) -> Stage {
        let paid_for = matches!(
            answer,
            Ok(Outcome::Rejected { .. } | Outcome::Replayed(Earlier::Rejected { .. }))
        );
        if self.charged.is_some() && !paid_for {
            self.tries = Tries(self.max_retries);
            Stage::Refund(answer)
        } else {
            Stage::Done(answer)
        }
    }

    /// A swap of `record` over the slot's known version.
    fn swap(&mut self, booking: bool, record: Record) -> Next<'a, Outcome> {
        let slot = if booking {
            Some(&self.b)
        } else {
            self.v.as_ref()
        };
        let Some(slot) = slot else {
            return Next::Done(Err(Error::Corrupt));
        };
        let (key, expected) = (slot.key, slot.version());
        match version_after(expected, self.now) {
            Ok(new) => {
                if !booking {
                    self.proposed = Some((record, new));
                }
                Next::Swap {
                    key,
                    expected,
                    record,
                    new,
                }
            }
            Err(e) => Next::Done(Err(e)),
        }
    }

    /// One step of the state machine: a call to make, or the next stage.
    fn step(&mut self) -> Flow<'a> {
        match &mut self.stage {
            Stage::Check => {
                let Some(slot) = &self.v else {
                    return Flow::Go(Stage::Compare);
                };
                let current = match self.verifier_now() {
                    None => return Flow::Call(Next::Load(slot.key)),
                    Some(Err(e)) => return Flow::Go(Stage::Done(Err(e))),
                    Some(Ok(v)) => v,
                };
                if let Some(until) = decide::suspended(&current, self.tag.as_ref()) {
                    return Flow::Go(Stage::Done(Ok(Outcome::VerifierSuspended { until })));
                }
                if decide::charge(&current, self.tag.as_ref()) == Charge::Held {
                    self.charged = Some(current.window_start);
                }
                Flow::Go(Stage::Compare)
            }
            Stage::Compare => {
                let Some(found) = &self.b.known else {
                    return Flow::Call(Next::Load(self.b.key));
                };
                let record = match booking_of(found.as_ref()) {
                    Ok(record) => record,
                    Err(e) => return Flow::Go(self.settle(Err(e))),
                };
                let compared = decide::compare(
                    &self.rules,
                    self.booking,
                    record,
                    self.typed,
                    &self.who,
                    self.now,
                );
                Flow::Go(match compared {
                    Compared::Answer(answer) => self.settle(answer),
                    Compared::Right(next) => Stage::Write {
                        next,
                        answer: Outcome::Accepted,
                    },
                    Compared::Wrong(next, left) if self.v.is_some() && self.charged.is_none() => {
                        Stage::Charge { next, left }
                    }
                    Compared::Wrong(next, left) => Stage::Write {
                        next,
                        answer: Outcome::Rejected {
                            attempts_left: left,
                        },
                    },
                })
            }
            Stage::Charge { next, left } => {
                let (next, left) = (*next, *left);
                let current = match self.verifier_now() {
                    None => {
                        return Flow::Call(Next::Load(
                            self.v.as_ref().map_or(self.b.key, |s| s.key),
                        ));
                    }
                    Some(Err(e)) => return Flow::Go(Stage::Done(Err(e))),
                    Some(Ok(v)) => v,
                };
                match decide::charge(&current, self.tag.as_ref()) {
                    Charge::Suspended(until) => {
                        Flow::Go(Stage::Done(Ok(Outcome::VerifierSuspended { until })))
                    }
                    Charge::Held => {
                        self.charged = Some(current.window_start);
                        Flow::Go(Stage::Write {
                            next,
                            answer: Outcome::Rejected {
                                attempts_left: left,
                            },
                        })
                    }
                    Charge::Write(v) => Flow::Call(self.swap(false, Record::Verifier(v))),
                }
            }
            Stage::Write { next, .. } => {
                let next = *next;
                Flow::Call(self.swap(true, Record::Booking(next)))
            }
            Stage::Refund(answer) => {
                let answer = core::mem::replace(answer, Err(Error::Corrupt));
                let Some(window) = self.charged else {
                    return Flow::Go(Stage::Done(answer));
                };
                match self.verifier_now() {
                    None => match &self.v {
                        Some(slot) => {
                            let key = slot.key;
                            self.stage = Stage::Refund(answer);
                            Flow::Call(Next::Load(key))
                        }
                        None => Flow::Go(Stage::Done(answer)),
                    },
                    Some(Err(_)) => Flow::Go(Stage::Done(answer)),
                    Some(Ok(v)) => match decide::refund(&v, window, self.tag.as_ref()) {
                        Some(v) => {
                            self.stage = Stage::Refund(answer);
                            Flow::Call(self.swap(false, Record::Verifier(v)))
                        }
                        None => Flow::Go(Stage::Done(answer)),
                    },
                }
            }
            Stage::Done(answer) => {
                Flow::Call(Next::Done(core::mem::replace(answer, Err(Error::Corrupt))))
            }
            Stage::Failed => Flow::Call(Next::Fail),
        }
    }

    /// After a lost race: try again from `stage`, or give up with contention.
    fn retry(&mut self, stage: Stage) -> Stage {
        if self.tries.lost() {
            stage
        } else {
            self.settle(Err(Error::Contention))
        }
    }
}

impl<const N: usize> Plan for Verify<'_, N> {
    type Output = Outcome;

    fn next(&mut self) -> Next<'_, Outcome> {
        loop {
            match self.step() {
                Flow::Call(next) => return next,
                Flow::Go(stage) => self.stage = stage,
            }
        }
    }

    fn loaded(&mut self, found: Option<(Record, Version)>) {
        let slot = match self.stage {
            Stage::Compare if self.b.known.is_none() => Some(&mut self.b),
            _ => self.v.as_mut(),
        };
        if let Some(slot) = slot {
            slot.known = Some(found);
        }
    }

    fn swapped(&mut self, swap: Swap) {
        let proposed = self.proposed.take();
        let stage = core::mem::replace(&mut self.stage, Stage::Failed);
        self.stage = match (stage, swap) {
            (Stage::Charge { next, left }, Swap::Swapped) => {
                if let (Some(slot), Some((record, new))) = (self.v.as_mut(), proposed) {
                    slot.known = Some(Some((record, new)));
                    if let Record::Verifier(v) = record {
                        self.charged = Some(v.window_start);
                    }
                }
                Stage::Write {
                    next,
                    answer: Outcome::Rejected {
                        attempts_left: left,
                    },
                }
            }
            (stage @ Stage::Charge { .. }, Swap::Conflict) => {
                if let Some(slot) = self.v.as_mut() {
                    slot.known = None;
                }
                self.retry(stage)
            }
            (Stage::Write { answer, .. }, Swap::Swapped) => self.settle(Ok(answer)),
            (Stage::Write { .. }, Swap::Conflict) => {
                self.b.known = None;
                self.retry(Stage::Compare)
            }
            (Stage::Refund(answer), Swap::Swapped) => Stage::Done(answer),
            (Stage::Refund(answer), Swap::Conflict) => {
                if let Some(slot) = self.v.as_mut() {
                    slot.known = None;
                }
                if self.tries.lost() {
                    Stage::Refund(answer)
                } else {
                    Stage::Done(answer)
                }
            }
            (_, _) => Stage::Done(Err(Error::Corrupt)),
        };
    }

    fn failed(&mut self) {
        let stage = core::mem::replace(&mut self.stage, Stage::Failed);
        // A refund that cannot be written leaves the verifier charged: over-counted, never
        // under. The answer stands.
        if let Stage::Refund(answer) = stage {
            self.stage = Stage::Done(answer);
        }
    }
}
