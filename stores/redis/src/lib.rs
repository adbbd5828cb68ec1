#![doc = include_str!("../README.md")]
//!
//! # How it works
//!
//! It is built only on handover-code's public store-author API (the [`AsyncStore`]
//! primitives, [`Record::encode`](handover_code::record::Record::encode) and
//! [`Record::decode_stored`](handover_code::record::Record::decode_stored), [`Key`]'s
//! parts, [`StoreError`]), as any store outside that crate would be. The client it takes
//! is re-exported as [`redis`](mod@redis), at the version it was built with.
//!
//! Each record is a Redis hash; the compare-and-swap is one Lua script, so the version check
//! and the write are one atomic step on the server. Keys are namespaced by a prefix (one per
//! tenant or deployment) and hash-tagged, so a record and its prune index entry always live
//! in one Redis Cluster slot: [`layout`] has the names and the scripts.
//!
//! # Durability: what a crash loses
//!
//! The store is exactly as durable as the server's configuration makes it. A verification
//! answer is returned once the server has acknowledged its write; whether an acknowledged
//! write survives depends on the append-only file:
//!
//! | server setting | a `redis-server` process killed | the machine crashing (power, kernel) |
//! |---|---|---|
//! | `appendonly yes`, `appendfsync always` | nothing acknowledged is lost | nothing acknowledged is lost: each write is on disk before its reply |
//! | `appendonly yes`, `appendfsync everysec` (Redis's default with AOF) | nothing, unless the disk was slow: Redis then delays writing the file by up to 2 s while already replying | up to the last 1–2 s of acknowledged writes |
//! | `appendonly yes`, `appendfsync no` | as `everysec` | whatever the kernel had not flushed, typically up to 30 s |
//! | `appendonly no` (RDB snapshots only) | everything since the last snapshot | everything since the last snapshot |
//!
//! A lost write is a lost count: attempts and budget spent are forgotten, and a code
//! accepted and handed over can be accepted **again**. Run with `appendfsync always` where
//! a redemption must never be forgotten; `everysec` trades the last second or two on a
//! machine crash for throughput. The crate's tests kill the server with SIGKILL mid-run
//! under `always` and `everysec` and count what was lost.
//!
//! # Replicas and failover: [`RedisStore::with_replicated_writes`]
//!
//! Redis replicates asynchronously: a master answers a write before its replicas have it,
//! and a failover that promotes a replica which had not received the last writes loses
//! them, acknowledged or not. By default this store answers once the master has the write,
//! so a failover can undo answered verifications: a redeemed booking `Active` again, its
//! code accepted a **second** time (`tests/failover.rs` shows it on a 3-master + 3-replica
//! cluster). With [`RedisStore::with_replicated_writes`] a write is answered only once the
//! shard's replicas have acknowledged it, and a replayed answer waits the same way;
//! its docs say what that still cannot promise.
//!
//! # Cluster
//!
//! [`RedisStore::connect_cluster`] uses the cluster client, which routes each script to the
//! master of its key's slot. Every command is sent once: the client's own retries are off,
//! because a retried compare-and-swap whose first attempt had landed would answer "conflict"
//! for its own write. The store itself retries only what the server refused without running
//! (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `READONLY`), after the client has
//! refreshed its slot map; a lost connection is an error answered to the caller.
//!
//! # Prune
//!
//! [`AsyncStore::prune`] walks the [`layout::BUCKETS`] prune
//! indexes, deleting in batches of [`RedisStore::with_prune_batch`] records, each batch one short
//! script (the server runs nothing else meanwhile, so batches are kept small).
//! [`RedisStore::prune_task`] runs it on an interval. Redis's own key expiry is not used: it runs
//! on the server's clock, and a server clock ahead of the hosts' would delete live records.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Panic-freedom, as in handover-code: no unwrap or expect, no indexing or slicing that can
// panic, checked arithmetic, no lossy casts, no panicking macros. Tests index freely.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

mod connection;
mod faces;
pub mod layout;
mod prune;
mod replicated;
mod retry;

use connection::{Connection, Opener};
use replicated::Replicated;
use retry::until_run;

use core::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, FromRedisValue, Script};

#[cfg(doc)]
use handover_code::AsyncStore;
use handover_code::{Error, Key, StoreError};

/// The Redis client [`RedisStore`] is built on, at the version it was built with: build a
/// `ConnectionManager` or cluster connection with it (TLS, authentication) for
/// [`RedisStore::from_manager`] and [`RedisStore::from_cluster`].
pub use ::redis;

/// Runs a call written with the store's own error type, and answers handover-code's
/// [`Error`] (the store's public methods and trait face answer that, its helpers their own).
fn own_error<T>(call: impl FnOnce() -> Result<T, RedisError>) -> Result<T, Error> {
    Ok(call()?)
}

/// What can go wrong in a [`RedisStore`]. Connection losses, timeouts and server restarts
/// arrive here, as errors, never as an outcome.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedisError {
    /// The server or the connection failed (refused, timed out, restarted, script error, …):
    /// check the server and retry.
    #[error("redis failed")]
    Redis(#[from] ::redis::RedisError),
    /// A stored record's bytes are not a record.
    #[error("stored record is corrupt")]
    Decode(#[from] StoreError),
    /// A stored hash lacks its version or record, or its version is not a number: something
    /// other than this store wrote under its prefix.
    #[error("stored record is incomplete; check what else writes under this store's prefix")]
    Incomplete,
    /// A write landed on the master but fewer of its shard's replicas than asked
    /// acknowledged it in time: a failover now could lose it, so it answers nothing.
    #[error(
        "the write reached {acknowledged} of {wanted} replicas in time and a failover could lose it; \
         check the shard's replicas and retry with the same request id"
    )]
    NotReplicated {
        /// Replicas that acknowledged.
        acknowledged: i64,
        /// Replicas asked for.
        wanted: u32,
    },
    /// The URL, the node list or the prefix was refused.
    #[error("invalid redis settings: {0}")]
    Config(String),
}

/// An [`AsyncStore`] on
/// Redis (or a Redis Cluster): one hash per record, the compare-and-swap as one Lua script. Cheap
/// to clone: clones share the connection.
///
/// ```no_run
/// use std::time::Duration;
/// use handover_code_redis::RedisStore;
/// use handover_code::{Policy, Secret, Service, Timestamp};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379/", Duration::from_secs(3))
///     .await?
///     .with_prefix("cowin:")?;
/// let secret = Secret::from_hex(&std::env::var("HANDOVER_SECRET")?)?;
/// let service = Service::new(secret, Policy::default(), "cowin/dose")?;
/// let now = Timestamp::now();
/// let code = service.issue_async(&store, "SLOT-1", now.0 + 3_600, now).await?;
/// # drop(code);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    opener: Opener,
    prefix: Vec<u8>,
    prune_batch: u32,
    replicated: Option<Replicated>,
    swap: Script,
    prune: Script,
}

impl core::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "connection",
                &match self.connection {
                    Connection::Single(_) => "single server",
                    Connection::Cluster(_) => "cluster",
                },
            )
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("prune_batch", &self.prune_batch)
            .field("replicated", &self.replicated)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The prefix every key starts with when none is set.
    pub const DEFAULT_PREFIX: &'static str = "hc:";

    /// Records a prune deletes per script when none is set: each script holds the server
    /// for well under a millisecond per hundred records.
    pub const DEFAULT_PRUNE_BATCH: u32 = 500;

    fn with_connection(connection: Connection, opener: Opener) -> Self {
        Self {
            connection,
            opener,
            prefix: Self::DEFAULT_PREFIX.as_bytes().to_vec(),
            prune_batch: Self::DEFAULT_PRUNE_BATCH,
            replicated: None,
            swap: Script::new(layout::SWAP),
            prune: Script::new(layout::PRUNE),
        }
    }

    /// A store on one Redis server, given its URL (`redis://host:port/db`,
    /// `redis://user:password@host/`). The connection manager reconnects after a failure
    /// (the call that met it answers an error; calls meanwhile wait for the reconnection,
    /// at most 3 tries over about half a second, then answer an error); `timeout` bounds
    /// connecting and every command. Needs a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for a URL the client cannot parse; [`Error::Store`] when
    /// the first connection fails.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, Error> {
        let result: Result<Self, RedisError> = async {
            let client =
                ::redis::Client::open(url).map_err(|e| RedisError::Config(e.to_string()))?;
            // Reconnecting: 3 tries, 50 ms apart and doubling (jittered), so a call made while
            // the server is down answers an error within about half a second plus `timeout`,
            // and a restart within that time is ridden out.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(3)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(400));
            let manager =
                ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
            Ok(Self::with_connection(
                Connection::Single(manager),
                Opener::Single(client, config),
            ))
        }
        .await;
        Ok(result?)
    }

    /// A store on a Redis Cluster, given some of its nodes' URLs; the client discovers the
    /// rest and the slot map. `timeout` bounds connecting and every command. The client's
    /// retries are off (see the [module docs](self#cluster)).
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for URLs the client cannot parse; [`Error::Store`] when no
    /// node can be reached.
    pub async fn connect_cluster(nodes: &[&str], timeout: Duration) -> Result<Self, Error> {
        let result: Result<Self, RedisError> = async {
            let client = ::redis::cluster::ClusterClient::builder(nodes.iter().copied())
                .retries(0)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .build()
                .map_err(|e| RedisError::Config(e.to_string()))?;
            let connection = client.get_async_connection().await?;
            Ok(Self::with_connection(
                Connection::Cluster(connection),
                Opener::Cluster(client),
            ))
        }
        .await;
        Ok(result?)
    }

    /// A store on a connection manager the host built (for authentication providers or
    /// settings [`RedisStore::connect`] does not offer; TLS needs only a `rediss://` URL and
    /// one of the `redis` crate's TLS features). The manager is used as it is: give it a
    /// response timeout, or a stalled server hangs calls. With
    /// [`RedisStore::with_replicated_writes`], such a store has no way to open connections
    /// of its own, so its waits share this one.
    #[must_use]
    pub fn from_manager(manager: ConnectionManager) -> Self {
        Self::with_connection(Connection::Single(manager), Opener::None)
    }

    /// A store on a cluster connection the host built. Build it with `.retries(0)` on the
    /// `ClusterClientBuilder` and a response timeout: with client retries on, a compare-and-
    /// swap retried after a lost connection can answer "conflict" for a write that landed
    /// (see the [module docs](self#cluster)).
    /// As with [`RedisStore::from_manager`], its replicated writes' waits share it.
    #[must_use]
    pub fn from_cluster(connection: ClusterConnection) -> Self {
        Self::with_connection(Connection::Cluster(connection), Opener::None)
    }

    /// Sets the prefix of every key: tenants, or several deployments sharing one server,
    /// each get their own. Stores with different prefixes never see each other's records.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for a prefix longer than 64 bytes or holding `{` or `}` (which
    /// would change the keys' cluster hash tags).
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, Error> {
        own_error(|| {
            if !layout::prefix_ok(prefix.as_bytes()) {
                return Err(RedisError::Config(
                    "a key prefix is at most 64 bytes and holds no '{' or '}'".to_string(),
                ));
            }
            self.prefix = prefix.as_bytes().to_vec();
            Ok(self)
        })
    }

    /// Sets how many records each of a prune's scripts deletes (at least 1).
    #[must_use]
    pub fn with_prune_batch(mut self, records: u32) -> Self {
        self.prune_batch = records.max(1);
        self
    }

    /// The prefix every key starts with.
    #[must_use]
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The name of the Redis hash holding the record under `key` (for the host's own
    /// inspection: `HGETALL` it).
    #[must_use]
    pub fn key_name(&self, key: Key<'_>) -> Vec<u8> {
        layout::record_key(&self.prefix, key)
    }

    /// Sends `cmd` once and reads its answer.
    async fn send<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, ::redis::RedisError> {
        match &self.connection {
            Connection::Single(c) => cmd.query_async(&mut c.clone()).await,
            Connection::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        }
    }

    /// Runs `script` with `keys` and `args`, sending it again while the server refuses it
    /// unrun (never after an error that leaves it unknown whether it ran).
    async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<T, RedisError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        until_run(|| async {
            match &self.connection {
                Connection::Single(c) => invocation.invoke_async(&mut c.clone()).await,
                Connection::Cluster(c) => invocation.invoke_async(&mut c.clone()).await,
            }
        })
        .await
    }
}

/// Settings it cannot use are setup errors; a record that cannot be decoded (bytes that are
/// no record, a hash missing a field, a key holding another type) is corrupt; the rest are
/// store failures, transient or permanent as the Redis client says it may be retried
/// (`LOADING`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `READONLY`, `NOREPLICAS`, `OOM`,
/// `BUSY`, a connection lost or timed out: transient; `NOPERM`, a failed authentication, a
/// script error: permanent).
impl From<RedisError> for Error {
    fn from(e: RedisError) -> Self {
        match e {
            RedisError::Config(_) => Self::Setup(StoreError::new(e)),
            RedisError::Decode(_) | RedisError::Incomplete => StoreError::corrupt(e).into(),
            RedisError::Redis(ref r) if r.code() == Some("WRONGTYPE") => {
                StoreError::corrupt(e).into()
            }
            RedisError::Redis(ref r) if !is_transient(r) => StoreError::permanent(e).into(),
            _ => StoreError::transient(e).into(),
        }
    }
}

/// Whether the call may succeed later: the client's retry advice, and refusals of the moment
/// it has none for (`NOREPLICAS` under `min-replicas-to-write`, `OOM`, `BUSY`). A failed
/// authentication is permanent: a reconnect with the same password fails again.
fn is_transient(e: &::redis::RedisError) -> bool {
    if matches!(e.code(), Some("NOREPLICAS" | "OOM" | "BUSY")) {
        return true;
    }
    e.kind() != ::redis::ErrorKind::AuthenticationFailed
        && !matches!(e.retry_method(), ::redis::RetryMethod::NoRetry)
}
