//! What a verification was asked, in either mode: the rules, the booking, what was typed,
//! who asks and when, the budget that pays, and the two records it reads.

use crate::audit::{Action, Audit, Event, Events};
use crate::decide::{Rules, Who};
use crate::derive::BookingId;
use crate::error::Error;
use crate::key::Key;
use crate::outcome::Outcome;
use crate::policy::VerifierBudget;
use crate::time::Timestamp;

use super::Slot;

/// A verification's question and its records, shared by [`Verify`](super::Verify) and
/// [`Atomic`](super::Atomic).
pub(super) struct Asked<'a> {
    pub(super) rules: Rules<'a>,
    pub(super) booking: BookingId<'a>,
    pub(super) typed: &'a str,
    pub(super) who: Who<'a>,
    pub(super) now: Timestamp,
    /// The budget, when there is one and a verifier whose budget pays.
    pub(super) budget: Option<VerifierBudget>,
    /// The booking's record.
    pub(super) b: Slot<'a>,
    /// The verifier's budget record, when a budget pays.
    pub(super) v: Option<Slot<'a>>,
}

impl<'a> Asked<'a> {
    /// A verification of `typed` against `booking` in `rules.context`, by `who`, with the
    /// verifier's budget record kept under `scope` when the policy has a budget.
    pub(super) fn new(
        rules: Rules<'a>,
        scope: crate::Context<'a>,
        booking: BookingId<'a>,
        typed: &'a str,
        who: Who<'a>,
        now: Timestamp,
    ) -> Self {
        let budget = rules.policy.budget().filter(|_| who.verifier.is_some());
        let v = who
            .verifier
            .filter(|_| budget.is_some())
            .map(|id| Slot::new(Key::Verifier { scope, id }));
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
            v,
        }
    }

    /// What a write of this verification doing `action` is, for the audit log.
    pub(super) const fn audit(&self, action: Action) -> Audit<'a> {
        Audit {
            at: self.now,
            context: self.rules.context,
            booking: self.booking,
            verifier: self.who.verifier,
            request: self.who.request,
            by: None,
            action,
        }
    }

    /// The plan's `Debug` output, named `name`, with what was typed left out; `rest` adds
    /// the plan's own fields.
    pub(super) fn debug(
        &self,
        f: &mut core::fmt::Formatter<'_>,
        name: &str,
        rest: impl FnOnce(&mut core::fmt::DebugStruct<'_, '_>),
    ) -> core::fmt::Result {
        let mut d = f.debug_struct(name);
        d.field("context", &self.rules.context)
            .field("booking", &self.booking)
            .field("typed", &"<redacted>")
            .field("who", &self.who)
            .field("now", &self.now);
        rest(&mut d);
        d.finish_non_exhaustive()
    }

    /// Tells `sink` of an answer that wrote nothing (`wrote`: its writes landed, and were
    /// told with them).
    pub(super) fn answered(&self, answer: &Result<Outcome, Error>, wrote: bool, sink: &dyn Events) {
        if let (Ok(outcome), false) = (answer, wrote) {
            sink.event(&Event::Verified {
                context: self.rules.context,
                booking: self.booking,
                outcome: *outcome,
                verifier: self.who.verifier,
                request: self.who.request,
            });
        }
    }
}
