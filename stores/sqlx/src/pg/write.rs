//! The SQL of each call: a load, a compare-and-swap with its audit row, a transaction, the
//! confirmation, and prune in batches.

use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};

use handover_code::Key;
use handover_code::Swap;
use handover_code::Timestamp;
use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::AuditEntry;
use handover_code::store::sql::{self, AuditRow};

use super::PgStore;
use crate::error::{self, SqlxError};

/// Whether the server refused a statement only because a concurrent transaction won
/// (serialization failure 40001, deadlock 40P01): nothing was written, and trying again is
/// the answer. At repeatable read and serializable these are how a lost race arrives.
pub(super) fn lost_race(e: &SqlxError) -> bool {
    error::code(e).is_some_and(|c| c == "40001" || c == "40P01")
}

/// The rows a statement changed, as a compare-and-swap's answer.
const fn swapped(changed: u64) -> Swap {
    if changed == 1 {
        Swap::Swapped
    } else {
        Swap::Conflict
    }
}

impl PgStore {
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
        self.write_on(async |conn| Ok(swapped(query.execute(conn).await?.rows_affected())))
            .await
    }

    pub(super) async fn swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, SqlxError> {
        self.write_on(async |conn| self.write_audited(conn, entry, record).await)
            .await
    }

    /// Every write and its audit row in one transaction, in order, then every unchanged
    /// key's version read `FOR SHARE`: the first that finds another version rolls
    /// everything back as a conflict. The share lock keeps a write to that key (a wrong
    /// code's failure) out until this transaction ends, so at every isolation level the
    /// check still holds when the transaction commits; a failure already written and not
    /// yet committed is waited for and then seen. Locks are taken booking first, verifier
    /// second, by every verification, so two of them never wait for each other in a
    /// circle.
    pub(super) async fn swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, SqlxError> {
        self.write_on(async |conn| {
            let mut tx = conn.begin().await?;
            for (entry, record) in writes {
                if self.write_audited(&mut tx, entry, record).await? == Swap::Conflict {
                    tx.rollback().await?;
                    return Ok(Swap::Conflict);
                }
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
        })
        .await
    }

    /// The write and its audit row in one statement (a data-modifying `WITH`), on `conn`
    /// (a pooled connection, or a transaction's).
    async fn write_audited(
        &self,
        conn: &mut PgConnection,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, SqlxError> {
        let (buf, len) = sql::encode(record);
        let bytes = buf.get(..len).unwrap_or_default();
        let row = AuditRow::of(entry);
        // The record's columns, the expected version for an update, then the audit row's:
        // the statements number their parameters in this order.
        let statement = match row.prior {
            None => self.sql.insert_audited.clone(),
            Some(_) => self.sql.update_audited.clone(),
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
        let changed = query
            .bind(row.at)
            .bind(&row.context)
            .bind(&row.booking)
            .bind(&row.verifier)
            .bind(&row.request)
            .bind(&row.actor)
            .bind(&row.action)
            .bind(row.detail)
            .bind(&row.note)
            .execute(conn)
            .await?
            .rows_affected();
        Ok(swapped(changed))
    }

    /// Whether `key` is still at `version`, read in a transaction of its own whose only write
    /// is a logical message to the WAL, within the commit wait.
    pub(super) async fn confirm(&self, key: Key<'_>, version: Version) -> Result<bool, SqlxError> {
        let query = sqlx::query(self.sql.confirm.clone())
            .bind(i16::from(key.kind()))
            .bind(key.namespace())
            .bind(key.id())
            .bind(sql::version_to_sql(version));
        self.write_on(async |conn| Ok(query.fetch_one(conn).await?.try_get(1)?))
            .await
    }

    /// In batches of [`PgStore::with_prune_batch`] rows, each its own statement within the
    /// statement timeout; a batch refused by a serialization failure is tried again.
    pub(super) async fn prune_expired(&self, before: Timestamp) -> Result<u64, SqlxError> {
        let mut removed = 0u64;
        let mut lost = 0;
        loop {
            match self.prune_one_batch(before, self.prune_batch).await {
                Ok(batch) => {
                    removed = removed.saturating_add(batch);
                    if batch < u64::from(self.prune_batch) {
                        return Ok(removed);
                    }
                }
                Err(e) if lost_race(&e) && lost < super::faces::LOAD_TRIES => {
                    lost = lost.saturating_add(1);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// An audit row as read by the history and since statements.
pub(super) fn read_row(row: &PgRow) -> Result<AuditEntry, SqlxError> {
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
