//! Writes bounded while a synchronous standby confirms their commits
//! ([`PgStore::with_synchronous_standby`]), and their connections kept out of the pool when
//! the bound is reached or the call is dropped.

use core::time::Duration;

use sqlx::PgConnection;
use sqlx::pool::PoolConnection;
use sqlx::postgres::Postgres;

use super::PgStore;
use crate::error::SqlxError;

impl PgStore {
    /// Bounds every record write (a compare-and-swap, a transaction, a confirmation), its
    /// commit's wait for a synchronous standby included, by `commit_wait` (prune,
    /// `prune_audit` and `create_schema` are not bounded: their commits wait as long as the
    /// standby is away): a write not done in time answers a retryable
    /// [`Error::Store`](handover_code::Error::Store), never an outcome, and its connection is
    /// left to finish outside the pool.
    ///
    /// Why: with `synchronous_standby_names` set and `synchronous_commit` on, PostgreSQL
    /// makes each commit wait for the standby, and the statement timeout does not cut that
    /// wait short (the server turns it off before the commit). While the standby is away
    /// every write would hang until the host gives up, and a host timeout that drops the
    /// call would hand its connection back to the pool with the commit still waiting. This
    /// turns the hang into an error a retry can replay. A commit whose wait is cancelled some
    /// other way (`pg_cancel_backend`, a terminated backend, the primary restarting) becomes
    /// visible on the primary unconfirmed: a replayed answer read from it is confirmed first
    /// ([`AsyncStore::make_durable`](handover_code::AsyncStore::make_durable) checks the
    /// row's version in a transaction that writes no row, only a logical message to the
    /// WAL, so its commit waits for the standby like any other, and concurrent confirmations
    /// never contend).
    ///
    /// The server side is the host's: `synchronous_standby_names` naming the standby (or
    /// `'*'`), and a pool that reaches whichever node is primary after a failover. What it
    /// cannot promise: a standby that the failover manager drops from
    /// `synchronous_standby_names` (to keep the primary writable while it is away) confirms
    /// nothing, and writes committed meanwhile are only on the primary.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use handover_code_sqlx::PgStore;
    ///
    /// # async fn run() -> Result<(), handover_code::Error> {
    /// let store = PgStore::connect("postgres://app@10.0.0.1/app", 16, Duration::from_secs(3))
    ///     .await?
    ///     .with_synchronous_standby(Duration::from_secs(2));
    /// # drop(store);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_synchronous_standby(mut self, commit_wait: Duration) -> Self {
        self.commit_wait = Some(commit_wait.max(Duration::from_millis(1)));
        self
    }

    /// Runs `write` (its commit included) on a pooled connection, within the commit wait if
    /// one is set: a write cut off by it answers [`SqlxError::Unconfirmed`], and its
    /// connection stays out of the pool ([`Lent`]).
    pub(super) async fn write_on<T>(
        &self,
        write: impl AsyncFnOnce(&mut PgConnection) -> Result<T, SqlxError>,
    ) -> Result<T, SqlxError> {
        let mut lent = Lent {
            conn: Some(self.pool.acquire().await?),
            finished: self.commit_wait.is_none(),
        };
        let call = async { write(lent.get()?).await };
        let result = match self.commit_wait {
            None => call.await,
            Some(wait) => {
                tokio::time::timeout(wait, call)
                    .await
                    .unwrap_or(Err(SqlxError::Unconfirmed {
                        waited_ms: wait.as_millis(),
                    }))
            }
        };
        lent.finished = !matches!(result, Err(SqlxError::Unconfirmed { .. }));
        result
    }
}

/// A pooled connection lent to one write. With a synchronous standby it goes back to the
/// pool only once the write has finished: a write cut off, by the commit wait or by the
/// caller dropping the call (a host's own timeout), may have its commit still waiting for
/// the standby, so the connection is detached from the pool and dropped, and the pool opens
/// another. (Its backend waits until the standby confirms or the primary goes: during a
/// long standby outage such backends add up towards the server's `max_connections`, and
/// new connections are then refused, as errors.)
struct Lent {
    conn: Option<PoolConnection<Postgres>>,
    finished: bool,
}

impl Lent {
    /// The connection. (It is there until the guard drops; were it not, the answer is the
    /// pool's "closed".)
    fn get(&mut self) -> Result<&mut PgConnection, SqlxError> {
        self.conn
            .as_deref_mut()
            .ok_or(SqlxError::Sqlx(sqlx::Error::PoolClosed))
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let (false, Some(conn)) = (self.finished, self.conn.take()) {
            drop(conn.detach());
        }
    }
}
