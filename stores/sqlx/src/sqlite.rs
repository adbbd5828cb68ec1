//! [`SqliteStore`]: the store on a sqlx SQLite pool, its settings and its schema.

mod faces;
mod statements;
mod write;

use std::sync::Arc;

use core::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection};

use handover_code::store::sql::{self, SCHEMA_VERSION};
use handover_code::{Error, Timestamp};

use crate::error::PREFIX_RULE;
use crate::error::SqlxError;
use statements::Statements;

/// An [`AsyncStore`](handover_code::AsyncStore) on SQLite, through the host's own sqlx pool
/// ([`sqlx::SqlitePool`]): one database file shared by every task, thread and process that
/// opens it, with no blocking call on the host's async workers (sqlx runs each connection
/// on a thread of its own).
///
/// A compare-and-swap is one statement, judged by the rows it changed; an audited write and
/// its audit row, and a transaction's writes, run in one `BEGIN IMMEDIATE` transaction,
/// which takes the write lock before it reads, so two writers never deadlock on an upgrade.
/// A write that finds the database locked waits up to the connection's busy timeout, then
/// answers a retryable [`Error::Store`]. The tables are the same as `handover-code-sqlite`'s,
/// so either store can open a file the other wrote.
///
/// ```
/// use std::time::Duration;
/// use handover_code::{Outcome, Policy, Secret, Service};
/// use handover_code_sqlx::SqliteStore;
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let store = SqliteStore::connect("sqlite::memory:", 1, Duration::from_secs(3)).await?;
///     store.create_schema().await?;
///     let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "cowin/dose")?;
///     let (slot, now) = ("SLOT-1", 1_700_000_000);
///     let code = service.issue_async(&store, slot, now + 600, now).await?;
///     let answer = service.verify_async(&store, slot, code.expose(), None, now).await?;
///     assert_eq!(answer, Outcome::Accepted);
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    prune_batch: u32,
    sql: Arc<Statements>,
}

impl SqliteStore {
    /// The schema, as [`SqliteStore::create_schema`] runs it for the default table names
    /// ([`SqliteStore::schema`] gives it for a store's own). Version 2 is recorded in
    /// `handover_schema`.
    pub const SCHEMA: &'static str = sql::SQLITE_SCHEMA;

    /// Rows a prune deletes per statement when none is set: each batch holds the write lock
    /// for milliseconds, not the whole prune.
    pub const DEFAULT_PRUNE_BATCH: u32 = 5_000;

    /// A store on the host's pool, which it uses exactly as it is. For a file shared by many
    /// connections, build the pool's options with `journal_mode(Wal)` (readers then never
    /// wait for the writer), a `busy_timeout` (how long a write waits for another's lock
    /// before answering a retryable error), and the `synchronous` level the host needs:
    /// `Full` keeps every answered verification through a power cut, `Normal` through a
    /// crash of the process only. An in-memory database must be one connection that never
    /// closes (`max_connections(1)`, no idle timeout, no maximum lifetime): the database is
    /// gone, records and counters with it, once its last connection closes, and several
    /// connections to one would contend on shared-cache table locks, which no busy timeout
    /// waits out.
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            prune_batch: Self::DEFAULT_PRUNE_BATCH,
            sql: Arc::new(Statements::new(sql::DEFAULT_TABLE_PREFIX)),
        }
    }

    /// A store with a pool of its own of at most `max_connections` connections, for a host
    /// without one. `url` is a sqlx SQLite URL: `sqlite:centre.db` (created if missing),
    /// `sqlite://PATH`, or `sqlite::memory:` (any in-memory form: one connection, whatever
    /// `max_connections` says, kept open for the pool's life). A file is opened in WAL mode with `synchronous =
    /// FULL`: every answered verification survives a power cut. `timeout` is the busy
    /// timeout and bounds waiting for a connection. For other settings, use
    /// [`SqliteStore::connect_with`].
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for a URL sqlx cannot parse; a file that cannot be opened or made WAL.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let options: SqliteConnectOptions = url.parse().map_err(|e: sqlx::Error| {
            SqlxError::Config(std::format!("not a SQLite URL sqlx reads: {e}"))
        })?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        Self::connect_with(options, max_connections, timeout).await
    }

    /// [`SqliteStore::connect`] with the host's own connection options (its `synchronous`
    /// level, its journal mode, a file opened read-write without creating it …), given the
    /// busy timeout `timeout` and a pool of at most `max_connections` (one for an in-memory
    /// database). The first connection is opened here, so a file that cannot be opened
    /// answers now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use handover_code_sqlx::SqliteStore;
    /// use handover_code_sqlx::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), handover_code::Error> {
    /// # let dir = std::env::temp_dir().join(format!("handover-sqlx-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let path = dir.join("centre.db");
    /// // Survives a crash of the process, not a power cut: about 10x the writes of `Full`.
    /// let options = SqliteConnectOptions::new()
    ///     .filename(&path)
    ///     .create_if_missing(true)
    ///     .journal_mode(SqliteJournalMode::Wal)
    ///     .synchronous(SqliteSynchronous::Normal);
    /// let store = SqliteStore::connect_with(options, 8, Duration::from_secs(3)).await?;
    /// store.create_schema().await?;
    /// # drop(store);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A file that cannot be opened or made WAL, as [`Error::Store`].
    pub async fn connect_with(
        options: SqliteConnectOptions,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let timeout = crate::bounded(timeout);
        let memory = in_memory(&options);
        let pool = SqlitePoolOptions::new().acquire_timeout(timeout);
        let pool = if memory {
            pool.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool.max_connections(max_connections.max(1))
        };
        let pool = pool
            .test_before_acquire(false)
            .connect_with(options.busy_timeout(timeout))
            .await
            .map_err(SqlxError::from)?;
        Ok(Self::new(pool))
    }

    /// Names the store's tables `{prefix}records`, `{prefix}schema` and `{prefix}audit`
    /// instead of `handover_records`, `handover_schema` and `handover_audit`: several
    /// deployments sharing one file each get their own tables.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] unless the prefix is at most 40 bytes of lowercase ASCII letters,
    /// digits and `_`, not starting with a digit: it becomes part of unquoted SQL
    /// identifiers.
    pub fn with_table_prefix(mut self, prefix: &str) -> Result<Self, Error> {
        if sql::with_table_prefix(Self::SCHEMA, prefix).is_none() {
            return Err(SqlxError::Config(PREFIX_RULE.into()).into());
        }
        self.sql = Arc::new(Statements::new(prefix));
        Ok(self)
    }

    /// The schema [`SqliteStore::create_schema`] runs for this store's table names.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }

    /// The name of the table holding the records.
    #[must_use]
    pub fn records_table(&self) -> &str {
        &self.sql.records
    }

    /// The name of the audit log's table: one row per record write, inserted in the write's
    /// own transaction.
    #[must_use]
    pub fn audit_table(&self) -> &str {
        &self.sql.audit
    }

    /// Sets how many rows each of a prune's statements deletes (at least 1).
    #[must_use]
    pub fn with_prune_batch(mut self, rows: u32) -> Self {
        self.prune_batch = rows.max(1);
        self
    }

    /// Deletes at most `limit` records whose
    /// [`Record::prune_at`](handover_code::record::Record::prune_at) is before `before`, in
    /// one statement, and answers how many went.
    ///
    /// # Errors
    ///
    /// A busy database past the busy timeout, and other database errors.
    pub async fn prune_batch(&self, before: Timestamp, limit: u32) -> Result<u64, Error> {
        Ok(self.prune_one_batch(before, limit).await?)
    }

    /// [`SqliteStore::prune_batch`], with the store's own error.
    async fn prune_one_batch(&self, before: Timestamp, limit: u32) -> Result<u64, SqlxError> {
        Ok(sqlx::query(self.sql.prune.clone())
            .bind(sql::time_to_sql(before))
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Prunes every `every`, for as long as the returned future runs: spawn it on the
    /// runtime (`tokio::spawn(store.clone().prune_task(..))`) and abort it to stop. Each
    /// pass prunes, in batches, what expired before the system clock's reading at its start,
    /// and hands its result to `after`; a failed pass is tried again at the next interval.
    pub async fn prune_task(self, every: Duration, after: impl FnMut(Result<u64, Error>) + Send) {
        crate::prune::every(&self, every, after).await;
    }

    /// Creates the schema if it is not there and checks its version, in one `BEGIN
    /// IMMEDIATE` transaction: processes creating a fresh file at once wait their turn.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for a database of another schema version; database errors.
    pub async fn create_schema(&self) -> Result<(), Error> {
        Ok(self.make_schema().await?)
    }

    /// [`SqliteStore::create_schema`], with the store's own error.
    async fn make_schema(&self) -> Result<(), SqlxError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::raw_sql(AssertSqlSafe(self.sql.schema.clone()))
            .execute(&mut *tx)
            .await?;
        let found: Option<i64> = sqlx::query_scalar(self.sql.read_version.clone())
            .fetch_optional(&mut *tx)
            .await?;
        match found {
            None => {
                sqlx::query(self.sql.write_version.clone())
                    .bind(SCHEMA_VERSION)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) => return Err(SqlxError::Schema { found }),
        }
        tx.commit().await?;
        Ok(())
    }

    /// The pool, for the host's own queries and health checks.
    #[must_use]
    pub const fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Whether `options` open an in-memory database: every in-memory form sqlx reads
/// (`sqlite::memory:`, `?mode=memory`, `in_memory(true)`) sets its `in_memory` flag, which it
/// has no getter for but shows in its `Debug` form (its `to_url_lossy` panics on the names
/// it gives `sqlite::memory:`); and SQLite names its own `:memory:`. The test below holds
/// this to every form, so a sqlx release that changes the `Debug` form fails it.
fn in_memory(options: &SqliteConnectOptions) -> bool {
    std::format!("{options:?}").contains("in_memory: true")
        || options.get_filename().as_os_str() == ":memory:"
}

#[cfg(test)]
mod tests {
    use super::in_memory;
    use sqlx::sqlite::SqliteConnectOptions;

    #[test]
    fn every_in_memory_form_is_seen() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://?mode=memory",
            "sqlite:name?mode=memory",
        ] {
            let options: SqliteConnectOptions = url.parse().unwrap_or_default();
            assert!(in_memory(&options), "{url}");
        }
        let named = SqliteConnectOptions::new().filename("x").in_memory(true);
        assert!(in_memory(&named));
        let file: SqliteConnectOptions = "sqlite:centre.db".parse().unwrap_or_default();
        assert!(!in_memory(&file));
    }
}
