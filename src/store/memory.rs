//! The in-memory reference store.

use std::collections::BinaryHeap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use core::cmp::Reverse;
use core::hash::{BuildHasher, Hasher};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::audit::Entry as Audited;
use crate::error::Error;
use crate::key::Key;
use crate::record::{Record, Version};
use crate::store::Stats;
use crate::store::{AuditEntry, Cursor, Swap};
use crate::time::Timestamp;

mod batch;
mod faces;
mod journal;
mod packed;
mod shard;

use journal::View;
use shard::{Bucket, Shard, entries, load_from, swap_in};

/// The reference [`Store`](crate::store::Store) (feature `std`): records in memory, sharded by key
/// so that threads working on different bookings rarely share a lock.
///
/// Each primitive takes one shard's lock for its whole check-and-write, which is what makes
/// the compare-and-swap atomic. It keeps counters of its traffic ([`MemoryStore::stats`]) so
/// tests can show that contention really happened. It is also an
/// [`AsyncStore`](crate::store::AsyncStore) whose futures are ready at once. Its sync primitives
/// are inherent methods too, so `store.load(key)` means the sync one even where both store traits
/// are imported; in async code written against this type (not a generic `S: AsyncStore`), name the
/// async one: `AsyncStore::load(&store, key).await`.
///
/// Records are kept packed, not as [`Record`] values: a booking in 160 bytes with its key (a
/// namespace and id of up to 60 bytes together inline), its last verification's ids boxed
/// apart when it names any, so a lookup among many bookings touches few cache lines. A load
/// gives back exactly the record that was written.
///
/// Records live as long as the store: for tests, examples, and single-process hosts that
/// can lose every booking on a restart. Prune it like any store ([`MemoryStore::prune`]).
///
/// It keeps an [`AuditLog`](crate::store::AuditLog) in memory: each audited write appends its entry
/// under the same shard lock as the write, so the log and the records always agree. Entries are
/// kept packed as bytes (72 for a verification of a 17-byte booking id that names no verifier) and
/// made [`AuditEntry`] values only when the log is read. The log grows with every write until
/// [`AuditLog::prune_audit`](crate::store::AuditLog::prune_audit) trims it; a host that never reads
/// it (a benchmark, a long-running demo) can turn it off with [`MemoryStore::without_audit`].
///
/// ```
/// use handover_code::{AsyncStore, BookingId, Context, Key, MemoryStore, Outcome, Policy};
/// use handover_code::{Secret, Service, Store, Timestamp};
/// use handover_code::record::{Record, Version};
///
/// let context = Context::new("ride/start")?;
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), context)?;
/// let store = MemoryStore::new();
/// let (ride, now) = (BookingId::new("ride-7f3a")?, Timestamp(1_700_000_000));
/// let code = service.issue(&store, ride, now.0 + 900, now)?;
///
/// // Both traits are in scope; the inherent method answers, with no ambiguity.
/// let (record, version) = store.load(Key::Booking { context, id: ride })?.expect("issued");
/// assert!(matches!(record, Record::Booking(_)) && version > Version::FIRST);
///
/// // The same store serves the async operations; its futures are ready at once.
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// let outcome = runtime.block_on(service.verify_async(&store, ride, code.expose(), None, now))?;
/// assert_eq!(outcome, Outcome::Accepted);
/// assert_eq!(store.prune(Timestamp(u64::MAX))?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    /// The next audit entry's number, taken under the shard lock of its write.
    seq: AtomicU64,
    audit: bool,
    hasher: std::hash::RandomState,
}

/// A poisoned shard: a thread panicked while holding its lock. Answered as
/// [`Error::Refused`] (it stays poisoned), with this as its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("memory store shard poisoned by a panicking thread; rebuild the store")]
pub(crate) struct Poisoned;

impl From<Poisoned> for Error {
    fn from(poisoned: Poisoned) -> Self {
        crate::StoreError::permanent(poisoned).into()
    }
}

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

    /// The most shards a store takes: far more than threads will ever contend for one lock.
    pub const MAX_SHARDS: usize = 4_096;

    /// An empty store with `shards` shards, clamped to 1..=[`MemoryStore::MAX_SHARDS`].
    #[must_use]
    pub fn with_shards(shards: usize) -> Self {
        let shards = shards.clamp(1, Self::MAX_SHARDS);
        Self {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            seq: AtomicU64::new(1),
            audit: true,
            hasher: std::hash::RandomState::new(),
        }
    }

    /// The same store keeping no audit log: audited writes are plain compare-and-swaps, and
    /// the log reads back empty. For benchmarks and long runs where nobody reads the log.
    #[must_use]
    pub fn without_audit(self) -> Self {
        Self {
            audit: false,
            ..self
        }
    }

    /// [`Store::compare_and_swap_audited`](crate::store::Store::compare_and_swap_audited): the
    /// swap, and on success the entry appended, under one shard lock.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a thread panicked while holding the shard.
    pub fn compare_and_swap_audited(
        &self,
        entry: &Audited<'_>,
        record: &Record,
    ) -> Result<Swap, Error> {
        if !self.audit {
            return self.compare_and_swap(entry.key, entry.prior, record, entry.version);
        }
        let (hash, mut shard) = self.shard(entry.key)?;
        let swap = swap_in(
            &mut shard.records,
            hash,
            entry.key,
            entry.prior,
            record,
            entry.version,
        );
        if swap == Swap::Swapped {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            shard.journal.append(entry, seq);
        }
        shard.count(swap);
        drop(shard);
        Ok(swap)
    }

    /// [`AuditLog::history`](crate::store::AuditLog::history).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a thread panicked while holding the shard.
    pub fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Error> {
        let (_, shard) = self.shard(key)?;
        let found = shard
            .journal
            .entries()
            .filter(|e| e.is(key))
            .map(|e| e.read())
            .collect();
        drop(shard);
        Ok(found)
    }

    /// [`AuditLog::since`](crate::store::AuditLog::since): a consistent cut, taken with every shard
    /// locked. Each shard's entries are in log order already, so they are merged (a heap of one
    /// entry a shard), and only the `limit` entries answered are made owned.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a thread panicked while holding a shard.
    pub fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        crate::store::own_error::<_, Poisoned>(|| {
            let shards = self
                .shards
                .iter()
                .map(Mutex::lock)
                .collect::<Result<Vec<_>, _>>()?;
            let after = |e: &View<'_>| Cursor::new(0, e.seq()) > cursor;
            let mut streams: Vec<_> = shards
                .iter()
                .map(|shard| shard.journal.entries().filter(after).peekable())
                .collect();
            let mut next: BinaryHeap<Reverse<(u64, usize)>> = streams
                .iter_mut()
                .enumerate()
                .filter_map(|(i, stream)| stream.peek().map(|e| Reverse((e.seq(), i))))
                .collect();
            let mut entries = Vec::new();
            while entries.len() < limit {
                let Some(Reverse((_, i))) = next.pop() else {
                    break;
                };
                let Some(stream) = streams.get_mut(i) else {
                    break;
                };
                if let Some(e) = stream.next() {
                    entries.push(e.read());
                }
                if let Some(e) = stream.peek() {
                    next.push(Reverse((e.seq(), i)));
                }
            }
            drop(streams);
            drop(shards);
            Ok(entries)
        })
    }

    /// [`AuditLog::prune_audit`](crate::store::AuditLog::prune_audit).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a thread panicked while holding a shard.
    pub fn prune_audit(&self, before: Timestamp) -> Result<u64, Error> {
        crate::store::own_error::<_, Poisoned>(|| {
            let mut removed = 0u64;
            for shard in &self.shards {
                let gone = shard.lock()?.journal.retain(|e| e.at >= before);
                removed = removed.saturating_add(gone);
            }
            Ok(removed)
        })
    }

    /// The traffic so far, summed over the shards (a poisoned shard's counts included: they
    /// are only counts). It takes each shard's lock in turn, so it waits for a running
    /// [`MemoryStore::since`] or prune.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shards.iter().fold(Stats::default(), |sum, shard| {
            let counted = shard.lock().unwrap_or_else(PoisonError::into_inner).stats;
            Stats {
                swaps: sum.swaps.saturating_add(counted.swaps),
                conflicts: sum.conflicts.saturating_add(counted.conflicts),
            }
        })
    }

    /// How many records are stored.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a shard's lock is.
    pub fn len(&self) -> Result<usize, Error> {
        crate::store::own_error::<_, Poisoned>(|| {
            self.shards.iter().try_fold(0usize, |n, shard| {
                let shard = shard.lock()?;
                Ok(n.saturating_add(entries(&shard.records)))
            })
        })
    }

    /// Whether no record is stored.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a shard's lock is.
    pub fn is_empty(&self) -> Result<bool, Error> {
        self.len().map(|n| n == 0)
    }

    /// [`Store::load`](crate::store::Store::load), callable without importing a trait. These
    /// inherent methods are what `store.load(..)` calls even where both
    /// [`Store`](crate::store::Store) and [`AsyncStore`](crate::store::AsyncStore) are imported, so
    /// the two traits' methods of one name never make a call ambiguous.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the key's shard lock is.
    pub fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        let (hash, mut shard) = self.shard(key)?;
        Ok(load_from(&mut shard.records, hash, key))
    }

    /// [`Store::compare_and_swap`](crate::store::Store::compare_and_swap), callable without
    /// importing a trait.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the key's shard lock is.
    pub fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        let (hash, mut shard) = self.shard(key)?;
        let swap = swap_in(&mut shard.records, hash, key, expected, record, new);
        shard.count(swap);
        Ok(swap)
    }

    /// [`Store::prune`](crate::Store::prune), callable without importing a trait: removes
    /// every record whose [`Record::prune_at`] is before `cut`, and answers how many went.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a shard lock is.
    pub fn prune(&self, cut: Timestamp) -> Result<u64, Error> {
        crate::store::own_error::<_, Poisoned>(|| {
            let mut removed = 0u64;
            for shard in &self.shards {
                let mut shard = shard.lock()?;
                let shard = &mut shard.records;
                let before = entries(shard);
                let old = core::mem::take(shard);
                for (hash, bucket) in old {
                    for entry in bucket.into_entries() {
                        if entry.record.unpack().prune_at() >= cut {
                            match shard.get_mut(&hash) {
                                Some(bucket) => bucket.collide(entry),
                                None => {
                                    shard.insert(hash, Bucket::new(entry));
                                }
                            }
                        }
                    }
                }
                let after = entries(shard);
                let gone = u64::try_from(before.saturating_sub(after)).unwrap_or(u64::MAX);
                removed = removed.saturating_add(gone);
            }
            Ok(removed)
        })
    }

    /// The key's hash (computed once per call: it picks the shard and the bucket) and its
    /// locked shard.
    fn shard(&self, key: Key<'_>) -> Result<(u64, MutexGuard<'_, Shard>), Poisoned> {
        let (hash, index) = self.place(key);
        let shard = self.shards.get(index).ok_or(Poisoned)?;
        Ok((hash, shard.lock()?))
    }

    /// The key's hash and the index of its shard.
    fn place(&self, key: Key<'_>) -> (u64, usize) {
        let mut h = self.hasher.build_hasher();
        h.write_u8(key.kind());
        h.write_usize(key.namespace().len());
        h.write(key.namespace());
        h.write(key.id());
        let hash = h.finish();
        // The shard comes from bits the map does not use for its buckets or tags.
        let count = u64::try_from(self.shards.len()).unwrap_or(1);
        let index = usize::try_from((hash >> 40).checked_rem(count).unwrap_or_default())
            .unwrap_or_default();
        (hash, index)
    }
}

#[cfg(test)]
mod tests;
