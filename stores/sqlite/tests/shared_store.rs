//! Many handovers on one SQLite file: every scenario of the conformance kit
//! (`conformance::check_scenarios`, in both verification modes) and the settlements that
//! lose races, each store a file of its own in a directory removed afterwards.
#![allow(unreachable_pub, dead_code)]

#[path = "../../../tests/support/settlement.rs"]
mod settlement;

#[path = "../../../tests/support/scratch.rs"]
mod scratch;

use std::sync::atomic::{AtomicUsize, Ordering};

use handover_code::conformance::{WithoutTransactions, check_scenarios};
use handover_code_sqlite::{Durability, SqliteStore};

/// Runs `f` with a maker of fresh SQLite stores, each its own file in a folder of its own
/// (named for `what`), removed afterwards.
fn on_sqlite(what: &str, f: impl FnOnce(&dyn Fn() -> SqliteStore)) {
    let dir = scratch::ScratchDir::new(what);
    let n = AtomicUsize::new(0);
    f(&|| {
        let file = dir.join(format!("{}.db", n.fetch_add(1, Ordering::Relaxed)));
        SqliteStore::open(file, Durability::Normal).unwrap()
    });
}

#[test]
fn every_scenario_on_sqlite() {
    on_sqlite("shared", |fresh| {
        check_scenarios(fresh).unwrap();
    });
}

#[test]
fn every_scenario_on_sqlite_without_transactions() {
    on_sqlite("shared-one-key", |fresh| {
        check_scenarios(|| WithoutTransactions(fresh())).unwrap();
    });
}

#[test]
fn settlements_that_lose_races_on_sqlite() {
    on_sqlite("settle", |fresh| {
        settlement::a_rejection_waits_for_its_settlement(fresh);
        settlement::a_sprayer_whose_settlements_lose_is_suspended(&fresh());
        settlement::contention_never_hides_a_sprayer(&fresh());
    });
}
