//! [`PgStore`]: the store on a sqlx PostgreSQL pool, its settings and its schema.

mod faces;
mod standby;
mod statements;
mod write;

use std::string::ToString;
use std::sync::Arc;

use core::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{AssertSqlSafe, Connection};

use handover_code::store::sql::{self, SCHEMA_VERSION};
use handover_code::{Error, Timestamp};

use crate::error::PREFIX_RULE;
use crate::error::SqlxError;
use statements::Statements;

/// An [`AsyncStore`](handover_code::AsyncStore) on PostgreSQL, through the host's own sqlx pool
/// ([`sqlx::PgPool`]): the same driver, pool, TLS and timeouts as the rest of the service.
///
/// It works at any default isolation level of the server: read committed, repeatable read
/// or serializable (the only level of PostgreSQL-wire distributed databases). A statement
/// refused with a serialization failure (SQLSTATE 40001) or a deadlock (40P01) wrote
/// nothing: a compare-and-swap answers it as a conflict, which the operation reloads and
/// decides again, and a load tries again. Tables are named without a schema, so the
/// connection's `search_path` chooses the schema: one per tenant.
///
/// Compare-and-swap is one statement, judged by the rows it changed:
/// `INSERT … ON CONFLICT (kind, namespace, id) DO NOTHING` or `UPDATE … WHERE version = $7`,
/// and an audited one writes its audit row in the same statement. The tables are the same
/// as `handover-code-postgres`'s, so either store can open a database the other wrote.
///
/// Call [`PgStore::create_schema`] once at start-up (idempotent, safe from many processes
/// at once), or run [`PgStore::SCHEMA`] from your own migrations.
///
/// ```no_run
/// use std::time::Duration;
/// use handover_code::{Policy, Secret, Service, Timestamp};
/// use handover_code_sqlx::PgStore;
/// use handover_code_sqlx::sqlx::postgres::PgPoolOptions;
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     // The pool the service already has.
///     let pool = PgPoolOptions::new()
///         .max_connections(16)
///         .acquire_timeout(Duration::from_secs(3))
///         .connect("postgres://app@127.0.0.1/app?options=-c%20statement_timeout%3D3000")
///         .await?;
///     let store = PgStore::new(pool);
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
pub struct PgStore {
    pool: PgPool,
    prune_batch: u32,
    sql: Arc<Statements>,
    /// With a synchronous standby: how long a commit may wait for it.
    commit_wait: Option<Duration>,
}

impl PgStore {
    /// The schema, as [`PgStore::create_schema`] runs it for the default table names
    /// ([`PgStore::schema`] gives it for a store's own). Version 2 is recorded in
    /// `handover_schema`.
    pub const SCHEMA: &'static str = sql::POSTGRES_SCHEMA;

    /// One batch of a prune, for the default table names ([`PgStore::prune_statement`] gives
    /// it for a store's own): at most `$2` rows, found through the `prune_at` index. The outer
    /// `prune_at < $1` is what keeps a live record: at read committed, a row the subquery
    /// picked that a write renews meanwhile is checked again against the outer condition
    /// only, and must then be left alone.
    pub const PRUNE: &'static str =
        "DELETE FROM handover_records WHERE prune_at < $1 AND (kind, namespace, id) IN
    (SELECT kind, namespace, id FROM handover_records WHERE prune_at < $1 LIMIT $2)";

    /// Rows a prune deletes per statement when none is set: each statement stays far inside
    /// any statement timeout, however many rows have expired.
    pub const DEFAULT_PRUNE_BATCH: u32 = 5_000;

    /// A store on the host's pool, which it uses exactly as it is: its size, its acquire
    /// timeout, its TLS, and the connection options it was built with. Give those options
    /// a `statement_timeout` (`PgConnectOptions::options([("statement_timeout", "3s")])`,
    /// or `options=-c statement_timeout=3000` in the URL) and the pool an acquire timeout,
    /// or a stalled server hangs calls. A pool that tests each connection before handing
    /// it out (sqlx's default) pays a round trip per call; the store's own
    /// [`PgStore::connect`] turns that off (a broken connection then answers one retryable
    /// error).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            prune_batch: Self::DEFAULT_PRUNE_BATCH,
            sql: Arc::new(Statements::new(sql::DEFAULT_TABLE_PREFIX)),
            commit_wait: None,
        }
    }

    /// A store with a pool of its own of at most `max_connections` connections, for a host
    /// without one. `url` is a sqlx PostgreSQL URL (`postgres://app@127.0.0.1:5432/app`);
    /// options in it are kept, with `-c statement_timeout` added: a tenant's
    /// `options=-c%20search_path%3Dtenant_a` puts the tables in schema `tenant_a`.
    /// `timeout` bounds waiting for a connection (connecting included) and every statement.
    /// The pool connects lazily: a server that is down answers errors at the first call,
    /// not here.
    ///
    /// TLS: `sslmode=require`, `verify-ca` or `verify-full` (in the URL, or `PGSSLMODE` when
    /// the URL says none) all connect over TLS, checking the certificate and the host name
    /// (libpq's `verify-full`: a TLS that accepted any certificate would be no protection
    /// against a server in the middle). sqlx trusts the roots of its TLS feature and, added
    /// to them, the PEM file in `sslrootcert`: unlike libpq and `handover-code-postgres`'s
    /// `Tls::CaFile`, a certificate from a public CA for the same host name is accepted too.
    /// `disable`, `allow`, `prefer` or no `sslmode` connect in plain text, never half-way,
    /// and with `sslrootcert` are refused. TLS needs a TLS feature of sqlx in the build: this
    /// crate's `rustls`, or the host's own.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use handover_code_sqlx::PgStore;
    ///
    /// # async fn run() -> Result<(), handover_code::Error> {
    /// let url = "postgres://app@db.example.net/app?sslmode=require&sslrootcert=/etc/ssl/provider-ca.pem";
    /// let store = PgStore::connect(url, 16, Duration::from_secs(3)).await?;
    /// store.create_schema().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for a URL sqlx cannot parse, or a CA file with a plain-text `sslmode`.
    /// `timeout` is taken between 1 ms and about 24 days.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Self, Error> {
        Ok(Self::open(url, max_connections, timeout)?)
    }

    /// Builds the pool [`PgStore::connect`] describes.
    fn open(url: &str, max_connections: u32, timeout: Duration) -> Result<Self, SqlxError> {
        let timeout = crate::bounded(timeout);
        let options: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| {
            SqlxError::Config(std::format!("not a PostgreSQL URL sqlx reads: {e}"))
        })?;
        let tls = match options.get_ssl_mode() {
            PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer => PgSslMode::Disable,
            _ => PgSslMode::VerifyFull,
        };
        if matches!(tls, PgSslMode::Disable) && names_a_ca_file(url) {
            return Err(SqlxError::Config(
                "sslrootcert is given but sslmode connects in plain text; say sslmode=verify-full"
                    .into(),
            ));
        }
        // The caller's options stay (a search path, a pinned synchronous_commit); ours come
        // last, so a statement timeout of the caller's own is replaced by `timeout`.
        let options = options
            .ssl_mode(tls)
            .options([("statement_timeout", timeout.as_millis().to_string())]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(timeout)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(Self::new(pool))
    }

    /// Names the store's tables `{prefix}records`, `{prefix}schema` and `{prefix}audit`
    /// instead of `handover_records`, `handover_schema` and `handover_audit`: tenants (or
    /// several deployments) sharing one schema each get their own tables.
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

    /// The schema [`PgStore::create_schema`] runs for this store's table names.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }

    /// The prune statement ([`PgStore::PRUNE`]) for this store's table names.
    #[must_use]
    pub fn prune_statement(&self) -> &str {
        self.sql.prune.as_str()
    }

    /// The name of the audit log's table (`handover_audit`, or the prefix's): one row per
    /// record write, inserted in the write's own statement
    /// ([`AsyncAuditLog`](handover_code::store::AsyncAuditLog)). Never pruned with the
    /// records; see [`AsyncAuditLog::prune_audit`](handover_code::store::AsyncAuditLog::prune_audit).
    #[must_use]
    pub fn audit_table(&self) -> &str {
        &self.sql.audit
    }

    /// The name of the table holding the records.
    #[must_use]
    pub fn records_table(&self) -> &str {
        &self.sql.records
    }

    /// Sets how many rows each of a prune's statements deletes (at least 1).
    #[must_use]
    pub fn with_prune_batch(mut self, rows: u32) -> Self {
        self.prune_batch = rows.max(1);
        self
    }

    /// Deletes at most `limit` records whose
    /// [`Record::prune_at`](handover_code::record::Record::prune_at) is before `before`, in
    /// one statement, and answers how many went. [`AsyncStore::prune`](handover_code::AsyncStore::prune) repeats this until a
    /// batch comes back short.
    ///
    /// # Errors
    ///
    /// Connection and server errors, a statement timeout among them.
    pub async fn prune_batch(&self, before: Timestamp, limit: u32) -> Result<u64, Error> {
        Ok(self.prune_one_batch(before, limit).await?)
    }

    /// [`PgStore::prune_batch`], with the store's own error.
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
    /// and hands its result to `after` (for the host's log and metrics); a failed pass is
    /// tried again at the next interval.
    pub async fn prune_task(self, every: Duration, after: impl FnMut(Result<u64, Error>) + Send) {
        crate::prune::every(&self, every, after).await;
    }

    /// Creates the schema if it is not there and checks its version. Idempotent; an
    /// advisory lock makes concurrent calls from many processes safe.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for a database of another schema version; connection and
    /// server errors.
    pub async fn create_schema(&self) -> Result<(), Error> {
        Ok(self.make_schema().await?)
    }

    /// [`PgStore::create_schema`], with the store's own error.
    async fn make_schema(&self) -> Result<(), SqlxError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(7243107)")
            .execute(&mut *tx)
            .await?;
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
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Whether `url`'s query names a CA file, under any of the names sqlx's parser takes for it
/// (sqlx has no getter for it once parsed). Only the query is read: a password may hold
/// anything.
fn names_a_ca_file(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            matches!(name, "sslrootcert" | "ssl-root-cert" | "ssl-ca")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::{PgStore, names_a_ca_file};
    use core::time::Duration;

    #[test]
    fn a_ca_file_is_seen_under_every_name_sqlx_takes() {
        for url in [
            "postgres://a@h/d?sslmode=prefer&sslrootcert=/ca.pem",
            "postgres://a@h/d?ssl-root-cert=/ca.pem",
            "postgres://a@h/d?sslmode=disable&ssl-ca=/ca.pem",
        ] {
            assert!(names_a_ca_file(url), "{url}");
            // Refused before any pool is built: no runtime is needed to answer.
            assert!(
                PgStore::open(url, 1, Duration::from_secs(1)).is_err(),
                "{url}"
            );
        }
        assert!(!names_a_ca_file("postgres://a:sslrootcert=x@h/d"));
        assert!(!names_a_ca_file("postgres://a@h/d?sslmode=require"));
    }
}
