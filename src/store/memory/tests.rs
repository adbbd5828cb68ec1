//! The memory store's unit tests: shards, buckets, pruning and the audit journal through the store.

use std::vec::Vec;

use core::sync::atomic::{AtomicU64, Ordering};

use crate::audit::{Action, Audit, Entry};
use crate::key::Key;
use crate::record::{Record, Verifier, Version};
use crate::store::Cursor;
use crate::store::{Swap, VerifierId};
use crate::time::Timestamp;
use crate::{BookingId, Context};

use super::MemoryStore;
use super::shard::{Bucket, Records, entries, load_from, swap_in};

#[test]
fn keys_whose_hashes_collide_stay_apart() {
    let mut shard = Records::default();
    let (c, d) = (Context::new("c").unwrap(), Context::new("d").unwrap());
    let a = booking(c, "a");
    let b = booking(c, "b");
    let v = Key::Verifier {
        scope: c,
        id: VerifierId::new("a").unwrap(),
    };
    let other = booking(d, "a");
    // Namespace and id are kept one after the other: moving a byte across the split
    // makes another key, inline or past the inline bytes.
    let (ab, x) = (Context::new("ab").unwrap(), Context::new("a").unwrap());
    let split_left = booking(ab, "c");
    let split_right = booking(x, "bc");
    let (wide, narrow) = ("w".repeat(64), "w".repeat(63));
    let (wide, narrow) = (Context::new(&wide).unwrap(), Context::new(&narrow).unwrap());
    let (short_id, long_id) = ("i".repeat(127), std::format!("w{}", "i".repeat(127)));
    let long_left = booking(wide, &short_id);
    let long_right = booking(narrow, &long_id);
    let (fits, spills) = ("i".repeat(59), "i".repeat(60));
    let (late_a, late_b) = (
        std::format!("{}a", "i".repeat(99)),
        std::format!("{}b", "i".repeat(99)),
    );
    let late_left = booking(c, &late_a);
    let late_right = booking(c, &late_b);
    let at_inline = booking(c, &fits);
    let past_inline = booking(c, &spills);
    let keys = [
        a,
        b,
        v,
        other,
        split_left,
        split_right,
        long_left,
        long_right,
        at_inline,
        past_inline,
        late_left,
        late_right,
    ];
    let record = |n| {
        Record::Verifier(Verifier {
            window_start: Timestamp(0),
            window_secs: 1,
            limit: 1,
            failures: n,
            held: 0,
            holds: Default::default(),
        })
    };
    // Force every key onto one 64-bit hash.
    for (i, key) in keys.into_iter().enumerate() {
        let n = u32::try_from(i).unwrap();
        assert_eq!(
            swap_in(&mut shard, 7, key, None, &record(n), Version(1)),
            Swap::Swapped
        );
        assert_eq!(
            swap_in(&mut shard, 7, key, None, &record(9), Version(1)),
            Swap::Conflict
        );
    }
    assert_eq!(shard.len(), 1);
    assert_eq!(entries(&shard), keys.len());
    for (i, key) in keys.into_iter().enumerate() {
        let n = u32::try_from(i).unwrap();
        assert_eq!(load_from(&mut shard, 7, key), Some((record(n), Version(1))));
    }
    assert_eq!(
        swap_in(&mut shard, 7, v, Some(Version(1)), &record(5), Version(2)),
        Swap::Swapped
    );
    assert_eq!(load_from(&mut shard, 7, v), Some((record(5), Version(2))));
    assert_eq!(load_from(&mut shard, 7, a), Some((record(0), Version(1))));
    assert_eq!(load_from(&mut shard, 8, a), None);
    assert_eq!(
        swap_in(&mut shard, 8, a, Some(Version(1)), &record(1), Version(2)),
        Swap::Conflict
    );
}

/// The packed layout's point: a stored booking whose last verification names no ids is
/// 160 bytes (its map slot 168, with the hash) where a [`Record`] alone is 200, so a
/// lookup among many bookings touches three cache lines instead of five or six.
#[test]
#[cfg(target_pointer_width = "64")]
fn a_stored_booking_takes_160_bytes() {
    assert_eq!(core::mem::size_of::<Bucket>(), 160);
    assert_eq!(core::mem::size_of::<(u64, Bucket)>(), 168);
    assert_eq!(core::mem::size_of::<Record>(), 200);
}

/// The key of booking `name` in `context`.
fn booking<'a>(context: Context<'a>, name: &'a str) -> Key<'a> {
    Key::Booking {
        context,
        id: BookingId::new(name).unwrap(),
    }
}

/// The audited write of `id`'s version `n + 1` (its first when `n` is 0) at time `n`: an
/// accepted code.
fn accepted<'a>(context: Context<'a>, id: BookingId<'a>, n: u64) -> Entry<'a> {
    Entry {
        key: Key::Booking { context, id },
        prior: (n > 0).then_some(Version(n)),
        version: Version(n + 1),
        audit: Audit {
            at: Timestamp(n),
            context,
            booking: id,
            verifier: None,
            request: None,
            by: None,
            action: Action::Accepted,
        },
    }
}

/// A verifier record whose window ends at `end`: pruned by any cut after it.
fn ending_at(end: u64) -> Record {
    Record::Verifier(Verifier {
        window_start: Timestamp(0),
        window_secs: end,
        limit: 1,
        failures: 0,
        held: 0,
        holds: Default::default(),
    })
}

#[test]
fn prune_removes_only_what_has_passed_and_counts_it() {
    let store = MemoryStore::with_shards(1);
    let c = Context::new("c").unwrap();
    let names = ["a", "b", "c", "d"];
    let key = |name| booking(c, name);
    assert_eq!(store.len().ok(), Some(0));
    assert_eq!(store.is_empty().ok(), Some(true));
    // Four records apart, and three more on one forced hash: a bucket's entries are kept or
    // pruned one by one, and the pruned first one's place goes to the next kept one.
    for (name, end) in names.into_iter().zip([10, 30, 10, 30]) {
        let swap = store.compare_and_swap(key(name), None, &ending_at(end), Version(1));
        assert_eq!(swap.ok(), Some(Swap::Swapped));
    }
    {
        let mut shard = store.shards[0].lock().unwrap();
        for (name, end) in [("f", 10), ("e", 30), ("g", 30)] {
            let swap = swap_in(
                &mut shard.records,
                7,
                key(name),
                None,
                &ending_at(end),
                Version(1),
            );
            assert_eq!(swap, Swap::Swapped);
        }
    }
    // The store counts the swaps made through it: the three forced ones went around it.
    let lost = store.compare_and_swap(key("a"), None, &ending_at(99), Version(2));
    assert_eq!(lost.ok(), Some(Swap::Conflict));
    assert_eq!(
        store.stats(),
        crate::store::Stats {
            swaps: 4,
            conflicts: 1
        }
    );
    assert_eq!(store.len().ok(), Some(7));
    assert_eq!(store.is_empty().ok(), Some(false));
    // A record is kept while its prune time is not before the cut.
    assert_eq!(store.prune(Timestamp(10)).ok(), Some(0));
    assert_eq!(store.prune(Timestamp(11)).ok(), Some(3));
    assert_eq!(store.len().ok(), Some(4));
    for name in ["b", "d"] {
        assert_eq!(
            store.load(key(name)).ok(),
            Some(Some((ending_at(30), Version(1))))
        );
    }
    for name in ["a", "c"] {
        assert_eq!(store.load(key(name)).ok(), Some(None));
    }
    let mut shard = store.shards[0].lock().unwrap();
    for name in ["e", "g"] {
        let kept = load_from(&mut shard.records, 7, key(name));
        assert_eq!(kept, Some((ending_at(30), Version(1))));
    }
    assert_eq!(load_from(&mut shard.records, 7, key("f")), None);
    drop(shard);
    assert_eq!(store.prune(Timestamp(u64::MAX)).ok(), Some(4));
    assert_eq!(store.is_empty().ok(), Some(true));
}

#[test]
fn without_audit_keeps_no_log() {
    let c = Context::new("c").unwrap();
    let entry = accepted(c, BookingId::new("b").unwrap(), 0);
    for (store, logged) in [
        (MemoryStore::new(), 1),
        (MemoryStore::new().without_audit(), 0),
    ] {
        let swap = store.compare_and_swap_audited(&entry, &ending_at(9));
        assert_eq!(swap.ok(), Some(Swap::Swapped));
        assert_eq!(
            store.since(Cursor::START, 10).map(|l| l.len()).ok(),
            Some(logged)
        );
        assert_eq!(
            store.load(entry.key).ok(),
            Some(Some((ending_at(9), Version(1))))
        );
        assert_eq!(
            store.prune_audit(Timestamp(6)).ok(),
            Some(u64::try_from(logged).unwrap())
        );
    }
}

#[test]
fn since_pages_through_every_shard_in_log_order() {
    let store = MemoryStore::with_shards(8);
    let context = Context::new("c").unwrap();
    // 40 records; 12 under Miri, where the full test took 102 s of CI's 219 s of Miri.
    let n: usize = if cfg!(miri) { 12 } else { 40 };
    let names: Vec<std::string::String> = (0..n).map(|i| std::format!("b{i}")).collect();
    let record = ending_at(1);
    // Five writes to each of the records, round-robin, so every shard's entries
    // interleave with the others' in the log.
    for round in 0..5u64 {
        for name in &names {
            let id = BookingId::new(name).unwrap();
            let entry = accepted(context, id, round);
            assert_eq!(
                store.compare_and_swap_audited(&entry, &record).ok(),
                Some(Swap::Swapped)
            );
        }
    }
    let all = store.since(Cursor::START, usize::MAX).unwrap();
    assert_eq!(all.len(), 5 * n);
    assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor));
    // Every write's entry is there, once: the log numbers them in write order.
    let at: Vec<u64> = all.iter().map(|e| e.at.0).collect();
    let want: Vec<u64> = (0..5).flat_map(|r| std::vec![r; n]).collect();
    assert_eq!(at, want);
    let mut paged = Vec::new();
    let mut cursor = Cursor::START;
    loop {
        let page = store.since(cursor, 7).unwrap();
        assert!(page.len() <= 7);
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert_eq!(store.since(Cursor::START, 0).unwrap(), Vec::new());
    // After pruning the first two rounds, the rest reads on in order.
    let two_rounds = 2 * n;
    assert_eq!(
        store.prune_audit(Timestamp(2)).ok(),
        u64::try_from(two_rounds).ok()
    );
    assert_eq!(
        store.since(Cursor::START, usize::MAX).unwrap(),
        all[two_rounds..]
    );
    assert_eq!(
        store.since(all[two_rounds + 19].cursor, 3).unwrap(),
        all[two_rounds + 20..two_rounds + 23]
    );
}

#[test]
fn a_reader_paging_beside_writers_skips_no_entry() {
    let store = MemoryStore::with_shards(4);
    let context = Context::new("c").unwrap();
    let record = ending_at(1);
    let writers = 4u64;
    let writes = if cfg!(miri) { 10 } else { 300 };
    let barrier = std::sync::Barrier::new(5);
    let finished = AtomicU64::new(0);
    let paged = std::thread::scope(|s| {
        for w in 0..writers {
            let (store, barrier, finished) = (&store, &barrier, &finished);
            s.spawn(move || {
                let name = std::format!("w{w}");
                let id = BookingId::new(&name).unwrap();
                barrier.wait();
                for n in 0..writes {
                    let entry = accepted(context, id, n);
                    assert_eq!(
                        store.compare_and_swap_audited(&entry, &record).ok(),
                        Some(Swap::Swapped)
                    );
                }
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        // The reader pages while the writers write, and on to the end once they are done.
        let reader = s.spawn(|| {
            barrier.wait();
            let (mut paged, mut cursor) = (Vec::new(), Cursor::START);
            loop {
                // Read before the page: once every writer had finished, an empty page
                // is the end of the log.
                let ended = finished.load(Ordering::SeqCst) == writers;
                let page = store.since(cursor, 5).unwrap();
                let Some(last) = page.last() else {
                    if ended {
                        break paged;
                    }
                    std::thread::yield_now();
                    continue;
                };
                cursor = last.cursor;
                paged.extend(page);
            }
        });
        reader.join().unwrap()
    });
    assert_eq!(paged, store.since(Cursor::START, usize::MAX).unwrap());
    // Each writer's entries come in its write order: a record's chain is never broken.
    for w in 0..writers {
        let name = std::format!("w{w}");
        let versions: Vec<u64> = paged
            .iter()
            .filter(|e| e.id == name.as_bytes())
            .map(|e| e.version.0)
            .collect();
        assert_eq!(versions, (1..=writes).collect::<Vec<_>>());
    }
}
