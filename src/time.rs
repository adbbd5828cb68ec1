//! Time as a value: seconds since the Unix epoch. The core never reads a clock.

/// Seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// `self + seconds`, or `None` past `u64::MAX`.
    #[must_use]
    pub const fn checked_add(self, seconds: u64) -> Option<Self> {
        match self.0.checked_add(seconds) {
            Some(t) => Some(Self(t)),
            None => None,
        }
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
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        Timestamp(since.map(|d| d.as_secs()).unwrap_or(0))
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}
