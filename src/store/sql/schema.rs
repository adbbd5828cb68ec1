//! The tables themselves: the schema each SQL database gets, for the default table names or
//! a host's prefix. Pure text: no I/O here.

use std::string::String;

/// The prefix of the default table names: `handover_records`, `handover_schema` and
/// `handover_audit` (and their indexes).
pub const DEFAULT_TABLE_PREFIX: &str = "handover_";

/// The schema on PostgreSQL (and PostgreSQL-wire databases), for the default table names:
/// idempotent (`IF NOT EXISTS`), run in one transaction. The audit table adds `tx`, the
/// writing transaction's id. [`with_table_prefix`] gives it for other names.
pub const POSTGRES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS handover_records (
    kind      smallint NOT NULL,
    namespace bytea    NOT NULL,
    id        bytea    NOT NULL,
    version   bigint   NOT NULL,
    record    bytea    NOT NULL,
    prune_at  bigint   NOT NULL,
    PRIMARY KEY (kind, namespace, id)
);
CREATE INDEX IF NOT EXISTS handover_records_prune ON handover_records (prune_at);
CREATE TABLE IF NOT EXISTS handover_schema (version bigint NOT NULL);
CREATE TABLE IF NOT EXISTS handover_audit (
    seq       bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx        bigint   NOT NULL,
    at        bigint   NOT NULL,
    kind      smallint NOT NULL,
    namespace bytea    NOT NULL,
    id        bytea    NOT NULL,
    context   bytea    NOT NULL,
    booking   bytea    NOT NULL,
    verifier  bytea,
    request   bytea,
    actor     bytea,
    action    text     NOT NULL,
    detail    bigint   NOT NULL,
    note      text     NOT NULL,
    prior     bigint,
    version   bigint   NOT NULL
);
CREATE INDEX IF NOT EXISTS handover_audit_record ON handover_audit (kind, namespace, id, seq);
CREATE INDEX IF NOT EXISTS handover_audit_order ON handover_audit (tx, seq);
CREATE INDEX IF NOT EXISTS handover_audit_at ON handover_audit (at);
";

/// The schema on SQLite, for the default table names: idempotent, run in one `BEGIN
/// IMMEDIATE` transaction. [`with_table_prefix`] gives it for other names.
pub const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS handover_records (
    kind      INTEGER NOT NULL,
    namespace BLOB    NOT NULL,
    id        BLOB    NOT NULL,
    version   INTEGER NOT NULL,
    record    BLOB    NOT NULL,
    prune_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, namespace, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS handover_records_prune ON handover_records (prune_at);
CREATE TABLE IF NOT EXISTS handover_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS handover_audit (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    kind      INTEGER NOT NULL,
    namespace BLOB    NOT NULL,
    id        BLOB    NOT NULL,
    context   BLOB    NOT NULL,
    booking   BLOB    NOT NULL,
    verifier  BLOB,
    request   BLOB,
    actor     BLOB,
    action    TEXT    NOT NULL,
    detail    INTEGER NOT NULL,
    note      TEXT    NOT NULL,
    prior     INTEGER,
    version   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS handover_audit_record ON handover_audit (kind, namespace, id, seq);
CREATE INDEX IF NOT EXISTS handover_audit_at ON handover_audit (at);
";

/// The longest table prefix: PostgreSQL truncates identifiers at 63 bytes, and the longest
/// name built from a prefix adds 14.
const MAX_PREFIX: usize = 40;

/// `sql` (a schema or a statement written for the default table names) for the tables
/// `{prefix}records`, `{prefix}schema` and `{prefix}audit`, or `None` unless the prefix is
/// at most 40 bytes of lowercase ASCII letters, digits and `_`, not starting with a digit:
/// it becomes part of unquoted SQL identifiers, so nothing else may pass.
///
/// ```
/// use handover_code::store::sql::{self, POSTGRES_SCHEMA};
///
/// let tenant = sql::with_table_prefix(POSTGRES_SCHEMA, "tenant_a_").unwrap();
/// assert!(tenant.contains("CREATE TABLE IF NOT EXISTS tenant_a_records ("));
/// assert!(!tenant.contains("handover_"));
/// assert_eq!(sql::with_table_prefix(POSTGRES_SCHEMA, "a; DROP TABLE x; --"), None);
/// ```
#[must_use]
pub fn with_table_prefix(sql: &str, prefix: &str) -> Option<String> {
    let bytes = prefix.as_bytes();
    let plain = bytes.len() <= MAX_PREFIX
        && bytes
            .first()
            .is_none_or(|b| b.is_ascii_lowercase() || *b == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    plain.then(|| sql.replace(DEFAULT_TABLE_PREFIX, prefix))
}

#[cfg(test)]
mod tests {
    use super::{POSTGRES_SCHEMA, SQLITE_SCHEMA, with_table_prefix};

    #[test]
    fn prefixes_are_plain_lowercase_identifiers() {
        for ok in ["", "tenant_a_", "_x", "t1_", "handover_"] {
            assert!(with_table_prefix(SQLITE_SCHEMA, ok).is_some(), "{ok}");
        }
        for bad in [
            "1t_",
            "Tenant_",
            "a-b",
            "a;drop table x;",
            "a b",
            "é_",
            &"a".repeat(41),
        ] {
            assert_eq!(with_table_prefix(POSTGRES_SCHEMA, bad), None, "{bad}");
        }
    }

    #[test]
    fn a_prefix_renames_every_table_and_index() {
        for schema in [POSTGRES_SCHEMA, SQLITE_SCHEMA] {
            let renamed = with_table_prefix(schema, "t_").unwrap();
            assert!(!renamed.contains("handover"), "{renamed}");
            for name in [
                "t_records",
                "t_schema",
                "t_audit",
                "t_records_prune",
                "t_audit_at",
            ] {
                assert!(renamed.contains(name), "{name}");
            }
        }
    }
}
