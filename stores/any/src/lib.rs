#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
// Panic-freedom for the library; its unit tests unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod open;
mod url;

use std::sync::Arc;
use std::time::Duration;

use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::{AsyncAuditLog, AuditEntry, Cursor};
use handover_code::{AsyncStore, Error, Key, MemoryStore, Swap, Timestamp};

/// A store chosen at run time: an [`AsyncStore`] over every store this crate was built
/// with, opened from a URL ([`AnyStore::connect`]) or wrapped from one the host built
/// (`From`). Its calls go to the store inside; its errors are that store's. Its audit log
/// ([`AsyncAuditLog`]) is the store's, on every store but Redis (which keeps none).
///
/// ```
/// use handover_code::{Outcome, Policy, Secret, Service, Timestamp};
/// use handover_code_any::AnyStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // From configuration: memory:, sqlite:PATH, postgres://…, redis://…
/// let url = std::env::var("HANDOVER_STORE").unwrap_or_else(|_| "memory:".into());
/// let store = AnyStore::connect(&url).await?;
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "post/parcel")?;
/// let now = Timestamp::now();
/// let code = service.issue_async(&store, "EE123456789IN", now.0 + 3_600, now).await?;
/// let answer = service.verify_async(&store, "EE123456789IN", code.expose(), None, now).await?;
/// assert_eq!(answer, Outcome::Accepted);
/// # Ok(()) }
/// ```
///
/// **The verification mode.** A store answers one [`AsyncStore::TRANSACTIONS`] for its type,
/// so `AnyStore` has one for every URL: `true` (a budgeted verification in one
/// transaction, 3 store calls) when it is built without feature `redis`, `false` with it
/// (a budget slot reserved first, 5 calls), since Redis writes one key at a time. Cargo
/// unifies features: any crate of the build that turns `redis` on puts every `AnyStore` in
/// the second mode (on SQLite, budgeted verifications measured 0.31–0.34× unbudgeted
/// instead of 0.70–0.77×; the storage guide has the figures). Leave `redis` off where no
/// URL names Redis. Both
/// modes keep every guarantee on every store. Run every service on one store through the
/// same face, all `AnyStore` or all the concrete store, so that one store's verifiers are
/// never counted in two modes at once.
#[derive(Debug)]
pub struct AnyStore {
    inner: Inner,
}

/// The store inside.
#[derive(Debug)]
// One per host, built once and shared: its size costs nothing, a box would cost a pointer
// chase on every call.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Memory(MemoryStore),
    #[cfg(feature = "sqlite")]
    Sqlite(handover_code_sqlite::AsyncSqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(handover_code_postgres::PostgresStore),
    #[cfg(feature = "sqlx-sqlite")]
    SqlxSqlite(handover_code_sqlx::SqliteStore),
    #[cfg(feature = "sqlx-postgres")]
    SqlxPg(handover_code_sqlx::PgStore),
    #[cfg(feature = "redis")]
    Redis(handover_code_redis::RedisStore),
}

/// Runs `$call` on the store inside `$self`, named `$store`, whichever it is; on Redis the
/// `redis` arm instead where one is given (for what Redis does not keep).
macro_rules! on_inner {
    ($self:expr, $store:ident => $call:expr) => {
        on_inner!($self, $store => $call, redis $store => $call)
    };
    ($self:expr, $store:ident => $call:expr, redis $redis:pat => $on_redis:expr) => {
        match &$self.inner {
            Inner::Memory($store) => $call,
            #[cfg(feature = "sqlite")]
            Inner::Sqlite($store) => $call,
            #[cfg(feature = "postgres")]
            Inner::Postgres($store) => $call,
            #[cfg(feature = "sqlx-sqlite")]
            Inner::SqlxSqlite($store) => $call,
            #[cfg(feature = "sqlx-postgres")]
            Inner::SqlxPg($store) => $call,
            #[cfg(feature = "redis")]
            Inner::Redis($redis) => $on_redis,
        }
    };
}

impl AnyStore {
    /// Opens the store `url` names:
    ///
    /// | URL | store | options (`?name=value&…`) |
    /// |---|---|---|
    /// | `memory:` | [`MemoryStore`] | none |
    /// | `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:` | `AsyncSqliteStore` (feature `sqlite`) | `durability=full` (default) or `normal`, `busy_timeout_ms` |
    /// | `postgres://…`, `postgresql://…` | `PostgresStore` (feature `postgres`), its schema created unless `create_schema=false` | `pool` (16), `timeout_ms` (3000: connecting, a pooled connection, each statement), `prefix`, `create_schema`; the rest (`sslmode`, `application_name`, …) go to the client |
    /// | `sqlite+sqlx:PATH`, `sqlite+sqlx::memory:` | handover-code-sqlx's `SqliteStore` (feature `sqlx-sqlite`), on a pool of 16 (one in memory), its schema created | as `sqlite:` |
    /// | `postgres+sqlx://…`, `postgresql+sqlx://…` | handover-code-sqlx's `PgStore` (feature `sqlx-postgres`) | as `postgres://`; the rest go to sqlx, whose `sslmode` asking for TLS verifies as `verify-full` (with a TLS feature of sqlx in the build) and which reaches one host (no `host=a,b`, no `target_session_attrs`) |
    /// | `redis://…`, `rediss://…` | `RedisStore` (feature `redis`) | `timeout_ms` (3000), `prefix` |
    /// | `redis+cluster://host:port,host:port` | `RedisStore` on a Redis Cluster (feature `redis`) | as `redis://` |
    ///
    /// Values are percent-decoded (`prefix`, the SQLite path); a `#` or `?` in a password is
    /// written `%23` or `%3F`. A PostgreSQL URL with `sslmode=require` connects over TLS
    /// trusting the system's roots, as `PostgresStore::connect` does; any other `sslmode`,
    /// `prefer` included, connects in plain text. For a private CA, a synchronous standby's
    /// commit wait (`with_synchronous_standby`) or Redis's replicated writes, the settings
    /// that keep answered writes across a failover, build the store with its own crate and
    /// wrap it: `AnyStore::from(store)`.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for a URL that names no store, an option the store does not take, a
    /// store this crate was built without (the message names the feature to add), or a
    /// store that refuses its settings; [`Error::Store`] when the store cannot be reached.
    /// No error holds the URL: it may hold a password.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        open::open(url).await
    }

    /// Which store is inside: `"memory"`, `"sqlite"`, `"postgres"`, `"sqlite+sqlx"`,
    /// `"postgres+sqlx"` or `"redis"`.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self.inner {
            Inner::Memory(_) => "memory",
            #[cfg(feature = "sqlite")]
            Inner::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Inner::Postgres(_) => "postgres",
            #[cfg(feature = "sqlx-sqlite")]
            Inner::SqlxSqlite(_) => "sqlite+sqlx",
            #[cfg(feature = "sqlx-postgres")]
            Inner::SqlxPg(_) => "postgres+sqlx",
            #[cfg(feature = "redis")]
            Inner::Redis(_) => "redis",
        }
    }

    /// Prunes every `every`, for as long as the returned future runs, whichever store is
    /// inside (SQLite too): spawn it (`tokio::spawn(Arc::clone(&store).prune_task(..))`)
    /// and abort it to stop. Each pass prunes what expired before the system
    /// clock's reading at its start and hands its result to `after`; a failed pass is tried
    /// again at the next interval.
    pub async fn prune_task(
        self: Arc<Self>,
        every: Duration,
        mut after: impl FnMut(Result<u64, Error>) + Send,
    ) {
        loop {
            tokio::time::sleep(every).await;
            after(self.prune(Timestamp::now()).await);
        }
    }
}

impl From<MemoryStore> for AnyStore {
    fn from(store: MemoryStore) -> Self {
        Self {
            inner: Inner::Memory(store),
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<handover_code_sqlite::AsyncSqliteStore> for AnyStore {
    fn from(store: handover_code_sqlite::AsyncSqliteStore) -> Self {
        Self {
            inner: Inner::Sqlite(store),
        }
    }
}

#[cfg(feature = "postgres")]
impl From<handover_code_postgres::PostgresStore> for AnyStore {
    fn from(store: handover_code_postgres::PostgresStore) -> Self {
        Self {
            inner: Inner::Postgres(store),
        }
    }
}

#[cfg(feature = "sqlx-sqlite")]
impl From<handover_code_sqlx::SqliteStore> for AnyStore {
    fn from(store: handover_code_sqlx::SqliteStore) -> Self {
        Self {
            inner: Inner::SqlxSqlite(store),
        }
    }
}

#[cfg(feature = "sqlx-postgres")]
impl From<handover_code_sqlx::PgStore> for AnyStore {
    fn from(store: handover_code_sqlx::PgStore) -> Self {
        Self {
            inner: Inner::SqlxPg(store),
        }
    }
}

#[cfg(feature = "redis")]
impl From<handover_code_redis::RedisStore> for AnyStore {
    fn from(store: handover_code_redis::RedisStore) -> Self {
        Self {
            inner: Inner::Redis(store),
        }
    }
}

impl AsyncStore for AnyStore {
    type Error = Error;
    const TRANSACTIONS: bool = !cfg!(feature = "redis");

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        on_inner!(self, store => AsyncStore::load(store, key).await)
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        on_inner!(self, store => AsyncStore::compare_and_swap(store, key, expected, record, new).await)
    }

    async fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Error> {
        on_inner!(self, store => AsyncStore::compare_and_swap_audited(store, entry, record).await)
    }

    async fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Error> {
        if !Self::TRANSACTIONS {
            // Built with Redis, this store answers as one without transactions, whatever is
            // inside: a batch of more than one write is a conflict, written nowhere (the
            // contract, and the conformance kit's check of it).
            return match (writes, unchanged) {
                ([], []) => Ok(Swap::Swapped),
                ([(entry, record)], []) => self.compare_and_swap_audited(entry, record).await,
                _ => Ok(Swap::Conflict),
            };
        }
        on_inner!(self, store => AsyncStore::compare_and_swap_all(store, writes, unchanged).await)
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, Error> {
        on_inner!(self, store => AsyncStore::prune(store, before).await)
    }

    async fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, Error> {
        on_inner!(self, store => AsyncStore::make_durable(store, key, version).await)
    }
}

/// The audit log of the store inside: every store but Redis keeps one, in each write's
/// transaction. On Redis, which keeps none, reading it (`history`, `since`) answers
/// [`Error::Setup`] saying so (the deployment picked a store without the log it reads), and
/// pruning it deletes nothing (`Ok(0)`), so a host's prune loop runs on any store.
impl AsyncAuditLog for AnyStore {
    async fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Error> {
        on_inner!(self, store => AsyncAuditLog::history(store, key).await, redis _ => no_audit_log())
    }

    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        on_inner!(self, store => AsyncAuditLog::since(store, cursor, limit).await, redis _ => no_audit_log())
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, Error> {
        on_inner!(self, store => AsyncAuditLog::prune_audit(store, before).await, redis _ => Ok(0))
    }
}

/// Why a Redis store answers no audit log.
#[cfg(feature = "redis")]
#[derive(Debug, thiserror::Error)]
#[error("the Redis store keeps no audit log; read it from a SQL or memory store")]
struct NoAuditLog;

/// A Redis store's answer to an audit log call.
#[cfg(feature = "redis")]
fn no_audit_log<T>() -> Result<T, Error> {
    Err(Error::Setup(handover_code::StoreError::new(NoAuditLog)))
}

#[cfg(test)]
mod tests;
