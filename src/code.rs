//! Codes and their length.

use core::fmt;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

/// How many decimal digits a code has.
///
/// Fewer digits are easier to read out and type, and easier to guess: with `n` answered
/// guesses the chance of hitting a code is `n / 10^d`. Four digits (CoWIN's security code)
/// give 1 in 10,000 a guess, five 1 in 100,000, six (India Post's delivery OTP) 1 in
/// 1,000,000. Attempt limits (see the crate docs) turn that into a bound per booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Digits {
    /// 4 digits: 10^4 codes.
    Four,
    /// 5 digits: 10^5 codes.
    Five,
    /// 6 digits: 10^6 codes.
    Six,
}

impl Digits {
    /// The number of digits, 4 to 6.
    #[must_use]
    pub const fn count(self) -> u8 {
        match self {
            Self::Four => 4,
            Self::Five => 5,
            Self::Six => 6,
        }
    }

    /// The number of distinct codes, `10^count`.
    #[must_use]
    pub const fn modulus(self) -> u32 {
        match self {
            Self::Four => 10_000,
            Self::Five => 100_000,
            Self::Six => 1_000_000,
        }
    }

    /// The `Digits` for a count of 4, 5 or 6; `None` for anything else.
    #[must_use]
    pub const fn from_count(count: u8) -> Option<Self> {
        match count {
            4 => Some(Self::Four),
            5 => Some(Self::Five),
            6 => Some(Self::Six),
            _ => None,
        }
    }
}

/// A one-time code: 4 to 6 decimal digits, leading zeros kept.
///
/// Equality is constant-time over a fixed width (the digit count is public, the digits are
/// not), so comparing a typed code with the issued one leaks nothing about where they
/// differ. `Debug` prints the length only, and the digits are wiped on drop.
/// [`Code::expose`] is the one way to read the digits out, for the message to the person.
///
/// ```
/// use handover_code::{input, Digits};
///
/// let typed = input::normalize("०४ २७", Digits::Four)?; // Devanagari digits, a space
/// assert_eq!(typed.expose(), "0427");
/// assert_eq!(format!("{typed:?}"), "Code { digits: 4, .. }");
/// # Ok::<(), handover_code::Error>(())
/// ```
#[derive(Clone)]
pub struct Code {
    digits: Digits,
    /// ASCII digits, most significant first; bytes past `digits.count()` are zero.
    ascii: [u8; Code::MAX_DIGITS],
}

impl Code {
    /// The most digits a code has.
    pub const MAX_DIGITS: usize = 6;

    /// The code whose value is `value mod 10^digits`, written with leading zeros.
    pub(crate) fn from_value(value: u64, digits: Digits) -> Self {
        let mut rest = value
            .checked_rem(u64::from(digits.modulus()))
            .unwrap_or_default();
        let mut ascii = [0u8; Self::MAX_DIGITS];
        let width = usize::from(digits.count());
        for slot in ascii.iter_mut().take(width).rev() {
            // `rest % 10` is below 10, so the cast keeps every bit.
            #[allow(clippy::cast_possible_truncation)]
            let digit = (rest % 10) as u8;
            *slot = b'0'.saturating_add(digit);
            rest /= 10;
        }
        Self { digits, ascii }
    }

    /// A code from exactly `digits.count()` ASCII digits (callers have checked them).
    pub(crate) fn from_ascii(ascii: [u8; Self::MAX_DIGITS], digits: Digits) -> Self {
        Self { digits, ascii }
    }

    /// How many digits this code has.
    #[must_use]
    pub const fn digits(&self) -> Digits {
        self.digits
    }

    /// The digits as text, e.g. `"0427"`: the one way to read a code out, to put it in the
    /// SMS or letter that takes it to the person. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        let digits = self
            .ascii
            .get(..usize::from(self.digits.count()))
            .unwrap_or_default();
        // Every byte is an ASCII digit by construction, so this is always valid UTF-8.
        core::str::from_utf8(digits).unwrap_or_default()
    }
}

impl ConstantTimeEq for Code {
    fn ct_eq(&self, other: &Self) -> Choice {
        let same_length = Choice::from(u8::from(self.digits == other.digits));
        same_length & self.ascii.ct_eq(&other.ascii)
    }
}

impl PartialEq for Code {
    /// Constant-time: the time taken does not depend on which digits differ.
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Code {}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Code")
            .field("digits", &self.digits.count())
            .finish_non_exhaustive()
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        self.ascii.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::{Code, Digits};

    #[test]
    fn leading_zeros_are_kept() {
        assert_eq!(Code::from_value(7, Digits::Four).expose(), "0007");
        assert_eq!(Code::from_value(0, Digits::Six).expose(), "000000");
        assert_eq!(Code::from_value(1_234_567, Digits::Five).expose(), "34567");
        assert_eq!(Code::from_value(u64::MAX, Digits::Six).expose(), "551615");
    }

    #[test]
    fn equality_needs_same_length_and_digits() {
        let four = Code::from_value(42, Digits::Four);
        assert_eq!(four, Code::from_value(10_042, Digits::Four));
        assert_ne!(four, Code::from_value(43, Digits::Four));
        assert_ne!(four, Code::from_value(42, Digits::Five));
    }
}
