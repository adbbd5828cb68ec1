//! What the SQL stores share: the table's shape and the mapping of values to SQL integers.
//!
//! One table holds every record:
//!
//! | column | type | holds |
//! |---|---|---|
//! | `kind` | small integer | 1 booking, 2 verifier ([`Key::kind`]) |
//! | `namespace` | bytes | the booking's context or the verifier's budget scope ([`Key::namespace`]) |
//! | `id` | bytes | the booking or verifier id |
//! | `version` | 64-bit integer | the record's [`Version`], bit for bit |
//! | `record` | bytes | [`Record::encode`] |
//! | `prune_at` | 64-bit integer | [`Record::prune_at`], order-preserving |
//!
//! SQL integers are signed; versions are stored with the same 64 bits reinterpreted (only
//! compared for equality), times with the top bit flipped so that their order survives.
//!
//! The audit log is a second table, `handover_audit`, one row per record write, inserted in
//! the same transaction as the write ([`AuditLog`](crate::store::AuditLog)):
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

use std::string::String;
use std::vec::Vec;

use crate::audit::{Action, Entry};
use crate::record::{DecodeError, Record, Version};
use crate::store::{AuditEntry, Cursor};
use crate::time::Timestamp;

#[cfg(doc)]
use crate::key::Key;

/// The schema version these stores write. A store refuses a database with another.
/// Version 2 added the `namespace` column to the primary key and the self-describing
/// record format 2.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// A version as the SQL integer that stores it.
pub(crate) const fn version_to_sql(v: Version) -> i64 {
    i64::from_be_bytes(v.0.to_be_bytes())
}

/// The version a SQL integer stores.
pub(crate) const fn version_from_sql(v: i64) -> Version {
    Version(u64::from_be_bytes(v.to_be_bytes()))
}

/// A time as an order-preserving SQL integer.
pub(crate) const fn time_to_sql(t: Timestamp) -> i64 {
    i64::from_be_bytes((t.0 ^ (1 << 63)).to_be_bytes())
}

/// When a record may be pruned ([`Record::prune_at`]), as SQL stores it.
pub(crate) fn prune_at(record: &Record) -> i64 {
    time_to_sql(record.prune_at())
}

/// A record's bytes for the `record` column.
pub(crate) fn encode(record: &Record) -> ([u8; Record::MAX_LEN], usize) {
    let mut buf = [0u8; Record::MAX_LEN];
    let len = record.encode(&mut buf);
    (buf, len)
}

/// The record in a `record` column.
pub(crate) fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    Record::decode_checked(bytes)
}

/// An audit entry's values, as SQL parameters and as read back.
#[derive(Debug)]
pub(crate) struct AuditRow {
    pub(crate) at: i64,
    pub(crate) kind: i16,
    pub(crate) namespace: Vec<u8>,
    pub(crate) id: Vec<u8>,
    pub(crate) context: Vec<u8>,
    pub(crate) booking: Vec<u8>,
    pub(crate) verifier: Option<Vec<u8>>,
    pub(crate) request: Option<Vec<u8>>,
    pub(crate) actor: Option<Vec<u8>>,
    pub(crate) action: String,
    pub(crate) detail: i64,
    pub(crate) note: String,
    pub(crate) prior: Option<i64>,
    pub(crate) version: i64,
}

impl AuditRow {
    pub(crate) fn of(entry: &Entry<'_>) -> Self {
        let a = &entry.audit;
        Self {
            at: time_to_sql(a.at),
            kind: i16::from(entry.key.kind()),
            namespace: entry.key.namespace().to_vec(),
            id: entry.key.id().to_vec(),
            context: a.context.as_bytes().to_vec(),
            booking: a.booking.as_bytes().to_vec(),
            verifier: a.verifier.map(|v| v.as_bytes().to_vec()),
            request: a.request.map(|r| r.as_bytes().to_vec()),
            actor: a.by.map(|o| o.actor().as_bytes().to_vec()),
            action: String::from(a.action.name()),
            detail: i64::from_be_bytes(a.action.detail().to_be_bytes()),
            note: a.by.map(|o| String::from(o.note())).unwrap_or_default(),
            prior: entry.prior.map(version_to_sql),
            version: version_to_sql(entry.version),
        }
    }
}

/// An audit row read back: its `tx` and `seq`, and its values.
pub(crate) struct ReadRow {
    pub(crate) tx: i64,
    pub(crate) seq: i64,
    pub(crate) row: AuditRow,
}

impl ReadRow {
    /// The entry, or [`DecodeError::Field`] for a row no write of the crate makes.
    pub(crate) fn entry(self) -> Result<AuditEntry, DecodeError> {
        let row = self.row;
        let detail = u64::from_be_bytes(row.detail.to_be_bytes());
        let action = Action::from_parts(&row.action, detail).ok_or(DecodeError::Field)?;
        let at = u64::from_be_bytes(row.at.to_be_bytes()) ^ (1 << 63);
        let number = |n: i64| u64::from_be_bytes(n.to_be_bytes());
        Ok(AuditEntry {
            cursor: Cursor::new(number(self.tx), number(self.seq)),
            at: Timestamp(at),
            kind: u8::try_from(row.kind).map_err(|_| DecodeError::Field)?,
            namespace: row.namespace,
            id: row.id,
            context: row.context,
            booking: row.booking,
            verifier: row.verifier,
            request: row.request,
            actor: row.actor,
            action,
            note: row.note,
            prior: row.prior.map(version_from_sql),
            version: version_from_sql(row.version),
        })
    }
}

/// The columns of an audit row, in the order [`ReadRow`] reads them (after `tx` and `seq`).
pub(crate) const AUDIT_COLUMNS: &str = "at, kind, namespace, id, context, booking, verifier, \
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
