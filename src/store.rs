//! The storage contract: two primitives every real store has, and a loop that makes them
//! count every guess before it is answered.
//!
//! # Implement your own store
//!
//! A store keeps one [`Record`] and its [`Version`] per [`Key`]. It implements two
//! primitives; [`Store::update`] is provided on top of them.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use handover_code::record::{Record, Version};
//! use handover_code::store::{Key, Store, Swap};
//!
//! /// Records by (kind, id). A real store would be a table or a hash in a database.
//! #[derive(Default)]
//! struct MyStore(Mutex<HashMap<(u8, Vec<u8>), (Record, Version)>>);
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
//!         Ok(map.get(&(key.kind(), key.id().to_vec())).copied())
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
//!         let slot = map.entry((key.kind(), key.id().to_vec()));
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
//! }
//!
//! // Prove it before trusting it (feature `conformance`):
//! # #[cfg(feature = "conformance")]
//! handover_code::conformance::check_contract(MyStore::default).unwrap();
//! ```
//!
//! # Recipes
//!
//! **SQL** (one table, `kind smallint, id bytea, version bigint, record bytea`, primary key
//! `(kind, id)`; or one column per field):
//!
//! ```sql
//! -- load
//! SELECT record, version FROM handover WHERE kind = $1 AND id = $2;
//! -- compare_and_swap with expected = None: insert if absent
//! INSERT INTO handover (kind, id, version, record) VALUES ($1, $2, $3, $4)
//!   ON CONFLICT (kind, id) DO NOTHING;                  -- 0 rows: Conflict
//! -- compare_and_swap with expected = Some(v)
//! UPDATE handover SET version = $3, record = $4
//!   WHERE kind = $1 AND id = $2 AND version = $5;       -- 0 rows: Conflict
//! ```
//!
//! Check the rows affected; never read and then write in two statements (that is a
//! check-then-write race, and the conformance kit catches it).
//!
//! **Redis**: keep `version` and `record` in a hash and run the compare-and-swap as one Lua
//! script (`if redis.call('HGET', k, 'v') == ARGV[1] then redis.call('HSET', ...) return 1
//! else return 0 end`, with a missing field standing for `None`), or WATCH / MULTI / EXEC.
//! **DynamoDB**: a `PutItem` with the condition `attribute_not_exists(pk)` or `version = :v`.
//!
//! A store may override [`Store::update`] (a mutex around load-decide-write, `SELECT … FOR
//! UPDATE` in a transaction) as long as the decision's write lands before its answer is
//! returned and no two decisions interleave on one key.

#[cfg(feature = "std")]
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use core::future::Future;

use crate::error::Error;
use crate::ids::BookingId;
pub use crate::ids::VerifierId;
use crate::record::{Record, Version};
use crate::time::Timestamp;

/// What a record is stored under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key<'a> {
    /// A booking's record.
    Booking(BookingId<'a>),
    /// A verifier's budget record.
    Verifier(VerifierId<'a>),
}

impl Key<'_> {
    /// 1 for a booking, 2 for a verifier: the first half of the stored key.
    #[must_use]
    pub const fn kind(&self) -> u8 {
        match self {
            Self::Booking(_) => 1,
            Self::Verifier(_) => 2,
        }
    }

    /// The id's bytes: the second half of the stored key.
    #[must_use]
    pub const fn id(&self) -> &[u8] {
        match self {
            Self::Booking(b) => b.as_bytes(),
            Self::Verifier(v) => v.as_bytes(),
        }
    }
}

/// What a compare-and-swap did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Swap {
    /// The stored version was the expected one (or there was none, as expected); the new
    /// record and version are stored.
    Swapped,
    /// Something else was stored; nothing was written.
    Conflict,
}

/// What a decision wants done with the record it was shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// Store this record, then answer `T` — only once the write has landed.
    Write(Record, T),
    /// Answer `T` and write nothing.
    Answer(T),
}

/// A synchronous store.
///
/// `load` and `compare_and_swap` are the contract; see the [module docs](self) for an
/// implementation and the SQL and Redis recipes, and [`conformance`](crate::conformance)
/// (feature `conformance`) for the kit that checks one.
pub trait Store {
    /// The store's own error, kept as the source of [`Error::Store`].
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

    /// Load, decide, compare-and-swap; on a conflict load and decide again, at most
    /// `max_retries` more times. The answer is returned only after its write has landed.
    /// `decide` may run more than once and must be pure.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when a primitive fails, [`Error::Contention`] when every try lost a
    /// race, [`Error::Corrupt`] when the stored version is at its limit.
    fn update<T, F>(
        &self,
        key: Key<'_>,
        max_retries: u8,
        mut decide: F,
    ) -> Result<T, Error<Self::Error>>
    where
        F: FnMut(Option<&Record>) -> Step<T>,
    {
        let mut tries = Tries::new(max_retries);
        loop {
            let current = self.load(key).map_err(Error::Store)?;
            let (record, expected) = split(current);
            let (write, answer) = match decide(record.as_ref()) {
                Step::Answer(answer) => return Ok(answer),
                Step::Write(write, answer) => (write, answer),
            };
            let new = next_version(expected)?;
            if self
                .compare_and_swap(key, expected, &write, new)
                .map_err(Error::Store)?
                == Swap::Swapped
            {
                return Ok(answer);
            }
            tries.lost()?;
        }
    }
}

/// The same contract for async hosts, with `Send` futures and no boxing.
pub trait AsyncStore: Sync {
    /// The store's own error, kept as the source of [`Error::Store`].
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

    /// As [`Store::update`].
    fn update<T, F>(
        &self,
        key: Key<'_>,
        max_retries: u8,
        mut decide: F,
    ) -> impl Future<Output = Result<T, Error<Self::Error>>> + Send
    where
        T: Send,
        F: FnMut(Option<&Record>) -> Step<T> + Send,
    {
        async move {
            let mut tries = Tries::new(max_retries);
            loop {
                let current = self.load(key).await.map_err(Error::Store)?;
                let (record, expected) = split(current);
                let (write, answer) = match decide(record.as_ref()) {
                    Step::Answer(answer) => return Ok(answer),
                    Step::Write(write, answer) => (write, answer),
                };
                let new = next_version(expected)?;
                let swap = self.compare_and_swap(key, expected, &write, new).await;
                if swap.map_err(Error::Store)? == Swap::Swapped {
                    return Ok(answer);
                }
                tries.lost()?;
            }
        }
    }
}

/// Deleting records nobody needs any more (optional).
pub trait Prune: Store {
    /// Deletes booking records that expired before `before` and verifier records whose
    /// window started before it; returns how many were deleted.
    ///
    /// Pass a time at least one verifier window in the past: deleting a verifier's record
    /// resets its count. A pruned booking id can be issued again from generation 0, which
    /// re-derives its first code: prune only ids that will never be reused.
    ///
    /// # Errors
    ///
    /// The store's error.
    fn prune(&self, before: Timestamp) -> Result<u64, Self::Error>;
}

/// [`Prune`] for an [`AsyncStore`].
pub trait AsyncPrune: AsyncStore {
    /// As [`Prune::prune`].
    fn prune(&self, before: Timestamp) -> impl Future<Output = Result<u64, Self::Error>> + Send;
}

/// Counts lost races against the retry bound.
struct Tries {
    left: u8,
}

impl Tries {
    const fn new(max_retries: u8) -> Self {
        Self { left: max_retries }
    }

    fn lost<S>(&mut self) -> Result<(), Error<S>> {
        self.left = self.left.checked_sub(1).ok_or(Error::Contention)?;
        Ok(())
    }
}

fn split(loaded: Option<(Record, Version)>) -> (Option<Record>, Option<Version>) {
    match loaded {
        Some((record, version)) => (Some(record), Some(version)),
        None => (None, None),
    }
}

fn next_version<S>(expected: Option<Version>) -> Result<Version, Error<S>> {
    match expected {
        None => Ok(Version::FIRST),
        Some(v) => v.next().ok_or(Error::Corrupt),
    }
}
