//! Dropped verification futures on the reference store: cut off at every store call, before
//! and after the call took effect, then retried with the same request id.
#![allow(unreachable_pub)]

#[path = "support/cancel.rs"]
mod cancel;

use handover_code::MemoryStore;

#[tokio::test]
async fn dropped_verifications_are_charged_and_settled_by_a_retry() {
    cancel::dropped_verifications_settle(&MemoryStore::new()).await;
}

#[tokio::test]
async fn dropped_right_codes_never_suspend_a_verifier() {
    cancel::dropped_right_codes_cost_nothing(&MemoryStore::new()).await;
}
