//! An async store driven from plain threads, for the (synchronous) conformance kit and the
//! model's sequences.

use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::{AsyncAuditLog, AuditEntry, AuditLog, Cursor};
use handover_code::store::{AsyncStore, Key, Store, Swap};
use handover_code::{AsyncPrune, Prune, Timestamp};

pub struct Blocking<S> {
    pub store: S,
    pub handle: tokio::runtime::Handle,
}

impl<S: AsyncStore> Store for Blocking<S> {
    type Error = S::Error;
    // The store's own mode: a wrapper that drops this runs the reservation mode instead.
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

impl<S: AsyncPrune> Prune for Blocking<S> {
    fn prune(&self, before: Timestamp) -> Result<u64, S::Error> {
        self.handle.block_on(AsyncPrune::prune(&self.store, before))
    }
}
