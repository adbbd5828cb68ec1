//! The single-call contract checks, written once for either kind of store.

use std::format;

use super::{Failure, ensure, fail, io, setup_failure};
use crate::code::Digits;
use crate::derive::{BookingId, Context};
use crate::drive::{Ready, poll_once};
use crate::ids::IdBuf;
use crate::key::Key;
use crate::keyring::KeyId;
use crate::record::{Booking, Earlier, Hold, Last, Limits, Record, State, Verifier, Version};
use crate::store::{AsyncStore, Store, Swap, VerifierId};
use crate::time::Timestamp;

/// Records that exercise every field at its edges.
fn samples() -> [Record; 4] {
    let long = IdBuf::new(&[0xff; IdBuf::MAX_LEN]);
    let booking = Booking {
        key_id: KeyId(u32::MAX),
        generation: u32::MAX,
        digits: Digits::Six,
        failures: u8::MAX,
        lifetime_failures: u16::MAX,
        state: State::Revoked,
        issued_at: Timestamp(0),
        expires_at: Timestamp(u64::MAX),
        limits: Limits {
            attempts: u8::MAX,
            lifetime_cap: u16::MAX,
            sends: u8::MAX,
            send_window_secs: u32::MAX,
        },
        sends: u8::MAX,
        send_window_start: Timestamp(u64::MAX),
        last: Some(Last {
            at: Timestamp(u64::MAX),
            paid_by: Version(u64::MAX),
            verifier: long,
            request: long,
            answer: Earlier::Rejected {
                attempts_left: u8::MAX,
            },
        }),
    };
    let small = Booking {
        key_id: KeyId(0),
        generation: 0,
        digits: Digits::Four,
        failures: 0,
        lifetime_failures: 0,
        state: State::Active,
        issued_at: Timestamp(u64::MAX),
        expires_at: Timestamp(0),
        limits: Limits {
            attempts: 1,
            lifetime_cap: 0,
            sends: 1,
            send_window_secs: 1,
        },
        sends: 0,
        send_window_start: Timestamp(0),
        last: Some(Last {
            at: Timestamp(0),
            paid_by: Version(0),
            verifier: None,
            request: IdBuf::new(b"r"),
            answer: Earlier::Accepted,
        }),
    };
    [
        Record::Booking(booking),
        Record::Booking(Booking {
            state: State::Locked,
            digits: Digits::Five,
            ..small
        }),
        Record::Verifier(Verifier {
            window_start: Timestamp(u64::MAX),
            window_secs: u64::MAX,
            limit: u32::MAX,
            failures: u32::MAX,
            held: u32::MAX,
            holds: [Hold {
                tag: [0xff; 16],
                on: Version(u64::MAX),
                id: Version(u64::MAX),
                shared: true,
            }; Verifier::HOLDS],
        }),
        Record::Verifier(Verifier {
            window_start: Timestamp(0),
            window_secs: 1,
            limit: 1,
            failures: 0,
            held: 0,
            holds: [Hold::default(); Verifier::HOLDS],
        }),
    ]
}

/// The primitives, one call at a time: a missing key, insert-if-absent, version conflicts,
/// a round trip of every field, and keys kept apart; then, on a second store from
/// `factory`, that [`Store::prune`] deletes the record whose time has passed and keeps the
/// one whose time has not (a store that keeps the default, which deletes nothing, fails
/// here, by name), and that [`Store::make_durable`] of the record kept, at its version,
/// answers [`Swap::Swapped`] and leaves it as a load sees it.
///
/// # Errors
///
/// The first [`Failure`].
pub fn check_contract<S: Store, F: Fn() -> S>(factory: F) -> Result<(), Failure> {
    let not_at_once = || {
        fail(
            "contract",
            "a synchronous store's call did not complete at once".into(),
        )
    };
    let store = factory();
    poll_once(primitives(&Ready(&store))).unwrap_or_else(not_at_once)?;
    let store = factory();
    poll_once(pruning(&Ready(&store))).unwrap_or_else(not_at_once)
}

/// [`check_contract`] for an [`AsyncStore`], awaited on the caller's runtime.
///
/// # Errors
///
/// The first [`Failure`].
pub async fn check_contract_async<S: AsyncStore, F: Fn() -> S>(factory: F) -> Result<(), Failure> {
    let store = factory();
    primitives(&store).await?;
    let store = factory();
    pruning(&store).await
}

/// A verifier's record whose [`Record::prune_at`] is `at`.
fn pruned_at(at: u64) -> Record {
    Record::Verifier(Verifier {
        window_start: Timestamp(at.saturating_sub(10)),
        window_secs: 10,
        limit: 1,
        failures: 0,
        held: 0,
        holds: [Hold::default(); Verifier::HOLDS],
    })
}

/// Prune on an empty store given two records: the one whose time is before the cut-off
/// goes, the other stays, and the count says one.
async fn pruning<S: AsyncStore>(store: &S) -> Result<(), Failure>
where
    S::Error: core::fmt::Display,
{
    const CHECK: &str = "prune";
    let scope = Context::new(b"conformance-prune").map_err(setup_failure)?;
    let key = |id: &'static [u8]| -> Result<Key<'static>, Failure> {
        Ok(Key::Verifier {
            scope,
            id: VerifierId::new(id).map_err(setup_failure)?,
        })
    };
    let (gone, kept) = (key(b"gone")?, key(b"kept")?);
    let (old, young) = (pruned_at(1_000), pruned_at(3_000));
    for (k, record) in [(gone, old), (kept, young)] {
        let swap = io(
            CHECK,
            store.compare_and_swap(k, None, &record, Version(1)).await,
        )?;
        ensure(swap == Swap::Swapped, CHECK, || {
            "inserting into an empty store conflicted".into()
        })?;
    }
    let deleted = io(CHECK, store.prune(Timestamp(2_000)).await)?;
    ensure(deleted == 1, CHECK, || {
        format!(
            "prune before t=2000 answered {deleted} deleted, given one record due at t=1000 \
             and one at t=3000 (a store that keeps Store::prune's default deletes nothing \
             and grows without bound: implement prune)"
        )
    })?;
    let left = io(CHECK, store.load(gone).await)?;
    ensure(left.is_none(), CHECK, || {
        format!("the record due at t=1000 is still there: {left:?}")
    })?;
    let stayed = io(CHECK, store.load(kept).await)?;
    ensure(stayed == Some((young, Version(1))), CHECK, || {
        format!("the record due at t=3000 did not stay as stored: {stayed:?}")
    })?;
    // Making a stored record durable confirms it as it is, and changes nothing a load sees.
    const DURABLE: &str = "make_durable";
    let swap = io(DURABLE, store.make_durable(kept, Version(1)).await)?;
    ensure(swap == Swap::Swapped, DURABLE, || {
        "make_durable of a record at the version stored answered a conflict".into()
    })?;
    let still = io(DURABLE, store.load(kept).await)?;
    ensure(still == Some((young, Version(1))), DURABLE, || {
        format!("make_durable changed the record a load sees: {still:?}")
    })
}

/// The single-call checks, on either kind of store.
async fn primitives<S: AsyncStore>(store: &S) -> Result<(), Failure>
where
    S::Error: core::fmt::Display,
{
    let id = BookingId::new(b"conformance\0\xffid").map_err(setup_failure)?;
    let verifier = VerifierId::new(b"conformance\0\xffid").map_err(setup_failure)?;
    let context = Context::new(b"conformance\0\xffid").map_err(setup_failure)?;
    let booking_key = Key::Booking { context, id };
    let verifier_key = Key::Verifier {
        scope: context,
        id: verifier,
    };
    let [a, b, c, d] = samples();

    let missing = io("missing key", store.load(booking_key).await)?;
    ensure(missing.is_none(), "missing key", || {
        format!("loaded {missing:?} from an empty store")
    })?;

    let first = io(
        "insert if absent",
        store
            .compare_and_swap(booking_key, None, &a, Version(1))
            .await,
    )?;
    ensure(first == Swap::Swapped, "insert if absent", || {
        "insert into an empty key conflicted".into()
    })?;
    let again = io(
        "insert if absent",
        store
            .compare_and_swap(booking_key, None, &b, Version(1))
            .await,
    )?;
    ensure(again == Swap::Conflict, "insert if absent", || {
        "a second insert overwrote the record".into()
    })?;
    let loaded = io("round trip", store.load(booking_key).await)?;
    ensure(loaded == Some((a, Version(1))), "round trip", || {
        format!("stored {a:?} v1, loaded {loaded:?}")
    })?;

    for wrong in [Version(0), Version(2), Version(u64::MAX)] {
        let swap = io(
            "version conflict",
            store
                .compare_and_swap(booking_key, Some(wrong), &b, Version(9))
                .await,
        )?;
        ensure(swap == Swap::Conflict, "version conflict", || {
            format!("a swap expecting {wrong:?} landed on v1")
        })?;
    }
    let unchanged = io("version conflict", store.load(booking_key).await)?;
    ensure(
        unchanged == Some((a, Version(1))),
        "version conflict",
        || format!("a conflict changed the record: {unchanged:?}"),
    )?;
    let swap = io(
        "swap",
        store
            .compare_and_swap(booking_key, Some(Version(1)), &b, Version(u64::MAX))
            .await,
    )?;
    ensure(swap == Swap::Swapped, "swap", || {
        "a swap expecting the stored version conflicted".into()
    })?;
    let loaded = io("round trip", store.load(booking_key).await)?;
    ensure(loaded == Some((b, Version(u64::MAX))), "round trip", || {
        format!("stored {b:?}, loaded {loaded:?}")
    })?;

    let absent = io(
        "expected some, found none",
        store
            .compare_and_swap(verifier_key, Some(Version(1)), &c, Version(2))
            .await,
    )?;
    ensure(
        absent == Swap::Conflict,
        "expected some, found none",
        || "a swap expecting a version created a record".into(),
    )?;
    let verifier_empty = io("keys kept apart", store.load(verifier_key).await)?;
    ensure(verifier_empty.is_none(), "keys kept apart", || {
        "a verifier key with a booking's id bytes shared its record".into()
    })?;
    for record in [c, d] {
        let expected = io("round trip", store.load(verifier_key).await)?.map(|(_, v)| v);
        let new = Version(expected.map_or(1, |v| v.0.saturating_add(1)));
        let swap = io(
            "round trip",
            store
                .compare_and_swap(verifier_key, expected, &record, new)
                .await,
        )?;
        ensure(swap == Swap::Swapped, "round trip", || {
            "a verifier record did not store".into()
        })?;
        let loaded = io("round trip", store.load(verifier_key).await)?;
        ensure(loaded == Some((record, new)), "round trip", || {
            format!("stored {record:?}, loaded {loaded:?}")
        })?;
    }
    let other = Key::Booking {
        context,
        id: BookingId::new(b"conformance\0\xffie").map_err(setup_failure)?,
    };
    let other_loaded = io("keys kept apart", store.load(other).await)?;
    ensure(other_loaded.is_none(), "keys kept apart", || {
        "an id one byte off loaded a record".into()
    })?;
    // The same id in another namespace, and the boundary between namespace and id moved.
    for (namespace, id) in [
        (&b"conformance\0\xffie"[..], &b"conformance\0\xffid"[..]),
        (&b"conformance\0\xffidc"[..], &b"onformance\0\xffid"[..]),
        (&b"conformance\0\xffi"[..], &b"dconformance\0\xffid"[..]),
    ] {
        let elsewhere = Key::Booking {
            context: Context::new(namespace).map_err(setup_failure)?,
            id: BookingId::new(id).map_err(setup_failure)?,
        };
        let found = io("namespaces kept apart", store.load(elsewhere).await)?;
        ensure(found.is_none(), "namespaces kept apart", || {
            format!("{elsewhere:?} loaded the record of {booking_key:?}")
        })?;
        let swap = io(
            "namespaces kept apart",
            store
                .compare_and_swap(elsewhere, None, &a, Version(1))
                .await,
        )?;
        ensure(swap == Swap::Swapped, "namespaces kept apart", || {
            format!("inserting {elsewhere:?} conflicted with another namespace's record")
        })?;
    }
    let untouched = io("namespaces kept apart", store.load(booking_key).await)?;
    ensure(
        untouched == Some((b, Version(u64::MAX))),
        "namespaces kept apart",
        || format!("writes in other namespaces changed the record: {untouched:?}"),
    )
}
