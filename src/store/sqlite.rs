//! [`SqliteStore`] (feature `sqlite`): the embedded store, one file shared by every thread
//! and process that opens it.

use core::time::Duration;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::vec::Vec;

use rusqlite::{Connection, OptionalExtension, params};

use crate::audit::{AuditEntry, AuditLog, Cursor, Entry};
use crate::key::Key;
use crate::record::{DecodeError, Record, Version};
use crate::store::sql::{self, AuditRow, SCHEMA_VERSION};
use crate::store::{Prune, Store, Swap};
use crate::time::Timestamp;

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

/// What can go wrong in a [`SqliteStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// SQLite failed (busy past the timeout, disk full, I/O error, …).
    #[error("sqlite failed")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored record's bytes are not a record.
    #[error("stored record is corrupt")]
    Decode(#[from] DecodeError),
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
    Task,
}

impl<T> From<PoisonError<T>> for SqliteError {
    fn from(_: PoisonError<T>) -> Self {
        Self::Poisoned
    }
}

/// A [`Store`] and [`Prune`] on a SQLite file, in WAL mode with a busy timeout.
///
/// Compare-and-swap is one statement: `INSERT … ON CONFLICT DO NOTHING` or
/// `UPDATE … WHERE version = ?`, judged by the rows it changed. Any number of threads and
/// processes may open the same file. Connections are pooled, one per thread at work.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use handover_code::store::sqlite::{Durability, SqliteStore};
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
/// `prior`, `version`, indexed by record and by time. [`Prune::prune`] never touches it;
/// [`AuditLog::prune_audit`] does.
#[derive(Debug)]
pub struct SqliteStore {
    path: Option<PathBuf>,
    durability: Durability,
    busy_timeout: Duration,
    prune_batch: u32,
    idle: Mutex<Vec<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS handover_records (
    kind      INTEGER NOT NULL,
    namespace BLOB    NOT NULL,
    id        BLOB    NOT NULL,
    version   INTEGER NOT NULL,
    record    BLOB    NOT NULL,
    prune_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, namespace, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS handover_records_prune ON handover_records (prune_at);
CREATE TABLE IF NOT EXISTS handover_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS handover_audit (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    kind      INTEGER NOT NULL,
    namespace BLOB    NOT NULL,
    id        BLOB    NOT NULL,
    context   BLOB    NOT NULL,
    booking   BLOB    NOT NULL,
    verifier  BLOB,
    request   BLOB,
    actor     BLOB,
    action    TEXT    NOT NULL,
    detail    INTEGER NOT NULL,
    note      TEXT    NOT NULL,
    prior     INTEGER,
    version   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS handover_audit_record ON handover_audit (kind, namespace, id, seq);
CREATE INDEX IF NOT EXISTS handover_audit_at ON handover_audit (at);
";
const AUDIT_INSERT: &str = "INSERT INTO handover_audit (at, kind, namespace, id, context, booking,
    verifier, request, actor, action, detail, note, prior, version)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
const VERSION: &str =
    "SELECT version FROM handover_records WHERE kind = ?1 AND namespace = ?2 AND id = ?3";
const LOAD: &str =
    "SELECT record, version FROM handover_records WHERE kind = ?1 AND namespace = ?2 AND id = ?3";
const INSERT: &str = "INSERT INTO handover_records (kind, namespace, id, version, record, prune_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, namespace, id) DO NOTHING";
const UPDATE: &str = "UPDATE handover_records SET version = ?4, record = ?5, prune_at = ?6
    WHERE kind = ?1 AND namespace = ?2 AND id = ?3 AND version = ?7";

impl SqliteStore {
    /// The default busy timeout: how long a write waits for another process's lock.
    pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

    /// Opens (creating if needed) the database at `path`, creates the schema, and checks its
    /// version.
    ///
    /// # Errors
    ///
    /// [`SqliteError::Sqlite`] when the file cannot be opened or written,
    /// [`SqliteError::Schema`] when it holds another schema version.
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> Result<Self, SqliteError> {
        Self::start(Some(path.as_ref().to_path_buf()), durability)
    }

    /// A private in-memory database, for tests: one connection, gone when dropped.
    ///
    /// # Errors
    ///
    /// [`SqliteError::Sqlite`] if SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self, SqliteError> {
        Self::start(None, Durability::Normal)
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
    /// statement, and answers how many went. [`Prune::prune`] repeats this until a batch
    /// comes back short.
    ///
    /// # Errors
    ///
    /// [`SqliteError::Sqlite`] when the file cannot be written.
    pub fn prune_batch(&self, before: Timestamp, limit: u32) -> Result<u64, SqliteError> {
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

/// Creates the schema and checks its version, in one `BEGIN IMMEDIATE` transaction: it takes
/// the write lock before it reads, so processes creating a fresh file at once wait their turn
/// (a deferred transaction that reads first cannot wait for the lock when it comes to
/// write: SQLite answers it busy at once).
fn create_schema(conn: &Connection, patience: Duration) -> Result<(), SqliteError> {
    let found = patiently(patience, || {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let made = conn.execute_batch(SCHEMA).and_then(|()| {
            let found: Option<i64> = conn
                .query_row("SELECT version FROM handover_schema", [], |r| r.get(0))
                .optional()?;
            if found.is_none() {
                conn.execute(
                    "INSERT INTO handover_schema (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Ok(found)
        });
        match made.and_then(|found| conn.execute_batch("COMMIT").map(|()| found)) {
            Ok(found) => Ok(found),
            Err(e) => {
                let _rolled_back = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    })?;
    match found {
        None | Some(SCHEMA_VERSION) => Ok(()),
        Some(found) => Err(SqliteError::Schema { found }),
    }
}

/// Runs `step` again while SQLite answers it busy or locked (another connection holds the
/// lock and the busy handler does not apply: a journal-mode switch, a transaction's
/// upgrade), for at most `patience`, backing off from 1 ms to 50 ms between tries.
fn patiently<T>(
    patience: Duration,
    mut step: impl FnMut() -> rusqlite::Result<T>,
) -> Result<T, SqliteError> {
    let deadline = std::time::Instant::now().checked_add(patience);
    let mut pause = Duration::from_millis(1);
    loop {
        match step() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && deadline.is_some_and(|d| std::time::Instant::now() < d) =>
            {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2).min(Duration::from_millis(50));
            }
            done => return done.map_err(SqliteError::from),
        }
    }
}

impl Store for SqliteStore {
    type Error = SqliteError;
    const TRANSACTIONS: bool = true;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, SqliteError> {
        self.load_at(Parts::of(&key))
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, SqliteError> {
        self.swap_at(Parts::of(&key), expected, record, new)
    }

    /// The swap and its audit row in one `BEGIN IMMEDIATE` transaction: both land or
    /// neither does, whatever kills the process.
    fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, SqliteError> {
        let row = AuditRow::of(entry);
        let write = (
            Parts::of(&entry.key),
            entry.prior,
            record,
            entry.version,
            &row,
        );
        self.swap_audited(&[write], &[])
    }

    /// Every write and its audit row, and every unchanged key's version read, in one
    /// `BEGIN IMMEDIATE` transaction.
    fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, SqliteError> {
        match Batch::of(writes, unchanged) {
            Some(batch) => self.swap_batch(&batch),
            None => Ok(Swap::Conflict),
        }
    }
}

impl AuditLog for SqliteStore {
    fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, SqliteError> {
        self.history_at(Parts::of(&key))
    }

    fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, SqliteError> {
        self.since_at(cursor, limit)
    }

    fn prune_audit(&self, before: Timestamp) -> Result<u64, SqliteError> {
        self.prune_audit_at(before)
    }
}

/// What the SQL needs of a [`Key`]: its kind, namespace and id, which the async face also
/// carries onto the blocking pool as owned bytes.
#[derive(Clone, Copy)]
struct Parts<'a> {
    kind: u8,
    namespace: &'a [u8],
    id: &'a [u8],
}

impl<'a> Parts<'a> {
    fn of(key: &'a Key<'_>) -> Self {
        Self {
            kind: key.kind(),
            namespace: key.namespace(),
            id: key.id(),
        }
    }
}

impl SqliteStore {
    fn load_at(&self, key: Parts<'_>) -> Result<Option<(Record, Version)>, SqliteError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(LOAD)?;
            let row = stmt
                .query_row(params![key.kind, key.namespace, key.id], |r| {
                    let bytes: Vec<u8> = r.get(0)?;
                    let version: i64 = r.get(1)?;
                    Ok((bytes, version))
                })
                .optional()?;
            row.map(|(bytes, version)| Ok((sql::decode(&bytes)?, sql::version_from_sql(version))))
                .transpose()
        })
    }

    fn swap_at(
        &self,
        key: Parts<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, SqliteError> {
        self.with(|conn| write_record(conn, key, expected, record, new))
    }
}

/// The compare-and-swap's one statement: an insert if absent, or an update of the expected
/// version, judged by the rows it changed.
fn write_record(
    conn: &Connection,
    key: Parts<'_>,
    expected: Option<Version>,
    record: &Record,
    new: Version,
) -> Result<Swap, SqliteError> {
    let (buf, len) = sql::encode(record);
    let bytes = buf.get(..len).unwrap_or_default();
    let new_sql = sql::version_to_sql(new);
    let prune_at = sql::prune_at(record);
    let changed = match expected {
        None => conn.prepare_cached(INSERT)?.execute(params![
            key.kind,
            key.namespace,
            key.id,
            new_sql,
            bytes,
            prune_at
        ])?,
        Some(v) => conn.prepare_cached(UPDATE)?.execute(params![
            key.kind,
            key.namespace,
            key.id,
            new_sql,
            bytes,
            prune_at,
            sql::version_to_sql(v)
        ])?,
    };
    Ok(if changed == 1 {
        Swap::Swapped
    } else {
        Swap::Conflict
    })
}

/// One audited write of a transaction: the key's parts, the expected and new versions, the
/// record and its audit row.
type Write<'w> = (
    Parts<'w>,
    Option<Version>,
    &'w Record,
    Version,
    &'w AuditRow,
);

impl SqliteStore {
    /// Every write and its audit row in one `BEGIN IMMEDIATE` transaction, in order, then
    /// every unchanged key's version read: the first write or read that finds another
    /// version rolls everything back as a conflict.
    fn swap_audited(
        &self,
        writes: &[Write<'_>],
        unchanged: &[(Parts<'_>, Option<Version>)],
    ) -> Result<Swap, SqliteError> {
        self.with(|conn| {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let done = (|| {
                for (key, expected, record, new, row) in writes {
                    if write_record(conn, *key, *expected, record, *new)? == Swap::Conflict {
                        return Ok(Swap::Conflict);
                    }
                    conn.prepare_cached(AUDIT_INSERT)?.execute(params![
                        row.at,
                        row.kind,
                        row.namespace,
                        row.id,
                        row.context,
                        row.booking,
                        row.verifier,
                        row.request,
                        row.actor,
                        row.action,
                        row.detail,
                        row.note,
                        row.prior,
                        row.version
                    ])?;
                }
                for (key, expected) in unchanged {
                    let stored: Option<i64> = conn
                        .prepare_cached(VERSION)?
                        .query_row(params![key.kind, key.namespace, key.id], |r| r.get(0))
                        .optional()?;
                    if stored != expected.map(sql::version_to_sql) {
                        return Ok(Swap::Conflict);
                    }
                }
                conn.execute_batch("COMMIT")?;
                Ok(Swap::Swapped)
            })();
            match done {
                Ok(Swap::Swapped) => Ok(Swap::Swapped),
                other => {
                    // A conflict wrote nothing; a failure may have: roll back either way.
                    let _rolled_back = conn.execute_batch("ROLLBACK");
                    other
                }
            }
        })
    }

    fn read_audit(
        &self,
        query: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<AuditEntry>, SqliteError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(query)?;
            let rows = stmt.query_map(params, |r| {
                Ok(sql::ReadRow {
                    tx: 0,
                    seq: r.get(0)?,
                    row: AuditRow {
                        at: r.get(1)?,
                        kind: r.get(2)?,
                        namespace: r.get(3)?,
                        id: r.get(4)?,
                        context: r.get(5)?,
                        booking: r.get(6)?,
                        verifier: r.get(7)?,
                        request: r.get(8)?,
                        actor: r.get(9)?,
                        action: r.get(10)?,
                        detail: r.get(11)?,
                        note: r.get(12)?,
                        prior: r.get(13)?,
                        version: r.get(14)?,
                    },
                })
            })?;
            let mut found = Vec::new();
            for row in rows {
                found.push(row?.entry()?);
            }
            Ok(found)
        })
    }

    fn history_at(&self, key: Parts<'_>) -> Result<Vec<AuditEntry>, SqliteError> {
        let query = std::format!(
            "SELECT seq, {} FROM handover_audit WHERE kind = ?1 AND namespace = ?2 AND id = ?3 \
             ORDER BY seq",
            sql::AUDIT_COLUMNS
        );
        self.read_audit(&query, params![key.kind, key.namespace, key.id])
    }

    fn since_at(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, SqliteError> {
        // One writer at a time: rows are numbered in commit order, so `seq` alone is final.
        let query = std::format!(
            "SELECT seq, {} FROM handover_audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            sql::AUDIT_COLUMNS
        );
        let after = i64::try_from(cursor.parts().1).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read_audit(&query, params![after, limit])
    }

    fn prune_audit_at(&self, before: Timestamp) -> Result<u64, SqliteError> {
        let removed = self.with(|conn| {
            Ok(conn
                .prepare_cached("DELETE FROM handover_audit WHERE at < ?1")?
                .execute(params![sql::time_to_sql(before)])?)
        })?;
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}

/// In batches of [`SqliteStore::with_prune_batch`] rows, each its own statement, with a
/// pause after each as long as the batch took (at most 100 ms): the write lock is free half
/// the time, so verifications waiting in other connections get in between batches instead
/// of waiting out the whole prune.
impl Prune for SqliteStore {
    fn prune(&self, before: Timestamp) -> Result<u64, SqliteError> {
        let mut removed = 0u64;
        loop {
            let started = std::time::Instant::now();
            let batch = self.prune_batch(before, self.prune_batch)?;
            removed = removed.saturating_add(batch);
            if batch < u64::from(self.prune_batch) {
                return Ok(removed);
            }
            let took = started.elapsed();
            std::thread::sleep(took.clamp(Duration::from_millis(1), Duration::from_millis(100)));
        }
    }
}

/// [`SqliteStore`] as an [`AsyncStore`](crate::AsyncStore) and
/// [`AsyncPrune`](crate::AsyncPrune) for tokio hosts (feature `sqlite-async`): every call
/// runs off the async workers, on tokio's blocking pool (`spawn_blocking`), so a write
/// waiting out a busy timeout or a `Full` sync never holds up other tasks. The two hand-offs
/// per verification cost most of the sync store's speed (see the throughput example);
/// [`AsyncSqliteStore::blocking_in_place`] gets it back where the host's runtime allows.
/// Cheap to clone; clones share one store.
///
/// A call on the blocking pool runs to its end whatever happens to the future, and one in
/// place completes within one poll: either way a compare-and-swap lands or not as it would
/// have, which is what the plans expect of a cut-off call.
///
/// ```
/// use handover_code::store::sqlite::{AsyncSqliteStore, SqliteStore};
/// use handover_code::{BookingId, Context, Digits, KeyId, Keyring, Outcome, Policy, Secret};
/// use handover_code::{Service, Timestamp};
///
/// let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
/// let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("cowin/dose")?);
/// let store = AsyncSqliteStore::new(SqliteStore::open_in_memory()?);
/// let runtime = tokio::runtime::Builder::new_multi_thread().build()?;
/// runtime.block_on(async {
///     let (slot, now) = (BookingId::new("SLOT-1")?, Timestamp(1_700_000_000));
///     let code = service.issue_async(&store, slot, Timestamp(now.0 + 600), now).await?;
///     let answer = service.verify_async(&store, slot, code.expose(), None, now).await?;
///     assert_eq!(answer, Outcome::Accepted);
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "sqlite-async")]
#[derive(Clone, Debug)]
pub struct AsyncSqliteStore {
    store: std::sync::Arc<SqliteStore>,
    in_place: bool,
}

#[cfg(feature = "sqlite-async")]
impl AsyncSqliteStore {
    /// The async face of `store`.
    #[must_use]
    pub fn new(store: SqliteStore) -> Self {
        Self {
            store: std::sync::Arc::new(store),
            in_place: false,
        }
    }

    /// Runs calls in place (`tokio::task::block_in_place`) on a multi-thread runtime
    /// instead of on the blocking pool: about as fast as the sync store (the pool's two
    /// hand-offs per verification cost most of its speed), but only for hosts that never
    /// poll this store's futures inside a `LocalSet` or from a `Handle::block_on` on a
    /// current-thread runtime, where tokio panics on blocking in place; and a call blocking
    /// in place also stalls futures joined with it in the same task. Off by default.
    #[must_use]
    pub fn blocking_in_place(self, on: bool) -> Self {
        Self {
            in_place: on,
            ..self
        }
    }

    /// The store underneath, for its sync calls.
    #[must_use]
    pub fn blocking(&self) -> &SqliteStore {
        &self.store
    }

    /// Runs `f` on the store off the async workers: on the blocking pool (`spawn_blocking`),
    /// or, when [`AsyncSqliteStore::blocking_in_place`] asked for it and the runtime is a
    /// multi-thread one, in place; outside any runtime, as a plain blocking call. A panic or
    /// cancellation of a blocking-pool task is [`SqliteError::Task`].
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteStore) -> Result<T, SqliteError> + Send + 'static,
    ) -> Result<T, SqliteError> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::MultiThread) if self.in_place => {
                tokio::task::block_in_place(|| f(&self.store))
            }
            Ok(_) => {
                let store = std::sync::Arc::clone(&self.store);
                tokio::task::spawn_blocking(move || f(&store))
                    .await
                    .unwrap_or(Err(SqliteError::Task))
            }
            Err(_) => f(&self.store),
        }
    }
}

/// A key's parts, owned, to cross onto the blocking pool.
struct OwnedKey {
    kind: u8,
    namespace: Vec<u8>,
    id: Vec<u8>,
}

/// A transaction's writes and unchanged keys, owned (to cross onto the blocking pool too).
struct Batch {
    writes: Vec<(OwnedKey, Option<Version>, Record, Version, AuditRow)>,
    unchanged: Vec<(OwnedKey, Option<Version>)>,
}

impl Batch {
    /// The batch, or `None` when it names a key twice (a conflict).
    fn of(
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Option<Self> {
        if !crate::store::distinct_keys(writes, unchanged) {
            return None;
        }
        Some(Self {
            writes: writes
                .iter()
                .map(|(e, r)| (OwnedKey::of(e.key), e.prior, *r, e.version, AuditRow::of(e)))
                .collect(),
            unchanged: unchanged
                .iter()
                .map(|(key, v)| (OwnedKey::of(*key), *v))
                .collect(),
        })
    }
}

impl SqliteStore {
    /// [`SqliteStore::swap_audited`] of a [`Batch`].
    fn swap_batch(&self, batch: &Batch) -> Result<Swap, SqliteError> {
        let writes: Vec<Write<'_>> = batch
            .writes
            .iter()
            .map(|(key, expected, record, new, row)| (key.parts(), *expected, record, *new, row))
            .collect();
        let unchanged: Vec<(Parts<'_>, Option<Version>)> = batch
            .unchanged
            .iter()
            .map(|(key, v)| (key.parts(), *v))
            .collect();
        self.swap_audited(&writes, &unchanged)
    }
}

impl OwnedKey {
    fn of(key: Key<'_>) -> Self {
        Self {
            kind: key.kind(),
            namespace: key.namespace().to_vec(),
            id: key.id().to_vec(),
        }
    }

    fn parts(&self) -> Parts<'_> {
        Parts {
            kind: self.kind,
            namespace: &self.namespace,
            id: &self.id,
        }
    }
}

#[cfg(feature = "sqlite-async")]
impl crate::AsyncStore for AsyncSqliteStore {
    type Error = SqliteError;
    const TRANSACTIONS: bool = true;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, SqliteError> {
        let owned = OwnedKey::of(key);
        self.run(move |store| store.load_at(owned.parts())).await
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, SqliteError> {
        let (owned, record) = (OwnedKey::of(key), *record);
        self.run(move |store| store.swap_at(owned.parts(), expected, &record, new))
            .await
    }

    async fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, SqliteError> {
        let (owned, record, row) = (OwnedKey::of(entry.key), *record, AuditRow::of(entry));
        let (expected, new) = (entry.prior, entry.version);
        self.run(move |store| {
            store.swap_audited(&[(owned.parts(), expected, &record, new, &row)], &[])
        })
        .await
    }

    async fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, SqliteError> {
        match Batch::of(writes, unchanged) {
            Some(batch) => self.run(move |store| store.swap_batch(&batch)).await,
            None => Ok(Swap::Conflict),
        }
    }
}

#[cfg(feature = "sqlite-async")]
impl crate::audit::AsyncAuditLog for AsyncSqliteStore {
    async fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, SqliteError> {
        let owned = OwnedKey::of(key);
        self.run(move |store| store.history_at(owned.parts())).await
    }

    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, SqliteError> {
        self.run(move |store| store.since_at(cursor, limit)).await
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, SqliteError> {
        self.run(move |store| store.prune_audit_at(before)).await
    }
}

#[cfg(feature = "sqlite-async")]
impl crate::AsyncPrune for AsyncSqliteStore {
    async fn prune(&self, before: Timestamp) -> Result<u64, SqliteError> {
        self.run(move |store| Prune::prune(store, before)).await
    }
}
