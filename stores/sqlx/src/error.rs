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

/// Settings it cannot use (and a database of another schema version) are setup errors; a
/// record that cannot be decoded or read is corrupt; the rest are store failures, transient
/// or permanent by the database's own code
/// ([`is_transient_sqlstate`](handover_code::store::sql::is_transient_sqlstate),
/// [`is_transient_sqlite_code`](handover_code::store::sql::is_transient_sqlite_code)) or
/// by sqlx's error. The one place this crate turns its errors into the core's.
impl From<SqlxError> for Error {
    fn from(e: SqlxError) -> Self {
        match e {
            SqlxError::Schema { .. } | SqlxError::Config(_) | SqlxError::Settings(_) => {
                Self::Setup(StoreError::new(e))
            }
            SqlxError::Decode(_)
            | SqlxError::Sqlx(sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)) => {
                StoreError::corrupt(e).into()
            }
            _ if e.is_transient() => StoreError::transient(e).into(),
            _ => StoreError::permanent(e).into(),
        }
    }
}

impl SqlxError {
    /// Whether waiting may change it: a database's refusal by its own code; a pool with no
    /// connection free, a connection lost or an unconfirmed commit always; a column or
    /// type that is not there never.
    fn is_transient(&self) -> bool {
        let Self::Sqlx(e) = self else {
            return true;
        };
        match e {
            sqlx::Error::Database(db) => database_is_transient(&**db),
            sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::RowNotFound
            | sqlx::Error::Encode(_)
            | sqlx::Error::InvalidArgument(_) => false,
            _ => true,
        }
    }
}

/// A database's refusal, by the code its own server gives.
fn database_is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    #[cfg(feature = "postgres")]
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return handover_code::store::sql::is_transient_sqlstate(pg.code());
    }
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(handover_code::store::sql::is_transient_sqlite_code);
    }
    true
}

/// The SQLSTATE of a database's refusal, if that is what `e` is.
#[cfg(feature = "postgres")]
pub(crate) fn code(e: &SqlxError) -> Option<std::borrow::Cow<'_, str>> {
    match e {
        SqlxError::Sqlx(sqlx::Error::Database(db)) => db.code(),
        _ => None,
    }
}
