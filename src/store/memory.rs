//! The in-memory reference store.

use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use core::hash::{BuildHasher, Hash, Hasher};

use crate::record::{Record, Version};
use crate::store::{AsyncStore, Key, Prune, Store, Swap};
use crate::time::Timestamp;

/// Records by id, one map per key kind.
type Shard = [HashMap<Vec<u8>, (Record, Version)>; 2];

/// The reference [`Store`] (feature `std`): records in memory, sharded by key so that threads
/// working on different bookings rarely share a lock.
///
/// Each primitive takes one shard's lock for its whole check-and-write, which is what makes
/// the compare-and-swap atomic. It keeps counters of its traffic ([`MemoryStore::stats`]) so
/// tests can show that contention really happened. It is also an [`AsyncStore`] whose
/// futures are ready at once.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    hasher: std::hash::RandomState,
    swaps: AtomicU64,
    conflicts: AtomicU64,
}

/// Traffic counters of a [`MemoryStore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Compare-and-swaps that landed.
    pub swaps: u64,
    /// Compare-and-swaps that found another version: lost races.
    pub conflicts: u64,
}

/// A poisoned shard: a thread panicked while holding its lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("memory store shard poisoned by a panicking thread; rebuild the store")]
pub struct Poisoned;

impl<T> From<PoisonError<T>> for Poisoned {
    fn from(_: PoisonError<T>) -> Self {
        Self
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// Shards when none are given: enough for a few dozen threads.
    pub const DEFAULT_SHARDS: usize = 64;

    /// An empty store with [`MemoryStore::DEFAULT_SHARDS`] shards.
    #[must_use]
    pub fn new() -> Self {
        Self::with_shards(Self::DEFAULT_SHARDS)
    }

    /// An empty store with `shards` shards (at least one).
    #[must_use]
    pub fn with_shards(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
            hasher: std::hash::RandomState::new(),
            swaps: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
        }
    }

    /// The traffic so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats {
            swaps: self.swaps.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
        }
    }

    /// How many records are stored.
    ///
    /// # Errors
    ///
    /// [`Poisoned`] if a shard's lock is.
    pub fn len(&self) -> Result<usize, Poisoned> {
        self.shards.iter().try_fold(0usize, |n, shard| {
            let shard = shard.lock()?;
            Ok(n.saturating_add(shard.iter().map(HashMap::len).sum()))
        })
    }

    /// Whether no record is stored.
    ///
    /// # Errors
    ///
    /// [`Poisoned`] if a shard's lock is.
    pub fn is_empty(&self) -> Result<bool, Poisoned> {
        self.len().map(|n| n == 0)
    }

    fn shard(&self, key: Key<'_>) -> Result<MutexGuard<'_, Shard>, Poisoned> {
        let mut h = self.hasher.build_hasher();
        key.kind().hash(&mut h);
        key.id().hash(&mut h);
        let count = u64::try_from(self.shards.len()).unwrap_or(1);
        let index =
            usize::try_from(h.finish().checked_rem(count).unwrap_or_default()).unwrap_or_default();
        let shard = self
            .shards
            .get(index)
            .or(self.shards.first())
            .ok_or(Poisoned)?;
        Ok(shard.lock()?)
    }
}

fn map_of<'s>(shard: &'s mut Shard, key: Key<'_>) -> &'s mut HashMap<Vec<u8>, (Record, Version)> {
    let [bookings, verifiers] = shard;
    match key {
        Key::Booking(_) => bookings,
        Key::Verifier(_) => verifiers,
    }
}

impl Store for MemoryStore {
    type Error = Poisoned;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Poisoned> {
        let mut shard = self.shard(key)?;
        Ok(map_of(&mut shard, key).get(key.id()).copied())
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Poisoned> {
        let mut shard = self.shard(key)?;
        let map = map_of(&mut shard, key);
        let swap = match (map.get_mut(key.id()), expected) {
            (None, None) => {
                map.insert(key.id().to_vec(), (*record, new));
                Swap::Swapped
            }
            (Some(stored), Some(want)) if stored.1 == want => {
                *stored = (*record, new);
                Swap::Swapped
            }
            _ => Swap::Conflict,
        };
        let counter = if swap == Swap::Swapped {
            &self.swaps
        } else {
            &self.conflicts
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(swap)
    }
}

impl AsyncStore for MemoryStore {
    type Error = Poisoned;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Poisoned> {
        Store::load(self, key)
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Poisoned> {
        Store::compare_and_swap(self, key, expected, record, new)
    }
}

impl Prune for MemoryStore {
    fn prune(&self, before: Timestamp) -> Result<u64, Poisoned> {
        let mut removed = 0u64;
        for shard in &self.shards {
            let mut shard = shard.lock()?;
            for map in shard.iter_mut() {
                let was = map.len();
                map.retain(|_, (record, _)| match record {
                    Record::Booking(b) => b.expires_at >= before,
                    Record::Verifier(v) => v.window_start >= before,
                });
                let gone = u64::try_from(was.saturating_sub(map.len())).unwrap_or(u64::MAX);
                removed = removed.saturating_add(gone);
            }
        }
        Ok(removed)
    }
}
