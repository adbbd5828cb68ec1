//! Writes bounded while a synchronous standby confirms their commits
//! ([`PostgresStore::with_synchronous_standby`]), and their connections kept out of the pool
//! when the bound is reached.

use core::time::Duration;

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;

use super::{PostgresError, PostgresStore};

impl PostgresStore {
    /// Bounds every write, its commit's wait for a synchronous standby included, by
    /// `commit_wait`: a write not done in time answers a retryable
    /// [`Error::Store`](handover_code::Error::Store), never an outcome, and its connection is left
    /// to finish outside the pool.
    ///
    /// Why: with `synchronous_standby_names` set and `synchronous_commit` on, PostgreSQL
    /// makes each commit wait for the standby, and the statement timeout does not cut that
    /// wait short (the server turns it off before the commit). While the standby is away
    /// every write would hang until the host gives up, and a host timeout that drops the
    /// call hands its connection back to the pool with the commit still waiting, so the
    /// next call queues behind it. Nothing answered is lost either way (the answer waits
    /// for the commit); this turns the hang into an error a retry can replay. A commit
    /// whose wait is cancelled some other way (`pg_cancel_backend`, a terminated backend,
    /// the primary restarting) becomes visible on the primary unconfirmed: a replayed
    /// acceptance read from it is confirmed first
    /// ([`AsyncStore::make_durable`](handover_code::AsyncStore::make_durable) checks the row's
    /// version in a transaction that writes no row, only a logical message to the WAL, so
    /// its commit waits for the standby like any other, and concurrent confirmations never
    /// contend).
    ///
    /// The server side is the host's: `synchronous_standby_names` naming the standby (or
    /// `'*'`), and a connection string that reaches whichever node is primary after a
    /// failover (`host=db1,db2 port=5432,5432 target_session_attrs=read-write`, which
    /// `tokio_postgres` follows). What it cannot promise: a standby that the failover
    /// manager drops from `synchronous_standby_names` (to keep the primary writable while it
    /// is away) confirms nothing, and writes committed meanwhile are only on the primary.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use handover_code_postgres::PostgresStore;
    ///
    /// # fn run() -> Result<(), handover_code::Error> {
    /// let params = "host=10.0.0.1,10.0.0.2 port=5432,5432 user=app dbname=app \
    ///               target_session_attrs=read-write";
    /// let store = PostgresStore::connect(params, 16, Duration::from_secs(3))?
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
    /// one is set: a write cut off by it answers [`PostgresError::Unconfirmed`], and its
    /// connection stays out of the pool ([`Lent`]).
    pub(super) async fn write_on<T>(
        &self,
        write: impl AsyncFnOnce(&mut Object) -> Result<T, PostgresError>,
    ) -> Result<T, PostgresError> {
        let mut lent = Lent {
            client: Some(self.pool.get().await?),
            finished: self.commit_wait.is_none(),
        };
        let call = async { write(lent.get()?).await };
        let result =
            match self.commit_wait {
                None => call.await,
                Some(wait) => tokio::time::timeout(wait, call).await.unwrap_or(Err(
                    PostgresError::Unconfirmed {
                        waited_ms: wait.as_millis(),
                    },
                )),
            };
        lent.finished = !matches!(result, Err(PostgresError::Unconfirmed { .. }));
        result
    }

    /// Runs `statement` (a query answering a row whose second column is a `bool`) with
    /// `params` in a transaction of its own (autocommit) within the commit wait, and
    /// answers that `bool`: how [`AsyncStore::make_durable`](handover_code::AsyncStore::make_durable)
    /// confirms a row without writing it.
    pub(super) async fn confirm_one(
        &self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<bool, PostgresError> {
        self.write_on(async |client| {
            let stmt = client.prepare_cached(statement).await?;
            Ok(client.query_one(&stmt, params).await?.try_get(1)?)
        })
        .await
    }

    /// Runs `statement` with `params` as one write (autocommit) within the commit wait, and
    /// answers the rows it changed.
    pub(super) async fn write_one(
        &self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, PostgresError> {
        self.write_on(async |client| {
            let stmt = client.prepare_cached(statement).await?;
            Ok(client.execute(&stmt, params).await?)
        })
        .await
    }
}

/// A pooled connection lent to one write. With a synchronous standby it goes back to the
/// pool only once the write has finished: a write cut off, by the commit wait or by the
/// caller dropping the call (a host's own timeout), may have its commit still waiting for
/// the standby, and the connection's next user would queue behind it, so the connection
/// is left to finish on its own, outside the pool. (Its backend waits until the standby
/// confirms or the primary goes: during a long standby outage such backends add up towards
/// `max_connections`, and new connections are then refused, as errors.)
struct Lent {
    client: Option<Object>,
    finished: bool,
}

impl Lent {
    /// The connection. (It is there until the guard drops; were it not, the answer is the
    /// pool's "closed".)
    fn get(&mut self) -> Result<&mut Object, PostgresError> {
        self.client
            .as_mut()
            .ok_or(PostgresError::Pool(deadpool_postgres::PoolError::Closed))
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let (false, Some(client)) = (self.finished, self.client.take()) {
            drop(Object::take(client));
        }
    }
}
