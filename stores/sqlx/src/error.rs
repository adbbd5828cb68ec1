//! The stores' own errors, and the one place they become the core's [`Error`].

use handover_code::store::sql::SCHEMA_VERSION;
use handover_code::{Error, StoreError};

/// What can go wrong in a store of this crate. Connection losses, timeouts and server
/// restarts arrive here, as errors, never as an outcome.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SqlxError {
    /// The driver, the pool or the server failed (no connection in time, a terminated
    /// backend, a statement timeout, a busy database, …).
    #[error("the database call failed; check the server and retry")]
    Sqlx(sqlx::Error),
    /// The connection settings or TLS were refused (a URL sqlx cannot use, a certificate
    /// not trusted, TLS asked for in a build without it): retrying changes nothing.
    #[error("the database connection settings or TLS were refused; fix them")]
    Settings(sqlx::Error),
    /// A stored record's bytes are not a record.
    #[error("stored record is corrupt")]
    Decode(#[from] StoreError),
    /// The database was written by a different schema version.
    #[error("database schema version {found} is not {SCHEMA_VERSION}; migrate it first")]
    Schema {
        /// The version found.
        found: i64,
    },
    #[cfg(feature = "postgres")]
    /// A commit waited the store's commit wait for the synchronous standby and was not
    /// confirmed: it may be visible on the primary but not on the standby, so a failover
    /// could lose it, and it answers nothing.
    #[error(
        "the commit was not confirmed by the synchronous standby within {waited_ms} ms and a failover could lose it; \
         check the standby and retry with the same request id"
    )]
    Unconfirmed {
        /// How long it waited.
        waited_ms: u128,
    },
    /// The connection settings were refused.
    #[error("invalid connection settings: {0}")]
    Config(std::string::String),
}

/// Settings and TLS failures are the host's to fix; the rest of sqlx's errors are failures
/// of the moment.
impl From<sqlx::Error> for SqlxError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Configuration(_) | sqlx::Error::Tls(_) => Self::Settings(e),
            // rustls's refusals (a certificate not trusted, not valid for the host name)
            // reach sqlx as I/O errors of this kind, as do SQLite file names it cannot open.
            sqlx::Error::Io(ref io) if io.kind() == std::io::ErrorKind::InvalidData => {
                Self::Settings(e)
            }
            e => Self::Sqlx(e),
        }
    }
}

/// The error for a table prefix `handover_code::store::sql::with_table_prefix` refuses.
pub(crate) const PREFIX_RULE: &str = "a table prefix is at most 40 lowercase ASCII letters, digits and '_', not starting with a digit";

/// Settings it cannot use (and a database of another schema version) are setup errors; the
/// rest are store failures. The one place this crate turns its errors into the core's.
impl From<SqlxError> for Error {
    fn from(e: SqlxError) -> Self {
        match e {
            SqlxError::Schema { .. } | SqlxError::Config(_) | SqlxError::Settings(_) => {
                Self::Setup(StoreError::new(e))
            }
            _ => Self::Store(StoreError::new(e)),
        }
    }
}

/// The SQLSTATE of a database's refusal, if that is what `e` is.
#[cfg(feature = "postgres")]
pub(crate) fn code(e: &SqlxError) -> Option<std::borrow::Cow<'_, str>> {
    match e {
        SqlxError::Sqlx(sqlx::Error::Database(db)) => db.code(),
        _ => None,
    }
}
