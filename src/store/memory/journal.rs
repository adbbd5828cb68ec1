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

use crate::audit::{Action, AuditEntry, Cursor, Entry, NAMES};
use crate::ids::{ActorId, BookingId, Context, RequestId, VerifierId};
use crate::key::Key;
use crate::record::Version;
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
mod tests {
    use std::string::String;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::{CHUNK, FIXED, Journal, NAMES};
    use crate::audit::{Action, Audit, AuditEntry, Cursor, Entry};
    use crate::ids::{ActorId, BookingId, Context, RequestId, VerifierId};
    use crate::key::Key;
    use crate::record::Version;
    use crate::time::Timestamp;
    use crate::who::Override;
    use crate::who::Reason;

    /// One of every action, with `n` in its detail where it has one.
    fn actions(n: u64) -> [Action; 13] {
        let small = u8::try_from(n % 256).unwrap();
        [
            Action::Issued {
                generation: u32::try_from(n % (1 << 32)).unwrap(),
            },
            Action::Resent { generation: 7 },
            Action::Reissued {
                generation: u32::MAX,
            },
            Action::Revoked,
            Action::Accepted,
            Action::Rejected {
                attempts_left: small,
            },
            Action::Locked,
            Action::Overridden {
                reason: Reason::ALL[usize::from(small % 4)],
            },
            Action::BudgetHeld,
            Action::BudgetSettled { failed: n % 2 == 1 },
            Action::Suspended {
                until: Timestamp(n),
            },
            Action::OverrideCounted,
            Action::OverrideRefunded,
        ]
    }

    #[test]
    fn every_action_is_numbered_by_its_name() {
        for (i, action) in actions(3).into_iter().enumerate() {
            // No wildcard: a new action fails to compile here until it is in `actions` (and
            // in `NAMES`, which this test then checks).
            match action {
                Action::Issued { .. }
                | Action::Resent { .. }
                | Action::Reissued { .. }
                | Action::Revoked
                | Action::Accepted
                | Action::Rejected { .. }
                | Action::Locked
                | Action::Overridden { .. }
                | Action::BudgetHeld
                | Action::BudgetSettled { .. }
                | Action::Suspended { .. }
                | Action::OverrideCounted
                | Action::OverrideRefunded => {}
            }
            assert_eq!(usize::from(action.number()), i);
            assert_eq!(NAMES[i], action.name());
        }
    }

    /// The owned text of an entry's ids, so that a shape can be built and borrowed.
    #[derive(Clone, Debug)]
    struct Shape {
        kind: u8,
        scope: String,
        id: String,
        context: String,
        booking: String,
        verifier: Option<String>,
        request: Option<String>,
        actor: Option<(String, String)>,
        prior: Option<u64>,
        version: u64,
        at: u64,
        action: usize,
        detail: u64,
    }

    /// 1 to `max` bytes of id text (no regex: it is slow to build under Miri).
    fn id(max: usize) -> impl Strategy<Value = String> {
        text(b"abcdefghijklmnopqrstuvwxyz0123456789/-", 1..=max)
    }

    fn text(
        alphabet: &'static [u8],
        len: core::ops::RangeInclusive<usize>,
    ) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(alphabet), len)
            .prop_map(|bytes| String::from_utf8(bytes).unwrap())
    }

    fn shape() -> impl Strategy<Value = Shape> {
        (
            (0u8..3, id(64), id(128), 0u8..4, id(64), id(128)),
            (
                proptest::option::of(id(64)),
                proptest::option::of(id(64)),
                proptest::option::of((id(64), text(b" -~azAZ09.,:", 0..=200))),
            ),
            (
                // Version 0 is a real version (`Version::first_at(Timestamp(0))`).
                proptest::option::of(prop_oneof![Just(0u64), any::<u64>()]),
                any::<u64>(),
                any::<u64>(),
                0usize..13,
                any::<u64>(),
            ),
        )
            .prop_map(
                |(
                    (kind, scope, id, names, context, booking),
                    (verifier, request, actor),
                    (prior, version, at, action, detail),
                )| {
                    let id: String = if kind == 1 {
                        id
                    } else {
                        id.chars().take(64).collect()
                    };
                    // A booking's own entry names its key's namespace and id again (`names`
                    // 0); a budget's entry names a booking of the same context (1), one of
                    // the same id in another context (2), or any other (3).
                    let (context, booking) = match names {
                        0 => (scope.clone(), id.clone()),
                        1 => (scope.clone(), booking),
                        2 => (context, id.clone()),
                        _ => (context, booking),
                    };
                    Shape {
                        kind,
                        scope,
                        id: if kind == 0 {
                            id.chars().take(64).collect()
                        } else {
                            id
                        },
                        context,
                        booking,
                        verifier,
                        request,
                        actor,
                        prior,
                        version,
                        at,
                        action,
                        detail,
                    }
                },
            )
    }

    /// Appends the entry of `shape`, numbered `seq`, and answers it as a reader should get it.
    fn append(journal: &mut Journal, shape: &Shape, seq: u64) -> AuditEntry {
        let scope = Context::new(&shape.scope).unwrap();
        let key = match shape.kind {
            0 => Key::Verifier {
                scope,
                id: VerifierId::new(&shape.id).unwrap(),
            },
            1 => Key::Booking {
                context: scope,
                id: BookingId::new(&shape.id).unwrap(),
            },
            _ => Key::Actor {
                scope,
                id: ActorId::new(&shape.id).unwrap(),
            },
        };
        let by = shape.actor.as_ref().map(|(actor, note)| {
            Override::new(ActorId::new(actor).unwrap(), Reason::Other, note).unwrap()
        });
        let entry = Entry {
            key,
            prior: shape.prior.map(Version),
            version: Version(shape.version),
            audit: Audit {
                at: Timestamp(shape.at),
                context: Context::new(&shape.context).unwrap(),
                booking: BookingId::new(&shape.booking).unwrap(),
                verifier: shape
                    .verifier
                    .as_deref()
                    .map(|v| VerifierId::new(v).unwrap()),
                request: shape.request.as_deref().map(|r| RequestId::new(r).unwrap()),
                by,
                action: actions(shape.detail)[shape.action],
            },
        };
        journal.append(&entry, seq);
        AuditEntry::of(&entry, Cursor::new(0, seq))
    }

    /// Entries a case appends: enough to fill a chunk now and then.
    const ENTRIES: usize = 120;

    proptest! {
        // Two minutes under Miri for eight small cases, and safe code only: Miri runs the
        // chunk test below instead, which goes through the same append, read and retain.
        #[cfg_attr(miri, ignore)]
        #[test]
        fn entries_read_back_as_written(shapes in proptest::collection::vec(shape(), 1..ENTRIES)) {
            let mut journal = Journal::default();
            let want: Vec<AuditEntry> = shapes
                .iter()
                .zip(1u64..)
                .map(|(shape, seq)| append(&mut journal, shape, seq * 3))
                .collect();
            let got: Vec<AuditEntry> = journal.entries().map(|e| e.read()).collect();
            prop_assert_eq!(&got, &want);
            // The entries at an even time stay, in order; the others go, and are counted.
            let gone = journal.retain(|e| e.at.0 % 2 == 0);
            let kept: Vec<&AuditEntry> = want.iter().filter(|e| e.at.0 % 2 == 0).collect();
            prop_assert_eq!(gone, u64::try_from(want.len() - kept.len()).unwrap());
            let after: Vec<AuditEntry> = journal.entries().map(|e| e.read()).collect();
            prop_assert_eq!(after.iter().collect::<Vec<_>>(), kept);
        }
    }

    #[test]
    fn entries_cross_chunks_whole_and_in_order() {
        let mut journal = Journal::default();
        let big = Shape {
            kind: 0,
            scope: "s".repeat(64),
            id: "v".repeat(64),
            context: "c".repeat(64),
            booking: "b".repeat(128),
            verifier: Some("w".repeat(64)),
            request: Some("r".repeat(64)),
            actor: Some(("a".repeat(64), "n".repeat(200))),
            prior: Some(1),
            version: 2,
            at: 3,
            action: 10,
            detail: u64::MAX,
        };
        // Enough of the largest entry to fill several chunks (two under Miri, for time).
        let chunks = if cfg!(miri) { 2 } else { 4 };
        let count = chunks * CHUNK / 800;
        let want: Vec<AuditEntry> = (0..count)
            .map(|seq| append(&mut journal, &big, u64::try_from(seq).unwrap()))
            .collect();
        assert!(
            journal.full.len() >= chunks - 1,
            "{} full chunks",
            journal.full.len()
        );
        let got: Vec<AuditEntry> = journal.entries().map(|e| e.read()).collect();
        assert_eq!(got, want);
        // Each chunk was made big enough and never grew: none is past [`CHUNK`], and each
        // full one was closed only when the next entry no longer fit.
        let size = FIXED + 8 + 64 + 64 + 64 + 128 + 64 + 64 + 64 + 200;
        for chunk in journal
            .full
            .iter()
            .chain(core::iter::once(&journal.current))
        {
            assert!(chunk.capacity() <= CHUNK, "{}", chunk.capacity());
        }
        for chunk in &journal.full {
            assert!(chunk.capacity() - chunk.len() < size, "{}", chunk.len());
        }
        // The entries are for the big shape's key, and for no key that differs from it in
        // kind, namespace or id.
        let scope = Context::new(&big.scope).unwrap();
        let id = VerifierId::new(&big.id).unwrap();
        let others = [
            Key::Actor {
                scope,
                id: ActorId::new(&big.id).unwrap(),
            },
            Key::Verifier {
                scope: Context::new("other").unwrap(),
                id,
            },
            Key::Verifier {
                scope,
                id: VerifierId::new("other").unwrap(),
            },
        ];
        for view in journal.entries() {
            assert!(view.is(Key::Verifier { scope, id }));
            assert!(others.iter().all(|other| !view.is(*other)));
        }
        // Its Debug output counts the entries and shows none of them.
        let shown = std::format!("{journal:?}");
        assert_eq!(shown, std::format!("Journal {{ entries: {count} }}"));
        assert_eq!(journal.retain(|_| false), u64::try_from(count).unwrap());
        assert_eq!(journal.entries().count(), 0);
    }
}
