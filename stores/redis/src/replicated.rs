//! Replicated writes: each write followed by `WAIT` on its key's master, in one pipeline
//! (see [`RedisStore::with_replicated_writes`]).

use core::time::Duration;
use std::sync::{Arc, Mutex, PoisonError};

use handover_code::Error;

use super::{Connection, RedisError, RedisStore, own_error, until_run};

/// How many replicas acknowledge a write before it is answered, and how long that may take,
/// and the connections the waits run on.
#[derive(Clone, Debug)]
pub(super) struct Replicated {
    pub(super) replicas: u32,
    pub(super) timeout_ms: u64,
    waiters: Arc<Waiters>,
}

/// The connections replicated writes wait on, apart from the store's own: Redis holds a
/// connection that sent `WAIT` until it returns, so a wait on the shared connection would
/// hold up every read and write behind it. Each waiting write takes a connection no other
/// write is waiting on, opened when first needed and kept for the next; at most
/// [`Waiters::MAX`] at once (each a connection to every master, on a cluster), and a write
/// beyond that waits for one to come back. A connection whose call failed (an error of the
/// client's, not replicas that were late) is not kept.
struct Waiters {
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

impl Waiters {
    /// The most writes waiting on their replicas at once, per store (and its clones).
    const MAX: usize = 8;

    fn new() -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(Self::MAX),
        }
    }

    fn take(&self) -> Option<Connection> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn give_back(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(connection);
    }
}

impl core::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let idle = self.idle.lock().map_or(0, |idle| idle.len());
        f.debug_struct("Waiters")
            .field("idle", &idle)
            .field("free", &self.permits.available_permits())
            .finish()
    }
}

impl RedisStore {
    /// Answers every write only once `replicas` replicas of its shard have acknowledged it,
    /// waiting at most `timeout` for them (`WAIT replicas timeout` on the key's master,
    /// right behind the write); a write they do not acknowledge in time answers a retryable
    /// [`Error::Store`], never an outcome, and a replayed answer is made as durable
    /// before it is answered (a revoke of a revoked booking too). Give `replicas` as the
    /// number of replicas every shard runs: one number for all shards, so a shard with more
    /// replicas than `replicas` can promote one that never acknowledged. Keep `timeout` under
    /// the connection's response timeout. What it promises and what it cannot:
    ///
    /// - `WAIT` confirms that the replicas **received** the write, not that they wrote it
    ///   to disk (`WAITAOF` came in Redis 7.2; the tests here run 7.0): losing a master
    ///   together with every replica that acknowledged (a power cut across all of them) can
    ///   lose it. Run each shard's machines apart, and `appendfsync always` where a machine
    ///   crash must lose nothing.
    /// - A replica that had not acknowledged (one beyond `replicas`, or one that was
    ///   disconnected) and is promoted loses what it missed: by hand (`CLUSTER FAILOVER
    ///   TAKEOVER`), or by the cluster's own failover, which lets the replica with the
    ///   highest replication offset try first but does not promise it wins.
    /// - Answers that stand for no write ("already redeemed", "locked", a suspended
    ///   verifier) are read from the master as it stands, unwaited; replays (of an
    ///   acceptance, of a rejection) wait as writes do.
    /// - Every write waits a replica round trip (measured in `tests/failover.rs`); with a
    ///   replica gone, the whole `timeout`. Redis holds the connection that sent a `WAIT`
    ///   until it returns, so the waits run on connections of their own: each waiting
    ///   write on a connection no other write is waiting on, at most 8 at once per store (on
    ///   a cluster, each such connection reaches every master), opened when first needed
    ///   and kept. Reads and the store's other calls never queue behind a wait, and while a
    ///   replica is away only the writes that wait for it are held up (and, past 8 waiting
    ///   at once, the writes behind them). A store built on the host's own connection
    ///   ([`RedisStore::from_manager`], [`RedisStore::from_cluster`]) cannot open more, and
    ///   its waits share that connection: build it with [`RedisStore::connect`] or
    ///   [`RedisStore::connect_cluster`] where that matters.
    ///
    /// Pair it on the servers with `min-replicas-to-write` (and `min-replicas-max-lag`): a
    /// master that has lost its replicas then refuses the write itself (`NOREPLICAS`), so it
    /// never lands unconfirmed for a later replay to find; the refusal is still answered
    /// after the pipeline's `WAIT` times out. `WAIT` is sent in one pipeline right behind the
    /// write, on the same connection to the master of the key's slot: never fanned out to
    /// every master, which would answer for other shards' writes.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use handover_code_redis::RedisStore;
    ///
    /// # async fn run() -> Result<(), handover_code::Error> {
    /// let nodes = ["redis://10.0.0.1:6379/", "redis://10.0.0.2:6379/"];
    /// // Each shard runs one master and one replica.
    /// let store = RedisStore::connect_cluster(&nodes, Duration::from_secs(3))
    ///     .await?
    ///     .with_replicated_writes(1, Duration::from_millis(500))?;
    /// # drop(store);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] for 0 replicas (which would wait for nothing) or a zero timeout
    /// (which `WAIT` reads as "forever").
    pub fn with_replicated_writes(
        mut self,
        replicas: u32,
        timeout: Duration,
    ) -> Result<Self, Error> {
        own_error(|| {
            // WAIT takes a signed 64-bit count of milliseconds.
            let timeout_ms = u64::try_from(timeout.as_millis())
                .unwrap_or(u64::MAX)
                .min(i64::MAX.unsigned_abs());
            if replicas == 0 || timeout_ms == 0 {
                return Err(RedisError::Config(
                    "replicated writes wait for at least 1 replica, for at least 1 ms".to_string(),
                ));
            }
            self.replicated = Some(Replicated {
                replicas,
                timeout_ms,
                waiters: Arc::new(Waiters::new()),
            });
            Ok(self)
        })
    }

    /// Runs `source` (a script answering 1 when it wrote, 0 when it did not) with `keys`
    /// and `args`, followed in one pipeline, on a waiting connection of its own (to the
    /// master of the first key's slot), by `WAIT` for `wait`'s replicas: answers the
    /// script's answer once they have acknowledged what it wrote,
    /// [`RedisError::NotReplicated`] if they did not in time. Sent again while the server
    /// refuses it unrun, as [`RedisStore::run`].
    pub(super) async fn run_replicated(
        &self,
        wait: &Replicated,
        source: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<i64, RedisError> {
        let mut pipe = ::redis::pipe();
        let eval = pipe.cmd("EVAL").arg(source).arg(keys.len());
        for key in keys {
            eval.arg(*key);
        }
        for arg in args {
            eval.arg(*arg);
        }
        // WAIT covers every earlier write on its connection; behind the script on the same
        // connection, it covers the script's. The cluster client routes the pipeline by the
        // script's key, so WAIT goes to that master alone.
        pipe.cmd("WAIT").arg(wait.replicas).arg(wait.timeout_ms);
        // A permit, then a connection no other write is waiting on. The semaphore is never
        // closed; were it, the write would go ahead unlimited.
        let _permit = wait.waiters.permits.acquire().await.ok();
        let connection = match wait.waiters.take() {
            Some(idle) => idle,
            None => self
                .opener
                .open()
                .await?
                .unwrap_or_else(|| self.connection.clone()),
        };
        let (wrote, acknowledged): (i64, i64) = until_run(|| async {
            match &connection {
                Connection::Single(c) => pipe.query_async(&mut c.clone()).await,
                Connection::Cluster(c) => pipe.query_async(&mut c.clone()).await,
            }
        })
        .await?;
        // It answered (whatever the replicas did): it is kept for the next write.
        wait.waiters.give_back(connection);
        if wrote == 1 && acknowledged < i64::from(wait.replicas) {
            return Err(RedisError::NotReplicated {
                acknowledged,
                wanted: wait.replicas,
            });
        }
        Ok(wrote)
    }
}
