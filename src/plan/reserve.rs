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
//! Each lost compare-and-swap reloads that record and decides again, at most
//! [`Policy::max_retries`](crate::Policy::max_retries) times per operation, and a settlement
//! as many more times as the budget's slots can write (twice each).

use crate::audit::{Action, Entry, Events};
use crate::decide::{self, Compared, Rules, Standing, Who, Window};
use crate::derive::BookingId;
use crate::error::Error;
use crate::outcome::Outcome;
use crate::policy::VerifierBudget;
use crate::record::{Booking, Earlier, Hold, Record, Tag, Verifier, Version};
use crate::store::Swap;
use crate::time::Timestamp;

use super::{
    Asked, Next, Plan, Tries, booking_of, swap_slot, verdict_action, verifier_of, version_after,
};

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
