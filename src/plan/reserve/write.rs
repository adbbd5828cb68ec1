//! The reservation's fourth stage: the booking written, paid for by the slot held; a lost
//! race compares again on the booking as it now stands.

use crate::outcome::Outcome;
use crate::record::{Booking, Record};
use crate::store::Swap;

use super::super::verdict_action;
use super::{Flow, Stage, Verify};

/// Write `next`, whose answer is `answer`.
#[derive(Debug)]
pub(super) struct Write {
    pub(super) next: Booking,
    pub(super) answer: Outcome,
}

impl<'a> Verify<'a> {
    /// The booking's write, paid for by the slot held.
    pub(super) fn write(&mut self, w: Write) -> Flow<'a> {
        let mut next = w.next;
        let action = verdict_action(w.answer);
        if let (Some(slot), Some(last)) = (self.held, next.last.as_mut()) {
            last.paid_by = slot.id;
        }
        Flow::Call(
            self.swap(true, Record::Booking(next), action),
            Stage::Write(w),
        )
    }

    /// After the booking's write: settle and answer, or, having lost the race, compare
    /// again on the booking as it now stands.
    pub(super) fn written(&mut self, w: Write, swap: Swap) -> Stage {
        match swap {
            Swap::Swapped => {
                self.wrote = true;
                self.finish(Ok(w.answer), None)
            }
            Swap::Conflict => {
                // A remembered hold pays for one write over the booking version it was taken
                // on, and a retry of the request may have adopted it: let it go for now. The
                // Reserve stage moves it on to the next comparison if it is still this plan's
                // alone (unshared), and `finish` frees it if nothing more is compared. A slot
                // only counted is this plan's alone and pays for the new comparison.
                if self.held.is_some_and(|slot| slot.hold.is_some()) {
                    self.stale = self.held.take();
                }
                self.retry(true, Stage::Compare)
            }
        }
    }
}
