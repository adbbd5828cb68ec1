//! Time as a value: seconds since the Unix epoch. The core never reads a clock.

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
/// # Ok::<(), handover_code::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The system clock's reading (feature `std`): a clock set before 1970 reads as 0.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn now() -> Self {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        Self(since.map(|d| d.as_secs()).unwrap_or(0))
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

/// Seconds since the epoch: `issue(&store, booking, now + 600, now)` with `now: u64`.
impl From<u64> for Timestamp {
    fn from(secs: u64) -> Self {
        Self(secs)
    }
}
