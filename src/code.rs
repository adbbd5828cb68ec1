//! Codes and their length.

use core::fmt;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
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

    /// The code whose value is `value mod 10^digits`, written with leading zeros. Constant
    /// time on every target: no division and no branch on the value ([`reduce`],
    /// [`div10`]); the intermediate values are wiped.
    pub(crate) fn from_value(value: u64, digits: Digits) -> Self {
        let mut rest = reduce(value, digits);
        let mut ascii = [0u8; Self::MAX_DIGITS];
        let width = usize::from(digits.count());
        for slot in ascii.iter_mut().take(width).rev() {
            let quotient = div10(rest);
            // Below 10: the low byte is the whole digit.
            let digit = rest.wrapping_sub(quotient.wrapping_mul(10)).to_le_bytes()[0];
            *slot = b'0'.wrapping_add(digit);
            rest = quotient;
        }
        // `rest` held every quotient in turn (the value, then its leading digits).
        rest.zeroize();
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

/// `value mod 10^digits` with a fixed sequence of multiplications, subtractions and one
/// masked select: Barrett reduction with `r = floor(2^64 / m)`. The estimate
/// `q = floor(value * r / 2^64)` is `floor(value / m)` or one less, so `value - q * m` is
/// below `2m`, and one conditional subtraction (a mask, not a branch) finishes it. No
/// division routine is called (on `thumbv6m-none-eabi` a `%` was 13 calls of
/// `__aeabi_uldivmod`, whose time depends on the value) and nothing branches on the value.
pub(crate) fn reduce(value: u64, digits: Digits) -> u32 {
    let (m, r) = match digits {
        Digits::Four => (10_000u64, RECIPROCALS[0]),
        Digits::Five => (100_000, RECIPROCALS[1]),
        Digits::Six => (1_000_000, RECIPROCALS[2]),
    };
    let wide = u128::from(value).wrapping_mul(u128::from(r));
    let quotient = u64::try_from(wide >> 64).unwrap_or(0);
    let rest = value.wrapping_sub(quotient.wrapping_mul(m));
    let (less, borrow) = rest.overflowing_sub(m);
    // `borrow`: `rest < m` already; keep it, else take `rest - m`.
    let reduced = u64::conditional_select(&less, &rest, Choice::from(u8::from(borrow)));
    // Below 10^6: the low half is the whole value.
    u32::try_from(reduced & 0xffff_ffff).unwrap_or(0)
}

/// `floor(2^64 / 10^d)` for 4, 5 and 6 digits.
const RECIPROCALS: [u64; 3] = [u64::MAX / 10_000, u64::MAX / 100_000, u64::MAX / 1_000_000];

/// `x / 10` for any `u32`, by multiplying with `ceil(2^35 / 10)` and shifting: exact for
/// every 32-bit `x`, and a multiplication on every target (no division routine).
pub(crate) fn div10(x: u32) -> u32 {
    let wide = u64::from(x).wrapping_mul(0xCCCC_CCCD) >> 35;
    u32::try_from(wide).unwrap_or(0)
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
        self.ascii.as_mut_slice().zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::{Code, Digits, div10, reduce};
    use proptest::prelude::*;
    use std::{format, vec};

    /// Every 64-bit boundary: around 0, around each multiple of `m` near the ends of the
    /// range and near powers of two, and the largest values.
    #[test]
    fn reduce_equals_mod_at_every_boundary() {
        for digits in [Digits::Four, Digits::Five, Digits::Six] {
            let m = u64::from(digits.modulus());
            let mut values = vec![
                0,
                1,
                m - 1,
                m,
                m + 1,
                2 * m - 1,
                2 * m,
                u64::MAX,
                u64::MAX - 1,
            ];
            let top = u64::MAX / m * m;
            for base in [
                top,
                top - m,
                m << 20,
                1 << 63,
                (1 << 63) / m * m,
                (1u64 << 32) / m * m,
            ] {
                for delta in 0..3 {
                    values.extend([base.wrapping_add(delta), base.wrapping_sub(delta + 1)]);
                }
            }
            for k in 0..64 {
                values.extend([1u64 << k, (1u64 << k) - 1, (1u64 << k).wrapping_add(1)]);
            }
            for v in values {
                assert_eq!(u64::from(reduce(v, digits)), v % m, "{v} mod {m}");
            }
        }
    }

    #[test]
    fn div10_is_exact_at_the_ends() {
        for x in [
            0u32,
            9,
            10,
            11,
            99,
            100,
            999_999,
            1_000_000,
            u32::MAX - 1,
            u32::MAX,
        ] {
            assert_eq!(div10(x), x / 10, "{x}");
        }
    }

    proptest! {
        #[test]
        fn reduce_equals_mod(v in any::<u64>()) {
            for digits in [Digits::Four, Digits::Five, Digits::Six] {
                prop_assert_eq!(u64::from(reduce(v, digits)), v % u64::from(digits.modulus()));
            }
        }

        #[test]
        fn div10_equals_division(x in any::<u32>()) {
            prop_assert_eq!(div10(x), x / 10);
        }

        #[test]
        fn from_value_writes_the_residue(v in any::<u64>()) {
            for digits in [Digits::Four, Digits::Five, Digits::Six] {
                let want = format!("{:0w$}", v % u64::from(digits.modulus()), w = usize::from(digits.count()));
                let code = Code::from_value(v, digits);
                prop_assert_eq!(code.expose(), want.as_str());
            }
        }
    }

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
