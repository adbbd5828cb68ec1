//! The details of refused input: why typed input is not a code ([`Malformed`]), carried by
//! [`Error::Malformed`](crate::Error::Malformed). A leaf.

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
