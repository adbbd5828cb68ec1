//! What a host reads off a record: a booking's standing (from
//! [`Service::booking`](crate::Service::booking), or a store's `load`) and a verifier's
//! budget. The fields themselves stay the crate's, so a record cannot be built or changed
//! outside the plans that keep its invariants.

use super::{Booking, Earlier, Limits, State, Verifier};
use crate::code::Digits;
use crate::keyring::KeyId;
use crate::time::Timestamp;

/// A booking's standing, read through these methods:
///
/// ```
/// use handover_code::record::{Earlier, State};
/// use handover_code::{Attempt, MemoryStore, Policy, Secret, Service};
///
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "post/parcel")?;
/// let store = MemoryStore::new();
/// let now = 1_700_000_000;
/// let code = service.issue(&store, "EE123456789IN", now + 3_600, now)?;
/// let wrong = if code.expose() == "0000" { "1111" } else { "0000" };
/// service.verify(&store, "EE123456789IN", wrong, None, now)?;
/// service.verify(&store, "EE123456789IN", code.expose(), Attempt::by("postman-7").request("r-1"), now + 5)?;
///
/// let booking = service.booking(&store, "EE123456789IN")?.expect("issued above");
/// assert_eq!(booking.state(), State::Redeemed);
/// assert_eq!((booking.issued_at().0, booking.expires_at().0), (now, now + 3_600));
/// assert_eq!(booking.digits().count(), 4);
/// assert_eq!(booking.failures(), 1);
/// assert_eq!(booking.attempts_left(), 0); // redeemed: nothing more is compared
/// // The redemption: when, by whom, under which request.
/// assert_eq!(booking.last_answer(), Some(Earlier::Accepted));
/// assert_eq!(booking.last_at().map(|t| t.0), Some(now + 5));
/// assert_eq!(booking.last_verifier(), Some(&b"postman-7"[..]));
/// assert_eq!(booking.last_request(), Some(&b"r-1"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Booking {
    /// Where the booking stands.
    #[must_use]
    pub const fn state(&self) -> State {
        self.state
    }

    /// When the current generation (the code now valid) was issued.
    #[must_use]
    pub const fn issued_at(&self) -> Timestamp {
        self.issued_at
    }

    /// The first instant at which the current code is no longer valid.
    #[must_use]
    pub const fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The code's digit count, fixed at issue.
    #[must_use]
    pub const fn digits(&self) -> Digits {
        self.digits
    }

    /// The id of the key the current code is derived under (see
    /// [`Keyring`](crate::Keyring) for rotation).
    #[must_use]
    pub const fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The current generation: the issue time in seconds, or above it after re-issues.
    #[must_use]
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    /// Wrong codes answered in the current generation.
    #[must_use]
    pub const fn failures(&self) -> u8 {
        self.failures
    }

    /// Wrong codes answered over the booking's life; a re-issue does not reset it.
    #[must_use]
    pub const fn lifetime_failures(&self) -> u16 {
        self.lifetime_failures
    }

    /// Wrong codes still allowed before the booking locks: the fewer of what is left of the
    /// generation's attempts and of the lifetime cap, under the limits it was issued with.
    /// 0 on a booking that is not [`State::Active`] (no code is compared on it). Expiry is
    /// a time, not a state: an active booking past [`Booking::expires_at`] still counts here.
    #[must_use]
    pub fn attempts_left(&self) -> u8 {
        match self.state {
            State::Active => self.remaining_attempts(),
            State::Redeemed | State::Locked | State::Revoked => 0,
        }
    }

    /// [`Booking::attempts_left`] whatever the state: what the decisions count with.
    pub(crate) fn remaining_attempts(&self) -> u8 {
        let Limits {
            attempts,
            lifetime_cap,
            ..
        } = self.limits;
        let generation = attempts.saturating_sub(self.failures);
        let lifetime = lifetime_cap.saturating_sub(self.lifetime_failures);
        generation.min(u8::try_from(lifetime).unwrap_or(u8::MAX))
    }

    /// Wrong codes allowed per generation, under the policy the booking was issued with
    /// (a re-issue keeps it).
    #[must_use]
    pub const fn attempts_per_generation(&self) -> u8 {
        self.limits.attempts
    }

    /// Wrong codes allowed over the booking's life, under the policy it was issued with.
    #[must_use]
    pub const fn lifetime_cap(&self) -> u16 {
        self.limits.lifetime_cap
    }

    /// Sends allowed per send window and the window's length in seconds, under the policy
    /// the booking was issued with.
    #[must_use]
    pub const fn send_limit(&self) -> (u8, u32) {
        (self.limits.sends, self.limits.send_window_secs)
    }

    /// When the current send window opened.
    #[must_use]
    pub const fn send_window_start(&self) -> Timestamp {
        self.send_window_start
    }

    /// Sends (issue, resend, re-issue) counted in the current send window.
    #[must_use]
    pub const fn sends(&self) -> u8 {
        self.sends
    }

    /// What the last verification written was answered; on a redeemed booking,
    /// [`Earlier::Accepted`] (by its code) or [`Earlier::Overridden`].
    #[must_use]
    pub fn last_answer(&self) -> Option<Earlier> {
        self.last.map(|last| last.answer)
    }

    /// When the last verification written was answered.
    #[must_use]
    pub fn last_at(&self) -> Option<Timestamp> {
        self.last.map(|last| last.at)
    }

    /// The verifier the last verification came from, if it named one (for an override, the
    /// actor).
    #[must_use]
    pub fn last_verifier(&self) -> Option<&[u8]> {
        self.last
            .as_ref()?
            .verifier
            .as_ref()
            .map(super::IdBuf::as_bytes)
    }

    /// The request id the last verification carried, if any.
    #[must_use]
    pub fn last_request(&self) -> Option<&[u8]> {
        self.last
            .as_ref()?
            .request
            .as_ref()
            .map(super::IdBuf::as_bytes)
    }
}

/// A verifier's budget in its current window, read through these methods (from a store's
/// `load` of a [`Key::Verifier`](crate::Key::Verifier)):
///
/// ```
/// use handover_code::record::Record;
/// use handover_code::{Context, Key, MemoryStore, Policy, Secret, Service, Store, VerifierId};
///
/// let policy = Policy::default().with_verifier_budget(20, 3_600)?;
/// let service = Service::new(Secret::from_bytes(&[7; 32])?, policy, "post/parcel")?;
/// let store = MemoryStore::new();
/// let now = 1_700_000_000;
/// let code = service.issue(&store, "EE123456789IN", now + 3_600, now)?;
/// let wrong = if code.expose() == "0000" { "1111" } else { "0000" };
/// service.verify(&store, "EE123456789IN", wrong, "postman-7", now)?;
/// let key = Key::Verifier { scope: Context::new("post/parcel")?, id: VerifierId::new("postman-7")? };
/// match store.load(key)? {
///     Some((Record::Verifier(v), _)) => {
///         assert_eq!((v.failures(), v.held(), v.limit()), (1, 0, 20));
///         // Windows are aligned to their length: this one holds `now`.
///         assert!(v.window_start().0 <= now && now < v.window_end().0);
///     }
///     other => panic!("expected a verifier record, found {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Verifier {
    /// Wrong codes compared and settled in the current window.
    #[must_use]
    pub const fn failures(&self) -> u32 {
        self.failures
    }

    /// Budget slots held by comparisons in flight (taken, not yet settled).
    #[must_use]
    pub const fn held(&self) -> u32 {
        self.held
    }

    /// Wrong codes allowed in the window, under the budget the window was opened with.
    #[must_use]
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The start of the current window.
    #[must_use]
    pub const fn window_start(&self) -> Timestamp {
        self.window_start
    }

    /// The window's length in seconds.
    #[must_use]
    pub const fn window_secs(&self) -> u64 {
        self.window_secs
    }
}
