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

use crate::record::{DecodeError, Record, Version};
use crate::time::Timestamp;

#[cfg(doc)]
use crate::store::Key;

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
    Record::decode(bytes)
}

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
