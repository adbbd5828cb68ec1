//! The crate's one error story: [`Error`], what every fallible call answers, constructors
//! and operations alike, whichever store an operation used.
//!
//! So a host writes one `From<handover_code::Error>` for its own error type (or uses
//! `Box<dyn Error>` or `anyhow::Error`), `?` works on constructors and operations in one
//! function, and switching the store changes no signature. The store's own error is kept
//! inside [`Error::Store`] as a [`StoreError`], and is its
//! [`source`](core::error::Error::source).
//!
//! Every variant is in one [`ErrorClass`] ([`Error::class`]): what a host does with it, and
//! the HTTP status it answers.
//!
//! No variant carries a code, a secret or what a person typed: an error is safe to log as
//! it is. One names a key: a record that cannot be decoded is answered [`Error::Corrupt`]
//! whose source names the record's kind, namespace and id (never its bytes), for an
//! operator to find it. Each message says what went wrong and, where there is something to
//! do, what to do.

use core::convert::Infallible;

use crate::invalid::Malformed;

mod class;
mod corrupt;
mod store_error;

use crate::time::Timestamp;
pub use class::ErrorClass;
use store_error::Class;
pub use store_error::StoreError;

/// The result of the crate's fallible calls.
pub(crate) type Result<T> = core::result::Result<T, Error>;

/// Everything that can go wrong, in constructors and operations alike.
///
/// Each variant is in exactly one [`ErrorClass`] ([`Error::class`]), whose table says what a
/// host does with it and the HTTP status it answers: bad input (nothing was written
/// anywhere), a booking's state, a limit ([`Error::retry_after`] says when), a fault of the
/// moment (retry), a fault of the server (do not retry).
///
/// ```
/// use handover_code::{Error, MemoryStore, Policy, Secret, Service};
///
/// // One error type for constructors and operations, whatever the store.
/// fn issue_one(store: &MemoryStore, id: &str) -> Result<(), Error> {
///     let secret = Secret::from_bytes(&[7; 32])?;
///     let service = Service::new(secret, Policy::default().with_attempts(3)?, "cowin/dose")?;
///     service.issue(store, id, 1_700_000_600, 1_700_000_000)?;
///     Ok(())
/// }
///
/// let store = MemoryStore::new();
/// issue_one(&store, "SLOT-1")?;
/// assert!(matches!(issue_one(&store, ""), Err(Error::BookingIdLength)));
/// assert!(matches!(issue_one(&store, "SLOT-1"), Err(Error::AlreadyIssued)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A booking id was empty or longer than [`BookingId::MAX_LEN`](crate::BookingId::MAX_LEN).
    #[error("booking id must be 1 to 128 bytes long")]
    BookingIdLength,
    /// A context was empty or longer than [`Context::MAX_LEN`](crate::Context::MAX_LEN).
    #[error("context must be 1 to 64 bytes long")]
    ContextLength,
    /// A secret was shorter than [`Secret::MIN_LEN`](crate::Secret::MIN_LEN) or longer than
    /// [`Secret::MAX_LEN`](crate::Secret::MAX_LEN).
    #[error("secret must be 32 to 256 bytes long; generate one with Secret::generate")]
    SecretLength,
    /// A secret's text was not hex ([`Secret::from_hex`](crate::Secret::from_hex)) or
    /// standard padded base64 ([`Secret::from_base64`](crate::Secret::from_base64)).
    #[error("secret text is not valid hex or base64 as asked; check how the secret was stored")]
    SecretEncoding,
    /// The caller's random number generator failed.
    #[error("random number generator failed; check the entropy source and retry")]
    Rng,
    /// What the person typed is not a code of the expected length. No attempt was counted,
    /// nothing was written.
    #[error("typed code is malformed: {0}")]
    Malformed(Malformed),
    /// The keyring holds no key with the id asked for.
    #[error("no key with that id in the keyring")]
    UnknownKey,
    /// The keyring has no free slot.
    #[error("keyring is full; remove a retired key first")]
    KeyringFull,
    /// The keyring already holds a key with that id.
    #[error("keyring already holds a key with that id; choose a new id")]
    DuplicateKey,
    /// The current key cannot be removed from the keyring.
    #[error("cannot remove the current key; make another key current first")]
    CurrentKey,
    /// A verifier id was empty or longer than
    /// [`VerifierId::MAX_LEN`](crate::store::VerifierId::MAX_LEN).
    #[error("verifier id must be 1 to 64 bytes long")]
    VerifierIdLength,
    /// A request id was empty or longer than
    /// [`RequestId::MAX_LEN`](crate::RequestId::MAX_LEN).
    #[error("request id must be 1 to 64 bytes long")]
    RequestIdLength,
    /// An override actor id was empty or longer than
    /// [`ActorId::MAX_LEN`](crate::ActorId::MAX_LEN).
    #[error("actor id must be 1 to 64 bytes long")]
    ActorIdLength,
    /// An override's note was longer than
    /// [`Override::MAX_NOTE_LEN`](crate::audit::Override::MAX_NOTE_LEN) bytes.
    #[error("override note must be at most 200 bytes long; shorten it")]
    NoteLength,
    /// Attempts per generation must be 1 to [`Policy::max_attempts_for`](crate::Policy::max_attempts_for) the digit count.
    #[error("invalid policy: attempts per generation must be 1 to 5 for 4-5 digits, 1 to 10 for 6")]
    PolicyAttempts,
    /// The lifetime cap must be at least the per-generation limit and at most 3 times the
    /// hard maximum.
    #[error(
        "invalid policy: lifetime cap must be between the attempts per generation and 3 times the hard maximum"
    )]
    PolicyLifetime,
    /// A verifier budget needs at least one failure and a window of at least one second.
    #[error(
        "invalid policy: verifier budget needs at least 1 failure and a window of at least 1 second"
    )]
    PolicyBudget,
    /// A send limit needs 1 to [`Policy::MAX_SENDS`](crate::Policy::MAX_SENDS) sends per window of at least
    /// [`Policy::MIN_SEND_WINDOW`](crate::Policy::MIN_SEND_WINDOW) seconds.
    #[error("invalid policy: send limit must be 1 to 10 sends per window of at least 60 seconds")]
    PolicySends,
    /// The conflict retry count must be 1 to [`Policy::MAX_RETRIES`](crate::Policy::MAX_RETRIES).
    #[error("invalid policy: conflict retries must be 1 to 64")]
    PolicyRetries,
    /// The clock-skew tolerance must be at most [`Policy::MAX_CLOCK_SKEW`](crate::Policy::MAX_CLOCK_SKEW) seconds.
    #[error("invalid policy: clock-skew tolerance must be 0 to 300 seconds")]
    PolicyClockSkew,
    /// A time before 1970 was given where a [`Timestamp`] was wanted.
    #[error("time is before 1970; check the host's clock")]
    BeforeEpoch,
    /// The validity given at issue ends at or before the issue time.
    #[error("validity must end after the issue time; give a later expiry")]
    Validity,
    /// The clock reads earlier than the booking's issue time (for a verification or an
    /// override, by more than the policy's
    /// [clock-skew tolerance](crate::Policy::with_clock_skew)). Nothing was compared or
    /// counted.
    #[error("clock reads before the booking was issued; check the host's clock")]
    Clock,
    /// `issue` found a record for the booking already.
    #[error("booking already issued; use resend or reissue")]
    AlreadyIssued,
    /// `resend`, `reissue` or `revoke` found no record for the booking.
    #[error("no such booking; issue it first")]
    UnknownBooking,
    /// The booking cannot take this operation in its current state.
    #[error("booking is {0}; issue a new booking instead")]
    Inactive(Inactive),
    /// The booking has had as many sends (issue, resend, re-issue) as its send limit allows
    /// in the current window. Nothing was sent or written.
    #[error("send limit reached for this booking; send again at or after {}", retry_at.0)]
    SendLimit {
        /// The first instant at which a send is allowed again (seconds since the epoch):
        /// what to put in a `Retry-After`.
        retry_at: Timestamp,
    },
    /// The verifier's failure budget is taken up by its own verifications still in flight
    /// (or cut off before they were settled), so this code was not compared. Nothing was
    /// counted; retry at `retry_at`. Unlike [`Outcome::VerifierSuspended`](crate::Outcome), this is
    /// no sign of guessing: the budget frees as those verifications are answered, and at
    /// the end of the window for any that were dropped without a request id.
    #[error("verifier budget held by verifications in flight; nothing was compared, retry at or after {}", retry_at.0)]
    BudgetBusy {
        /// When to try again: a second after the verification was refused (verifications
        /// in flight are answered within the store's timeout), never past the end of the
        /// budget's window, when every slot is free.
        retry_at: Timestamp,
    },
    /// The service's policy turns overrides off
    /// ([`Policy::without_overrides`](crate::Policy::without_overrides)); nothing was
    /// written. Re-issue the code instead, or use a service whose policy allows overrides.
    #[error("overrides are turned off for this service; re-issue the code instead")]
    OverridesOff,
    /// The override actor has used its override budget for the window; nothing was
    /// written. Another actor may override, or this one again at `retry_at`.
    #[error("override budget used up for this actor; override again at or after {}", retry_at.0)]
    OverrideLimit {
        /// When the actor's window ends.
        retry_at: Timestamp,
    },
    /// Every compare-and-swap lost a race, `Policy::max_retries` times over. Nothing was
    /// answered; the guess may or may not have been counted.
    ///
    /// Also the answer to a wrong code whose failure could not be settled on the verifier's
    /// budget record (it lost more races than the budget's other slots can cause): the
    /// booking counted the guess, and a retry with the same request id
    /// ([`Attempt::request`](crate::Attempt::request)) settles the failure and
    /// replays the answer (if its slot was one of the holds the record remembers by request;
    /// one only counted stays held until the window ends). A first answer is never a
    /// rejection whose failure is not settled.
    #[error("too much contention on one record; nothing was answered, retry later")]
    Contention,
    /// The store returned a record that cannot be right: bytes that are not a record (the
    /// source names the record's key and why, never its bytes), a verifier's record under
    /// a booking's key or the other way round, a version at its limit; or its answers kept
    /// one operation going past 4,096 store calls, which no operation needs. Nothing was
    /// answered, and retrying answers the same: restore the record from a backup or revoke
    /// the booking and issue a new one.
    #[error(
        "store returned a record that cannot be read; inspect the store (see the source), do not retry"
    )]
    Corrupt(#[source] StoreError),
    /// The store failed for a moment (a connection lost, a timeout, a pool with no
    /// connection free, a failover); its error is the source. Nothing was answered; retry
    /// once the store is back, with the same request id.
    #[error("store failed; nothing was answered, retry once the store is back")]
    Store(#[source] StoreError),
    /// The store refused the call for a reason waiting does not change: a missing table or
    /// column, a permission refused, a constraint or trigger that refuses the write (see
    /// [`StoreError`] for how a store says so). Its error is the source. Nothing was
    /// answered; fix the store, then retry.
    #[error("store refused the call; fix the store (see the source), retrying changes nothing")]
    Refused(#[source] StoreError),
    /// A store could not be set up as asked: settings it cannot use (a table prefix, a URL,
    /// a CA file) or a database written by another schema version. Its error is the
    /// source. Nothing was written; fix the settings or migrate, then start again.
    #[error("store settings refused; fix them (see the source) and start again")]
    Setup(#[source] StoreError),
}

impl Error {
    /// Whether the same call may succeed if made again later, unchanged: a fault of the
    /// moment ([`ErrorClass::Transient`]: the store failed for a moment, races, the random
    /// number generator) or a limit that ends at a time ([`ErrorClass::Limit`]; see
    /// [`Error::retry_after`]). Nothing else changes by waiting: bad input, a booking's
    /// state, a store that refuses or holds a corrupt record, the clock.
    ///
    /// ```
    /// use handover_code::{Error, Timestamp};
    ///
    /// let busy = Error::BudgetBusy { retry_at: Timestamp(1_700_000_001) };
    /// assert!(busy.is_retryable());
    /// let limit = Error::SendLimit { retry_at: Timestamp(1_700_000_600) };
    /// assert_eq!(limit.retry_after(), Some(Timestamp(1_700_000_600)));
    /// // Seconds for a `Retry-After` header, from the host's clock:
    /// let now = Timestamp(1_700_000_000);
    /// assert_eq!(limit.retry_after().map(|at| at - now), Some(std::time::Duration::from_secs(600)));
    /// assert!(!Error::Clock.is_retryable());
    /// ```
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        matches!(self.class(), ErrorClass::Transient | ErrorClass::Limit)
    }

    /// The first instant a retry may succeed, for every error of [`ErrorClass::Limit`]: a
    /// send limit's or an override budget's window end, a busy budget's retry time. `None`
    /// for every other error (a transient one may be retried at once, after a short
    /// backoff).
    #[must_use]
    pub const fn retry_after(&self) -> Option<Timestamp> {
        match self {
            Self::SendLimit { retry_at }
            | Self::OverrideLimit { retry_at }
            | Self::BudgetBusy { retry_at } => Some(*retry_at),
            _ => None,
        }
    }
}

/// Why a booking cannot be resent, re-issued or revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Inactive {
    /// Its code was accepted.
    #[error("redeemed")]
    Redeemed,
    /// It was revoked.
    #[error("revoked")]
    Revoked,
    /// Its current generation is locked by wrong codes (a re-issue unlocks it).
    #[error("locked")]
    Locked,
    /// Its current generation expired (a re-issue renews it).
    #[error("expired")]
    Expired,
    /// Its lifetime cap on wrong codes, or its generation counter, is used up.
    #[error("out of attempts for good")]
    Exhausted,
}

/// Whole seconds since the epoch (feature `std`); [`Error::BeforeEpoch`] for an earlier
/// time. (Here, not beside [`Timestamp`], so that `time` stays below `error`.)
#[cfg(feature = "std")]
impl TryFrom<std::time::SystemTime> for Timestamp {
    type Error = Error;

    fn try_from(t: std::time::SystemTime) -> Result<Self> {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(Self::from)
            .map_err(|_| Error::BeforeEpoch)
    }
}

/// `?` on a conversion that cannot fail (a value already of the type asked for).
impl From<Infallible> for Error {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

impl Error {
    /// A store's failure, kept as this error's source, in the variant its class says
    /// ([`Error::Store`], [`Error::Refused`] or [`Error::Corrupt`]).
    ///
    /// A store whose own error type is this one (the crate's stores are) answers it as it
    /// is: its store errors are already inside, and nothing is wrapped twice.
    pub(crate) fn store<E: core::error::Error + Send + Sync + 'static>(error: E) -> Self {
        let mut slot = Some(error);
        if let Some(own) = take_as::<Self, E>(&mut slot) {
            return own;
        }
        slot.map_or_else(Self::inconsistent, |error| StoreError::new(error).into())
    }
}

/// A store's error answered in the variant its class says: [`Error::Store`] when waiting
/// may change it, [`Error::Refused`] when it does not, [`Error::Corrupt`] for a record that
/// cannot be decoded. The store author's way to answer a classed error with `?`:
///
/// ```
/// use handover_code::{Error, StoreError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("no such table")]
/// struct NoTable;
///
/// fn load() -> Result<(), Error> {
///     Err(StoreError::permanent(NoTable))?
/// }
/// assert!(matches!(load(), Err(Error::Refused(_))));
/// ```
impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error.class() {
            Class::Transient => Self::Store(error),
            Class::Permanent => Self::Refused(error),
            Class::Corrupt => Self::Corrupt(error),
        }
    }
}

/// `slot`'s value if `E` is `T`, taken out of it; `None`, with `slot` untouched, otherwise.
pub(crate) fn take_as<T: 'static, E: 'static>(slot: &mut Option<E>) -> Option<T> {
    (slot as &mut dyn core::any::Any)
        .downcast_mut::<Option<T>>()
        .and_then(Option::take)
}

#[cfg(test)]
mod tests;
