//! Store wrappers for tests: the same store, run in the other verification mode.

use std::vec::Vec;

use crate::audit::Entry;
use crate::key::Key;
use crate::record::{Record, Version};
use crate::store::{AsyncAuditLog, AuditEntry, AuditLog, Cursor};
use crate::store::{AsyncStore, Store, Swap};
use crate::time::Timestamp;

/// A store with its transactions hidden: [`Store::TRANSACTIONS`] is `false`, so the crate's
/// verifications on it reserve a budget slot, one key at a time, as they do on Redis. Every
/// call goes to the inner store; its batches are never asked for. For running the
/// reservation mode's checks (the model, the scenarios) on a store with transactions.
///
/// ```
/// use handover_code::conformance::{self, WithoutTransactions};
/// use handover_code::MemoryStore;
///
/// conformance::check_all(|| WithoutTransactions(MemoryStore::new())).unwrap();
/// conformance::model::check_sequence(WithoutTransactions(MemoryStore::new()), &[]).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct WithoutTransactions<S>(pub S);

impl<S: Store> Store for WithoutTransactions<S> {
    type Error = S::Error;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, S::Error> {
        self.0.load(key)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, S::Error> {
        self.0.compare_and_swap(key, expected, record, new)
    }

    fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, S::Error> {
        self.0.compare_and_swap_audited(entry, record)
    }

    fn prune(&self, before: Timestamp) -> Result<u64, S::Error> {
        self.0.prune(before)
    }

    fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, S::Error> {
        self.0.make_durable(key, version)
    }
}

impl<S: AsyncStore> AsyncStore for WithoutTransactions<S> {
    type Error = S::Error;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, S::Error> {
        self.0.load(key).await
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, S::Error> {
        self.0.compare_and_swap(key, expected, record, new).await
    }

    async fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, S::Error> {
        self.0.compare_and_swap_audited(entry, record).await
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, S::Error> {
        self.0.prune(before).await
    }

    async fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, S::Error> {
        self.0.make_durable(key, version).await
    }
}

impl<S: AuditLog> AuditLog for WithoutTransactions<S> {
    fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, S::Error> {
        self.0.history(key)
    }

    fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, S::Error> {
        self.0.since(cursor, limit)
    }

    fn prune_audit(&self, before: Timestamp) -> Result<u64, S::Error> {
        self.0.prune_audit(before)
    }
}

impl<S: AsyncAuditLog> AsyncAuditLog for WithoutTransactions<S> {
    async fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, S::Error> {
        self.0.history(key).await
    }

    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, S::Error> {
        self.0.since(cursor, limit).await
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, S::Error> {
        self.0.prune_audit(before).await
    }
}

#[cfg(test)]
mod tests;
