#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::vec::Vec;

use core::time::Duration;

use rusqlite::{Connection, params};

use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::sql::{self, AuditRow, SCHEMA_VERSION};
use handover_code::store::{AuditEntry, AuditLog, Cursor};
use handover_code::{Error, Key, Store, StoreError, Swap, Timestamp};

/// The SQLite crate this store is built on, at the version it was built with: name
/// `rusqlite` types through it without matching versions by hand.
pub use rusqlite;

#[cfg(feature = "tokio")]
mod async_face;
mod schema;
mod write;

#[cfg(feature = "tokio")]
pub use async_face::AsyncSqliteStore;
use schema::{create_schema, patiently};
use write::{Batch, Parts};

/// How much a write survives. WAL mode either way.
///
/// - [`Durability::Full`] (`PRAGMA synchronous = FULL`): every answered verification is on
///   disk before it is answered. Survives a power failure; each write waits for an fsync.
/// - [`Durability::Normal`] (`synchronous = NORMAL`): the WAL is synced at checkpoints, not
///   at each commit. A process crash loses nothing; a power failure or OS crash can lose
///   the last commits, so a counted guess can be forgotten (its attempt returns) and a
///   redemption can be undone (the code works once more). Several times faster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Synced at every commit.
    Full,
    /// Synced at checkpoints.
    Normal,
}

/// What can go wrong in a [`SqliteStore`]: answered as [`Error::Store`] (or
/// [`Error::Setup`]), with this as its source and SQLite's own error as the next.
#[derive(Debug, thiserror::Error)]
enum SqliteError {
    /// SQLite failed (busy past the timeout, disk full, I/O error, …).
    #[error("sqlite failed")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored record's or audit row's bytes are not one (the source says why).
    #[error("stored record is corrupt")]
    Decode(#[from] StoreError),
    /// The database was written by a different schema version.
    #[error("database schema version {found} is not {SCHEMA_VERSION}; migrate it first")]
    Schema {
        /// The version found.
        found: i64,
    },
    /// A connection's lock was poisoned by a panicking thread.
    #[error("connection pool poisoned by a panicking thread; reopen the store")]
    Poisoned,
    /// A call on tokio's blocking pool panicked or was cancelled by the runtime shutting
    /// down (`AsyncSqliteStore`); whether a write it made landed is unknown.
    #[error("blocking task failed or was cancelled; nothing was answered, retry")]
    #[cfg(feature = "tokio")]
    Task,
}

/// A database of another schema version is a setup error; a record that cannot be decoded
/// or read is corrupt; the rest are store failures, transient or permanent by SQLite's
/// result code ([`is_transient_sqlite_code`](handover_code::store::sql::is_transient_sqlite_code)).
/// The one place this crate turns its errors into the core's.
impl From<SqliteError> for Error {
    fn from(e: SqliteError) -> Self {
        use rusqlite::Error as R;
        match e {
            SqliteError::Schema { .. } => Self::Setup(StoreError::new(e)),
            SqliteError::Decode(_)
            | SqliteError::Sqlite(
                R::FromSqlConversionFailure(..)
                | R::InvalidColumnType(..)
                | R::IntegralValueOutOfRange(..),
            ) => StoreError::corrupt(e).into(),
            SqliteError::Sqlite(R::SqliteFailure(ref failure, _))
                if sql::is_transient_sqlite_code(failure.extended_code) =>
            {
                StoreError::transient(e).into()
            }
            #[cfg(feature = "tokio")]
            SqliteError::Task => StoreError::transient(e).into(),
            // A refusal by SQLite's code, a poisoned pool (it stays poisoned), a statement
            // that does not fit the tables: the same until someone fixes the store.
            _ => StoreError::permanent(e).into(),
        }
    }
}

impl<T> From<PoisonError<T>> for SqliteError {
    fn from(_: PoisonError<T>) -> Self {
        Self::Poisoned
    }
}

/// A [`Store`] on a SQLite file, in WAL mode with a busy timeout.
///
/// Compare-and-swap is one statement: `INSERT … ON CONFLICT DO NOTHING` or
/// `UPDATE … WHERE version = ?`, judged by the rows it changed. Any number of threads and
/// processes may open the same file. Connections are pooled, one per thread at work.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use handover_code_sqlite::{Durability, SqliteStore};
/// # let dir = std::env::temp_dir().join(format!("hc-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let store = SqliteStore::open(dir.join("handover.db"), Durability::Full)?;
/// # handover_code::conformance::check_contract(|| SqliteStore::open_in_memory().unwrap()).unwrap();
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
///
/// The schema it creates (and records as version 2 in `handover_schema`):
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS handover_records (
///     kind      INTEGER NOT NULL,
///     namespace BLOB    NOT NULL,
///     id        BLOB    NOT NULL,
///     version   INTEGER NOT NULL,
///     record    BLOB    NOT NULL,
///     prune_at  INTEGER NOT NULL,
///     PRIMARY KEY (kind, namespace, id)
/// ) WITHOUT ROWID;
/// CREATE INDEX IF NOT EXISTS handover_records_prune ON handover_records (prune_at);
/// CREATE TABLE IF NOT EXISTS handover_schema (version INTEGER NOT NULL);
/// ```
///
/// and beside it the audit log, `handover_audit`, one row per record write, inserted in the
/// write's own `BEGIN IMMEDIATE` transaction ([`AuditLog`]; created on open in older
/// databases too): `seq INTEGER PRIMARY KEY AUTOINCREMENT`, `at`, `kind`, `namespace`,
/// `id`, `context`, `booking`, `verifier`, `request`, `actor`, `action`, `detail`, `note`,
/// `prior`, `version`, indexed by record and by time. [`Store::prune`] never
/// touches it; [`AuditLog::prune_audit`] does.
#[derive(Debug)]
pub struct SqliteStore {
    path: Option<PathBuf>,
    durability: Durability,
    busy_timeout: Duration,
    prune_batch: u32,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// The default busy timeout: how long a write waits for another process's lock.
    pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

    /// Opens (creating if needed) the database at `path`, creates the schema, and checks its
    /// version.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the file cannot be opened or written,
    /// [`Error::Setup`] when it holds another schema version.
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> Result<Self, Error> {
        Ok(Self::start(Some(path.as_ref().to_path_buf()), durability)?)
    }

    /// A private in-memory database, for tests: one connection, gone when dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self, Error> {
        Ok(Self::start(None, Durability::Normal)?)
    }

    /// Opens the first connection, creates the schema and pools the connection.
    fn start(path: Option<PathBuf>, durability: Durability) -> Result<Self, SqliteError> {
        let store = Self {
            path,
            durability,
            busy_timeout: Self::DEFAULT_BUSY_TIMEOUT,
            prune_batch: Self::DEFAULT_PRUNE_BATCH,
            idle: Mutex::new(Vec::new()),
        };
        let conn = store.connect()?;
        create_schema(&conn, store.busy_timeout)?;
        store.idle.lock()?.push(conn);
        Ok(store)
    }

    /// The longest busy timeout SQLite takes: `i32::MAX` milliseconds (about 24.8 days).
    pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

    /// Sets how long a write waits for another connection's lock before failing; longer
    /// than [`SqliteStore::MAX_BUSY_TIMEOUT`] is clamped to it (SQLite counts in `i32`
    /// milliseconds), never a panic.
    #[must_use]
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        let timeout = timeout.min(Self::MAX_BUSY_TIMEOUT);
        self.busy_timeout = timeout;
        if let Ok(idle) = self.idle.get_mut() {
            for conn in idle.iter() {
                let _ignored = conn.busy_timeout(timeout);
            }
        }
        self
    }

    /// One batch of a prune: at most `?2` rows, found through the `prune_at` index (the outer
    /// condition is the PostgreSQL store's guard against renewed rows; SQLite runs the statement
    /// in one write transaction, and keeps it for the same meaning).
    /// Public for hosts that prune from their own maintenance jobs.
    pub const PRUNE: &'static str =
        "DELETE FROM handover_records WHERE prune_at < ?1 AND (kind, namespace, id) IN
    (SELECT kind, namespace, id FROM handover_records WHERE prune_at < ?1 LIMIT ?2)";

    /// Rows a prune deletes per statement when none is set: each batch holds the write lock
    /// for milliseconds, not the whole prune.
    pub const DEFAULT_PRUNE_BATCH: u32 = 5_000;

    /// Sets how many rows each of a prune's statements deletes (at least 1). Smaller batches
    /// hold the write lock for less time each; a prune of many rows takes more of them.
    #[must_use]
    pub fn with_prune_batch(mut self, rows: u32) -> Self {
        self.prune_batch = rows.max(1);
        self
    }

    /// Deletes at most `limit` records whose [`Record::prune_at`] is before `before`, in one
    /// statement, and answers how many went. [`Store::prune`] repeats this
    /// until a batch comes back short.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the file cannot be written.
    pub fn prune_batch(&self, before: Timestamp, limit: u32) -> Result<u64, Error> {
        let removed = self.with(|conn| {
            Ok(conn
                .prepare_cached(Self::PRUNE)?
                .execute(params![sql::time_to_sql(before), i64::from(limit)])?)
        })?;
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }

    /// The durability this store was opened with.
    #[must_use]
    pub const fn durability(&self) -> Durability {
        self.durability
    }

    fn connect(&self) -> Result<Connection, SqliteError> {
        let conn = match &self.path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(self.busy_timeout)?;
        if self.path.is_some() {
            // Switching a fresh file to WAL needs a moment of exclusive access, for which
            // SQLite does not wait: wait here, as long as a write would.
            patiently(self.busy_timeout, || {
                conn.pragma_update(None, "journal_mode", "WAL")
            })?;
        }
        let sync = match self.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.set_prepared_statement_cache_capacity(16);
        Ok(conn)
    }

    /// Runs `f` on an idle connection, or a new one (an in-memory store has exactly one).
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, SqliteError>,
    ) -> Result<T, SqliteError> {
        if self.path.is_none() {
            let idle = self.idle.lock()?;
            let conn = idle.first().ok_or(SqliteError::Poisoned)?;
            let result = f(conn);
            if !conn.is_autocommit() {
                // A transaction a failed rollback left open: its one connection must not keep it.
                let _rolled_back = conn.execute_batch("ROLLBACK");
            }
            return result;
        }
        let taken = self.idle.lock()?.pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = f(&conn);
        // A connection still in a transaction (its rollback failed) would hold the write lock
        // and show its own uncommitted writes to the next caller: closed, not pooled.
        if conn.is_autocommit() {
            self.idle.lock()?.push(conn);
        }
        result
    }
}

impl Store for SqliteStore {
    type Error = Error;
    const TRANSACTIONS: bool = true;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        Ok(self.load_at(Parts::of(&key))?)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        Ok(self.swap_at(Parts::of(&key), expected, record, new)?)
    }

    /// The swap and its audit row in one `BEGIN IMMEDIATE` transaction: both land or
    /// neither does, whatever kills the process.
    fn compare_and_swap_audited(&self, entry: &Entry<'_>, record: &Record) -> Result<Swap, Error> {
        own_error(|| {
            let row = AuditRow::of(entry);
            let write = (
                Parts::of(&entry.key),
                entry.prior,
                record,
                entry.version,
                &row,
            );
            self.swap_audited(&[write], &[])
        })
    }

    /// Every write and its audit row, and every unchanged key's version read, in one
    /// `BEGIN IMMEDIATE` transaction.
    fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Error> {
        own_error(|| match Batch::of(writes, unchanged) {
            Some(batch) => self.swap_batch(&batch),
            None => Ok(Swap::Conflict),
        })
    }

    fn prune(&self, before: Timestamp) -> Result<u64, Error> {
        self.prune_expired(before)
    }
}

/// Runs a call written with [`SqliteError`], and answers the core's [`Error`] (the trait faces
/// answer that, the helpers their own).
fn own_error<T>(call: impl FnOnce() -> Result<T, SqliteError>) -> Result<T, Error> {
    Ok(call()?)
}

impl AuditLog for SqliteStore {
    fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Error> {
        Ok(self.history_at(Parts::of(&key))?)
    }

    fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        Ok(self.since_at(cursor, limit)?)
    }

    fn prune_audit(&self, before: Timestamp) -> Result<u64, Error> {
        Ok(self.prune_audit_at(before)?)
    }
}
