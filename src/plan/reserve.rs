//! The verification on a store that writes one key at a time: reserve a budget slot, write
//! the booking, settle the slot.
//!
//! On a store with transactions ([`Store::TRANSACTIONS`](crate::Store::TRANSACTIONS): the
//! memory store, SQLite, PostgreSQL) a verification reads both records and writes them
//! together, reserving nothing: see [`atomic`](super::atomic). On a store that writes one key
//! at a time (Redis, a host's store that does not opt in), a verification with a verifier
//! budget reserves a slot first, and runs, on the happy path:
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
//! The plan is one enum of stages read top to bottom, each carrying what it needs and each
//! with its store call and what follows its result: `Check` and `Compare` here, `Reserve`
//! in `reserve/slot.rs`, `Write` in `reserve/write.rs`, `Settle` (and `finish`, which picks
//! the slot to settle) in `reserve/settle.rs`.
//!
//! Each lost compare-and-swap reloads that record and decides again, at most
//! [`Policy::max_retries`](crate::Policy::max_retries) times per operation, and a settlement
//! as many more times as the budget's slots can write (twice each).

use crate::audit::{Action, Events};
use crate::decide::{self, Compared, Rules, Standing, Who, Window};
use crate::derive::BookingId;
use crate::error::Error;
use crate::key::Key;
use crate::outcome::Outcome;
use crate::record::{Booking, Hold, Record, Tag, Verifier, Version};
use crate::store::Swap;
use crate::time::Timestamp;

use super::{
    Asked, Next, Plan, Tries, booking_of, replay_rests_on_booking, swap_slot, verifier_of,
};

mod settle;
mod slot;
mod write;

use settle::Settle;
use slot::Reserve;
use write::Write;

/// The budget slot a verification holds: the window it was taken in, for a request with an
/// id the [`Hold`] remembered for it, and its id (the verifier version that took it).
#[derive(Clone, Copy, Debug)]
struct Slotted {
    window: Window,
    hold: Option<Hold>,
    id: Version,
}

/// Where a verification stands: its stages in order, each with what it carries.
#[derive(Debug)]
enum Stage {
    /// Is the verifier suspended or busy?
    Check,
    /// Read the booking and compare.
    Compare,
    /// Hold a budget slot for the comparison ([`slot`]).
    Reserve(Reserve),
    /// Write the booking, then settle and answer.
    Write(Write),
    /// Settle the slot, then answer ([`settle`]).
    Settle(Settle),
    /// Answer.
    Done(Result<Outcome, Error>),
    /// Answer the last store call's error.
    Failed,
}

/// What one step of a verification comes to.
// A record rides along with each call; the plan allocates nothing, so it is moved, not boxed.
#[allow(clippy::large_enum_variant)]
enum Flow<'a> {
    /// A store call to make, and the stage its result goes to.
    Call(Next<'a, Outcome>, Stage),
    /// The stage to go on to.
    Go(Stage),
}

/// A verification (see the [module docs](self) for its steps). Its `Debug` output leaves
/// out what was typed.
pub(crate) struct Verify<'a> {
    ask: Asked<'a>,
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

impl core::fmt::Debug for Verify<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.ask.debug(f, "Verify", |d| {
            d.field("stage", &self.stage).field("held", &self.held);
        })
    }
}

impl<'a> Verify<'a> {
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

    /// After the comparison: write, once a budget slot is held for it (the Reserve stage
    /// adopts the original's on a retry whose original took one on this very booking version).
    fn slot_then_write(&self, next: Booking, answer: Outcome, on: Version) -> Stage {
        if self.ask.v.is_none() || self.held.is_some() {
            Stage::Write(Write { next, answer })
        } else {
            Stage::Reserve(Reserve { next, answer, on })
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

    /// One step: the stage's store call, or the next stage.
    fn step(&mut self, stage: Stage) -> Flow<'a> {
        match stage {
            Stage::Check => self.check(),
            Stage::Compare => self.compare(),
            Stage::Reserve(r) => self.reserve(r),
            Stage::Write(w) => self.write(w),
            Stage::Settle(s) => self.settle(s),
            Stage::Done(answer) => {
                Flow::Call(Next::Done(answer), Stage::Done(Err(Error::inconsistent())))
            }
            Stage::Failed => Flow::Call(Next::Fail, Stage::Failed),
        }
    }

    /// Answers a suspended or busy verifier before anything about the booking is read.
    fn check(&mut self) -> Flow<'a> {
        if self.ask.v.is_none() {
            return Flow::Go(Stage::Compare);
        }
        if let Some(load) = self.load_verifier() {
            return Flow::Call(load, Stage::Check);
        }
        Flow::Go(match self.verifier_now() {
            Some(Ok(v)) => match decide::standing(&v, self.tag.as_ref()) {
                Standing::Suspended(until) => Stage::Done(Ok(Outcome::VerifierSuspended { until })),
                Standing::Busy => Stage::Done(Err(Error::BudgetBusy {
                    retry_at: decide::busy_until(&v, self.ask.now),
                })),
                Standing::Clear => Stage::Compare,
            },
            Some(Err(e)) => Stage::Done(Err(e)),
            None => Stage::Done(Err(Error::inconsistent())),
        })
    }

    /// Reads the booking and compares: an answer that compares nothing, a replay, or a
    /// comparison to write once a slot is held for it.
    fn compare(&mut self) -> Flow<'a> {
        let Some(found) = &self.ask.b.known else {
            return Flow::Call(Next::Load(self.ask.b.key), Stage::Compare);
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
            Compared::Replay(answer) => {
                self.ask.b.answered_from = replay_rests_on_booking(&answer);
                self.finish(answer, replayed)
            }
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

    /// After a lost race for the booking's record (`booking`) or the verifier's: try again
    /// from `stage` with that record read again, or give up with contention (settling the
    /// slot held, freed: nothing was answered).
    fn retry(&mut self, booking: bool, stage: Stage) -> Stage {
        let stale = if booking {
            Some(&mut self.ask.b)
        } else {
            self.ask.v.as_mut()
        };
        if self.tries.lost_race([stale]) {
            stage
        } else {
            self.finish(Err(Error::Contention), None)
        }
    }
}

impl Plan for Verify<'_> {
    type Output = Outcome;

    fn next(&mut self) -> Next<'_, Outcome> {
        loop {
            let stage = core::mem::replace(&mut self.stage, Stage::Failed);
            match self.step(stage) {
                Flow::Call(next, stage) => {
                    self.stage = stage;
                    return next;
                }
                Flow::Go(stage) => self.stage = stage,
            }
        }
    }

    fn loaded(&mut self, found: Option<(Record, Version)>) {
        let slot = match self.stage {
            // The booking is the only record a comparison loads.
            Stage::Compare => Some(&mut self.ask.b),
            _ => self.ask.v.as_mut(),
        };
        if let Some(slot) = slot {
            slot.known = Some(found);
        }
    }

    fn swapped(&mut self, swap: Swap) {
        let proposed = self.proposed.take();
        self.stage = match core::mem::replace(&mut self.stage, Stage::Failed) {
            Stage::Reserve(r) => self.reserved(r, swap, proposed),
            Stage::Write(w) => self.written(w, swap),
            Stage::Settle(s) => self.settled(s, swap),
            _ => Stage::Done(Err(Error::inconsistent())),
        };
    }

    fn answered(&self, answer: &Result<Outcome, Error>, sink: &dyn Events) {
        // An answer whose booking write landed was told with that write.
        self.ask.answered(answer, self.wrote, sink);
    }

    fn rests_on(&self) -> Option<(Key<'_>, Version)> {
        self.ask.b.rests_on()
    }

    fn failed(&mut self) {
        let stage = core::mem::replace(&mut self.stage, Stage::Failed);
        // A slot freed by no settlement stays held until the window ends (or a retry settles
        // it): over-counted, never under, so the answer stands. A failure that cannot be
        // settled is not answered: the store's error is, and a retry with the request id
        // settles it and replays the answer.
        if let Stage::Settle(Settle {
            answer,
            failed: false,
            ..
        }) = stage
        {
            self.stage = Stage::Done(answer);
        }
    }
}
