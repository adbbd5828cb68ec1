//! The in-memory reference store.

use std::boxed::Box;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use core::cmp::Reverse;
use core::hash::{BuildHasher, BuildHasherDefault, Hasher};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::audit::{AsyncAuditLog, AuditEntry, AuditLog, Cursor, Entry as Audited};
use crate::key::Key;
use crate::record::{Record, Version};
use crate::store::{AsyncStore, Prune, Store, Swap};
use crate::time::Timestamp;

mod batch;
mod journal;
mod packed;

use journal::{Journal, View};
use packed::{Name, Packed};

/// One stored record with the key it is stored under, both packed ([`packed`]).
#[derive(Debug)]
struct Entry {
    version: Version,
    record: Packed,
    name: Name,
}

/// The entries whose keys hash to one 64-bit value: almost always exactly one, so the rest
/// wait behind a box that is empty but for real collisions.
#[derive(Debug)]
struct Bucket {
    first: Entry,
    #[expect(
        clippy::box_collection,
        reason = "a thin pointer: 8 bytes in every bucket where a Vec is 24, for collisions that almost never happen"
    )]
    collided: Option<Box<Vec<Entry>>>,
}

impl Bucket {
    fn new(first: Entry) -> Self {
        Self {
            first,
            collided: None,
        }
    }

    fn find(&mut self, key: Key<'_>) -> Option<&mut Entry> {
        core::iter::once(&mut self.first)
            .chain(self.collided.iter_mut().flat_map(|c| c.iter_mut()))
            .find(|e| e.name.is(key))
    }

    /// Stores a second entry under the bucket's hash.
    fn collide(&mut self, entry: Entry) {
        self.collided.get_or_insert_default().push(entry);
    }

    /// How many entries it holds.
    fn len(&self) -> usize {
        self.collided
            .as_ref()
            .map_or(0, |c| c.len())
            .saturating_add(1)
    }

    /// Its entries, first first.
    fn into_entries(self) -> impl Iterator<Item = Entry> {
        core::iter::once(self.first).chain(self.collided.into_iter().flat_map(|c| *c))
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
/// Records are kept packed, not as [`Record`] values: a booking in 160 bytes with its key (a
/// namespace and id of up to 60 bytes together inline), its last verification's ids boxed
/// apart when it names any, so a lookup among many bookings touches few cache lines. A load
/// gives back exactly the record that was written.
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

/// How many records a shard holds.
fn entries(shard: &Records) -> usize {
    shard.values().map(Bucket::len).sum()
}

/// The record under `key`, whose hash is `hash`.
fn load_from(shard: &mut Records, hash: u64, key: Key<'_>) -> Option<(Record, Version)> {
    let entry = shard.get_mut(&hash).and_then(|b| b.find(key));
    entry.map(|e| (e.record.unpack(), e.version))
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

impl Store for MemoryStore {
    type Error = Poisoned;
    const TRANSACTIONS: bool = true;

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

    fn compare_and_swap_all(
        &self,
        writes: &[(Audited<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Poisoned> {
        Self::compare_and_swap_all(self, writes, unchanged)
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
    const TRANSACTIONS: bool = true;

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

    async fn compare_and_swap_all(
        &self,
        writes: &[(Audited<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Poisoned> {
        Self::compare_and_swap_all(self, writes, unchanged)
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

    use super::{Bucket, MemoryStore, Records, entries, load_from, swap_in};
    use crate::audit::{Action, Audit, Cursor, Entry};
    use crate::key::Key;
    use crate::record::{Record, Verifier, Version};
    use crate::store::{Swap, VerifierId};
    use crate::time::Timestamp;
    use crate::{BookingId, Context};

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
        assert_eq!(store.len(), Ok(0));
        assert_eq!(store.is_empty(), Ok(true));
        // Four records apart, and three more on one forced hash: a bucket's entries are kept or
        // pruned one by one, and the pruned first one's place goes to the next kept one.
        for (name, end) in names.into_iter().zip([10, 30, 10, 30]) {
            let swap = store.compare_and_swap(key(name), None, &ending_at(end), Version(1));
            assert_eq!(swap, Ok(Swap::Swapped));
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
        assert_eq!(lost, Ok(Swap::Conflict));
        assert_eq!(
            store.stats(),
            super::Stats {
                swaps: 4,
                conflicts: 1
            }
        );
        assert_eq!(store.len(), Ok(7));
        assert_eq!(store.is_empty(), Ok(false));
        // A record is kept while its prune time is not before the cut.
        assert_eq!(store.prune(Timestamp(10)), Ok(0));
        assert_eq!(store.prune(Timestamp(11)), Ok(3));
        assert_eq!(store.len(), Ok(4));
        for name in ["b", "d"] {
            assert_eq!(store.load(key(name)), Ok(Some((ending_at(30), Version(1)))));
        }
        for name in ["a", "c"] {
            assert_eq!(store.load(key(name)), Ok(None));
        }
        let mut shard = store.shards[0].lock().unwrap();
        for name in ["e", "g"] {
            let kept = load_from(&mut shard.records, 7, key(name));
            assert_eq!(kept, Some((ending_at(30), Version(1))));
        }
        assert_eq!(load_from(&mut shard.records, 7, key("f")), None);
        drop(shard);
        assert_eq!(store.prune(Timestamp(u64::MAX)), Ok(4));
        assert_eq!(store.is_empty(), Ok(true));
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
            assert_eq!(swap, Ok(Swap::Swapped));
            assert_eq!(store.since(Cursor::START, 10).map(|l| l.len()), Ok(logged));
            assert_eq!(store.load(entry.key), Ok(Some((ending_at(9), Version(1)))));
            assert_eq!(
                store.prune_audit(Timestamp(6)),
                Ok(u64::try_from(logged).unwrap())
            );
        }
    }

    #[test]
    fn since_pages_through_every_shard_in_log_order() {
        let store = MemoryStore::with_shards(8);
        let context = Context::new("c").unwrap();
        let names: Vec<std::string::String> = (0..40).map(|i| std::format!("b{i}")).collect();
        let record = ending_at(1);
        // Five writes to each of 40 records, round-robin, so every shard's entries
        // interleave with the others' in the log.
        for round in 0..5u64 {
            for name in &names {
                let id = BookingId::new(name).unwrap();
                let entry = accepted(context, id, round);
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
