//! The sqlx SQLite store: the async conformance kit, every scenario and the model in both
//! verification modes, verifications dropped at each of their store calls, the audit log,
//! table prefixes, prune and its task, and a database of another schema version, each on a
//! real file (and the kit on an in-memory database too).
#![allow(unreachable_pub)]

#[path = "../../../tests/support/cancel.rs"]
mod cancel;

#[path = "../../../tests/support/ops.rs"]
mod ops;

#[path = "../../../tests/support/corrupt.rs"]
mod corrupt;

#[path = "../../../tests/support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

#[path = "../../../tests/support/scratch.rs"]
#[allow(dead_code)]
mod scratch;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fixtures::runtime;
use scratch::ScratchDir;

use handover_code::audit::Action;
use handover_code::conformance::{self, Blocking, WithoutTransactions};
use handover_code::store::{AsyncAuditLog, AsyncStore, Cursor};
use handover_code::{
    BookingId, Digits, Error, Key, KeyId, Keyring, Policy, Secret, Service, Timestamp,
};
use handover_code_sqlx::SqliteStore;
use handover_code_sqlx::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous,
};

/// A store on a fresh file in `dir`, on a pool of 8 connections, created and its schema made.
async fn fresh_in(dir: &ScratchDir) -> SqliteStore {
    static N: AtomicU32 = AtomicU32::new(0);
    let db = dir.join(format!("{}.db", N.fetch_add(1, Ordering::Relaxed)));
    let options = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let store = SqliteStore::connect_with(options, 8, Duration::from_secs(10))
        .await
        .unwrap();
    store.create_schema().await.unwrap();
    store
}

/// The runtime stores are made on, for the whole test binary: a pool's tasks (returning a
/// connection, keeping one open) run on the runtime it was made in, and an in-memory
/// database is gone once its one connection closes.
fn setup_runtime() -> &'static tokio::runtime::Runtime {
    static SETUP: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    SETUP.get_or_init(runtime)
}

/// `make()` from anywhere, inside a runtime's task too (the kit asks for stores from its
/// tasks): on a thread of its own, on [`setup_runtime`].
fn made<F: Future<Output = SqliteStore> + Send>(make: impl FnOnce() -> F + Send) -> SqliteStore {
    std::thread::scope(|s| s.spawn(|| setup_runtime().block_on(make())).join().unwrap())
}

/// [`fresh_in`], from anywhere.
fn fresh_blocking(dir: &ScratchDir) -> SqliteStore {
    made(|| fresh_in(dir))
}

fn service(context: &'static str) -> Service {
    let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[9; 32]).unwrap());
    Service::new(keys, Policy::new(Digits::Four), context).unwrap()
}

#[test]
fn passes_the_async_conformance_kit_in_both_modes() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let fresh = || fresh_blocking(&dir);
    let report = runtime()
        .block_on(conformance::check_all_async(fresh))
        .unwrap();
    assert!(report.conflicts > 0, "the tasks never contended");
    let one_key = runtime()
        .block_on(conformance::check_all_async(
            || WithoutTransactions(fresh()),
        ))
        .unwrap();
    assert!(
        one_key.conflicts > 0,
        "the tasks never contended one key at a time"
    );
}

#[test]
fn passes_the_async_conformance_kit_in_memory() {
    let memory = || async {
        let store = SqliteStore::connect("sqlite::memory:", 8, Duration::from_secs(10))
            .await
            .unwrap();
        store.create_schema().await.unwrap();
        store
    };
    let fresh = || made(memory);
    runtime()
        .block_on(conformance::check_all_async(fresh))
        .unwrap();
}

#[test]
fn every_scenario_in_both_modes() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let fresh = || fresh_blocking(&dir);
    let rt = runtime();
    conformance::check_scenarios_async(fresh, rt.handle()).unwrap();
    conformance::check_scenarios_async(|| WithoutTransactions(fresh()), rt.handle()).unwrap();
}

/// The model's operation sequences (four services, prunes, faults, cut-off operations, the
/// audit log read back), each on a fresh file, in both modes.
#[test]
fn agrees_with_the_model_in_both_modes() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let dir = ScratchDir::new("sqlx-sqlite");
    let fresh = || fresh_blocking(&dir);
    let rt = runtime();
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let sequences = proptest::collection::vec(ops::op(), 1..50);
    runner
        .run(&sequences, |ops| {
            let blocking = || Blocking {
                store: fresh(),
                handle: rt.handle().clone(),
            };
            conformance::model::check_sequence_audited(blocking(), &ops)
                .map_err(|failure| TestCaseError::fail(format!("transactions: {failure}")))?;
            conformance::model::check_sequence_audited(WithoutTransactions(blocking()), &ops)
                .map_err(|failure| TestCaseError::fail(format!("one key at a time: {failure}")))
        })
        .unwrap();
}

#[test]
fn dropped_verifications_settle() {
    let dir = ScratchDir::new("sqlx-sqlite");
    runtime().block_on(async {
        cancel::dropped_verifications_settle(&fresh_in(&dir).await).await;
        cancel::dropped_right_codes_cost_nothing(&fresh_in(&dir).await).await;
        cancel::dropped_overrides_count_only_what_landed(&fresh_in(&dir).await).await;
    });
}

/// On a current-thread runtime the same proofs hold: sqlx's SQLite connections run on
/// threads of their own, never on the runtime's.
#[test]
fn passes_on_a_current_thread_runtime() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fresh = || fresh_blocking(&dir);
    let report = rt.block_on(conformance::check_all_async(fresh)).unwrap();
    assert!(report.conflicts > 0, "the tasks never contended");
    let store = fresh();
    rt.block_on(cancel::dropped_verifications_settle(&store));
}

/// The audit row is written in the write's own transaction and read back, by key and from a
/// cursor, and pruned on its own.
#[test]
fn keeps_and_reads_the_audit_log() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let service = service("c");
    let id = BookingId::new("B").unwrap();
    let now = Timestamp(1_000_000);
    runtime().block_on(async {
        let store = fresh_in(&dir).await;
        let code = service
            .issue_async(&store, id, Timestamp(now.0 + 60), now)
            .await
            .unwrap();
        service
            .verify_async(&store, id, code.expose(), None, now)
            .await
            .unwrap();
        let key = Key::Booking {
            context: service.context(),
            id,
        };
        let history = store.history(key).await.unwrap();
        let actions: Vec<Action> = history.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                Action::Issued {
                    generation: 1_000_000
                },
                Action::Accepted
            ]
        );
        assert_eq!(store.since(Cursor::START, 10).await.unwrap(), history);
        let after_first = history[0].cursor;
        assert_eq!(store.since(after_first, 10).await.unwrap(), history[1..]);
        assert_eq!(store.prune_audit(Timestamp(u64::MAX)).await.unwrap(), 2);
        assert!(store.history(key).await.unwrap().is_empty());
    });
}

/// Two prefixes in one file are two stores: a booking issued in one is unknown to the other,
/// and a bad prefix is refused before any SQL is built from it.
#[test]
fn table_prefixes_keep_tenants_apart() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let service = service("c");
    let id = BookingId::new("B").unwrap();
    let now = Timestamp(1_000_000);
    runtime().block_on(async {
        let store = fresh_in(&dir).await;
        let a = store.clone().with_table_prefix("tenant_a_").unwrap();
        let b = store.clone().with_table_prefix("tenant_b_").unwrap();
        assert_eq!(a.records_table(), "tenant_a_records");
        assert_eq!(b.audit_table(), "tenant_b_audit");
        a.create_schema().await.unwrap();
        b.create_schema().await.unwrap();
        let code = service
            .issue_async(&a, id, Timestamp(now.0 + 60), now)
            .await
            .unwrap();
        let key = Key::Booking {
            context: service.context(),
            id,
        };
        assert!(a.load(key).await.unwrap().is_some());
        assert!(b.load(key).await.unwrap().is_none());
        assert!(store.load(key).await.unwrap().is_none());
        assert_eq!(
            service
                .verify_async(&b, id, code.expose(), None, now)
                .await
                .unwrap(),
            handover_code::Outcome::UnknownBooking
        );
        for bad in ["1t_", "Tenant_", "a;drop table x;", "a b"] {
            assert!(
                matches!(store.clone().with_table_prefix(bad), Err(Error::Setup(_))),
                "{bad}"
            );
        }
    });
}

/// Prune deletes what expired, in batches, and keeps the rest; the task prunes on its own
/// and hands each result over.
#[test]
fn prune_deletes_in_batches_and_the_task_keeps_pruning() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let service = service("c");
    let now = Timestamp(1_000_000);
    runtime().block_on(async {
        let store = fresh_in(&dir).await.with_prune_batch(7);
        for i in 0..30 {
            let id = format!("OLD-{i}");
            let until = Timestamp(now.0 + 60);
            service
                .issue_async(&store, BookingId::new(&id).unwrap(), until, now)
                .await
                .unwrap();
        }
        let live = BookingId::new("LIVE").unwrap();
        service
            .issue_async(&store, live, Timestamp(u64::MAX / 4), now)
            .await
            .unwrap();
        assert_eq!(
            store.prune_batch(Timestamp(u64::MAX / 8), 5).await.unwrap(),
            5
        );
        assert_eq!(store.prune(Timestamp(u64::MAX / 8)).await.unwrap(), 25);
        let key = Key::Booking {
            context: service.context(),
            id: live,
        };
        assert!(store.load(key).await.unwrap().is_some());
        // The task, on the system clock: the live booking stays, passes are reported.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(
            store
                .clone()
                .prune_task(Duration::from_millis(20), move |r| {
                    let _ = tx.send(r.is_ok());
                }),
        );
        for _ in 0..2 {
            assert_eq!(rx.recv().await, Some(true));
        }
        task.abort();
        assert!(store.load(key).await.unwrap().is_some());
    });
}

/// A database another schema version wrote is refused as a setup error, and nothing is
/// written to it.
#[test]
fn refuses_a_database_of_another_schema_version() {
    let dir = ScratchDir::new("sqlx-sqlite");
    runtime().block_on(async {
        let store = fresh_in(&dir).await;
        handover_code_sqlx::sqlx::query("UPDATE handover_schema SET version = 99")
            .execute(store.pool())
            .await
            .unwrap();
        let refused = store.create_schema().await;
        assert!(
            matches!(&refused, Err(Error::Setup(e)) if e.to_string().contains("schema version 99")),
            "{refused:?}"
        );
    });
}

/// A record's raw bytes through the store's own pool, for [`corrupt`]'s check.
struct RawRows<'a> {
    store: &'a SqliteStore,
    service: Service,
}

impl corrupt::Raw for RawRows<'_> {
    fn read(&mut self, kind: u8, id: &str) -> Vec<u8> {
        setup_runtime()
            .block_on(
                handover_code_sqlx::sqlx::query_scalar(
                    "SELECT record FROM handover_records WHERE kind = ? AND id = ?",
                )
                .bind(i64::from(kind))
                .bind(id.as_bytes())
                .fetch_one(self.store.pool()),
            )
            .unwrap()
    }
    fn write(&mut self, kind: u8, id: &str, bytes: &[u8]) {
        sql(
            self.store,
            |q| {
                handover_code_sqlx::sqlx::query(q)
                    .bind(bytes)
                    .bind(i64::from(kind))
                    .bind(id.as_bytes())
            },
            "UPDATE handover_records SET record = ? WHERE kind = ? AND id = ?",
        );
    }
    fn verify(
        &mut self,
        typed: &str,
        attempt: Option<handover_code::VerifierId<'static>>,
    ) -> Result<handover_code::Outcome, Error> {
        setup_runtime().block_on(self.service.verify_async(
            self.store,
            corrupt::BOOKING,
            typed,
            attempt,
            fixtures::NOW,
        ))
    }
}

/// Runs the query `build` makes of `q` on the store's pool, on the setup runtime.
fn sql<'q>(
    store: &SqliteStore,
    build: impl FnOnce(
        &'q str,
    ) -> handover_code_sqlx::sqlx::query::Query<
        'q,
        handover_code_sqlx::sqlx::Sqlite,
        handover_code_sqlx::sqlx::sqlite::SqliteArguments,
    >,
    q: &'q str,
) {
    setup_runtime()
        .block_on(build(q).execute(store.pool()))
        .unwrap();
}

/// Garbage, empty, another format, bit flips, in a booking's and a verifier's row: each
/// answers `Error::Corrupt`, not retryable, naming the key (issue 32). So does text where
/// bytes belong (sqlx refuses the column's type).
#[test]
fn an_unreadable_row_is_corrupt_never_retryable() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let store = fresh_blocking(&dir);
    let service = fixtures::service(&fixtures::keys());
    let code = setup_runtime()
        .block_on(service.issue_async(&store, corrupt::BOOKING, fixtures::UNTIL, fixtures::NOW))
        .unwrap();
    let mut raw = RawRows {
        store: &store,
        service: service.clone(),
    };
    corrupt::every_unreadable_record_answers_corrupt(&mut raw, code.expose());
    setup_runtime()
        .block_on(service.issue_async(&store, "TEXT-1", fixtures::UNTIL, fixtures::NOW))
        .unwrap();
    sql(
        &store,
        handover_code_sqlx::sqlx::query,
        "UPDATE handover_records SET record = 'text' WHERE id = CAST('TEXT-1' AS BLOB)",
    );
    let answer = setup_runtime().block_on(service.verify_async(
        &store,
        "TEXT-1",
        "1234",
        None,
        fixtures::NOW,
    ));
    corrupt::assert_corrupt(&answer, "booking", "TEXT-1", b"text", "text, not bytes");
}

/// A database that refuses for good answers `Error::Refused`, not retryable: a trigger that
/// raises, a table renamed away.
#[test]
fn refusals_are_permanent() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let store = fresh_blocking(&dir);
    let service = fixtures::service(&fixtures::keys());
    let issue = |id: &str| {
        setup_runtime().block_on(service.issue_async(&store, id, fixtures::UNTIL, fixtures::NOW))
    };
    sql(
        &store,
        handover_code_sqlx::sqlx::query,
        "CREATE TRIGGER refuse BEFORE INSERT ON handover_records
         BEGIN SELECT RAISE(ABORT, 'writes refused by policy'); END",
    );
    corrupt::assert_refused(&issue("TRIGGER"), "a trigger");
    sql(
        &store,
        handover_code_sqlx::sqlx::query,
        "DROP TRIGGER refuse",
    );
    sql(
        &store,
        handover_code_sqlx::sqlx::query,
        "ALTER TABLE handover_records RENAME TO handover_gone",
    );
    corrupt::assert_refused(&issue("RENAMED"), "a table renamed away");
    sql(
        &store,
        handover_code_sqlx::sqlx::query,
        "ALTER TABLE handover_gone RENAME TO handover_records",
    );
    issue("BACK").unwrap();
}

/// A pool with no connection free within the store's timeout answers `Error::Store`,
/// retryable; once the connection is back, the same call succeeds.
#[test]
fn a_pool_with_no_connection_free_is_transient() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let service = fixtures::service(&fixtures::keys());
    setup_runtime().block_on(async {
        let options = SqliteConnectOptions::new()
            .filename(dir.join("one.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let store = SqliteStore::connect_with(options, 1, Duration::from_millis(200))
            .await
            .unwrap();
        store.create_schema().await.unwrap();
        let held = store.pool().acquire().await.unwrap();
        let answer = service
            .issue_async(&store, "POOL", fixtures::UNTIL, fixtures::NOW)
            .await;
        let Err(e @ Error::Store(_)) = &answer else {
            panic!("no connection free: expected Error::Store, got {answer:?}")
        };
        assert!(e.is_retryable());
        drop(held);
        service
            .issue_async(&store, "POOL", fixtures::UNTIL, fixtures::NOW)
            .await
            .unwrap();
    });
}

/// Two services (other contexts, other pools) on one file: each keeps its own limits, and
/// both see one booking's redemption once.
#[test]
fn two_pools_on_one_file_redeem_once() {
    let dir = ScratchDir::new("sqlx-sqlite");
    let path = dir.join("shared.db");
    let service = service("c");
    let id = BookingId::new("B").unwrap();
    let now = Timestamp(1_000_000);
    runtime().block_on(async {
        let url = format!("sqlite:{}", path.display());
        let one = SqliteStore::connect(&url, 4, Duration::from_secs(10))
            .await
            .unwrap();
        let two = SqliteStore::connect(&url, 4, Duration::from_secs(10))
            .await
            .unwrap();
        one.create_schema().await.unwrap();
        two.create_schema().await.unwrap();
        let code = service
            .issue_async(&one, id, Timestamp(now.0 + 60), now)
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            service.verify_async(&one, id, code.expose(), None, now),
            service.verify_async(&two, id, code.expose(), None, now),
        );
        let accepted = [a.unwrap(), b.unwrap()]
            .iter()
            .filter(|o| **o == handover_code::Outcome::Accepted)
            .count();
        assert_eq!(accepted, 1);
    });
}
