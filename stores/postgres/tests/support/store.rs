//! How the workspace's PostgreSQL suites open and reach this crate's store
//! (`tests/support/pg_store.rs`): `PostgresStore::connect` with tokio-postgres parameters,
//! several servers as a multi-host string that takes the one accepting writes.

use std::time::Duration;

use crate::pg_store::{self, Pg, Target};
use handover_code::Error;
use handover_code_postgres::PostgresStore;

impl Pg for PostgresStore {
    fn open(
        _rt: &tokio::runtime::Runtime,
        target: &Target,
        connections: usize,
        timeout: Duration,
    ) -> Result<Self, Error> {
        PostgresStore::connect(&target.params(), connections, timeout)
    }
    fn create_schema(&self) -> impl Future<Output = Result<(), Error>> + Send {
        PostgresStore::create_schema(self)
    }
    fn with_prune_batch(self, rows: u32) -> Self {
        PostgresStore::with_prune_batch(self, rows)
    }
    fn with_table_prefix(self, prefix: &str) -> Result<Self, Error> {
        PostgresStore::with_table_prefix(self, prefix)
    }
    fn with_synchronous_standby(self, commit_wait: Duration) -> Self {
        PostgresStore::with_synchronous_standby(self, commit_wait)
    }
    fn records_table(&self) -> &str {
        PostgresStore::records_table(self)
    }
    fn audit_table(&self) -> &str {
        PostgresStore::audit_table(self)
    }
    fn prune_statement(&self) -> &str {
        PostgresStore::prune_statement(self)
    }
    fn prune_task(
        self,
        every: Duration,
        after: impl FnMut(Result<u64, Error>) + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        PostgresStore::prune_task(self, every, after)
    }
    async fn execute(&self, sql: &str) {
        let client = self.pool().get().await.unwrap();
        client
            .batch_execute(&pg_store::setup_batch(sql))
            .await
            .unwrap();
    }
    async fn lines(&self, sql: &str) -> Vec<String> {
        let client = self.pool().get().await.unwrap();
        let rows = client.query(sql, &[]).await.unwrap();
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    }
}
