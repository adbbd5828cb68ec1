//! A store that pauses a plan between two of its store calls while others act.

use std::boxed::Box;
use std::string::String;
use std::sync::Mutex;

use crate::key::Key;
use crate::record::Version;
use crate::store::forward;
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

// A confirmation does not pause: the pauses count the steps of a plan's decision.
forward!(
    impl ['s, S: Store] Store for Pausing<'s, S> {
        type Error = S::Error;
        const TRANSACTIONS: bool = S::TRANSACTIONS;

        fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, S::Error> {
            self.inner.make_durable(key, version)
        }
    }
    [] |this, call| {
        this.pause();
        call()
    }, calling Store on this.inner;
    load, compare_and_swap, compare_and_swap_audited, compare_and_swap_all
);
