//! The SQL of each call: a load, a compare-and-swap with its audit row, a transaction, and
//! prune in batches.

use std::vec;
use std::vec::Vec;

use deadpool_postgres::GenericClient;

use handover_code::Error;
use handover_code::Key;
use handover_code::Swap;
use handover_code::Timestamp;
use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::sql::{self, AuditRow};

use super::faces::{LOAD_TRIES, lost_race};
use super::{PostgresError, PostgresStore};

impl PostgresStore {
    pub(super) async fn load_once(
        &self,
        key: Key<'_>,
    ) -> Result<Option<(Record, Version)>, PostgresError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(&self.sql.load).await?;
        let row = client
            .query_opt(
                &stmt,
                &[&i16::from(key.kind()), &key.namespace(), &key.id()],
            )
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
    ) -> Result<Swap, PostgresError> {
        let (buf, len) = sql::encode(record);
        let bytes = buf.get(..len).unwrap_or_default();
        let kind = i16::from(key.kind());
        let (namespace, id) = (key.namespace(), key.id());
        let new_sql = sql::version_to_sql(new);
        let prune_at = sql::prune_at(record);
        let changed = match expected {
            None => {
                self.write_one(
                    &self.sql.insert,
                    &[&kind, &namespace, &id, &new_sql, &bytes, &prune_at],
                )
                .await?
            }
            Some(v) => {
                let expected = sql::version_to_sql(v);
                self.write_one(
                    &self.sql.update,
                    &[
                        &kind, &namespace, &id, &new_sql, &bytes, &prune_at, &expected,
                    ],
                )
                .await?
            }
        };
        Ok(if changed == 1 {
            Swap::Swapped
        } else {
            Swap::Conflict
        })
    }
}

/// In batches of [`PostgresStore::with_prune_batch`] rows, each its own statement within the
/// statement timeout; a batch refused by a serialization failure is tried again.
impl PostgresStore {
    pub(super) async fn swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, PostgresError> {
        self.write_on(async |client| self.write_audited(&*client, entry, record).await)
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
    ) -> Result<Swap, PostgresError> {
        self.write_on(async |client| self.swap_all_on(client, writes, unchanged).await)
            .await
    }

    /// [`PostgresStore::swap_all`] on `client`.
    async fn swap_all_on(
        &self,
        client: &mut deadpool_postgres::Object,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, PostgresError> {
        let tx = client.transaction().await?;
        for (entry, record) in writes {
            if self.write_audited(&tx, entry, record).await? == Swap::Conflict {
                tx.rollback().await?;
                return Ok(Swap::Conflict);
            }
        }
        for (key, expected) in unchanged {
            let stmt = tx.prepare_cached(&self.sql.version).await?;
            let stored: Option<i64> = tx
                .query_opt(
                    &stmt,
                    &[&i16::from(key.kind()), &key.namespace(), &key.id()],
                )
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
            if stored != expected.map(sql::version_to_sql) {
                tx.rollback().await?;
                return Ok(Swap::Conflict);
            }
        }
        tx.commit().await?;
        Ok(Swap::Swapped)
    }

    /// The write and its audit row in one statement (a data-modifying `WITH`), on `client`
    /// (a pooled connection, or a transaction).
    pub(super) async fn write_audited(
        &self,
        client: &impl GenericClient,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, PostgresError> {
        let (buf, len) = sql::encode(record);
        let bytes = buf.get(..len).unwrap_or_default();
        let prune_at = sql::prune_at(record);
        let row = AuditRow::of(entry);
        let (kind, namespace, id, new_sql) = (row.kind, &row.namespace, &row.id, row.version);
        // The record's columns, the expected version for an update, then the audit row's:
        // the statements number their parameters in this order.
        let (statement, expected) = match &row.prior {
            None => (&self.sql.insert_audited, None),
            Some(v) => (&self.sql.update_audited, Some(v)),
        };
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            vec![&kind, namespace, id, &new_sql, &bytes, &prune_at];
        params.extend(expected.map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)));
        params.extend([
            &row.at as &(dyn tokio_postgres::types::ToSql + Sync),
            &row.context,
            &row.booking,
            &row.verifier,
            &row.request,
            &row.actor,
            &row.action,
            &row.detail,
            &row.note,
        ]);
        let stmt = client.prepare_cached(statement).await?;
        let changed = client.execute(&stmt, &params).await?;
        Ok(if changed == 1 {
            Swap::Swapped
        } else {
            Swap::Conflict
        })
    }
}

impl PostgresStore {
    /// What [`Store::prune`](handover_code::AsyncStore::prune) does on this store.
    pub(crate) async fn prune_expired(&self, before: Timestamp) -> Result<u64, Error> {
        let result: Result<u64, PostgresError> = async {
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
                    Err(PostgresError::Postgres(e)) if lost_race(&e) && lost < LOAD_TRIES => {
                        lost = lost.saturating_add(1);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        .await;
        Ok(result?)
    }
}
