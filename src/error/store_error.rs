//! [`StoreError`]: a store's own failure, kept inside an [`Error`], and the class that says
//! which [`Error`] variant it answers.

use core::fmt;

#[cfg(doc)]
use super::Error;

/// A store's own failure, kept inside [`Error::Store`], [`Error::Refused`],
/// [`Error::Corrupt`] or [`Error::Setup`].
///
/// With feature `std` it holds the store's error itself: its message is this error's
/// message, [`StoreError::find`] gets it (or what caused it) back by type, and its source is this
/// error's source. Without `std` there is no allocator to keep it in, and it holds only the
/// name of the store error's type: a `no_std` store logs its own failures.
///
/// # Transient or permanent: the store author's say
///
/// A store error is *transient* (waiting may change it: a connection refused or reset, a
/// timeout, a pool with no connection free, a serialization failure or deadlock, a replica
/// that did not confirm) or *permanent* (it will fail the same way until someone fixes the
/// store: a missing table or column, a permission refused, a constraint or trigger that
/// refuses the write). The store says which, and the service answers [`Error::Store`]
/// (retryable) or [`Error::Refused`] (not) accordingly:
///
/// - [`StoreError::transient`] and [`StoreError::permanent`] say it outright, and
///   [`StoreError::corrupt`] says a stored record cannot be read ([`Error::Corrupt`]). A store whose
///   error type is [`Error`] answers `Err(StoreError::permanent(e).into())`; one whose error
///   type is `StoreError` returns them as they are.
/// - [`StoreError::new`] (and any other error type a store answers with) is classed by
///   what its chain of sources holds: a [`std::io::Error`] by its kind (refused, reset,
///   aborted, timed out, interrupted, would block, broken pipe, not connected: transient;
///   every other kind, `PermissionDenied` among them: permanent), and a record that
///   [`Record::decode_stored`](crate::record::Record::decode_stored) refused is
///   [`Error::Corrupt`]. An error that holds neither is transient, as every store error was
///   before the classes: a store that knows better says so with the two constructors.
///
/// ```
/// use handover_code::{Error, ErrorClass, MemoryStore, Policy, Secret, Service, StoreError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("table handover_records is missing; run the migrations")]
/// struct NoTable;
///
/// let refused: Error = StoreError::permanent(NoTable).into();
/// assert!(matches!(refused, Error::Refused(_)));
/// assert_eq!(refused.class(), ErrorClass::Permanent);
/// assert!(!refused.is_retryable());
///
/// // An I/O error in the chain is classed by its kind.
/// let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
/// assert!(Error::from(StoreError::new(reset)).is_retryable());
/// let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
/// assert!(matches!(Error::from(StoreError::new(denied)), Error::Refused(_)));
///
/// // A healthy store: no store error, the booking is just unknown.
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "post/parcel")?;
/// let answer = service.resend(&MemoryStore::new(), "EE123456789IN", 1_700_000_000);
/// assert!(matches!(answer, Err(Error::UnknownBooking)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StoreError {
    inner: Inner,
    class: Class,
}

/// What a [`StoreError`] keeps of the store's error.
enum Inner {
    /// The error itself.
    #[cfg(feature = "std")]
    Boxed(std::boxed::Box<dyn core::error::Error + Send + Sync + 'static>),
    /// The name of its type (no allocator to keep it in).
    #[cfg(not(feature = "std"))]
    TypeName(&'static str),
    /// One of the crate's own fixed errors, kept without allocating.
    Fixed(&'static (dyn core::error::Error + Send + Sync + 'static)),
}

/// Which [`Error`] variant a store error answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// [`Error::Store`]: waiting may change it.
    Transient,
    /// [`Error::Refused`]: it fails the same way until the store is fixed.
    Permanent,
    /// [`Error::Corrupt`]: a stored record cannot be read.
    Corrupt,
}

impl StoreError {
    /// Keeps a store's error, classed by what its chain of sources holds (see
    /// [the type's docs](StoreError#transient-or-permanent-the-store-authors-say)): what the
    /// service does with the error of every store call that fails. A `StoreError` given
    /// here is kept as it is, class and all.
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
        if let Some(already) = super::take_as::<Self, E>(&mut slot) {
            return already;
        }
        slot.map_or_else(Self::unknown, |error| {
            let class = classify(&error);
            Self::keep(error, class)
        })
    }

    /// A store error that waiting may change: the service answers it as [`Error::Store`],
    /// retryable.
    ///
    /// ```
    /// use handover_code::{Error, StoreError};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("replica has not caught up")]
    /// struct Lagging;
    ///
    /// assert!(matches!(Error::from(StoreError::transient(Lagging)), Error::Store(_)));
    /// ```
    pub fn transient<E: core::error::Error + Send + Sync + 'static>(error: E) -> Self {
        Self::classed(error, Class::Transient)
    }

    /// A store error that will fail the same way until someone fixes the store: the
    /// service answers it as [`Error::Refused`], not retryable.
    ///
    /// ```
    /// use handover_code::{Error, StoreError};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("the bucket's access policy refuses writes")]
    /// struct Forbidden;
    ///
    /// assert!(matches!(Error::from(StoreError::permanent(Forbidden)), Error::Refused(_)));
    /// ```
    pub fn permanent<E: core::error::Error + Send + Sync + 'static>(error: E) -> Self {
        Self::classed(error, Class::Permanent)
    }

    /// A stored record that cannot be read (a value of another type under its key, a
    /// field missing, a column that is not bytes): the service answers it as
    /// [`Error::Corrupt`], not retryable, naming the record's key. Bytes that
    /// [`Record::decode_stored`](crate::record::Record::decode_stored) refused are classed
    /// so without this.
    ///
    /// ```
    /// use handover_code::{Error, StoreError};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("the key holds a list, not a record")]
    /// struct WrongType;
    ///
    /// assert!(matches!(Error::from(StoreError::corrupt(WrongType)), Error::Corrupt(_)));
    /// ```
    pub fn corrupt<E: core::error::Error + Send + Sync + 'static>(error: E) -> Self {
        Self::classed(error, Class::Corrupt)
    }

    /// `error` kept with `class`; a `StoreError` given here gets `class` too.
    fn classed<E: core::error::Error + Send + Sync + 'static>(error: E, class: Class) -> Self {
        let mut slot = Some(error);
        if let Some(already) = super::take_as::<Self, E>(&mut slot) {
            return Self { class, ..already };
        }
        slot.map_or_else(Self::unknown, |error| Self::keep(error, class))
    }

    /// `error` kept as it is, with `class`.
    fn keep<E: core::error::Error + Send + Sync + 'static>(error: E, class: Class) -> Self {
        #[cfg(feature = "std")]
        let inner = Inner::Boxed(std::boxed::Box::new(error));
        #[cfg(not(feature = "std"))]
        let inner = {
            let _ = error;
            Inner::TypeName(core::any::type_name::<E>())
        };
        Self { inner, class }
    }

    /// One of the crate's fixed errors, with `class`: no allocation.
    pub(crate) const fn fixed(
        error: &'static (dyn core::error::Error + Send + Sync + 'static),
        class: Class,
    ) -> Self {
        Self {
            inner: Inner::Fixed(error),
            class,
        }
    }

    /// Which [`Error`] variant this answers.
    pub(crate) const fn class(&self) -> Class {
        self.class
    }

    /// The first error of type `E` in the store's error and the chain of errors that caused
    /// it (feature `std`): a host that wants to tell a broken connection from a full disk
    /// looks for its store client's own error (`rusqlite::Error`, `tokio_postgres::Error`,
    /// `redis::RedisError`); a record that would not decode says so in the chain's messages.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn find<E: core::error::Error + 'static>(&self) -> Option<&E> {
        chain(self.error()).find_map(|error| error.downcast_ref::<E>())
    }

    /// The store's error as it is kept.
    fn error(&self) -> &(dyn core::error::Error + 'static) {
        match &self.inner {
            #[cfg(feature = "std")]
            Inner::Boxed(error) => &**error,
            #[cfg(not(feature = "std"))]
            Inner::TypeName(_) => &Unknown,
            Inner::Fixed(error) => *error,
        }
    }

    /// What [`StoreError::new`] keeps when its value is gone, which it never is.
    fn unknown() -> Self {
        Self::fixed(&Unknown, Class::Transient)
    }
}

/// The errors in `first`'s chain of sources, `first` included; a `StoreError` met on the
/// way is looked through to the error it keeps.
fn chain<'a>(
    first: &'a (dyn core::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn core::error::Error + 'static)> {
    // A chain longer than this is a cycle a buggy `source` made: it is not followed on.
    const MAX_DEPTH: usize = 64;
    core::iter::successors(Some(first), |error| {
        error
            .downcast_ref::<StoreError>()
            .map_or_else(|| error.source(), |kept| Some(kept.error()))
    })
    .take(MAX_DEPTH)
}

/// The class of an error that did not say its own: a kept `StoreError`'s own (a record the
/// crate could not decode is kept as [`Class::Corrupt`] where it is refused), an I/O
/// error's by its kind, and [`Class::Transient`] for the rest.
fn classify(error: &(dyn core::error::Error + 'static)) -> Class {
    for error in chain(error) {
        if let Some(kept) = error.downcast_ref::<StoreError>() {
            return kept.class;
        }
        #[cfg(feature = "std")]
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return io_class(io.kind());
        }
    }
    Class::Transient
}

/// An I/O error's class by its kind: the kinds a network or a busy machine gives are
/// transient, the rest (a permission refused, a file not found, data a client refused)
/// permanent.
#[cfg(feature = "std")]
pub(crate) fn io_class(kind: std::io::ErrorKind) -> Class {
    use std::io::ErrorKind as K;
    match kind {
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::TimedOut
        | K::Interrupted
        | K::WouldBlock
        | K::UnexpectedEof
        | K::OutOfMemory
        | K::AddrNotAvailable
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown
        | K::ResourceBusy
        | K::StorageFull => Class::Transient,
        _ => Class::Permanent,
    }
}

/// A store error that could not be kept.
#[derive(Debug, thiserror::Error)]
#[error("unknown store error")]
struct Unknown;

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            #[cfg(not(feature = "std"))]
            Inner::TypeName(name) => write!(f, "a store error ({name})"),
            _ => fmt::Display::fmt(self.error(), f),
        }
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            #[cfg(not(feature = "std"))]
            Inner::TypeName(name) => f.write_str(name),
            _ => fmt::Debug::fmt(self.error(), f),
        }
    }
}

impl core::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.error().source()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::io::{Error as Io, ErrorKind};

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] StoreError);

    #[test]
    fn io_errors_are_classed_by_kind() {
        for kind in [
            ErrorKind::ConnectionRefused,
            ErrorKind::ConnectionReset,
            ErrorKind::TimedOut,
            ErrorKind::BrokenPipe,
        ] {
            assert_eq!(StoreError::new(Io::from(kind)).class(), Class::Transient);
        }
        for kind in [
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::InvalidData,
        ] {
            assert_eq!(StoreError::new(Io::from(kind)).class(), Class::Permanent);
        }
        let nested = StoreError::new(Outer(StoreError::new(Io::from(
            ErrorKind::PermissionDenied,
        ))));
        assert_eq!(nested.class(), Class::Permanent);
    }

    #[test]
    fn the_store_authors_word_wins_and_unknown_errors_are_transient() {
        assert_eq!(StoreError::new(Unknown).class(), Class::Transient);
        let said = StoreError::permanent(Io::from(ErrorKind::TimedOut));
        assert_eq!(said.class(), Class::Permanent);
        // A classed StoreError passed on keeps its class, or takes the one said last.
        assert_eq!(StoreError::new(said).class(), Class::Permanent);
        let again = StoreError::transient(StoreError::permanent(Unknown));
        assert_eq!(again.class(), Class::Transient);
    }
}
