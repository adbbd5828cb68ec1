//! The PostgreSQL proofs every PostgreSQL store of the workspace passes, against a real
//! server each test starts for itself: the conformance kit, several OS processes on one
//! database, terminated backends, a server restart, every isolation level, the caller's
//! connection options, prune, the audit log, table prefixes, `make_durable` and a replay
//! storm. Each store's test binary (`handover-code-postgres`'s and `handover-code-sqlx`'s
//! `tests/postgres.rs`) says how to open its store ([`Pg`], `tests/support/pg_store.rs`)
//! and runs [`trials`] on it; what
//! only one store has (its TLS settings) is tested in its own binary.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fixtures::{
    self, NOW, UNTIL, answers, check_processes, keys, runtime, service, start_at, wait_for_start,
};
use crate::pg_cluster::Cluster;
use crate::pg_store::{Pg, Target};
use crate::written::{self, check_written, issue_many, verify_all};
use crate::{audited, cancel, corrupt, ops, roles, storm};
use handover_code::conformance::{Blocking, WithoutTransactions};
use handover_code::record::Version;
use handover_code::store::{AsyncAuditLog, AsyncStore, Swap};
use handover_code::{BookingId, Error, Timestamp, conformance};

/// Every proof, for `S`, each needing the server.
pub fn trials<S: Pg>() -> Vec<(&'static str, bool, fn())> {
    trials!(generic S; server: passes_the_conformance_kit, passes_the_async_conformance_kit_as_an_async_store, a_real_server_agrees_with_the_model, every_shared_store_scenario_on_a_real_server, dropped_verifications_settle_on_a_real_server, the_flow_and_prune_on_a_real_server, child, several_processes_on_one_database_keep_every_limit, terminated_backends_give_errors_never_unwritten_answers_and_the_store_recovers, a_server_restart_gives_errors_then_the_store_recovers, every_proof_holds_at_every_isolation_level, connect_keeps_the_callers_options, prune_deletes_in_batches_and_the_task_keeps_pruning, the_audit_log_on_a_real_server, since_never_skips_an_entry_committed_out_of_order, table_prefixes_keep_tenants_apart, prune_batches_use_the_prune_at_index, make_durable_commits_without_writing_the_row, a_replay_storm_never_contends, faults_are_classed_and_unreadable_rows_are_corrupt)
}

/// The store, its table emptied, driven from plain threads.
fn emptied<S: Pg>(rt: &tokio::runtime::Runtime, store: &S) -> Blocking<S> {
    rt.block_on(store.execute("TRUNCATE handover_records, handover_audit"));
    Blocking {
        store: store.clone(),
        handle: rt.handle().clone(),
    }
}

/// A fresh cluster, a runtime, and a store on it with `connections` pooled connections and
/// the schema created; `None` (the test skips) where PostgreSQL is not installed.
fn start<S: Pg>(connections: usize) -> Option<(Cluster, tokio::runtime::Runtime, S)> {
    let cluster = Cluster::start()?;
    let rt = runtime();
    let store = S::open(
        &rt,
        &Target::on(&cluster),
        connections,
        Duration::from_secs(3),
    )
    .unwrap();
    rt.block_on(store.create_schema()).unwrap();
    Some((cluster, rt, store))
}

pub fn passes_the_conformance_kit<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(70) else {
        return;
    };
    rt.block_on(store.create_schema()).unwrap(); // idempotent
    let report = conformance::check_all(|| emptied(&rt, &store)).unwrap();
    assert!(report.conflicts > 0);
    let one_key = conformance::check_all(|| WithoutTransactions(emptied(&rt, &store))).unwrap();
    assert!(one_key.conflicts > 0);
}

pub fn passes_the_async_conformance_kit_as_an_async_store<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(70) else {
        return;
    };
    let handle = rt.handle().clone();
    let fresh = || {
        tokio::task::block_in_place(|| {
            handle.block_on(store.execute("TRUNCATE handover_records, handover_audit"));
        });
        store.clone()
    };
    let report = rt
        .block_on(async { conformance::check_all_async(fresh).await })
        .unwrap();
    assert!(report.conflicts > 0);
}

/// The model's operation sequences (four services, prunes, faults, cut-off operations) on a
/// real server, each on an emptied table.
pub fn a_real_server_agrees_with_the_model<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(8) else {
        return;
    };
    agrees_with_the_model(&rt, &store, 24, 50, "");
    // One key at a time, as a store that does not opt in to transactions runs it.
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 12,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(ops::op(), 1..40), |ops| {
            let store = WithoutTransactions(emptied(&rt, &store));
            conformance::model::check_sequence_audited(store, &ops)
                .map_err(|failure| TestCaseError::fail(format!("one key at a time: {failure}")))
        })
        .unwrap();
}

/// `cases` of the model's operation sequences (up to `longest` operations, prunes
/// included), each on an emptied table; a failure names `label`.
fn agrees_with_the_model<S: Pg>(
    rt: &tokio::runtime::Runtime,
    store: &S,
    cases: u32,
    longest: usize,
    label: &str,
) {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let sequences = proptest::collection::vec(ops::op(), 1..longest);
    runner
        .run(&sequences, |ops| {
            let blocking = emptied(rt, store);
            conformance::model::check_sequence_audited(blocking, &ops)
                .map_err(|failure| TestCaseError::fail(format!("{label}{failure}")))
        })
        .unwrap();
}

pub fn every_shared_store_scenario_on_a_real_server<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(70) else {
        return;
    };
    conformance::check_scenarios(|| emptied(&rt, &store)).unwrap();
    conformance::check_scenarios(|| WithoutTransactions(emptied(&rt, &store))).unwrap();
}

pub fn dropped_verifications_settle_on_a_real_server<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(8) else {
        return;
    };
    rt.block_on(async {
        cancel::dropped_verifications_settle(&store).await;
        cancel::dropped_right_codes_cost_nothing(&store).await;
        cancel::dropped_overrides_count_only_what_landed(&store).await;
    });
}

pub fn the_flow_and_prune_on_a_real_server<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(4) else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    rt.block_on(async {
        written::the_flow(&service, &store, "EE123456789IN").await;
        assert_eq!(store.prune(Timestamp(UNTIL.0 + 1)).await.unwrap(), 1);
        // A database of another schema version is refused.
        store
            .execute("UPDATE handover_schema SET version = 99")
            .await;
        let refused = store.create_schema().await;
        assert!(
            matches!(&refused, Err(Error::Setup(e)) if e.to_string().contains("schema version 99")),
            "{refused:?}"
        );
    });
}

/// What a child process does, when this binary is started as one.
pub fn child<S: Pg>() {
    let Ok(role) = std::env::var("HANDOVER_PG_CHILD") else {
        return;
    };
    let port: u16 = std::env::var("HANDOVER_PG").unwrap().parse().unwrap();
    let index: u32 = std::env::var("HANDOVER_INDEX").unwrap().parse().unwrap();
    let rt = runtime();
    let store = S::open(&rt, &Target::port(port), 2, Duration::from_secs(5)).unwrap();
    let keys = keys();
    let service = service(&keys);
    // Start together, at the instant the parent set.
    wait_for_start();
    let code = std::env::var("HANDOVER_CODE").unwrap();
    let answers = rt.block_on(roles::play(&role, &service, &store, index, &code));
    let mut stdout = std::io::stdout().lock();
    for a in answers {
        writeln!(stdout, "ANSWER {a}").unwrap();
    }
}

fn spawn_child(
    role: &str,
    params: &str,
    index: u32,
    code: &str,
    start: u128,
) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .env("HANDOVER_START", start.to_string())
        .env("HANDOVER_CODE", code)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("HANDOVER_PG_CHILD", role)
        .env("HANDOVER_PG", params)
        .env("HANDOVER_INDEX", index.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn several_processes_on_one_database_keep_every_limit<S: Pg>() {
    let Some((cluster, rt, store)) = start::<S>(4) else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    let code = rt.block_on(async {
        for i in 0..40 {
            service
                .issue_async(
                    &store,
                    BookingId::new(&format!("spray-{i}")).unwrap(),
                    UNTIL,
                    NOW,
                )
                .await
                .unwrap();
        }
        service
            .issue_async(&store, BookingId::new("shared").unwrap(), UNTIL, NOW)
            .await
            .unwrap()
    });
    let params = cluster.port.to_string();
    let code = code.expose();
    let start = start_at(1_500);
    let guessers: Vec<_> = (0..6)
        .map(|i| {
            spawn_child(
                if i == 3 { "holder" } else { "guesser" },
                &params,
                i,
                code,
                start,
            )
        })
        .collect();
    let sprayers: Vec<_> = (0..4)
        .map(|i| spawn_child("sprayer", &params, i, code, start))
        .collect();
    let shared: Vec<String> = guessers.into_iter().flat_map(answers).collect();
    let sprayed: Vec<String> = sprayers.into_iter().flat_map(answers).collect();
    let stored = rt
        .block_on(AsyncStore::load(&store, fixtures::booking_key("shared")))
        .unwrap();
    check_processes(&shared, &sprayed, stored);
}

pub fn terminated_backends_give_errors_never_unwritten_answers_and_the_store_recovers<S: Pg>() {
    let Some((cluster, rt, store)) = start::<S>(4) else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    rt.block_on(async {
        let codes = issue_many(&service, &store, "term", 400).await;
        let killer = terminate_backends(&cluster, 40, Duration::from_millis(15)).await;
        let answers = verify_all(&service, &store, &codes, Duration::ZERO).await;
        let killed = killer.await.unwrap();
        let errors = answers.iter().filter(|a| a.is_err()).count();
        // A terminated backend (57P01) or a connection lost: transient, retryable.
        let permanent: Vec<_> = answers
            .iter()
            .filter_map(|a| a.as_ref().err())
            .filter(|e| !e.is_retryable())
            .collect();
        assert!(permanent.is_empty(), "{permanent:?}");
        println!(
            "{killed} backends terminated; {errors} of {} verifications answered an error",
            answers.len()
        );
        assert!(
            killed > 0 && errors > 0,
            "no backend was terminated mid-run"
        );
        check_written(&store, &codes, &answers).await;
        check_audit_agrees(&cluster).await;
        // Overrides under kills: the booking, the supervisor's budget and both audit rows.
        let policy = service
            .policy()
            .with_override_budget(1_000, 86_400)
            .unwrap();
        let overrides =
            handover_code::Service::new(keys.clone(), policy, service.context()).unwrap();
        let more = issue_many(&service, &store, "over", 200).await;
        let killer = terminate_backends(&cluster, 20, Duration::from_millis(10)).await;
        let by = handover_code::audit::Override::new(
            handover_code::ActorId::new("supervisor").unwrap(),
            handover_code::audit::Reason::NoPhone,
            "backend kills",
        )
        .unwrap();
        let mut failed = 0;
        for (id, _) in &more {
            let answer = overrides
                .overrule_async(&store, BookingId::new(id).unwrap(), by, NOW)
                .await;
            failed += usize::from(answer.is_err());
        }
        let killed = killer.await.unwrap();
        println!(
            "{killed} backends terminated under overrides; {failed} of {} failed",
            more.len()
        );
        check_audit_agrees(&cluster).await;
        // Recovered: the pool replaces the dead connections.
        let again = issue_many(&service, &store, "after-term", 20).await;
        let answers = verify_all(&service, &store, &again, Duration::ZERO).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        check_audit_agrees(&cluster).await;
    });
}

/// A task that terminates every client backend but its own, `rounds` times `pause` apart,
/// and answers how many it terminated.
async fn terminate_backends(
    cluster: &Cluster,
    rounds: u32,
    pause: Duration,
) -> tokio::task::JoinHandle<u64> {
    let (admin, connection) = tokio_postgres::connect(&cluster.params(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    tokio::spawn(async move {
        let mut killed = 0u64;
        for _ in 0..rounds {
            tokio::time::sleep(pause).await;
            let rows = admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                    &[],
                )
                .await
                .unwrap();
            killed += rows.len() as u64;
        }
        killed
    })
}

/// Every record version has its audit row and every audit row its record version: each
/// record's rows, in log order, chain from its creation to the version stored, and no row is
/// for a record that is not there.
async fn check_audit_agrees(cluster: &Cluster) {
    use std::collections::HashMap;
    type Key = (i16, Vec<u8>, Vec<u8>);
    let (client, connection) = tokio_postgres::connect(&cluster.params(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let records: HashMap<Key, i64> = client
        .query(
            "SELECT kind, namespace, id, version FROM handover_records",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
        .collect();
    let rows = client
        .query(
            "SELECT kind, namespace, id, prior, version FROM handover_audit ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    let mut at: HashMap<Key, i64> = HashMap::new();
    for row in &rows {
        let key: Key = (row.get(0), row.get(1), row.get(2));
        let (prior, version): (Option<i64>, i64) = (row.get(3), row.get(4));
        assert_eq!(
            at.get(&key).copied(),
            prior,
            "{key:?}: an audit row out of its chain"
        );
        at.insert(key, version);
    }
    assert_eq!(
        at, records,
        "the audit chains do not end at the stored versions"
    );
    println!(
        "{} audit rows, each chained to its record's versions",
        rows.len()
    );
}

pub fn a_server_restart_gives_errors_then_the_store_recovers<S: Pg>() {
    let Some((cluster, rt, store)) = start::<S>(4) else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    written::down_then_back(&rt, &service, &store, |up| {
        if up {
            cluster.restart()
        } else {
            cluster.stop()
        }
    });
}

/// The whole proof once more with the server's default isolation at repeatable read and at
/// serializable (the only level of the PostgreSQL-wire distributed databases): conformance,
/// every shared-store scenario and the model's sequences. Serialization failures and
/// deadlocks are conflicts to retry, never faults answered.
pub fn every_proof_holds_at_every_isolation_level<S: Pg>() {
    for level in ["repeatable read", "serializable"] {
        let Some(cluster) = Cluster::start() else {
            return;
        };
        let rt = runtime();
        cluster.default_isolation(level);
        let store = S::open(&rt, &Target::on(&cluster), 70, Duration::from_secs(3)).unwrap();
        rt.block_on(store.create_schema()).unwrap();
        let seen = rt.block_on(store.text("SHOW transaction_isolation"));
        assert_eq!(seen, level, "the server's default isolation is set");
        let report = conformance::check_all(|| emptied(&rt, &store)).unwrap();
        assert!(report.conflicts > 0, "{level}: the hammer did not contend");
        conformance::check_scenarios(|| emptied(&rt, &store)).unwrap();
        agrees_with_the_model(&rt, &store, 8, 40, &format!("{level}: "));
    }
}

/// The caller's connection options are kept, ours appended: a tenant's search path puts the
/// tables in its own schema, and a pinned `synchronous_commit` stays pinned.
pub fn connect_keeps_the_callers_options<S: Pg>() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let rt = runtime();
    let admin = S::open(&rt, &Target::on(&cluster), 1, Duration::from_secs(3)).unwrap();
    rt.block_on(
        admin.execute(
            "CREATE SCHEMA tenant_a; ALTER DATABASE postgres SET synchronous_commit = off",
        ),
    );
    let target = Target {
        options: Some("-c search_path=tenant_a -c synchronous_commit=on".into()),
        ..Target::on(&cluster)
    };
    let store = S::open(&rt, &target, 2, Duration::from_millis(2_500)).unwrap();
    rt.block_on(store.create_schema()).unwrap();
    let (path, sync, timeout, table, public) = rt.block_on(async {
        (
            store.text("SHOW search_path").await,
            store.text("SHOW synchronous_commit").await,
            store.text("SHOW statement_timeout").await,
            store
                .text("SELECT (to_regclass('tenant_a.handover_records') IS NOT NULL)::text")
                .await
                == "true",
            store
                .text("SELECT (to_regclass('public.handover_records') IS NOT NULL)::text")
                .await
                == "true",
        )
    });
    assert_eq!((path.as_str(), sync.as_str()), ("tenant_a", "on"));
    assert_eq!(timeout, "2500ms");
    assert!(
        table && !public,
        "the tables went to the tenant's schema only"
    );
}

/// Prune deletes in batches, each its own statement (never one statement past the timeout,
/// however much expired), and `prune_task` prunes on its interval until it is aborted.
pub fn prune_deletes_in_batches_and_the_task_keeps_pruning<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(4) else {
        return;
    };
    let store = store.with_prune_batch(2_000);
    // Rows straight into the table, prune_at in the store's order-preserving encoding
    // (seconds with the top bit flipped): 50,000 expired at 10 s, 100 at 4e9 s.
    let fill = |expired: i64| {
        rt.block_on(async {
            let q = format!(
                "INSERT INTO handover_records (kind, namespace, id, version, record, prune_at)
                 SELECT 1, 'ns'::bytea, int8send(i), 1, '\\x00'::bytea,
                        (-9223372036854775807 - 1) + CASE WHEN i <= {expired} THEN 10 ELSE 4000000000 END
                 FROM generate_series(1, {expired} + 100) AS i
                 ON CONFLICT DO NOTHING"
            );
            store.execute(&q).await;
        });
    };
    fill(50_000);
    let started = std::time::Instant::now();
    let removed = rt
        .block_on(AsyncStore::prune(&store, Timestamp(1_000)))
        .unwrap();
    println!(
        "PostgreSQL prune of {removed} rows in batches of 2,000: {:.2?}",
        started.elapsed()
    );
    assert_eq!(removed, 50_000);
    let count = |rt: &tokio::runtime::Runtime| -> i64 {
        let q = "SELECT count(*)::text FROM handover_records WHERE kind = 1";
        rt.block_on(store.text(q)).parse().unwrap()
    };
    assert_eq!(count(&rt), 100, "only the unexpired rows are left");
    // The task: expired rows written after it started are gone within a few intervals.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = rt.spawn(
        store
            .clone()
            .prune_task(Duration::from_millis(50), move |pass| {
                let _ = tx.send(pass.map_err(|e| e.to_string()));
            }),
    );
    fill(3_000);
    let pruned = rt.block_on(async {
        let mut total = 0;
        while total < 3_000 {
            let pass = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
            total += pass
                .expect("a pass within 10 s")
                .expect("the task runs")
                .unwrap();
        }
        total
    });
    task.abort();
    assert_eq!(pruned, 3_000);
    assert_eq!(
        count(&rt),
        200,
        "the second fill's 100 unexpired rows stay too"
    );
}

/// The audit log read back from a real server: a booking's and a verifier's history, the
/// log in pages, pruning and retention apart.
pub fn the_audit_log_on_a_real_server<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(4) else {
        return;
    };
    audited::check_history(&emptied(&rt, &store));
}

/// `since` never skips an entry whose transaction commits after later ones: a session holds
/// an entry uncommitted (its transaction older than the store's writes), the store writes and
/// commits more; until the old transaction ends, nothing past it is returned, and then every
/// entry is, in transaction order, the held one first.
pub fn since_never_skips_an_entry_committed_out_of_order<S: Pg>() {
    use handover_code::store::Cursor;
    let Some((cluster, rt, store)) = start::<S>(4) else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    rt.block_on(async {
        let first = issue_many(&service, &store, "before", 3).await;
        assert_eq!(first.len(), 3);
        let shipped = AsyncAuditLog::since(&store, Cursor::START, 100).await.unwrap();
        assert_eq!(shipped.len(), 3);
        let cursor = shipped.last().unwrap().cursor;
        // A slow writer: its transaction (and entry) starts now and commits last.
        let (mut slow, connection) = tokio_postgres::connect(&cluster.params(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let tx = slow.transaction().await.unwrap();
        tx.batch_execute(
            "INSERT INTO handover_audit (tx, at, kind, namespace, id, context, booking, action, detail, note, version)
             VALUES (pg_current_xact_id()::text::bigint, 0, 1, 'slow', 'slow', 'slow', 'slow', 'revoked', 0, '', 1)",
        )
        .await
        .unwrap();
        let later = issue_many(&service, &store, "after", 3).await;
        assert_eq!(later.len(), 3);
        let held_back = AsyncAuditLog::since(&store, cursor, 100).await.unwrap();
        assert!(held_back.is_empty(), "entries past an open transaction: {held_back:?}");
        tx.commit().await.unwrap();
        let shipped = AsyncAuditLog::since(&store, cursor, 100).await.unwrap();
        let bookings: Vec<String> = shipped
            .iter()
            .map(|e| String::from_utf8_lossy(&e.booking).into_owned())
            .collect();
        assert_eq!(bookings, ["slow", "after-0", "after-1", "after-2"]);
        assert!(shipped.windows(2).all(|p| p[0].cursor < p[1].cursor));
        let last = shipped.last().unwrap().cursor;
        assert!(AsyncAuditLog::since(&store, last, 100).await.unwrap().is_empty());
    });
}

/// Two stores with different table prefixes on one database: each gets its own tables,
/// sees only its own records and passes the conformance kit on them; a prefix that is not
/// a plain identifier is refused.
pub fn table_prefixes_keep_tenants_apart<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(70) else {
        return;
    };
    let tenant_a = store.clone().with_table_prefix("tenant_a_").unwrap();
    let tenant_b = store.clone().with_table_prefix("tenant_b_").unwrap();
    assert_eq!(tenant_a.records_table(), "tenant_a_records");
    rt.block_on(tenant_a.create_schema()).unwrap();
    rt.block_on(tenant_b.create_schema()).unwrap();
    let keys = keys();
    let service = service(&keys);
    let id = BookingId::new("SLOT-1").unwrap();
    rt.block_on(async {
        service
            .issue_async(&tenant_a, id, UNTIL, NOW)
            .await
            .unwrap();
        let key = fixtures::booking_key("SLOT-1");
        assert!(AsyncStore::load(&tenant_a, key).await.unwrap().is_some());
        assert!(AsyncStore::load(&tenant_b, key).await.unwrap().is_none());
        assert!(AsyncStore::load(&store, key).await.unwrap().is_none());
        // Each tenant's writes are audited in its own table.
        assert_eq!(tenant_a.audit_table(), "tenant_a_audit");
        assert_eq!(
            AsyncAuditLog::history(&tenant_a, key).await.unwrap().len(),
            1
        );
        assert!(
            AsyncAuditLog::history(&tenant_b, key)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            AsyncAuditLog::history(&store, key)
                .await
                .unwrap()
                .is_empty()
        );
        for table in [
            "tenant_a_records",
            "tenant_a_schema",
            "tenant_a_audit",
            "tenant_b_records",
            "tenant_b_audit",
            "handover_records",
        ] {
            let q = format!("SELECT (to_regclass('{table}') IS NOT NULL)::text");
            let exists = store.text(&q).await == "true";
            assert!(exists, "{table} was not created");
        }
    });
    let handle = rt.handle().clone();
    let report = conformance::check_all(|| {
        rt.block_on(tenant_b.execute("TRUNCATE tenant_b_records"));
        Blocking {
            store: tenant_b.clone(),
            handle: handle.clone(),
        }
    })
    .unwrap();
    assert!(report.conflicts > 0);
    for bad in ["Tenant", "a;b", "1a", "a b"] {
        assert!(matches!(
            store.clone().with_table_prefix(bad),
            Err(Error::Setup(_))
        ));
    }
}

/// Each batch of a prune finds its rows through the `prune_at` index, on a table large
/// enough that the planner would rather scan it otherwise.
pub fn prune_batches_use_the_prune_at_index<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(2) else {
        return;
    };
    let plan: String = rt.block_on(async {
        store
            .execute(
                "INSERT INTO handover_records (kind, namespace, id, version, record, prune_at)
                 SELECT 1, 'ns'::bytea, int8send(i), 1, '\\x00'::bytea, (-9223372036854775807 - 1) + i
                 FROM generate_series(1, 100000) AS i;
                 ANALYZE handover_records",
            )
            .await;
        let explain = format!(
            "EXPLAIN {}",
            store
                .prune_statement()
                .replace("$1", "(-9223372036854775807 - 1) + 500")
                .replace("$2", "5000")
        );
        store.lines(&explain).await.join("\n")
    });
    assert!(
        plan.contains("handover_records_prune"),
        "the prune does not use its index:\n{plan}"
    );
    assert!(
        !plan.contains("Seq Scan"),
        "the prune scans the table:\n{plan}"
    );
}

/// `make_durable` commits a transaction (so WAL is written, and on a synchronous standby its
/// commit waits like any other) that writes no row: the row's `xmin` is unchanged.
/// `Swapped` on the version stored, `Conflict` on any other, or on a booking that is not
/// there; a replayed acceptance goes through it and is answered.
pub fn make_durable_commits_without_writing_the_row<S: Pg>() {
    let Some((_cluster, rt, store)) = start::<S>(2) else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    rt.block_on(async {
        let id = BookingId::new("EE1").unwrap();
        let code = service.issue_async(&store, id, UNTIL, NOW).await.unwrap();
        let attempt = handover_code::Attempt::by("v").request("r1");
        let first = service
            .verify_async(&store, id, code.expose(), attempt, NOW)
            .await;
        let retry = service
            .verify_async(&store, id, code.expose(), attempt, NOW)
            .await;
        assert!(
            matches!(first, Ok(handover_code::Outcome::Accepted)),
            "{first:?}"
        );
        assert!(matches!(&retry, Ok(o) if o.is_accepted()), "{retry:?}");
        let key = fixtures::booking_key("EE1");
        let (_, version) = store.load(key).await.unwrap().unwrap();
        let lsn = || store.text("SELECT pg_current_wal_insert_lsn()::text");
        let xmin = || {
            store.text(
                "SELECT xmin::text FROM handover_records WHERE kind = 1 AND id = 'EE1'::bytea",
            )
        };
        let (before, written) = (lsn().await, xmin().await);
        let swap = store.make_durable(key, version).await.unwrap();
        assert_eq!(swap, Swap::Swapped);
        assert_ne!(lsn().await, before, "no commit record was written");
        assert_eq!(xmin().await, written, "the row was written");
        let stale = Version(version.0 - 1);
        assert_eq!(
            store.make_durable(key, stale).await.unwrap(),
            Swap::Conflict
        );
        let none = fixtures::booking_key("none");
        assert_eq!(
            store.make_durable(none, version).await.unwrap(),
            Swap::Conflict
        );
        assert_eq!(store.load(key).await.unwrap().unwrap().1, version);
    });
}

/// 48 concurrent replays of one accepted request, 10 rounds, at each isolation level: each
/// is answered the replayed acceptance, confirmed by `make_durable`, and none is answered
/// `Contention` or a second acceptance (a confirmation that wrote the row made concurrent
/// replays race each other's writes: 316 and 332 of 480 answered `Contention` at repeatable
/// read). Prints the counts.
pub fn a_replay_storm_never_contends<S: Pg>() {
    for level in ["read committed", "repeatable read", "serializable"] {
        let Some(cluster) = Cluster::start() else {
            return;
        };
        let rt = runtime();
        cluster.default_isolation(level);
        let store = S::open(&rt, &Target::on(&cluster), 48, Duration::from_secs(5)).unwrap();
        rt.block_on(store.create_schema()).unwrap();
        let keys = keys();
        let service = service(&keys);
        rt.block_on(storm::replay_storm(&store, &service, "STORM", 10, 48))
            .check(level, 480);
    }
}

/// A booking's or a verifier's row as raw bytes, for [`corrupt`]'s check.
struct RawRows<'a, S: Pg> {
    rt: &'a tokio::runtime::Runtime,
    store: &'a S,
    service: handover_code::Service,
}

impl<S: Pg> corrupt::Raw for RawRows<'_, S> {
    fn read(&mut self, kind: u8, id: &str) -> Vec<u8> {
        let hex = self.rt.block_on(self.store.text(&format!(
            "SELECT encode(record, 'hex') FROM handover_records WHERE kind = {kind} AND id = '{id}'::bytea"
        )));
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }
    fn write(&mut self, kind: u8, id: &str, bytes: &[u8]) {
        let hex = corrupt::hex(bytes);
        self.rt.block_on(self.store.execute(&format!(
            "UPDATE handover_records SET record = decode('{hex}', 'hex') WHERE kind = {kind} AND id = '{id}'::bytea"
        )));
    }
    fn verify(
        &mut self,
        typed: &str,
        attempt: Option<handover_code::VerifierId<'static>>,
    ) -> Result<handover_code::Outcome, Error> {
        self.rt.block_on(self.service.verify_async(
            self.store,
            corrupt::BOOKING,
            typed,
            attempt,
            NOW,
        ))
    }
}

/// Issue 32's error classes on a real server. Unreadable rows (garbage, empty, another
/// format, bit flips; a booking's and a verifier's) answer `Error::Corrupt`. A database that
/// refuses for good answers `Error::Refused`, not retryable: a table renamed away (42P01),
/// a trigger that raises (P0001), a role without the right to write (42501). A statement
/// cut off by its timeout behind a lock (57014) answers `Error::Store`, retryable; so do a
/// server stopped and terminated backends (their own trials).
pub fn faults_are_classed_and_unreadable_rows_are_corrupt<S: Pg>() {
    let Some((cluster, rt, store)) = start::<S>(2) else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    let code = rt
        .block_on(service.issue_async(&store, corrupt::BOOKING, UNTIL, NOW))
        .unwrap();
    let mut raw = RawRows {
        rt: &rt,
        store: &store,
        service: service.clone(),
    };
    corrupt::every_unreadable_record_answers_corrupt(&mut raw, code.expose());

    rt.block_on(store.execute("ALTER TABLE handover_records RENAME TO handover_gone"));
    corrupt::assert_refused(
        &rt.block_on(service.issue_async(&store, "RENAMED", UNTIL, NOW)),
        "a table renamed away",
    );
    rt.block_on(store.execute("ALTER TABLE handover_gone RENAME TO handover_records"));
    rt.block_on(store.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'writes refused by policy'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON handover_records FOR EACH ROW EXECUTE FUNCTION refuse()",
    ));
    corrupt::assert_refused(
        &rt.block_on(service.issue_async(&store, "TRIGGER", UNTIL, NOW)),
        "a trigger that raises",
    );
    rt.block_on(store.execute("DROP TRIGGER refuse ON handover_records"));
    rt.block_on(store.execute(
        "CREATE ROLE reader NOLOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader",
    ));
    let reader = S::open(
        &rt,
        &Target {
            options: Some("-c role=reader".into()),
            ..Target::on(&cluster)
        },
        1,
        Duration::from_secs(3),
    )
    .unwrap();
    corrupt::assert_refused(
        &rt.block_on(service.issue_async(&reader, "READER", UNTIL, NOW)),
        "a role that may not write",
    );
    // Back to normal: the same booking issues on the store that may write.
    rt.block_on(service.issue_async(&store, "READER", UNTIL, NOW))
        .unwrap();

    // A lock held past the statement timeout: 57014, transient.
    let short = S::open(&rt, &Target::on(&cluster), 1, Duration::from_millis(300)).unwrap();
    let blocked = rt.block_on(async {
        let lock = store
            .execute("LOCK TABLE handover_records IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2)");
        let (answer, ()) = tokio::join!(
            async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                service.issue_async(&short, "LOCKED", UNTIL, NOW).await
            },
            lock
        );
        answer
    });
    let Err(e @ Error::Store(_)) = &blocked else {
        panic!("a statement cut off by its timeout: expected Error::Store, got {blocked:?}")
    };
    assert!(e.is_retryable());
}
