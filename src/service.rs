//! The operations a host calls. Each is one line: it builds a [`plan`](crate::plan) and
//! hands it to the driver, on a [`Store`] or an [`AsyncStore`].

use core::ops::Deref;

use crate::audit::{Events, NoEvents, Sink};
use crate::code::Code;
use crate::decide::{Rules, Who};
use crate::derive::{BookingId, Context};
use crate::drive::{Awaiting, Backend, Blocking, drive, ready};
use crate::error::Error;
use crate::ids::RequestId;
use crate::key::Key;
use crate::keyring::Keyring;
use crate::outcome::Outcome;
use crate::plan::{Atomic, Operation, Overrule, Single, Verify, booking_of};
use crate::policy::Policy;
use crate::record::{Booking, Record};
use crate::store::{AsyncStore, Store, VerifierId};
use crate::time::Timestamp;
use crate::who::Override;

/// Issues and verifies the codes of one kind of handover (one [`Context`]) under one
/// [`Policy`] and [`Keyring`].
///
/// Every method takes the store to use and the current time as values; see the crate docs
/// for the whole flow. Sync methods take a [`Store`]; the `_async` ones an [`AsyncStore`].
///
/// Many services share one store safely: a booking's record is stored under its context and
/// a verifier's budget under the service's budget scope (the context unless set with
/// [`Service::with_budget_scope`]), and every record keeps the limits it was written under.
///
/// A `Service` holds its keyring through any handle that derefs to it: a borrow, as below,
/// or an `Arc` ([`SharedService`]) for a service that lives in async state. It is cheap to
/// clone either way, and `Copy` with a borrow.
///
/// ```
/// use handover_code::{BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Outcome};
/// use handover_code::{Policy, Secret, Service, Timestamp, VerifierId};
///
/// let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
/// let policy = Policy::new(Digits::Six).with_verifier_budget(10, 86_400)?;
/// let parcels = Service::new(&keys, policy, Context::new("post/parcel")?);
/// let store = MemoryStore::new();
/// let (parcel, now) = (BookingId::new("EE123456789IN")?, Timestamp(1_700_000_000));
///
/// let code = parcels.issue(&store, parcel, Timestamp(now.0 + 86_400), now)?; // send by SMS
/// let postman = Some(VerifierId::new("postman-7")?);
/// let wrong = if code.expose() == "000000" { "000001" } else { "000000" };
/// assert_eq!(parcels.verify(&store, parcel, wrong, postman, now)?, Outcome::Rejected { attempts_left: 2 });
/// assert_eq!(parcels.verify(&store, parcel, code.expose(), postman, now)?, Outcome::Accepted);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Service<'a, const N: usize = 3, K = &'a Keyring<N>> {
    keys: K,
    policy: Policy,
    context: Context<'a>,
    scope: Context<'a>,
    events: Sink<'a>,
}

/// A [`Service`] that owns a share of its keyring: `'static`, cheap to clone (one reference
/// count), `Send + Sync`, so it sits in an axum `State`, moves into `tokio::spawn` and
/// `spawn_blocking`, and is shared by every request without being built per request.
///
/// Its context must be `'static` too: a string literal, as contexts usually are. Name the
/// keyring's type where it is made (`let keys: Arc<Keyring> = …`, as below): `Keyring::new`
/// alone does not say how many keys it holds. A borrowing [`Service`] takes `&*keys`.
///
/// ```
/// use std::sync::Arc;
/// use handover_code::{Context, Digits, KeyId, Keyring, MemoryStore, Policy, Secret};
/// use handover_code::{BookingId, SharedService, Timestamp};
///
/// let keys: Arc<Keyring> = Arc::new(Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?));
/// let service: SharedService =
///     SharedService::new(keys, Policy::new(Digits::Four), Context::new("cowin/dose")?);
/// let store = Arc::new(MemoryStore::new());
/// let now = Timestamp(1_700_000_000);
///
/// let (worker, shared) = (service.clone(), Arc::clone(&store));
/// let code = std::thread::spawn(move || {
///     let booking = BookingId::new("SLOT-1")?;
///     worker.issue(&*shared, booking, Timestamp(now.0 + 600), now)
/// })
/// .join()
/// .expect("the thread ran")?;
/// let booking = BookingId::new("SLOT-1")?;
/// assert!(service.verify(&*store, booking, code.expose(), None, now)?.is_accepted());
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[cfg(feature = "std")]
pub type SharedService<const N: usize = 3> = Service<'static, N, std::sync::Arc<Keyring<N>>>;

impl<'a, const N: usize, K: Deref<Target = Keyring<N>>> Service<'a, N, K> {
    /// A service for one context. Its verifiers' budgets are kept under the same context.
    ///
    /// `keys` is anything that derefs to the [`Keyring`]: a borrow for a service that lives
    /// in one scope, an [`Arc`](std::sync::Arc) for one that lives in shared async state
    /// ([`SharedService`]).
    #[must_use]
    pub const fn new(keys: K, policy: Policy, context: Context<'a>) -> Self {
        Self {
            keys,
            policy,
            context,
            scope: context,
            events: Sink(&NoEvents),
        }
    }

    /// Tells `sink` of every state change once its write has landed, and of answers that
    /// write nothing (see [`audit`](crate::audit) for the events and when). The default
    /// sink drops them. A [`SharedService`] needs a `'static` sink: a unit struct such as
    /// [`TracingEvents`](crate::audit) (feature `tracing`), a `static`, or a leaked box.
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use handover_code::audit::{Event, Events};
    /// use handover_code::{BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Policy};
    /// use handover_code::{Secret, Service, Timestamp};
    ///
    /// #[derive(Default)]
    /// struct Log(Mutex<Vec<String>>);
    /// impl Events for Log {
    ///     fn event(&self, event: &Event<'_>) {
    ///         self.0.lock().unwrap().push(format!("{event:?}"));
    ///     }
    /// }
    ///
    /// let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// let log = Log::default();
    /// let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("cowin/dose")?)
    ///     .with_events(&log);
    /// let now = Timestamp(1_700_000_000);
    /// service.issue(&MemoryStore::new(), BookingId::new("SLOT-1")?, Timestamp(now.0 + 600), now)?;
    /// assert_eq!(log.0.lock().unwrap().len(), 2); // Issued, then Sent
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_events(self, sink: &'a dyn Events) -> Self {
        Self {
            events: Sink(sink),
            ..self
        }
    }

    /// Keeps verifiers' failure budgets under `scope` instead of the context. Services of
    /// different contexts that name the same scope share one budget per verifier: a
    /// vaccinator's wrong codes at first, second and precaution doses count together. The
    /// budget record keeps the window and limit it was opened with, so give services that
    /// share a scope the same budget.
    #[must_use]
    pub fn with_budget_scope(self, scope: Context<'a>) -> Self {
        Self { scope, ..self }
    }

    /// The keyring codes are issued and checked under.
    #[must_use]
    pub fn keys(&self) -> &Keyring<N> {
        &self.keys
    }

    /// The policy for records this service creates.
    #[must_use]
    pub const fn policy(&self) -> &Policy {
        &self.policy
    }

    /// What this service hands over.
    #[must_use]
    pub const fn context(&self) -> Context<'a> {
        self.context
    }

    /// Where this service keeps verifiers' budgets.
    #[must_use]
    pub const fn budget_scope(&self) -> Context<'a> {
        self.scope
    }

    fn rules(&self) -> Rules<'_, N> {
        Rules {
            keys: &self.keys,
            policy: &self.policy,
            context: self.context,
        }
    }

    fn key<'k>(&self, booking: BookingId<'k>) -> Key<'k>
    where
        'a: 'k,
    {
        Key::Booking {
            context: self.context,
            id: booking,
        }
    }

    fn single<'p>(
        &'p self,
        booking: BookingId<'p>,
        operation: Operation,
        now: Timestamp,
    ) -> Single<'p, N> {
        Single::new(self.rules(), booking, operation, now)
    }

    fn overrule_plan<'p>(
        &'p self,
        booking: BookingId<'p>,
        by: Override<'p>,
        now: Timestamp,
    ) -> Overrule<'p, N> {
        Overrule::new(self.rules(), self.scope, booking, by, now)
    }

    /// A verification on `b`, in the mode its store supports: one transaction where it has
    /// them ([`Atomic`]), a reserved budget slot where it writes one key at a time
    /// ([`Verify`]).
    async fn verifying<B: Backend>(
        &self,
        b: &B,
        booking: BookingId<'_>,
        typed: &str,
        who: Who<'_>,
        now: Timestamp,
    ) -> Result<Outcome, Error<B::Error>> {
        let (rules, sink) = (self.rules(), self.events.0);
        if B::TRANSACTIONS {
            drive(
                b,
                sink,
                Atomic::new(rules, self.scope, booking, typed, who, now),
            )
            .await
        } else {
            drive(
                b,
                sink,
                Verify::new(rules, self.scope, booking, typed, who, now),
            )
            .await
        }
    }

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
    /// ([`Policy::with_override_budget`]), under the budget scope; it is refused, and
    /// nothing is written or counted, for a redeemed booking, and for a revoked, expired or
    /// locked one unless the policy allows it ([`Policy::with_overrides_of`]). The record is
    /// marked as redeemed by override, so later verifications answer
    /// [`Outcome::AlreadyRedeemed`] with `by_override: true`, and [`Service::booking`]'s
    /// `last` names the actor. An [`Event::Overridden`](crate::audit::Event) is told and,
    /// on a store that keeps one, an audit entry is written with the redemption.
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
            self.overrule_plan(booking, by, now),
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

    /// [`Service::issue`] on an [`AsyncStore`].
    ///
    /// ```
    /// # use handover_code::{BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Policy};
    /// # use handover_code::{Outcome, RequestId, Secret, Service, Timestamp, VerifierId};
    /// # let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// # let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("ride/start")?);
    /// # let store = MemoryStore::new(); // any AsyncStore: PostgresStore, your own
    /// # let (ride, now) = (BookingId::new("ride-7f3a")?, Timestamp(1_700_000_000));
    /// # let until = Timestamp(now.0 + 900);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let code = service.issue_async(&store, ride, until, now).await?;
    /// assert_eq!(code.expose().len(), 4); // hand it to the SMS gateway
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Service::issue`].
    pub async fn issue_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Code, Error<S::Error>> {
        code(
            drive(
                &Awaiting(store),
                self.events.0,
                self.single(booking, Operation::Issue(expires_at), now),
            )
            .await,
        )
    }

    /// [`Service::resend`] on an [`AsyncStore`].
    ///
    /// ```
    /// # use handover_code::{BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Policy};
    /// # use handover_code::{Outcome, RequestId, Secret, Service, Timestamp, VerifierId};
    /// # let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// # let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("ride/start")?);
    /// # let store = MemoryStore::new(); // any AsyncStore: PostgresStore, your own
    /// # let (ride, now) = (BookingId::new("ride-7f3a")?, Timestamp(1_700_000_000));
    /// # let until = Timestamp(now.0 + 900);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let code = service.issue_async(&store, ride, until, now).await?;
    /// let again = service.resend_async(&store, ride, now).await?;
    /// assert!(again == code);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Service::resend`].
    pub async fn resend_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        now: Timestamp,
    ) -> Result<Code, Error<S::Error>> {
        code(
            drive(
                &Awaiting(store),
                self.events.0,
                self.single(booking, Operation::Resend, now),
            )
            .await,
        )
    }

    /// [`Service::reissue`] on an [`AsyncStore`].
    ///
    /// ```
    /// # use handover_code::{BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Policy};
    /// # use handover_code::{Outcome, RequestId, Secret, Service, Timestamp, VerifierId};
    /// # let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// # let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("ride/start")?);
    /// # let store = MemoryStore::new(); // any AsyncStore: PostgresStore, your own
    /// # let (ride, now) = (BookingId::new("ride-7f3a")?, Timestamp(1_700_000_000));
    /// # let until = Timestamp(now.0 + 900);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let old = service.issue_async(&store, ride, until, now).await?;
    /// let new = service.reissue_async(&store, ride, until, Timestamp(now.0 + 60)).await?;
    /// let later = Timestamp(now.0 + 61);
    /// if old != new {
    ///     let answer = service.verify_async(&store, ride, old.expose(), None, later).await?;
    ///     assert!(matches!(answer, Outcome::Rejected { .. }), "the old code is dead");
    /// }
    /// assert_eq!(service.verify_async(&store, ride, new.expose(), None, later).await?, Outcome::Accepted);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Service::reissue`].
    pub async fn reissue_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Code, Error<S::Error>> {
        code(
            drive(
                &Awaiting(store),
                self.events.0,
                self.single(booking, Operation::Reissue(expires_at), now),
            )
            .await,
        )
    }

    /// [`Service::revoke`] on an [`AsyncStore`].
    ///
    /// ```
    /// # use handover_code::{BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Policy};
    /// # use handover_code::{Outcome, RequestId, Secret, Service, Timestamp, VerifierId};
    /// # let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// # let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("ride/start")?);
    /// # let store = MemoryStore::new(); // any AsyncStore: PostgresStore, your own
    /// # let (ride, now) = (BookingId::new("ride-7f3a")?, Timestamp(1_700_000_000));
    /// # let until = Timestamp(now.0 + 900);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let code = service.issue_async(&store, ride, until, now).await?;
    /// service.revoke_async(&store, ride, now).await?; // the rider cancelled
    /// assert_eq!(service.verify_async(&store, ride, code.expose(), None, now).await?, Outcome::Revoked);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Service::revoke`].
    pub async fn revoke_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        now: Timestamp,
    ) -> Result<(), Error<S::Error>> {
        drive(
            &Awaiting(store),
            self.events.0,
            self.single(booking, Operation::Revoke, now),
        )
        .await
        .map(drop)
    }

    /// [`Service::verify`] on an [`AsyncStore`].
    ///
    /// Dropping the future at any await point never leaves a comparison unpaid: it can leave
    /// one budget slot held, which a retry with the same request id
    /// ([`Service::verify_request_async`]) settles, or the window's end frees.
    ///
    /// ```
    /// # use handover_code::{BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Policy};
    /// # use handover_code::{Outcome, RequestId, Secret, Service, Timestamp, VerifierId};
    /// # let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// # let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("ride/start")?);
    /// # let store = MemoryStore::new(); // any AsyncStore: PostgresStore, your own
    /// # let (ride, now) = (BookingId::new("ride-7f3a")?, Timestamp(1_700_000_000));
    /// # let until = Timestamp(now.0 + 900);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let code = service.issue_async(&store, ride, until, now).await?;
    /// let driver = Some(VerifierId::new("driver-42")?);
    /// let answer = service.verify_async(&store, ride, code.expose(), driver, now).await?;
    /// assert_eq!(answer, Outcome::Accepted);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Service::verify`].
    pub async fn verify_async<S: AsyncStore>(
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
        self.verifying(&Awaiting(store), booking, typed, who, now)
            .await
    }

    /// [`Service::verify_request`] on an [`AsyncStore`].
    ///
    /// ```
    /// # use handover_code::{BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Policy};
    /// # use handover_code::{Outcome, RequestId, Secret, Service, Timestamp, VerifierId};
    /// # let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// # let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("ride/start")?);
    /// # let store = MemoryStore::new(); // any AsyncStore: PostgresStore, your own
    /// # let (ride, now) = (BookingId::new("ride-7f3a")?, Timestamp(1_700_000_000));
    /// # let until = Timestamp(now.0 + 900);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let code = service.issue_async(&store, ride, until, now).await?;
    /// let (driver, request) = (Some(VerifierId::new("driver-42")?), RequestId::new("r-1")?);
    /// let first = service.verify_request_async(&store, ride, code.expose(), driver, request, now);
    /// assert_eq!(first.await?, Outcome::Accepted); // ... and the answer was lost on the way
    /// let retry = service.verify_request_async(&store, ride, code.expose(), driver, request, now);
    /// assert_eq!(retry.await?, Outcome::Replayed(Earlier::Accepted)); // hand over, once
    /// # use handover_code::record::Earlier;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Service::verify`].
    pub async fn verify_request_async<S: AsyncStore>(
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
        self.verifying(&Awaiting(store), booking, typed, who, now)
            .await
    }

    /// [`Service::overrule`] on an [`AsyncStore`].
    ///
    /// # Errors
    ///
    /// As [`Service::overrule`].
    pub async fn overrule_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        by: Override<'_>,
        now: Timestamp,
    ) -> Result<(), Error<S::Error>> {
        drive(
            &Awaiting(store),
            self.events.0,
            self.overrule_plan(booking, by, now),
        )
        .await
    }

    /// [`Service::booking`] on an [`AsyncStore`].
    ///
    /// ```
    /// # use handover_code::{BookingId, Context, Digits, KeyId, Keyring, MemoryStore, Policy};
    /// # use handover_code::{Outcome, RequestId, Secret, Service, Timestamp, VerifierId};
    /// # let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[7; 32])?);
    /// # let service = Service::new(&keys, Policy::new(Digits::Four), Context::new("ride/start")?);
    /// # let store = MemoryStore::new(); // any AsyncStore: PostgresStore, your own
    /// # let (ride, now) = (BookingId::new("ride-7f3a")?, Timestamp(1_700_000_000));
    /// # let until = Timestamp(now.0 + 900);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// service.issue_async(&store, ride, until, now).await?;
    /// let booking = service.booking_async(&store, ride).await?.expect("issued");
    /// assert_eq!(booking.failures, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Service::booking`].
    pub async fn booking_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: BookingId<'_>,
    ) -> Result<Option<Booking>, Error<S::Error>> {
        booking_in(store.load(self.key(booking)).await.map_err(Error::Store)?)
    }
}

/// The code a send answered; one that answered none is corrupt.
fn code<S>(sent: Result<Option<Code>, Error<S>>) -> Result<Code, Error<S>> {
    sent?.ok_or(Error::Corrupt)
}

fn booking_in<S>(
    found: Option<(Record, crate::record::Version)>,
) -> Result<Option<Booking>, Error<S>> {
    booking_of(found.as_ref())
        .map(Option::<&Booking>::copied)
        .map_err(Error::widen)
}
