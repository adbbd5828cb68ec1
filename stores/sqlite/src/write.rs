//! The writes: a record's compare-and-swap in one statement, a transaction's writes and
//! audit rows in one `BEGIN IMMEDIATE`, the owned batch both faces hand it, and prune.

use std::vec::Vec;

use core::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use handover_code::Error;
use handover_code::Key;
use handover_code::Swap;
use handover_code::Timestamp;
use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::sql::{self, AuditRow};
use handover_code::store::{AuditEntry, Cursor};

use super::schema::{AUDIT_INSERT, INSERT, LOAD, UPDATE, VERSION};
use super::{SqliteError, SqliteStore};

/// What the SQL needs of a [`Key`]: its kind, namespace and id, which the async face also
/// carries onto the blocking pool as owned bytes.
#[derive(Clone, Copy)]
pub(super) struct Parts<'a> {
    kind: u8,
    namespace: &'a [u8],
    id: &'a [u8],
}

impl<'a> Parts<'a> {
    pub(super) fn of(key: &'a Key<'_>) -> Self {
        Self {
            kind: key.kind(),
            namespace: key.namespace(),
            id: key.id(),
        }
    }
}

impl SqliteStore {
    pub(super) fn load_at(&self, key: Parts<'_>) -> Result<Option<(Record, Version)>, SqliteError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(LOAD)?;
            let row = stmt
                .query_row(params![key.kind, key.namespace, key.id], |r| {
                    let bytes: Vec<u8> = r.get(0)?;
                    let version: i64 = r.get(1)?;
                    Ok((bytes, version))
                })
                .optional()?;
            row.map(|(bytes, version)| Ok((sql::decode(&bytes)?, sql::version_from_sql(version))))
                .transpose()
        })
    }

    pub(super) fn swap_at(
        &self,
        key: Parts<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, SqliteError> {
        self.with(|conn| write_record(conn, key, expected, record, new))
    }
}

/// The compare-and-swap's one statement: an insert if absent, or an update of the expected
/// version, judged by the rows it changed.
pub(super) fn write_record(
    conn: &Connection,
    key: Parts<'_>,
    expected: Option<Version>,
    record: &Record,
    new: Version,
) -> Result<Swap, SqliteError> {
    let (buf, len) = sql::encode(record);
    let bytes = buf.get(..len).unwrap_or_default();
    let new_sql = sql::version_to_sql(new);
    let prune_at = sql::prune_at(record);
    let changed = match expected {
        None => conn.prepare_cached(INSERT)?.execute(params![
            key.kind,
            key.namespace,
            key.id,
            new_sql,
            bytes,
            prune_at
        ])?,
        Some(v) => conn.prepare_cached(UPDATE)?.execute(params![
            key.kind,
            key.namespace,
            key.id,
            new_sql,
            bytes,
            prune_at,
            sql::version_to_sql(v)
        ])?,
    };
    Ok(if changed == 1 {
        Swap::Swapped
    } else {
        Swap::Conflict
    })
}

/// One audited write of a transaction: the key's parts, the expected and new versions, the
/// record and its audit row.
pub(super) type Write<'w> = (
    Parts<'w>,
    Option<Version>,
    &'w Record,
    Version,
    &'w AuditRow,
);

impl SqliteStore {
    /// Every write and its audit row in one `BEGIN IMMEDIATE` transaction, in order, then
    /// every unchanged key's version read: the first write or read that finds another
    /// version rolls everything back as a conflict.
    pub(super) fn swap_audited(
        &self,
        writes: &[Write<'_>],
        unchanged: &[(Parts<'_>, Option<Version>)],
    ) -> Result<Swap, SqliteError> {
        self.with(|conn| {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let done = (|| {
                for (key, expected, record, new, row) in writes {
                    if write_record(conn, *key, *expected, record, *new)? == Swap::Conflict {
                        return Ok(Swap::Conflict);
                    }
                    conn.prepare_cached(AUDIT_INSERT)?.execute(params![
                        row.at,
                        row.kind,
                        row.namespace,
                        row.id,
                        row.context,
                        row.booking,
                        row.verifier,
                        row.request,
                        row.actor,
                        row.action,
                        row.detail,
                        row.note,
                        row.prior,
                        row.version
                    ])?;
                }
                for (key, expected) in unchanged {
                    let stored: Option<i64> = conn
                        .prepare_cached(VERSION)?
                        .query_row(params![key.kind, key.namespace, key.id], |r| r.get(0))
                        .optional()?;
                    if stored != expected.map(sql::version_to_sql) {
                        return Ok(Swap::Conflict);
                    }
                }
                conn.execute_batch("COMMIT")?;
                Ok(Swap::Swapped)
            })();
            match done {
                Ok(Swap::Swapped) => Ok(Swap::Swapped),
                other => {
                    // A conflict wrote nothing; a failure may have: roll back either way.
                    let _rolled_back = conn.execute_batch("ROLLBACK");
                    other
                }
            }
        })
    }

    pub(super) fn read_audit(
        &self,
        query: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<AuditEntry>, SqliteError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(query)?;
            let rows = stmt.query_map(params, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    AuditRow {
                        at: r.get(1)?,
                        kind: r.get(2)?,
                        namespace: r.get(3)?,
                        id: r.get(4)?,
                        context: r.get(5)?,
                        booking: r.get(6)?,
                        verifier: r.get(7)?,
                        request: r.get(8)?,
                        actor: r.get(9)?,
                        action: r.get(10)?,
                        detail: r.get(11)?,
                        note: r.get(12)?,
                        prior: r.get(13)?,
                        version: r.get(14)?,
                    },
                ))
            })?;
            let mut found = Vec::new();
            for row in rows {
                let (seq, row) = row?;
                found.push(row.into_entry(0, seq)?);
            }
            Ok(found)
        })
    }

    pub(super) fn history_at(&self, key: Parts<'_>) -> Result<Vec<AuditEntry>, SqliteError> {
        let query = std::format!(
            "SELECT seq, {} FROM handover_audit WHERE kind = ?1 AND namespace = ?2 AND id = ?3 \
             ORDER BY seq",
            sql::AUDIT_COLUMNS
        );
        self.read_audit(&query, params![key.kind, key.namespace, key.id])
    }

    pub(super) fn since_at(
        &self,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, SqliteError> {
        // One writer at a time: rows are numbered in commit order, so `seq` alone is final.
        let query = std::format!(
            "SELECT seq, {} FROM handover_audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            sql::AUDIT_COLUMNS
        );
        let after = i64::try_from(cursor.parts().1).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read_audit(&query, params![after, limit])
    }

    pub(super) fn prune_audit_at(&self, before: Timestamp) -> Result<u64, SqliteError> {
        let removed = self.with(|conn| {
            Ok(conn
                .prepare_cached("DELETE FROM handover_audit WHERE at < ?1")?
                .execute(params![sql::time_to_sql(before)])?)
        })?;
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}

/// In batches of [`SqliteStore::with_prune_batch`] rows, each its own statement, with a
/// pause after each as long as the batch took (at most 100 ms): the write lock is free half
/// the time, so verifications waiting in other connections get in between batches instead
/// of waiting out the whole prune.
impl SqliteStore {
    /// What [`Store::prune`](handover_code::Store::prune) does on this store.
    pub(crate) fn prune_expired(&self, before: Timestamp) -> Result<u64, Error> {
        let mut removed = 0u64;
        loop {
            let started = std::time::Instant::now();
            let batch = self.prune_batch(before, self.prune_batch)?;
            removed = removed.saturating_add(batch);
            if batch < u64::from(self.prune_batch) {
                return Ok(removed);
            }
            let took = started.elapsed();
            std::thread::sleep(took.clamp(Duration::from_millis(1), Duration::from_millis(100)));
        }
    }
}

/// A key's parts, owned, to cross onto the blocking pool.
pub(super) struct OwnedKey {
    kind: u8,
    namespace: Vec<u8>,
    id: Vec<u8>,
}

/// A transaction's writes and unchanged keys, owned (to cross onto the blocking pool too).
pub(super) struct Batch {
    writes: Vec<(OwnedKey, Option<Version>, Record, Version, AuditRow)>,
    unchanged: Vec<(OwnedKey, Option<Version>)>,
}

impl Batch {
    /// The batch, or `None` when it names a key twice (a conflict).
    pub(super) fn of(
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Option<Self> {
        if !handover_code::store::distinct_keys(writes, unchanged) {
            return None;
        }
        Some(Self {
            writes: writes
                .iter()
                .map(|(e, r)| (OwnedKey::of(e.key), e.prior, *r, e.version, AuditRow::of(e)))
                .collect(),
            unchanged: unchanged
                .iter()
                .map(|(key, v)| (OwnedKey::of(*key), *v))
                .collect(),
        })
    }
}

impl SqliteStore {
    /// [`SqliteStore::swap_audited`] of a [`Batch`].
    pub(super) fn swap_batch(&self, batch: &Batch) -> Result<Swap, SqliteError> {
        let writes: Vec<Write<'_>> = batch
            .writes
            .iter()
            .map(|(key, expected, record, new, row)| (key.parts(), *expected, record, *new, row))
            .collect();
        let unchanged: Vec<(Parts<'_>, Option<Version>)> = batch
            .unchanged
            .iter()
            .map(|(key, v)| (key.parts(), *v))
            .collect();
        self.swap_audited(&writes, &unchanged)
    }
}

impl OwnedKey {
    pub(super) fn of(key: Key<'_>) -> Self {
        Self {
            kind: key.kind(),
            namespace: key.namespace().to_vec(),
            id: key.id().to_vec(),
        }
    }

    pub(super) fn parts(&self) -> Parts<'_> {
        Parts {
            kind: self.kind,
            namespace: &self.namespace,
            id: &self.id,
        }
    }
}
