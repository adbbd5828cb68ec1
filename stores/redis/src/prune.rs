//! Prune: every bucket's prune index walked in batches, each batch one short script, and
//! the task that prunes on an interval.

use core::time::Duration;

use handover_code::{AsyncStore, Error, Timestamp};

use super::{RedisError, RedisStore, layout, until_run};

/// Walks every bucket's prune index, in batches of [`RedisStore::with_prune_batch`]
/// records, each batch one script.
impl RedisStore {
    /// What [`Store::prune`](handover_code::Store::prune) does on this store.
    pub(crate) async fn prune_expired(&self, before: Timestamp) -> Result<u64, Error> {
        let mut removed = 0u64;
        for bucket in 0..layout::BUCKETS {
            loop {
                let (deleted, more) = self.prune_bucket(bucket, before).await?;
                removed = removed.saturating_add(deleted);
                if !more {
                    break;
                }
            }
        }
        Ok(removed)
    }

    /// Prunes every `every`, for as long as the returned future runs: spawn it on the
    /// runtime (`tokio::spawn(store.clone().prune_task(..))`) and abort it to stop. Each
    /// pass prunes, in batches, what expired before the system clock's reading at its start,
    /// and hands its result to `after` (for the host's log and metrics); a failed pass is
    /// tried again at the next interval.
    pub async fn prune_task(self, every: Duration, after: impl FnMut(Result<u64, Error>) + Send) {
        let mut after = after;
        loop {
            tokio::time::sleep(every).await;
            after(self.prune(Timestamp::now()).await);
        }
    }

    /// One batch of a prune in one bucket: deletes at most the batch size of records there
    /// that expired before `before`. Answers (records deleted, whether the bucket may hold
    /// more).
    async fn prune_bucket(
        &self,
        bucket: u16,
        before: Timestamp,
    ) -> Result<(u64, bool), RedisError> {
        let index = layout::index_key(&self.prefix, bucket);
        let cut = layout::cut_off(before);
        // The score is a double: inclusive, so rounding never hides an expired record; the
        // script checks each candidate's exact `p`.
        let mut range = ::redis::cmd("ZRANGEBYSCORE");
        range
            .arg(&index)
            .arg("-inf")
            .arg(&cut[..])
            .arg("LIMIT")
            .arg(0)
            .arg(self.prune_batch);
        let candidates: Vec<Vec<u8>> = until_run(|| self.send(&range)).await?;
        if candidates.is_empty() {
            return Ok((0, false));
        }
        let mut keys: Vec<&[u8]> = Vec::with_capacity(candidates.len().saturating_add(1));
        keys.push(&index);
        keys.extend(candidates.iter().map(Vec::as_slice));
        let (deleted, dropped): (u64, u64) = self.run(&self.prune, &keys, &[&cut[..]]).await?;
        let full = u32::try_from(candidates.len()).is_ok_and(|n| n >= self.prune_batch);
        // A full batch of which nothing left the index is all live records (scores rounded
        // down to the cut-off): the bucket is done.
        Ok((deleted, full && dropped > 0))
    }
}
