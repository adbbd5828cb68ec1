//! A store that pauses a plan between two of its store calls while others act.

use std::boxed::Box;
use std::string::String;
use std::sync::Mutex;

use crate::audit::Entry;
use crate::key::Key;
use crate::record::{Record, Version};
use crate::store::{Store, Swap};

use super::Checked;

/// A hook, run once.
type Hook<'s> = Box<dyn FnOnce() -> Checked + Send + 's>;

/// A store that runs a hook just before its call number `at` (from 1, loads and
/// compare-and-swaps alike): a pause between one step of a plan and the next, in which others
/// act. [`Pausing::ran`] says what the hook saw, or that it never ran.
pub(super) struct Pausing<'s, S> {
    inner: &'s S,
    calls: Mutex<usize>,
    at: usize,
    hook: Mutex<Option<Hook<'s>>>,
    seen: Mutex<Option<Checked>>,
}

impl<'s, S> Pausing<'s, S> {
    pub(super) fn new(inner: &'s S, at: usize, hook: impl FnOnce() -> Checked + Send + 's) -> Self {
        Self {
            inner,
            calls: Mutex::new(0),
            at,
            hook: Mutex::new(Some(Box::new(hook))),
            seen: Mutex::new(None),
        }
    }

    /// What the hook saw: `Err` if it failed, or if the plan never made call number `at`.
    pub(super) fn ran(&self) -> Checked {
        match self.seen.lock() {
            Ok(mut seen) => seen.take().unwrap_or_else(|| {
                Err(std::format!(
                    "the plan never made store call {}: the pause never came",
                    self.at
                ))
            }),
            Err(_) => Err(String::from("a hook panicked")),
        }
    }

    fn pause(&self) {
        let now = match self.calls.lock() {
            Ok(mut calls) => {
                *calls = calls.saturating_add(1);
                *calls
            }
            Err(_) => return,
        };
        if now != self.at {
            return;
        }
        let hook = self.hook.lock().ok().and_then(|mut hook| hook.take());
        if let Some(hook) = hook {
            let seen = hook();
            if let Ok(mut slot) = self.seen.lock() {
                *slot = Some(seen);
            }
        }
    }
}

impl<S: Store> Store for Pausing<'_, S> {
    type Error = S::Error;
    const TRANSACTIONS: bool = S::TRANSACTIONS;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, S::Error> {
        self.pause();
        self.inner.load(key)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, S::Error> {
        self.pause();
        self.inner.compare_and_swap(key, expected, record, new)
    }

    fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, S::Error> {
        self.pause();
        self.inner.compare_and_swap_audited(entry, record)
    }

    fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, S::Error> {
        self.pause();
        self.inner.compare_and_swap_all(writes, unchanged)
    }

    fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, S::Error> {
        self.inner.make_durable(key, version)
    }
}
