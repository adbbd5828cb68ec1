//! Dropped verification futures on the reference store: cut off at every store call, before
//! and after the call took effect, then retried with the same request id; with the store's
//! transactions and without them.
#![cfg(feature = "conformance")]
#![allow(unreachable_pub)]

#[path = "support/cancel.rs"]
mod cancel;

use handover_code::MemoryStore;

use handover_code::conformance::WithoutTransactions;

#[tokio::test]
async fn dropped_verifications_leave_nothing_held_with_transactions() {
    cancel::dropped_verifications_settle(&MemoryStore::new()).await;
}

#[tokio::test]
async fn dropped_right_codes_hold_nothing_with_transactions() {
    cancel::dropped_right_codes_cost_nothing(&MemoryStore::new()).await;
}

#[tokio::test]
async fn dropped_verifications_are_charged_and_settled_by_a_retry() {
    cancel::dropped_verifications_settle(&WithoutTransactions(MemoryStore::new())).await;
}

#[tokio::test]
async fn dropped_right_codes_never_suspend_a_verifier() {
    cancel::dropped_right_codes_cost_nothing(&WithoutTransactions(MemoryStore::new())).await;
}

#[tokio::test]
async fn dropped_overrides_count_nothing_with_transactions() {
    cancel::dropped_overrides_count_only_what_landed(&MemoryStore::new()).await;
}

#[tokio::test]
async fn dropped_overrides_stay_counted_one_key_at_a_time() {
    cancel::dropped_overrides_count_only_what_landed(&WithoutTransactions(MemoryStore::new()))
        .await;
}
