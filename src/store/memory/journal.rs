//! The memory store's audit log for one shard, packed as bytes.
//!
//! An entry is appended once, under its shard's lock, and read back only when the log is
//! read, so it is kept in the form that is cheapest to append: its fields one after another
//! in a chunk of bytes. An entry takes 43 bytes and one more than each id it names: 72 for
//! a verification of a 17-byte booking id in `cowin/dose` that names no verifier and no
//! request, about 100 with a verifier and a request id (a struct of inline ids took 360).
//! Appending one allocates nothing but a new chunk every couple of hundred entries, and
//! chunks are never grown in place, so an append never copies the entries before it.
//!
//! An entry is: `seq`, `at`, `version`, `prior` (0 when absent), the action's detail, each
//! 8 bytes little-endian; the action's [`Action::number`], the key's kind and a byte of
//! [flags](PRIOR); then, each as a length byte and its bytes, the key's namespace and id,
//! the context and booking (only when they are not the key's namespace and id), the
//! verifier, the request, and the actor with the note, each only when present.

use std::string::String;
use std::vec::Vec;

use core::fmt;

use crate::audit::{Action, Entry, NAMES};
use crate::ids::{ActorId, BookingId, Context, RequestId, VerifierId};
use crate::key::Key;
use crate::record::Version;
use crate::store::{AuditEntry, Cursor};
use crate::time::Timestamp;
use crate::who::Override;

/// The most bytes a chunk is made with (a few hundred entries): below glibc's default
/// threshold for mapping fresh pages, so the allocator can reuse freed chunks.
const CHUNK: usize = 16 * 1024;

/// Bytes in a shard's first chunk.
const FIRST: usize = 1024;

/// The fixed part of an entry: five `u64`s and three bytes.
const FIXED: usize = 5 * 8 + 3;

/// Flag: the entry has a prior version.
const PRIOR: u8 = 1;
/// Flag: a verifier is named.
const VERIFIER: u8 = 2;
/// Flag: a request id is named.
const REQUEST: u8 = 4;
/// Flag: an override actor and its note follow.
const ACTOR: u8 = 8;
/// Flag: the context and booking are stored, being other than the key's namespace and id
/// (a verifier's or an actor's record written for a booking).
const BOOKING: u8 = 16;

// Every variable field fits its one length byte.
const _: () = assert!(
    Context::MAX_LEN <= 255
        && BookingId::MAX_LEN <= 255
        && VerifierId::MAX_LEN <= 255
        && RequestId::MAX_LEN <= 255
        && ActorId::MAX_LEN <= 255
        && Override::MAX_NOTE_LEN <= 255
);

/// One shard's audit entries, oldest first: full chunks, then the one being written.
#[derive(Default)]
pub(super) struct Journal {
    full: Vec<Vec<u8>>,
    current: Vec<u8>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("entries", &self.entries().count())
            .finish()
    }
}

impl Journal {
    /// Appends `entry`, numbered `seq`.
    pub(super) fn append(&mut self, entry: &Entry<'_>, seq: u64) {
        let a = &entry.audit;
        let (namespace, id) = (entry.key.namespace(), entry.key.id());
        let (context, booking) = (a.context.as_bytes(), a.booking.as_bytes());
        let elsewhere = context != namespace || booking != id;
        let fields = [
            Some(namespace),
            Some(id),
            elsewhere.then_some(context),
            elsewhere.then_some(booking),
            a.verifier.map(|v| v.as_bytes()),
            a.request.map(|r| r.as_bytes()),
            a.by.map(|o| o.actor().as_bytes()),
            a.by.map(|o| o.note().as_bytes()),
        ];
        let flags = [
            (entry.prior.is_some(), PRIOR),
            (a.verifier.is_some(), VERIFIER),
            (a.request.is_some(), REQUEST),
            (a.by.is_some(), ACTOR),
            (elsewhere, BOOKING),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0u8, |flags, (_, flag)| flags | flag);
        let len = fields
            .iter()
            .flatten()
            .fold(FIXED, |n, f| n.saturating_add(1).saturating_add(f.len()));
        let chunk = self.room(len);
        for word in [
            seq,
            a.at.0,
            entry.version.0,
            entry.prior.map_or(0, |v| v.0),
            a.action.detail(),
        ] {
            chunk.extend_from_slice(&word.to_le_bytes());
        }
        chunk.extend_from_slice(&[a.action.number(), entry.key.kind(), flags]);
        for field in fields.iter().flatten() {
            // At most 255 bytes (checked above for every id type), so nothing is cut.
            let n = u8::try_from(field.len()).unwrap_or(u8::MAX);
            chunk.push(n);
            chunk.extend_from_slice(field.get(..usize::from(n)).unwrap_or_default());
        }
    }

    /// The chunk being written, with at least `len` bytes free: a new one if it had not.
    fn room(&mut self, len: usize) -> &mut Vec<u8> {
        if self.current.capacity().saturating_sub(self.current.len()) < len {
            // A shard's first chunk is small (a store with few writes stays small); each
            // next one twice the last, up to [`CHUNK`].
            let grown = self
                .current
                .capacity()
                .saturating_mul(2)
                .clamp(FIRST, CHUNK);
            let next = Vec::with_capacity(grown.max(len));
            let done = core::mem::replace(&mut self.current, next);
            if !done.is_empty() {
                self.full.push(done);
            }
        }
        &mut self.current
    }

    /// The entries, oldest first.
    pub(super) fn entries(&self) -> impl Iterator<Item = View<'_>> {
        self.raw().map(|(view, _)| view)
    }

    /// The entries, oldest first, each with the bytes it lies in.
    fn raw(&self) -> impl Iterator<Item = (View<'_>, &[u8])> {
        self.full
            .iter()
            .chain(core::iter::once(&self.current))
            .flat_map(|chunk| {
                let mut rest = chunk.as_slice();
                core::iter::from_fn(move || {
                    let (view, used) = View::decode(rest)?;
                    let (raw, after) = rest.split_at_checked(used)?;
                    rest = after;
                    Some((view, raw))
                })
            })
    }

    /// Keeps the entries `keep` says to, and answers how many went.
    pub(super) fn retain(&mut self, keep: impl Fn(&View<'_>) -> bool) -> u64 {
        let mut kept = Self::default();
        let mut gone = 0u64;
        for (view, raw) in self.raw() {
            if keep(&view) {
                kept.room(raw.len()).extend_from_slice(raw);
            } else {
                gone = gone.saturating_add(1);
            }
        }
        *self = kept;
        gone
    }
}

/// One entry as it lies in its chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct View<'a> {
    seq: u64,
    pub(super) at: Timestamp,
    version: Version,
    prior: Option<Version>,
    action: Action,
    kind: u8,
    namespace: &'a [u8],
    id: &'a [u8],
    context: &'a [u8],
    booking: &'a [u8],
    verifier: Option<&'a [u8]>,
    request: Option<&'a [u8]>,
    actor: Option<&'a [u8]>,
    note: &'a [u8],
}

impl<'a> View<'a> {
    /// The entry at the start of `bytes`, and how many bytes it takes; `None` at the end.
    fn decode(bytes: &'a [u8]) -> Option<(Self, usize)> {
        let mut r = Reader(bytes);
        let [seq, at, version, prior, detail] = [(); 5].map(|()| r.u64());
        let [number, kind, flags] = [(); 3].map(|()| r.u8());
        let flags = flags?;
        let on = |flag: u8| flags & flag != 0;
        let namespace = r.field()?;
        let id = r.field()?;
        let (context, booking) = if on(BOOKING) {
            (r.field()?, r.field()?)
        } else {
            (namespace, id)
        };
        let mut optional = |flag| {
            if on(flag) {
                r.field().map(Some)
            } else {
                Some(None)
            }
        };
        let verifier = optional(VERIFIER)?;
        let request = optional(REQUEST)?;
        let actor = optional(ACTOR)?;
        let note = optional(ACTOR)?.unwrap_or_default();
        let name = NAMES.get(usize::from(number?))?;
        let view = Self {
            seq: seq?,
            at: Timestamp(at?),
            version: Version(version?),
            prior: on(PRIOR).then_some(Version(prior?)),
            action: Action::from_parts(name, detail?)?,
            kind: kind?,
            namespace,
            id,
            context,
            booking,
            verifier,
            request,
            actor,
            note,
        };
        Some((view, bytes.len().saturating_sub(r.0.len())))
    }

    /// The entry's number: its place in the whole store's log.
    pub(super) const fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether the entry is for the record under `key`.
    pub(super) fn is(&self, key: Key<'_>) -> bool {
        self.kind == key.kind() && self.namespace == key.namespace() && self.id == key.id()
    }

    /// The entry, owned, as the log's readers get it.
    pub(super) fn read(&self) -> AuditEntry {
        AuditEntry {
            cursor: Cursor::new(0, self.seq),
            at: self.at,
            kind: self.kind,
            namespace: self.namespace.to_vec(),
            id: self.id.to_vec(),
            context: self.context.to_vec(),
            booking: self.booking.to_vec(),
            verifier: self.verifier.map(<[u8]>::to_vec),
            request: self.request.map(<[u8]>::to_vec),
            actor: self.actor.map(<[u8]>::to_vec),
            action: self.action,
            // The note was a `&str` when it was written.
            note: String::from(core::str::from_utf8(self.note).unwrap_or_default()),
            prior: self.prior,
            version: self.version,
        }
    }
}

/// Reads an entry's fields in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
}

#[cfg(test)]
mod tests;
