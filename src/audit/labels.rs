//! The names the `tracing` and `metrics` sinks label values with.

use crate::outcome::Outcome;

/// An outcome's name, as in its JSON form: what the `tracing` and `metrics` sinks label it
/// with.
pub(crate) const fn outcome_label(outcome: &Outcome) -> &'static str {
    use crate::record::Earlier;
    match outcome {
        Outcome::Accepted => "accepted",
        Outcome::Rejected { .. } => "rejected",
        Outcome::Replayed(Earlier::Accepted) => "replayed_accepted",
        Outcome::Replayed(Earlier::Rejected { .. }) => "replayed_rejected",
        Outcome::Replayed(Earlier::Overridden) => "replayed_overridden",
        Outcome::Locked => "locked",
        Outcome::Expired => "expired",
        Outcome::AlreadyRedeemed { by_override: false } => "already_redeemed",
        Outcome::AlreadyRedeemed { by_override: true } => "already_redeemed_by_override",
        Outcome::Revoked => "revoked",
        Outcome::UnknownBooking => "unknown_booking",
        Outcome::VerifierSuspended { .. } => "verifier_suspended",
    }
}
