//! Limits on guessing, valid by construction.

use core::num::NonZeroU32;

use crate::code::Digits;
use crate::error::Error;
use crate::record::Limits;

mod budget;
#[cfg(feature = "arbitrary")]
mod fuzz;

pub(crate) use budget::{Overrides, VerifierBudget};

/// How many guesses a booking and a verifier get. Every value is checked when it is set, so a
/// `Policy` in hand is always valid.
///
/// | setting | default | bounds |
/// |---|---|---|
/// | digits | chosen explicitly | 4, 5 or 6 |
/// | attempts per generation | 3 | 1..=5 for 4–5 digits, 1..=10 for 6 |
/// | lifetime cap (all generations) | 3 × attempts | attempts..=3 × hard maximum |
/// | verifier budget | off | any non-zero failures and window |
/// | sends per booking (issue, resend, re-issue) | 5 per 600 s | 1..=10 per window of 60 s or more |
/// | conflict retries | 16 | 1..=64 |
/// | clock-skew tolerance | 5 s | 0..=300 s |
/// | overrides | allowed, for active bookings, no budget | see [`Policy::with_overrides_of`] |
///
/// A booking's record keeps the attempt limits and send limit it was issued under, and a
/// verifier's record the budget its window was opened under: a service whose policy
/// differs applies the record's limits, never its own.
///
/// ```
/// use handover_code::{Digits, Policy};
///
/// let policy = Policy::new(Digits::Four).with_attempts(3)?.with_verifier_budget(10, 86_400)?;
/// assert_eq!(policy.lifetime_cap(), 9);
/// assert!(Policy::new(Digits::Four).with_attempts(6).is_err());
/// # Ok::<(), handover_code::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    digits: Digits,
    attempts: u8,
    lifetime: Option<u16>,
    budget: Option<VerifierBudget>,
    sends: u8,
    send_window: u32,
    retries: u8,
    overrides: Overrides,
    skew: u16,
}

/// 4-digit codes (CoWIN's) with [`Policy::new`]'s defaults: `Policy::new(Digits::Four)`.
///
/// ```
/// use handover_code::{Digits, Policy};
///
/// assert_eq!(Policy::default(), Policy::new(Digits::Four));
/// assert_eq!(Policy::default().attempts(), 3);
/// ```
impl Default for Policy {
    fn default() -> Self {
        Self::new(Digits::Four)
    }
}

impl Policy {
    /// Attempts per generation when none are set.
    pub const DEFAULT_ATTEMPTS: u8 = 3;
    /// The hard maximum of attempts per generation for 4- and 5-digit codes.
    pub const MAX_ATTEMPTS_SHORT: u8 = 5;
    /// The hard maximum of attempts per generation for 6-digit codes.
    pub const MAX_ATTEMPTS_SIX: u8 = 10;
    /// The lifetime cap is this many times the per-generation limit unless set.
    pub const LIFETIME_FACTOR: u16 = 3;
    /// Conflict retries when none are set.
    pub const DEFAULT_RETRIES: u8 = 16;
    /// The most conflict retries allowed.
    pub const MAX_RETRIES: u8 = 64;
    /// Sends (issue, resend, re-issue) per booking per send window when none are set: about
    /// what hosted verification services allow per destination.
    pub const DEFAULT_SENDS: u8 = 5;
    /// The send window when none is set: 10 minutes.
    pub const DEFAULT_SEND_WINDOW: u32 = 600;
    /// The hard maximum of sends per window.
    pub const MAX_SENDS: u8 = 10;
    /// The shortest send window, in seconds: with [`Policy::MAX_SENDS`], at most 10 SMS a
    /// minute per booking whatever the policy.
    pub const MIN_SEND_WINDOW: u32 = 60;
    /// The clock-skew tolerance when none is set, in seconds: servers kept by NTP agree to
    /// well within it.
    pub const DEFAULT_CLOCK_SKEW: u16 = 5;
    /// The largest clock-skew tolerance, in seconds.
    pub const MAX_CLOCK_SKEW: u16 = 300;

    /// The default policy for codes of `digits` digits.
    #[must_use]
    pub const fn new(digits: Digits) -> Self {
        Self {
            digits,
            attempts: Self::DEFAULT_ATTEMPTS,
            lifetime: None,
            budget: None,
            sends: Self::DEFAULT_SENDS,
            send_window: Self::DEFAULT_SEND_WINDOW,
            retries: Self::DEFAULT_RETRIES,
            overrides: Overrides::DEFAULT,
            skew: Self::DEFAULT_CLOCK_SKEW,
        }
    }

    /// The hard maximum of attempts per generation for a digit count.
    #[must_use]
    pub const fn max_attempts_for(digits: Digits) -> u8 {
        match digits {
            Digits::Four | Digits::Five => Self::MAX_ATTEMPTS_SHORT,
            Digits::Six => Self::MAX_ATTEMPTS_SIX,
        }
    }

    /// Sets the wrong codes allowed per generation before the booking locks.
    ///
    /// # Errors
    ///
    /// [`Error::PolicyAttempts`] outside 1..=[`Policy::max_attempts_for`] the digits, and
    /// [`Error::PolicyLifetime`] if an explicit lifetime cap set earlier is now below it.
    pub fn with_attempts(self, attempts: u8) -> Result<Self, Error> {
        if attempts == 0 || attempts > Self::max_attempts_for(self.digits) {
            return Err(Error::PolicyAttempts);
        }
        Self { attempts, ..self }.checked()
    }

    /// Sets the wrong codes allowed over the booking's whole life, across re-issues.
    ///
    /// # Errors
    ///
    /// [`Error::PolicyLifetime`] below the attempts per generation or above 3 × the hard
    /// maximum.
    pub fn with_lifetime_cap(self, cap: u16) -> Result<Self, Error> {
        Self {
            lifetime: Some(cap),
            ..self
        }
        .checked()
    }

    /// Turns on a per-verifier failure budget: `failures` wrong codes per window of
    /// `window_secs` seconds, across all bookings.
    ///
    /// # Errors
    ///
    /// [`Error::PolicyBudget`] when `failures` or `window_secs` is 0.
    pub fn with_verifier_budget(self, failures: u32, window_secs: u64) -> Result<Self, Error> {
        let failures = NonZeroU32::new(failures).ok_or(Error::PolicyBudget)?;
        let window_secs = core::num::NonZeroU64::new(window_secs).ok_or(Error::PolicyBudget)?;
        let budget = Some(VerifierBudget {
            failures,
            window_secs,
        });
        Ok(Self { budget, ..self })
    }

    /// Sets how many sends (issue, resend and re-issue each count one) a booking gets per
    /// window of `window_secs` seconds; the window opens at the first send after the last
    /// one closed. Past the limit a send answers [`Error::SendLimit`](crate::Error::SendLimit) with the time it is
    /// allowed again. Each send is an SMS the host pays for: SMS pumping is a known fraud.
    ///
    /// # Errors
    ///
    /// [`Error::PolicySends`] for 0 or more than [`Policy::MAX_SENDS`] sends, or a window
    /// shorter than [`Policy::MIN_SEND_WINDOW`].
    pub fn with_send_limit(self, sends: u8, window_secs: u32) -> Result<Self, Error> {
        if sends == 0 || sends > Self::MAX_SENDS || window_secs < Self::MIN_SEND_WINDOW {
            return Err(Error::PolicySends);
        }
        Ok(Self {
            sends,
            send_window: window_secs,
            ..self
        })
    }

    /// Sets how many times an operation reloads and decides again after losing a
    /// compare-and-swap race before it gives up with [`Error::Contention`](crate::Error::Contention).
    ///
    /// # Errors
    ///
    /// [`Error::PolicyRetries`] outside 1..=[`Policy::MAX_RETRIES`].
    pub fn with_max_retries(self, retries: u8) -> Result<Self, Error> {
        if retries == 0 || retries > Self::MAX_RETRIES {
            return Err(Error::PolicyRetries);
        }
        Ok(Self { retries, ..self })
    }

    /// Sets how many seconds a verification's or an override's `now` may read before the
    /// booking's issue time and still be judged: several servers share one store, and a
    /// booking issued on one whose clock runs a little ahead is verified on another. Within
    /// the tolerance the booking is judged as at `now` (it has not expired, its counts are
    /// the record's); further back the answer is [`Error::Clock`](crate::Error::Clock) and
    /// nothing is counted. Issue, resend and re-issue stay strict: they stamp the booking's
    /// times. 0 refuses any `now` before the issue time.
    ///
    /// ```
    /// use handover_code::Policy;
    /// use handover_code::Digits;
    ///
    /// assert_eq!(Policy::new(Digits::Four).clock_skew(), 5);
    /// assert_eq!(Policy::new(Digits::Four).with_clock_skew(0)?.clock_skew(), 0);
    /// assert!(Policy::new(Digits::Four).with_clock_skew(301).is_err());
    /// # Ok::<(), handover_code::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::PolicyClockSkew`] above [`Policy::MAX_CLOCK_SKEW`].
    pub fn with_clock_skew(self, secs: u16) -> Result<Self, Error> {
        if secs > Self::MAX_CLOCK_SKEW {
            return Err(Error::PolicyClockSkew);
        }
        Ok(Self { skew: secs, ..self })
    }

    /// Seconds a verification's `now` may read before the issue time and still be judged.
    #[must_use]
    pub const fn clock_skew(&self) -> u16 {
        self.skew
    }

    fn checked(self) -> Result<Self, Error> {
        let hard = u16::from(Self::max_attempts_for(self.digits));
        let ceiling = hard.saturating_mul(Self::LIFETIME_FACTOR);
        let cap = self.lifetime_cap();
        if cap < u16::from(self.attempts) || cap > ceiling {
            return Err(Error::PolicyLifetime);
        }
        Ok(self)
    }

    /// The digits of codes issued under this policy.
    #[must_use]
    pub const fn digits(&self) -> Digits {
        self.digits
    }

    /// Wrong codes allowed per generation.
    #[must_use]
    pub const fn attempts(&self) -> u8 {
        self.attempts
    }

    /// Wrong codes allowed over a booking's life.
    #[must_use]
    pub fn lifetime_cap(&self) -> u16 {
        self.lifetime
            .unwrap_or_else(|| u16::from(self.attempts).saturating_mul(Self::LIFETIME_FACTOR))
    }

    /// The verifier budget, if one is set: wrong codes per window, and the window in
    /// seconds, as [`Policy::with_verifier_budget`] took them.
    #[must_use]
    pub const fn verifier_budget(&self) -> Option<(u32, u64)> {
        match self.budget {
            Some(b) => Some((b.failures.get(), b.window_secs.get())),
            None => None,
        }
    }

    /// The verifier budget, as the plans read it.
    pub(crate) const fn budget(&self) -> Option<VerifierBudget> {
        self.budget
    }

    /// The override budget, if one is set: overrides per actor per window, and the window
    /// in seconds, as [`Policy::with_override_budget`] took them.
    #[must_use]
    pub const fn override_budget(&self) -> Option<(u32, u64)> {
        match self.overrides.budget {
            Some(b) => Some((b.failures.get(), b.window_secs.get())),
            None => None,
        }
    }

    /// Sends allowed per send window, and the window's length in seconds.
    #[must_use]
    pub const fn send_limit(&self) -> (u8, u32) {
        (self.sends, self.send_window)
    }

    /// The limits a booking issued under this policy keeps in its record.
    #[must_use]
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            attempts: self.attempts,
            lifetime_cap: self.lifetime_cap(),
            sends: self.sends,
            send_window_secs: self.send_window,
        }
    }

    /// The lifetime cap if one was set, `None` while it follows the attempts.
    #[cfg(feature = "serde")]
    pub(crate) const fn explicit_lifetime_cap(&self) -> Option<u16> {
        self.lifetime
    }

    /// Conflict retries before [`Error::Contention`](crate::Error::Contention).
    #[must_use]
    pub const fn max_retries(&self) -> u8 {
        self.retries
    }

    /// Turns the audited override off: [`Service::overrule`](crate::Service::overrule)
    /// answers [`Error::OverridesOff`](crate::Error::OverridesOff) and writes nothing.
    #[must_use]
    pub const fn without_overrides(self) -> Self {
        let mut overrides = self.overrides;
        overrides.enabled = false;
        Self { overrides, ..self }
    }

    /// Gives each override actor a budget: at most `overrides` overrides per window of
    /// `window_secs` seconds (windows start at multiples of it since the epoch), across
    /// all bookings of the service's budget scope, counted with the booking's redemption in
    /// one transaction on a store with transactions, and before it, under the same
    /// compare-and-swap contract as a verifier's failures, on a store without.
    ///
    /// # Errors
    ///
    /// [`Error::PolicyBudget`] when `overrides` or `window_secs` is 0.
    pub fn with_override_budget(self, overrides: u32, window_secs: u64) -> Result<Self, Error> {
        let failures = NonZeroU32::new(overrides).ok_or(Error::PolicyBudget)?;
        let window_secs = core::num::NonZeroU64::new(window_secs).ok_or(Error::PolicyBudget)?;
        let mut o = self.overrides;
        o.budget = Some(VerifierBudget {
            failures,
            window_secs,
        });
        Ok(Self {
            overrides: o,
            ..self
        })
    }

    /// Lets overrides redeem bookings that are closed to codes: locked by wrong codes
    /// (`locked`), past their code's validity (`expired`), revoked by the host (`revoked`).
    /// Each is refused by default. A redeemed booking is always refused.
    #[must_use]
    pub const fn with_overrides_of(self, locked: bool, expired: bool, revoked: bool) -> Self {
        let mut overrides = self.overrides;
        overrides.locked = locked;
        overrides.expired = expired;
        overrides.revoked = revoked;
        Self { overrides, ..self }
    }

    /// Sets everything overrides may do at once (valid by construction: a budget's counts
    /// are non-zero).
    #[must_use]
    #[cfg(feature = "serde")]
    pub(crate) const fn with_overrides(self, overrides: Overrides) -> Self {
        Self { overrides, ..self }
    }

    /// Whether the audited override is on (it is unless [`Policy::without_overrides`]).
    ///
    /// ```
    /// use handover_code::Policy;
    ///
    /// let policy = Policy::default().with_overrides_of(true, false, false);
    /// assert!(policy.overrides_allowed());
    /// assert_eq!(policy.overrides_of(), (true, false, false));
    /// assert!(!policy.without_overrides().overrides_allowed());
    /// ```
    #[must_use]
    pub const fn overrides_allowed(&self) -> bool {
        self.overrides.enabled
    }

    /// Which bookings closed to codes an override may still redeem, as
    /// [`Policy::with_overrides_of`] took them: `(locked, expired, revoked)`.
    #[must_use]
    pub const fn overrides_of(&self) -> (bool, bool, bool) {
        let o = self.overrides;
        (o.locked, o.expired, o.revoked)
    }

    /// What overrides may do.
    #[must_use]
    pub(crate) const fn overrides(&self) -> Overrides {
        self.overrides
    }
}
