//! What a store keeps: small fixed records that never hold a code or a key.
//!
//! A leaked database reveals no code: a booking's record holds the key *id*, the generation
//! and the digit count, from which only the holder of the secret can derive the code.

use crate::code::Digits;
use crate::keyring::KeyId;
use crate::time::Timestamp;

/// Where a booking stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum State {
    /// Issued and waiting for its code.
    Active,
    /// The code was accepted: handed over, once.
    Redeemed,
    /// Too many wrong codes: this generation (or the booking's lifetime) is used up.
    Locked,
    /// Ended by the host.
    Revoked,
}

/// A booking's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Booking {
    /// The key the current generation's code is derived under.
    pub key_id: KeyId,
    /// Bumped by every re-issue; part of the derivation, so old codes die.
    pub generation: u32,
    /// The code's digit count, fixed at issue.
    pub digits: Digits,
    /// Wrong codes answered in this generation.
    pub failures: u8,
    /// Wrong codes answered over the booking's life; never reset.
    pub lifetime_failures: u16,
    /// Where the booking stands.
    pub state: State,
    /// When the current generation was issued.
    pub issued_at: Timestamp,
    /// The first instant at which the code is no longer valid.
    pub expires_at: Timestamp,
}

/// A verifier's failure count in its current budget window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Verifier {
    /// The start of the window the count belongs to.
    pub window_start: Timestamp,
    /// Wrong codes (and guesses still being decided) counted in that window.
    pub failures: u32,
}

/// One stored record: a booking's or a verifier's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Record {
    /// Under a [`Key::Booking`](crate::store::Key::Booking).
    Booking(Booking),
    /// Under a [`Key::Verifier`](crate::store::Key::Verifier).
    Verifier(Verifier),
}

/// A record's version: every successful write stores a new one, and a compare-and-swap
/// only lands if the version it expects is still the stored one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Version(pub u64);

impl Version {
    /// The version of a newly inserted record.
    pub const FIRST: Self = Self(1);

    /// The version after this one, or `None` at `u64::MAX` (the write is then refused).
    #[must_use]
    pub const fn next(self) -> Option<Self> {
        match self.0.checked_add(1) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }
}

/// Why stored bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not as long as the record kind they name.
    #[error("record has the wrong length")]
    Length,
    /// The format byte is not one this version of the crate reads.
    #[error("record format unknown; upgrade the crate")]
    Format,
    /// A field holds a value no record can have.
    #[error("record field out of range")]
    Field,
}

impl Record {
    /// The encoding's format byte. A future layout gets a new one; decoders refuse unknown
    /// formats rather than guess.
    pub const FORMAT: u8 = 1;
    /// Encoded length of a booking record.
    pub const BOOKING_LEN: usize = 31;
    /// Encoded length of a verifier record.
    pub const VERIFIER_LEN: usize = 14;
    /// The longest encoding.
    pub const MAX_LEN: usize = Self::BOOKING_LEN;

    /// Writes the compact encoding into `out` and returns its length, for stores that keep
    /// blobs. Layout (big-endian): format, kind (1 booking, 2 verifier), then for a booking
    /// key id u32, generation u32, digits u8, failures u8, lifetime failures u16, state u8
    /// (0 active, 1 redeemed, 2 locked, 3 revoked), issued-at u64, expires-at u64; for a
    /// verifier window start u64, failures u32.
    pub fn encode(&self, out: &mut [u8; Self::MAX_LEN]) -> usize {
        let mut w = Writer { out, len: 0 };
        w.put(&[Self::FORMAT]);
        match self {
            Self::Booking(b) => {
                w.put(&[1]);
                w.put(&b.key_id.0.to_be_bytes());
                w.put(&b.generation.to_be_bytes());
                w.put(&[b.digits.count(), b.failures]);
                w.put(&b.lifetime_failures.to_be_bytes());
                w.put(&[state_byte(b.state)]);
                w.put(&b.issued_at.0.to_be_bytes());
                w.put(&b.expires_at.0.to_be_bytes());
            }
            Self::Verifier(v) => {
                w.put(&[2]);
                w.put(&v.window_start.0.to_be_bytes());
                w.put(&v.failures.to_be_bytes());
            }
        }
        w.len
    }

    /// Reads a record back from [`Record::encode`]'s bytes.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for bytes of the wrong length, an unknown format or an out-of-range
    /// field. Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(bytes);
        if r.array::<1>()? != [Self::FORMAT] {
            return Err(DecodeError::Format);
        }
        let record = match r.array::<1>()? {
            [1] => Self::Booking(Booking {
                key_id: KeyId(u32::from_be_bytes(r.array()?)),
                generation: u32::from_be_bytes(r.array()?),
                digits: Digits::from_count(u8::from_be_bytes(r.array()?))
                    .ok_or(DecodeError::Field)?,
                failures: u8::from_be_bytes(r.array()?),
                lifetime_failures: u16::from_be_bytes(r.array()?),
                state: state_from(u8::from_be_bytes(r.array()?))?,
                issued_at: Timestamp(u64::from_be_bytes(r.array()?)),
                expires_at: Timestamp(u64::from_be_bytes(r.array()?)),
            }),
            [2] => Self::Verifier(Verifier {
                window_start: Timestamp(u64::from_be_bytes(r.array()?)),
                failures: u32::from_be_bytes(r.array()?),
            }),
            _ => return Err(DecodeError::Field),
        };
        if r.0.is_empty() {
            Ok(record)
        } else {
            Err(DecodeError::Length)
        }
    }
}

/// The state's byte in the encoding.
const fn state_byte(state: State) -> u8 {
    match state {
        State::Active => 0,
        State::Redeemed => 1,
        State::Locked => 2,
        State::Revoked => 3,
    }
}

/// The state for an encoded byte; [`DecodeError::Field`] for a byte that names no state.
const fn state_from(byte: u8) -> Result<State, DecodeError> {
    match byte {
        0 => Ok(State::Active),
        1 => Ok(State::Redeemed),
        2 => Ok(State::Locked),
        3 => Ok(State::Revoked),
        _ => Err(DecodeError::Field),
    }
}

struct Writer<'a> {
    out: &'a mut [u8; Record::MAX_LEN],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const K: usize>(&mut self) -> Result<[u8; K], DecodeError> {
        let (head, rest) = self.0.split_first_chunk::<K>().ok_or(DecodeError::Length)?;
        self.0 = rest;
        Ok(*head)
    }
}
