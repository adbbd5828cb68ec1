//! The conformance kit passes on the reference store and fails on a store that checks and
//! then writes in two steps.
#![cfg(feature = "conformance")]

use std::collections::HashMap;
use std::sync::Mutex;

use handover_code::record::{Record, Version};
use handover_code::store::{Key, Store, Swap};
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
        let current = self.load(key)?.map(|(_, v)| v);
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
