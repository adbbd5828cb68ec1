//! The ids a caller hands in: byte strings whose length is checked once, at construction.

use core::fmt;

use crate::error::Error;

/// Defines a borrowed, length-checked byte-string id. Ids are not secret: they print as
/// text where they are UTF-8, as bytes otherwise.
macro_rules! bytes_id {
    ($(#[$doc:meta])* $name:ident, $max:literal, $error:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name<'a>(&'a [u8]);

        impl<'a> $name<'a> {
            #[doc = concat!("The fewest bytes ", $what, " has.")]
            pub const MIN_LEN: usize = 1;
            #[doc = concat!("The most bytes ", $what, " has.")]
            pub const MAX_LEN: usize = $max;

            #[doc = concat!("Checks the length of ", $what, ".")]
            ///
            /// # Errors
            ///
            #[doc = concat!("[`Error::", stringify!($error), "`] when it is empty or longer than [`", stringify!($name), "::MAX_LEN`].")]
            pub fn new<B: AsRef<[u8]> + ?Sized>(bytes: &'a B) -> Result<Self, Error> {
                let bytes = bytes.as_ref();
                if (Self::MIN_LEN..=Self::MAX_LEN).contains(&bytes.len()) {
                    Ok(Self(bytes))
                } else {
                    Err(Error::$error)
                }
            }

            #[doc = concat!("The bytes of ", $what, ".")]
            #[must_use]
            pub const fn as_bytes(&self) -> &'a [u8] {
                self.0
            }
        }

        /// Text where it is UTF-8, bytes otherwise (feature `serde`).
        #[cfg(feature = "serde")]
        impl serde::Serialize for $name<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                crate::ids::serialize_id(self.0, s)
            }
        }

        /// Borrowed from the input and length-checked (feature `serde`), from a string or
        /// a byte string the format can lend. A JSON string with escapes cannot be
        /// borrowed, nor can an id that is not UTF-8 (JSON writes it as an array of
        /// numbers): read such ids into an owned buffer and call `new`.
        #[cfg(feature = "serde")]
        impl<'de: 'a, 'a> serde::Deserialize<'de> for $name<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(crate::ids::Borrowed(
                    |bytes: &'de [u8]| Self::new(bytes).ok(),
                    concat!($what, " of the right length, borrowed from the input"),
                ))
            }
        }

        impl AsRef<[u8]> for $name<'_> {
            fn as_ref(&self) -> &[u8] {
                self.0
            }
        }

        impl<'a> TryFrom<&'a str> for $name<'a> {
            type Error = Error;

            fn try_from(text: &'a str) -> Result<Self, Error> {
                Self::new(text)
            }
        }

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match core::str::from_utf8(self.0) {
                    Ok(text) => f.debug_tuple(stringify!($name)).field(&text).finish(),
                    Err(_) => f.debug_tuple(stringify!($name)).field(&self.0).finish(),
                }
            }
        }
    };
}

bytes_id! {
    /// What is being handed over, e.g. `cowin/dose` or `post/parcel`: 1 to 64 bytes.
    ///
    /// Codes for different contexts are independent, so one secret can serve several kinds
    /// of handover without a code for one being valid for another.
    Context, 64, ContextLength, "a context"
}

bytes_id! {
    /// The booking a code belongs to: 1 to 128 arbitrary bytes (a slot booking reference,
    /// a consignment number, a ride id).
    BookingId, 128, BookingIdLength, "a booking id"
}

bytes_id! {
    /// Who is verifying: the vaccinator, the postman's device, the driver's app. 1 to 64
    /// bytes. The host authenticates verifiers; this crate only counts their failures.
    VerifierId, 64, VerifierIdLength, "a verifier id"
}

bytes_id! {
    /// Names one verification request, chosen by the host (a request header, a job id):
    /// 1 to 64 bytes. A verification retried with the same request id after a timeout gets
    /// the original answer instead of being counted again; see
    /// [`Attempt::request`](crate::Attempt::request).
    RequestId, 64, RequestIdLength, "a request id"
}

bytes_id! {
    /// Who overrides a handover without a code: the centre's supervisor, the post office's
    /// inspector. 1 to 64 bytes, and distinct from the [`VerifierId`]s of the people who
    /// verify codes: an override is answered to, counted against and audited under this id.
    /// The host authenticates actors and decides who may override.
    ActorId, 64, ActorIdLength, "an actor id"
}

/// An id kept inside a record (a verifier's or a request's): up to [`IdBuf::MAX_LEN`] bytes,
/// inline, so records stay fixed-size and need no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IdBuf {
    len: u8,
    bytes: [u8; IdBuf::MAX_LEN],
}

impl IdBuf {
    /// The longest id a record keeps: the longest [`VerifierId`] or [`RequestId`].
    pub(crate) const MAX_LEN: usize = 64;

    /// A copy of `bytes`, or `None` if it is empty or longer than [`IdBuf::MAX_LEN`].
    #[must_use]
    pub(crate) fn new(bytes: &[u8]) -> Option<Self> {
        let len = u8::try_from(bytes.len()).ok().filter(|l| *l > 0)?;
        let mut buf = [0u8; Self::MAX_LEN];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self { len, bytes: buf })
    }

    /// The id's bytes.
    #[must_use]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Whether this is the id `bytes`.
    #[must_use]
    pub(crate) fn is(&self, bytes: &[u8]) -> bool {
        self.as_bytes() == bytes
    }
}

impl From<VerifierId<'_>> for IdBuf {
    fn from(id: VerifierId<'_>) -> Self {
        Self::new(id.as_bytes()).unwrap_or(Self {
            len: 0,
            bytes: [0; Self::MAX_LEN],
        })
    }
}

impl From<ActorId<'_>> for IdBuf {
    fn from(id: ActorId<'_>) -> Self {
        Self::new(id.as_bytes()).unwrap_or(Self {
            len: 0,
            bytes: [0; Self::MAX_LEN],
        })
    }
}

impl From<RequestId<'_>> for IdBuf {
    fn from(id: RequestId<'_>) -> Self {
        Self::new(id.as_bytes()).unwrap_or(Self {
            len: 0,
            bytes: [0; Self::MAX_LEN],
        })
    }
}

impl fmt::Debug for IdBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(text) => f.debug_tuple("IdBuf").field(&text).finish(),
            Err(_) => f.debug_tuple("IdBuf").field(&self.as_bytes()).finish(),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for IdBuf {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.int_in_range(1..=Self::MAX_LEN)?;
        let bytes = u.bytes(len)?;
        Self::new(bytes).ok_or(arbitrary::Error::IncorrectFormat)
    }
}

/// An id as text where it is UTF-8, as bytes otherwise.
#[cfg(feature = "serde")]
pub(crate) fn serialize_id<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    match core::str::from_utf8(bytes) {
        Ok(text) => s.serialize_str(text),
        Err(_) => s.serialize_bytes(bytes),
    }
}

/// Reads an id borrowed from the input, then checks its length.
#[cfg(feature = "serde")]
pub(crate) struct Borrowed<'de, T>(
    pub(crate) fn(&'de [u8]) -> Option<T>,
    pub(crate) &'static str,
);

#[cfg(feature = "serde")]
impl<'de, T> serde::de::Visitor<'de> for Borrowed<'de, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<T, E> {
        self.visit_borrowed_bytes(v.as_bytes())
    }

    fn visit_borrowed_bytes<E: serde::de::Error>(self, v: &'de [u8]) -> Result<T, E> {
        (self.0)(v).ok_or_else(|| E::invalid_length(v.len(), &self))
    }
}
