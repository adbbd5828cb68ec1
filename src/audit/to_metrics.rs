//! [`MetricsEvents`] (feature `metrics`): events counted through the `metrics` facade.

use metrics::counter;
use std::string::String;

use super::{Event, Events};

/// Counts every [`Event`] through the [`metrics`](https://docs.rs/metrics) facade, into
/// whatever recorder the host installed (Prometheus, StatsD, OpenTelemetry). Labels are the
/// context (or budget scope), the store the host names, and the event's own kind; never a
/// booking, a verifier, a request or a code, so the series stay few and safe to export.
///
/// | counter | labels | counts |
/// |---|---|---|
/// | `handover_issued_total` | `context`, `store` | bookings issued |
/// | `handover_sends_total` | `context`, `store`, `send` (`issue`, `resend`, `reissue`) | codes to send |
/// | `handover_sends_refused_total` | `context`, `store`, `send` | sends refused by the send limit |
/// | `handover_verifications_total` | `context`, `store`, `outcome` (the JSON name: `accepted`, `rejected`, `locked`, …) | verifications answered |
/// | `handover_locks_total` | `context`, `store` | bookings locked by wrong codes |
/// | `handover_suspensions_total` | `scope`, `store` | verifiers suspended by their budget |
/// | `handover_overrides_total` | `context`, `store`, `reason` | bookings redeemed by an override |
/// | `handover_revocations_total` | `context`, `store` | bookings revoked |
///
/// The service itself (feature `metrics`) records how long each store call took, in the
/// histogram `handover_store_call_seconds` by `operation` (`load`, `compare_and_swap`,
/// `commit`, `make_durable`).
///
/// ```
/// use handover_code::audit::MetricsEvents;
/// use handover_code::{Policy, Secret, Service};
///
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "cowin/dose")?
///     .with_events(MetricsEvents::new("postgres"));
/// # Ok::<(), handover_code::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MetricsEvents {
    store: &'static str,
}

impl MetricsEvents {
    /// A sink that labels every count with `store` (`postgres`, `redis`, `sqlite`, …): the
    /// host's name for the store its service runs on.
    #[must_use]
    pub const fn new(store: &'static str) -> Self {
        Self { store }
    }
}

/// Bytes as a label: text if they are UTF-8, else hex.
fn label(bytes: &[u8]) -> String {
    use core::fmt::Write;
    match core::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => bytes.iter().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        }),
    }
}

impl Events for MetricsEvents {
    fn event(&self, event: &Event<'_>) {
        let store = self.store;
        match *event {
            Event::Issued { context, .. } => {
                counter!("handover_issued_total", "context" => label(context.as_bytes()), "store" => store)
                    .increment(1);
            }
            Event::Sent { context, send, .. } => {
                counter!("handover_sends_total", "context" => label(context.as_bytes()), "store" => store, "send" => send.name())
                    .increment(1);
            }
            Event::SendRefused { context, send, .. } => {
                counter!("handover_sends_refused_total", "context" => label(context.as_bytes()), "store" => store, "send" => send.name())
                    .increment(1);
            }
            Event::Revoked { context, .. } => {
                counter!("handover_revocations_total", "context" => label(context.as_bytes()), "store" => store)
                    .increment(1);
            }
            Event::Verified {
                context, outcome, ..
            } => {
                counter!("handover_verifications_total", "context" => label(context.as_bytes()), "store" => store, "outcome" => super::labels::outcome_label(&outcome))
                    .increment(1);
            }
            Event::Locked { context, .. } => {
                counter!("handover_locks_total", "context" => label(context.as_bytes()), "store" => store)
                    .increment(1);
            }
            Event::VerifierSuspended { scope, .. } => {
                counter!("handover_suspensions_total", "scope" => label(scope.as_bytes()), "store" => store)
                    .increment(1);
            }
            Event::Overridden {
                context, reason, ..
            } => {
                counter!("handover_overrides_total", "context" => label(context.as_bytes()), "store" => store, "reason" => reason.name())
                    .increment(1);
            }
        }
    }
}
