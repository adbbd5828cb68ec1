//! Compare-and-swap traffic, counted.

/// Compare-and-swap traffic: what a [`MemoryStore`](crate::MemoryStore) counted
/// ([`MemoryStore::stats`](crate::MemoryStore::stats)), or what the conformance kit's
/// concurrency checks measured (`conformance::check_concurrency`), where `conflicts` above 0
/// is the proof that the threads really contended.
///
/// ```
/// use handover_code::store::Stats;
///
/// let seen = Stats { swaps: 120, conflicts: 8 };
/// assert_eq!(seen.swaps + seen.conflicts, 128);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Compare-and-swaps that landed.
    pub swaps: u64,
    /// Compare-and-swaps that found another version: lost races.
    pub conflicts: u64,
}
