//! Issue, resend, re-issue and revoke: one booking's record loaded, decided on and written
//! with one compare-and-swap, decided again after a lost race.

use crate::audit::{Action, Audit, Event, Events, Send};
use crate::code::Code;
use crate::decide::{self, Decision, Rules};
use crate::derive::BookingId;
use crate::error::Error;
use crate::key::Key;
use crate::record::{Booking, Record, Version};
use crate::store::Swap;
use crate::time::Timestamp;

use super::{Next, Plan, Slot, Tries, booking_of, swap_of};

/// What a [`Single`] plan does to its booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
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
pub(crate) struct Single<'a> {
    rules: Rules<'a>,
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

impl<'a> Single<'a> {
    /// A plan that loads the booking's record, decides `operation` on it, and writes what it
    /// decides. On a lost race it reloads and decides again, at most
    /// [`Policy::max_retries`](crate::Policy::max_retries) times.
    #[must_use]
    pub(crate) fn new(
        rules: Rules<'a>,
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

impl Plan for Single<'_> {
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
            (answer, _) => {
                // A revoke of a revoked booking (a retry whose first try landed) is answered
                // from the record: it must be as durable as the write it stands for, or a
                // failover could bring the code back. (The driver confirms only an `Ok`
                // answer, so a refused revoke asks nothing.)
                self.slot.answered_from = self.operation == Operation::Revoke;
                return Next::Done(answer);
            }
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
            (Swap::Swapped, None) => self.done = Some(Err(Error::inconsistent())),
            (Swap::Conflict, _) => {
                if !self.tries.lost_race([Some(&mut self.slot)]) {
                    self.done = Some(Err(Error::Contention));
                }
            }
        }
    }

    fn failed(&mut self) {
        self.failed = true;
    }

    fn rests_on(&self) -> Option<(Key<'_>, Version)> {
        self.slot.rests_on()
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
