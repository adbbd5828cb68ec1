//! [`PostgresStore`] (feature `postgres`): an [`AsyncStore`] on PostgreSQL, for tokio hosts.

use core::time::Duration;
use std::format;
use std::string::ToString;

use std::path::PathBuf;
use std::sync::Arc;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use std::vec;
use std::vec::Vec;

use crate::audit::{AsyncAuditLog, AuditEntry, Cursor, Entry};
use crate::record::{DecodeError, Record, Version};
use crate::store::sql::{self, AuditRow, SCHEMA_VERSION};
use statements::Statements;

mod statements;
use crate::key::Key;
use crate::store::{AsyncPrune, AsyncStore, Swap};
use crate::time::Timestamp;

/// What can go wrong in a [`PostgresStore`]. Connection losses, timeouts and server
/// restarts arrive here, as errors, never as an outcome.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// No connection could be had from the pool in time, or a new one failed.
    #[error("no database connection; check the server and retry")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The server or the connection failed (terminated backend, timeout, restart, …).
    #[error("postgres failed")]
    Postgres(#[from] tokio_postgres::Error),
    /// A stored record's bytes are not a record.
    #[error("stored record is corrupt")]
    Decode(#[from] DecodeError),
    /// The database was written by a different schema version.
    #[error("database schema version {found} is not {SCHEMA_VERSION}; migrate it first")]
    Schema {
        /// The version found.
        found: i64,
    },
    /// The connection parameters or pool settings were refused.
    #[error("invalid connection settings: {0}")]
    Config(std::string::String),
}

/// How a [`PostgresStore`] reaches its server: with TLS (rustls; no OpenSSL) and whom it
/// trusts, or without.
///
/// With TLS, the server's certificate is verified against the trusted roots and the host
/// name (or IP address) in the parameters, whatever `sslmode` says (a `require` that
/// accepted any certificate would be no protection against a server in the middle), except
/// that a [`Tls::Config`] verifies as its own verifier says.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Tls {
    /// Plain TCP (`sslmode=disable`): a server on loopback or a private network only.
    Off,
    /// TLS trusting the operating system's root certificates: managed PostgreSQL services
    /// whose certificates chain to a public CA.
    SystemRoots,
    /// TLS trusting the certificates in this PEM file: a private CA, or a cloud provider's
    /// CA bundle that is not in the system store.
    CaFile(PathBuf),
    /// TLS with the host's own rustls configuration (client certificates, pinned roots).
    Config(Arc<rustls::ClientConfig>),
}

impl Tls {
    /// The connector for tokio-postgres, and whether TLS is on.
    fn connector(&self) -> Result<(MakeRustlsConnect, bool), PostgresError> {
        let roots = |certs: std::vec::Vec<CertificateDer<'static>>| {
            let mut store = rustls::RootCertStore::empty();
            let (added, _ignored) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(PostgresError::Config(
                    "no usable root certificate to trust; give a CA file".into(),
                ));
            }
            client_config(store)
        };
        let (config, on) = match self {
            // Never used to connect: the configuration says `sslmode=disable`.
            Self::Off => (client_config(rustls::RootCertStore::empty())?, false),
            Self::SystemRoots => (roots(rustls_native_certs::load_native_certs().certs)?, true),
            Self::CaFile(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect::<Result<_, _>>)
                    .map_err(|e| {
                        PostgresError::Config(format!("CA file {}: {e}", path.display()))
                    })?;
                (roots(certs)?, true)
            }
            Self::Config(config) => (Arc::clone(config), true),
        };
        Ok((MakeRustlsConnect::new(Arc::unwrap_or_clone(config)), on))
    }
}

/// A rustls configuration (the `ring` provider, safe default protocol versions) trusting
/// `roots`; with none, for a connector that never makes TLS connections.
fn client_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, PostgresError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PostgresError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An [`AsyncStore`] and [`AsyncPrune`] on PostgreSQL, through a pool of connections.
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
/// use std::sync::Arc;
/// use std::time::Duration;
/// use handover_code::store::postgres::PostgresStore;
/// use handover_code::{BookingId, Context, Digits, KeyId, Keyring, Policy, Secret};
/// use handover_code::{SharedService, Timestamp};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let params = "host=127.0.0.1 user=app dbname=app";
///     let store = PostgresStore::connect(params, 16, Duration::from_secs(3))?;
///     store.create_schema().await?;
///     let keys: Arc<Keyring> = Arc::new(Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?));
///     let service = SharedService::new(keys, Policy::new(Digits::Four), Context::new("cowin/dose")?);
///     let now = Timestamp::now();
///     let code = service
///         .issue_async(&store, BookingId::new("SLOT-1")?, Timestamp(now.0 + 3_600), now)
///         .await?;
///     # drop(code);
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Pool,
    prune_batch: u32,
    sql: Arc<Statements>,
}

impl PostgresStore {
    /// The schema, as [`PostgresStore::create_schema`] runs it for the default table names
    /// ([`PostgresStore::schema`] gives it for a store's own). Version 2 is recorded in
    /// `handover_schema`.
    pub const SCHEMA: &'static str = "
CREATE TABLE IF NOT EXISTS handover_records (
    kind      smallint NOT NULL,
    namespace bytea    NOT NULL,
    id        bytea    NOT NULL,
    version   bigint   NOT NULL,
    record    bytea    NOT NULL,
    prune_at  bigint   NOT NULL,
    PRIMARY KEY (kind, namespace, id)
);
CREATE INDEX IF NOT EXISTS handover_records_prune ON handover_records (prune_at);
CREATE TABLE IF NOT EXISTS handover_schema (version bigint NOT NULL);
CREATE TABLE IF NOT EXISTS handover_audit (
    seq       bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx        bigint   NOT NULL,
    at        bigint   NOT NULL,
    kind      smallint NOT NULL,
    namespace bytea    NOT NULL,
    id        bytea    NOT NULL,
    context   bytea    NOT NULL,
    booking   bytea    NOT NULL,
    verifier  bytea,
    request   bytea,
    actor     bytea,
    action    text     NOT NULL,
    detail    bigint   NOT NULL,
    note      text     NOT NULL,
    prior     bigint,
    version   bigint   NOT NULL
);
CREATE INDEX IF NOT EXISTS handover_audit_record ON handover_audit (kind, namespace, id, seq);
CREATE INDEX IF NOT EXISTS handover_audit_order ON handover_audit (tx, seq);
CREATE INDEX IF NOT EXISTS handover_audit_at ON handover_audit (at);
";

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
            sql: Arc::new(Statements::new(statements::DEFAULT_PREFIX)),
        }
    }

    /// Names the store's tables `{prefix}records` and `{prefix}schema` instead of
    /// `handover_records` and `handover_schema`: tenants (or several deployments) sharing
    /// one schema each get their own tables. (To give each its own schema instead, put
    /// `options='-c search_path=tenant_a'` in the connection parameters.)
    ///
    /// # Errors
    ///
    /// [`PostgresError::Config`] unless the prefix is at most 40 bytes of lowercase ASCII
    /// letters, digits and `_`, not starting with a digit: it becomes part of unquoted SQL
    /// identifiers.
    pub fn with_table_prefix(mut self, prefix: &str) -> Result<Self, PostgresError> {
        if !statements::prefix_ok(prefix) {
            return Err(PostgresError::Config(
                "a table prefix is at most 40 lowercase ASCII letters, digits and '_', not starting with a digit".into(),
            ));
        }
        self.sql = Arc::new(Statements::new(prefix));
        Ok(self)
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
    /// ([`AsyncAuditLog`]). Never pruned with the records; see
    /// [`AsyncAuditLog::prune_audit`].
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
    /// gives it for a store's own): at most `$2` rows, found through the `prune_at` index. The outer
    /// `prune_at < $1` is what keeps a live record: at read committed, a row the subquery picked
    /// that a write renews meanwhile (a verifier's record rolled into a new window) is checked
    /// again against the outer condition only, and must then be left alone.
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

    /// Deletes at most `limit` records whose [`Record::prune_at`] is before `before`, in one
    /// statement, and answers how many went. [`AsyncPrune::prune`] repeats this until a batch
    /// comes back short.
    ///
    /// # Errors
    ///
    /// Connection and server errors, a statement timeout among them.
    pub async fn prune_batch(&self, before: Timestamp, limit: u32) -> Result<u64, PostgresError> {
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
    pub async fn prune_task(
        self,
        every: Duration,
        after: impl FnMut(Result<u64, PostgresError>) + Send,
    ) {
        crate::store::schedule::prune_every(&self, every, after).await;
    }

    /// A store with its own pool of at most `max_connections` connections, given
    /// `tokio_postgres` connection parameters (`host=127.0.0.1 port=5432 user=app
    /// dbname=app`). Options in them are kept, with `-c statement_timeout` appended: a
    /// tenant's `options='-c search_path=tenant_a'` puts the tables in schema `tenant_a`.
    /// TLS follows the parameters' `sslmode`: `sslmode=require` connects over TLS, trusting
    /// the system's root certificates and checking the certificate and host name (what libpq
    /// calls `verify-full`); `disable`, `prefer` or none connect in plain text, as this store
    /// always did. For a private CA, or to be sure TLS is never skipped, use
    /// [`PostgresStore::connect_with`]. (`verify-ca` and `verify-full` are refused by the
    /// parameter parser: say `require`, which verifies.)
    /// `timeout` bounds connecting, waiting for a pooled connection, and
    /// every statement. Needs a tokio runtime when used.
    ///
    /// # Errors
    ///
    /// [`PostgresError::Config`] for parameters `tokio_postgres` cannot parse or a pool it
    /// cannot build.
    pub fn connect(
        params: &str,
        max_connections: usize,
        timeout: Duration,
    ) -> Result<Self, PostgresError> {
        Self::open(params, max_connections, timeout, &Tls::SystemRoots, false)
    }

    /// [`PostgresStore::connect`] with TLS as given. With [`Tls::Off`] the connection is
    /// plain (`sslmode=require` with it is refused); with TLS on, every connection is TLS
    /// (`prefer` means `require` here, and `sslmode=disable` is refused): the store never
    /// falls back to plain text once told to use TLS.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use handover_code::store::postgres::{PostgresStore, Tls};
    ///
    /// // A managed database whose certificate chains to the provider's CA bundle.
    /// let params = "host=db.example.net user=app dbname=app sslmode=require";
    /// let ca = Tls::CaFile("/etc/ssl/provider-ca.pem".into());
    /// let store = PostgresStore::connect_with(params, 16, Duration::from_secs(3), &ca)?;
    /// # Ok::<(), handover_code::store::postgres::PostgresError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PostgresError::Config`] for parameters `tokio_postgres` cannot parse, a CA file
    /// that cannot be read or holds no certificate, no system roots, `sslmode=disable` with
    /// TLS on, or a pool it cannot build.
    pub fn connect_with(
        params: &str,
        max_connections: usize,
        timeout: Duration,
        tls: &Tls,
    ) -> Result<Self, PostgresError> {
        Self::open(params, max_connections, timeout, tls, true)
    }

    /// Builds the pool. `strict` (`connect_with`): TLS as given, never plain text once TLS
    /// is configured (`prefer`, given or not, means `require`). Not strict (`connect`): the
    /// parameters' `sslmode` decides, `require` taking TLS with the system's roots and
    /// anything else plain text, as before TLS was offered.
    fn open(
        params: &str,
        max_connections: usize,
        timeout: Duration,
        tls: &Tls,
        strict: bool,
    ) -> Result<Self, PostgresError> {
        let mut config: tokio_postgres::Config = params
            .parse()
            .map_err(|e: tokio_postgres::Error| PostgresError::Config(e.to_string()))?;
        let tls = match (strict, config.get_ssl_mode()) {
            (false, SslMode::Require) => tls,
            (false, _) => &Tls::Off,
            (true, _) => tls,
        };
        let (connector, on) = tls.connector()?;
        match (on, config.get_ssl_mode()) {
            (false, SslMode::Require) => {
                return Err(PostgresError::Config(
                    "sslmode=require with Tls::Off; configure TLS or drop the sslmode".into(),
                ));
            }
            (false, _) => {
                config.ssl_mode(SslMode::Disable);
            }
            (true, SslMode::Disable) => {
                return Err(PostgresError::Config(
                    "sslmode=disable with TLS configured; use Tls::Off for plain text".into(),
                ));
            }
            (true, _) => {
                // `prefer` would take plain text from a server (or a machine in the middle)
                // that declines TLS: once TLS is configured, it is required.
                config.ssl_mode(SslMode::Require);
            }
        }
        config.connect_timeout(timeout);
        // The caller's options stay (a search path, a pinned synchronous_commit); ours come
        // last, so a statement timeout of the caller's own is replaced by `timeout`.
        let ours = format!("-c statement_timeout={}", timeout.as_millis());
        let options = match config.get_options() {
            Some(theirs) if !theirs.trim().is_empty() => format!("{theirs} {ours}"),
            _ => ours,
        };
        config.options(options);
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| PostgresError::Config(e.to_string()))?;
        Ok(Self::new(pool))
    }

    /// Creates the schema if it is not there and checks its version. Idempotent; an
    /// advisory lock makes concurrent calls from many processes safe.
    ///
    /// # Errors
    ///
    /// [`PostgresError::Schema`] for a database of another schema version; connection and
    /// server errors.
    pub async fn create_schema(&self) -> Result<(), PostgresError> {
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

    /// The pool, for the host's own health checks.
    #[must_use]
    pub const fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// Whether the server refused a statement only because a concurrent transaction won
/// (serialization failure 40001, deadlock 40P01): nothing was written, and trying again is
/// the answer. At repeatable read and serializable these are how a lost race arrives.
fn lost_race(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// How many times a load refused by a serialization failure is tried again before the
/// failure is answered.
const LOAD_TRIES: u32 = 16;

impl AsyncStore for PostgresStore {
    type Error = PostgresError;
    const TRANSACTIONS: bool = true;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, PostgresError> {
        let mut tries: u32 = 1;
        loop {
            match self.load_once(key).await {
                Err(PostgresError::Postgres(e)) if lost_race(&e) && tries < LOAD_TRIES => {
                    // A short pause that grows, so that the winners finish first.
                    tokio::time::sleep(Duration::from_millis(u64::from(tries))).await;
                    tries = tries.saturating_add(1);
                }
                found => return found,
            }
        }
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, PostgresError> {
        match self.swap_once(key, expected, record, new).await {
            // The statement's transaction was rolled back: nothing was written.
            Err(PostgresError::Postgres(e)) if lost_race(&e) => Ok(Swap::Conflict),
            swapped => swapped,
        }
    }

    /// The write and its audit row in one statement (a data-modifying `WITH`): one
    /// transaction, so a killed backend or a lost connection leaves both or neither.
    async fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, PostgresError> {
        match self.swap_audited(entry, record).await {
            Err(PostgresError::Postgres(e)) if lost_race(&e) => Ok(Swap::Conflict),
            swapped => swapped,
        }
    }

    /// Every write and its audit row in one transaction, at the pool's isolation level: each
    /// write is a conditional statement, so read committed suffices (a row another
    /// transaction changed meanwhile fails its version check). A serialization failure or a
    /// deadlock rolled the transaction back: a conflict.
    async fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, PostgresError> {
        if !crate::store::distinct_keys(writes, unchanged) {
            return Ok(Swap::Conflict);
        }
        match self.swap_all(writes, unchanged).await {
            Err(PostgresError::Postgres(e)) if lost_race(&e) => Ok(Swap::Conflict),
            swapped => swapped,
        }
    }
}

impl AsyncAuditLog for PostgresStore {
    async fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, PostgresError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(&self.sql.history).await?;
        let rows = client
            .query(
                &stmt,
                &[&i16::from(key.kind()), &key.namespace(), &key.id()],
            )
            .await?;
        rows.iter().map(read_row).collect()
    }

    /// Entries of transactions that have all finished, in transaction order: an entry of a
    /// transaction older than one still running waits for the next call. A session that
    /// keeps a transaction open for long (with a transaction id) holds shipping back.
    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, PostgresError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(&self.sql.since).await?;
        let (tx, seq) = cursor.parts();
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(&stmt, &[&signed(tx), &signed(seq), &limit])
            .await?;
        rows.iter().map(read_row).collect()
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, PostgresError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(&self.sql.prune_audit).await?;
        Ok(client.execute(&stmt, &[&sql::time_to_sql(before)]).await?)
    }
}

/// An audit row as read by the history and since statements.
fn read_row(row: &tokio_postgres::Row) -> Result<AuditEntry, PostgresError> {
    Ok(sql::ReadRow {
        tx: row.try_get(0)?,
        seq: row.try_get(1)?,
        row: AuditRow {
            at: row.try_get(2)?,
            kind: row.try_get(3)?,
            namespace: row.try_get(4)?,
            id: row.try_get(5)?,
            context: row.try_get(6)?,
            booking: row.try_get(7)?,
            verifier: row.try_get(8)?,
            request: row.try_get(9)?,
            actor: row.try_get(10)?,
            action: row.try_get(11)?,
            detail: row.try_get(12)?,
            note: row.try_get(13)?,
            prior: row.try_get(14)?,
            version: row.try_get(15)?,
        },
    }
    .entry()?)
}

impl PostgresStore {
    async fn load_once(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, PostgresError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(&self.sql.load).await?;
        let row = client
            .query_opt(
                &stmt,
                &[&i16::from(key.kind()), &key.namespace(), &key.id()],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let bytes: &[u8] = row.try_get(0)?;
        let version: i64 = row.try_get(1)?;
        Ok(Some((sql::decode(bytes)?, sql::version_from_sql(version))))
    }

    async fn swap_once(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, PostgresError> {
        let (buf, len) = sql::encode(record);
        let bytes = buf.get(..len).unwrap_or_default();
        let kind = i16::from(key.kind());
        let (namespace, id) = (key.namespace(), key.id());
        let new_sql = sql::version_to_sql(new);
        let prune_at = sql::prune_at(record);
        let client = self.pool.get().await?;
        let changed = match expected {
            None => {
                let stmt = client.prepare_cached(&self.sql.insert).await?;
                client
                    .execute(
                        &stmt,
                        &[&kind, &namespace, &id, &new_sql, &bytes, &prune_at],
                    )
                    .await?
            }
            Some(v) => {
                let stmt = client.prepare_cached(&self.sql.update).await?;
                let expected = sql::version_to_sql(v);
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
                    &kind, &namespace, &id, &new_sql, &bytes, &prune_at, &expected,
                ];
                client.execute(&stmt, &params).await?
            }
        };
        Ok(if changed == 1 {
            Swap::Swapped
        } else {
            Swap::Conflict
        })
    }
}

/// In batches of [`PostgresStore::with_prune_batch`] rows, each its own statement within the
/// statement timeout; a batch refused by a serialization failure is tried again.
impl PostgresStore {
    async fn swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, PostgresError> {
        let client = self.pool.get().await?;
        self.write_audited(&client, entry, record).await
    }

    /// Every write and its audit row in one transaction, in order, then every unchanged
    /// key's version read `FOR SHARE`: the first that finds another version rolls
    /// everything back as a conflict. The share lock keeps a write to that key (a wrong
    /// code's failure) out until this transaction ends, so at every isolation level the
    /// check still holds when the transaction commits; a failure already written and not
    /// yet committed is waited for and then seen. Locks are taken booking first, verifier
    /// second, by every verification, so two of them never wait for each other in a
    /// circle.
    async fn swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, PostgresError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        for (entry, record) in writes {
            if self.write_audited(&tx, entry, record).await? == Swap::Conflict {
                tx.rollback().await?;
                return Ok(Swap::Conflict);
            }
        }
        for (key, expected) in unchanged {
            let stmt = tx.prepare_cached(&self.sql.version).await?;
            let stored: Option<i64> = tx
                .query_opt(
                    &stmt,
                    &[&i16::from(key.kind()), &key.namespace(), &key.id()],
                )
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
            if stored != expected.map(sql::version_to_sql) {
                tx.rollback().await?;
                return Ok(Swap::Conflict);
            }
        }
        tx.commit().await?;
        Ok(Swap::Swapped)
    }

    /// The write and its audit row in one statement (a data-modifying `WITH`), on `client`
    /// (a pooled connection, or a transaction).
    async fn write_audited(
        &self,
        client: &impl GenericClient,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, PostgresError> {
        let (buf, len) = sql::encode(record);
        let bytes = buf.get(..len).unwrap_or_default();
        let prune_at = sql::prune_at(record);
        let row = AuditRow::of(entry);
        let (kind, namespace, id, new_sql) = (row.kind, &row.namespace, &row.id, row.version);
        // The record's columns, the expected version for an update, then the audit row's:
        // the statements number their parameters in this order.
        let (statement, expected) = match &row.prior {
            None => (&self.sql.insert_audited, None),
            Some(v) => (&self.sql.update_audited, Some(v)),
        };
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            vec![&kind, namespace, id, &new_sql, &bytes, &prune_at];
        params.extend(expected.map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)));
        params.extend([
            &row.at as &(dyn tokio_postgres::types::ToSql + Sync),
            &row.context,
            &row.booking,
            &row.verifier,
            &row.request,
            &row.actor,
            &row.action,
            &row.detail,
            &row.note,
        ]);
        let stmt = client.prepare_cached(statement).await?;
        let changed = client.execute(&stmt, &params).await?;
        Ok(if changed == 1 {
            Swap::Swapped
        } else {
            Swap::Conflict
        })
    }
}

impl AsyncPrune for PostgresStore {
    async fn prune(&self, before: Timestamp) -> Result<u64, PostgresError> {
        let mut removed = 0u64;
        let mut lost = 0;
        loop {
            match self.prune_batch(before, self.prune_batch).await {
                Ok(batch) => {
                    removed = removed.saturating_add(batch);
                    if batch < u64::from(self.prune_batch) {
                        return Ok(removed);
                    }
                }
                Err(PostgresError::Postgres(e)) if lost_race(&e) && lost < LOAD_TRIES => {
                    lost = lost.saturating_add(1);
                }
                Err(e) => return Err(e),
            }
        }
    }
}
