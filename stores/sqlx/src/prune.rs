//! The prune task both stores run: a sleep, a prune of what expired, the result to the host.

use core::time::Duration;

use handover_code::{AsyncStore, Error, Timestamp};

/// Prunes `store` every `every`, for as long as the future runs, handing each pass's result
/// to `after`.
pub(crate) async fn every<S: AsyncStore<Error = Error>>(
    store: &S,
    every: Duration,
    mut after: impl FnMut(Result<u64, Error>) + Send,
) {
    loop {
        tokio::time::sleep(every).await;
        after(store.prune(Timestamp::now()).await);
    }
}
