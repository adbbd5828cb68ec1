//! What any SQL store shares (feature `sql`): the tables' shape and schemas, the mapping of
//! values to SQL integers, the audit row and the batch check. The store-author API the
//! crate's SQL adapters (`handover-code-sqlite`, `handover-code-postgres`,
//! `handover-code-sqlx`) are written with; a store of
//! your own on another SQL database that uses it reads and writes the same rows as they do.
//!
//! One table holds every record:
//!
//! | column | type | holds |
//! |---|---|---|
//! | `kind` | small integer | 1 booking, 2 verifier ([`Key::kind`]) |
//! | `namespace` | bytes | the booking's context or the verifier's budget scope ([`Key::namespace`]) |
//! | `id` | bytes | the booking or verifier id |
//! | `version` | 64-bit integer | the record's [`Version`], bit for bit ([`version_to_sql`]) |
//! | `record` | bytes | [`Record::encode`] ([`encode`]) |
//! | `prune_at` | 64-bit integer | [`Record::prune_at`], order-preserving ([`prune_at`]) |
//!
//! SQL integers are signed; versions are stored with the same 64 bits reinterpreted (only
//! compared for equality), times with the top bit flipped so that their order survives.
//!
//! The audit log is a second table, `handover_audit`, one row per record write, inserted in
//! the same transaction as the write ([`AuditLog`](crate::store::AuditLog)), its values an
//! [`AuditRow`]:
//!
//! | column | type | holds |
//! |---|---|---|
//! | `seq` | 64-bit integer, increasing | the entry's place in the log |
//! | `at` | 64-bit integer | when the operation ran (order-preserving, as `prune_at`) |
//! | `kind`, `namespace`, `id` | as above | the record written |
//! | `context`, `booking` | bytes | the booking the operation was for |
//! | `verifier`, `request`, `actor` | bytes or null | who asked |
//! | `action` | text | [`Action::name`](crate::audit::Action::name) |
//! | `detail` | 64-bit integer | [`Action::detail`](crate::audit::Action::detail), bit for bit |
//! | `note` | text | an override's note, else empty |
//! | `prior`, `version` | 64-bit integers (`prior` null for a creation) | the versions the write went from and to |
//!
//! PostgreSQL adds `tx`, the writing transaction's id, so that entries are read in an order
//! no later commit can fall behind ([`AuditLog::since`](crate::store::AuditLog::since)).
//!
//! The schemas themselves are [`POSTGRES_SCHEMA`] and [`SQLITE_SCHEMA`], for the default
//! table names; [`with_table_prefix`] renames the tables for a tenant or a deployment.
//!
//! A database's refusal is transient or permanent by its own code:
//! [`is_transient_sqlstate`] (PostgreSQL) and [`is_transient_sqlite_code`] (SQLite) are the
//! rule every SQL adapter of the workspace classes its errors by
//! ([`StoreError::transient`](crate::StoreError::transient),
//! [`StoreError::permanent`](crate::StoreError::permanent)).
//!
//! ```
//! use handover_code::record::Version;
//! use handover_code::store::sql;
//! use handover_code::Timestamp;
//!
//! // Every bit of a version survives the signed column; times keep their order.
//! assert_eq!(sql::version_from_sql(sql::version_to_sql(Version(u64::MAX))), Version(u64::MAX));
//! assert!(sql::time_to_sql(Timestamp(1)) < sql::time_to_sql(Timestamp(1 << 63)));
//! assert_eq!(sql::time_from_sql(sql::time_to_sql(Timestamp(7))), Timestamp(7));
//! ```

mod faults;
mod schema;

use std::string::String;
use std::vec::Vec;

pub use faults::{is_transient_sqlite_code, is_transient_sqlstate};
pub use schema::{DEFAULT_TABLE_PREFIX, POSTGRES_SCHEMA, SQLITE_SCHEMA, with_table_prefix};

use crate::audit::{Action, Entry};
use crate::error::StoreError;
use crate::record::{DecodeError, Record, Version};
use crate::store::{AuditEntry, Cursor};
use crate::time::Timestamp;

#[cfg(doc)]
use crate::key::Key;

/// The schema version these stores write. A store refuses a database with another.
/// Version 2 added the `namespace` column to the primary key and the self-describing
/// record format 2.
pub const SCHEMA_VERSION: i64 = 2;

/// A version as the SQL integer that stores it: the same 64 bits.
#[must_use]
pub const fn version_to_sql(v: Version) -> i64 {
    i64::from_be_bytes(v.0.to_be_bytes())
}

/// The version a SQL integer stores ([`version_to_sql`] undone).
#[must_use]
pub const fn version_from_sql(v: i64) -> Version {
    Version(u64::from_be_bytes(v.to_be_bytes()))
}

/// A time as an order-preserving SQL integer: the top bit flipped.
#[must_use]
pub const fn time_to_sql(t: Timestamp) -> i64 {
    i64::from_be_bytes((t.0 ^ (1 << 63)).to_be_bytes())
}

/// The time an order-preserving SQL integer stores ([`time_to_sql`] undone).
#[must_use]
pub const fn time_from_sql(t: i64) -> Timestamp {
    Timestamp(u64::from_be_bytes(t.to_be_bytes()) ^ (1 << 63))
}

/// When a record may be pruned ([`Record::prune_at`]), as SQL stores it.
#[must_use]
pub fn prune_at(record: &Record) -> i64 {
    time_to_sql(record.prune_at())
}

/// A record's bytes for the `record` column: `&buf[..len]` of `(buf, len)`.
#[must_use]
pub fn encode(record: &Record) -> ([u8; Record::MAX_LEN], usize) {
    let mut buf = [0u8; Record::MAX_LEN];
    let len = record.encode(&mut buf);
    (buf, len)
}

/// The record in a `record` column.
///
/// # Errors
///
/// Why the bytes are not a record ([`Record::decode_stored`]).
pub fn decode(bytes: &[u8]) -> Result<Record, StoreError> {
    Record::decode_stored(bytes)
}

/// An audit entry's values as the `handover_audit` columns of the same names hold them:
/// built from the [`Entry`] a write carries ([`AuditRow::of`]) for the insert, and read
/// back into an [`AuditEntry`] ([`AuditRow::into_entry`]).
///
/// ```
/// use handover_code::audit::Action;
/// use handover_code::record::Version;
/// use handover_code::store::sql::{self, AuditRow};
/// use handover_code::Timestamp;
///
/// // A row as a `SELECT tx, seq, {AUDIT_COLUMNS} FROM handover_audit` reads it back.
/// let row = AuditRow {
///     at: sql::time_to_sql(Timestamp(1_700_000_000)),
///     kind: 1,
///     namespace: b"centre-7".to_vec(),
///     id: b"b-1".to_vec(),
///     context: b"centre-7".to_vec(),
///     booking: b"b-1".to_vec(),
///     verifier: None,
///     request: None,
///     actor: None,
///     action: "issued".into(),
///     detail: 0,
///     note: String::new(),
///     prior: None,
///     version: sql::version_to_sql(Version(1)),
/// };
/// let entry = row.into_entry(0, 1)?;
/// assert_eq!(entry.action, Action::Issued { generation: 0 });
/// assert_eq!(entry.version, Version(1));
/// assert_eq!(entry.at, Timestamp(1_700_000_000));
/// # Ok::<(), handover_code::StoreError>(())
/// ```
///
/// A store's [`compare_and_swap_audited`](crate::Store::compare_and_swap_audited) inserts
/// [`AuditRow::of`] each [`Entry`] it is given, in the write's transaction.
#[derive(Debug)]
pub struct AuditRow {
    /// `at`: [`time_to_sql`] of when the operation ran.
    pub at: i64,
    /// `kind`: [`Key::kind`].
    pub kind: i16,
    /// `namespace`: [`Key::namespace`].
    pub namespace: Vec<u8>,
    /// `id`: [`Key::id`].
    pub id: Vec<u8>,
    /// `context`: the booking's context.
    pub context: Vec<u8>,
    /// `booking`: the booking id.
    pub booking: Vec<u8>,
    /// `verifier`: the verifier, if one was named.
    pub verifier: Option<Vec<u8>>,
    /// `request`: the request id, if one was given.
    pub request: Option<Vec<u8>>,
    /// `actor`: the override's actor, for an override.
    pub actor: Option<Vec<u8>>,
    /// `action`: [`Action::name`].
    pub action: String,
    /// `detail`: [`Action::detail`], bit for bit.
    pub detail: i64,
    /// `note`: an override's note, else empty.
    pub note: String,
    /// `prior`: [`version_to_sql`] of the version written over; `None` for a creation.
    pub prior: Option<i64>,
    /// `version`: [`version_to_sql`] of the version written.
    pub version: i64,
}

impl AuditRow {
    /// The row for `entry`.
    #[must_use]
    pub fn of(entry: &Entry<'_>) -> Self {
        // The owned entry's values, in their SQL types: the inverse of `into_entry`.
        let e = AuditEntry::of(entry, Cursor::START);
        Self {
            at: time_to_sql(e.at),
            kind: i16::from(e.kind),
            namespace: e.namespace,
            id: e.id,
            context: e.context,
            booking: e.booking,
            verifier: e.verifier,
            request: e.request,
            actor: e.actor,
            action: String::from(e.action.name()),
            detail: i64::from_be_bytes(e.action.detail().to_be_bytes()),
            note: e.note,
            prior: e.prior.map(version_to_sql),
            version: version_to_sql(e.version),
        }
    }

    /// The entry this row holds, at its `tx` and `seq` (`tx` 0 where the store keeps none).
    ///
    /// # Errors
    ///
    /// A [`StoreError`] ("record field out of range") for a row no write of the crate makes:
    /// an unknown action name or detail, or a kind above 255.
    pub fn into_entry(self, tx: i64, seq: i64) -> Result<AuditEntry, StoreError> {
        let field = || StoreError::corrupt(DecodeError::Field);
        let detail = u64::from_be_bytes(self.detail.to_be_bytes());
        let number = |n: i64| u64::from_be_bytes(n.to_be_bytes());
        Ok(AuditEntry {
            cursor: Cursor::new(number(tx), number(seq)),
            at: time_from_sql(self.at),
            kind: u8::try_from(self.kind).map_err(|_| field())?,
            namespace: self.namespace,
            id: self.id,
            context: self.context,
            booking: self.booking,
            verifier: self.verifier,
            request: self.request,
            actor: self.actor,
            action: Action::from_parts(&self.action, detail).ok_or_else(field)?,
            note: self.note,
            prior: self.prior.map(version_from_sql),
            version: version_from_sql(self.version),
        })
    }
}

/// The audit columns after `tx` and `seq`, in [`AuditRow`]'s field order: the list for an
/// insert's or a select's column list.
pub const AUDIT_COLUMNS: &str = "at, kind, namespace, id, context, booking, verifier, \
    request, actor, action, detail, note, prior, version";

#[cfg(test)]
mod tests {
    use super::{time_to_sql, version_from_sql, version_to_sql};
    use crate::record::Version;
    use crate::time::Timestamp;

    #[test]
    fn mappings_keep_every_bit_and_the_order_of_times() {
        for v in [0, 1, i64::MAX as u64, 1 << 63, u64::MAX] {
            assert_eq!(version_from_sql(version_to_sql(Version(v))), Version(v));
        }
        let times = [
            0,
            1,
            1 << 62,
            (1 << 63) - 1,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ];
        for pair in times.windows(2) {
            assert!(time_to_sql(Timestamp(pair[0])) < time_to_sql(Timestamp(pair[1])));
        }
    }
}
