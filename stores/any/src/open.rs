//! Opening the store a URL names: the one place that needs each adapter, each arm compiled
//! only with its feature, and a clear error for a store that is not compiled in.

use handover_code::{Error, MemoryStore, StoreError};

#[cfg(feature = "sqlx-sqlite")]
use crate::url::{DEFAULT_POOL, DEFAULT_TIMEOUT};
use crate::url::{Target, UrlError, parse};
use crate::{AnyStore, Inner};

/// The store `url` names, connected (and, for PostgreSQL, its schema created).
pub(crate) async fn open(url: &str) -> Result<AnyStore, Error> {
    let target = parse(url).map_err(setup)?;
    let inner = match target {
        Target::Memory => Inner::Memory(MemoryStore::new()),
        #[cfg(feature = "sqlite")]
        Target::Sqlite {
            sqlx: false,
            path,
            full,
            busy_timeout,
        } => {
            use handover_code_sqlite::{AsyncSqliteStore, Durability, SqliteStore};
            let durability = if full {
                Durability::Full
            } else {
                Durability::Normal
            };
            let mut store = match path {
                Some(path) => SqliteStore::open(&path, durability)?,
                None => SqliteStore::open_in_memory()?,
            };
            if let Some(timeout) = busy_timeout {
                store = store.with_busy_timeout(timeout);
            }
            Inner::Sqlite(AsyncSqliteStore::new(store))
        }
        #[cfg(feature = "sqlx-sqlite")]
        Target::Sqlite {
            sqlx: true,
            path,
            full,
            busy_timeout,
        } => {
            use handover_code_sqlx::SqliteStore;
            use handover_code_sqlx::sqlx::sqlite::{
                SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous,
            };
            let timeout = busy_timeout.unwrap_or(DEFAULT_TIMEOUT);
            let pool = u32::try_from(DEFAULT_POOL).unwrap_or(u32::MAX);
            let store = match path {
                Some(path) => {
                    let sync = if full {
                        SqliteSynchronous::Full
                    } else {
                        SqliteSynchronous::Normal
                    };
                    let options = SqliteConnectOptions::new()
                        .filename(path)
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(sync);
                    SqliteStore::connect_with(options, pool, timeout).await?
                }
                None => SqliteStore::connect("sqlite::memory:", 1, timeout).await?,
            };
            store.create_schema().await?;
            Inner::SqlxSqlite(store)
        }
        #[cfg(feature = "sqlx-postgres")]
        Target::Postgres {
            sqlx: true,
            params,
            pool,
            timeout,
            prefix,
            create_schema,
        } => {
            let pool = u32::try_from(pool).unwrap_or(u32::MAX);
            let mut store = handover_code_sqlx::PgStore::connect(&params, pool, timeout).await?;
            if let Some(prefix) = prefix {
                store = store.with_table_prefix(&prefix)?;
            }
            if create_schema {
                store.create_schema().await?;
            }
            Inner::SqlxPg(store)
        }
        #[cfg(feature = "postgres")]
        Target::Postgres {
            sqlx: false,
            params,
            pool,
            timeout,
            prefix,
            create_schema,
        } => {
            let mut store = handover_code_postgres::PostgresStore::connect(&params, pool, timeout)?;
            if let Some(prefix) = prefix {
                store = store.with_table_prefix(&prefix)?;
            }
            if create_schema {
                store.create_schema().await?;
            }
            Inner::Postgres(store)
        }
        #[cfg(feature = "redis")]
        Target::Redis {
            url,
            timeout,
            prefix,
        } => {
            let store = handover_code_redis::RedisStore::connect(&url, timeout).await?;
            Inner::Redis(with_redis_prefix(store, prefix)?)
        }
        #[cfg(feature = "redis")]
        Target::RedisCluster {
            nodes,
            timeout,
            prefix,
        } => {
            let nodes: std::vec::Vec<&str> =
                nodes.iter().map(std::string::String::as_str).collect();
            let store = handover_code_redis::RedisStore::connect_cluster(&nodes, timeout).await?;
            Inner::Redis(with_redis_prefix(store, prefix)?)
        }
        #[allow(unreachable_patterns)] // every arm above compiled in: none is left
        target => return Err(setup(not_compiled(&target))),
    };
    Ok(AnyStore { inner })
}

#[cfg(feature = "redis")]
fn with_redis_prefix(
    store: handover_code_redis::RedisStore,
    prefix: Option<std::string::String>,
) -> Result<handover_code_redis::RedisStore, Error> {
    match prefix {
        Some(prefix) => store.with_prefix(&prefix),
        None => Ok(store),
    }
}

/// The error for a target whose store is not compiled in.
#[allow(dead_code)] // with every feature on, no target is left for it
fn not_compiled(target: &Target) -> UrlError {
    let (scheme, feature, krate) = match target {
        Target::Memory => ("memory", "", "nothing"),
        Target::Sqlite { sqlx: false, .. } => ("sqlite", "sqlite", "handover-code-sqlite"),
        Target::Sqlite { sqlx: true, .. } => ("sqlite+sqlx", "sqlx-sqlite", "handover-code-sqlx"),
        Target::Postgres { sqlx: false, .. } => ("postgres", "postgres", "handover-code-postgres"),
        Target::Postgres { sqlx: true, .. } => {
            ("postgres+sqlx", "sqlx-postgres", "handover-code-sqlx")
        }
        Target::Redis { .. } | Target::RedisCluster { .. } => {
            ("redis", "redis", "handover-code-redis")
        }
    };
    UrlError::NotCompiled {
        scheme,
        feature,
        krate,
    }
}

/// A URL that names no store it can open is the host's setup to fix.
fn setup(e: UrlError) -> Error {
    Error::Setup(StoreError::new(e))
}
