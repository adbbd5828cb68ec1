//! The operations for a blocking [`Store`]: the same plans as their `_async` twins
//! (`awaiting.rs`), built by the same private methods and run by the same driver, on the
//! calling thread through the driver's private adapter, whose every store call answers at
//! once; so the driver's future is polled once, with no runtime. Each calls the driver
//! itself rather than its `_async` twin: one async layer fewer to build on the stack (a
//! verification's future is over a kilobyte, and unoptimised builds copy each layer; the
//! controlled-scheduler tests, on shuttle's 60 KiB stacks, overflowed with the extra layer).

use crate::code::Code;
use crate::derive::BookingId;
use crate::drive::{Ready, drive, ready};
use crate::error::Error;
use crate::error::Result;
use crate::outcome::Outcome;
use crate::plan::Operation;
use crate::record::Booking;
use crate::store::Store;
use crate::time::Timestamp;
use crate::who::{Attempt, Override};

use super::{Service, booking_in, code};

impl Service {
    /// Creates the booking's record and returns the code to send. Its validity ends at
    /// `expires_at`; there is no default. Counts as the booking's first send.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyIssued`](crate::Error::AlreadyIssued) if the booking has a record in this context (use
    /// [`Service::reissue`]), [`Error::Validity`](crate::Error::Validity) if `expires_at <= now`, [`Error::Clock`](crate::Error::Clock)
    /// for a time past 2106, and store faults.
    pub fn issue<S: Store>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        expires_at: impl Into<Timestamp>,
        now: impl Into<Timestamp>,
    ) -> Result<Code> {
        let plan = self.single(&booking, Operation::Issue(expires_at.into()), now.into())?;
        code(ready(drive(&Ready(store), self.sink(), plan)))
    }

    /// The same code again, for an SMS that did not arrive. Counts a send against the
    /// booking's send limit; touches nothing else.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBooking`](crate::Error::UnknownBooking), [`Error::Inactive`](crate::Error::Inactive) when the booking is redeemed, revoked,
    /// locked or expired, [`Error::SendLimit`](crate::Error::SendLimit) with the time a send is allowed again,
    /// [`Error::Clock`](crate::Error::Clock) before the issue time, and store faults.
    pub fn resend<S: Store>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        now: impl Into<Timestamp>,
    ) -> Result<Code> {
        let plan = self.single(&booking, Operation::Resend, now.into())?;
        code(ready(drive(&Ready(store), self.sink(), plan)))
    }

    /// A new generation: a new code, the old one dead, the per-generation count fresh, the
    /// lifetime count kept, the digits and limits as issued. Also renews an expired or
    /// locked booking. Counts a send.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBooking`](crate::Error::UnknownBooking), [`Error::Inactive`](crate::Error::Inactive) when the booking is redeemed, revoked
    /// or out of lifetime attempts, [`Error::SendLimit`](crate::Error::SendLimit), [`Error::Validity`](crate::Error::Validity),
    /// [`Error::Clock`](crate::Error::Clock) when `now` is before the current generation's issue time, and store
    /// faults.
    pub fn reissue<S: Store>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        expires_at: impl Into<Timestamp>,
        now: impl Into<Timestamp>,
    ) -> Result<Code> {
        let plan = self.single(&booking, Operation::Reissue(expires_at.into()), now.into())?;
        code(ready(drive(&Ready(store), self.sink(), plan)))
    }

    /// Ends the booking: every later verification answers [`Outcome::Revoked`].
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBooking`](crate::Error::UnknownBooking), [`Error::Inactive`](crate::Error::Inactive) for a redeemed booking, and store
    /// faults.
    pub fn revoke<S: Store>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        now: impl Into<Timestamp>,
    ) -> Result<()> {
        let plan = self.single(&booking, Operation::Revoke, now.into())?;
        ready(drive(&Ready(store), self.sink(), plan)).map(drop)
    }

    /// Checks what a person typed against the booking's code.
    ///
    /// `attempt` says who is verifying and, optionally, under which request id
    /// ([`Attempt`]): a verifier's name (`"postman-7"`), `None`, or
    /// `Attempt::by(verifier).request(id)`. A wrong code is counted (and, with a verifier
    /// budget, settled as a failure of the verifier's) before the answer is returned; a
    /// right one redeems the booking, once. A suspended verifier is answered
    /// [`Outcome::VerifierSuspended`] before anything else is looked at. See [`Outcome`].
    ///
    /// **Retries.** A retry whose original was answered and written (same request id, same
    /// verifier, within [`REPLAY_SECS`](Attempt::REPLAY_SECS)) gets the original
    /// answer again as [`Outcome::Replayed`], and counts nothing: a timed-out acceptance
    /// comes back as `Replayed(Earlier::Accepted)` (to the right code only), not as
    /// [`Outcome::AlreadyRedeemed`], and the budget slot that paid for it is settled. A retry
    /// whose original was cut off after taking its slot (a dropped future, a timeout) and
    /// before writing completes the comparison on that slot, as long as the booking has not
    /// moved since. The booking's record keeps the last such request
    /// ([`Booking::last_at`](crate::record::Booking::last_at) and the getters beside it): on a redeemed booking, when, by
    /// which verifier and under which request it was redeemed.
    ///
    /// ```
    /// use handover_code::record::Earlier;
    /// use handover_code::{Attempt, MemoryStore, Outcome, Policy, Secret, Service};
    ///
    /// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "post/parcel")?;
    /// let store = MemoryStore::new();
    /// let (now, parcel) = (1_700_000_000, "EE123456789IN");
    /// let code = service.issue(&store, parcel, now + 3_600, now)?;
    /// let request = Attempt::by("postman-7").request("req-42");
    ///
    /// assert_eq!(service.verify(&store, parcel, code.expose(), request, now)?, Outcome::Accepted);
    /// // The answer was lost on the way back; the device retries with the same id.
    /// let retry = service.verify(&store, parcel, code.expose(), request, now)?;
    /// assert_eq!(retry, Outcome::Replayed(Earlier::Accepted));
    /// assert!(retry.is_accepted());
    /// // Anyone else is told it is already redeemed, and the record says by whom.
    /// let other = service.verify(&store, parcel, code.expose(), None, now)?;
    /// assert_eq!(other, Outcome::AlreadyRedeemed { by_override: false });
    /// let booking = service.booking(&store, parcel)?.expect("issued above");
    /// assert_eq!(booking.last_verifier(), Some(&b"postman-7"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`](crate::Error::Malformed) for input that is not a code of the booking's length (nothing
    /// counted, nothing written); [`Error::Clock`](crate::Error::Clock) when `now` is before the issue time by
    /// more than the policy's [clock-skew tolerance](crate::Policy::with_clock_skew);
    /// [`Error::UnknownKey`](crate::Error::UnknownKey) when the record's key has left the keyring;
    /// [`Error::BudgetBusy`](crate::Error::BudgetBusy) when the verifier's budget is held by its own verifications in
    /// flight (retry); store faults, [`Error::Contention`](crate::Error::Contention) and [`Error::Corrupt`](crate::Error::Corrupt). None of
    /// them is ever an acceptance. A store fault or [`Error::Contention`](crate::Error::Contention) may come after a
    /// wrong code was counted on the booking, when its failure could not be settled on the
    /// verifier's budget: a rejection is never answered before that lands, and a retry with
    /// the same request id settles it and replays the rejection. A store fault after a slot
    /// was held leaves it held until the window ends (or a retry with the same request id
    /// settles it).
    pub fn verify<'v, S: Store>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        typed: &str,
        attempt: impl Into<Attempt<'v>>,
        now: impl Into<Timestamp>,
    ) -> Result<Outcome> {
        let (attempt, now) = (attempt.into(), now.into());
        ready(self.verifying(&Ready(store), booking.as_ref(), typed, attempt, now))
    }

    /// The audited override, for a person who cannot show the code (no phone, the SMS
    /// never came, the phone is lost): redeems `booking` without a code, on the word of
    /// `by`'s actor, for `by`'s reason and note.
    ///
    /// It is counted against the actor's override budget first, when the policy has one
    /// ([`Policy::with_override_budget`](crate::Policy::with_override_budget)), under the budget
    /// scope; it is refused, and nothing is written or counted, for a redeemed booking, and for a
    /// revoked, expired or locked one unless the policy allows it
    /// ([`Policy::with_overrides_of`](crate::Policy::with_overrides_of)). The record is marked as
    /// redeemed by override, so later verifications answer [`Outcome::AlreadyRedeemed`] with
    /// `by_override: true`, and [`Service::booking`]'s
    /// [`last_verifier`](crate::record::Booking::last_verifier) names the actor. An
    /// [`Event::Overridden`](crate::audit::Event) is told and, on a store that keeps one, an audit
    /// entry is written with the redemption.
    ///
    /// The crate does not decide who may override: authenticate the actor and check their
    /// role before calling, and review overrides from the audit log.
    ///
    /// ```
    /// use handover_code::audit::{Override, Reason};
    /// use handover_code::{ActorId, MemoryStore, Outcome, Policy, Secret, Service};
    ///
    /// let policy = Policy::default().with_override_budget(20, 86_400)?;
    /// let doses = Service::new(Secret::from_bytes(&[7; 32])?, policy, "cowin/dose")?;
    /// let store = MemoryStore::new();
    /// let (slot, now) = ("SLOT-9", 1_700_000_000);
    /// let code = doses.issue(&store, slot, now + 3_600, now)?; // never arrives
    ///
    /// let supervisor = ActorId::new("supervisor-3")?;
    /// let why = Override::new(supervisor, Reason::NoPhone, "came with her son; ID seen")?;
    /// doses.overrule(&store, slot, why, now)?;
    /// assert_eq!(
    ///     doses.verify(&store, slot, code.expose(), None, now)?,
    ///     Outcome::AlreadyRedeemed { by_override: true }
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::OverridesOff`](crate::Error::OverridesOff) when the policy turns overrides off,
    /// [`Error::UnknownBooking`](crate::Error::UnknownBooking), [`Error::Inactive`](crate::Error::Inactive) for a booking it may not redeem,
    /// [`Error::OverrideLimit`](crate::Error::OverrideLimit) when the actor's budget is used up, [`Error::Clock`](crate::Error::Clock),
    /// [`Error::Contention`](crate::Error::Contention), and store faults (then the override may or may not have been
    /// counted, and the booking may or may not have been redeemed: read it with
    /// [`Service::booking`] before calling again).
    pub fn overrule<S: Store>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        by: Override<'_>,
        now: impl Into<Timestamp>,
    ) -> Result<()> {
        let plan = self.overrule_plan(&booking, by, now.into(), S::TRANSACTIONS)?;
        ready(drive(&Ready(store), self.sink(), plan))
    }

    /// The booking's record in this context, if it has one: its state, counts, limits, and
    /// its last verification ([`Booking::last_answer`] and the getters beside it: the redemption
    /// once redeemed).
    ///
    /// # Errors
    ///
    /// Store faults, and [`Error::Corrupt`](crate::Error::Corrupt) for a verifier's record under the booking's key.
    pub fn booking<S: Store>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
    ) -> Result<Option<Booking>> {
        let booking = BookingId::new(&booking)?;
        booking_in(store.load(self.key(booking)).map_err(Error::store)?)
    }
}
