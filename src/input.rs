//! Reading what a person typed.
//!
//! People type codes the way they read them: with a space or a hyphen in the middle, in the
//! digits of their own script, from a phone keyboard set to full-width forms.
//! [`normalize`] turns all of that into a [`Code`] of the expected length, or says why it
//! cannot, without allocating.
//!
//! `SPEC.md` ("Typed input") specifies this reading exactly, with tables and test vectors, for
//! services in other languages. In order:
//!
//! 1. Input longer than [`MAX_INPUT_LEN`] (64) bytes of UTF-8 is [`Malformed::TooLong`],
//!    whatever it holds. Bytes, not characters: 22 Devanagari digits are 66 bytes.
//! 2. Each character in turn is dropped, read as a digit, or refused. Dropped: spaces (U+0020,
//!    no-break space U+00A0, figure space U+2007, narrow no-break space U+202F, ideographic
//!    space U+3000) and hyphens (U+002D, the hyphens and dashes U+2010 to U+2014, minus sign
//!    U+2212, small hyphen-minus U+FE63, full-width hyphen-minus U+FF0D), and nothing else:
//!    not U+2015 horizontal bar, thin space, tabs or line breaks. Read as a digit: the
//!    decimal digits 0–9 of ASCII, Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali,
//!    Gurmukhi, Gujarati, Odia, Tamil, Telugu, Kannada, Malayalam and the full-width forms,
//!    each valued by its distance from its script's zero. Any other character (letters,
//!    other punctuation, digits of other scripts such as Thai, superscripts) is
//!    [`Malformed::NotADigit`] and a digit past the code's length is
//!    [`Malformed::WrongLength`], whichever comes first: nothing after it is read.
//! 3. At the end, no digit at all (nothing typed, or nothing but dropped characters) is
//!    [`Malformed::Empty`] and too few digits [`Malformed::WrongLength`].
//!
//! Mixing scripts within one code is accepted: each digit is read for its value alone.

use zeroize::{Zeroize, Zeroizing};

use crate::code::{Code, Digits};
use crate::error::Error;
use crate::invalid::Malformed;

/// The longest input read, in UTF-8 bytes. A six-digit code in a three-byte script with a
/// three-byte separator between every two digits is 33 bytes; anything past 64 is not a
/// person typing a code.
pub const MAX_INPUT_LEN: usize = 64;

/// The code point of the digit zero of every script read; each is followed by 1 to 9.
const ZEROS: [u32; 13] = [
    0x0030, // ASCII
    0x0660, // Arabic-Indic
    0x06F0, // Extended Arabic-Indic
    0x0966, // Devanagari
    0x09E6, // Bengali
    0x0A66, // Gurmukhi
    0x0AE6, // Gujarati
    0x0B66, // Odia
    0x0BE6, // Tamil
    0x0C66, // Telugu
    0x0CE6, // Kannada
    0x0D66, // Malayalam
    0xFF10, // Full-width
];

/// Separators dropped from the input.
const SEPARATORS: [char; 14] = [
    ' ', '\u{00A0}', '\u{2007}', '\u{202F}', '\u{3000}', // spaces
    '-', '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2212}', '\u{FE63}', '\u{FF0D}',
    '\u{2014}', // em dash, typed by some keyboards' auto-correct of "--"
];

/// The value of `c` if it is a decimal digit of one of the scripts read.
#[must_use]
pub fn digit_value(c: char) -> Option<u8> {
    let (value, found) = digit_of(u32::from(c));
    (found != 0).then(|| u8::try_from(value & 0xf).unwrap_or(0))
}

/// The digit value of a code point and 1, or 0 and 0 for a non-digit. Every script is
/// checked with masks, never an early return or a branch on the code point, so a Devanagari
/// digit takes as long to read as an ASCII one and no digit's value changes the path taken.
fn digit_of(c: u32) -> (u32, u32) {
    let mut value = 0u32;
    let mut found = 0u32;
    // Through `black_box`, the compiler cannot turn the scan of known constants into a
    // search tree whose path would depend on the script (it did: 6 ns between ASCII and
    // Devanagari in `cargo bench --bench timing`).
    for zero in core::hint::black_box(&ZEROS) {
        let offset = c.wrapping_sub(*zero);
        // 1 when `offset < 10` (as unsigned), from the borrow's sign in 64 bits.
        let hit = u32::try_from((u64::from(offset).wrapping_sub(10) >> 63) & 1).unwrap_or(0);
        value |= offset & hit.wrapping_neg();
        found |= hit;
    }
    (value, found)
}

/// The code point starting at byte `at` of `bytes` (valid UTF-8) and its length in bytes,
/// by the same arithmetic whatever that length: an ASCII digit and a three-byte Devanagari
/// one cost the same (`str::chars` branches on the length).
fn decode_at(bytes: &[u8], at: usize) -> (u32, usize) {
    // Every read is in bounds (the index clamped to the last byte, the value masked to 0
    // past the end), so no bounds check goes one way for one script and another for another.
    let last = bytes.len().saturating_sub(1);
    let byte = |k: usize| {
        let i = at.wrapping_add(k);
        let inside = u32::from(i <= last).wrapping_neg();
        u32::from(bytes.get(i.min(last)).copied().unwrap_or(0)) & inside
    };
    let (b0, b1, b2, b3) = (byte(0), byte(1), byte(2), byte(3));
    // 1 when `b >= t`, for bytes.
    let at_least = |b: u32, t: u32| (b.wrapping_sub(t) >> 31) ^ 1;
    let extra = at_least(b0, 0xC0)
        .wrapping_add(at_least(b0, 0xE0))
        .wrapping_add(at_least(b0, 0xF0));
    // All ones when `extra == n`; through `black_box`, so the compiler cannot know it is
    // all ones or nothing and turn the selects below into a branch on the length (it did).
    let when = |n: u32| core::hint::black_box(((extra ^ n).wrapping_sub(1) >> 31).wrapping_neg());
    let (c1, c2, c3) = (b1 & 0x3F, b2 & 0x3F, b3 & 0x3F);
    let code_point = (b0 & when(0))
        | ((((b0 & 0x1F) << 6) | c1) & when(1))
        | ((((b0 & 0x0F) << 12) | (c1 << 6) | c2) & when(2))
        | ((((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3) & when(3));
    (
        code_point,
        usize::try_from(extra).unwrap_or(0).wrapping_add(1),
    )
}

/// Reads typed input as a code of `digits` digits.
///
/// # Errors
///
/// [`Error::Malformed`], the first that applies, in this order (the module docs and
/// `SPEC.md` give the characters): [`Malformed::TooLong`] for more than [`MAX_INPUT_LEN`]
/// bytes; then, reading left to right, [`Malformed::NotADigit`] at a character that is
/// neither dropped nor a digit read, or [`Malformed::WrongLength`] at a digit past
/// `digits`, whichever comes first; then [`Malformed::Empty`] for no digit at all and
/// [`Malformed::WrongLength`] for too few. The error says which, and nothing of the input.
///
/// ```
/// use handover_code::{input, Digits};
///
/// assert_eq!(input::normalize("04-27", Digits::Four)?.expose(), "0427");
/// assert_eq!(input::normalize("০৪২৭", Digits::Four)?.expose(), "0427"); // Bengali
/// assert_eq!(input::normalize("１２３ ４５６", Digits::Six)?.expose(), "123456"); // full-width
/// assert!(input::normalize("0427", Digits::Six).is_err());
/// # Ok::<(), handover_code::Error>(())
/// ```
pub fn normalize(typed: &str, digits: Digits) -> Result<Code, Error> {
    if typed.len() > MAX_INPUT_LEN {
        return Err(Error::Malformed(Malformed::TooLong));
    }
    let width = usize::from(digits.count());
    // The typed digits, wiped when this returns (the code keeps its own copy).
    let mut ascii = Zeroizing::new([0u8; Code::MAX_DIGITS]);
    let mut read = 0usize;
    let bytes = typed.as_bytes();
    let mut at = 0usize;
    while at < bytes.len() {
        let (c, len) = decode_at(bytes, at);
        at = at.saturating_add(len);
        // Digits first: they are never separators, so every digit, in any script, takes
        // the same path; only a character that is not a digit is looked up as a separator.
        let (mut value, found) = digit_of(c);
        if found == 0 {
            if SEPARATORS.iter().any(|s| u32::from(*s) == c) {
                continue;
            }
            return Err(Error::Malformed(Malformed::NotADigit));
        }
        if read >= width {
            value.zeroize();
            return Err(Error::Malformed(Malformed::WrongLength));
        }
        if let Some(slot) = ascii.get_mut(read) {
            *slot = b'0'.wrapping_add(u8::try_from(value & 0xf).unwrap_or(0));
        }
        value.zeroize();
        read = read.saturating_add(1);
    }
    match read {
        0 => Err(Error::Malformed(Malformed::Empty)),
        n if n == width => Ok(Code::from_ascii(*ascii, digits)),
        _ => Err(Error::Malformed(Malformed::WrongLength)),
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_INPUT_LEN, digit_value, normalize};
    use crate::{Digits, Error, Malformed};

    fn malformed(typed: &str, digits: Digits) -> Malformed {
        match normalize(typed, digits) {
            Err(Error::Malformed(why)) => why,
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn every_script_reads_its_digits() {
        for zero in super::ZEROS {
            for d in 0..10u32 {
                let c = char::from_u32(zero + d).unwrap();
                assert_eq!(digit_value(c), Some(d as u8), "U+{:04X}", zero + d);
            }
        }
    }

    #[test]
    fn neighbours_of_digit_blocks_are_not_digits() {
        for c in [
            '/', ':', '\u{065F}', '\u{066A}', '\u{0965}', '\u{0970}', '\u{FF1A}', 'a',
        ] {
            assert_eq!(digit_value(c), None, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn decoding_agrees_with_chars_for_every_length() {
        for text in [
            "0427",
            "०४२७",
            "１２",
            "a\u{10348}z",
            "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}",
        ] {
            let bytes = text.as_bytes();
            let mut at = 0;
            for c in text.chars() {
                let (code_point, len) = super::decode_at(bytes, at);
                assert_eq!(
                    (code_point, len),
                    (u32::from(c), c.len_utf8()),
                    "{text:?} at {at}"
                );
                at += len;
            }
            assert_eq!(at, bytes.len());
        }
    }

    #[test]
    fn errors_say_why() {
        assert_eq!(malformed("", Digits::Four), Malformed::Empty);
        assert_eq!(malformed(" - ", Digits::Four), Malformed::Empty);
        assert_eq!(malformed("123", Digits::Four), Malformed::WrongLength);
        assert_eq!(malformed("12345", Digits::Four), Malformed::WrongLength);
        assert_eq!(malformed("12a4", Digits::Four), Malformed::NotADigit);
        assert_eq!(malformed("١٢³٤", Digits::Four), Malformed::NotADigit);
        let long = "1".repeat(MAX_INPUT_LEN + 1);
        assert_eq!(malformed(&long, Digits::Four), Malformed::TooLong);
    }
}
