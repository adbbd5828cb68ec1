//! The audit journal's unit tests.

use std::string::String;
use std::vec::Vec;

use proptest::prelude::*;

use super::{CHUNK, FIXED, Journal, NAMES};
use crate::audit::{Action, Audit, Entry};
use crate::ids::{ActorId, BookingId, Context, RequestId, VerifierId};
use crate::key::Key;
use crate::record::Version;
use crate::store::{AuditEntry, Cursor};
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
