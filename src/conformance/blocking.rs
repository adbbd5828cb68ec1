//! An async store driven from plain threads (feature `conformance-tokio`): the bridge that
//! runs the kit's threaded checks (the scenarios, the model's sequences, the hammers) on an
//! [`AsyncStore`].

use std::vec::Vec;

use tokio::runtime::Handle;

use crate::audit::Entry;
use crate::key::Key;
use crate::record::{Record, Version};
use crate::store::{AsyncAuditLog, AsyncStore, AuditEntry, AuditLog, Cursor, Store, Swap};
use crate::time::Timestamp;

/// An [`AsyncStore`] as a [`Store`], each call waited for with [`Handle::block_on`]: for the
/// kit's threaded checks only, never for a host (it blocks the calling thread, and it panics
/// on a runtime's own thread, as `Handle::block_on` does). Use it from plain threads (a
/// `#[test]`, not a `#[tokio::test]`) with a multi-thread runtime's handle.
/// [`Store::TRANSACTIONS`] is the async store's own, so the verification runs in its mode.
///
/// ```
/// use handover_code::conformance::{self, Blocking};
/// use handover_code::MemoryStore;
///
/// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
/// let fresh = || Blocking { store: MemoryStore::new(), handle: runtime.handle().clone() };
/// conformance::check_all(fresh)?;
/// conformance::model::check_sequence_audited(fresh(), &[])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Blocking<S> {
    /// The async store.
    pub store: S,
    /// The runtime whose workers serve the store's I/O.
    pub handle: Handle,
}

impl<S: AsyncStore> Store for Blocking<S> {
    type Error = S::Error;
    const TRANSACTIONS: bool = S::TRANSACTIONS;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, S::Error> {
        self.handle.block_on(AsyncStore::load(&self.store, key))
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, S::Error> {
        self.handle.block_on(AsyncStore::compare_and_swap(
            &self.store,
            key,
            expected,
            record,
            new,
        ))
    }

    fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, S::Error> {
        self.handle.block_on(AsyncStore::compare_and_swap_audited(
            &self.store,
            entry,
            record,
        ))
    }

    fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, S::Error> {
        self.handle.block_on(AsyncStore::compare_and_swap_all(
            &self.store,
            writes,
            unchanged,
        ))
    }

    fn prune(&self, before: Timestamp) -> Result<u64, S::Error> {
        self.handle.block_on(AsyncStore::prune(&self.store, before))
    }

    fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, S::Error> {
        self.handle
            .block_on(AsyncStore::make_durable(&self.store, key, version))
    }
}

impl<S: AsyncAuditLog> AuditLog for Blocking<S> {
    fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, S::Error> {
        self.handle
            .block_on(AsyncAuditLog::history(&self.store, key))
    }

    fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, S::Error> {
        self.handle
            .block_on(AsyncAuditLog::since(&self.store, cursor, limit))
    }

    fn prune_audit(&self, before: Timestamp) -> Result<u64, S::Error> {
        self.handle
            .block_on(AsyncAuditLog::prune_audit(&self.store, before))
    }
}
