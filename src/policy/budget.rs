//! The budgets a policy may carry: a verifier's wrong codes per window, and overrides.

use core::num::NonZeroU32;

/// A verifier's failure budget: at most `failures` wrong codes across all bookings in each
/// fixed window of `window_secs` seconds (windows start at multiples of `window_secs` since
/// the epoch).
///
/// A fixed window lets a verifier spend one budget at the end of a window and the next at the
/// start of the following one, so the worst case over any `window_secs` stretch is
/// `2 × failures`; size the budget with that in mind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub(crate) struct VerifierBudget {
    /// Wrong codes allowed per window.
    pub(crate) failures: NonZeroU32,
    /// The window's length in seconds.
    pub(crate) window_secs: core::num::NonZeroU64,
}

/// What the audited override ([`Service::overrule`](crate::Service::overrule)) may do under a
/// policy: whether it is allowed at all, the actor's budget, and which closed bookings it may
/// still redeem. A redeemed booking is never redeemed again, by code or by override.
///
/// With feature `serde`: an object of these fields, each optional (missing ones default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub(crate) struct Overrides {
    /// Whether overrides are allowed (default: yes).
    pub(crate) enabled: bool,
    /// Overrides each actor may make per window, across all bookings of the budget scope
    /// (default: no budget; overrides are still audited).
    pub(crate) budget: Option<VerifierBudget>,
    /// Whether a booking locked by wrong codes may be overridden (default: no).
    pub(crate) locked: bool,
    /// Whether a booking whose code's validity has ended may be overridden (default: no).
    pub(crate) expired: bool,
    /// Whether a revoked booking may be overridden (default: no).
    pub(crate) revoked: bool,
}

impl Default for Overrides {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Overrides {
    /// Allowed, without a budget, for active bookings only.
    pub(crate) const DEFAULT: Self = Self {
        enabled: true,
        budget: None,
        locked: false,
        expired: false,
        revoked: false,
    };
}
