//! The crate's one error type.
//!
//! No variant carries a code, a secret, a booking id or what a person typed: an error is safe
//! to log as it is. Each message says what went wrong and, where there is something to do,
//! what to do.

use core::convert::Infallible;

/// The result of the crate's fallible operations.
pub type Result<T, S = Infallible> = core::result::Result<T, Error<S>>;

/// Everything that can go wrong.
///
/// `S` is the error type of the store an operation used; it is kept
/// as this error's [`source`](core::error::Error::source). Operations that touch no store use
/// the default, [`Infallible`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<S = Infallible> {
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
    /// The caller's random number generator failed.
    #[error("random number generator failed; check the entropy source and retry")]
    Rng,
    /// What the person typed is not a code of the expected length. No attempt was counted.
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
    /// The store failed; its error is the source. Nothing was answered.
    #[error("store failed; nothing was answered, retry once the store is back")]
    Store(#[source] S),
}

/// Why typed input is not a code. Carries nothing of the input itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// No digits at all.
    #[error("no digits; ask for the code again")]
    Empty,
    /// More bytes than [`MAX_INPUT_LEN`](crate::input::MAX_INPUT_LEN).
    #[error("input too long; ask for the code again")]
    TooLong,
    /// Digits were read, but not as many as the code has.
    #[error("wrong number of digits; ask for the code again")]
    WrongLength,
    /// A character that is neither a decimal digit, a space nor a hyphen.
    #[error("not a digit, space or hyphen; ask for the code again")]
    NotADigit,
}

impl Error {
    /// Converts an error that involved no store into the error type of any store.
    pub fn widen<S>(self) -> Error<S> {
        match self {
            Self::BookingIdLength => Error::BookingIdLength,
            Self::ContextLength => Error::ContextLength,
            Self::SecretLength => Error::SecretLength,
            Self::Rng => Error::Rng,
            Self::Malformed(why) => Error::Malformed(why),
            Self::UnknownKey => Error::UnknownKey,
            Self::KeyringFull => Error::KeyringFull,
            Self::DuplicateKey => Error::DuplicateKey,
            Self::CurrentKey => Error::CurrentKey,
            Self::Store(never) => match never {},
        }
    }
}
