//! Accountability: what happened, to which record, on whose word — for the host's event sink
//! and for the store's durable audit log.
//!
//! Every write an operation makes is described by an [`Entry`]: the record's key, the
//! version it expected and the version it produced, the booking it was for, who asked (the
//! verifier, the request, or the override actor) and the [`Action`]. The driver hands the
//! entry to [`Store::compare_and_swap_audited`](crate::Store::compare_and_swap_audited), so
//! a store that can write two things atomically appends it to its audit log in the same
//! transaction as the record (see [`AuditLog`](crate::store::AuditLog)); and once the write has
//! landed it tells the service's [`Events`] sink what changed, as typed [`Event`]s.
//!
//! Neither an entry nor an event ever carries a code, a typed input or a key: a booking's
//! record keeps none, and an entry is made from the ids and the record's counters alone.
//!
//! # Events
//!
//! | event | when |
//! |---|---|
//! | [`Event::Issued`] and [`Event::Sent`] ([`Send::Issue`]) | an issue landed |
//! | [`Event::Sent`] ([`Send::Resend`], [`Send::Reissue`]) | a resend or re-issue landed |
//! | [`Event::SendRefused`] | a send was refused by the send limit (nothing was written) |
//! | [`Event::Revoked`] | a revoke landed |
//! | [`Event::Verified`] | a verification was answered: after its booking write landed, or, for answers that write nothing (replays, unknown or closed bookings, a suspended verifier), when answered |
//! | [`Event::Locked`] | a wrong code that locked the booking landed (after its `Verified`) |
//! | [`Event::VerifierSuspended`] | the failure that used up a verifier's budget landed |
//! | [`Event::Overridden`] | an override landed |
//!
//! An operation that fails (a store error, a lost race past the retries) emits nothing for
//! what it did not write. Events are told synchronously, on the thread or task running the
//! operation, so a sink must be quick (push to a channel, bump a counter).
//!
//! Events are told at most once, the audit log holds every write exactly once: a write whose
//! answer never came back (a dropped future, a connection lost after the commit, a killed
//! process) is in the store's log but was told to no sink. Reconcile from the log
//! ([`AuditLog::since`](crate::store::AuditLog::since)), not from events, where every change must
//! be accounted for.

mod event;

pub(crate) use event::NoEvents;
pub(crate) use event::Sink;
pub use event::{Event, Events, Send};

#[cfg(any(feature = "tracing", feature = "metrics"))]
mod labels;
#[cfg(feature = "metrics")]
mod to_metrics;
#[cfg(feature = "tracing")]
mod to_tracing;

#[cfg(feature = "metrics")]
pub use to_metrics::MetricsEvents;
#[cfg(feature = "tracing")]
pub use to_tracing::TracingEvents;

use crate::ids::{BookingId, Context, RequestId, VerifierId};
use crate::key::Key;
use crate::outcome::Outcome;
use crate::record::{Record, Version};
use crate::time::Timestamp;
pub use crate::who::{Override, Reason};

/// What one write did to its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "action", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Action {
    /// The booking was issued, and its first code sent.
    Issued {
        /// The code's generation.
        generation: u32,
    },
    /// The booking's code was sent again.
    Resent {
        /// The code's generation.
        generation: u32,
    },
    /// The booking was re-issued: a new code, sent.
    Reissued {
        /// The new code's generation.
        generation: u32,
    },
    /// The booking was revoked.
    Revoked,
    /// The right code was typed: the booking is redeemed.
    Accepted,
    /// A wrong code was typed and counted.
    Rejected {
        /// Wrong codes still allowed.
        attempts_left: u8,
    },
    /// A wrong code was typed and counted, and it locked the booking.
    Locked,
    /// The booking was redeemed without a code, by an override.
    Overridden {
        /// Why.
        reason: Reason,
    },
    /// A verifier's budget slot was held for a comparison (taken, adopted by a retry, or
    /// moved on to a new comparison).
    BudgetHeld,
    /// A verifier's budget slot was settled: counted as a failure (`failed`) or freed.
    BudgetSettled {
        /// Whether it was counted as a failure.
        failed: bool,
    },
    /// A failure used up the verifier's budget: it is suspended until the window ends.
    Suspended {
        /// When the window ends.
        until: Timestamp,
    },
    /// An override was counted against the actor's override budget.
    OverrideCounted,
    /// An override counted against the actor's budget was given back: the booking it was
    /// for turned out not to be overridable after all (a race with another operation).
    OverrideRefunded,
}

impl Action {
    /// The action's name, as stored in an audit log: `issued`, `resent`, `reissued`,
    /// `revoked`, `accepted`, `rejected`, `locked`, `overridden`, `budget_held`,
    /// `budget_settled`, `suspended`, `override_counted`, `override_refunded`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Issued { .. } => "issued",
            Self::Resent { .. } => "resent",
            Self::Reissued { .. } => "reissued",
            Self::Revoked => "revoked",
            Self::Accepted => "accepted",
            Self::Rejected { .. } => "rejected",
            Self::Locked => "locked",
            Self::Overridden { .. } => "overridden",
            Self::BudgetHeld => "budget_held",
            Self::BudgetSettled { .. } => "budget_settled",
            Self::Suspended { .. } => "suspended",
            Self::OverrideCounted => "override_counted",
            Self::OverrideRefunded => "override_refunded",
        }
    }

    /// The action's place in [`NAMES`]: how the memory store keeps the name, in one byte.
    #[cfg(feature = "std")]
    pub(crate) const fn number(&self) -> u8 {
        match self {
            Self::Issued { .. } => 0,
            Self::Resent { .. } => 1,
            Self::Reissued { .. } => 2,
            Self::Revoked => 3,
            Self::Accepted => 4,
            Self::Rejected { .. } => 5,
            Self::Locked => 6,
            Self::Overridden { .. } => 7,
            Self::BudgetHeld => 8,
            Self::BudgetSettled { .. } => 9,
            Self::Suspended { .. } => 10,
            Self::OverrideCounted => 11,
            Self::OverrideRefunded => 12,
        }
    }

    /// The action's one number, as stored next to its name: the generation, the attempts
    /// left, the reason's number, 1 for a failure settled, the suspension's end; 0 for the
    /// others.
    #[must_use]
    pub fn detail(&self) -> u64 {
        match *self {
            Self::Issued { generation }
            | Self::Resent { generation }
            | Self::Reissued { generation } => u64::from(generation),
            Self::Rejected { attempts_left } => u64::from(attempts_left),
            Self::Overridden { reason } => u64::from(reason.number()),
            Self::BudgetSettled { failed } => u64::from(failed),
            Self::Suspended { until } => until.0,
            Self::Revoked
            | Self::Accepted
            | Self::Locked
            | Self::BudgetHeld
            | Self::OverrideCounted
            | Self::OverrideRefunded => 0,
        }
    }

    /// The action stored as `name` and `detail`, if they make one.
    #[must_use]
    pub fn from_parts(name: &str, detail: u64) -> Option<Self> {
        let generation = || u32::try_from(detail).ok();
        let unit = |action: Self| (detail == 0).then_some(action);
        match name {
            "issued" => generation().map(|generation| Self::Issued { generation }),
            "resent" => generation().map(|generation| Self::Resent { generation }),
            "reissued" => generation().map(|generation| Self::Reissued { generation }),
            "revoked" => unit(Self::Revoked),
            "accepted" => unit(Self::Accepted),
            "rejected" => u8::try_from(detail)
                .ok()
                .map(|attempts_left| Self::Rejected { attempts_left }),
            "locked" => unit(Self::Locked),
            "overridden" => Reason::from_number(detail).map(|reason| Self::Overridden { reason }),
            "budget_held" => unit(Self::BudgetHeld),
            "budget_settled" => match detail {
                0 => Some(Self::BudgetSettled { failed: false }),
                1 => Some(Self::BudgetSettled { failed: true }),
                _ => None,
            },
            "suspended" => Some(Self::Suspended {
                until: Timestamp(detail),
            }),
            "override_counted" => unit(Self::OverrideCounted),
            "override_refunded" => unit(Self::OverrideRefunded),
            _ => None,
        }
    }
}

/// Every action's name ([`Action::name`]), at its [`Action::number`].
#[cfg(feature = "std")]
pub(crate) const NAMES: [&str; 13] = [
    "issued",
    "resent",
    "reissued",
    "revoked",
    "accepted",
    "rejected",
    "locked",
    "overridden",
    "budget_held",
    "budget_settled",
    "suspended",
    "override_counted",
    "override_refunded",
];

/// What a plan knows of a write it asks for, beyond the key and versions: when, for which
/// booking, on whose word, and what it does. A store reads it through [`Entry`]'s methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Audit<'a> {
    /// When the operation ran (its `now`).
    pub(crate) at: Timestamp,
    /// The context of the booking the operation was for.
    pub(crate) context: Context<'a>,
    /// The booking the operation was for.
    pub(crate) booking: BookingId<'a>,
    /// The verifier who typed the code, for a verification.
    pub(crate) verifier: Option<VerifierId<'a>>,
    /// The verification's request id, if it had one.
    pub(crate) request: Option<RequestId<'a>>,
    /// The override, for an override.
    pub(crate) by: Option<Override<'a>>,
    /// What the write does.
    pub(crate) action: Action,
}

/// One write and what it did: what a store appends to its audit log in the same transaction
/// as the write ([`Store::compare_and_swap_audited`](crate::Store::compare_and_swap_audited)).
///
/// An entry never holds a code, a typed input or a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The record written.
    pub key: Key<'a>,
    /// The version it expected (`None`: the record was created).
    pub prior: Option<Version>,
    /// The version it produced.
    pub version: Version,
    /// The rest, read through the methods below.
    pub(crate) audit: Audit<'a>,
}

impl<'a> Entry<'a> {
    /// When the operation ran (its `now`).
    #[must_use]
    pub const fn at(&self) -> Timestamp {
        self.audit.at
    }

    /// The context of the booking the operation was for.
    #[must_use]
    pub const fn context(&self) -> Context<'a> {
        self.audit.context
    }

    /// The booking the operation was for.
    #[must_use]
    pub const fn booking(&self) -> BookingId<'a> {
        self.audit.booking
    }

    /// The verifier who typed the code, for a verification that named one.
    #[must_use]
    pub const fn verifier(&self) -> Option<VerifierId<'a>> {
        self.audit.verifier
    }

    /// The verification's request id, if it had one.
    #[must_use]
    pub const fn request(&self) -> Option<RequestId<'a>> {
        self.audit.request
    }

    /// The override's actor, reason and note, for an override.
    #[must_use]
    pub const fn by(&self) -> Option<Override<'a>> {
        self.audit.by
    }

    /// What the write does.
    #[must_use]
    pub const fn action(&self) -> Action {
        self.audit.action
    }
}

impl Entry<'_> {
    /// Tells `sink` what this write changed, once it has landed; `record` is what it wrote.
    /// Budget bookkeeping (slots held and settled, overrides counted) is audited but not an
    /// event; a suspension is.
    pub(crate) fn tell(&self, record: &Record, sink: &dyn Events) {
        let a = &self.audit;
        let (context, booking) = (a.context, a.booking);
        let verified = |outcome: Outcome| Event::Verified {
            context,
            booking,
            outcome,
            verifier: a.verifier,
            request: a.request,
        };
        match a.action {
            Action::Issued { generation } => {
                let expires_at = match record {
                    Record::Booking(b) => b.expires_at,
                    Record::Verifier(_) => Timestamp(0),
                };
                sink.event(&Event::Issued {
                    context,
                    booking,
                    generation,
                    expires_at,
                });
                sink.event(&Event::Sent {
                    context,
                    booking,
                    send: Send::Issue,
                    generation,
                });
            }
            Action::Resent { generation } => sink.event(&Event::Sent {
                context,
                booking,
                send: Send::Resend,
                generation,
            }),
            Action::Reissued { generation } => sink.event(&Event::Sent {
                context,
                booking,
                send: Send::Reissue,
                generation,
            }),
            Action::Revoked => sink.event(&Event::Revoked { context, booking }),
            Action::Accepted => sink.event(&verified(Outcome::Accepted)),
            Action::Rejected { attempts_left } => {
                sink.event(&verified(Outcome::Rejected { attempts_left }));
            }
            Action::Locked => {
                sink.event(&verified(Outcome::Rejected { attempts_left: 0 }));
                sink.event(&Event::Locked {
                    context,
                    booking,
                    verifier: a.verifier,
                });
            }
            Action::Overridden { reason } => {
                if let Some(by) = a.by {
                    sink.event(&Event::Overridden {
                        context,
                        booking,
                        actor: by.actor(),
                        reason,
                    });
                }
            }
            Action::Suspended { until } => {
                if let Key::Verifier { scope, id } = self.key {
                    sink.event(&Event::VerifierSuspended {
                        scope,
                        verifier: id,
                        until,
                    });
                }
            }
            Action::BudgetHeld
            | Action::BudgetSettled { .. }
            | Action::OverrideCounted
            | Action::OverrideRefunded => {}
        }
    }
}
