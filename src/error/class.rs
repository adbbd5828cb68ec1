//! [`ErrorClass`]: what a host does with each [`Error`], one table for every variant.

use super::Error;

/// What a host does with an [`Error`]: every variant is in exactly one class
/// ([`Error::class`]).
///
/// | class | variants | what to do | HTTP |
/// |---|---|---|---|
/// | [`BadInput`](ErrorClass::BadInput) | the length and encoding errors ([`Error::BookingIdLength`], [`Error::ContextLength`], [`Error::SecretLength`], [`Error::SecretEncoding`], [`Error::VerifierIdLength`], [`Error::RequestIdLength`], [`Error::ActorIdLength`], [`Error::NoteLength`]), [`Error::Malformed`], the policy errors, [`Error::BeforeEpoch`], [`Error::Validity`], the keyring changes refused ([`Error::KeyringFull`], [`Error::DuplicateKey`], [`Error::CurrentKey`]), [`Error::OverridesOff`] | fix the input; nothing was written | 4xx |
/// | [`Conflict`](ErrorClass::Conflict) | [`Error::AlreadyIssued`], [`Error::UnknownBooking`], [`Error::Inactive`] | the booking's state refuses the operation | 409 (404 for an unknown booking) |
/// | [`Limit`](ErrorClass::Limit) | [`Error::SendLimit`], [`Error::OverrideLimit`], [`Error::BudgetBusy`] | come back at [`Error::retry_after`] | 429 with `Retry-After` |
/// | [`Transient`](ErrorClass::Transient) | [`Error::Store`], [`Error::Contention`], [`Error::Rng`] | retry shortly, with the same request id | 503 |
/// | [`Permanent`](ErrorClass::Permanent) | [`Error::Refused`], [`Error::Corrupt`], [`Error::Setup`], [`Error::UnknownKey`], [`Error::Clock`] | a fault of the server: alert, do not retry | 500 |
///
/// ```
/// use handover_code::{Error, ErrorClass, Timestamp};
///
/// let status = |e: &Error| match e.class() {
///     ErrorClass::BadInput => 400,
///     ErrorClass::Conflict => 409,
///     ErrorClass::Limit => 429,
///     ErrorClass::Transient => 503,
///     ErrorClass::Permanent => 500,
/// };
/// assert_eq!(status(&Error::AlreadyIssued), 409);
/// assert_eq!(status(&Error::BudgetBusy { retry_at: Timestamp(1_700_000_001) }), 429);
/// assert_eq!(status(&Error::Clock), 500);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The caller's input (or the host's configuration) was refused; nothing was written.
    /// Retrying the same call answers the same.
    BadInput,
    /// The booking's state refuses the operation (already issued, unknown, redeemed,
    /// revoked, locked, expired). Retrying the same call answers the same.
    Conflict,
    /// A limit holds the call back until [`Error::retry_after`].
    Limit,
    /// A fault of the moment (the store, a lost race, the random number generator): retry
    /// shortly, with the same request id.
    Transient,
    /// A fault of the server that waiting does not change (a store that refuses, a corrupt
    /// record, a store set up wrong, a key missing from the keyring, the clock): alert an
    /// operator; do not retry.
    Permanent,
}

impl Error {
    /// The error's class: what a host does with it (see [`ErrorClass`]'s table).
    ///
    /// ```
    /// use handover_code::{Error, ErrorClass};
    ///
    /// assert_eq!(Error::BookingIdLength.class(), ErrorClass::BadInput);
    /// assert_eq!(Error::Contention.class(), ErrorClass::Transient);
    /// ```
    #[must_use]
    pub const fn class(&self) -> ErrorClass {
        match self {
            Self::BookingIdLength
            | Self::ContextLength
            | Self::SecretLength
            | Self::SecretEncoding
            | Self::Malformed(_)
            | Self::KeyringFull
            | Self::DuplicateKey
            | Self::CurrentKey
            | Self::VerifierIdLength
            | Self::RequestIdLength
            | Self::ActorIdLength
            | Self::NoteLength
            | Self::PolicyAttempts
            | Self::PolicyLifetime
            | Self::PolicyBudget
            | Self::PolicySends
            | Self::PolicyRetries
            | Self::PolicyClockSkew
            | Self::BeforeEpoch
            | Self::Validity
            | Self::OverridesOff => ErrorClass::BadInput,
            Self::AlreadyIssued | Self::UnknownBooking | Self::Inactive(_) => ErrorClass::Conflict,
            Self::SendLimit { .. } | Self::OverrideLimit { .. } | Self::BudgetBusy { .. } => {
                ErrorClass::Limit
            }
            Self::Store(_) | Self::Contention | Self::Rng => ErrorClass::Transient,
            Self::Refused(_)
            | Self::Corrupt(_)
            | Self::Setup(_)
            | Self::UnknownKey
            | Self::Clock => ErrorClass::Permanent,
        }
    }
}
