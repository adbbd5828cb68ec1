//! Operations as sans-IO plans: which record to read, what to write, in which order, and
//! what to answer, decided without any I/O.
//!
//! A [`Plan`] says what it needs next ([`Next`]): a record loaded, a compare-and-swap made,
//! or nothing more (the answer). The driver that runs plans on a [`Store`](crate::Store) or an
//! [`AsyncStore`](crate::AsyncStore) only executes those calls and hands back their results;
//! it never decides. So one plan serves blocking and async hosts, and the order of a
//! verification's steps (suspension check, comparison, then the writes: one transaction, or
//! a budget slot, the booking and the settlement) is fixed here, where the model tests and
//! the fuzz target see it.
//!
//! A verification runs in one of two modes, chosen by its store. On a store with
//! transactions ([`Store::TRANSACTIONS`](crate::Store::TRANSACTIONS): the memory store,
//! SQLite, PostgreSQL) it reads both records and writes them together, reserving nothing:
//! see [`atomic`]. On a store that writes one key at a time (Redis, a host's store that does
//! not opt in), a verification with a verifier budget reserves a slot first, and runs, on
//! the happy path:
//!
//! | step | store call | why |
//! |---|---|---|
//! | 1 | load the verifier | a suspended (or busy) verifier is answered now, before anything about the booking or the input is read |
//! | 2 | load the booking | the gate (unknown, replay, closed, clock, malformed) and the comparison, all pure |
//! | 3 | swap the verifier | a budget slot is held for the comparison before it is answered |
//! | 4 | swap the booking | the redemption or the counted failure lands |
//! | 5 | swap the verifier | the slot is settled: a failure for a wrong code, freed otherwise; then the answer |
//!
//! So a verification costs 5 round trips with a budget and 2 without; answers that compare
//! nothing (unknown, closed, malformed, clock, replay) cost 2 and hold nothing. Every
//! comparison holds a slot first, so however many verifications one verifier has in flight,
//! at most `limit − failures` codes are being compared at once and no more wrong codes than
//! the budget are ever answered in a window. A verifier is suspended only by settled
//! failures; while its own verifications in flight hold the rest of the budget it is
//! answered [`Error::BudgetBusy`], a retryable error, not a suspension.
//!
//! A verification cut off between its steps (a dropped future, a timeout) leaves its slot
//! held until the window ends: over-counted, never under. With a request id the slot is a
//! [`Hold`] naming the request and the booking version it was taken on, and a retry of the
//! request settles it: if the original's answer was written, the retry replays it and settles
//! the hold as that answer; if the booking has not moved since the hold was taken, the retry
//! completes the comparison on it. A hold pays only for a write over the booking version it
//! was taken on: a retry never adopts a hold taken on another version, and marks the hold it
//! adopts as shared in the same compare-and-swap that tells the original. A plan whose
//! booking write lost a race moves its hold on to the booking's new version for its next
//! comparison (a compare-and-swap of the verifier's record), or frees it if it compares
//! nothing more, unless a retry has adopted it: a shared hold stays where it is, for the
//! one write over its version it may pay for, and the plan pays for its next comparison with
//! a new slot. Only one write can land on one version, so one hold never pays for two
//! answered comparisons, and an honest verifier's lost race costs its budget nothing.
//!
//! A wrong code is answered [`Outcome::Rejected`] only once its failure is settled on the
//! verifier's record. A settlement that cannot land (a store fault, or more lost races than
//! the budget's other holders can cause) answers a retryable error instead: the store's, or
//! [`Error::Contention`]; the booking's count has landed, and a retry with the request id
//! settles the failure and replays the rejection. So every rejection a verifier is told of on
//! its first answer is counted on its record, and a sprayer is suspended at its limit, never
//! left holding slots that look like verifications in flight. Freeing a slot for any other
//! answer is not waited for in the same way: a slot left held is over-counted, never under,
//! and the answer stands.
//!
//! What a retry cannot do: settle a slot that was only counted. A verifier's record
//! remembers [`Verifier::HOLDS`] holds by request; further slots are counted without one,
//! and a retry cannot tell whether such a slot was settled already (settling it twice would
//! free someone else's), so a retry whose original held one, and could not settle it,
//! replays the rejection and leaves the slot held until the window ends: over-counted, never
//! under, but not a failure towards suspension.
//!
//! Each lost compare-and-swap reloads that record and decides again, at most
//! [`Policy::max_retries`](crate::Policy::max_retries) times per operation, and a settlement
//! as many more times as the budget's slots can write (twice each).

mod asked;
pub mod atomic;

use asked::Asked;
pub use atomic::Atomic;

use crate::audit::{Action, Audit, Entry, Event, Events, Send};
use crate::code::Code;
use crate::decide::{self, Compared, Decision, Rules, Standing, Who, Window};
use crate::derive::BookingId;
use crate::error::Error;
use crate::key::Key;
use crate::outcome::Outcome;
use crate::policy::VerifierBudget;
use crate::record::{Booking, Earlier, Hold, Record, Tag, Verifier, Version};
use crate::store::{Swap, Tries};
use crate::time::Timestamp;
use crate::who::Override;

/// What a plan needs next.
// A record rides along with each write; the plan allocates nothing, so it is moved, not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Next<'a, T> {
    /// Load this key's record and pass it to [`Plan::loaded`].
    Load(Key<'a>),
    /// Compare-and-swap and pass the result to [`Plan::swapped`]: store `record` under
    /// `entry.key` if its version is `entry.prior` (`None`: insert if absent), as version
    /// `entry.version`, appending `entry` to the store's audit log in the same write
    /// ([`Store::compare_and_swap_audited`](crate::Store::compare_and_swap_audited)).
    Swap {
        /// The record to store.
        record: Record,
        /// The key, the versions and what the write does.
        entry: Entry<'a>,
    },
    /// In one transaction
    /// ([`Store::compare_and_swap_all`](crate::Store::compare_and_swap_all)), compare-and-swap
    /// the booking and do the verifier's part, then pass the result to [`Plan::swapped`]:
    /// all of it lands or none. Asked only of a store with
    /// [`Store::TRANSACTIONS`](crate::Store::TRANSACTIONS).
    Commit {
        /// The booking's write: its entry (key, versions, what it does) and record.
        booking: &'a (Entry<'a>, Record),
        /// The verifier's part.
        verifier: &'a Charge<'a>,
    },
    /// Answer this: every write it depends on has landed.
    Done(Result<T, Error>),
    /// The last store call failed: answer its error.
    Fail,
}

/// The verifier's part of a verification's transaction ([`Next::Commit`]).
// Kept in the plan and lent to the driver, never moved around: not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub enum Charge<'a> {
    /// Its record written with the answer: a wrong code's failure counted.
    Write(Entry<'a>, Record),
    /// Its version (`None`: no record) still the one the answer was decided on, read and
    /// not written: a right code, which counts nothing.
    Unchanged(Key<'a>, Option<Version>),
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

    /// The plan's answer was given: tell `sink` of what it answered without a write (a
    /// verification's answer that wrote nothing, a send refused). Writes are told as they
    /// land, by the driver, from their [`Entry`].
    fn answered(&self, answer: &Result<Self::Output, Error>, sink: &dyn Events) {
        let _ = (answer, sink);
    }
}

/// A swap of `record` under `key` from `expected`, as of `now`, described by `audit`.
fn swap_of<'a, T>(
    key: Key<'a>,
    expected: Option<Version>,
    record: Record,
    now: Timestamp,
    audit: Audit<'a>,
) -> Result<(Next<'a, T>, Version), Error> {
    let version = version_after(expected, now)?;
    Ok((
        Next::Swap {
            record,
            entry: Entry {
                key,
                prior: expected,
                version,
                audit,
            },
        },
        version,
    ))
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

/// A swap of `record` over `slot`'s known version, as of `now`, described by `audit`; a
/// budget record's swap is remembered in `proposed`, for the plan to know once it lands.
fn swap_slot<'a, T>(
    slot: Option<&Slot<'a>>,
    record: Record,
    now: Timestamp,
    audit: Audit<'a>,
    proposed: Option<&mut Option<(Record, Version)>>,
) -> Next<'a, T> {
    let Some(slot) = slot else {
        return Next::Done(Err(Error::Corrupt));
    };
    match swap_of(slot.key, slot.version(), record, now, audit) {
        Ok((swap, new)) => {
            if let Some(proposed) = proposed {
                *proposed = Some((record, new));
            }
            swap
        }
        Err(e) => Next::Done(Err(e)),
    }
}

/// The version a write after `expected` stores, for a record created at `now` if new.
fn version_after(expected: Option<Version>, now: Timestamp) -> Result<Version, Error> {
    match expected {
        None => Version::first_at(now).ok_or(Error::Clock),
        Some(v) => v.after(now).ok_or(Error::Corrupt),
    }
}

/// What a verification's booking write does, for the audit log: the answer it lands.
const fn verdict_action(answer: Outcome) -> Action {
    match answer {
        Outcome::Rejected { attempts_left: 0 } => Action::Locked,
        Outcome::Rejected { attempts_left } => Action::Rejected { attempts_left },
        _ => Action::Accepted,
    }
}

/// The booking in a record read under a booking key; a verifier's record there is corrupt.
pub(crate) fn booking_of(found: Option<&(Record, Version)>) -> Result<Option<&Booking>, Error> {
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

impl Operation {
    /// What a write of `next` for this operation does.
    const fn action(self, next: &Booking) -> Action {
        let generation = next.generation;
        match self {
            Self::Issue(_) => Action::Issued { generation },
            Self::Resend => Action::Resent { generation },
            Self::Reissue(_) => Action::Reissued { generation },
            Self::Revoke => Action::Revoked,
        }
    }

    /// Which send this operation is, if it sends.
    const fn send(self) -> Option<Send> {
        match self {
            Self::Issue(_) => Some(Send::Issue),
            Self::Resend => Some(Send::Resend),
            Self::Reissue(_) => Some(Send::Reissue),
            Self::Revoke => None,
        }
    }
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
        let tries = Tries::new(rules.policy.max_retries());
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
        let audit = Audit {
            at: self.now,
            context: self.rules.context,
            booking: self.booking,
            verifier: None,
            request: None,
            by: None,
            action: self.operation.action(&next),
        };
        let (key, expected) = (self.slot.key, self.slot.version());
        match swap_of(key, expected, Record::Booking(next), self.now, audit) {
            Ok((swap, _)) => {
                self.pending = Some(answer);
                swap
            }
            Err(e) => Next::Done(Err(e)),
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

    fn answered(&self, answer: &Result<Option<Code>, Error>, sink: &dyn Events) {
        if let (Err(Error::SendLimit { retry_at }), Some(send)) = (answer, self.operation.send()) {
            sink.event(&Event::SendRefused {
                context: self.rules.context,
                booking: self.booking,
                send,
                retry_at: *retry_at,
            });
        }
    }
}

/// The budget slot a verification holds: the window it was taken in, for a request with an
/// id the [`Hold`] remembered for it, and its id (the verifier version that took it).
#[derive(Clone, Copy, Debug)]
struct Slotted {
    window: Window,
    hold: Option<Hold>,
    id: Version,
}

/// Where a verification stands.
#[derive(Debug)]
enum Stage {
    /// Is the verifier suspended or busy?
    Check,
    /// Read the booking and compare.
    Compare,
    /// Take a budget slot for the comparison made on booking version `on`, then write.
    Hold {
        next: Booking,
        answer: Outcome,
        on: Version,
    },
    /// Write the booking, then settle and answer.
    Write { next: Booking, answer: Outcome },
    /// Settle a slot (a failure if `failed`, else freed), then answer. A `stale` slot is
    /// only freed, and only while no retry has adopted it.
    Settle {
        answer: Result<Outcome, Error>,
        slot: Slotted,
        failed: bool,
        stale: bool,
    },
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
    ask: Asked<'a, N>,
    tag: Option<Tag>,
    stage: Stage,
    /// The budget slot this verification holds, until it is settled.
    held: Option<Slotted>,
    /// A remembered hold this verification let go when its booking write lost a race: moved
    /// on to its next comparison, or freed if it compares nothing more, unless shared.
    stale: Option<Slotted>,
    /// The verifier's record in flight, and its version: what the plan knows of it once
    /// the write lands.
    proposed: Option<(Record, Version)>,
    tries: Tries,
    max_retries: u8,
    /// Whether the booking write landed (its answer was told with it).
    wrote: bool,
}

impl<const N: usize> core::fmt::Debug for Verify<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.ask.debug(f, "Verify", |d| {
            d.field("stage", &self.stage).field("held", &self.held);
        })
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
        let max_retries = rules.policy.max_retries();
        let ask = Asked::new(rules, scope, booking, typed, who, now);
        let tag = who
            .request
            .filter(|_| ask.budget.is_some())
            .map(|r| decide::hold_tag(ask.rules.context, booking, r));
        Self {
            ask,
            tag,
            stage: Stage::Check,
            held: None,
            stale: None,
            proposed: None,
            tries: Tries::new(max_retries),
            max_retries,
            wrote: false,
        }
    }

    /// The verifier as it stands now, if loaded: `Err` to answer instead.
    fn verifier_now(&self) -> Option<Result<Verifier, Error>> {
        let (slot, budget) = (self.ask.v.as_ref()?, self.ask.budget.as_ref()?);
        let found = slot.known.as_ref()?;
        Some(verifier_of(found.as_ref()).map(|v| decide::current(v, budget, self.ask.now)))
    }

    /// Loads the verifier if its record is not known: the call to make, if any.
    fn load_verifier(&self) -> Option<Next<'a, Outcome>> {
        let slot = self.ask.v.as_ref()?;
        slot.known.is_none().then_some(Next::Load(slot.key))
    }

    /// Ends with `answer`, settling first the slot this verification holds or, for a
    /// replay, the one that paid for the original's comparison. A slot becomes a failure if it
    /// paid for a wrong code: this answer's, or the replayed rejection's (the very hold the
    /// booking names); any other slot is freed. `replayed` is the paying hold, for a replay.
    fn finish(&mut self, answer: Result<Outcome, Error>, replayed: Option<Hold>) -> Stage {
        let paid = match (self.held, replayed) {
            (None, _) => true,
            (Some(slot), Some(hold)) => slot.id == hold.id,
            (Some(_), None) => false,
        };
        let failed = match answer {
            Ok(Outcome::Rejected { .. }) => true,
            Ok(Outcome::Replayed(Earlier::Rejected { .. })) => paid,
            _ => false,
        };
        let window = match self.verifier_now() {
            Some(Ok(v)) => Some(Window::of(&v)),
            _ => None,
        };
        let stale = self.stale.take();
        let slot = self.held.take().or_else(|| {
            let hold = replayed.filter(|_| self.tag.is_some())?;
            Some(Slotted {
                window: window?,
                hold: Some(hold),
                id: hold.id,
            })
        });
        let (slot, failed, stale) = match (slot, stale) {
            (Some(slot), _) => (Some(slot), failed, false),
            (None, Some(stale)) => (Some(stale), false, true),
            (None, None) => (None, false, false),
        };
        match slot {
            Some(slot) => {
                self.tries = settle_tries(self.max_retries, self.ask.budget.as_ref());
                Stage::Settle {
                    answer,
                    slot,
                    failed,
                    stale,
                }
            }
            None => Stage::Done(answer),
        }
    }

    /// After the comparison: write, once a budget slot is held for it (the Hold stage adopts
    /// the original's on a retry whose original took one on this very booking version).
    fn slot_then_write(&self, next: Booking, answer: Outcome, on: Version) -> Stage {
        if self.ask.v.is_none() || self.held.is_some() {
            Stage::Write { next, answer }
        } else {
            Stage::Hold { next, answer, on }
        }
    }

    /// A swap of `record` over the booking's (`booking`) or the verifier's known version.
    fn swap(&mut self, booking: bool, record: Record, action: Action) -> Next<'a, Outcome> {
        let audit = self.ask.audit(action);
        if booking {
            swap_slot(Some(&self.ask.b), record, self.ask.now, audit, None)
        } else {
            swap_slot(
                self.ask.v.as_ref(),
                record,
                self.ask.now,
                audit,
                Some(&mut self.proposed),
            )
        }
    }

    /// One step of the state machine: a call to make, or the next stage.
    fn step(&mut self) -> Flow<'a> {
        match &mut self.stage {
            Stage::Check => {
                if self.ask.v.is_none() {
                    return Flow::Go(Stage::Compare);
                }
                if let Some(load) = self.load_verifier() {
                    return Flow::Call(load);
                }
                Flow::Go(match self.verifier_now() {
                    Some(Ok(v)) => match decide::standing(&v, self.tag.as_ref()) {
                        Standing::Suspended(until) => {
                            Stage::Done(Ok(Outcome::VerifierSuspended { until }))
                        }
                        Standing::Busy => Stage::Done(Err(Error::BudgetBusy)),
                        Standing::Clear => Stage::Compare,
                    },
                    Some(Err(e)) => Stage::Done(Err(e)),
                    None => Stage::Done(Err(Error::Corrupt)),
                })
            }
            Stage::Compare => {
                let Some(found) = &self.ask.b.known else {
                    return Flow::Call(Next::Load(self.ask.b.key));
                };
                let on = self.ask.b.version().unwrap_or_default();
                let record = match booking_of(found.as_ref()) {
                    Ok(record) => record,
                    Err(e) => return Flow::Go(self.finish(Err(e), None)),
                };
                let replayed = record.and_then(|r| r.last).and_then(|last| {
                    let tag = self.tag?;
                    Some(Hold {
                        tag,
                        on: Version::default(),
                        id: last.paid_by,
                        shared: false,
                    })
                });
                let compared = decide::compare(
                    &self.ask.rules,
                    self.ask.booking,
                    record,
                    self.ask.typed,
                    &self.ask.who,
                    self.ask.now,
                );
                Flow::Go(match compared {
                    Compared::Answer(answer) => self.finish(answer, None),
                    Compared::Replay(answer) => self.finish(answer, replayed),
                    Compared::Right(next) => self.slot_then_write(next, Outcome::Accepted, on),
                    Compared::Wrong(next, left) => self.slot_then_write(
                        next,
                        Outcome::Rejected {
                            attempts_left: left,
                        },
                        on,
                    ),
                })
            }
            Stage::Hold { next, answer, on } => {
                let (next, answer, on) = (*next, *answer, *on);
                if let Some(load) = self.load_verifier() {
                    return Flow::Call(load);
                }
                let current = match self.verifier_now() {
                    Some(Ok(v)) => v,
                    Some(Err(e)) => return Flow::Go(Stage::Done(Err(e))),
                    None => return Flow::Go(Stage::Done(Err(Error::Corrupt))),
                };
                let window = Window::of(&current);
                if let Some(tag) = self.tag
                    && let Some(hold) = decide::adoptable(&current, &tag, on)
                {
                    let shared = Hold {
                        shared: true,
                        ..hold
                    };
                    self.held = Some(Slotted {
                        window,
                        hold: Some(shared),
                        id: hold.id,
                    });
                    // Marked shared in the write that adopts it, so the original can no
                    // longer move it on or free it; already shared, it is adopted as it is.
                    return match decide::share(&current, &hold).filter(|_| !hold.shared) {
                        Some(v) => {
                            Flow::Call(self.swap(false, Record::Verifier(v), Action::BudgetHeld))
                        }
                        None => Flow::Go(Stage::Write { next, answer }),
                    };
                }
                if let Some(stale) = self.stale.filter(|s| s.window == window)
                    && let Some(hold) = stale.hold
                {
                    if let Some((v, moved)) = decide::carry(&current, &hold, on) {
                        self.held = Some(Slotted {
                            hold: Some(moved),
                            ..stale
                        });
                        return Flow::Call(self.swap(
                            false,
                            Record::Verifier(v),
                            Action::BudgetHeld,
                        ));
                    }
                    // Adopted by a retry, or settled: no longer this plan's to move or free.
                    self.stale = None;
                }
                let Some(slot) = &self.ask.v else {
                    return Flow::Go(Stage::Done(Err(Error::Corrupt)));
                };
                let (key, expected) = (slot.key, slot.version());
                let id = match version_after(expected, self.ask.now) {
                    Ok(id) => id,
                    Err(e) => return Flow::Go(Stage::Done(Err(e))),
                };
                match decide::hold(&current, self.tag.as_ref(), on, id) {
                    Ok((v, hold)) => {
                        self.held = Some(Slotted {
                            window: Window::of(&v),
                            hold,
                            id,
                        });
                        let record = Record::Verifier(v);
                        self.proposed = Some((record, id));
                        Flow::Call(Next::Swap {
                            record,
                            entry: Entry {
                                key,
                                prior: expected,
                                version: id,
                                audit: self.ask.audit(Action::BudgetHeld),
                            },
                        })
                    }
                    Err(Standing::Suspended(until)) => {
                        Flow::Go(Stage::Done(Ok(Outcome::VerifierSuspended { until })))
                    }
                    Err(Standing::Busy) => Flow::Go(Stage::Done(Err(Error::BudgetBusy))),
                    Err(Standing::Clear) => Flow::Go(Stage::Done(Err(Error::Corrupt))),
                }
            }
            Stage::Write { next, answer } => {
                let mut next = *next;
                let action = verdict_action(*answer);
                if let (Some(slot), Some(last)) = (self.held, next.last.as_mut()) {
                    last.paid_by = slot.id;
                }
                Flow::Call(self.swap(true, Record::Booking(next), action))
            }
            Stage::Settle {
                answer,
                slot,
                failed,
                stale,
            } => {
                let (slot, failed, stale) = (*slot, *failed, *stale);
                let answer = core::mem::replace(answer, Err(Error::Corrupt));
                let again = |answer| Stage::Settle {
                    answer,
                    slot,
                    failed,
                    stale,
                };
                if let Some(load) = self.load_verifier() {
                    self.stage = again(answer);
                    return Flow::Call(load);
                }
                let settled = match (self.verifier_now(), slot.hold.as_ref()) {
                    (Some(Ok(v)), Some(hold)) if stale => decide::release(&v, slot.window, hold)
                        .map(|next| (next, Action::BudgetSettled { failed: false })),
                    (Some(Ok(v)), hold) => {
                        decide::settle(&v, slot.window, hold, failed).map(|next| {
                            let suspends =
                                failed && v.failures < v.limit && next.failures >= next.limit;
                            let action = if suspends {
                                Action::Suspended {
                                    until: next.window_end(),
                                }
                            } else {
                                Action::BudgetSettled { failed }
                            };
                            (next, action)
                        })
                    }
                    // A failure that cannot be settled is not answered as a rejection.
                    (Some(Err(e)), _) if failed => return Flow::Go(Stage::Done(Err(e))),
                    _ => None,
                };
                match settled {
                    Some((v, action)) => {
                        self.stage = again(answer);
                        Flow::Call(self.swap(false, Record::Verifier(v), action))
                    }
                    // Nothing to write: the slot was settled already (by a retry replaying
                    // this answer), or its window has ended and the failure with it.
                    None => Flow::Go(Stage::Done(answer)),
                }
            }
            Stage::Done(answer) => {
                Flow::Call(Next::Done(core::mem::replace(answer, Err(Error::Corrupt))))
            }
            Stage::Failed => Flow::Call(Next::Fail),
        }
    }

    /// After a lost race: try again from `stage`, or give up with contention (settling the
    /// slot held, freed: nothing was answered).
    fn retry(&mut self, stage: Stage) -> Stage {
        if self.tries.lost() {
            stage
        } else {
            self.finish(Err(Error::Contention), None)
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
            Stage::Compare if self.ask.b.known.is_none() => Some(&mut self.ask.b),
            _ => self.ask.v.as_mut(),
        };
        if let Some(slot) = slot {
            slot.known = Some(found);
        }
    }

    fn swapped(&mut self, swap: Swap) {
        let proposed = self.proposed.take();
        let stage = core::mem::replace(&mut self.stage, Stage::Failed);
        self.stage = match (stage, swap) {
            (Stage::Hold { next, answer, .. }, Swap::Swapped) => {
                if let (Some(slot), Some(known)) = (self.ask.v.as_mut(), proposed) {
                    slot.known = Some(Some(known));
                }
                // A hold moved on, adopted or taken anew: whatever was let go is settled by
                // now (moved on: it is the slot held), or no longer this plan's.
                self.stale = None;
                Stage::Write { next, answer }
            }
            (stage @ Stage::Hold { .. }, Swap::Conflict) => {
                // The slot was not taken after all.
                self.held = None;
                if let Some(slot) = self.ask.v.as_mut() {
                    slot.known = None;
                }
                self.retry(stage)
            }
            (Stage::Write { answer, .. }, Swap::Swapped) => {
                self.wrote = true;
                self.finish(Ok(answer), None)
            }
            (Stage::Write { .. }, Swap::Conflict) => {
                self.ask.b.known = None;
                // A remembered hold pays for one write over the booking version it was taken
                // on, and a retry of the request may have adopted it: let it go for now. The
                // Hold stage moves it on to the next comparison if it is still this plan's
                // alone (unshared), and `finish` frees it if nothing more is compared. A slot
                // only counted is this plan's alone and pays for the new comparison.
                if self.held.is_some_and(|slot| slot.hold.is_some()) {
                    self.stale = self.held.take();
                }
                self.retry(Stage::Compare)
            }
            (Stage::Settle { answer, .. }, Swap::Swapped) => Stage::Done(answer),
            (
                Stage::Settle {
                    answer,
                    slot,
                    failed,
                    stale,
                },
                Swap::Conflict,
            ) => {
                if let Some(v) = self.ask.v.as_mut() {
                    v.known = None;
                }
                if self.tries.lost() {
                    Stage::Settle {
                        answer,
                        slot,
                        failed,
                        stale,
                    }
                } else if failed {
                    // A wrong code whose failure is not on the verifier's record is not
                    // answered: a retry with the request id settles it and replays the answer.
                    Stage::Done(Err(Error::Contention))
                } else {
                    // A slot left held is over-counted, never under: the answer stands.
                    Stage::Done(answer)
                }
            }
            (_, _) => Stage::Done(Err(Error::Corrupt)),
        };
    }

    fn answered(&self, answer: &Result<Outcome, Error>, sink: &dyn Events) {
        // An answer whose booking write landed was told with that write.
        self.ask.answered(answer, self.wrote, sink);
    }

    fn failed(&mut self) {
        let stage = core::mem::replace(&mut self.stage, Stage::Failed);
        // A slot freed by no settlement stays held until the window ends (or a retry settles
        // it): over-counted, never under, so the answer stands. A failure that cannot be
        // settled is not answered: the store's error is, and a retry with the request id
        // settles it and replays the answer.
        if let Stage::Settle {
            answer,
            failed: false,
            ..
        } = stage
        {
            self.stage = Stage::Done(answer);
        }
    }
}

/// The races a settlement may lose before it gives up: the policy's retries and, on top of
/// them, two writes (a take and a settlement) for every slot of the budget: what the other
/// verifications holding its slots may write to the verifier's record while this one waits
/// (at most 255 in all). Honest verifications taking freed slots again and again can still
/// outlast it; then a wrong code is answered [`Error::Contention`], never a rejection whose
/// failure is not on the record.
fn settle_tries(max_retries: u8, budget: Option<&VerifierBudget>) -> Tries {
    let holders = budget.map_or(0, |b| b.failures.get());
    let races = u32::from(max_retries).saturating_add(holders.saturating_mul(2));
    Tries::new(u8::try_from(races).unwrap_or(u8::MAX))
}

/// Where an override stands.
#[derive(Debug)]
enum Overruling {
    /// Read the booking and decide.
    Decide,
    /// Count the override against the actor's budget, then redeem.
    Count(Booking),
    /// Redeem the booking.
    Redeem(Booking),
    /// Give back the override counted, then answer the refusal.
    Refund(Error),
    /// Answer.
    Done(Result<(), Error>),
    /// Answer the last store call's error.
    Failed,
}

/// The audited override: redeems a booking without a code on an actor's word
/// ([`decide::overrule`]), counted first against the actor's override budget when the policy
/// has one.
///
/// | step | store call | why |
/// |---|---|---|
/// | 1 | load the booking | refusals (unknown, redeemed, closed, turned off) cost nothing |
/// | 2 | load the actor's budget | a used-up budget is answered now |
/// | 3 | swap the actor's budget | the override is counted before it is made |
/// | 4 | swap the booking | redeemed, marked as by override |
///
/// Without a budget, steps 2 and 3 are skipped. If the booking write loses a race, the
/// booking is read and decided again (the override stays counted); if it is no longer
/// overridable, the count is given back before the refusal is answered. An override cut off
/// between steps 3 and 4 stays counted until the window ends: over-counted, never under, so
/// an actor never makes more overrides than the budget in a window.
#[derive(Debug)]
pub struct Overrule<'a, const N: usize> {
    rules: Rules<'a, N>,
    booking: BookingId<'a>,
    by: Override<'a>,
    now: Timestamp,
    budget: Option<VerifierBudget>,
    b: Slot<'a>,
    a: Option<Slot<'a>>,
    stage: Overruling,
    /// The window the override was counted in, once it is.
    counted: Option<Window>,
    /// The actor's record in flight.
    proposed: Option<(Record, Version)>,
    tries: Tries,
}

impl<'a, const N: usize> Overrule<'a, N> {
    /// An override of `booking` in `rules.context` by `by`, with the actor's budget record
    /// kept under `scope` when the policy has an override budget.
    #[must_use]
    pub fn new(
        rules: Rules<'a, N>,
        scope: crate::Context<'a>,
        booking: BookingId<'a>,
        by: Override<'a>,
        now: Timestamp,
    ) -> Self {
        let budget = rules.policy.overrides().budget;
        let a = budget.map(|_| {
            Slot::new(Key::Actor {
                scope,
                id: by.actor(),
            })
        });
        let stage = if rules.policy.overrides().enabled {
            Overruling::Decide
        } else {
            Overruling::Done(Err(Error::OverridesOff))
        };
        let tries = Tries::new(rules.policy.max_retries());
        Self {
            b: Slot::new(Key::Booking {
                context: rules.context,
                id: booking,
            }),
            rules,
            booking,
            by,
            now,
            budget,
            a,
            stage,
            counted: None,
            proposed: None,
            tries,
        }
    }

    const fn audit(&self, action: Action) -> Audit<'a> {
        Audit {
            at: self.now,
            context: self.rules.context,
            booking: self.booking,
            verifier: None,
            request: None,
            by: Some(self.by),
            action,
        }
    }

    /// A swap of the booking (`booking`) or the actor's record.
    fn swap(&mut self, booking: bool, record: Record, action: Action) -> Next<'a, ()> {
        let audit = self.audit(action);
        if booking {
            swap_slot(Some(&self.b), record, self.now, audit, None)
        } else {
            swap_slot(
                self.a.as_ref(),
                record,
                self.now,
                audit,
                Some(&mut self.proposed),
            )
        }
    }

    /// The actor's budget key, while its record is still to be loaded.
    fn actor_to_load(&self) -> Option<Key<'a>> {
        self.a.as_ref().filter(|a| a.known.is_none()).map(|a| a.key)
    }

    /// The actor's budget record as loaded (`Corrupt` without a budget or before the load).
    fn actor(&self) -> Result<Option<Verifier>, Error> {
        let known = self.a.as_ref().and_then(|a| a.known.as_ref());
        let known = known.ok_or(Error::Corrupt)?;
        verifier_of(known.as_ref()).map(Option::<&Verifier>::copied)
    }

    /// After a refusal: give back what was counted, then answer it.
    fn refuse(&self, e: Error) -> Overruling {
        if self.counted.is_some() {
            Overruling::Refund(e)
        } else {
            Overruling::Done(Err(e))
        }
    }
}

impl<const N: usize> Plan for Overrule<'_, N> {
    type Output = ();

    fn next(&mut self) -> Next<'_, ()> {
        loop {
            // Counting and giving back both read the actor's budget first.
            if matches!(self.stage, Overruling::Count(_) | Overruling::Refund(_))
                && let Some(key) = self.actor_to_load()
            {
                return Next::Load(key);
            }
            let stage = core::mem::replace(&mut self.stage, Overruling::Failed);
            self.stage = match stage {
                Overruling::Failed => return Next::Fail,
                Overruling::Done(answer) => {
                    self.stage = Overruling::Done(Err(Error::Corrupt));
                    return Next::Done(answer);
                }
                Overruling::Decide => {
                    let Some(found) = &self.b.known else {
                        self.stage = Overruling::Decide;
                        return Next::Load(self.b.key);
                    };
                    let decided = booking_of(found.as_ref()).map(|record| {
                        decide::overrule(self.rules.policy, record, &self.by, self.now)
                    });
                    match decided {
                        Err(e) => self.refuse(e),
                        Ok(Decision { answer: Err(e), .. }) => self.refuse(e),
                        Ok(Decision {
                            next: Some(next), ..
                        }) if self.a.is_some() && self.counted.is_none() => Overruling::Count(next),
                        Ok(Decision {
                            next: Some(next), ..
                        }) => Overruling::Redeem(next),
                        Ok(Decision { next: None, .. }) => Overruling::Done(Err(Error::Corrupt)),
                    }
                }
                Overruling::Count(next) => {
                    let current = match self.actor() {
                        Ok(current) => current,
                        Err(e) => {
                            self.stage = Overruling::Done(Err(e));
                            continue;
                        }
                    };
                    let Some(budget) = self.budget else {
                        self.stage = Overruling::Done(Err(Error::Corrupt));
                        continue;
                    };
                    match decide::count_override(current.as_ref(), &budget, self.now) {
                        Ok(v) => {
                            self.stage = Overruling::Count(next);
                            return self.swap(false, Record::Verifier(v), Action::OverrideCounted);
                        }
                        Err(retry_at) => Overruling::Done(Err(Error::OverrideLimit { retry_at })),
                    }
                }
                Overruling::Redeem(next) => {
                    self.stage = Overruling::Redeem(next);
                    let action = Action::Overridden {
                        reason: self.by.reason(),
                    };
                    return self.swap(true, Record::Booking(next), action);
                }
                Overruling::Refund(answer) => {
                    let current = match self.actor() {
                        Ok(current) => current,
                        Err(e) => {
                            self.stage = Overruling::Done(Err(e));
                            continue;
                        }
                    };
                    let refunded = match (current, self.counted) {
                        (Some(v), Some(window)) => decide::refund_override(&v, window),
                        _ => None,
                    };
                    match refunded {
                        Some(v) => {
                            self.stage = Overruling::Refund(answer);
                            return self.swap(false, Record::Verifier(v), Action::OverrideRefunded);
                        }
                        None => Overruling::Done(Err(answer)),
                    }
                }
            };
        }
    }

    fn loaded(&mut self, found: Option<(Record, Version)>) {
        let slot = match self.stage {
            Overruling::Decide => Some(&mut self.b),
            _ => self.a.as_mut(),
        };
        if let Some(slot) = slot {
            slot.known = Some(found);
        }
    }

    fn swapped(&mut self, swap: Swap) {
        let proposed = self.proposed.take();
        let stage = core::mem::replace(&mut self.stage, Overruling::Failed);
        self.stage = match (stage, swap) {
            (Overruling::Count(next), Swap::Swapped) => {
                if let (Some(a), Some((record, version))) = (self.a.as_mut(), proposed) {
                    if let Record::Verifier(v) = record {
                        self.counted = Some(Window::of(&v));
                    }
                    a.known = Some(Some((record, version)));
                }
                Overruling::Redeem(next)
            }
            (Overruling::Redeem(_), Swap::Swapped) => Overruling::Done(Ok(())),
            (Overruling::Refund(answer), Swap::Swapped) => Overruling::Done(Err(answer)),
            (stage, Swap::Conflict) => {
                let again = self.tries.lost();
                match stage {
                    Overruling::Count(next) => {
                        if let Some(a) = self.a.as_mut() {
                            a.known = None;
                        }
                        if again {
                            Overruling::Count(next)
                        } else {
                            Overruling::Done(Err(Error::Contention))
                        }
                    }
                    Overruling::Redeem(_) => {
                        self.b.known = None;
                        if again {
                            Overruling::Decide
                        } else {
                            self.refuse(Error::Contention)
                        }
                    }
                    Overruling::Refund(answer) => {
                        if let Some(a) = self.a.as_mut() {
                            a.known = None;
                        }
                        if again {
                            Overruling::Refund(answer)
                        } else {
                            // Left counted: over-counted, never under.
                            Overruling::Done(Err(answer))
                        }
                    }
                    _ => Overruling::Done(Err(Error::Corrupt)),
                }
            }
            (_, Swap::Swapped) => Overruling::Done(Err(Error::Corrupt)),
        };
    }

    fn failed(&mut self) {
        self.stage = Overruling::Failed;
    }
}
