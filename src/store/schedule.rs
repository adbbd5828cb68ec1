//! The prune loop the async stores' `prune_task` runs.

use core::time::Duration;

use crate::store::AsyncStore;
use crate::time::Timestamp;

/// Every `every`, prunes what expired before the system clock's reading at the pass's start
/// and hands the result to `after`; forever, until the future is dropped or aborted.
pub(crate) async fn prune_every<S: AsyncStore>(
    store: &S,
    every: Duration,
    mut after: impl FnMut(Result<u64, S::Error>) + Send,
) {
    loop {
        tokio::time::sleep(every).await;
        after(store.prune(Timestamp::now()).await);
    }
}
