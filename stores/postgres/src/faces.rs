//! The store traits on [`PostgresStore`]: loads retried past lost races,
//! compare-and-swaps, transactions, and the audit log read back.

use std::vec::Vec;

use core::time::Duration;

use deadpool_postgres::GenericClient;

use handover_code::Error;
use handover_code::Key;
use handover_code::Timestamp;
use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::sql::{self, AuditRow};
use handover_code::store::{AsyncAuditLog, AuditEntry, Cursor};
use handover_code::{AsyncStore, Swap};

use super::{PostgresError, PostgresStore};

/// Whether the server refused a statement only because a concurrent transaction won
/// (serialization failure 40001, deadlock 40P01): nothing was written, and trying again is
/// the answer. At repeatable read and serializable these are how a lost race arrives.
pub(super) fn lost_race(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// How many times a load refused by a serialization failure is tried again before the
/// failure is answered.
pub(super) const LOAD_TRIES: u32 = 16;

impl AsyncStore for PostgresStore {
    type Error = Error;
    const TRANSACTIONS: bool = true;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        let result: Result<Option<(Record, Version)>, PostgresError> = async {
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
        .await;
        Ok(result?)
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        let result: Result<Swap, PostgresError> = async {
            match self.swap_once(key, expected, record, new).await {
                // The statement's transaction was rolled back: nothing was written.
                Err(PostgresError::Postgres(e)) if lost_race(&e) => Ok(Swap::Conflict),
                swapped => swapped,
            }
        }
        .await;
        Ok(result?)
    }

    /// The write and its audit row in one statement (a data-modifying `WITH`): one
    /// transaction, so a killed backend or a lost connection leaves both or neither.
    async fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Error> {
        let result: Result<Swap, PostgresError> = async {
            match self.swap_audited(entry, record).await {
                Err(PostgresError::Postgres(e)) if lost_race(&e) => Ok(Swap::Conflict),
                swapped => swapped,
            }
        }
        .await;
        Ok(result?)
    }

    /// Every write and its audit row in one transaction, at the pool's isolation level: each
    /// write is a conditional statement, so read committed suffices (a row another
    /// transaction changed meanwhile fails its version check). A serialization failure or a
    /// deadlock rolled the transaction back: a conflict.
    async fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Error> {
        let result: Result<Swap, PostgresError> = async {
            if !handover_code::store::distinct_keys(writes, unchanged) {
                return Ok(Swap::Conflict);
            }
            match self.swap_all(writes, unchanged).await {
                Err(PostgresError::Postgres(e)) if lost_race(&e) => Ok(Swap::Conflict),
                swapped => swapped,
            }
        }
        .await;
        Ok(result?)
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, Error> {
        self.prune_expired(before).await
    }

    /// The row's version checked in a transaction of its own whose only write is a logical
    /// message to the WAL (no row written, no row lock taken): its commit waits for a
    /// synchronous standby (`synchronous_commit` on) as every write's does, and covers every
    /// commit before it, the read record's among them; concurrent replays never contend.
    async fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, Error> {
        let result: Result<Swap, PostgresError> = async {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [
                &i16::from(key.kind()),
                &key.namespace(),
                &key.id(),
                &sql::version_to_sql(version),
            ];
            Ok(match self.confirm_one(&self.sql.confirm, &params).await {
                Ok(true) => Swap::Swapped,
                Ok(false) => Swap::Conflict,
                Err(PostgresError::Postgres(e)) if lost_race(&e) => Swap::Conflict,
                Err(e) => return Err(e),
            })
        }
        .await;
        Ok(result?)
    }
}

impl AsyncAuditLog for PostgresStore {
    async fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Error> {
        let result: Result<Vec<AuditEntry>, PostgresError> = async {
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
        .await;
        Ok(result?)
    }

    /// Entries of transactions that have all finished, in transaction order: an entry of a
    /// transaction older than one still running waits for the next call. A session that
    /// keeps a transaction open for long (with a transaction id) holds shipping back.
    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        let result: Result<Vec<AuditEntry>, PostgresError> = async {
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
        .await;
        Ok(result?)
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, Error> {
        let result: Result<u64, PostgresError> = async {
            let client = self.pool.get().await?;
            let stmt = client.prepare_cached(&self.sql.prune_audit).await?;
            Ok(client.execute(&stmt, &[&sql::time_to_sql(before)]).await?)
        }
        .await;
        Ok(result?)
    }
}

/// An audit row as read by the history and since statements.
pub(super) fn read_row(row: &tokio_postgres::Row) -> Result<AuditEntry, PostgresError> {
    Ok(AuditRow {
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
    }
    .into_entry(row.try_get(0)?, row.try_get(1)?)?)
}
