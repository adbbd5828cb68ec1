//! [`AsyncSqliteStore`] (feature `tokio`): the store's async face, its blocking calls
//! run off the async workers.

use std::vec::Vec;

use handover_code::Error;
use handover_code::Key;
use handover_code::Swap;
use handover_code::Timestamp;
use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::sql::AuditRow;
use handover_code::store::{AuditEntry, Cursor};

use super::write::{Batch, OwnedKey};
use super::{SqliteError, SqliteStore};

/// [`SqliteStore`] as an [`AsyncStore`](handover_code::AsyncStore) for tokio hosts (feature `tokio`): every call
/// runs off the async workers, on tokio's blocking pool (`spawn_blocking`), so a write
/// waiting out a busy timeout or a `Full` sync never holds up other tasks. The two hand-offs
/// per verification cost most of the sync store's speed (see the throughput example);
/// [`AsyncSqliteStore::blocking_in_place`] gets it back where the host's runtime allows.
/// Cheap to clone; clones share one store.
///
/// A call on the blocking pool runs to its end whatever happens to the future, and one in
/// place completes within one poll: either way a compare-and-swap lands or not as it would
/// have, which is what the plans expect of a cut-off call.
///
/// ```
/// use handover_code_sqlite::{AsyncSqliteStore, SqliteStore};
/// use handover_code::{Outcome, Policy, Secret, Service};
///
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "cowin/dose")?;
/// let store = AsyncSqliteStore::new(SqliteStore::open_in_memory()?);
/// let runtime = tokio::runtime::Builder::new_multi_thread().build()?;
/// runtime.block_on(async {
///     let (slot, now) = ("SLOT-1", 1_700_000_000);
///     let code = service.issue_async(&store, slot, now + 600, now).await?;
///     let answer = service.verify_async(&store, slot, code.expose(), None, now).await?;
///     assert_eq!(answer, Outcome::Accepted);
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct AsyncSqliteStore {
    store: std::sync::Arc<SqliteStore>,
    in_place: bool,
}

impl AsyncSqliteStore {
    /// The async face of `store`.
    #[must_use]
    pub fn new(store: SqliteStore) -> Self {
        Self {
            store: std::sync::Arc::new(store),
            in_place: false,
        }
    }

    /// Runs calls in place (`tokio::task::block_in_place`) on a multi-thread runtime
    /// instead of on the blocking pool: about as fast as the sync store (the pool's two
    /// hand-offs per verification cost most of its speed), but only for hosts that never
    /// poll this store's futures inside a `LocalSet` or from a `Handle::block_on` on a
    /// current-thread runtime, where tokio panics on blocking in place; and a call blocking
    /// in place also stalls futures joined with it in the same task. Off by default.
    #[must_use]
    pub fn blocking_in_place(self, on: bool) -> Self {
        Self {
            in_place: on,
            ..self
        }
    }

    /// The store underneath, for its sync calls.
    #[must_use]
    pub fn blocking(&self) -> &SqliteStore {
        &self.store
    }

    /// Runs `f` on the store off the async workers: on the blocking pool (`spawn_blocking`),
    /// or, when [`AsyncSqliteStore::blocking_in_place`] asked for it and the runtime is a
    /// multi-thread one, in place; outside any runtime, as a plain blocking call. A panic or
    /// cancellation of a blocking-pool task is [`Error::Store`].
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteStore) -> Result<T, SqliteError> + Send + 'static,
    ) -> Result<T, SqliteError> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::MultiThread) if self.in_place => {
                tokio::task::block_in_place(|| f(&self.store))
            }
            Ok(_) => {
                let store = std::sync::Arc::clone(&self.store);
                tokio::task::spawn_blocking(move || f(&store))
                    .await
                    .unwrap_or(Err(SqliteError::Task))
            }
            Err(_) => f(&self.store),
        }
    }
}

impl handover_code::AsyncStore for AsyncSqliteStore {
    type Error = Error;
    const TRANSACTIONS: bool = true;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        let result: Result<Option<(Record, Version)>, SqliteError> = async {
            let owned = OwnedKey::of(key);
            self.run(move |store| store.load_at(owned.parts())).await
        }
        .await;
        Ok(result?)
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        let result: Result<Swap, SqliteError> = async {
            let (owned, record) = (OwnedKey::of(key), *record);
            self.run(move |store| store.swap_at(owned.parts(), expected, &record, new))
                .await
        }
        .await;
        Ok(result?)
    }

    async fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Error> {
        let result: Result<Swap, SqliteError> = async {
            let (owned, record, row) = (OwnedKey::of(entry.key), *record, AuditRow::of(entry));
            let (expected, new) = (entry.prior, entry.version);
            self.run(move |store| {
                store.swap_audited(&[(owned.parts(), expected, &record, new, &row)], &[])
            })
            .await
        }
        .await;
        Ok(result?)
    }

    async fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Error> {
        let result: Result<Swap, SqliteError> = async {
            match Batch::of(writes, unchanged) {
                Some(batch) => self.run(move |store| store.swap_batch(&batch)).await,
                None => Ok(Swap::Conflict),
            }
        }
        .await;
        Ok(result?)
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, Error> {
        self.prune_expired(before).await
    }
}

impl handover_code::store::AsyncAuditLog for AsyncSqliteStore {
    async fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Error> {
        let result: Result<Vec<AuditEntry>, SqliteError> = async {
            let owned = OwnedKey::of(key);
            self.run(move |store| store.history_at(owned.parts())).await
        }
        .await;
        Ok(result?)
    }

    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        Ok(self.run(move |store| store.since_at(cursor, limit)).await?)
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, Error> {
        Ok(self.run(move |store| store.prune_audit_at(before)).await?)
    }
}

impl AsyncSqliteStore {
    /// What [`Store::prune`](handover_code::Store::prune) does on this store.
    pub(crate) async fn prune_expired(&self, before: Timestamp) -> Result<u64, Error> {
        // The blocking prune answers the crate's error; the pool's own failure is the store's.
        self.run(move |store| Ok(store.prune_expired(before)))
            .await?
    }
}
