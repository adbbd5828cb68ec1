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

mod connect;
mod faces;
mod standby;
mod statements;
mod tls;
mod write;

use std::sync::Arc;

use core::time::Duration;

use deadpool_postgres::{GenericClient, Pool};

use handover_code::store::sql::{self, SCHEMA_VERSION};
use handover_code::{AsyncStore, Error, StoreError, Timestamp};

/// The PostgreSQL client this store is built on, at the version it was built with: its
/// `Config` and errors appear in this store's API.
pub use tokio_postgres;

/// The connection pool this store is built on, at the version it was built with: build a
/// `Pool` with it for [`PostgresStore::new`].
pub use deadpool_postgres;

/// The TLS library this store connects with, at the version it was built with: build a
/// `ClientConfig` with it for [`Tls::Config`].
pub use rustls;

use statements::Statements;
pub use tls::Tls;

/// What can go wrong in a [`PostgresStore`]. Connection losses, timeouts and server
/// restarts arrive here, as errors, never as an outcome.
#[derive(Debug, thiserror::Error)]
enum PostgresError {
    /// No connection could be had from the pool in time, or a new one failed.
    #[error("no database connection; check the server and retry")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The server or the connection failed (terminated backend, timeout, restart, …).
    #[error("postgres failed")]
    Postgres(#[from] tokio_postgres::Error),
    /// A stored record's bytes are not a record.
    #[error("stored record is corrupt")]
    Decode(#[from] StoreError),
    /// The database was written by a different schema version.
    #[error("database schema version {found} is not {SCHEMA_VERSION}; migrate it first")]
    Schema {
        /// The version found.
        found: i64,
    },
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
    /// The connection parameters or pool settings were refused.
    #[error("invalid connection settings: {0}")]
    Config(std::string::String),
}

/// An [`AsyncStore`] on
/// PostgreSQL, through a pool of connections.
///
/// It works at any default isolation level of the server: read committed, repeatable read
/// or serializable (the only level of PostgreSQL-wire distributed databases). A statement
/// refused with a serialization failure (SQLSTATE 40001) or a deadlock (40P01) wrote
/// nothing: a compare-and-swap answers it as a conflict, which the operation reloads and
/// decides again, and a load tries again. Tables are named without a schema, so the
/// connection's `search_path` chooses the schema: one per tenant.
///
/// Compare-and-swap is one statement, judged by the rows it changed:
/// `INSERT … ON CONFLICT (kind, namespace, id) DO NOTHING` or `UPDATE … WHERE version = $7`. Every
/// statement runs under a server-side `statement_timeout`, and the pool waits at most the
/// same time for a connection, so a stalled server becomes an error, not a hang.
///
/// Call [`PostgresStore::create_schema`] once at start-up (idempotent, safe from many
/// processes at once), or run [`PostgresStore::SCHEMA`] from your own migrations.
///
/// ```no_run
/// use std::time::Duration;
/// use handover_code_postgres::PostgresStore;
/// use handover_code::{Policy, Secret, Service, Timestamp};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let params = "host=127.0.0.1 user=app dbname=app";
///     let store = PostgresStore::connect(params, 16, Duration::from_secs(3))?;
///     store.create_schema().await?;
///     let secret = Secret::from_hex(&std::env::var("HANDOVER_SECRET")?)?;
///     let service = Service::new(secret, Policy::default(), "cowin/dose")?;
///     let now = Timestamp::now();
///     let code = service.issue_async(&store, "SLOT-1", now.0 + 3_600, now).await?;
///     # drop(code);
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Pool,
    prune_batch: u32,
    sql: Arc<Statements>,
    /// With a synchronous standby: how long a commit may wait for it.
    commit_wait: Option<Duration>,
}

impl PostgresStore {
    /// The schema, as [`PostgresStore::create_schema`] runs it for the default table names
    /// ([`PostgresStore::schema`] gives it for a store's own). Version 2 is recorded in
    /// `handover_schema`.
    pub const SCHEMA: &'static str = sql::POSTGRES_SCHEMA;

    /// A store on an existing pool, which it uses exactly as it is: it sets no statement
    /// timeout, no connect timeout and no pool wait, create or recycle timeout (give the
    /// pool's `tokio_postgres::Config` `-c statement_timeout=…` in its options, and the pool
    /// builder its timeouts, or a stalled server hangs calls). It treats serialization
    /// failures and deadlocks as lost races, like [`PostgresStore::connect`]. Use this for
    /// TLS or any connection setting `connect` does not offer.
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            prune_batch: Self::DEFAULT_PRUNE_BATCH,
            sql: Arc::new(Statements::new(sql::DEFAULT_TABLE_PREFIX)),
            commit_wait: None,
        }
    }

    /// Names the store's tables `{prefix}records` and `{prefix}schema` instead of
    /// `handover_records` and `handover_schema`: tenants (or several deployments) sharing
    /// one schema each get their own tables. (To give each its own schema instead, put
    /// `options='-c search_path=tenant_a'` in the connection parameters.)
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] unless the prefix is at most 40 bytes of lowercase ASCII
    /// letters, digits and `_`, not starting with a digit: it becomes part of unquoted SQL
    /// identifiers.
    pub fn with_table_prefix(mut self, prefix: &str) -> Result<Self, Error> {
        own_error(|| {
            if sql::with_table_prefix(Self::SCHEMA, prefix).is_none() {
                return Err(PostgresError::Config(
                    "a table prefix is at most 40 lowercase ASCII letters, digits and '_', not starting with a digit".into(),
                ));
            }
            self.sql = Arc::new(Statements::new(prefix));
            Ok(self)
        })
    }

    /// The schema [`PostgresStore::create_schema`] runs for this store's table names.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }

    /// The prune statement ([`PostgresStore::PRUNE`]) for this store's table names.
    #[must_use]
    pub fn prune_statement(&self) -> &str {
        &self.sql.prune
    }

    /// The name of the audit log's table (`handover_audit`, or the prefix's): one row per
    /// record write, inserted in the write's own statement
    /// ([`AsyncAuditLog`](handover_code::store::AsyncAuditLog)). Never pruned with the records; see
    /// [`AsyncAuditLog::prune_audit`](handover_code::store::AsyncAuditLog::prune_audit).
    #[must_use]
    pub fn audit_table(&self) -> &str {
        &self.sql.audit
    }

    /// The name of the table holding the records.
    #[must_use]
    pub fn records_table(&self) -> &str {
        &self.sql.records
    }

    /// One batch of a prune, for the default table names ([`PostgresStore::prune_statement`]
    /// gives it for a store's own): at most `$2` rows, found through the `prune_at` index. The
    /// outer `prune_at < $1` is what keeps a live record: at read committed, a row the subquery
    /// picked that a write renews meanwhile (a verifier's record rolled into a new window) is
    /// checked again against the outer condition only, and must then be left alone.
    /// Public for hosts that prune from their own maintenance jobs.
    pub const PRUNE: &'static str =
        "DELETE FROM handover_records WHERE prune_at < $1 AND (kind, namespace, id) IN
    (SELECT kind, namespace, id FROM handover_records WHERE prune_at < $1 LIMIT $2)";

    /// Rows a prune deletes per statement when none is set: each statement stays far inside
    /// any statement timeout, however many rows have expired.
    pub const DEFAULT_PRUNE_BATCH: u32 = 5_000;

    /// Sets how many rows each of a prune's statements deletes (at least 1).
    #[must_use]
    pub fn with_prune_batch(mut self, rows: u32) -> Self {
        self.prune_batch = rows.max(1);
        self
    }

    /// Deletes at most `limit` records whose [`Record::prune_at`](handover_code::record::Record::prune_at)
    /// is before `before`, in one statement, and answers how many went.
    /// [`AsyncStore::prune`] repeats this until a batch comes back
    /// short.
    ///
    /// # Errors
    ///
    /// Connection and server errors, a statement timeout among them.
    pub async fn prune_batch(&self, before: Timestamp, limit: u32) -> Result<u64, Error> {
        Ok(self.prune_one_batch(before, limit).await?)
    }

    /// [`PostgresStore::prune_batch`], with the store's own error.
    async fn prune_one_batch(&self, before: Timestamp, limit: u32) -> Result<u64, PostgresError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(&self.sql.prune).await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
            [&sql::time_to_sql(before), &i64::from(limit)];
        Ok(client.execute(&stmt, &params).await?)
    }

    /// Prunes every `every`, for as long as the returned future runs: spawn it on the
    /// runtime (`tokio::spawn(store.clone().prune_task(..))`) and abort it to stop. Each
    /// pass prunes, in batches, what expired before the system clock's reading at its start,
    /// and hands its result to `after` (for the host's log and metrics); a failed pass is
    /// tried again at the next interval. Like the session stores' `continuously_delete_expired`.
    pub async fn prune_task(self, every: Duration, after: impl FnMut(Result<u64, Error>) + Send) {
        let mut after = after;
        loop {
            tokio::time::sleep(every).await;
            after(self.prune(Timestamp::now()).await);
        }
    }

    /// Creates the schema if it is not there and checks its version. Idempotent; an
    /// advisory lock makes concurrent calls from many processes safe.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for a database of another schema version; connection and
    /// server errors.
    pub async fn create_schema(&self) -> Result<(), Error> {
        let result: Result<(), PostgresError> = async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock(7243107)", &[])
                .await?;
            tx.batch_execute(&self.sql.schema).await?;
            let found: Option<i64> = tx
                .query_opt(&self.sql.read_version, &[])
                .await?
                .map(|row| row.get(0));
            match found {
                None => {
                    tx.execute(&self.sql.write_version, &[&SCHEMA_VERSION])
                        .await?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(found) => return Err(PostgresError::Schema { found }),
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        Ok(result?)
    }

    /// The pool, for the host's own health checks.
    #[must_use]
    pub const fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// Settings it cannot use (and a database of another schema version) are setup errors; a
/// record that cannot be decoded is corrupt; the rest are store failures, transient or
/// permanent by their SQLSTATE
/// ([`is_transient_sqlstate`](handover_code::store::sql::is_transient_sqlstate)), and
/// transient without one (a connection lost, a pool timeout, a standby that did not
/// confirm). The one place this crate turns its errors into the core's.
impl From<PostgresError> for Error {
    fn from(e: PostgresError) -> Self {
        match e {
            PostgresError::Schema { .. } | PostgresError::Config(_) => {
                Self::Setup(StoreError::new(e))
            }
            PostgresError::Decode(_) => StoreError::corrupt(e).into(),
            _ if e.is_transient() => StoreError::transient(e).into(),
            _ => StoreError::permanent(e).into(),
        }
    }
}

impl PostgresError {
    /// Whether waiting may change it: a server error by its SQLSTATE; a connection lost, a
    /// pool timeout or an unconfirmed commit always.
    fn is_transient(&self) -> bool {
        let server = match self {
            Self::Postgres(e) | Self::Pool(deadpool_postgres::PoolError::Backend(e)) => e.code(),
            _ => None,
        };
        server.is_none_or(|state| sql::is_transient_sqlstate(state.code()))
    }
}

/// Runs a call written with [`PostgresError`], and answers the core's [`Error`] (the trait
/// faces answer that, the helpers their own).
fn own_error<T>(call: impl FnOnce() -> Result<T, PostgresError>) -> Result<T, Error> {
    Ok(call()?)
}
