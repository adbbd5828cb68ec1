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

use zeroize::Zeroize;

use crate::code::{Code, Digits};
pub use crate::ids::{BookingId, Context};
use crate::mac;
use crate::secret::Secret;

/// The bytes that are MACed for one code, built without allocation ([`message`] is its
/// public face).
#[derive(Clone)]
pub(crate) struct Message {
    buf: [u8; MESSAGE_MAX_LEN],
    len: usize,
}

/// The domain tag every message starts with.
pub const MESSAGE_TAG: &[u8; 16] = b"handover-code/v1";

/// The longest message: tag, two length bytes, the longest context and booking id,
/// generation and digits.
pub const MESSAGE_MAX_LEN: usize = 16 + 1 + Context::MAX_LEN + 1 + BookingId::MAX_LEN + 4 + 1;

/// The bytes that are MACed for one code: SPEC.md's message, at most [`MESSAGE_MAX_LEN`]
/// bytes, built without allocation.
///
/// Public so that tools and other implementations can check their encoding against this
/// one; [`derive()`] is what issuing and verifying use.
///
/// ```
/// use handover_code::{derive, BookingId, Context, Digits};
///
/// let msg = derive::message(Context::new("cowin/dose")?, BookingId::new("B-1")?, 0, Digits::Four);
/// assert_eq!(msg.as_ref(), b"handover-code/v1\x0acowin/dose\x03B-1\0\0\0\0\x04");
/// assert!(msg.as_ref().starts_with(derive::MESSAGE_TAG));
/// # Ok::<(), handover_code::Error>(())
/// ```
#[must_use]
pub fn message(
    context: Context<'_>,
    booking: BookingId<'_>,
    generation: u32,
    digits: Digits,
) -> impl AsRef<[u8]> + Clone {
    Message::new(context, booking, generation, digits)
}

impl AsRef<[u8]> for Message {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Message {
    /// Encodes the fields.
    fn new(context: Context<'_>, booking: BookingId<'_>, generation: u32, digits: Digits) -> Self {
        let mut buf = [0; MESSAGE_MAX_LEN];
        let len = encode(&mut buf, context, booking, generation, digits);
        Self { buf, len }
    }

    /// The encoded length of these fields.
    fn len_of(context: Context<'_>, booking: BookingId<'_>) -> usize {
        // The tag (16), two length bytes, the generation (4) and digits (1): 23 bytes and
        // the fields. At most 215; saturating all the same.
        23usize
            .saturating_add(context.as_bytes().len())
            .saturating_add(booking.as_bytes().len())
    }

    /// The encoded bytes.
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// Writes the message's fields to the start of `out` and answers how many bytes they took.
/// `out` must hold [`Message::len_of`] bytes (the field limits keep that within
/// [`MESSAGE_MAX_LEN`]); the `get_mut`s keep this panic-free all the same.
fn encode(
    out: &mut [u8],
    context: Context<'_>,
    booking: BookingId<'_>,
    generation: u32,
    digits: Digits,
) -> usize {
    let mut len = 0usize;
    let mut push = |bytes: &[u8]| {
        let end = len.saturating_add(bytes.len());
        if let Some(dst) = out.get_mut(len..end) {
            dst.copy_from_slice(bytes);
            len = end;
        }
    };
    push(MESSAGE_TAG);
    // Fields are at most 128 bytes long: their lengths fit a byte.
    push(&[u8::try_from(context.as_bytes().len()).unwrap_or(u8::MAX)]);
    push(context.as_bytes());
    push(&[u8::try_from(booking.as_bytes().len()).unwrap_or(u8::MAX)]);
    push(booking.as_bytes());
    push(&generation.to_be_bytes());
    push(&[digits.count()]);
    len
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
    let mut head = mac_head(secret, context, booking, generation, digits);
    let code = Code::from_value(head, digits);
    head.zeroize();
    code
}

/// The first 8 bytes of the message's MAC. A message that fits one block (the tag, a
/// context and a booking id of up to 32 bytes between them) is written straight into the
/// block that is compressed, padded in place; a longer one goes through [`Message`].
fn mac_head(
    secret: &Secret,
    context: Context<'_>,
    booking: BookingId<'_>,
    generation: u32,
    digits: Digits,
) -> u64 {
    if Message::len_of(context, booking) <= mac::ONE_BLOCK {
        let mut block = [0u8; 64];
        let len = encode(&mut block, context, booking, generation, digits);
        mac::seal(&mut block, len);
        secret.mac_head_of_block(&block)
    } else {
        let msg = Message::new(context, booking, generation, digits);
        secret.mac_head(msg.as_bytes())
    }
}
