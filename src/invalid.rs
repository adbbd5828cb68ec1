//! The details of refused input: why typed input is not a code ([`Malformed`]) and why a
//! policy setting was refused ([`PolicyError`]), carried by [`Error`](crate::Error). A leaf.

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
