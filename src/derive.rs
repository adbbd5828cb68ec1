//! The specified derivation: `code = reduce(HMAC-SHA256(secret, message), digits)`.
//!
//! `SPEC.md` gives the same function byte for byte, with test vectors, for services in other
//! languages. In short:
//!
//! ```text
//! message = "handover-code/v1"            16 bytes, the domain tag
//!        || len(context)    || context     1 byte, then 1..=64 bytes
//!        || len(booking id) || booking id  1 byte, then 1..=128 bytes
//!        || generation                     4 bytes, big-endian
//!        || digits                         1 byte: 4, 5 or 6
//! code    = (first 8 bytes of the MAC as a big-endian u64) mod 10^digits,
//!           written as exactly `digits` decimal digits
//! ```
//!
//! The length prefixes make the encoding injective: two different (context, booking id,
//! generation, digits) never give the same message. Putting `digits` in the message makes
//! the 4- and 6-digit codes of one booking independent. Reducing 64 bits mod `10^d` leaves a
//! bias of at most `10^d / 2^64` in the probability of any code relative to uniform: below
//! 2^-50 for 4 digits and 2^-44 for 6.

use core::fmt;

use crate::code::{Code, Digits};
pub use crate::ids::{BookingId, Context};
use crate::secret::Secret;

/// The bytes that are MACed for one code, built without allocation.
///
/// Public so that tools and other implementations can check their encoding against this
/// one; [`derive()`] is what issuing and verifying use.
///
/// ```
/// use handover_code::{derive::Message, BookingId, Context, Digits};
///
/// let msg = Message::new(Context::new("cowin/dose")?, BookingId::new("B-1")?, 0, Digits::Four);
/// assert_eq!(msg.as_bytes(), b"handover-code/v1\x0acowin/dose\x03B-1\0\0\0\0\x04");
/// # Ok::<(), handover_code::Error>(())
/// ```
#[derive(Clone)]
pub struct Message {
    buf: [u8; Message::MAX_LEN],
    len: usize,
}

impl Message {
    /// The domain tag every message starts with.
    pub const TAG: &'static [u8; 16] = b"handover-code/v1";
    /// The longest message: tag, two length bytes, the longest context and booking id,
    /// generation and digits.
    pub const MAX_LEN: usize = 16 + 1 + Context::MAX_LEN + 1 + BookingId::MAX_LEN + 4 + 1;

    /// Encodes the fields.
    #[must_use]
    pub fn new(
        context: Context<'_>,
        booking: BookingId<'_>,
        generation: u32,
        digits: Digits,
    ) -> Self {
        let mut msg = Self {
            buf: [0; Self::MAX_LEN],
            len: 0,
        };
        msg.push(Self::TAG);
        msg.push_prefixed(context.as_bytes());
        msg.push_prefixed(booking.as_bytes());
        msg.push(&generation.to_be_bytes());
        msg.push(&[digits.count()]);
        msg
    }

    /// The encoded bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Appends bytes. The field limits keep the total within `MAX_LEN`; the `get_mut` keeps
    /// this panic-free all the same.
    fn push(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        }
    }

    /// Appends a one-byte length and the bytes. Fields are at most 128 bytes long.
    fn push_prefixed(&mut self, bytes: &[u8]) {
        let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
        self.push(&[len]);
        self.push(bytes);
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Derives the code for one booking and generation.
///
/// Deterministic: the same inputs always give the same code, so a resend derives it again
/// and nothing needs to store it. With a message of at most 55 bytes (the tag, a short
/// context and a booking id of up to 32 bytes between them) this costs two SHA-256
/// compressions; every further 64 bytes of message adds one.
///
/// ```
/// use handover_code::{derive, BookingId, Context, Digits, Secret};
///
/// let secret = Secret::from_bytes(&[0x42; 32])?;
/// let code = derive::derive(
///     &secret,
///     Context::new("cowin/dose")?,
///     BookingId::new("SLOT-2021-000123")?,
///     0,
///     Digits::Four,
/// );
/// assert_eq!(code.expose().len(), 4);
/// # Ok::<(), handover_code::Error>(())
/// ```
#[must_use]
pub fn derive(
    secret: &Secret,
    context: Context<'_>,
    booking: BookingId<'_>,
    generation: u32,
    digits: Digits,
) -> Code {
    let msg = Message::new(context, booking, generation, digits);
    let tag = secret.mac(msg.as_bytes());
    let mut head = [0u8; 8];
    for (h, t) in head.iter_mut().zip(&tag) {
        *h = *t;
    }
    Code::from_value(u64::from_be_bytes(head), digits)
}
