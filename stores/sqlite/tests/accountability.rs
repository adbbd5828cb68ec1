//! Accountability on SQLite (issue 8): a booking's history and the log to ship, read back
//! from the audit table the writes filled in their own transactions; and override budgets
//! held under 64 threads released together.
#![allow(unreachable_pub, dead_code)]

#[path = "../../../tests/support/audited.rs"]
mod audited;

#[path = "../../../tests/support/scratch.rs"]
mod scratch;

use handover_code_sqlite::{Durability, SqliteStore};

#[test]
fn the_sqlite_store_keeps_a_booking_history_and_a_log_to_ship() {
    let dir = scratch::ScratchDir::new("audit");
    let store = SqliteStore::open(dir.join("audit.db"), Durability::Normal).unwrap();
    audited::check_history(&store);
}

#[test]
fn override_budgets_hold_under_64_threads_on_sqlite() {
    let dir = scratch::ScratchDir::new("override");
    let store = SqliteStore::open(dir.join("override.db"), Durability::Normal).unwrap();
    audited::override_budget_under_threads(&store);
}
