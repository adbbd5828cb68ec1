//! What the workspace's PostgreSQL suites (`pg_suite.rs`, `pg_failover_suite.rs`,
//! `pg_auto_failover_suite.rs`) need of a PostgreSQL store: [`Pg`], which each store's tests
//! implement, and the [`Target`] it opens.

use std::time::Duration;

use crate::pg_cluster::Cluster;
use handover_code::Error;
use handover_code::store::{AsyncAuditLog, AsyncStore};

/// Where a store connects: one server or several (the first that takes writes), and the
/// connection options to keep.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The servers' ports on 127.0.0.1, in order.
    pub ports: Vec<u16>,
    /// PostgreSQL options (`-c name=value …`) the store must keep.
    pub options: Option<String>,
}

impl Target {
    /// `cluster`'s server.
    pub fn on(cluster: &Cluster) -> Self {
        Self::port(cluster.port)
    }

    /// The server on `port`.
    pub fn port(port: u16) -> Self {
        Self {
            ports: vec![port],
            options: None,
        }
    }

    /// The target as `tokio_postgres` parameters.
    pub fn params(&self) -> String {
        let hosts = vec!["127.0.0.1"; self.ports.len()].join(",");
        let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        let mut params = format!(
            "host={hosts} port={} user=postgres dbname=postgres",
            ports.join(",")
        );
        if self.ports.len() > 1 {
            params.push_str(" target_session_attrs=read-write");
        }
        if let Some(options) = &self.options {
            params.push_str(&format!(" options='{options}'"));
        }
        params
    }
}

/// What the proofs need of a PostgreSQL store beyond the store traits: how to open it and
/// its settings, and a way to run the tests' own SQL on its own connections.
pub trait Pg: AsyncStore<Error = Error> + AsyncAuditLog + Clone + Send + Sync + 'static {
    /// A store on `target` with at most `connections` connections, `timeout` bounding waits
    /// and statements, as the store's own `connect` makes it; not yet used.
    fn open(
        rt: &tokio::runtime::Runtime,
        target: &Target,
        connections: usize,
        timeout: Duration,
    ) -> Result<Self, Error>;
    /// The store's `create_schema`.
    fn create_schema(&self) -> impl Future<Output = Result<(), Error>> + Send;
    /// The store's `with_prune_batch`.
    fn with_prune_batch(self, rows: u32) -> Self;
    /// The store's `with_table_prefix`.
    fn with_table_prefix(self, prefix: &str) -> Result<Self, Error>;
    /// The store's `with_synchronous_standby`.
    fn with_synchronous_standby(self, commit_wait: Duration) -> Self;
    /// The store's table names and prune statement.
    fn records_table(&self) -> &str;
    fn audit_table(&self) -> &str;
    fn prune_statement(&self) -> &str;
    /// The store's `prune_task`.
    fn prune_task(
        self,
        every: Duration,
        after: impl FnMut(Result<u64, Error>) + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static;
    /// Runs `sql` (one or more statements) on one of the store's connections, as one
    /// transaction through [`setup_batch`]: test setup, never held to the store's statement
    /// timeout.
    fn execute(&self, sql: &str) -> impl Future<Output = ()> + Send;
    /// The first column of each row of `sql`, as text, on one of the store's connections.
    fn lines(&self, sql: &str) -> impl Future<Output = Vec<String>> + Send;
    /// The first column of the first row of `sql`, as text.
    fn text(&self, sql: &str) -> impl Future<Output = String> + Send {
        async move { self.lines(sql).await.swap_remove(0) }
    }
}

/// `sql` as one transaction free of the store's `statement_timeout`. A test's setup (100,000
/// rows and an `ANALYZE`) is not the store's work: on a loaded CI machine it ran past the
/// 3 s the stores under test are given, and the trial failed before it tested anything.
pub fn setup_batch(sql: &str) -> String {
    format!("BEGIN; SET LOCAL statement_timeout = 0; {sql}; COMMIT")
}
