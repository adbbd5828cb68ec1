//! The store traits on [`PgStore`]: loads retried past lost races, compare-and-swaps,
//! transactions, the confirmation, and the audit log read back. Each method answers the
//! store's own error, turned into the core's by its one `From` ([`crate::error`]).

use std::vec::Vec;

use core::time::Duration;

use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::sql;
use handover_code::store::{AsyncAuditLog, AuditEntry, Cursor};
use handover_code::{AsyncStore, Error, Key, Swap, Timestamp};

use super::PgStore;
use super::write::{lost_race, read_row};
use crate::error::SqlxError;

/// How many times a load refused by a serialization failure is tried again before the
/// failure is answered.
pub(super) const LOAD_TRIES: u32 = 16;

/// A compare-and-swap's answer: a serialization failure or a deadlock rolled its
/// transaction back, so nothing was written, which is a conflict.
fn lost_is_conflict(result: Result<Swap, SqlxError>) -> Result<Swap, Error> {
    match result {
        Err(e) if lost_race(&e) => Ok(Swap::Conflict),
        other => Ok(other?),
    }
}

impl AsyncStore for PgStore {
    type Error = Error;
    const TRANSACTIONS: bool = true;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        let mut tries: u32 = 1;
        loop {
            match self.load_once(key).await {
                Err(e) if lost_race(&e) && tries < LOAD_TRIES => {
                    // A short pause that grows, so that the winners finish first.
                    tokio::time::sleep(Duration::from_millis(u64::from(tries))).await;
                    tries = tries.saturating_add(1);
                }
                found => return Ok(found?),
            }
        }
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        lost_is_conflict(self.swap_once(key, expected, record, new).await)
    }

    /// The write and its audit row in one statement (a data-modifying `WITH`): one
    /// transaction, so a killed backend or a lost connection leaves both or neither.
    async fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Error> {
        lost_is_conflict(self.swap_audited(entry, record).await)
    }

    /// Every write and its audit row in one transaction, at the pool's isolation level: each
    /// write is a conditional statement, so read committed suffices (a row another
    /// transaction changed meanwhile fails its version check).
    async fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Error> {
        if !handover_code::store::distinct_keys(writes, unchanged) {
            return Ok(Swap::Conflict);
        }
        lost_is_conflict(self.swap_all(writes, unchanged).await)
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, Error> {
        Ok(self.prune_expired(before).await?)
    }

    /// The row's version checked in a transaction of its own whose only write is a logical
    /// message to the WAL (no row written, no row lock taken): its commit waits for a
    /// synchronous standby (`synchronous_commit` on) as every write's does, and covers every
    /// commit before it, the read record's among them; concurrent replays never contend.
    async fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, Error> {
        lost_is_conflict(
            self.confirm(key, version)
                .await
                .map(|still| if still { Swap::Swapped } else { Swap::Conflict }),
        )
    }
}

impl AsyncAuditLog for PgStore {
    async fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Error> {
        let rows = sqlx::query(self.sql.history.clone())
            .bind(i16::from(key.kind()))
            .bind(key.namespace())
            .bind(key.id())
            .fetch_all(&self.pool)
            .await
            .map_err(SqlxError::from)?;
        Ok(rows.iter().map(read_row).collect::<Result<_, _>>()?)
    }

    /// Entries of transactions that have all finished, in transaction order: an entry of a
    /// transaction older than one still running waits for the next call. A session that
    /// keeps a transaction open for long (with a transaction id) holds shipping back.
    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        let (tx, seq) = cursor.parts();
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let rows = sqlx::query(self.sql.since.clone())
            .bind(signed(tx))
            .bind(signed(seq))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(SqlxError::from)?;
        Ok(rows.iter().map(read_row).collect::<Result<_, _>>()?)
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, Error> {
        let done = sqlx::query(self.sql.prune_audit.clone())
            .bind(sql::time_to_sql(before))
            .execute(&self.pool)
            .await
            .map_err(SqlxError::from)?;
        Ok(done.rows_affected())
    }
}
