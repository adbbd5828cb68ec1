//! The SQL of each call: a load, a compare-and-swap, the audited writes of a transaction in
//! one `BEGIN IMMEDIATE`, and prune in batches.

use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row};

use core::time::Duration;

use handover_code::Key;
use handover_code::Swap;
use handover_code::Timestamp;
use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::AuditEntry;
use handover_code::store::sql::{self, AuditRow};

use super::SqliteStore;
use crate::error::SqlxError;

/// The rows a statement changed, as a compare-and-swap's answer.
const fn swapped(changed: u64) -> Swap {
    if changed == 1 {
        Swap::Swapped
    } else {
        Swap::Conflict
    }
}

impl SqliteStore {
    pub(super) async fn load_once(
        &self,
        key: Key<'_>,
    ) -> Result<Option<(Record, Version)>, SqlxError> {
        let row = sqlx::query(self.sql.load.clone())
            .bind(i16::from(key.kind()))
            .bind(key.namespace())
            .bind(key.id())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let bytes: &[u8] = row.try_get(0)?;
        let version: i64 = row.try_get(1)?;
        Ok(Some((sql::decode(bytes)?, sql::version_from_sql(version))))
    }

    /// The compare-and-swap's one statement: an insert if absent, or an update of the
    /// expected version, judged by the rows it changed.
    pub(super) async fn swap_once(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, SqlxError> {
        let (buf, len) = sql::encode(record);
        let bytes = buf.get(..len).unwrap_or_default();
        let statement = match expected {
            None => self.sql.insert.clone(),
            Some(_) => self.sql.update.clone(),
        };
        let query = sqlx::query(statement)
            .bind(i16::from(key.kind()))
            .bind(key.namespace())
            .bind(key.id())
            .bind(sql::version_to_sql(new))
            .bind(bytes)
            .bind(sql::prune_at(record));
        let query = match expected {
            None => query,
            Some(v) => query.bind(sql::version_to_sql(v)),
        };
        Ok(swapped(query.execute(&self.pool).await?.rows_affected()))
    }

    /// Every write and its audit row in one `BEGIN IMMEDIATE` transaction, in order, then
    /// every unchanged key's version read: the first write or read that finds another
    /// version rolls everything back as a conflict. The write lock is held from the start,
    /// so nothing changes between a read and the commit.
    pub(super) async fn swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, SqlxError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        for (entry, record) in writes {
            let (buf, len) = sql::encode(record);
            let bytes = buf.get(..len).unwrap_or_default();
            let row = AuditRow::of(entry);
            let statement = match row.prior {
                None => self.sql.insert.clone(),
                Some(_) => self.sql.update.clone(),
            };
            let query = sqlx::query(statement)
                .bind(row.kind)
                .bind(&row.namespace)
                .bind(&row.id)
                .bind(row.version)
                .bind(bytes)
                .bind(sql::prune_at(record));
            let query = match row.prior {
                None => query,
                Some(v) => query.bind(v),
            };
            if swapped(query.execute(&mut *tx).await?.rows_affected()) == Swap::Conflict {
                tx.rollback().await?;
                return Ok(Swap::Conflict);
            }
            sqlx::query(self.sql.audit_insert.clone())
                .bind(row.at)
                .bind(row.kind)
                .bind(&row.namespace)
                .bind(&row.id)
                .bind(&row.context)
                .bind(&row.booking)
                .bind(&row.verifier)
                .bind(&row.request)
                .bind(&row.actor)
                .bind(&row.action)
                .bind(row.detail)
                .bind(&row.note)
                .bind(row.prior)
                .bind(row.version)
                .execute(&mut *tx)
                .await?;
        }
        for (key, expected) in unchanged {
            let stored: Option<i64> = sqlx::query_scalar(self.sql.version.clone())
                .bind(i16::from(key.kind()))
                .bind(key.namespace())
                .bind(key.id())
                .fetch_optional(&mut *tx)
                .await?;
            if stored != expected.map(sql::version_to_sql) {
                tx.rollback().await?;
                return Ok(Swap::Conflict);
            }
        }
        tx.commit().await?;
        Ok(Swap::Swapped)
    }

    /// In batches of [`SqliteStore::with_prune_batch`] rows, each its own statement, with a
    /// pause after each as long as the batch took (at most 100 ms): the write lock is free
    /// half the time, so verifications waiting in other connections get in between batches
    /// instead of waiting out the whole prune.
    pub(super) async fn prune_expired(&self, before: Timestamp) -> Result<u64, SqlxError> {
        let mut removed = 0u64;
        loop {
            let started = tokio::time::Instant::now();
            let batch = self.prune_one_batch(before, self.prune_batch).await?;
            removed = removed.saturating_add(batch);
            if batch < u64::from(self.prune_batch) {
                return Ok(removed);
            }
            let took = started.elapsed();
            tokio::time::sleep(took.clamp(Duration::from_millis(1), Duration::from_millis(100)))
                .await;
        }
    }
}

/// An audit row as read by the history and since statements (`seq`, then the columns).
pub(super) fn read_row(row: &SqliteRow) -> Result<AuditEntry, SqlxError> {
    Ok(AuditRow {
        at: row.try_get(1)?,
        kind: row.try_get(2)?,
        namespace: row.try_get(3)?,
        id: row.try_get(4)?,
        context: row.try_get(5)?,
        booking: row.try_get(6)?,
        verifier: row.try_get(7)?,
        request: row.try_get(8)?,
        actor: row.try_get(9)?,
        action: row.try_get(10)?,
        detail: row.try_get(11)?,
        note: row.try_get(12)?,
        prior: row.try_get(13)?,
        version: row.try_get(14)?,
    }
    .into_entry(0, row.try_get(0)?)?)
}
