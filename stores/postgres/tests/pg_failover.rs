//! Failovers of PostgreSQL to a streaming standby, on `PostgresStore`: the workspace's
//! failover suite (`tests/support/pg_failover_suite.rs`, where each proof is described).
//! Without PostgreSQL every test is reported ignored, with the reason (and the run fails
//! under `CI=true`).
#![allow(unreachable_pub)]

#[path = "../../../tests/support/harness.rs"]
#[macro_use]
mod harness;

#[path = "../../../tests/support/scratch.rs"]
#[allow(dead_code)]
mod scratch;

#[path = "../../../tests/support/pg_cluster.rs"]
#[allow(dead_code)]
mod pg_cluster;

#[path = "../../../tests/support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

#[path = "../../../tests/support/race.rs"]
#[allow(dead_code)]
mod race;

#[path = "../../../tests/support/storm.rs"]
mod storm;

#[path = "../../../tests/support/pg_store.rs"]
#[allow(dead_code)]
mod pg_store;

#[path = "../../../tests/support/pg_failover_suite.rs"]
mod pg_failover_suite;

#[path = "support/store.rs"]
#[allow(dead_code)]
mod store;

fn main() {
    harness::run_one_at_a_time(
        pg_cluster::missing(),
        pg_failover_suite::trials::<handover_code_postgres::PostgresStore>(),
    );
}
