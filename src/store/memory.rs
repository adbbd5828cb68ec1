//! The in-memory reference store.

use std::boxed::Box;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use core::cmp::Reverse;
use core::hash::{BuildHasher, BuildHasherDefault, Hasher};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::audit::{AsyncAuditLog, AuditEntry, AuditLog, Cursor, Entry as Audited};
use crate::record::{Record, Version};
use crate::store::{AsyncStore, Key, Prune, Store, Swap};
use crate::time::Timestamp;

mod journal;

use journal::{Journal, View};

/// A stored key's id: short ids (most booking references) live inside the entry, so a
/// lookup reads no second allocation.
#[derive(Debug)]
enum Id {
    Short(u8, [u8; Id::INLINE]),
    Long(Box<[u8]>),
}

impl Id {
    const INLINE: usize = 32;

    fn new(id: &[u8]) -> Self {
        let mut inline = [0u8; Self::INLINE];
        match (u8::try_from(id.len()), inline.get_mut(..id.len())) {
            (Ok(len), Some(dst)) => {
                dst.copy_from_slice(id);
                Self::Short(len, inline)
            }
            _ => Self::Long(id.into()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Short(len, bytes) => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Self::Long(bytes) => bytes,
        }
    }
}

/// One stored record with the key it is stored under.
#[derive(Debug)]
struct Entry {
    kind: u8,
    namespace: Id,
    id: Id,
    record: Record,
    version: Version,
}

impl Entry {
    fn is(&self, key: Key<'_>) -> bool {
        self.kind == key.kind()
            && self.namespace.as_slice() == key.namespace()
            && self.id.as_slice() == key.id()
    }
}

/// The entries whose keys hash to one 64-bit value: almost always exactly one.
#[derive(Debug)]
struct Bucket {
    first: Entry,
    collided: Vec<Entry>,
}

impl Bucket {
    fn find(&mut self, key: Key<'_>) -> Option<&mut Entry> {
        core::iter::once(&mut self.first)
            .chain(self.collided.iter_mut())
            .find(|e| e.is(key))
    }
}

/// The map's hasher: keys are already keyed SipHash values, so it passes them through.
#[derive(Default)]
struct Prehashed(u64);

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
type Records = HashMap<u64, Bucket, BuildHasherDefault<Prehashed>>;

/// One shard: its records, the audit entries of their writes, and its traffic (counted
/// under its lock, so threads on different shards share no counter).
#[derive(Debug, Default)]
struct Shard {
    records: Records,
    journal: Journal,
    stats: Stats,
}

impl Shard {
    /// Counts a compare-and-swap's result.
    fn count(&mut self, swap: Swap) {
        let counter = match swap {
            Swap::Swapped => &mut self.stats.swaps,
            Swap::Conflict => &mut self.stats.conflicts,
        };
        *counter = counter.saturating_add(1);
    }
}

/// The reference [`Store`] (feature `std`): records in memory, sharded by key so that threads
/// working on different bookings rarely share a lock.
///
/// Each primitive takes one shard's lock for its whole check-and-write, which is what makes
/// the compare-and-swap atomic. It keeps counters of its traffic ([`MemoryStore::stats`]) so
/// tests can show that contention really happened. It is also an [`AsyncStore`] whose
/// futures are ready at once. Its sync primitives are inherent methods too, so
/// `store.load(key)` means the sync one even where both store traits are imported; in
/// async code written against this type (not a generic `S: AsyncStore`), name the async one:
/// `AsyncStore::load(&store, key).await`.
///
/// Records live as long as the store: for tests, examples, and single-process hosts that
/// can lose every booking on a restart. Prune it like any store ([`MemoryStore::prune`]).
///
/// It keeps an [`AuditLog`] in memory: each audited write appends its entry under the same
/// shard lock as the write, so the log and the records always agree. Entries are kept packed
/// as bytes (72 for a verification of a 17-byte booking id that names no verifier) and made
/// [`AuditEntry`] values only when the log is read. The log grows with every write until
/// [`AuditLog::prune_audit`] trims it; a host that never reads it (a benchmark, a
/// long-running demo) can turn it off with [`MemoryStore::without_audit`].
///
/// ```
/// use handover_code::{AsyncStore, BookingId, Context, Digits, Key, KeyId, Keyring};
/// use handover_code::{MemoryStore, Outcome, Policy, Secret, Service, Store, Timestamp};
/// use handover_code::record::{Record, Version};
///
/// let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
/// let context = Context::new("ride/start")?;
/// let service = Service::new(&keys, Policy::new(Digits::Four), context);
/// let store = MemoryStore::new();
/// let (ride, now) = (BookingId::new("ride-7f3a")?, Timestamp(1_700_000_000));
/// let code = service.issue(&store, ride, Timestamp(now.0 + 900), now)?;
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

    /// [`Store::compare_and_swap_audited`]: the swap, and on success the entry appended, under
    /// one shard lock.
    ///
    /// # Errors
    ///
    /// [`Poisoned`] if a thread panicked while holding the shard.
    pub fn compare_and_swap_audited(
        &self,
        entry: &Audited<'_>,
        record: &Record,
    ) -> Result<Swap, Poisoned> {
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

    /// [`AuditLog::history`].
    ///
    /// # Errors
    ///
    /// [`Poisoned`] if a thread panicked while holding the shard.
    pub fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Poisoned> {
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

    /// [`AuditLog::since`]: a consistent cut, taken with every shard locked. Each shard's
    /// entries are in log order already, so they are merged (a heap of one entry a shard),
    /// and only the `limit` entries answered are made owned.
    ///
    /// # Errors
    ///
    /// [`Poisoned`] if a thread panicked while holding a shard.
    pub fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Poisoned> {
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
    }

    /// [`AuditLog::prune_audit`].
    ///
    /// # Errors
    ///
    /// [`Poisoned`] if a thread panicked while holding a shard.
    pub fn prune_audit(&self, before: Timestamp) -> Result<u64, Poisoned> {
        let mut removed = 0u64;
        for shard in &self.shards {
            let gone = shard.lock()?.journal.retain(|e| e.at >= before);
            removed = removed.saturating_add(gone);
        }
        Ok(removed)
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
    /// [`Poisoned`] if a shard's lock is.
    pub fn len(&self) -> Result<usize, Poisoned> {
        self.shards.iter().try_fold(0usize, |n, shard| {
            let shard = shard.lock()?;
            Ok(n.saturating_add(entries(&shard.records)))
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

    /// [`Store::load`], callable without importing a trait. These inherent methods are what
    /// `store.load(..)` calls even where both [`Store`] and [`AsyncStore`] are imported, so
    /// the two traits' methods of one name never make a call ambiguous.
    ///
    /// # Errors
    ///
    /// [`Poisoned`] if the key's shard lock is.
    pub fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Poisoned> {
        let (hash, mut shard) = self.shard(key)?;
        Ok(load_from(&mut shard.records, hash, key))
    }

    /// [`Store::compare_and_swap`], callable without importing a trait.
    ///
    /// # Errors
    ///
    /// [`Poisoned`] if the key's shard lock is.
    pub fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Poisoned> {
        let (hash, mut shard) = self.shard(key)?;
        let swap = swap_in(&mut shard.records, hash, key, expected, record, new);
        shard.count(swap);
        Ok(swap)
    }

    /// [`Prune::prune`], callable without importing a trait: removes every record whose
    /// [`Record::prune_at`] is before `cut`, and answers how many went.
    ///
    /// # Errors
    ///
    /// [`Poisoned`] if a shard lock is.
    pub fn prune(&self, cut: Timestamp) -> Result<u64, Poisoned> {
        let mut removed = 0u64;
        for shard in &self.shards {
            let mut shard = shard.lock()?;
            let shard = &mut shard.records;
            let before = entries(shard);
            let old = core::mem::take(shard);
            for (hash, bucket) in old {
                for entry in core::iter::once(bucket.first).chain(bucket.collided) {
                    if entry.record.prune_at() >= cut {
                        match shard.get_mut(&hash) {
                            Some(bucket) => bucket.collided.push(entry),
                            None => {
                                shard.insert(
                                    hash,
                                    Bucket {
                                        first: entry,
                                        collided: Vec::new(),
                                    },
                                );
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
    }

    /// The key's hash (computed once per call: it picks the shard and the bucket) and its
    /// locked shard.
    fn shard(&self, key: Key<'_>) -> Result<(u64, MutexGuard<'_, Shard>), Poisoned> {
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
        let shard = self.shards.get(index).ok_or(Poisoned)?;
        Ok((hash, shard.lock()?))
    }
}

/// How many records a shard holds.
fn entries(shard: &Records) -> usize {
    shard
        .values()
        .map(|b| b.collided.len().saturating_add(1))
        .sum()
}

/// The record under `key`, whose hash is `hash`.
fn load_from(shard: &mut Records, hash: u64, key: Key<'_>) -> Option<(Record, Version)> {
    let entry = shard.get_mut(&hash).and_then(|b| b.find(key));
    entry.map(|e| (e.record, e.version))
}

/// The compare-and-swap itself, under the shard's lock.
fn swap_in(
    shard: &mut Records,
    hash: u64,
    key: Key<'_>,
    expected: Option<Version>,
    record: &Record,
    new: Version,
) -> Swap {
    let new_entry = || Entry {
        kind: key.kind(),
        namespace: Id::new(key.namespace()),
        id: Id::new(key.id()),
        record: *record,
        version: new,
    };
    match (shard.get_mut(&hash), expected) {
        (None, None) => {
            shard.insert(
                hash,
                Bucket {
                    first: new_entry(),
                    collided: Vec::new(),
                },
            );
            Swap::Swapped
        }
        (None, Some(_)) => Swap::Conflict,
        (Some(bucket), expected) => match (bucket.find(key), expected) {
            (None, None) => {
                bucket.collided.push(new_entry());
                Swap::Swapped
            }
            (Some(stored), Some(want)) if stored.version == want => {
                stored.record = *record;
                stored.version = new;
                Swap::Swapped
            }
            _ => Swap::Conflict,
        },
    }
}

impl Store for MemoryStore {
    type Error = Poisoned;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Poisoned> {
        Self::load(self, key)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Poisoned> {
        Self::compare_and_swap(self, key, expected, record, new)
    }

    fn compare_and_swap_audited(
        &self,
        entry: &Audited<'_>,
        record: &Record,
    ) -> Result<Swap, Poisoned> {
        Self::compare_and_swap_audited(self, entry, record)
    }
}

impl AuditLog for MemoryStore {
    fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Poisoned> {
        Self::history(self, key)
    }

    fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Poisoned> {
        Self::since(self, cursor, limit)
    }

    fn prune_audit(&self, before: Timestamp) -> Result<u64, Poisoned> {
        Self::prune_audit(self, before)
    }
}

impl AsyncAuditLog for MemoryStore {
    async fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Poisoned> {
        Self::history(self, key)
    }

    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Poisoned> {
        Self::since(self, cursor, limit)
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, Poisoned> {
        Self::prune_audit(self, before)
    }
}

impl AsyncStore for MemoryStore {
    type Error = Poisoned;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Poisoned> {
        Self::load(self, key)
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Poisoned> {
        Self::compare_and_swap(self, key, expected, record, new)
    }

    async fn compare_and_swap_audited(
        &self,
        entry: &Audited<'_>,
        record: &Record,
    ) -> Result<Swap, Poisoned> {
        Self::compare_and_swap_audited(self, entry, record)
    }
}

impl Prune for MemoryStore {
    fn prune(&self, cut: Timestamp) -> Result<u64, Poisoned> {
        Self::prune(self, cut)
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use core::sync::atomic::{AtomicU64, Ordering};

    use super::{MemoryStore, Records, load_from, swap_in};
    use crate::audit::{Action, Audit, Cursor, Entry};
    use crate::record::{Record, Verifier, Version};
    use crate::store::{Key, Swap, VerifierId};
    use crate::time::Timestamp;
    use crate::{BookingId, Context};

    #[test]
    fn keys_whose_hashes_collide_stay_apart() {
        let mut shard = Records::default();
        let (c, d) = (Context::new("c").unwrap(), Context::new("d").unwrap());
        let a = Key::Booking {
            context: c,
            id: BookingId::new("a").unwrap(),
        };
        let b = Key::Booking {
            context: c,
            id: BookingId::new("b").unwrap(),
        };
        let v = Key::Verifier {
            scope: c,
            id: VerifierId::new("a").unwrap(),
        };
        let other = Key::Booking {
            context: d,
            id: BookingId::new("a").unwrap(),
        };
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
        // Force all four keys onto one 64-bit hash.
        for (i, key) in [a, b, v, other].into_iter().enumerate() {
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
        assert_eq!(load_from(&mut shard, 7, b), Some((record(1), Version(1))));
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

    #[test]
    fn since_pages_through_every_shard_in_log_order() {
        let store = MemoryStore::with_shards(8);
        let context = Context::new("c").unwrap();
        let names: Vec<std::string::String> = (0..40).map(|i| std::format!("b{i}")).collect();
        let record = Record::Verifier(Verifier {
            window_start: Timestamp(0),
            window_secs: 1,
            limit: 1,
            failures: 0,
            held: 0,
            holds: Default::default(),
        });
        // Five writes to each of 40 records, round-robin, so every shard's entries
        // interleave with the others' in the log.
        for round in 0..5u64 {
            for name in &names {
                let booking = BookingId::new(name).unwrap();
                let entry = Entry {
                    key: Key::Booking {
                        context,
                        id: booking,
                    },
                    prior: (round > 0).then_some(Version(round)),
                    version: Version(round + 1),
                    audit: Audit {
                        at: Timestamp(round),
                        context,
                        booking,
                        verifier: None,
                        request: None,
                        by: None,
                        action: Action::Accepted,
                    },
                };
                assert_eq!(
                    store.compare_and_swap_audited(&entry, &record),
                    Ok(Swap::Swapped)
                );
            }
        }
        let all = store.since(Cursor::START, usize::MAX).unwrap();
        assert_eq!(all.len(), 200);
        assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor));
        // Every write's entry is there, once: the log numbers them 1 to 200 in write order.
        let at: Vec<u64> = all.iter().map(|e| e.at.0).collect();
        let want: Vec<u64> = (0..5).flat_map(|r| [r; 40]).collect();
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
        assert_eq!(store.prune_audit(Timestamp(2)), Ok(80));
        assert_eq!(store.since(Cursor::START, usize::MAX).unwrap(), all[80..]);
        assert_eq!(store.since(all[99].cursor, 3).unwrap(), all[100..103]);
    }

    #[test]
    fn a_reader_paging_beside_writers_skips_no_entry() {
        let store = MemoryStore::with_shards(4);
        let context = Context::new("c").unwrap();
        let record = Record::Verifier(Verifier {
            window_start: Timestamp(0),
            window_secs: 1,
            limit: 1,
            failures: 0,
            held: 0,
            holds: Default::default(),
        });
        let writers = 4u64;
        let writes = if cfg!(miri) { 10 } else { 300 };
        let barrier = std::sync::Barrier::new(5);
        let finished = AtomicU64::new(0);
        let paged = std::thread::scope(|s| {
            for w in 0..writers {
                let (store, barrier, finished) = (&store, &barrier, &finished);
                s.spawn(move || {
                    let name = std::format!("w{w}");
                    let booking = BookingId::new(&name).unwrap();
                    barrier.wait();
                    for n in 0..writes {
                        let entry = Entry {
                            key: Key::Booking {
                                context,
                                id: booking,
                            },
                            prior: (n > 0).then_some(Version(n)),
                            version: Version(n + 1),
                            audit: Audit {
                                at: Timestamp(n),
                                context,
                                booking,
                                verifier: None,
                                request: None,
                                by: None,
                                action: Action::Accepted,
                            },
                        };
                        assert_eq!(
                            store.compare_and_swap_audited(&entry, &record),
                            Ok(Swap::Swapped)
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
}
