//! How the workspace's PostgreSQL suites open and reach this crate's `PgStore`
//! (`tests/support/pg_store.rs`): `PgStore::connect` with a URL, several servers through a
//! proxy that moves with the primary (`tests/support/pg_proxy.rs`).

use std::time::Duration;

use crate::pg_proxy::Proxy;
use crate::pg_store::{self, Pg, Target};
use handover_code::Error;
use handover_code_sqlx::PgStore;
use handover_code_sqlx::sqlx::{self, AssertSqlSafe};

/// `target` as a sqlx URL, with `extra` query parameters.
pub fn url(target: &Target, extra: &str) -> String {
    let port = match target.ports[..] {
        [port] => port,
        // sqlx reaches one host: several go through a proxy that moves with the primary,
        // as a load balancer or a managed endpoint would. It lives as long as the process.
        _ => std::boxed::Box::leak(std::boxed::Box::new(Proxy::start(&target.ports))).port,
    };
    let mut query: Vec<String> = Vec::new();
    if let Some(options) = &target.options {
        query.push(format!(
            "options={}",
            options.replace(' ', "%20").replace('=', "%3D")
        ));
    }
    if !extra.is_empty() {
        query.push(extra.to_string());
    }
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    format!("postgres://postgres@127.0.0.1:{port}/postgres{query}")
}

impl Pg for PgStore {
    fn open(
        rt: &tokio::runtime::Runtime,
        target: &Target,
        connections: usize,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let connections = u32::try_from(connections).unwrap();
        rt.block_on(PgStore::connect(&url(target, ""), connections, timeout))
    }
    fn create_schema(&self) -> impl Future<Output = Result<(), Error>> + Send {
        PgStore::create_schema(self)
    }
    fn with_prune_batch(self, rows: u32) -> Self {
        PgStore::with_prune_batch(self, rows)
    }
    fn with_table_prefix(self, prefix: &str) -> Result<Self, Error> {
        PgStore::with_table_prefix(self, prefix)
    }
    fn with_synchronous_standby(self, commit_wait: Duration) -> Self {
        PgStore::with_synchronous_standby(self, commit_wait)
    }
    fn records_table(&self) -> &str {
        PgStore::records_table(self)
    }
    fn audit_table(&self) -> &str {
        PgStore::audit_table(self)
    }
    fn prune_statement(&self) -> &str {
        PgStore::prune_statement(self)
    }
    fn prune_task(
        self,
        every: Duration,
        after: impl FnMut(Result<u64, Error>) + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        PgStore::prune_task(self, every, after)
    }
    async fn execute(&self, sql: &str) {
        sqlx::raw_sql(AssertSqlSafe(pg_store::setup_batch(sql)))
            .execute(self.pool())
            .await
            .unwrap();
    }
    async fn lines(&self, sql: &str) -> Vec<String> {
        sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
            .fetch_all(self.pool())
            .await
            .unwrap()
    }
}
