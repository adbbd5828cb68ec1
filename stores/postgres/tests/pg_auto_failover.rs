//! A failover of PostgreSQL decided by pg_auto_failover, on `PostgresStore`: the
//! workspace's suite (`tests/support/pg_auto_failover_suite.rs`, which describes it).
//! Without `pg_autoctl` the test is reported ignored, with the reason (and the run fails
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

#[path = "../../../tests/support/pg_store.rs"]
#[allow(dead_code)]
mod pg_store;

#[path = "../../../tests/support/pg_auto_failover_suite.rs"]
mod pg_auto_failover_suite;

#[path = "support/store.rs"]
#[allow(dead_code)]
mod store;

fn main() {
    harness::run_one_at_a_time(
        pg_auto_failover_suite::missing(),
        vec![(
            "a_pg_auto_failover_failover_loses_nothing_answered",
            true,
            pg_auto_failover_suite::a_pg_auto_failover_failover_loses_nothing_answered::<
                handover_code_postgres::PostgresStore,
            > as fn(),
        )],
    );
}
