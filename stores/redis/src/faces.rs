//! The store traits on [`RedisStore`], each a forwarder to its script call.

use handover_code::Error;
use handover_code::Key;
use handover_code::Timestamp;
use handover_code::record::{Record, Version};
use handover_code::{AsyncStore, Swap};

use super::{RedisError, RedisStore, layout, until_run};

impl AsyncStore for RedisStore {
    type Error = Error;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        let result: Result<Option<(Record, Version)>, RedisError> = async {
            let name = layout::record_key(&self.prefix, key);
            let mut cmd = ::redis::cmd("HMGET");
            cmd.arg(&name).arg("v").arg("r");
            let (version, record): (Option<Vec<u8>>, Option<Vec<u8>>) =
                until_run(|| self.send(&cmd)).await?;
            match (version, record) {
                (None, None) => Ok(None),
                (Some(version), Some(record)) => {
                    let version = layout::parse_decimal(&version).ok_or(RedisError::Incomplete)?;
                    Ok(Some((Record::decode_stored(&record)?, Version(version))))
                }
                _ => Err(RedisError::Incomplete),
            }
        }
        .await;
        Ok(result?)
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        let name = layout::record_key(&self.prefix, key);
        let index = layout::index_key(&self.prefix, layout::bucket(key));
        let mut buf = [0u8; Record::MAX_LEN];
        let len = record.encode(&mut buf);
        let bytes = buf.get(..len).unwrap_or_default();
        let expected = expected.map(|v| layout::decimal(v.0)).unwrap_or_default();
        let new = layout::decimal(new.0);
        let prune_at = layout::prune_at(record);
        let args: [&[u8]; 4] = [&expected, &new, bytes, &prune_at];
        let keys: [&[u8]; 2] = [&name, &index];
        let swapped: i64 = match &self.replicated {
            None => self.run(&self.swap, &keys, &args).await?,
            Some(wait) => {
                self.run_replicated(wait, layout::SWAP, &keys, &args)
                    .await?
            }
        };
        Ok(if swapped == 1 {
            Swap::Swapped
        } else {
            Swap::Conflict
        })
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, Error> {
        self.prune_expired(before).await
    }

    /// Without replicated writes, nothing (a failover may lose any write, answered or read).
    /// With them, the version written over itself and waited for like any write.
    async fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, Error> {
        let Some(wait) = &self.replicated else {
            return Ok(Swap::Swapped);
        };
        let name = layout::record_key(&self.prefix, key);
        let version = layout::decimal(version.0);
        let touched = self
            .run_replicated(wait, layout::TOUCH, &[&name], &[&version])
            .await?;
        Ok(if touched == 1 {
            Swap::Swapped
        } else {
            Swap::Conflict
        })
    }
}
