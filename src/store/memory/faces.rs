//! The store traits on the memory store: the blocking ones forward to its inherent methods
//! (which hosts call without importing a trait), the async store calls the blocking one
//! with futures ready at once (the store never waits on I/O).

use std::vec::Vec;

use crate::audit::Entry as Audited;
use crate::error::Error;
use crate::key::Key;
use crate::record::{Record, Version};
use crate::store::{AsyncAuditLog, AuditEntry, AuditLog, Cursor, Store, Swap};
use crate::time::Timestamp;

use super::MemoryStore;

impl Store for MemoryStore {
    type Error = Error;
    const TRANSACTIONS: bool = true;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        Self::load(self, key)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        Self::compare_and_swap(self, key, expected, record, new)
    }

    fn compare_and_swap_audited(
        &self,
        entry: &Audited<'_>,
        record: &Record,
    ) -> Result<Swap, Error> {
        Self::compare_and_swap_audited(self, entry, record)
    }

    fn compare_and_swap_all(
        &self,
        writes: &[(Audited<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Error> {
        Self::compare_and_swap_all(self, writes, unchanged)
    }

    fn prune(&self, before: Timestamp) -> Result<u64, Error> {
        Self::prune(self, before)
    }
}

impl AuditLog for MemoryStore {
    fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Error> {
        Self::history(self, key)
    }

    fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        Self::since(self, cursor, limit)
    }

    fn prune_audit(&self, before: Timestamp) -> Result<u64, Error> {
        Self::prune_audit(self, before)
    }
}

impl AsyncAuditLog for MemoryStore {
    async fn history(&self, key: Key<'_>) -> Result<Vec<AuditEntry>, Error> {
        Self::history(self, key)
    }

    async fn since(&self, cursor: Cursor, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        Self::since(self, cursor, limit)
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, Error> {
        Self::prune_audit(self, before)
    }
}

crate::store::async_at_once!(impl [] AsyncStore for MemoryStore, calling MemoryStore as |this| this);
