//! Feature `arbitrary`: any valid policy, for fuzz harnesses.

use arbitrary::Arbitrary;

use crate::code::Digits;

use super::{Overrides, Policy, VerifierBudget};

impl<'a> Arbitrary<'a> for Policy {
    /// Any valid policy: out-of-range draws are folded into range, never refused.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let digits = *u.choose(&[Digits::Four, Digits::Five, Digits::Six])?;
        let hard = Self::max_attempts_for(digits);
        let attempts = u.int_in_range(1..=hard)?;
        let ceiling = u16::from(hard).saturating_mul(Self::LIFETIME_FACTOR);
        let lifetime = u.int_in_range(u16::from(attempts)..=ceiling)?;
        let budget = Option::<VerifierBudget>::arbitrary(u)?;
        let retries = u.int_in_range(1..=Self::MAX_RETRIES)?;
        let sends = u.int_in_range(1..=Self::MAX_SENDS)?;
        let send_window = u.int_in_range(Self::MIN_SEND_WINDOW..=86_400)?;
        let overrides = Overrides {
            enabled: bool::arbitrary(u)?,
            budget: Option::<VerifierBudget>::arbitrary(u)?,
            locked: bool::arbitrary(u)?,
            expired: bool::arbitrary(u)?,
            revoked: bool::arbitrary(u)?,
        };
        Ok(Self {
            digits,
            attempts,
            lifetime: Some(lifetime),
            budget,
            sends,
            send_window,
            retries,
            overrides,
            skew: u.int_in_range(0..=Self::MAX_CLOCK_SKEW)?,
        })
    }
}
