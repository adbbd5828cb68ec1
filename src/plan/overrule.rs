//! The audited override: a booking redeemed without a code on an actor's word, counted
//! against the actor's override budget first when the policy has one.

use crate::audit::{Action, Audit, Entry};
use crate::decide::{self, Decision, Rules, Window};
use crate::derive::BookingId;
use crate::error::Error;
use crate::key::Key;
use crate::policy::VerifierBudget;
use crate::record::{Booking, Record, Verifier, Version};
use crate::store::Swap;
use crate::time::Timestamp;
use crate::who::Override;

use super::{
    Charge, Next, Plan, Slot, Tries, booking_of, charge, swap_slot, verifier_of, version_after,
};

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
    /// The count and the redemption in one transaction (a store with transactions): in
    /// flight, kept in the plan and lent to the driver.
    Commit,
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
///
/// On a store with transactions ([`Overrule::in_one_transaction`], which the service picks
/// by [`Store::TRANSACTIONS`](crate::Store::TRANSACTIONS)) steps 3 and 4 are one
/// transaction ([`Next::Commit`], through the budget charge verifications share): the count
/// and the redemption land together or not at all, so a cut-off override counts nothing, and
/// a lost race reads both records and decides again with nothing to give back.
#[derive(Debug)]
pub(crate) struct Overrule<'a> {
    rules: Rules<'a>,
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
    /// Whether the count and the redemption are one transaction.
    atomic: bool,
    /// That transaction, while in flight: the booking's write and the actor's count.
    commit: Option<((Entry<'a>, Record), Charge<'a>)>,
}

impl<'a> Overrule<'a> {
    /// An override of `booking` in `rules.context` by `by`, with the actor's budget record
    /// kept under `scope` when the policy has an override budget.
    #[must_use]
    pub(crate) fn new(
        rules: Rules<'a>,
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
            atomic: false,
            commit: None,
        }
    }

    /// The same override with its count and redemption in one transaction, for a store with
    /// [`Store::TRANSACTIONS`](crate::Store::TRANSACTIONS): nothing is counted unless the
    /// booking is redeemed with it.
    #[must_use]
    pub(crate) fn in_one_transaction(self) -> Self {
        Self {
            atomic: true,
            ..self
        }
    }

    /// The count and the redemption of `next` as one transaction, kept in the plan: the
    /// actor's record as counted over the version read, and the booking redeemed.
    fn transaction(&mut self, counted: Verifier, next: Booking) -> Result<(), Error> {
        let a = self.a.as_ref().ok_or_else(Error::inconsistent)?;
        let audit = self.audit(Action::OverrideCounted);
        let (charge, _) = charge::write(a.key, a.version(), counted, self.now, audit)?;
        let prior = self.b.version();
        let booking = Entry {
            key: self.b.key,
            prior,
            version: version_after(prior, self.now)?,
            audit: self.audit(Action::Overridden {
                reason: self.by.reason(),
            }),
        };
        self.commit = Some(((booking, Record::Booking(next)), charge));
        Ok(())
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
        let known = known.ok_or_else(Error::inconsistent)?;
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

impl Plan for Overrule<'_> {
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
                Overruling::Commit => {
                    self.stage = Overruling::Commit;
                    break;
                }
                Overruling::Done(answer) => {
                    self.stage = Overruling::Done(Err(Error::inconsistent()));
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
                        Ok(Decision { next: None, .. }) => {
                            Overruling::Done(Err(Error::inconsistent()))
                        }
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
                        self.stage = Overruling::Done(Err(Error::inconsistent()));
                        continue;
                    };
                    match decide::count_override(current.as_ref(), &budget, self.now) {
                        Ok(v) if self.atomic => match self.transaction(v, next) {
                            Ok(()) => {
                                self.stage = Overruling::Commit;
                                break;
                            }
                            Err(e) => Overruling::Done(Err(e)),
                        },
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
        // The transaction, lent to the driver from where it is kept.
        match &self.commit {
            Some((booking, charge)) => Next::Commit {
                booking,
                verifier: charge,
            },
            None => Next::Done(Err(Error::inconsistent())),
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
            (Overruling::Redeem(_) | Overruling::Commit, Swap::Swapped) => {
                self.commit = None;
                Overruling::Done(Ok(()))
            }
            (Overruling::Commit, Swap::Conflict) => {
                // Neither landed: read both again and decide again, nothing to give back.
                self.commit = None;
                if self.tries.lost_race([Some(&mut self.b), self.a.as_mut()]) {
                    Overruling::Decide
                } else {
                    Overruling::Done(Err(Error::Contention))
                }
            }
            (Overruling::Refund(answer), Swap::Swapped) => Overruling::Done(Err(answer)),
            (stage, Swap::Conflict) => {
                match stage {
                    Overruling::Count(next) => {
                        if self.tries.lost_race([self.a.as_mut()]) {
                            Overruling::Count(next)
                        } else {
                            Overruling::Done(Err(Error::Contention))
                        }
                    }
                    Overruling::Redeem(_) => {
                        if self.tries.lost_race([Some(&mut self.b)]) {
                            Overruling::Decide
                        } else {
                            self.refuse(Error::Contention)
                        }
                    }
                    Overruling::Refund(answer) => {
                        if self.tries.lost_race([self.a.as_mut()]) {
                            Overruling::Refund(answer)
                        } else {
                            // Left counted: over-counted, never under.
                            Overruling::Done(Err(answer))
                        }
                    }
                    _ => Overruling::Done(Err(Error::inconsistent())),
                }
            }
            (_, Swap::Swapped) => Overruling::Done(Err(Error::inconsistent())),
        };
    }

    fn failed(&mut self) {
        self.stage = Overruling::Failed;
    }
}
