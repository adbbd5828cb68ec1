//! `AnyStore` from a URL, on every kind of store: the conformance kit on memory and SQLite
//! (every call goes through `AnyStore`'s dispatch), and a first service's issue, wrong code,
//! right code and replay on stores opened from `memory:`, `sqlite:` with options,
//! `postgres://` with a table prefix, `redis://` with a key prefix and `redis+cluster://`,
//! each server started for the test on 127.0.0.1 (`tests/support`). Built with every feature
//! (README's test command), `AnyStore` verifies in the reservation mode Redis needs; CI also
//! runs it with feature `sqlite` alone, where it verifies in one transaction and the
//! PostgreSQL and Redis URLs must answer the error that names their feature.
#![allow(unreachable_pub, dead_code)]

#[path = "../../../tests/support/harness.rs"]
#[macro_use]
mod harness;

#[path = "../../../tests/support/scratch.rs"]
mod scratch;

#[path = "../../../tests/support/fixtures.rs"]
mod fixtures;

#[path = "../../../tests/support/pg_cluster.rs"]
mod pg_cluster;

#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use std::sync::atomic::{AtomicUsize, Ordering};

use fixtures::runtime;
use handover_code::conformance;
use handover_code::record::Earlier;
use handover_code::store::AsyncAuditLog;
use handover_code::{Attempt, MemoryStore, Outcome, Policy, Secret, Service};
use handover_code_any::AnyStore;
use handover_code_sqlite::{AsyncSqliteStore, Durability, SqliteStore};

/// Issue, a wrong code, the right one under a request id, and its retry, through `url`'s
/// store: what a first service does, answered as the store's own type would answer it. Built
/// without the store's feature (`compiled` false), the URL answers a setup error naming it.
fn first_service(url: &str, kind: &str, compiled: bool) {
    let rt = runtime();
    rt.block_on(async {
        if !compiled {
            let said = AnyStore::connect(url).await.unwrap_err();
            let said = format!("{said}: {}", std::error::Error::source(&said).unwrap());
            let feature = match kind {
                "sqlite+sqlx" => "sqlx-sqlite",
                "postgres+sqlx" => "sqlx-postgres",
                kind => kind,
            };
            assert!(said.contains(&format!("feature `{feature}`")), "{said}");
            return;
        }
        let store = AnyStore::connect(url).await.unwrap();
        assert_eq!(store.kind(), kind);
        let policy = Policy::default().with_verifier_budget(10, 86_400).unwrap();
        let service =
            Service::new(Secret::from_bytes(&[7; 32]).unwrap(), policy, "any/url").unwrap();
        let now = 1_700_000_000;
        let code = service
            .issue_async(&store, "B-1", now + 600, now)
            .await
            .unwrap();
        let wrong = if code.expose() == "0000" {
            "0001"
        } else {
            "0000"
        };
        let answer = service
            .verify_async(&store, "B-1", wrong, "v-1", now)
            .await
            .unwrap();
        assert_eq!(answer, Outcome::Rejected { attempts_left: 2 });
        let attempt = Attempt::by("v-1").request("r-1");
        let answer = service
            .verify_async(&store, "B-1", code.expose(), attempt, now)
            .await
            .unwrap();
        assert_eq!(answer, Outcome::Accepted);
        let again = service
            .verify_async(&store, "B-1", code.expose(), attempt, now)
            .await
            .unwrap();
        assert_eq!(again, Outcome::Replayed(Earlier::Accepted));
        let booking = service.booking_async(&store, "B-1").await.unwrap().unwrap();
        assert_eq!(booking.last_verifier(), Some(&b"v-1"[..]));
        // The booking's history, from the store's audit log (Redis keeps none).
        let key = handover_code::Key::Booking {
            context: handover_code::Context::new("any/url").unwrap(),
            id: handover_code::BookingId::new("B-1").unwrap(),
        };
        let history = AsyncAuditLog::history(&store, key).await;
        if kind == "redis" {
            let said = history.unwrap_err();
            assert!(matches!(said, handover_code::Error::Setup(_)), "{said:?}");
            // Nothing to prune: a host's prune loop runs on any store.
            assert_eq!(
                AsyncAuditLog::prune_audit(&store, handover_code::Timestamp(now))
                    .await
                    .unwrap(),
                0
            );
        } else {
            let actions: Vec<&str> = history.unwrap().iter().map(|e| e.action.name()).collect();
            assert_eq!(actions, ["issued", "rejected", "accepted"], "{kind}");
        }
    });
}

fn the_async_kit_through_any_store_on_memory() {
    let rt = runtime();
    rt.block_on(conformance::check_contract_async(|| {
        AnyStore::from(MemoryStore::new())
    }))
    .unwrap();
    let report = rt
        .block_on(conformance::check_all_async(|| {
            AnyStore::from(MemoryStore::new())
        }))
        .unwrap();
    assert!(
        report.conflicts > 0,
        "the kit's threads never contended: {report:?}"
    );
    conformance::check_scenarios_async(|| AnyStore::from(MemoryStore::new()), rt.handle()).unwrap();
}

fn the_async_kit_through_any_store_on_sqlite() {
    let dir = scratch::ScratchDir::new("any-sqlite");
    let n = AtomicUsize::new(0);
    let fresh = || {
        let file = dir.join(format!("{}.db", n.fetch_add(1, Ordering::Relaxed)));
        AnyStore::from(AsyncSqliteStore::new(
            SqliteStore::open(file, Durability::Normal).unwrap(),
        ))
    };
    let rt = runtime();
    rt.block_on(conformance::check_contract_async(fresh))
        .unwrap();
    rt.block_on(conformance::check_all_async(fresh)).unwrap();
    conformance::check_scenarios_async(fresh, rt.handle()).unwrap();
}

fn a_first_service_on_memory_and_sqlite_urls() {
    first_service("memory:", "memory", true);
    let dir = scratch::ScratchDir::new("any-url");
    let path = dir.join("centre.db");
    first_service(
        &format!(
            "sqlite:{}?durability=normal&busy_timeout_ms=2000",
            path.display()
        ),
        "sqlite",
        true,
    );
    assert!(path.exists(), "the sqlite URL's file was not made");
    first_service("sqlite::memory:", "sqlite", true);
    // The same on handover-code-sqlx's store.
    let sqlx = cfg!(feature = "sqlx-sqlite");
    let path = dir.join("sqlx.db");
    let url = format!("sqlite+sqlx:{}?durability=normal", path.display());
    first_service(&url, "sqlite+sqlx", sqlx);
    assert_eq!(path.exists(), sqlx, "the sqlite+sqlx URL's file");
    first_service("sqlite+sqlx::memory:", "sqlite+sqlx", sqlx);
}

fn a_first_service_on_a_postgres_url_with_a_table_prefix() {
    let Some(cluster) = pg_cluster::Cluster::start() else {
        return;
    };
    let port = cluster
        .params()
        .split("port=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    first_service(
        &format!(
            "postgres://postgres@127.0.0.1:{port}/postgres?prefix=any_&pool=4&sslmode=disable"
        ),
        "postgres",
        cfg!(feature = "postgres"),
    );
    first_service(
        &format!("postgres+sqlx://postgres@127.0.0.1:{port}/postgres?prefix=anysqlx_&pool=4"),
        "postgres+sqlx",
        cfg!(feature = "sqlx-postgres"),
    );
    let tables = cluster.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'any%'");
    for (compiled, table) in [
        (cfg!(feature = "postgres"), "any_records"),
        (cfg!(feature = "postgres"), "any_audit"),
        (cfg!(feature = "sqlx-postgres"), "anysqlx_records"),
        (cfg!(feature = "sqlx-postgres"), "anysqlx_audit"),
    ] {
        assert_eq!(tables.contains(table), compiled, "{table}: {tables}");
    }
}

fn a_first_service_on_redis_and_redis_cluster_urls() {
    let Some(server) = redis_server::Server::start("everysec") else {
        return;
    };
    first_service(
        &format!("{}?prefix=any&timeout_ms=2000", server.url()),
        "redis",
        cfg!(feature = "redis"),
    );
    if !cfg!(feature = "redis") {
        return;
    }
    let keys = redis_server::cli(server.port, &["--scan", "--pattern", "any*"]);
    assert!(!keys.trim().is_empty(), "no key under the URL's prefix");
    let Some(cluster) = redis_server::Cluster::start() else {
        return;
    };
    let nodes: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| {
            u.trim_start_matches("redis://")
                .trim_end_matches('/')
                .to_owned()
        })
        .collect();
    first_service(
        &format!("redis+cluster://{}/", nodes.join(",")),
        "redis",
        true,
    );
}

fn main() {
    let missing = pg_cluster::missing().or_else(redis_server::missing);
    harness::run(
        missing,
        trials!(
            server: a_first_service_on_a_postgres_url_with_a_table_prefix,
            a_first_service_on_redis_and_redis_cluster_urls;
            plain: the_async_kit_through_any_store_on_memory,
            the_async_kit_through_any_store_on_sqlite,
            a_first_service_on_memory_and_sqlite_urls
        ),
    );
}
