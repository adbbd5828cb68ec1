//! An async store driven from plain threads (feature `conformance-tokio`): the bridge that
//! runs the kit's threaded checks (the scenarios, the model's sequences, the hammers) on an
//! [`AsyncStore`].

use tokio::runtime::Handle;

use crate::store::forward;
use crate::store::{AsyncAuditLog, AsyncStore, AuditLog, Store};

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

forward!(
    impl [S: AsyncStore] Store for Blocking<S> {
        type Error = S::Error;
        const TRANSACTIONS: bool = S::TRANSACTIONS;
    }
    [] |this, call| this.handle.block_on(call()), calling AsyncStore on &this.store;
    load, compare_and_swap, compare_and_swap_audited, compare_and_swap_all, prune, make_durable
);

forward!(
    impl [S: AsyncAuditLog] AuditLog for Blocking<S> {}
    [] |this, call| this.handle.block_on(call()), calling AsyncAuditLog on &this.store;
    history, since, prune_audit
);
