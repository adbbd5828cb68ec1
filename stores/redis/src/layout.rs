//! Where [`RedisStore`](super::RedisStore) keeps things: key names, the prune index, the
//! stored fields, and the two Lua scripts. Pure: no I/O here.
//!
//! # Keys
//!
//! Each record is one Redis hash, named
//!
//! ```text
//! {prefix}{{bbbb}}{kind}:{len(namespace)}:{namespace}{id}
//! ```
//!
//! where `bbbb` is the key's bucket (4 hex digits, one of [`BUCKETS`]), `kind` is 1
//! (booking) or 2 (verifier) and the namespace's length is in decimal, so no two keys of
//! different kinds, namespaces or ids ever share a name. The `{bbbb}` part is the key's
//! Redis Cluster hash tag: a record and its bucket's prune index,
//!
//! ```text
//! {prefix}{{bbbb}}prune
//! ```
//!
//! a sorted set of record keys scored by [`Record::prune_at`], always live in one slot, so
//! the compare-and-swap writes both in one script on one master. A prefix holds no `{` or
//! `}`, so the tag is always the bucket's.
//!
//! # Fields
//!
//! | field | holds |
//! |---|---|
//! | `v` | the [`Version`](handover_code::record::Version), in decimal |
//! | `r` | [`Record::encode`] |
//! | `p` | [`Record::prune_at`], as 20 decimal digits (exact; the index's score is a double) |

use handover_code::Key;
use handover_code::Timestamp;
use handover_code::record::Record;

/// How many buckets (hash tags, so slots) the records spread over. Fixed: a store built with
/// another count would not find the prune index entries of the records already written.
pub const BUCKETS: u16 = 1024;

/// The longest prefix accepted.
pub(crate) const MAX_PREFIX: usize = 64;

/// Whether `prefix` can start every key: at most [`MAX_PREFIX`] bytes, no `{` or `}` (which
/// would move the hash tag).
pub(crate) fn prefix_ok(prefix: &[u8]) -> bool {
    prefix.len() <= MAX_PREFIX && !prefix.iter().any(|b| matches!(b, b'{' | b'}'))
}

/// The bucket of a key: FNV-1a over its three parts, each length-delimited.
pub(crate) fn bucket(key: Key<'_>) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
    };
    feed(&[key.kind()]);
    for part in [key.namespace(), key.id()] {
        feed(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        feed(part);
    }
    // Keeps the low bits, which FNV-1a mixes least: fold the high half in first.
    let folded = (hash >> 16) ^ hash;
    u16::try_from(folded.checked_rem(u32::from(BUCKETS)).unwrap_or(0)).unwrap_or(0)
}

/// `{prefix}{bbbb}` for a bucket.
fn tagged(prefix: &[u8], bucket: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len().saturating_add(80));
    out.extend_from_slice(prefix);
    out.push(b'{');
    for shift in [12u16, 8, 4, 0] {
        let nibble = (bucket >> shift) & 0xf;
        out.push(
            b"0123456789abcdef"
                .get(usize::from(nibble))
                .copied()
                .unwrap_or(b'0'),
        );
    }
    out.push(b'}');
    out
}

/// The name of the hash holding the record under `key`.
pub(crate) fn record_key(prefix: &[u8], key: Key<'_>) -> Vec<u8> {
    let mut out = tagged(prefix, bucket(key));
    out.push(b'0'.saturating_add(key.kind()));
    out.push(b':');
    out.extend_from_slice(
        decimal(u64::try_from(key.namespace().len()).unwrap_or(u64::MAX)).as_slice(),
    );
    out.push(b':');
    out.extend_from_slice(key.namespace());
    out.extend_from_slice(key.id());
    out
}

/// The name of a bucket's prune index.
pub(crate) fn index_key(prefix: &[u8], bucket: u16) -> Vec<u8> {
    let mut out = tagged(prefix, bucket);
    out.extend_from_slice(b"prune");
    out
}

/// `n` in decimal, without leading zeros.
pub(crate) fn decimal(n: u64) -> Vec<u8> {
    let digits = padded(n);
    let first = digits.iter().position(|d| *d != b'0').unwrap_or(19);
    digits.get(first..).unwrap_or_default().to_vec()
}

/// `n` as 20 decimal digits, zero-padded: the `p` field, compared in halves by the prune
/// script (each half is exact as a Lua number).
pub(crate) fn padded(mut n: u64) -> [u8; 20] {
    let mut out = [b'0'; 20];
    for slot in out.iter_mut().rev() {
        *slot = b'0'.saturating_add(u8::try_from(n % 10).unwrap_or(0));
        n /= 10;
    }
    out
}

/// A decimal `u64` as stored in `v`; `None` for anything else.
pub(crate) fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// When `record` may be pruned, as the `p` field and the index score (a decimal the server
/// rounds to a double; the rounding is monotone, so a cut-off's score never misses a record
/// that expired before it).
pub(crate) fn prune_at(record: &Record) -> [u8; 20] {
    padded(record.prune_at().0)
}

/// The cut-off of a prune as the `p` field compares it.
pub(crate) fn cut_off(before: Timestamp) -> [u8; 20] {
    padded(before.0)
}

/// The compare-and-swap. KEYS: the record, its bucket's prune index. ARGV: the expected
/// version (empty: no record expected), the new version, the record, its `p`. Answers 1
/// when it wrote, 0 when another version (or none, or one where none was expected) is
/// stored. One script, so the check and both writes are one atomic step on the server.
pub const SWAP: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'r', ARGV[3], 'p', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], KEYS[1])
return 1
";

/// The write before a durability wait on a record read, not written
/// ([`AsyncStore::make_durable`](handover_code::AsyncStore::make_durable) with replicated writes).
/// KEYS: the record. ARGV: its version as read. Writes the version over itself (a write the
/// server replicates, so a `WAIT` after it covers every earlier write to the record) and
/// answers 1; answers 0, writing nothing, when another version or none is stored.
pub const TOUCH: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', current)
return 1
";

/// One batch of a prune in one bucket. KEYS: the bucket's prune index, then the candidate
/// records the index named. ARGV: the cut-off as 20 digits. Deletes each candidate whose
/// stored `p` is before the cut-off (checked exactly, on the record itself: a record renewed
/// since the index was read is kept), and drops index entries of records already gone.
/// Answers {records deleted, index entries dropped}.
pub const PRUNE: &str = r"
local function before(p, cut)
  local ph, ch = tonumber(string.sub(p, 1, 10)), tonumber(string.sub(cut, 1, 10))
  if ph ~= ch then return ph < ch end
  return tonumber(string.sub(p, 11, 20)) < tonumber(string.sub(cut, 11, 20))
end
local deleted, dropped = 0, 0
for i = 2, #KEYS do
  local p = redis.call('HGET', KEYS[i], 'p')
  if not p then
    dropped = dropped + redis.call('ZREM', KEYS[1], KEYS[i])
  elseif before(p, ARGV[1]) then
    redis.call('DEL', KEYS[i])
    dropped = dropped + redis.call('ZREM', KEYS[1], KEYS[i])
    deleted = deleted + 1
  end
end
return {deleted, dropped}
";

#[cfg(test)]
mod tests {
    use super::{BUCKETS, bucket, decimal, index_key, padded, parse_decimal, record_key};
    use handover_code::Key;
    use handover_code::{BookingId, Context, VerifierId};
    use std::format;

    fn booking<'a>(context: &'a str, id: &'a str) -> Key<'a> {
        Key::Booking {
            context: Context::new(context).unwrap(),
            id: BookingId::new(id).unwrap(),
        }
    }

    #[test]
    fn keys_of_different_parts_never_meet() {
        let a = record_key(b"hc:", booking("ab", "c"));
        let b = record_key(b"hc:", booking("a", "bc"));
        assert_ne!(a, b);
        let verifier = Key::Verifier {
            scope: Context::new("ab").unwrap(),
            id: VerifierId::new("c").unwrap(),
        };
        assert_ne!(record_key(b"hc:", verifier), a);
        let tag = format!("{{{:04x}}}", bucket(booking("ab", "c")));
        assert_eq!(a, format!("hc:{tag}1:2:abc").into_bytes());
        assert_eq!(
            index_key(b"hc:", bucket(booking("ab", "c"))),
            format!("hc:{tag}prune").into_bytes()
        );
    }

    #[test]
    fn buckets_spread_and_stay_in_range() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..20_000 {
            let id = format!("SLOT-{i}");
            let b = bucket(booking("cowin/dose", &id));
            assert!(b < BUCKETS);
            seen.insert(b);
        }
        assert_eq!(seen.len(), usize::from(BUCKETS), "every bucket is used");
    }

    #[test]
    fn numbers_round_trip() {
        for n in [0, 1, 9, 10, 1 << 40, u64::MAX - 1, u64::MAX] {
            assert_eq!(parse_decimal(&decimal(n)), Some(n));
            assert_eq!(parse_decimal(&padded(n)), Some(n));
            assert_eq!(padded(n).len(), 20);
        }
        assert_eq!(decimal(0), b"0");
        for bad in [
            &b""[..],
            b"-1",
            b"1a",
            b"18446744073709551616",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
