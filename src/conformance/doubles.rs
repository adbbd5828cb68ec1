//! Store wrappers for tests: the same store, run in the other verification mode.

use crate::store::forward;
use crate::store::{AsyncAuditLog, AuditLog};
use crate::store::{AsyncStore, Store};

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

forward!(
    impl [S: Store] Store for WithoutTransactions<S> {
        type Error = S::Error;
        const TRANSACTIONS: bool = false;
    }
    [] |this, call| call(), calling Store on &this.0;
    load, compare_and_swap, compare_and_swap_audited, prune, make_durable
);

forward!(
    impl [S: AsyncStore] AsyncStore for WithoutTransactions<S> {
        type Error = S::Error;
        const TRANSACTIONS: bool = false;
    }
    [async] |this, call| call().await, calling AsyncStore on &this.0;
    load, compare_and_swap, compare_and_swap_audited, prune, make_durable
);

forward!(
    impl [S: AuditLog] AuditLog for WithoutTransactions<S> {}
    [] |this, call| call(), calling AuditLog on &this.0;
    history, since, prune_audit
);

forward!(
    impl [S: AsyncAuditLog] AsyncAuditLog for WithoutTransactions<S> {}
    [async] |this, call| call().await, calling AsyncAuditLog on &this.0;
    history, since, prune_audit
);

#[cfg(test)]
mod tests;
