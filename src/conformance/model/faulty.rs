//! The store under test wrapped: one armed fault at a time, and a trace of the calls.

use crate::audit::Entry;
use crate::key::Key;
use crate::record::{Record, Version};
use crate::store::{Store, Swap};

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Fault, Faulty, FaultyError};

impl<S> Faulty<S> {
    /// Whether the armed fault hits this call (`swap`: a compare-and-swap).
    fn hit(&self, swap: bool) -> Option<Fault> {
        let index = self.calls.borrow().len();
        let armed = self.armed.get()?;
        let hit = match armed {
            Fault::LoadError => !swap,
            Fault::SwapError | Fault::SpuriousConflict => swap,
            Fault::Cut { at, .. } => usize::from(at.checked_rem(5).unwrap_or_default()) == index,
        };
        if hit {
            self.armed.set(None);
            self.fired.set(true);
        }
        hit.then_some(armed)
    }

    fn record(&self, swap: bool, key: Key<'_>) {
        self.calls.borrow_mut().push((swap, key.kind()));
    }

    /// Notes whether a compare-and-swap's answer says it landed, and passes it on.
    fn landing<E>(&self, answer: Result<Swap, E>) -> Result<Swap, E> {
        self.landed.set(matches!(answer, Ok(Swap::Swapped)));
        answer
    }
}

impl<S: Store> Store for Faulty<S> {
    type Error = FaultyError<S::Error>;
    const TRANSACTIONS: bool = S::TRANSACTIONS;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        let fault = self.hit(false);
        self.record(false, key);
        if fault.is_some() {
            return Err(FaultyError::Injected);
        }
        self.inner.load(key).map_err(FaultyError::Inner)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        let fault = self.hit(true);
        self.record(true, key);
        self.landing(match fault {
            None => self
                .inner
                .compare_and_swap(key, expected, record, new)
                .map_err(FaultyError::Inner),
            Some(Fault::SpuriousConflict) => Ok(Swap::Conflict),
            Some(Fault::Cut { lands: true, .. }) => self
                .inner
                .compare_and_swap(key, expected, record, new)
                .map_err(FaultyError::Inner)
                .and(Err(FaultyError::Injected)),
            Some(_) => Err(FaultyError::Injected),
        })
    }

    fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Self::Error> {
        let fault = self.hit(true);
        self.record(true, entry.key);
        self.landing(match fault {
            None => self
                .inner
                .compare_and_swap_audited(entry, record)
                .map_err(FaultyError::Inner),
            Some(Fault::SpuriousConflict) => Ok(Swap::Conflict),
            Some(Fault::Cut { lands: true, .. }) => self
                .inner
                .compare_and_swap_audited(entry, record)
                .map_err(FaultyError::Inner)
                .and(Err(FaultyError::Injected)),
            Some(_) => Err(FaultyError::Injected),
        })
    }
    /// A batch is one call to fault, traced as a swap of each key it writes and a load of
    /// each it checks unchanged, in order.
    fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Self::Error> {
        let fault = self.hit(true);
        for (entry, _) in writes {
            self.record(true, entry.key);
        }
        for (key, _) in unchanged {
            self.record(false, *key);
        }
        self.landing(match fault {
            None => self
                .inner
                .compare_and_swap_all(writes, unchanged)
                .map_err(FaultyError::Inner),
            Some(Fault::SpuriousConflict) => Ok(Swap::Conflict),
            Some(Fault::Cut { lands: true, .. }) => self
                .inner
                .compare_and_swap_all(writes, unchanged)
                .map_err(FaultyError::Inner)
                .and(Err(FaultyError::Injected)),
            Some(_) => Err(FaultyError::Injected),
        })
    }

    /// Forwarded unfaulted: the model's stores confirm nothing.
    fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, Self::Error> {
        self.inner
            .make_durable(key, version)
            .map_err(FaultyError::Inner)
    }
}

/// A `Cell`'s and a `RefCell`'s calls over a lock, so that the store under test is `Sync`
/// like the store it wraps (the blocking operations take a `Sync` store). One harness step
/// runs on one thread: the lock is never contended, and a poisoned one is taken as it is.
pub(super) struct Shared<T>(Mutex<T>);

impl<T> Shared<T> {
    pub(super) const fn new(value: T) -> Self {
        Self(Mutex::new(value))
    }

    pub(super) fn borrow(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn borrow_mut(&self) -> MutexGuard<'_, T> {
        self.borrow()
    }
}

impl<T: Copy> Shared<T> {
    pub(super) fn get(&self) -> T {
        *self.borrow()
    }

    pub(super) fn set(&self, value: T) {
        *self.borrow() = value;
    }
}
