//! The memory store's transactions: several compare-and-swaps, and versions checked
//! unchanged, under every lock they touch.

use std::sync::MutexGuard;
use std::vec::Vec;

use core::sync::atomic::Ordering;

use crate::audit::Entry as Audited;
use crate::error::Error;
use crate::key::Key;
use crate::record::{Record, Version};
use crate::store::{Swap, distinct_keys};

use super::{MemoryStore, Poisoned, Shard, load_from, swap_in};

impl MemoryStore {
    /// [`Store::compare_and_swap_all`](crate::Store::compare_and_swap_all): the shards of
    /// every key locked in index order (so two batches never wait for each other in a
    /// circle), every expected version checked, then every record stored and every entry
    /// appended, all before a lock is let go.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if a shard lock is.
    pub fn compare_and_swap_all(
        &self,
        writes: &[(Audited<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Error> {
        crate::store::own_error::<_, Poisoned>(|| {
            // Every key with the version it must hold: the writes', then the unchanged ones.
            let expected: Vec<(Key<'_>, Option<Version>)> = writes
                .iter()
                .map(|(entry, _)| (entry.key, entry.prior))
                .chain(unchanged.iter().copied())
                .collect();
            let places: Vec<(u64, usize)> =
                expected.iter().map(|&(key, _)| self.place(key)).collect();
            let distinct = distinct_keys(writes, unchanged);
            let mut indices: Vec<usize> = places.iter().map(|&(_, index)| index).collect();
            indices.sort_unstable();
            indices.dedup();
            let mut locked: Vec<(usize, MutexGuard<'_, Shard>)> = Vec::with_capacity(indices.len());
            for index in indices {
                let shard = self.shards.get(index).ok_or(Poisoned)?;
                locked.push((index, shard.lock()?));
            }
            let mut current = distinct;
            for (&(key, want), &(hash, index)) in expected.iter().zip(&places) {
                let shard = guard(&mut locked, index)?;
                let stored = load_from(&mut shard.records, hash, key).map(|(_, v)| v);
                current = current && stored == want;
            }
            let swap = if current {
                Swap::Swapped
            } else {
                Swap::Conflict
            };
            if current {
                for ((entry, record), &(hash, index)) in writes.iter().zip(&places) {
                    let shard = guard(&mut locked, index)?;
                    // Checked above under the same locks: it lands.
                    swap_in(
                        &mut shard.records,
                        hash,
                        entry.key,
                        entry.prior,
                        record,
                        entry.version,
                    );
                    if self.audit {
                        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
                        shard.journal.append(entry, seq);
                    }
                }
            }
            if let Some(&(_, index)) = places.first() {
                guard(&mut locked, index)?.count(swap);
            }
            Ok(swap)
        })
    }
}

/// The locked shard at `index`.
fn guard<'g>(
    locked: &'g mut [(usize, MutexGuard<'_, Shard>)],
    index: usize,
) -> Result<&'g mut Shard, Poisoned> {
    locked
        .iter_mut()
        .find(|(i, _)| *i == index)
        .map(|(_, guard)| &mut **guard)
        .ok_or(Poisoned)
}
