//! The SQL a [`SqliteStore`](super::SqliteStore) runs, for its table names: the defaults
//! (`handover_records`, `handover_schema`, `handover_audit`, the tables of
//! `handover-code-sqlite` too) or a host's prefix. Pure: no I/O here.

use std::format;
use std::string::String;
use std::sync::Arc;

use handover_code::store::sql::{DEFAULT_TABLE_PREFIX, SQLITE_SCHEMA};
use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};

/// A statement built for a prefix (checked by `handover_code::store::sql::with_table_prefix`),
/// held as sqlx takes it: cloning it shares the text.
fn sql(text: String) -> SqlStr {
    AssertSqlSafe(Arc::<str>::from(text)).into_sql_str()
}

/// Every statement, for one prefix.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) load: SqlStr,
    pub(crate) version: SqlStr,
    pub(crate) insert: SqlStr,
    pub(crate) update: SqlStr,
    pub(crate) audit_insert: SqlStr,
    pub(crate) prune: SqlStr,
    pub(crate) read_version: SqlStr,
    pub(crate) write_version: SqlStr,
    pub(crate) history: SqlStr,
    pub(crate) since: SqlStr,
    pub(crate) prune_audit: SqlStr,
    pub(crate) schema: String,
    pub(crate) records: String,
    pub(crate) audit: String,
}

impl Statements {
    /// The statements on `{prefix}records`, `{prefix}schema` and `{prefix}audit`; the prefix
    /// is checked by `handover_code::store::sql::with_table_prefix` first.
    pub(crate) fn new(prefix: &str) -> Self {
        let records = format!("{prefix}records");
        let schema_table = format!("{prefix}schema");
        let audit = format!("{prefix}audit");
        let columns = handover_code::store::sql::AUDIT_COLUMNS;
        let key = "kind = ?1 AND namespace = ?2 AND id = ?3";
        Self {
            load: sql(format!("SELECT record, version FROM {records} WHERE {key}")),
            version: sql(format!("SELECT version FROM {records} WHERE {key}")),
            insert: sql(format!(
                "INSERT INTO {records} (kind, namespace, id, version, record, prune_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, namespace, id) DO NOTHING"
            )),
            update: sql(format!(
                "UPDATE {records} SET version = ?4, record = ?5, prune_at = ?6
    WHERE {key} AND version = ?7"
            )),
            audit_insert: sql(format!(
                "INSERT INTO {audit} ({columns})
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            )),
            prune: sql(format!(
                "DELETE FROM {records} WHERE prune_at < ?1 AND (kind, namespace, id) IN
    (SELECT kind, namespace, id FROM {records} WHERE prune_at < ?1 LIMIT ?2)"
            )),
            read_version: sql(format!("SELECT version FROM {schema_table}")),
            write_version: sql(format!("INSERT INTO {schema_table} (version) VALUES (?1)")),
            history: sql(format!(
                "SELECT seq, {columns} FROM {audit} WHERE {key} ORDER BY seq"
            )),
            // One writer at a time: rows are numbered in commit order, so `seq` alone is final.
            since: sql(format!(
                "SELECT seq, {columns} FROM {audit} WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            )),
            prune_audit: sql(format!("DELETE FROM {audit} WHERE at < ?1")),
            schema: SQLITE_SCHEMA.replace(DEFAULT_TABLE_PREFIX, prefix),
            records,
            audit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Statements;
    use crate::SqliteStore;
    use handover_code::store::sql::DEFAULT_TABLE_PREFIX;

    #[test]
    fn the_default_prefix_gives_the_published_statements() {
        let s = Statements::new(DEFAULT_TABLE_PREFIX);
        assert_eq!(s.schema, SqliteStore::SCHEMA);
        assert_eq!(s.records, "handover_records");
        assert_eq!(s.audit, "handover_audit");
    }
}
