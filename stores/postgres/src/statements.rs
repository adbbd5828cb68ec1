//! The SQL a [`PostgresStore`](super::PostgresStore) runs, for its table names: the
//! defaults (`handover_records`, `handover_schema`) or a host's prefix. Pure: no I/O here.

use std::format;
use std::string::String;

use handover_code::store::sql::{DEFAULT_TABLE_PREFIX, POSTGRES_SCHEMA};

/// Every statement, for one prefix.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) load: String,
    /// A record's version alone, share-locked: a transaction's check that a key is
    /// unchanged, which no other transaction may then change until this one ends.
    pub(crate) version: String,
    pub(crate) insert: String,
    pub(crate) update: String,
    /// Whether a record's version is still the one read, in a transaction whose only write
    /// is a transactional logical message (`pg_logical_emit_message`, open to every role,
    /// at any `wal_level` from `replica` up; decoders ignore its prefix): it writes no row,
    /// so concurrent confirmations never lock or conflict with each other, yet having
    /// written WAL under a transaction id its commit waits for a synchronous standby like
    /// any write's, up to a point after the record's own commit. (A transaction that only
    /// takes an id, `txid_current()`, writes a commit record that PostgreSQL does not wait
    /// for: the replay door test showed it.)
    pub(crate) confirm: String,
    pub(crate) prune: String,
    pub(crate) schema: String,
    pub(crate) read_version: String,
    pub(crate) write_version: String,
    pub(crate) records: String,
    /// The audited compare-and-swaps: the record write and its audit row in one statement.
    pub(crate) insert_audited: String,
    pub(crate) update_audited: String,
    pub(crate) history: String,
    pub(crate) since: String,
    pub(crate) prune_audit: String,
    pub(crate) audit: String,
}

impl Statements {
    /// The statements on `{prefix}records` and `{prefix}schema`; the prefix is checked by
    /// `handover_code::store::sql::with_table_prefix` first.
    pub(crate) fn new(prefix: &str) -> Self {
        let records = format!("{prefix}records");
        let schema_table = format!("{prefix}schema");
        let audit = format!("{prefix}audit");
        let columns = handover_code::store::sql::AUDIT_COLUMNS;
        // The audit row is inserted from the write's RETURNING: no write, no row, and both
        // commit or roll back together, in the statement's one transaction.
        let audit_insert = format!(
            "INSERT INTO {audit} (tx, {columns}) SELECT pg_current_xact_id()::text::bigint,"
        );
        Self {
            load: format!(
                "SELECT record, version FROM {records} WHERE kind = $1 AND namespace = $2 AND id = $3"
            ),
            version: format!(
                "SELECT version FROM {records} WHERE kind = $1 AND namespace = $2 AND id = $3 FOR SHARE"
            ),
            insert: format!(
                "INSERT INTO {records} (kind, namespace, id, version, record, prune_at)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, namespace, id) DO NOTHING"
            ),
            update: format!(
                "UPDATE {records} SET version = $4, record = $5, prune_at = $6
    WHERE kind = $1 AND namespace = $2 AND id = $3 AND version = $7"
            ),
            confirm: format!(
                "SELECT pg_logical_emit_message(true, 'handover-code', 'confirm'), EXISTS
    (SELECT 1 FROM {records} WHERE kind = $1 AND namespace = $2 AND id = $3 AND version = $4)"
            ),
            prune: format!(
                "DELETE FROM {records} WHERE prune_at < $1 AND (kind, namespace, id) IN
    (SELECT kind, namespace, id FROM {records} WHERE prune_at < $1 LIMIT $2)"
            ),
            schema: POSTGRES_SCHEMA.replace(DEFAULT_TABLE_PREFIX, prefix),
            insert_audited: format!(
                "WITH written AS (INSERT INTO {records} (kind, namespace, id, version, record, prune_at)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, namespace, id) DO NOTHING RETURNING 1)
{audit_insert} $7, $1, $2, $3, $8, $9, $10, $11, $12, $13, $14, $15, NULL::bigint, $4 FROM written"
            ),
            update_audited: format!(
                "WITH written AS (UPDATE {records} SET version = $4, record = $5, prune_at = $6
    WHERE kind = $1 AND namespace = $2 AND id = $3 AND version = $7 RETURNING 1)
{audit_insert} $8, $1, $2, $3, $9, $10, $11, $12, $13, $14, $15, $16, $7, $4 FROM written"
            ),
            history: format!(
                "SELECT tx, seq, {columns} FROM {audit} WHERE kind = $1 AND namespace = $2 AND id = $3 ORDER BY seq"
            ),
            // Only transactions older than every one still running: none of those can commit
            // an entry later, so a cursor past them is final.
            since: format!(
                "SELECT tx, seq, {columns} FROM {audit} WHERE (tx, seq) > ($1, $2)
    AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint ORDER BY tx, seq LIMIT $3"
            ),
            prune_audit: format!("DELETE FROM {audit} WHERE at < $1"),
            read_version: format!("SELECT version FROM {schema_table}"),
            write_version: format!("INSERT INTO {schema_table} (version) VALUES ($1)"),
            records,
            audit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Statements;
    use crate::PostgresStore;
    use handover_code::store::sql::DEFAULT_TABLE_PREFIX;

    #[test]
    fn the_default_prefix_gives_the_published_statements() {
        let s = Statements::new(DEFAULT_TABLE_PREFIX);
        assert_eq!(s.schema, PostgresStore::SCHEMA);
        assert_eq!(s.prune, PostgresStore::PRUNE);
        assert_eq!(s.records, "handover_records");
    }
}
