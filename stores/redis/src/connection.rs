//! The store's connection, and how to open more like it for the replicated writes' waits.

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster_async::ClusterConnection;

/// The connection: one server through the connection manager, or a cluster.
#[derive(Clone)]
pub(crate) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// How to open another connection like the store's own, for the replicated writes' waits
/// (see [`RedisStore::with_replicated_writes`]); `None` for a connection the host built.
#[derive(Clone)]
pub(crate) enum Opener {
    Single(::redis::Client, ConnectionManagerConfig),
    Cluster(::redis::cluster::ClusterClient),
    None,
}

impl Opener {
    /// A new connection, or `None` where the store was given the host's connection.
    pub(crate) async fn open(&self) -> Result<Option<Connection>, ::redis::RedisError> {
        Ok(match self {
            Self::Single(client, config) => Some(Connection::Single(
                ConnectionManager::new_with_config(client.clone(), config.clone()).await?,
            )),
            Self::Cluster(client) => {
                Some(Connection::Cluster(client.get_async_connection().await?))
            }
            Self::None => None,
        })
    }
}
