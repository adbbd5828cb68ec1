//! [`StoreError`]: a store's own failure, kept inside an [`Error`].

use core::fmt;

#[cfg(doc)]
use super::Error;

/// A store's own failure, kept inside [`Error::Store`] (or [`Error::Setup`]).
///
/// With feature `std` it holds the store's error itself: its message is this error's
/// message, [`StoreError::find`] gets it (or what caused it) back by type, and its source is this
/// error's source. Without `std` there is no allocator to keep it in, and it holds only the
/// name of the store error's type: a `no_std` store logs its own failures.
///
/// ```
/// use handover_code::{Error, MemoryStore, Policy, Secret, Service};
///
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "post/parcel")?;
/// let answer = service.resend(&MemoryStore::new(), "EE123456789IN", 1_700_000_000);
/// // A healthy store: no store error, the booking is just unknown.
/// assert!(matches!(answer, Err(Error::UnknownBooking)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StoreError {
    #[cfg(feature = "std")]
    inner: std::boxed::Box<dyn core::error::Error + Send + Sync + 'static>,
    #[cfg(not(feature = "std"))]
    type_name: &'static str,
}

impl StoreError {
    /// Keeps a store's error: what the service does with the error of every store call that
    /// fails. A store author's test double builds one to answer an [`Error::Store`].
    ///
    /// ```
    /// use handover_code::{Error, StoreError};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("disk full")]
    /// struct DiskFull;
    ///
    /// let error = Error::Store(StoreError::new(DiskFull));
    /// assert!(error.is_retryable());
    /// if let Error::Store(inner) = &error {
    ///     assert_eq!(inner.to_string(), "disk full");
    ///     assert!(inner.find::<DiskFull>().is_some());
    /// }
    /// ```
    pub fn new<E: core::error::Error + Send + Sync + 'static>(error: E) -> Self {
        let mut slot = Some(error);
        if let Some(already) = take_as::<Self, E>(&mut slot) {
            return already;
        }
        let Some(error) = slot else {
            return Self::unknown();
        };
        #[cfg(feature = "std")]
        {
            Self {
                inner: std::boxed::Box::new(error),
            }
        }
        #[cfg(not(feature = "std"))]
        {
            let _ = error;
            Self {
                type_name: core::any::type_name::<E>(),
            }
        }
    }

    /// The first error of type `E` in the store's error and the chain of errors that caused
    /// it (feature `std`): a host that wants to tell a broken connection from a full disk
    /// looks for its store client's own error (`rusqlite::Error`, `tokio_postgres::Error`,
    /// `redis::RedisError`); a record that would not decode says so in the chain's messages.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn find<E: core::error::Error + 'static>(&self) -> Option<&E> {
        let mut next: Option<&(dyn core::error::Error + 'static)> = Some(&*self.inner);
        while let Some(error) = next {
            if let Some(found) = error.downcast_ref::<E>() {
                return Some(found);
            }
            next = error.source();
        }
        None
    }
}

impl StoreError {
    /// What [`StoreError::new`] keeps when its value is gone, which it never is.
    fn unknown() -> Self {
        Self::new(Unknown)
    }
}

/// A store error that could not be kept.
#[derive(Debug, thiserror::Error)]
#[error("unknown store error")]
struct Unknown;

/// `slot`'s value if `E` is `T`, taken out of it; `None`, with `slot` untouched, otherwise.
pub(super) fn take_as<T: 'static, E: 'static>(slot: &mut Option<E>) -> Option<T> {
    (slot as &mut dyn core::any::Any)
        .downcast_mut::<Option<T>>()
        .and_then(Option::take)
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "std")]
        {
            fmt::Display::fmt(&self.inner, f)
        }
        #[cfg(not(feature = "std"))]
        {
            write!(f, "a store error ({})", self.type_name)
        }
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "std")]
        {
            fmt::Debug::fmt(&self.inner, f)
        }
        #[cfg(not(feature = "std"))]
        {
            f.write_str(self.type_name)
        }
    }
}

impl core::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        #[cfg(feature = "std")]
        {
            self.inner.source()
        }
        #[cfg(not(feature = "std"))]
        {
            None
        }
    }
}
