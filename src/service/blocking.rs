//! The operations for a blocking [`Store`]: each one plan run to its answer on
//! the calling //! thread.

use core::ops::Deref;

use crate::code::Code;
use crate::decide::Who;
use crate::derive::BookingId;
use crate::drive::{Blocking, drive, ready};
use crate::error::Error;
use crate::ids::RequestId;
use crate::keyring::Keyring;
use crate::outcome::Outcome;
use crate::plan::Operation;
use crate::record::Booking;
use crate::store::{Store, VerifierId};
use crate::time::Timestamp;
use crate::who::Override;

use super::{Service, booking_in, code};

impl<'a, const N: usize, K: Deref<Target = Keyring<N>>> Service<'a, N, K> {
    /// Creates the booking's record and returns the code to send. Its validity ends at
    /// `expires_at`; there is no default. Counts as the booking's first send.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyIssued`] if the booking has a record in this context (use
    /// [`Service::reissue`]), [`Error::Validity`] if `expires_at <= now`, [`Error::Clock`]
    /// for a time past 2106, and store faults.
    pub fn issue<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Code, Error<S::Error>> {
        code(ready(drive(
            &Blocking(store),
            self.events.0,
            self.single(booking, Operation::Issue(expires_at), now),
        )))
    }

    /// The same code again, for an SMS that did not arrive. Counts a send against the
    /// booking's send limit; touches nothing else.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBooking`], [`Error::Inactive`] when the booking is redeemed, revoked,
    /// locked or expired, [`Error::SendLimit`] with the time a send is allowed again,
    /// [`Error::Clock`] before the issue time, and store faults.
    pub fn resend<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        now: Timestamp,
    ) -> Result<Code, Error<S::Error>> {
        code(ready(drive(
            &Blocking(store),
            self.events.0,
            self.single(booking, Operation::Resend, now),
        )))
    }

    /// A new generation: a new code, the old one dead, the per-generation count fresh, the
    /// lifetime count kept, the digits and limits as issued. Also renews an expired or
    /// locked booking. Counts a send.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBooking`], [`Error::Inactive`] when the booking is redeemed, revoked
    /// or out of lifetime attempts, [`Error::SendLimit`], [`Error::Validity`],
    /// [`Error::Clock`] when `now` is before the current generation's issue time, and store
    /// faults.
    pub fn reissue<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Code, Error<S::Error>> {
        code(ready(drive(
            &Blocking(store),
            self.events.0,
            self.single(booking, Operation::Reissue(expires_at), now),
        )))
    }

    /// Ends the booking: every later verification answers [`Outcome::Revoked`].
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBooking`], [`Error::Inactive`] for a redeemed booking, and store
    /// faults.
    pub fn revoke<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        now: Timestamp,
    ) -> Result<(), Error<S::Error>> {
        ready(drive(
            &Blocking(store),
            self.events.0,
            self.single(booking, Operation::Revoke, now),
        ))
        .map(drop)
    }

    /// Checks what a person typed against the booking's code.
    ///
    /// A wrong code is counted (and, with a verifier budget, settled as a failure of
    /// `verifier`'s, whose budget held a slot for the comparison) before the answer is
    /// returned; a right one redeems the booking, once. A suspended verifier is answered
    /// [`Outcome::VerifierSuspended`] before anything else is looked at. See [`Outcome`], and
    /// [`Service::verify_request`] for retries after a timeout.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] for input that is not a code of the booking's length (nothing
    /// counted, nothing written); [`Error::Clock`] when `now` is before the issue time by
    /// more than the policy's [clock-skew tolerance](crate::Policy::with_clock_skew);
    /// [`Error::UnknownKey`] when the record's key has left the keyring;
    /// [`Error::BudgetBusy`] when the verifier's budget is held by its own verifications in
    /// flight (retry); store faults, [`Error::Contention`] and [`Error::Corrupt`]. None of
    /// them is ever an acceptance. A store fault or [`Error::Contention`] may come after a
    /// wrong code was counted on the booking, when its failure could not be settled on the
    /// verifier's budget: a rejection is never answered before that lands, and a retry with
    /// the same request id settles it and replays the rejection. A store fault after a slot
    /// was held leaves it held until the window ends (or a retry with the same request id
    /// settles it).
    pub fn verify<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        typed: &str,
        verifier: Option<VerifierId<'_>>,
        now: Timestamp,
    ) -> Result<Outcome, Error<S::Error>> {
        let who = Who {
            verifier,
            request: None,
        };
        ready(self.verifying(&Blocking(store), booking, typed, who, now))
    }

    /// [`Service::verify`] with a request id, for answers that survive timeouts and retries.
    ///
    /// Give each verification its own id and reuse it only to retry that verification. A
    /// retry whose original was answered and written (same request id, same verifier,
    /// within [`REPLAY_SECS`](crate::decide::REPLAY_SECS)) gets the original answer again as
    /// [`Outcome::Replayed`], and counts nothing: a timed-out acceptance comes back as
    /// `Replayed(Earlier::Accepted)` (to the right code only), not as
    /// [`Outcome::AlreadyRedeemed`], and the budget slot that paid for it is settled. A
    /// retry whose original was cut off after taking its slot (a dropped future, a timeout)
    /// and before writing completes the comparison on that slot, as long as the booking has
    /// not moved since.
    /// The booking's record keeps the last such request ([`Booking::last`]): on a redeemed
    /// booking, when, by which verifier and under which request it was redeemed.
    ///
    /// ```
    /// use handover_code::record::Earlier;
    /// use handover_code::{
    ///     BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Outcome, Policy, RequestId,
    ///     Secret, Service, Timestamp, VerifierId,
    /// };
    ///
    /// let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("post/parcel")?);
    /// let store = MemoryStore::new();
    /// let (now, parcel) = (Timestamp(1_700_000_000), BookingId::new("EE123456789IN")?);
    /// let code = service.issue(&store, parcel, Timestamp(now.0 + 3_600), now)?;
    /// let postman = Some(VerifierId::new("postman-7")?);
    /// let request = RequestId::new("req-42")?;
    ///
    /// let first = service.verify_request(&store, parcel, code.expose(), postman, request, now)?;
    /// assert_eq!(first, Outcome::Accepted);
    /// // The answer was lost on the way back; the device retries with the same id.
    /// let retry = service.verify_request(&store, parcel, code.expose(), postman, request, now)?;
    /// assert_eq!(retry, Outcome::Replayed(Earlier::Accepted));
    /// assert!(retry.is_accepted());
    /// // Anyone else is told it is already redeemed, and the record says by whom.
    /// let other = service.verify(&store, parcel, code.expose(), None, now)?;
    /// assert_eq!(other, Outcome::AlreadyRedeemed { by_override: false });
    /// let last = service.booking(&store, parcel)?.and_then(|b| b.last).unwrap();
    /// assert!(last.verifier.unwrap().is(b"postman-7"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Service::verify`].
    pub fn verify_request<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        typed: &str,
        verifier: Option<VerifierId<'_>>,
        request: RequestId<'_>,
        now: Timestamp,
    ) -> Result<Outcome, Error<S::Error>> {
        let who = Who {
            verifier,
            request: Some(request),
        };
        ready(self.verifying(&Blocking(store), booking, typed, who, now))
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
    /// `by_override: true`, and [`Service::booking`]'s `last` names the actor. An
    /// [`Event::Overridden`](crate::audit::Event) is told and, on a store that keeps one, an audit
    /// entry is written with the redemption.
    ///
    /// The crate does not decide who may override: authenticate the actor and check their
    /// role before calling, and review overrides from the audit log.
    ///
    /// ```
    /// use handover_code::audit::{Override, Reason};
    /// use handover_code::{ActorId, BookingId, Context, Digits, KeyId, Keyring, MemoryStore};
    /// use handover_code::{Outcome, Policy, Secret, Service, Timestamp};
    ///
    /// let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// let policy = Policy::new(Digits::Four).with_override_budget(20, 86_400)?;
    /// let doses = Service::new(&keys, policy, Context::new("cowin/dose")?);
    /// let store = MemoryStore::new();
    /// let (slot, now) = (BookingId::new("SLOT-9")?, Timestamp(1_700_000_000));
    /// let code = doses.issue(&store, slot, Timestamp(now.0 + 3_600), now)?; // never arrives
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
    /// [`Error::OverridesOff`] when the policy turns overrides off,
    /// [`Error::UnknownBooking`], [`Error::Inactive`] for a booking it may not redeem,
    /// [`Error::OverrideLimit`] when the actor's budget is used up, [`Error::Clock`],
    /// [`Error::Contention`], and store faults (then the override may or may not have been
    /// counted, and the booking may or may not have been redeemed: read it with
    /// [`Service::booking`] before calling again).
    pub fn overrule<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        by: Override<'_>,
        now: Timestamp,
    ) -> Result<(), Error<S::Error>> {
        ready(drive(
            &Blocking(store),
            self.events.0,
            self.overrule_plan(booking, by, now, S::TRANSACTIONS),
        ))
    }

    /// The booking's record in this context, if it has one: its state, counts, limits, and
    /// its last verification ([`Booking::last`], the redemption once redeemed).
    ///
    /// # Errors
    ///
    /// Store faults, and [`Error::Corrupt`] for a verifier's record under the booking's key.
    pub fn booking<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
    ) -> Result<Option<Booking>, Error<S::Error>> {
        booking_in(store.load(self.key(booking)).map_err(Error::Store)?)
    }
}
