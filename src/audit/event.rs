//! What the host is told: [`Event`]s, as writes land and answers are given, through its
//! [`Events`] sink.

use crate::ids::{ActorId, BookingId, Context, RequestId, VerifierId};
use crate::outcome::Outcome;
use crate::time::Timestamp;
use crate::who::Reason;

/// Which send an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Send {
    /// The first code, at issue.
    Issue,
    /// The same code again.
    Resend,
    /// A new code, at re-issue.
    Reissue,
}

impl Send {
    /// `issue`, `resend` or `reissue`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Issue => "issue",
            Self::Resend => "resend",
            Self::Reissue => "reissue",
        }
    }
}

/// What changed, told to the service's [`Events`] sink (see the [module docs](crate::audit) for
/// when each is told). No event carries a code or a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A booking was issued.
    Issued {
        /// Its context.
        context: Context<'a>,
        /// The booking.
        booking: BookingId<'a>,
        /// The code's generation.
        generation: u32,
        /// When the code's validity ends.
        expires_at: Timestamp,
    },
    /// A code was sent: the host's cue to deliver it (the code itself is the operation's
    /// answer, never an event's).
    Sent {
        /// Its context.
        context: Context<'a>,
        /// The booking.
        booking: BookingId<'a>,
        /// Which send.
        send: Send,
        /// The code's generation.
        generation: u32,
    },
    /// A send was refused by the booking's send limit; nothing was written.
    SendRefused {
        /// Its context.
        context: Context<'a>,
        /// The booking.
        booking: BookingId<'a>,
        /// Which send.
        send: Send,
        /// When a send is allowed again.
        retry_at: Timestamp,
    },
    /// A booking was revoked.
    Revoked {
        /// Its context.
        context: Context<'a>,
        /// The booking.
        booking: BookingId<'a>,
    },
    /// A verification was answered.
    Verified {
        /// Its context.
        context: Context<'a>,
        /// The booking.
        booking: BookingId<'a>,
        /// The answer (with the attempts left, for a rejection).
        outcome: Outcome,
        /// The verifier, if named.
        verifier: Option<VerifierId<'a>>,
        /// The request id, if given.
        request: Option<RequestId<'a>>,
    },
    /// A wrong code locked a booking.
    Locked {
        /// Its context.
        context: Context<'a>,
        /// The booking.
        booking: BookingId<'a>,
        /// The verifier who typed the last wrong code, if named.
        verifier: Option<VerifierId<'a>>,
    },
    /// A verifier used up its failure budget: it is suspended until `until`.
    VerifierSuspended {
        /// The budget scope.
        scope: Context<'a>,
        /// The verifier.
        verifier: VerifierId<'a>,
        /// When the window ends.
        until: Timestamp,
    },
    /// A booking was redeemed without a code, by an override.
    Overridden {
        /// Its context.
        context: Context<'a>,
        /// The booking.
        booking: BookingId<'a>,
        /// Who overrode.
        actor: ActorId<'a>,
        /// Why.
        reason: Reason,
    },
}

/// Where a service tells its [`Event`]s: a metrics counter, an alert, a channel to the
/// host's own log. Called synchronously after each write lands; keep it quick and never
/// block in it.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use handover_code::audit::{Event, Events};
///
/// /// Counts suspensions and locks, for an alert.
/// #[derive(Default)]
/// struct Alerts(AtomicU32);
///
/// impl Events for Alerts {
///     fn event(&self, event: &Event<'_>) {
///         if matches!(event, Event::VerifierSuspended { .. } | Event::Locked { .. }) {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
/// ```
pub trait Events: Sync {
    /// One event.
    fn event(&self, event: &Event<'_>);
}

/// The sink that drops every event: a service's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct NoEvents;

impl Events for NoEvents {
    fn event(&self, _event: &Event<'_>) {}
}

/// Events to a sink behind a reference: a `static` sink, or one the host keeps a handle on.
impl<E: Events + ?Sized> Events for &E {
    fn event(&self, event: &Event<'_>) {
        (**self).event(event);
    }
}

/// Events to a shared sink: the host keeps an `Arc` clone to read what it collected.
#[cfg(feature = "std")]
impl<E: Events + ?Sized + core::marker::Send> Events for std::sync::Arc<E> {
    fn event(&self, event: &Event<'_>) {
        (**self).event(event);
    }
}

/// A service's sink: a `'static` borrow, or (feature `std`) a shared one.
#[derive(Clone)]
pub(crate) enum Sink {
    Static(&'static dyn Events),
    #[cfg(feature = "std")]
    Shared(std::sync::Arc<dyn Events + core::marker::Send>),
}

impl Sink {
    pub(crate) fn get(&self) -> &dyn Events {
        match self {
            Self::Static(sink) => *sink,
            #[cfg(feature = "std")]
            Self::Shared(sink) => &**sink,
        }
    }
}

impl core::fmt::Debug for Sink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sink")
    }
}
