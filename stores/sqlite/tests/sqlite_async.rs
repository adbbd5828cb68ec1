//! The SQLite store's async face (`AsyncSqliteStore`, feature `tokio`): the async
//! conformance kit, every scenario and the model in both verification modes, and
//! verifications dropped at each of their store calls then retried, on a real file, with its
//! calls on tokio's blocking pool.
#![allow(unreachable_pub)]

#[path = "../../../tests/support/cancel.rs"]
mod cancel;

#[path = "../../../tests/support/ops.rs"]
mod ops;

#[path = "../../../tests/support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

#[path = "../../../tests/support/race.rs"]
#[allow(dead_code)]
mod race;

#[path = "../../../tests/support/scratch.rs"]
#[allow(dead_code)]
mod scratch;

use std::sync::atomic::{AtomicU32, Ordering};

use fixtures::runtime;
use scratch::ScratchDir;

use handover_code::conformance::{self, Blocking, WithoutTransactions};
use handover_code_sqlite::{AsyncSqliteStore, Durability, SqliteStore};

/// A fresh file's async store, in the test's scratch directory (each test makes one, and
/// calls `let fresh = || fresh_in(&dir)`).
fn fresh_in(dir: &ScratchDir) -> AsyncSqliteStore {
    static N: AtomicU32 = AtomicU32::new(0);
    let db = dir.join(format!("{}.db", N.fetch_add(1, Ordering::Relaxed)));
    AsyncSqliteStore::new(SqliteStore::open(db, Durability::Normal).unwrap())
}

#[test]
fn passes_the_async_conformance_kit() {
    let dir = ScratchDir::new("sqlite-async");
    let fresh = || fresh_in(&dir);
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
fn every_scenario_on_the_async_face_in_both_modes() {
    let dir = ScratchDir::new("sqlite-async");
    let fresh = || fresh_in(&dir);
    let rt = runtime();
    conformance::check_scenarios_async(fresh, rt.handle()).unwrap();
    conformance::check_scenarios_async(|| WithoutTransactions(fresh()), rt.handle()).unwrap();
}

/// The model's operation sequences (four services, prunes, faults, cut-off operations, the
/// audit log read back) on the async face, each on a fresh file, in both modes.
#[test]
fn the_async_face_agrees_with_the_model_in_both_modes() {
    let dir = ScratchDir::new("sqlite-async");
    let fresh = || fresh_in(&dir);
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
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
fn dropped_verifications_settle_on_the_async_face() {
    let dir = ScratchDir::new("sqlite-async");
    let fresh = || fresh_in(&dir);
    runtime().block_on(async {
        cancel::dropped_verifications_settle(&fresh()).await;
        cancel::dropped_right_codes_cost_nothing(&fresh()).await;
        cancel::dropped_overrides_count_only_what_landed(&fresh()).await;
    });
}

/// On a current-thread runtime (where blocking in place is not allowed) the calls go to the
/// blocking pool instead: the same proofs hold.
#[test]
fn passes_on_a_current_thread_runtime() {
    let dir = ScratchDir::new("sqlite-async");
    let fresh = || fresh_in(&dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime
        .block_on(conformance::check_all_async(fresh))
        .unwrap();
    assert!(report.conflicts > 0, "the tasks never contended");
    runtime.block_on(cancel::dropped_verifications_settle(&fresh()));
}

/// Blocking in place, where the host's runtime allows it (a multi-thread runtime, outside a
/// `LocalSet`): the same proofs hold.
#[test]
fn passes_blocking_in_place() {
    let dir = ScratchDir::new("sqlite-async");
    let fresh = || fresh_in(&dir);
    let in_place = || fresh().blocking_in_place(true);
    let report = runtime()
        .block_on(conformance::check_all_async(in_place))
        .unwrap();
    assert!(report.conflicts > 0, "the tasks never contended");
    runtime().block_on(cancel::dropped_verifications_settle(&in_place()));
}

/// The default never blocks in place, so it works where tokio forbids that: inside a
/// `LocalSet` on a multi-thread runtime.
#[test]
fn works_inside_a_local_set() {
    let dir = ScratchDir::new("sqlite-async");
    let fresh = || fresh_in(&dir);
    let local = tokio::task::LocalSet::new();
    let report = local
        .block_on(&runtime(), conformance::check_all_async(fresh))
        .unwrap();
    assert!(report.conflicts > 0, "the tasks never contended");
}

/// The async face writes the audit log in the write's own transaction, as the blocking one
/// does, and reads it back.
#[test]
fn the_async_face_keeps_and_reads_the_audit_log() {
    let dir = ScratchDir::new("sqlite-async");
    let fresh = || fresh_in(&dir);
    use handover_code::audit::Action;
    use handover_code::store::{AsyncAuditLog, Cursor};
    use handover_code::{
        BookingId, Digits, Key, KeyId, Keyring, Policy, Secret, Service, Timestamp,
    };
    let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[9; 32]).unwrap());
    let service = Service::new(keys, Policy::new(Digits::Four), "c").unwrap();
    let store = fresh();
    let id = BookingId::new("B").unwrap();
    let now = Timestamp(1_000_000);
    runtime().block_on(async {
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
        let history = AsyncAuditLog::history(&store, key).await.unwrap();
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
        assert_eq!(
            AsyncAuditLog::since(&store, Cursor::START, 10)
                .await
                .unwrap(),
            history
        );
        assert_eq!(
            AsyncAuditLog::prune_audit(&store, Timestamp(u64::MAX))
                .await
                .unwrap(),
            2
        );
        assert!(
            AsyncAuditLog::history(&store, key)
                .await
                .unwrap()
                .is_empty()
        );
    });
}

/// What one SQLite file does with `Durability::Full` (each commit synced): verifications
/// per second in the failover tests' harness (right codes, 8 at a time, each on its own
/// booking). Printed, not asserted: the README's "Deploying" table's figure.
#[test]
fn full_durability_throughput_is_measured() {
    let rt = runtime();
    let dir = ScratchDir::new("sqlite-full");
    let store =
        AsyncSqliteStore::new(SqliteStore::open(dir.join("full.db"), Durability::Full).unwrap());
    let service = std::sync::Arc::new(race::service());
    let (issues, verifications) = race::throughput(&rt, &store, &service, "m");
    println!(
        "one SQLite file, Durability::Full: {issues:.0} issues/s, {verifications:.0} verifications/s (right codes, 8 tasks)"
    );
}
