//! A shard of the memory store: its records in buckets by hash, the compare-and-swap under
//! its lock, and its traffic counters.

use std::boxed::Box;
use std::collections::HashMap;
use std::vec::Vec;

use core::hash::{BuildHasherDefault, Hasher};

use crate::key::Key;
use crate::record::{Record, Version};
use crate::store::Swap;

use super::journal::Journal;
use super::packed::{Name, Packed};
use crate::store::Stats;

/// One stored record with the key it is stored under, both packed ([`packed`](super::packed)).
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) version: Version,
    pub(super) record: Packed,
    pub(super) name: Name,
}

/// The entries whose keys hash to one 64-bit value: almost always exactly one, so the rest
/// wait behind a box that is empty but for real collisions.
#[derive(Debug)]
pub(super) struct Bucket {
    pub(super) first: Entry,
    #[expect(
        clippy::box_collection,
        reason = "a thin pointer: 8 bytes in every bucket where a Vec is 24, for collisions that almost never happen"
    )]
    pub(super) collided: Option<Box<Vec<Entry>>>,
}

impl Bucket {
    pub(super) fn new(first: Entry) -> Self {
        Self {
            first,
            collided: None,
        }
    }

    pub(super) fn find(&mut self, key: Key<'_>) -> Option<&mut Entry> {
        core::iter::once(&mut self.first)
            .chain(self.collided.iter_mut().flat_map(|c| c.iter_mut()))
            .find(|e| e.name.is(key))
    }

    /// Stores a second entry under the bucket's hash.
    pub(super) fn collide(&mut self, entry: Entry) {
        self.collided.get_or_insert_default().push(entry);
    }

    /// How many entries it holds.
    pub(super) fn len(&self) -> usize {
        self.collided
            .as_ref()
            .map_or(0, |c| c.len())
            .saturating_add(1)
    }

    /// Its entries, first first.
    pub(super) fn into_entries(self) -> impl Iterator<Item = Entry> {
        core::iter::once(self.first).chain(self.collided.into_iter().flat_map(|c| *c))
    }
}

/// The map's hasher: keys are already keyed SipHash values, so it passes them through.
#[derive(Default)]
pub(super) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Buckets by the key's hash.
pub(super) type Records = HashMap<u64, Bucket, BuildHasherDefault<Prehashed>>;

/// One shard: its records, the audit entries of their writes, and its traffic (counted
/// under its lock, so threads on different shards share no counter).
#[derive(Debug, Default)]
pub(super) struct Shard {
    pub(super) records: Records,
    pub(super) journal: Journal,
    pub(super) stats: Stats,
}

impl Shard {
    /// Counts a compare-and-swap's result.
    pub(super) fn count(&mut self, swap: Swap) {
        let counter = match swap {
            Swap::Swapped => &mut self.stats.swaps,
            Swap::Conflict => &mut self.stats.conflicts,
        };
        *counter = counter.saturating_add(1);
    }
}

/// How many records a shard holds.
pub(super) fn entries(shard: &Records) -> usize {
    shard.values().map(Bucket::len).sum()
}

/// The record under `key`, whose hash is `hash`.
pub(super) fn load_from(shard: &mut Records, hash: u64, key: Key<'_>) -> Option<(Record, Version)> {
    let entry = shard.get_mut(&hash).and_then(|b| b.find(key));
    entry.map(|e| (e.record.unpack(), e.version))
}

/// The compare-and-swap itself, under the shard's lock.
pub(super) fn swap_in(
    shard: &mut Records,
    hash: u64,
    key: Key<'_>,
    expected: Option<Version>,
    record: &Record,
    new: Version,
) -> Swap {
    let new_entry = || Entry {
        version: new,
        record: Packed::new(record),
        name: Name::new(key),
    };
    match (shard.get_mut(&hash), expected) {
        (None, None) => {
            shard.insert(hash, Bucket::new(new_entry()));
            Swap::Swapped
        }
        (None, Some(_)) => Swap::Conflict,
        (Some(bucket), expected) => match (bucket.find(key), expected) {
            (None, None) => {
                bucket.collide(new_entry());
                Swap::Swapped
            }
            (Some(stored), Some(want)) if stored.version == want => {
                stored.record.set(record);
                stored.version = new;
                Swap::Swapped
            }
            _ => Swap::Conflict,
        },
    }
}
