//! The conformance kit passes on the reference store and fails on a store that checks and
//! then writes in two steps.
#![cfg(feature = "conformance")]

use std::collections::HashMap;
use std::sync::Mutex;

use handover_code::audit::Entry;
use handover_code::record::{Record, Version};
use handover_code::store::{AsyncStore, Key, Store, Swap};
use handover_code::{MemoryStore, conformance};

#[test]
fn memory_store_passes_and_contends() {
    let report = conformance::check_all(MemoryStore::new).unwrap();
    assert!(report.conflicts > 0);
    assert_eq!(
        report.swaps % (conformance::THREADS * 20) as u64,
        0,
        "whole hammers only"
    );
    // One shard: every thread on one lock still passes.
    conformance::check_all(|| MemoryStore::with_shards(1)).unwrap();
}

/// The bug tower-sessions' Postgres store had: read, compare, then write, as two steps.
#[derive(Default)]
struct CheckThenWrite(Mutex<Records>);

type Records = HashMap<(u8, Vec<u8>, Vec<u8>), (Record, Version)>;

#[derive(Debug, thiserror::Error)]
#[error("poisoned")]
struct Poisoned;

impl Store for CheckThenWrite {
    type Error = Poisoned;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Poisoned> {
        Ok(self
            .0
            .lock()
            .map_err(|_| Poisoned)?
            .get(&(key.kind(), key.namespace().to_vec(), key.id().to_vec()))
            .copied())
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Poisoned> {
        let current = Store::load(self, key)?.map(|(_, v)| v);
        if current != expected {
            return Ok(Swap::Conflict);
        }
        // Another thread can write here, between the check and the write.
        std::thread::yield_now();
        self.0.lock().map_err(|_| Poisoned)?.insert(
            (key.kind(), key.namespace().to_vec(), key.id().to_vec()),
            (*record, new),
        );
        Ok(Swap::Swapped)
    }

    fn prune(&self, before: handover_code::Timestamp) -> Result<u64, Poisoned> {
        let mut records = self.0.lock().map_err(|_| Poisoned)?;
        let was = records.len();
        records.retain(|_, (record, _)| record.prune_at() >= before);
        Ok((was - records.len()) as u64)
    }
}

/// A correct store that keeps `Store::prune`'s default: it never deletes anything.
#[derive(Default)]
struct KeepsEverything(MemoryStore);

impl Store for KeepsEverything {
    type Error = handover_code::Error;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        Store::load(&self.0, key)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        Store::compare_and_swap(&self.0, key, expected, record, new)
    }
}

#[test]
fn the_contract_check_refuses_a_store_that_never_prunes() {
    // The default itself: nothing deleted, nothing reported deleted, the record kept.
    let store = KeepsEverything::default();
    let service = handover_code::Service::new(
        handover_code::Secret::from_bytes(&[3; 32]).unwrap(),
        handover_code::Policy::default(),
        "c",
    )
    .unwrap();
    service.issue(&store, "B-1", 200, 100).unwrap();
    assert!(matches!(
        Store::prune(&store, handover_code::Timestamp(1_000_000)),
        Ok(0)
    ));
    assert!(service.booking(&store, "B-1").unwrap().is_some());

    let failure = conformance::check_contract(KeepsEverything::default).unwrap_err();
    assert_eq!(failure.check, "prune", "{failure}");
    assert!(failure.detail.contains("implement prune"), "{failure}");
}

#[test]
fn a_check_then_write_store_passes_the_single_call_checks() {
    // One call at a time it looks right ...
    conformance::check_contract(CheckThenWrite::default).unwrap();
}

#[test]
fn a_check_then_write_store_fails_the_hammer() {
    // ... and the hammer catches it.
    let failure = conformance::check_concurrency(CheckThenWrite::default).unwrap_err();
    println!("caught: {failure}");
}

/// Polls a future to completion on this thread (the stores here never really wait).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Pending once, then ready: lets other joined futures run.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

#[test]
fn the_async_kit_passes_the_memory_store_and_its_tasks_contend() {
    let report = block_on(conformance::check_all_async(MemoryStore::new)).unwrap();
    assert!(report.conflicts > 0);
}

/// The check-then-write bug as an async store, awaiting between its check and its write.
impl AsyncStore for CheckThenWrite {
    type Error = Poisoned;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Poisoned> {
        Store::load(self, key)
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Poisoned> {
        let current = Store::load(self, key)?.map(|(_, v)| v);
        if current != expected {
            return Ok(Swap::Conflict);
        }
        YieldNow(false).await; // another task writes here
        self.0.lock().map_err(|_| Poisoned)?.insert(
            (key.kind(), key.namespace().to_vec(), key.id().to_vec()),
            (*record, new),
        );
        Ok(Swap::Swapped)
    }

    async fn prune(&self, before: handover_code::Timestamp) -> Result<u64, Poisoned> {
        Store::prune(self, before)
    }
}

#[test]
fn the_async_kit_catches_an_async_check_then_write_store() {
    block_on(conformance::check_contract_async(CheckThenWrite::default)).unwrap();
    let failure = block_on(conformance::check_concurrency_async(
        CheckThenWrite::default,
    ))
    .unwrap_err();
    println!("caught: {failure}");
}

/// A store that claims transactions and writes a batch one record at a time, yielding
/// between them: each write checks its own version, but another task's batch lands in
/// between, so a batch can land half.
#[derive(Default)]
struct Halves(MemoryStore);

impl AsyncStore for Halves {
    type Error = <MemoryStore as AsyncStore>::Error;
    const TRANSACTIONS: bool = true;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        AsyncStore::load(&self.0, key).await
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        AsyncStore::compare_and_swap(&self.0, key, expected, record, new).await
    }

    async fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Self::Error> {
        for (key, version) in unchanged {
            if Store::load(&self.0, *key)?.map(|(_, v)| v) != *version {
                return Ok(Swap::Conflict);
            }
        }
        for (entry, record) in writes {
            let swap = Store::compare_and_swap_audited(&self.0, entry, record)?;
            if swap == Swap::Conflict {
                return Ok(Swap::Conflict);
            }
            YieldNow(false).await;
        }
        Ok(Swap::Swapped)
    }
}

#[test]
fn the_async_kit_catches_a_batch_that_lands_in_halves() {
    let failure = block_on(conformance::check_concurrency_async(Halves::default)).unwrap_err();
    assert_eq!(failure.check, "transactions", "{failure}");
}

/// A store that says it has transactions and keeps the default batch, which refuses two
/// writes: the kit says so before any verification would answer contention.
#[derive(Default)]
struct Claims(MemoryStore);

impl Store for Claims {
    type Error = <MemoryStore as Store>::Error;
    const TRANSACTIONS: bool = true;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        Store::load(&self.0, key)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        Store::compare_and_swap(&self.0, key, expected, record, new)
    }
}

#[test]
fn the_kit_catches_a_store_that_claims_transactions_it_lacks() {
    let failure = conformance::check_concurrency(Claims::default).unwrap_err();
    assert_eq!(failure.check, "transactions", "{failure}");
    assert!(failure.detail.contains("two absent records"), "{failure}");
}

#[test]
fn the_kit_passes_a_store_without_transactions_that_keeps_the_default() {
    conformance::check_all(|| conformance::WithoutTransactions(MemoryStore::new())).unwrap();
    block_on(conformance::check_all_async(|| {
        conformance::WithoutTransactions(MemoryStore::new())
    }))
    .unwrap();
}

/// A store whose every write of a verifier's record says it landed and lands nothing: the
/// failures a budget counts are forgotten, and wrong codes past the budget are answered.
#[derive(Default)]
struct ForgetsVerifiers(MemoryStore);

impl Store for ForgetsVerifiers {
    type Error = <MemoryStore as Store>::Error;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        Store::load(&self.0, key)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        if matches!(record, Record::Verifier(_)) {
            return Ok(Swap::Swapped);
        }
        Store::compare_and_swap(&self.0, key, expected, record, new)
    }

    fn prune(&self, before: handover_code::Timestamp) -> Result<u64, Self::Error> {
        Store::prune(&self.0, before)
    }
}

#[test]
fn the_scenarios_pass_the_memory_store_in_both_modes() {
    conformance::check_scenarios(MemoryStore::new).unwrap();
    conformance::check_scenarios(|| conformance::WithoutTransactions(MemoryStore::new())).unwrap();
}

#[test]
fn the_scenarios_catch_a_store_that_forgets_a_verifiers_failures() {
    let failure = conformance::check_scenarios(ForgetsVerifiers::default).unwrap_err();
    assert!(failure.check.starts_with("scenario "), "{failure}");
    assert!(
        failure.detail.contains("scenarios/"),
        "names the kit's line: {failure}"
    );
}

#[cfg(feature = "conformance-tokio")]
#[test]
fn the_async_scenarios_pass_the_memory_store_and_refuse_what_would_hang() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    conformance::check_scenarios_async(MemoryStore::new, runtime.handle()).unwrap();
    // From inside the runtime, Handle::block_on would panic: the kit says so instead.
    let inside = runtime.block_on(async {
        conformance::check_scenarios_async(MemoryStore::new, &tokio::runtime::Handle::current())
    });
    assert_eq!(inside.unwrap_err().check, "setup");
    // A current-thread runtime cannot serve the kit's threads: it would hang.
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let failure = conformance::check_scenarios_async(MemoryStore::new, current.handle());
    assert_eq!(failure.unwrap_err().check, "setup");
}
