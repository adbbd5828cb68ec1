//! What [`Error::Corrupt`] keeps as its source when the service itself found the store's
//! answers inconsistent.

use super::{Class, Error, StoreError};

/// An inconsistency the service found in what the store answered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Inconsistent(&'static str);

/// A record of the other kind, a version at its limit, an answer missing: what the plans
/// find when a store answers what no store that keeps the contract can.
static INCONSISTENT: Inconsistent = Inconsistent(
    "the store answered what no store keeping the contract can: a record of the other kind under a key, a version at its limit, or an answer missing",
);

/// An operation that the store's answers kept going past the driver's bound.
static STUCK: Inconsistent =
    Inconsistent("the store's answers kept one operation going past 4,096 store calls");

impl Error {
    /// [`Error::Corrupt`] for an inconsistency the plans found in the store's answers.
    /// Allocates nothing: the plans use it as a placeholder too.
    pub(crate) const fn inconsistent() -> Self {
        Self::Corrupt(StoreError::fixed(&INCONSISTENT, Class::Corrupt))
    }

    /// [`Error::Corrupt`] for an operation stopped by the driver's bound on store calls.
    pub(crate) const fn stuck() -> Self {
        Self::Corrupt(StoreError::fixed(&STUCK, Class::Corrupt))
    }
}
