//! What a verification answers: [`Outcome`].

use crate::record::Earlier;
use crate::time::Timestamp;

/// What a verification answers. Faults and malformed input are errors, not outcomes.
///
/// With feature `serde` an outcome is a JSON object named by its `"outcome"` field, in
/// `snake_case`, with its data as sibling fields; this shape is stable (new variants may
/// add new names):
///
/// | outcome | JSON |
/// |---|---|
/// | `Accepted` | `{"outcome":"accepted"}` |
/// | `Rejected { attempts_left: 2 }` | `{"outcome":"rejected","attempts_left":2}` |
/// | `Replayed(Earlier::Accepted)` | `{"outcome":"replayed","answer":"accepted"}` |
/// | `Replayed(Earlier::Rejected { attempts_left: 1 })` | `{"outcome":"replayed","answer":"rejected","attempts_left":1}` |
/// | `Locked` | `{"outcome":"locked"}` |
/// | `Expired` | `{"outcome":"expired"}` |
/// | `AlreadyRedeemed { by_override: false }` | `{"outcome":"already_redeemed","by_override":false}` |
/// | `Revoked` | `{"outcome":"revoked"}` |
/// | `UnknownBooking` | `{"outcome":"unknown_booking"}` |
/// | `VerifierSuspended { until: Timestamp(1700000000) }` | `{"outcome":"verifier_suspended","until":1700000000}` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "outcome", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Outcome {
    /// The code is right: hand over. The booking is now redeemed; this is answered once.
    Accepted,
    /// The code is wrong. `attempts_left` more wrong codes are allowed (in this generation
    /// and within the lifetime cap); at 0 the booking is now locked.
    Rejected {
        /// Wrong codes still allowed before the booking locks.
        attempts_left: u8,
    },
    /// A retry of a request that was already answered (same request id, same verifier):
    /// the answer it was given, again. Nothing was counted again. A replayed acceptance is
    /// only given to the right code, so it is safe to hand over on it: the first answer was
    /// lost, not given twice.
    Replayed(Earlier),
    /// Too many wrong codes; nothing was compared. A re-issue unlocks it unless the
    /// lifetime cap is reached.
    Locked,
    /// The code's validity has ended; nothing was compared.
    Expired,
    /// The booking was already redeemed; nothing was compared. The booking's record says
    /// when, by which verifier and under which request
    /// ([`Booking::last_at`](crate::record::Booking::last_at) and the getters beside it).
    AlreadyRedeemed {
        /// Whether it was redeemed by an override (no code was typed;
        /// [`Booking::last_verifier`](crate::record::Booking::last_verifier) names the override actor) rather than by its code.
        by_override: bool,
    },
    /// The host ended the booking; nothing was compared.
    Revoked,
    /// No such booking; nothing was compared.
    UnknownBooking,
    /// This verifier has used its failure budget for the window. Answered before anything
    /// about the booking or the typed input is read, so it is the same answer for every
    /// booking and every input.
    VerifierSuspended {
        /// When the window ends and the verifier may guess again: a `Retry-After`.
        until: Timestamp,
    },
}

impl Outcome {
    /// Whether this answer counted a wrong code: what a verifier's budget slot settles as a
    /// failure.
    #[must_use]
    pub const fn is_failure(&self) -> bool {
        matches!(self, Self::Rejected { .. })
    }

    /// Whether the person may be handed over to: accepted now, or a replay of an
    /// acceptance to the same request.
    #[must_use]
    pub const fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted | Self::Replayed(Earlier::Accepted))
    }
}
