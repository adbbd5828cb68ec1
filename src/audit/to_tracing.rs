//! [`TracingEvents`] (feature `tracing`): events as structured `tracing` events.

use core::fmt;

use tracing::{info, warn};

use super::{Event, Events};
use crate::outcome::Outcome;
use crate::record::Earlier;

/// Emits every [`Event`] as a `tracing` event with target `handover_code`, its data as
/// fields (never formatted into the message): `event` (its name: `issued`, `sent`,
/// `send_refused`, `revoked`, `verified`, `locked`, `verifier_suspended`, `overridden`),
/// `context`, `booking`, and the event's own (`generation`, `send`, `outcome`,
/// `attempts_left`, `verifier`, `request`, `actor`, `reason`, `until`, `retry_at`).
///
/// A lock and a suspension are `WARN` (alert on them: someone may be guessing); everything
/// else is `INFO`. Ids are shown as text when they are UTF-8 and as hex otherwise.
///
/// ```
/// use handover_code::audit::TracingEvents;
/// use handover_code::{Policy, Secret, Service};
///
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "cowin/dose")?
///     .with_events(TracingEvents);
/// # Ok::<(), handover_code::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TracingEvents;

/// Bytes shown as text if they are UTF-8, else as hex.
struct Text<'a>(&'a [u8]);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(self.0) {
            Ok(text) => f.write_str(text),
            Err(_) => self.0.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

impl Events for TracingEvents {
    fn event(&self, event: &Event<'_>) {
        match *event {
            Event::Issued {
                context,
                booking,
                generation,
                expires_at,
            } => info!(
                target: "handover_code",
                event = "issued",
                context = %Text(context.as_bytes()),
                booking = %Text(booking.as_bytes()),
                generation,
                expires_at = expires_at.0,
                "booking issued"
            ),
            Event::Sent {
                context,
                booking,
                send,
                generation,
            } => info!(
                target: "handover_code",
                event = "sent",
                context = %Text(context.as_bytes()),
                booking = %Text(booking.as_bytes()),
                send = send.name(),
                generation,
                "code to send"
            ),
            Event::SendRefused {
                context,
                booking,
                send,
                retry_at,
            } => info!(
                target: "handover_code",
                event = "send_refused",
                context = %Text(context.as_bytes()),
                booking = %Text(booking.as_bytes()),
                send = send.name(),
                retry_at = retry_at.0,
                "send refused by the send limit"
            ),
            Event::Revoked { context, booking } => info!(
                target: "handover_code",
                event = "revoked",
                context = %Text(context.as_bytes()),
                booking = %Text(booking.as_bytes()),
                "booking revoked"
            ),
            Event::Verified {
                context,
                booking,
                outcome,
                verifier,
                request,
            } => {
                let attempts_left = match outcome {
                    Outcome::Rejected { attempts_left }
                    | Outcome::Replayed(Earlier::Rejected { attempts_left }) => Some(attempts_left),
                    _ => None,
                };
                info!(
                    target: "handover_code",
                    event = "verified",
                    context = %Text(context.as_bytes()),
                    booking = %Text(booking.as_bytes()),
                    outcome = super::labels::outcome_label(&outcome),
                    attempts_left,
                    verifier = verifier.map(|v| tracing::field::display(Text(v.as_bytes()))),
                    request = request.map(|r| tracing::field::display(Text(r.as_bytes()))),
                    "verification answered"
                );
            }
            Event::Locked {
                context,
                booking,
                verifier,
            } => warn!(
                target: "handover_code",
                event = "locked",
                context = %Text(context.as_bytes()),
                booking = %Text(booking.as_bytes()),
                verifier = verifier.map(|v| tracing::field::display(Text(v.as_bytes()))),
                "booking locked by wrong codes"
            ),
            Event::VerifierSuspended {
                scope,
                verifier,
                until,
            } => warn!(
                target: "handover_code",
                event = "verifier_suspended",
                scope = %Text(scope.as_bytes()),
                verifier = %Text(verifier.as_bytes()),
                until = until.0,
                "verifier suspended: failure budget used up"
            ),
            Event::Overridden {
                context,
                booking,
                actor,
                reason,
            } => info!(
                target: "handover_code",
                event = "overridden",
                context = %Text(context.as_bytes()),
                booking = %Text(booking.as_bytes()),
                actor = %Text(actor.as_bytes()),
                reason = reason.name(),
                "booking redeemed by override"
            ),
        }
    }
}
