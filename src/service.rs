//! The operations a host calls. Each is one line: it builds a [`plan`](crate::plan) and
//! hands it to the driver, on a [`Store`](crate::store::Store) or an
//! [`AsyncStore`](crate::store::AsyncStore).

use core::ops::Deref;

use crate::audit::{Events, NoEvents, Sink};
use crate::code::Code;
use crate::decide::{Rules, Who};
use crate::derive::{BookingId, Context};
use crate::drive::{Backend, drive};
use crate::error::Error;
use crate::key::Key;
use crate::keyring::Keyring;
use crate::outcome::Outcome;
use crate::plan::{Atomic, Operation, Overrule, Single, Verify, booking_of};
use crate::policy::Policy;
use crate::record::{Booking, Record};
use crate::time::Timestamp;
use crate::who::Override;

mod awaiting;
mod blocking;

/// Issues and verifies the codes of one kind of handover (one [`Context`]) under one
/// [`Policy`] and [`Keyring`].
///
/// Every method takes the store to use and the current time as values; see the crate docs
/// for the whole flow. Sync methods take a [`Store`](crate::store::Store); the `_async` ones an
/// [`AsyncStore`](crate::store::AsyncStore).
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

    pub(super) fn rules(&self) -> Rules<'_, N> {
        Rules {
            keys: &self.keys,
            policy: &self.policy,
            context: self.context,
        }
    }

    pub(super) fn key<'k>(&self, booking: BookingId<'k>) -> Key<'k>
    where
        'a: 'k,
    {
        Key::Booking {
            context: self.context,
            id: booking,
        }
    }

    pub(super) fn single<'p>(
        &'p self,
        booking: BookingId<'p>,
        operation: Operation,
        now: Timestamp,
    ) -> Single<'p, N> {
        Single::new(self.rules(), booking, operation, now)
    }

    /// An override on a store with transactions (`transactions`) or without: the count and
    /// the redemption in one transaction, or one after the other.
    pub(super) fn overrule_plan<'p>(
        &'p self,
        booking: BookingId<'p>,
        by: Override<'p>,
        now: Timestamp,
        transactions: bool,
    ) -> Overrule<'p, N> {
        let plan = Overrule::new(self.rules(), self.scope, booking, by, now);
        if transactions {
            plan.in_one_transaction()
        } else {
            plan
        }
    }

    /// A verification on `b`, in the mode its store supports: one transaction where it has
    /// them ([`Atomic`]), a reserved budget slot where it writes one key at a time
    /// ([`Verify`]).
    pub(super) async fn verifying<B: Backend>(
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
}

/// The code a send answered; one that answered none is corrupt.
pub(super) fn code<S>(sent: Result<Option<Code>, Error<S>>) -> Result<Code, Error<S>> {
    sent?.ok_or(Error::Corrupt)
}

pub(super) fn booking_in<S>(
    found: Option<(Record, crate::record::Version)>,
) -> Result<Option<Booking>, Error<S>> {
    booking_of(found.as_ref())
        .map(Option::<&Booking>::copied)
        .map_err(Error::widen)
}
