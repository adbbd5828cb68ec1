//! The store traits on [`SqliteStore`]. Each method answers the store's own error, turned
//! into the core's by its one `From` ([`crate::error`]).

use std::vec::Vec;

use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::sql;
use handover_code::store::{AsyncAuditLog, AuditEntry, Cursor};
use handover_code::{AsyncStore, Error, Key, Swap, Timestamp};

use super::SqliteStore;
use super::write::read_row;
use crate::error::SqlxError;

impl AsyncStore for SqliteStore {
    type Error = Error;
    const TRANSACTIONS: bool = true;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        Ok(self.load_once(key).await?)
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        Ok(self.swap_once(key, expected, record, new).await?)
    }

    /// The write and its audit row in one transaction: a killed process leaves both or
    /// neither.
    async fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Error> {
        Ok(self
            .swap_all(core::slice::from_ref(&(*entry, *record)), &[])
            .await?)
    }

    async fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Error> {
        if !handover_code::store::distinct_keys(writes, unchanged) {
            return Ok(Swap::Conflict);
        }
        Ok(self.swap_all(writes, unchanged).await?)
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, Error> {
        Ok(self.prune_expired(before).await?)
    }
}

impl AsyncAuditLog for SqliteStore {
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

    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        let rows = sqlx::query(self.sql.since.clone())
            .bind(i64::try_from(cursor.parts().1).unwrap_or(i64::MAX))
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
