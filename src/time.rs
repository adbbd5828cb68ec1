//! Time as a value: seconds since the Unix epoch. The core never reads a clock.

use core::time::Duration;

/// Seconds since 1970-01-01T00:00:00Z. With feature `serde`, a bare number of seconds.
///
/// Adds and subtracts whole seconds (`u64`) and [`Duration`]s (their whole seconds), never
/// panicking: `+` stops at the last second a `u64` holds and `-` at the epoch; `checked_add`,
/// `checked_add_duration` and `checked_sub` answer `None` there instead. Two timestamps
/// subtract to the [`Duration`] between them (zero if the second is later).
///
/// ```
/// use std::time::Duration;
/// use handover_code::Timestamp;
///
/// let now = Timestamp(1_700_000_000);
/// assert_eq!(now + 86_400, Timestamp(1_700_086_400));
/// assert_eq!(now + Duration::from_secs(600), Timestamp(1_700_000_600));
/// assert_eq!(now - 60, Timestamp(1_699_999_940));
/// assert_eq!((now + 90) - now, Duration::from_secs(90));
/// assert_eq!(Timestamp(u64::MAX) + 1, Timestamp(u64::MAX));
/// assert_eq!(Timestamp(u64::MAX).checked_add(1), None);
/// assert_eq!(Timestamp(5) - 10, Timestamp(0));
/// assert_eq!(Timestamp(5).checked_sub(10), None);
///
/// // README's issue, on the system clock (feature `std`).
/// # #[cfg(feature = "std")] {
/// use handover_code::{MemoryStore, Policy, Secret, Service};
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "cowin/dose")?;
/// let store = MemoryStore::new();
/// let now = Timestamp::now();
/// let code = service.issue(&store, "SLOT-2021-000123", now + 86_400, now)?;
/// # drop(code); }
/// # Ok::<(), handover_code::Error>(())
/// ```
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

    /// `self` plus the whole seconds of `duration`, or `None` past `u64::MAX`.
    #[must_use]
    pub const fn checked_add_duration(self, duration: Duration) -> Option<Self> {
        self.checked_add(duration.as_secs())
    }

    /// `self - seconds`, or `None` before the epoch.
    #[must_use]
    pub const fn checked_sub(self, seconds: u64) -> Option<Self> {
        match self.0.checked_sub(seconds) {
            Some(t) => Some(Self(t)),
            None => None,
        }
    }
}

/// `now + 600`: seconds later, at most `Timestamp(u64::MAX)`.
impl core::ops::Add<u64> for Timestamp {
    type Output = Self;
    fn add(self, seconds: u64) -> Self {
        Self(self.0.saturating_add(seconds))
    }
}

/// `now + Duration::from_secs(600)`: the duration's whole seconds later, at most
/// `Timestamp(u64::MAX)`.
impl core::ops::Add<Duration> for Timestamp {
    type Output = Self;
    fn add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration.as_secs()))
    }
}

/// `now - 600`: seconds earlier, at least the epoch.
impl core::ops::Sub<u64> for Timestamp {
    type Output = Self;
    fn sub(self, seconds: u64) -> Self {
        Self(self.0.saturating_sub(seconds))
    }
}

/// `now - Duration::from_secs(600)`: the duration's whole seconds earlier, at least the epoch.
impl core::ops::Sub<Duration> for Timestamp {
    type Output = Self;
    fn sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(duration.as_secs()))
    }
}

/// `later - earlier`: the time between them, zero if `later` is not later.
impl core::ops::Sub for Timestamp {
    type Output = Duration;
    fn sub(self, earlier: Self) -> Duration {
        Duration::from_secs(self.0.saturating_sub(earlier.0))
    }
}

impl core::ops::AddAssign<u64> for Timestamp {
    fn add_assign(&mut self, seconds: u64) {
        self.0 = self.0.saturating_add(seconds);
    }
}

impl core::ops::AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, duration: Duration) {
        self.0 = self.0.saturating_add(duration.as_secs());
    }
}

impl core::ops::SubAssign<u64> for Timestamp {
    fn sub_assign(&mut self, seconds: u64) {
        self.0 = self.0.saturating_sub(seconds);
    }
}

impl core::ops::SubAssign<Duration> for Timestamp {
    fn sub_assign(&mut self, duration: Duration) {
        self.0 = self.0.saturating_sub(duration.as_secs());
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

#[cfg(test)]
// The operators under test saturate; none of them can panic.
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use core::time::Duration;

    use proptest::prelude::*;

    use super::Timestamp;

    proptest! {
        /// The operators are the checked forms with their bound in place of `None`, and a
        /// difference undoes an addition that did not reach the bound.
        #[test]
        fn operators_are_the_checked_forms_at_their_bounds(t: u64, s: u64, nanos in 0u32..1_000_000_000) {
            let at = Timestamp(t);
            prop_assert_eq!(at + s, at.checked_add(s).unwrap_or(Timestamp(u64::MAX)));
            prop_assert_eq!(at - s, at.checked_sub(s).unwrap_or(Timestamp(0)));
            let d = Duration::new(s, nanos);
            prop_assert_eq!(at + d, at.checked_add_duration(d).unwrap_or(Timestamp(u64::MAX)));
            prop_assert_eq!(at - d, at - s);
            if let Some(later) = at.checked_add(s) {
                prop_assert_eq!(later - at, Duration::from_secs(s));
                prop_assert_eq!(at - later, Duration::ZERO);
            }
            let mut moved = at;
            moved += s;
            moved -= d;
            prop_assert_eq!(moved, (at + s) - s);
        }
    }
}
