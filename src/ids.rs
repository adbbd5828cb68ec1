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
