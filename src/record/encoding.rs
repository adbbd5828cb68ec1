//! The compact byte encoding of records, for stores that keep blobs.

use super::{Booking, Earlier, Hold, Last, Limits, Record, State, Tag, Verifier, Version};
use crate::code::Digits;
use crate::ids::IdBuf;
use crate::keyring::KeyId;
use crate::time::Timestamp;

/// Why stored bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum DecodeError {
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
    /// The encoding's format byte. A new layout gets a new one; decoders refuse unknown
    /// formats rather than guess.
    pub const FORMAT: u8 = 4;
    /// The previous format, still read: verifier holds without their `shared` byte.
    pub const FORMAT_3: u8 = 3;
    /// Encoded length of a booking record without a last verification.
    pub const BOOKING_MIN_LEN: usize = 49;
    /// Encoded length of a booking record with the longest last verification.
    pub const BOOKING_MAX_LEN: usize = Self::BOOKING_MIN_LEN + 18 + 2 * (1 + IdBuf::MAX_LEN);
    /// Encoded length of a verifier record.
    pub const VERIFIER_LEN: usize = 30 + 33 * Verifier::HOLDS;
    /// The longest encoding.
    pub const MAX_LEN: usize = Self::BOOKING_MAX_LEN;
    /// Every encoding fits the buffer `encode` writes into (its writer drops what does not).
    const FITS: () = assert!(Self::VERIFIER_LEN <= Self::MAX_LEN);

    /// Writes the compact encoding into `out` and returns its length. Layout (big-endian):
    /// format, kind (1 booking, 2 verifier), then
    ///
    /// - a booking: key id u32, generation u32, digits u8, failures u8, lifetime failures
    ///   u16, state u8 (0 active, 1 redeemed, 2 locked, 3 revoked), issued-at u64,
    ///   expires-at u64, attempts u8, lifetime cap u16, sends allowed u8, send window u32,
    ///   sends u8, send window start u64, then 0 (no last verification) or 1 followed by its
    ///   time u64, the id of the hold that paid for it u64, answer u8 (0 accepted, 1 rejected,
    ///   2 redeemed by override: a value older versions refuse as out of range), attempts
    ///   left u8 (0 unless rejected), and the verifier and request ids each as a length byte (0: none)
    ///   and that many bytes;
    /// - a verifier: window start u64, window length u64, limit u32, failures u32, held u32,
    ///   and [`Verifier::HOLDS`] holds of a 16-byte tag, the booking version u64, the id u64
    ///   and shared u8 (0 or 1).
    pub fn encode(&self, out: &mut [u8; Self::MAX_LEN]) -> usize {
        let () = Self::FITS;
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
                w.put(&[b.limits.attempts]);
                w.put(&b.limits.lifetime_cap.to_be_bytes());
                w.put(&[b.limits.sends]);
                w.put(&b.limits.send_window_secs.to_be_bytes());
                w.put(&[b.sends]);
                w.put(&b.send_window_start.0.to_be_bytes());
                match &b.last {
                    None => w.put(&[0]),
                    Some(last) => {
                        w.put(&[1]);
                        w.put(&last.at.0.to_be_bytes());
                        w.put(&last.paid_by.0.to_be_bytes());
                        match last.answer {
                            Earlier::Accepted => w.put(&[0, 0]),
                            Earlier::Rejected { attempts_left } => w.put(&[1, attempts_left]),
                            Earlier::Overridden => w.put(&[2, 0]),
                        }
                        w.id(last.verifier.as_ref());
                        w.id(last.request.as_ref());
                    }
                }
            }
            Self::Verifier(v) => {
                w.put(&[2]);
                w.put(&v.window_start.0.to_be_bytes());
                w.put(&v.window_secs.to_be_bytes());
                w.put(&v.limit.to_be_bytes());
                w.put(&v.failures.to_be_bytes());
                w.put(&v.held.to_be_bytes());
                for hold in &v.holds {
                    w.put(&hold.tag);
                    w.put(&hold.on.0.to_be_bytes());
                    w.put(&hold.id.0.to_be_bytes());
                    w.put(&[u8::from(hold.shared)]);
                }
            }
        }
        w.len
    }

    /// Reads a record back from [`Record::encode`]'s bytes.
    ///
    /// ```
    /// use handover_code::record::Record;
    ///
    /// assert!(matches!(Record::decode(&[0xff; 8]), Err(handover_code::Error::Corrupt(_))));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`](crate::Error::Corrupt) for bytes of the wrong length, an unknown
    /// format (written by a newer version of the crate) or an out-of-range field. Never
    /// panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, crate::Error> {
        Self::decode_checked(bytes).map_err(|why| crate::StoreError::corrupt(why).into())
    }

    /// [`Record::decode`] for a store author: a failure says why the bytes are not a record
    /// ("record format unknown; upgrade the crate", "record has the wrong length", "record
    /// field out of range") in a [`StoreError`](crate::StoreError), for the store to keep
    /// as its own error's source, as the crate's stores do. Never panics, whatever the bytes.
    ///
    /// ```
    /// use handover_code::record::Record;
    ///
    /// let why = Record::decode_stored(b"not a record").unwrap_err();
    /// assert_eq!(why.to_string(), "record format unknown; upgrade the crate");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Record::decode`], with the reason kept (feature `std`; without it, the
    /// [`StoreError`](crate::StoreError) names only the reason's type).
    pub fn decode_stored(bytes: &[u8]) -> Result<Self, crate::StoreError> {
        Self::decode_checked(bytes).map_err(crate::StoreError::corrupt)
    }

    /// [`Record::decode`], saying why bytes are not a record (the crate's stores keep it as
    /// their error's source).
    pub(crate) fn decode_checked(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(bytes);
        let format = r.byte()?;
        if format != Self::FORMAT && format != Self::FORMAT_3 {
            return Err(DecodeError::Format);
        }
        let record = match r.byte()? {
            1 => Self::Booking(booking(&mut r)?),
            2 => Self::Verifier(verifier(&mut r, format == Self::FORMAT)?),
            _ => return Err(DecodeError::Field),
        };
        if r.0.is_empty() {
            Ok(record)
        } else {
            Err(DecodeError::Length)
        }
    }
}

fn booking(r: &mut Reader<'_>) -> Result<Booking, DecodeError> {
    let key_id = KeyId(r.u32()?);
    let generation = r.u32()?;
    let digits = Digits::from_count(r.byte()?).ok_or(DecodeError::Field)?;
    let failures = r.byte()?;
    let lifetime_failures = r.u16()?;
    let state = state_from(r.byte()?)?;
    let issued_at = Timestamp(r.u64()?);
    let expires_at = Timestamp(r.u64()?);
    let limits = Limits {
        attempts: r.byte()?,
        lifetime_cap: r.u16()?,
        sends: r.byte()?,
        send_window_secs: r.u32()?,
    };
    if limits.attempts == 0 || limits.sends == 0 || limits.send_window_secs == 0 {
        return Err(DecodeError::Field);
    }
    let sends = r.byte()?;
    let send_window_start = Timestamp(r.u64()?);
    let last = match r.byte()? {
        0 => None,
        1 => {
            let at = Timestamp(r.u64()?);
            let paid_by = Version(r.u64()?);
            let answer = match r.array::<2>()? {
                [0, 0] => Earlier::Accepted,
                [1, attempts_left] => Earlier::Rejected { attempts_left },
                [2, 0] => Earlier::Overridden,
                _ => return Err(DecodeError::Field),
            };
            Some(Last {
                at,
                paid_by,
                verifier: r.id()?,
                request: r.id()?,
                answer,
            })
        }
        _ => return Err(DecodeError::Field),
    };
    Ok(Booking {
        key_id,
        generation,
        digits,
        failures,
        lifetime_failures,
        state,
        issued_at,
        expires_at,
        limits,
        sends,
        send_window_start,
        last,
    })
}

fn verifier(r: &mut Reader<'_>, with_shared: bool) -> Result<Verifier, DecodeError> {
    let window_start = Timestamp(r.u64()?);
    let window_secs = r.u64()?;
    let limit = r.u32()?;
    let failures = r.u32()?;
    let held = r.u32()?;
    if window_secs == 0 || limit == 0 {
        return Err(DecodeError::Field);
    }
    let mut holds = [Hold::default(); Verifier::HOLDS];
    for hold in &mut holds {
        let tag: Tag = r.array()?;
        let (on, id) = (Version(r.u64()?), Version(r.u64()?));
        let shared = match with_shared.then(|| r.byte()).transpose()? {
            None | Some(0) => false,
            Some(1) => true,
            Some(_) => return Err(DecodeError::Field),
        };
        *hold = Hold {
            tag,
            on,
            id,
            shared,
        };
    }
    Ok(Verifier {
        window_start,
        window_secs,
        limit,
        failures,
        held,
        holds,
    })
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

    /// An optional id: its length byte (0 for none), then its bytes.
    fn id(&mut self, id: Option<&IdBuf>) {
        let bytes = id.map_or(&[][..], IdBuf::as_bytes);
        self.put(&[u8::try_from(bytes.len()).unwrap_or_default()]);
        self.put(bytes);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const K: usize>(&mut self) -> Result<[u8; K], DecodeError> {
        let (head, rest) = self.0.split_first_chunk::<K>().ok_or(DecodeError::Length)?;
        self.0 = rest;
        Ok(*head)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_be_bytes)
    }

    fn id(&mut self) -> Result<Option<IdBuf>, DecodeError> {
        let len = usize::from(self.byte()?);
        if len == 0 {
            return Ok(None);
        }
        let bytes = self.0.get(..len).ok_or(DecodeError::Length)?;
        self.0 = self.0.get(len..).unwrap_or_default();
        IdBuf::new(bytes).map(Some).ok_or(DecodeError::Field)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests;
