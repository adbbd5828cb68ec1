//! The storage contract: two primitives every real store has (a load and a
//! compare-and-swap), and a third for stores with transactions.
//!
//! Why this file is long: it is the contract a store author reads, in one place: the
//! recipes below and each primitive's promise beside its signature, in both traits.
//!
//! # Implement your own store
//!
//! A store keeps one [`Record`] and its [`Version`] per [`Key`]: a kind, a namespace (the
//! booking's context or the verifier's budget scope) and an id, all three part of the stored
//! key. It implements two primitives and [`Store::prune`], and may add transactions (below).
//! The crate's operations run as plans of store calls on them.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use handover_code::record::{Record, Version};
//! use handover_code::store::{Key, Store, Swap};
//! use handover_code::Timestamp;
//!
//! /// Records by (kind, namespace, id). A real store would be a table or a hash in a database.
//! #[derive(Default)]
//! struct MyStore(Mutex<HashMap<(u8, Vec<u8>, Vec<u8>), (Record, Version)>>);
//!
//! fn stored(key: Key<'_>) -> (u8, Vec<u8>, Vec<u8>) {
//!     (key.kind(), key.namespace().to_vec(), key.id().to_vec())
//! }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("the lock was poisoned by a panicking thread")]
//! struct Poisoned;
//!
//! impl Store for MyStore {
//!     type Error = Poisoned;
//!
//!     fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Poisoned> {
//!         let map = self.0.lock().map_err(|_| Poisoned)?;
//!         Ok(map.get(&stored(key)).copied())
//!     }
//!
//!     fn compare_and_swap(
//!         &self,
//!         key: Key<'_>,
//!         expected: Option<Version>,
//!         record: &Record,
//!         new: Version,
//!     ) -> Result<Swap, Poisoned> {
//!         let mut map = self.0.lock().map_err(|_| Poisoned)?;
//!         let slot = map.entry(stored(key));
//!         // The check and the write happen under one lock: that is the whole contract.
//!         use std::collections::hash_map::Entry;
//!         match (slot, expected) {
//!             (Entry::Vacant(v), None) => { v.insert((*record, new)); Ok(Swap::Swapped) }
//!             (Entry::Occupied(mut o), Some(want)) if o.get().1 == want => {
//!                 o.insert((*record, new));
//!                 Ok(Swap::Swapped)
//!             }
//!             _ => Ok(Swap::Conflict),
//!         }
//!     }
//!
//!     // Housekeeping: delete what has expired (the default deletes nothing).
//!     fn prune(&self, before: Timestamp) -> Result<u64, Poisoned> {
//!         let mut map = self.0.lock().map_err(|_| Poisoned)?;
//!         let was = map.len();
//!         map.retain(|_, (record, _)| record.prune_at() >= before);
//!         Ok((was - map.len()) as u64)
//!     }
//! }
//!
//! // Prove it before trusting it (feature `conformance`):
//! # #[cfg(feature = "conformance")]
//! handover_code::conformance::check_contract(MyStore::default).unwrap();
//! ```
//!
//! # Errors: transient, permanent, corrupt
//!
//! A store's error is kept as the source of the [`Error`](crate::Error) an operation
//! answers, and its class picks the variant: waiting may change it
//! ([`StoreError::transient`](crate::StoreError::transient): `Error::Store`, retryable), it
//! fails the same way until someone fixes the store
//! ([`StoreError::permanent`](crate::StoreError::permanent): `Error::Refused`), or a stored
//! record cannot be read ([`StoreError::corrupt`](crate::StoreError::corrupt), or the error
//! [`Record::decode_stored`] gives: `Error::Corrupt`, naming the key). A store whose error
//! type is `Error` or `StoreError` passes its classes through as they are; any other error
//! type is classed by what its chain of sources holds (an I/O error by its kind), and is
//! transient when it holds nothing the crate knows ([`StoreError`](crate::StoreError)'s
//! docs).
//!
//! # Recipes
//!
//! **SQL** (one table, `kind smallint, namespace bytea, id bytea, version bigint, record
//! bytea`, primary key `(kind, namespace, id)`; or one column per field):
//!
//! ```sql
//! -- load
//! SELECT record, version FROM handover WHERE kind = $1 AND namespace = $2 AND id = $3;
//! -- compare_and_swap with expected = None: insert if absent
//! INSERT INTO handover (kind, namespace, id, version, record) VALUES ($1, $2, $3, $4, $5)
//!   ON CONFLICT (kind, namespace, id) DO NOTHING;                  -- 0 rows: Conflict
//! -- compare_and_swap with expected = Some(v)
//! UPDATE handover SET version = $4, record = $5
//!   WHERE kind = $1 AND namespace = $2 AND id = $3 AND version = $6; -- 0 rows: Conflict
//! ```
//!
//! Check the rows affected; never read and then write in two statements (that is a
//! check-then-write race, and the conformance kit catches it).
//!
//! **Redis** (the crate `handover-code-redis` has `RedisStore`, written on this API alone;
//! the recipe is for other Redis clients): one hash per key, named from all three parts with lengths so that no two keys
//! meet (`hc:{kind}:{len(namespace)}:{namespace}:{id}`; put the namespace and id in a
//! `{…}` hash tag for Redis Cluster), holding `version` and `record`; run the compare-and-swap as one Lua
//! script (`if redis.call('HGET', k, 'v') == ARGV[1] then redis.call('HSET', ...) return 1
//! else return 0 end`, with a missing field standing for `None`), or WATCH / MULTI / EXEC.
//! **DynamoDB**: partition key `kind#len(namespace)#namespace#id` (or a composite of
//! namespace and id), and a `PutItem` with the condition `attribute_not_exists(pk)` or
//! `version = :v`.
//!
//! Versions are opaque to a store: compare them for equality, store them bit for bit. The
//! crate never reuses one for a key, even after a prune ([`Version`]).
//!
//! **Audit logs.** The crate's operations write through [`Store::compare_and_swap_audited`],
//! handing over an [`Entry`] that says what the write is for. The default ignores it; a
//! store that can write two things atomically overrides it to append the entry in the same
//! transaction as the swap and implements [`AuditLog`] to read it
//! back. A store that wraps another (a cache, a tracer) must forward the audited call, or
//! the inner store's log misses those writes, and [`Store::TRANSACTIONS`] with
//! [`Store::compare_and_swap_all`], or its verifications silently fall back to reserving
//! budget slots one key at a time, [`Store::prune`], or the inner store is never pruned,
//! and [`Store::make_durable`], or a replicated inner store's replays go unconfirmed.
//!
//! **Transactions.** A store that can land several compare-and-swaps in one transaction (a
//! SQL database, a store behind one lock) says so with [`Store::TRANSACTIONS`] and
//! implements [`Store::compare_and_swap_all`]. Then a verification with a verifier budget
//! writes the booking and the verifier's count together, in one transaction, and reserves
//! nothing: 3 store calls instead of 5, and a
//! dropped future or a killed process leaves everything or nothing. A store without them
//! (one key at a time: Redis, DynamoDB items) keeps the default, and its verifications
//! reserve a budget slot, write the booking, then settle the slot
//! ([the storage guide](crate::guide::storage) says how). Both keep every guarantee; the conformance kit
//! checks the transaction under threads (`conformance::check_all`).
//!
//! The SQL recipe for [`Store::compare_and_swap_all`]: `BEGIN`, each write's statement
//! above in the order given, then each unchanged key's version read under a lock that keeps
//! writers out until the commit (`SELECT version … FOR SHARE` on PostgreSQL; SQLite's
//! `BEGIN IMMEDIATE` already holds the write lock); `COMMIT` if every write changed a row
//! and every version read is the one given, `ROLLBACK` and [`Swap::Conflict`] as soon as
//! one is not. A plain read would let a failure commit between the check and the commit,
//! and the right code land after the suspension it should have seen.
//!
//! The crate's operations are plans of these calls, which every store gets right by
//! honouring the primitives.

/// Runs a store's call written with its own error type, and answers the crate's [`Error`]
/// (the stores' inherent methods and trait faces answer that, their helpers their own).
#[cfg(feature = "std")]
pub(crate) fn own_error<T, E>(call: impl FnOnce() -> Result<T, E>) -> Result<T, crate::Error>
where
    crate::Error: From<E>,
{
    Ok(call()?)
}

mod at_once;
#[cfg(feature = "std")]
mod audit_log;
#[cfg(feature = "std")]
mod distinct;
#[cfg(feature = "std")]
mod forward;
#[cfg(feature = "std")]
pub use distinct::distinct_keys;
#[cfg(feature = "std")]
pub mod memory;
#[cfg(feature = "sql")]
pub mod sql;
mod stats;

use core::future::Future;

use crate::audit::Entry;
pub use crate::ids::VerifierId;
pub use crate::key::Key;
use crate::record::{Record, Version};
use crate::time::Timestamp;
pub(crate) use at_once::async_at_once;
#[cfg(feature = "std")]
pub use audit_log::{AsyncAuditLog, AuditEntry, AuditLog, Cursor};
#[cfg(feature = "std")]
pub(crate) use forward::forward;
pub use stats::Stats;

/// What a compare-and-swap did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Swap {
    /// The stored version was the expected one (or there was none, as expected); the new
    /// record and version are stored.
    Swapped,
    /// Something else was stored; nothing was written.
    Conflict,
}

/// A synchronous store.
///
/// `load` and `compare_and_swap` are the contract; see the [module docs](self) for an
/// implementation and the SQL and Redis recipes, and
/// [`conformance`](https://docs.rs/handover-code/latest/handover_code/conformance/)
/// (feature `conformance`) for the kit that checks one.
///
/// A store is `Sync`, as an [`AsyncStore`] is: every thread of a host shares one, and the
/// service drives both kinds through one driver (a blocking store's calls answered at once,
/// on the caller's thread). A single-threaded store, a test double that counts its calls,
/// keeps its state behind a lock or in atomics (`Mutex`, `AtomicUsize`; on bare metal a
/// `critical_section::Mutex`), not in a `Cell`.
///
/// Hosts rarely call the primitives: [`Service`](crate::Service) runs every operation on
/// them. Code generic over a store takes `S: Store`:
///
/// ```
/// use handover_code::{BookingId, Context, Key, MemoryStore, Store};
/// use handover_code::record::Record;
///
/// /// Whether the booking has a record, on any store.
/// fn issued<S: Store>(store: &S, context: Context<'_>, id: BookingId<'_>) -> Result<bool, S::Error> {
///     let found = store.load(Key::Booking { context, id })?;
///     Ok(matches!(found, Some((Record::Booking(_), _))))
/// }
///
/// let store = MemoryStore::new();
/// assert!(!issued(&store, Context::new("cowin/dose")?, BookingId::new("SLOT-1")?)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Store: Sync {
    /// The store's own error, kept as the source of [`Error::Store`](crate::Error::Store).
    type Error: core::error::Error + Send + Sync + 'static;

    /// The record under `key` and its version, if there is one.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot read.
    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error>;

    /// Atomically: if the stored version is `expected` (`None`: nothing is stored), store
    /// `record` with version `new` and answer [`Swap::Swapped`]; otherwise change nothing
    /// and answer [`Swap::Conflict`].
    ///
    /// # Errors
    ///
    /// The store's error when it cannot tell whether the write happened or not; callers
    /// then answer nothing.
    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error>;

    /// [`Store::compare_and_swap`] of `record` under `entry.key`, from `entry.prior` to
    /// `entry.version`, told what the write is for. Every write the crate's operations make
    /// goes through here.
    ///
    /// A store that keeps an audit log ([`AuditLog`]) overrides it
    /// to append `entry` in the same transaction as the swap, and only when it swaps: then
    /// no crash leaves a record version without its entry, or an entry without its version.
    /// The default keeps no log and only swaps.
    ///
    /// # Errors
    ///
    /// As [`Store::compare_and_swap`].
    fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Self::Error> {
        self.compare_and_swap(entry.key, entry.prior, record, entry.version)
    }

    /// Whether [`Store::compare_and_swap_all`] lands its writes in one transaction. `false`
    /// (the default): verifications reserve a budget slot on the verifier's record before
    /// they compare, one key at a time. A store that sets it `true` must override
    /// [`Store::compare_and_swap_all`]; the conformance kit checks both.
    const TRANSACTIONS: bool = false;

    /// Atomically: if every write's key holds the version its [`Entry::prior`] names
    /// (`None`: nothing is stored) and every key in `unchanged` still holds the version
    /// given with it (read, not written), store every record as its entry's version
    /// (appending each entry to the audit log, for a store that keeps one) and answer
    /// [`Swap::Swapped`]; otherwise change nothing and answer [`Swap::Conflict`]. The keys
    /// are distinct (a batch that names one twice is a conflict). The crate calls it only
    /// when [`Store::TRANSACTIONS`] is `true`, for a budgeted verification: the booking's
    /// write, then either the verifier's write (a wrong code counted) or the verifier's
    /// version in `unchanged` (a right code, answered only while the verifier's record is
    /// the one it was decided on). Take locks in that order.
    ///
    /// The default, for a store without transactions, lands a lone write through
    /// [`Store::compare_and_swap_audited`] and answers [`Swap::Conflict`] to anything more,
    /// writing nothing: a store that claims transactions without implementing them fails
    /// closed (its budgeted verifications answer
    /// [`Error::Contention`](crate::Error::Contention)), and the conformance kit says so.
    ///
    /// # Errors
    ///
    /// As [`Store::compare_and_swap`]; after an error nothing or everything was written.
    fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Self::Error> {
        match (writes, unchanged) {
            ([], []) => Ok(Swap::Swapped),
            ([(entry, record)], []) => self.compare_and_swap_audited(entry, record),
            _ => Ok(Swap::Conflict),
        }
    }

    /// Deletes every record whose [`Record::prune_at`] is before `before`: bookings whose
    /// code expired (and whose generation, read as a time, is past), verifiers whose
    /// window ended. Returns how many were deleted.
    ///
    /// Nothing else is kept: no tombstone. It is still safe, because nothing a pruned record
    /// held can come back. A stale write decided on a pruned record never lands on a record
    /// created again under its key (versions start from the creation time, see
    /// [`Version`]), and a booking id issued again starts at a generation above every one it
    /// had (generations start from the issue time), so it never repeats an earlier code.
    /// Both hold as long as the clock of later operations reads at least `before`: pass a
    /// time in the past. A pruned booking is unknown afterwards (its history, attempts and
    /// redemption go with it), and a pruned verifier starts its next window afresh, which
    /// it would have anyway.
    ///
    ///
    /// The default deletes nothing and answers 0 (a store that grows without bound); the
    /// crate's stores override it, and `conformance::check_contract` fails one that does not.
    ///
    /// # Errors
    ///
    /// The store's error.
    fn prune(&self, before: Timestamp) -> Result<u64, Self::Error> {
        let _ = before;
        Ok(0)
    }

    /// Makes the record stored under `key` at `version` as durable as this store's
    /// acknowledged writes before an answer read from it is given: a retried verification
    /// whose original was accepted is answered
    /// [`Replayed(Accepted)`](crate::record::Earlier::Accepted) from the booking's stored redemption,
    /// with no write of its own, so the redemption must be as safe from a failover as the
    /// original's acknowledged write would have been. [`Swap::Swapped`]: it is, and the record is
    /// still at `version`; [`Swap::Conflict`]: another version is stored now (the service answers
    /// [`Error::Contention`](crate::Error::Contention), and a retry reads again).
    ///
    /// The service asks it before it answers any replay from the record: a replayed
    /// acceptance (the booking handed over again), a replayed rejection (a guess answered
    /// again, whose failure must stay counted), and a revoke of a revoked booking (a retry
    /// whose first try landed). Many replays of one request may ask at once: a confirmation
    /// should not write the record (PostgreSQL's writes only a message to its log), or they
    /// contend with each other.
    ///
    /// The default answers `Swapped` and does nothing: right for a store whose records are
    /// durable once another call can read them (the memory store, SQLite). A replicated
    /// store overrides it: a record read from a primary may not have reached the replica a
    /// failover promotes (its write's wait for the replicas failed, or the primary
    /// restarted before they had it). `RedisStore` with replicated writes rewrites the
    /// version and waits for the shard's replicas; `PostgresStore` always commits a
    /// transaction that checks the version and writes no row, only a logical message to the
    /// WAL (it cannot tell whether a synchronous standby is configured), so its commit waits
    /// for one like any write's and concurrent replays never contend.
    ///
    /// # Errors
    ///
    /// The store's error: the record's durability is not confirmed, and nothing is answered.
    fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, Self::Error> {
        let _ = (key, version);
        Ok(Swap::Swapped)
    }
}

/// The same contract for async hosts, with `Send` futures and no boxing.
///
/// A store that has both faces (like [`MemoryStore`](crate::MemoryStore)) is called through
/// the one the code is generic over; with both traits imported, name the trait
/// (`AsyncStore::load(&store, key)`) unless the type has inherent methods of its own.
///
/// ```
/// use handover_code::{AsyncStore, BookingId, Context, Key, MemoryStore};
///
/// async fn issued<S: AsyncStore>(store: &S, key: Key<'_>) -> Result<bool, S::Error> {
///     Ok(store.load(key).await?.is_some())
/// }
///
/// let key = Key::Booking { context: Context::new("cowin/dose")?, id: BookingId::new("SLOT-1")? };
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// assert!(!runtime.block_on(issued(&MemoryStore::new(), key))?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait AsyncStore: Sync {
    /// The store's own error, kept as the source of [`Error::Store`](crate::Error::Store).
    type Error: core::error::Error + Send + Sync + 'static;

    /// As [`Store::load`].
    fn load(
        &self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<Option<(Record, Version)>, Self::Error>> + Send;

    /// As [`Store::compare_and_swap`].
    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> impl Future<Output = Result<Swap, Self::Error>> + Send;

    /// As [`Store::compare_and_swap_audited`].
    fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> impl Future<Output = Result<Swap, Self::Error>> + Send {
        self.compare_and_swap(entry.key, entry.prior, record, entry.version)
    }

    /// As [`Store::TRANSACTIONS`].
    const TRANSACTIONS: bool = false;

    /// As [`Store::compare_and_swap_all`], with the same default.
    fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> impl Future<Output = Result<Swap, Self::Error>> + Send {
        async move {
            match (writes, unchanged) {
                ([], []) => Ok(Swap::Swapped),
                ([(entry, record)], []) => self.compare_and_swap_audited(entry, record).await,
                _ => Ok(Swap::Conflict),
            }
        }
    }

    /// As [`Store::prune`], with the same default.
    fn prune(&self, before: Timestamp) -> impl Future<Output = Result<u64, Self::Error>> + Send {
        let _ = before;
        async { Ok(0) }
    }

    /// As [`Store::make_durable`].
    fn make_durable(
        &self,
        key: Key<'_>,
        version: Version,
    ) -> impl Future<Output = Result<Swap, Self::Error>> + Send {
        let _ = (key, version);
        core::future::ready(Ok(Swap::Swapped))
    }
}
