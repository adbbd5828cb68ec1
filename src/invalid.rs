//! What a constructor refuses: [`Invalid`], with why typed input is not a code
//! ([`Malformed`]) and why a policy setting was refused ([`PolicyError`]). A leaf: the value
//! types below it in the crate (times, ids, secrets, keyrings, typed input, policies) all
//! answer it, and it depends on none of them.

/// Why a value could not be made: what a constructor, a keyring change or typed-input
/// reading answers. Nothing was written anywhere.
///
/// Each variant is also a variant of [`Error`](crate::Error) of the same name, and `?` converts one into
/// the other for every store error type, so constructors and operations mix in one function:
///
/// ```
/// use handover_code::{BookingId, Context, Digits, Error, KeyId, Keyring, MemoryStore};
/// use handover_code::{Policy, Secret, Service, Timestamp, store::memory::Poisoned};
///
/// fn issue_one(store: &MemoryStore, id: &str) -> Result<(), Error<Poisoned>> {
///     let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
///     let policy = Policy::new(Digits::Four).with_attempts(3)?;
///     let service = Service::new(&keys, policy, Context::new("cowin/dose")?);
///     let now = Timestamp(1_700_000_000);
///     service.issue(store, BookingId::new(id)?, Timestamp(now.0 + 600), now)?;
///     Ok(())
/// }
///
/// /// The same in a function returning `Box<dyn Error>` (or `anyhow::Error`).
/// fn policy(attempts: u8) -> Result<Policy, Box<dyn std::error::Error + Send + Sync>> {
///     Ok(Policy::new(Digits::Four).with_attempts(attempts)?)
/// }
///
/// let store = MemoryStore::new();
/// issue_one(&store, "SLOT-1")?;
/// assert!(matches!(issue_one(&store, ""), Err(Error::BookingIdLength)));
/// assert!(policy(3).is_ok() && policy(9).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
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
    /// What the person typed is not a code of the expected length.
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
    /// A policy setting is out of range.
    #[error("invalid policy: {0}")]
    Policy(PolicyError),
    /// A time before 1970 was given where a [`Timestamp`](crate::Timestamp) was wanted.
    #[error("time is before 1970; check the host's clock")]
    BeforeEpoch,
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
    /// A character that is neither a digit of the scripts read nor a dropped space or
    /// hyphen ([`input`](crate::input) lists both): a letter, other punctuation, a digit of
    /// another script such as Thai.
    #[error("not a digit, space or hyphen; ask for the code again")]
    NotADigit,
}

/// Why a policy setting was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Attempts per generation must be 1 to [`Policy::max_attempts_for`](crate::Policy::max_attempts_for) the digit count.
    #[error("attempts per generation must be 1 to 5 for 4-5 digits, 1 to 10 for 6")]
    Attempts,
    /// The lifetime cap must be at least the per-generation limit and at most 3 times the
    /// hard maximum.
    #[error(
        "lifetime cap must be between the attempts per generation and 3 times the hard maximum"
    )]
    Lifetime,
    /// A verifier budget needs at least one failure and a window of at least one second.
    #[error("verifier budget needs at least 1 failure and a window of at least 1 second")]
    Budget,
    /// A send limit needs 1 to [`Policy::MAX_SENDS`](crate::Policy::MAX_SENDS) sends per window of at least
    /// [`Policy::MIN_SEND_WINDOW`](crate::Policy::MIN_SEND_WINDOW) seconds.
    #[error("send limit must be 1 to 10 sends per window of at least 60 seconds")]
    Sends,
    /// The conflict retry count must be 1 to [`Policy::MAX_RETRIES`](crate::Policy::MAX_RETRIES).
    #[error("conflict retries must be 1 to 64")]
    Retries,
    /// The clock-skew tolerance must be at most [`Policy::MAX_CLOCK_SKEW`](crate::Policy::MAX_CLOCK_SKEW) seconds.
    #[error("clock-skew tolerance must be 0 to 300 seconds")]
    ClockSkew,
}
