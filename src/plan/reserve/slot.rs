//! The reservation's third stage: a budget slot held for the comparison before its booking
//! write, taken anew, adopted from the original of a retry, or carried on from a lost race.

use crate::audit::{Action, Entry};
use crate::decide::{self, Standing, Window};
use crate::error::Error;
use crate::outcome::Outcome;
use crate::record::{Booking, Hold, Record, Version};
use crate::store::Swap;

use super::super::{Next, version_after};
use super::{Flow, Slotted, Stage, Verify, Write};

/// Take a budget slot for the comparison made on booking version `on`, then write `next` and
/// answer `answer`.
#[derive(Debug)]
pub(super) struct Reserve {
    pub(super) next: Booking,
    pub(super) answer: Outcome,
    pub(super) on: Version,
}

impl<'a> Verify<'a> {
    /// Holds a slot: adopts the original's (a retry on the booking version it was taken on),
    /// carries this plan's own on from a lost race, or takes a new one; a suspended or busy
    /// verifier is answered instead.
    pub(super) fn reserve(&mut self, r: Reserve) -> Flow<'a> {
        if let Some(load) = self.load_verifier() {
            return Flow::Call(load, Stage::Reserve(r));
        }
        let Reserve { next, answer, on } = r;
        let current = match self.verifier_now() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Flow::Go(Stage::Done(Err(e))),
            None => return Flow::Go(Stage::Done(Err(Error::inconsistent()))),
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
            // Marked shared in the write that adopts it, so the original can no longer move
            // it on or free it; already shared, it is adopted as it is.
            return match decide::share(&current, &hold).filter(|_| !hold.shared) {
                Some(v) => Flow::Call(
                    self.swap(false, Record::Verifier(v), Action::BudgetHeld),
                    Stage::Reserve(Reserve { next, answer, on }),
                ),
                None => Flow::Go(Stage::Write(Write { next, answer })),
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
                return Flow::Call(
                    self.swap(false, Record::Verifier(v), Action::BudgetHeld),
                    Stage::Reserve(Reserve { next, answer, on }),
                );
            }
            // Adopted by a retry, or settled: no longer this plan's to move or free.
            self.stale = None;
        }
        let Some(slot) = &self.ask.v else {
            return Flow::Go(Stage::Done(Err(Error::inconsistent())));
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
                let swap = Next::Swap {
                    record,
                    entry: Entry {
                        key,
                        prior: expected,
                        version: id,
                        audit: self.ask.audit(Action::BudgetHeld),
                    },
                };
                Flow::Call(swap, Stage::Reserve(Reserve { next, answer, on }))
            }
            Err(Standing::Suspended(until)) => {
                Flow::Go(Stage::Done(Ok(Outcome::VerifierSuspended { until })))
            }
            Err(Standing::Busy) => Flow::Go(Stage::Done(Err(Error::BudgetBusy {
                retry_at: decide::busy_until(&current, self.ask.now),
            }))),
            Err(Standing::Clear) => Flow::Go(Stage::Done(Err(Error::inconsistent()))),
        }
    }

    /// After the slot's write: on to the booking's write, or, having lost the race for the
    /// verifier's record, decide the slot again.
    pub(super) fn reserved(
        &mut self,
        r: Reserve,
        swap: Swap,
        proposed: Option<(Record, Version)>,
    ) -> Stage {
        match swap {
            Swap::Swapped => {
                if let (Some(slot), Some(known)) = (self.ask.v.as_mut(), proposed) {
                    slot.known = Some(Some(known));
                }
                // A hold moved on, adopted or taken anew: whatever was let go is settled by
                // now (moved on: it is the slot held), or no longer this plan's.
                self.stale = None;
                Stage::Write(Write {
                    next: r.next,
                    answer: r.answer,
                })
            }
            Swap::Conflict => {
                // The slot was not taken after all.
                self.held = None;
                self.retry(false, Stage::Reserve(r))
            }
        }
    }
}
