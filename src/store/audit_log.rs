//! Reading an audit log back: the entries as owned values, and the traits of stores that keep
//! one.

use core::future::Future;
use std::string::String;
use std::vec::Vec;

use super::{AsyncStore, Store};
use crate::audit::{Action, Entry};
use crate::key::Key;
use crate::record::Version;
use crate::time::Timestamp;

/// One audit log entry as read back: [`Entry`] with owned bytes, and its place in the log.
///
/// The ids are bytes as the host gave them (ids need not be UTF-8); [`AuditEntry::text`]
/// shows them as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Where the entry is in the log: pass it to [`AuditLog::since`] to read on from here.
    pub cursor: Cursor,
    /// When the operation ran.
    pub at: Timestamp,
    /// The record's kind ([`Key::kind`]).
    pub kind: u8,
    /// The record's namespace ([`Key::namespace`]).
    pub namespace: Vec<u8>,
    /// The record's id ([`Key::id`]).
    pub id: Vec<u8>,
    /// The context of the booking the operation was for.
    pub context: Vec<u8>,
    /// The booking the operation was for.
    pub booking: Vec<u8>,
    /// The verifier, for a verification that named one.
    pub verifier: Option<Vec<u8>>,
    /// The request id, for a verification that gave one.
    pub request: Option<Vec<u8>>,
    /// The override actor, for an override.
    pub actor: Option<Vec<u8>>,
    /// What happened.
    pub action: Action,
    /// The override's note (empty for everything else).
    pub note: String,
    /// The version the write expected (`None`: it created the record).
    pub prior: Option<Version>,
    /// The version it produced.
    pub version: Version,
}

impl AuditEntry {
    /// The owned copy of `entry`, at `cursor`.
    #[must_use]
    pub fn of(entry: &Entry<'_>, cursor: Cursor) -> Self {
        let a = &entry.audit;
        Self {
            cursor,
            at: a.at,
            kind: entry.key.kind(),
            namespace: entry.key.namespace().to_vec(),
            id: entry.key.id().to_vec(),
            context: a.context.as_bytes().to_vec(),
            booking: a.booking.as_bytes().to_vec(),
            verifier: a.verifier.map(|v| v.as_bytes().to_vec()),
            request: a.request.map(|r| r.as_bytes().to_vec()),
            actor: a.by.map(|o| o.actor().as_bytes().to_vec()),
            action: a.action,
            note: a.by.map(|o| String::from(o.note())).unwrap_or_default(),
            prior: entry.prior,
            version: entry.version,
        }
    }

    /// Whether the entry is for the record under `key`.
    #[must_use]
    pub fn is_for(&self, key: Key<'_>) -> bool {
        self.kind == key.kind() && self.namespace == key.namespace() && self.id == key.id()
    }

    /// Bytes as text, for showing: UTF-8 as it is, anything else lossily.
    #[must_use]
    pub fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(bytes)
    }
}

/// A place in an audit log: entries are read in cursor order, and an entry's cursor is final
/// once [`AuditLog::since`] has returned it. Keep the last one read (as its 16 bytes) to
/// resume shipping after a restart.
///
/// ```
/// use handover_code::store::Cursor;
///
/// let resume = Cursor::from_bytes(Cursor::START.to_bytes());
/// assert_eq!(resume, Cursor::START);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    /// The writing transaction's order, for stores whose transactions commit out of order
    /// (PostgreSQL's transaction id); 0 elsewhere.
    tx: u64,
    /// The entry's order.
    seq: u64,
}

impl Cursor {
    /// Before the first entry.
    pub const START: Self = Self { tx: 0, seq: 0 };

    /// A cursor from a store's own order: its transaction and entry numbers.
    #[must_use]
    pub const fn new(tx: u64, seq: u64) -> Self {
        Self { tx, seq }
    }

    /// The transaction and entry numbers.
    #[must_use]
    pub const fn parts(&self) -> (u64, u64) {
        (self.tx, self.seq)
    }

    /// The cursor as 16 bytes, to keep.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let (tx, seq) = out.split_at_mut(8);
        tx.copy_from_slice(&self.tx.to_be_bytes());
        seq.copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// The cursor kept as [`Cursor::to_bytes`].
    #[must_use]
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = bytes;
        Self {
            tx: u64::from_be_bytes([a, b, c, d, e, f, g, h]),
            seq: u64::from_be_bytes([i, j, k, l, m, n, o, p]),
        }
    }
}

/// A store that keeps an audit log: every record write it lands appends one [`Entry`] in
/// the same transaction as the write ([`Store::compare_and_swap_audited`]), so no crash,
/// kill or fault leaves a record version without its entry or an entry without its record
/// version. Entries for one record chain: each one's [`prior`](AuditEntry::prior) is the
/// version the one before produced.
///
/// The log is append-only: [`Store::prune`](crate::Store::prune) of records never touches
/// it, and it shrinks only by [`AuditLog::prune_audit`], a separate call with its own
/// retention.
pub trait AuditLog: Store {
    /// Every entry for the record under `key` (a booking's whole history: issue, sends,
    /// verifications, override, revoke; or a verifier's or an actor's budget), oldest first.
    ///
    /// # Errors
    ///
    /// The store's error.
    fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Self::Error>;

    /// Up to `limit` entries after `cursor` ([`Cursor::START`]: from the start), in log order: for shipping
    /// the log to the host's own log or SIEM, resuming from the last entry's
    /// [`cursor`](AuditEntry::cursor). An entry of a transaction still in flight appears in a
    /// later call, never skipped: the cursors returned are final.
    ///
    /// # Errors
    ///
    /// The store's error.
    fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Self::Error>;

    /// Deletes the entries made before `before` (by their [`at`](AuditEntry::at)); returns
    /// how many. Records are never touched.
    ///
    /// # Errors
    ///
    /// The store's error.
    fn prune_audit(&self, before: Timestamp) -> Result<u64, Self::Error>;
}

/// [`AuditLog`] for an [`AsyncStore`].
pub trait AsyncAuditLog: AsyncStore {
    /// As [`AuditLog::history`].
    fn history(
        &self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, Self::Error>> + Send;

    /// As [`AuditLog::since`].
    fn since(
        &self,
        cursor: Cursor,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, Self::Error>> + Send;

    /// As [`AuditLog::prune_audit`].
    fn prune_audit(
        &self,
        before: Timestamp,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
}
