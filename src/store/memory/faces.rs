//! The store traits on the memory store: the blocking ones forward to its inherent methods
//! (which hosts call without importing a trait), the async store calls the blocking one
//! with futures ready at once (the store never waits on I/O).

use crate::error::Error;
use crate::store::forward;
use crate::store::{AsyncAuditLog, AuditLog, Store};

use super::MemoryStore;

forward!(
    impl [] Store for MemoryStore {
        type Error = Error;
        const TRANSACTIONS: bool = true;
    }
    [] |this, call| call(), calling MemoryStore on this;
    load, compare_and_swap, compare_and_swap_audited, compare_and_swap_all, prune
);

forward!(
    impl [] AuditLog for MemoryStore {}
    [] |this, call| call(), calling MemoryStore on this;
    history, since, prune_audit
);

forward!(
    impl [] AsyncAuditLog for MemoryStore {}
    [async] |this, call| call(), calling MemoryStore on this;
    history, since, prune_audit
);

crate::store::async_at_once!(impl [] AsyncStore for MemoryStore, calling MemoryStore as |this| this);
