//! The reservation's last stage: the slot settled on the verifier's record (a failure for a
//! wrong code, freed otherwise) before the answer is given.

use crate::audit::Action;
use crate::decide::{self, Window};
use crate::error::Error;
use crate::outcome::Outcome;
use crate::policy::VerifierBudget;
use crate::record::{Earlier, Hold, Record};
use crate::store::Swap;

use super::super::Tries;
use super::{Flow, Slotted, Stage, Verify};

/// Settle `slot` (a failure if `failed`, else freed), then answer `answer`. A `stale` slot is
/// only freed, and only while no retry has adopted it.
#[derive(Debug)]
pub(super) struct Settle {
    pub(super) answer: Result<Outcome, Error>,
    pub(super) slot: Slotted,
    pub(super) failed: bool,
    pub(super) stale: bool,
}

impl<'a> Verify<'a> {
    /// Ends with `answer`, settling first the slot this verification holds or, for a
    /// replay, the one that paid for the original's comparison. A slot becomes a failure if it
    /// paid for a wrong code: this answer's, or the replayed rejection's (the very hold the
    /// booking names); any other slot is freed. `replayed` is the paying hold, for a replay.
    pub(super) fn finish(
        &mut self,
        answer: Result<Outcome, Error>,
        replayed: Option<Hold>,
    ) -> Stage {
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
                Stage::Settle(Settle {
                    answer,
                    slot,
                    failed,
                    stale,
                })
            }
            None => Stage::Done(answer),
        }
    }

    /// The settlement's write, or the answer when there is nothing left to write.
    pub(super) fn settle(&mut self, s: Settle) -> Flow<'a> {
        if let Some(load) = self.load_verifier() {
            return Flow::Call(load, Stage::Settle(s));
        }
        let settled = match (self.verifier_now(), s.slot.hold.as_ref()) {
            (Some(Ok(v)), Some(hold)) if s.stale => decide::release(&v, s.slot.window, hold)
                .map(|next| (next, Action::BudgetSettled { failed: false })),
            (Some(Ok(v)), hold) => decide::settle(&v, s.slot.window, hold, s.failed).map(|next| {
                let suspends = s.failed && v.failures < v.limit && next.failures >= next.limit;
                let action = if suspends {
                    Action::Suspended {
                        until: next.window_end(),
                    }
                } else {
                    Action::BudgetSettled { failed: s.failed }
                };
                (next, action)
            }),
            // A failure that cannot be settled is not answered as a rejection.
            (Some(Err(e)), _) if s.failed => return Flow::Go(Stage::Done(Err(e))),
            _ => None,
        };
        match settled {
            Some((v, action)) => Flow::Call(
                self.swap(false, Record::Verifier(v), action),
                Stage::Settle(s),
            ),
            // Nothing to write: the slot was settled already (by a retry replaying this
            // answer), or its window has ended and the failure with it.
            None => Flow::Go(Stage::Done(s.answer)),
        }
    }

    /// After the settlement's write: the answer, or the settlement decided again after a
    /// lost race, until the races it may lose run out.
    pub(super) fn settled(&mut self, s: Settle, swap: Swap) -> Stage {
        if swap == Swap::Swapped {
            return Stage::Done(s.answer);
        }
        if self.tries.lost_race([self.ask.v.as_mut()]) {
            Stage::Settle(s)
        } else if s.failed {
            // A wrong code whose failure is not on the verifier's record is not answered: a
            // retry with the request id settles it and replays the answer.
            Stage::Done(Err(Error::Contention))
        } else {
            // A slot left held is over-counted, never under: the answer stands.
            Stage::Done(s.answer)
        }
    }
}

/// The races a settlement may lose before it gives up: the policy's retries and, on top of
/// them, two writes (a take and a settlement) for every slot of the budget: what the other
/// verifications holding its slots may write to the verifier's record while this one waits
/// (at most 255 in all). Honest verifications taking freed slots again and again can still
/// outlast it; then a wrong code is answered [`Error::Contention`], never a rejection whose
/// failure is not on the record.
pub(super) fn settle_tries(max_retries: u8, budget: Option<&VerifierBudget>) -> Tries {
    let holders = budget.map_or(0, |b| b.failures.get());
    let races = u32::from(max_retries).saturating_add(holders.saturating_mul(2));
    Tries::new(u8::try_from(races).unwrap_or(u8::MAX))
}
