//! Time as a value: seconds since the Unix epoch. The core never reads a clock.

#[cfg(feature = "std")]
use crate::invalid::Invalid;

use core::time::Duration;

/// Seconds since 1970-01-01T00:00:00Z. With feature `serde`, a bare number of seconds.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use handover_code::Timestamp;
///
/// let now = Timestamp::now(); // the system clock, no trait to import
/// let expires = Timestamp::try_from(SystemTime::now() + Duration::from_secs(600))?;
/// assert!(expires > now);
/// assert_eq!(Timestamp::from(Duration::from_secs(90)), Timestamp(90));
/// assert_eq!(Duration::from(Timestamp(90)), Duration::from_secs(90));
/// assert_eq!(Timestamp(90).to_system_time(), SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(90)));
/// # Ok::<(), handover_code::Invalid>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The system clock's reading (feature `std`), as [`SystemClock`] reads it: a clock set
    /// before 1970 reads as 0.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn now() -> Self {
        SystemClock.now()
    }

    /// The same instant as a `SystemTime` (feature `std`), or `None` where the platform's
    /// `SystemTime` cannot hold it.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn to_system_time(self) -> Option<std::time::SystemTime> {
        std::time::UNIX_EPOCH.checked_add(Duration::from_secs(self.0))
    }

    /// `self + seconds`, or `None` past `u64::MAX`.
    #[must_use]
    pub const fn checked_add(self, seconds: u64) -> Option<Self> {
        match self.0.checked_add(seconds) {
            Some(t) => Some(Self(t)),
            None => None,
        }
    }
}

/// Whole seconds of a duration since the epoch; the fraction is dropped.
impl From<Duration> for Timestamp {
    fn from(since_epoch: Duration) -> Self {
        Self(since_epoch.as_secs())
    }
}

/// The time since the epoch.
impl From<Timestamp> for Duration {
    fn from(t: Timestamp) -> Self {
        Self::from_secs(t.0)
    }
}

/// Whole seconds since the epoch (feature `std`); [`Invalid::BeforeEpoch`] for an earlier
/// time.
#[cfg(feature = "std")]
impl TryFrom<std::time::SystemTime> for Timestamp {
    type Error = Invalid;

    fn try_from(t: std::time::SystemTime) -> Result<Self, Invalid> {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(Self::from)
            .map_err(|_| Invalid::BeforeEpoch)
    }
}

/// A source of the current time, injected where the host wants one; tests use a fixed value.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock (feature `std`). A clock set before 1970 reads as 0.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[cfg(feature = "std")]
impl SystemClock {
    /// The current time; the same as [`Clock::now`], without importing the trait.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        Timestamp(since.map(|d| d.as_secs()).unwrap_or(0))
    }
}

#[cfg(feature = "std")]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Self::now(self)
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}
