//! The operations a host calls. Each builds its [`plan`](crate::plan) with one private
//! method here (`single`, `overrule_plan`; `verifying` builds a verification's and drives it
//! too) for the one driver, which runs it on an [`AsyncStore`](crate::store::AsyncStore)
//! awaited (the `_async` faces) or on a [`Store`](crate::store::Store) through its private
//! adapter whose calls answer at once (the blocking faces). Reading a booking is one load.

use crate::audit::{Events, NoEvents, Sink};
use crate::code::Code;
use crate::decide::{Rules, Who};
use crate::derive::{BookingId, Context};
use crate::drive::drive;
use crate::error::{Error, Result};
use crate::ids::{RequestId, VerifierId};
use crate::key::Key;
use crate::keyring::{KeyId, Keyring};
use crate::outcome::Outcome;
use crate::plan::{Atomic, Operation, Overrule, Single, Verify, booking_of};
use crate::policy::Policy;
use crate::record::{Booking, Record};
use crate::store::AsyncStore;
use crate::time::Timestamp;
use crate::who::{Attempt, Override};

mod awaiting;
mod blocking;

/// Issues and verifies the codes of one kind of handover (one context) under one
/// [`Policy`] and [`Keyring`].
///
/// Every operation takes the store to use and the current time as values; see the crate
/// docs for the whole flow. The plain methods take a [`Store`](crate::store::Store), the
/// `_async` ones an [`AsyncStore`](crate::store::AsyncStore). Bookings are named by any
/// bytes (`&str`, `String`, a [`BookingId`]), times by a [`Timestamp`] or a `u64` of
/// seconds since the epoch.
///
/// A service is `'static`, `Send + Sync` and cheap to clone (with feature `std` it holds its
/// keyring and its event sink by `Arc`): build it once at start-up, put it in an axum
/// `State`, move clones into `tokio::spawn` and `spawn_blocking`. Without `std` (no
/// allocator) it holds a `&'static Keyring` and a `&'static` sink instead: see
/// [`Service::with_static_keys`].
///
/// Many services share one store safely: a booking's record is stored under its context and
/// a verifier's budget under the service's budget scope (the context unless set with
/// [`Service::with_budget_scope`]), and every record keeps the limits it was written under.
///
/// ```
/// use handover_code::{MemoryStore, Outcome, Policy, Secret, Service};
///
/// let policy = Policy::default().with_verifier_budget(10, 86_400)?;
/// let parcels = Service::new(Secret::from_bytes(&[7; 32])?, policy, "post/parcel")?;
/// let store = MemoryStore::new();
/// let now = 1_700_000_000;
///
/// let code = parcels.issue(&store, "EE123456789IN", now + 86_400, now)?; // send by SMS
/// let wrong = if code.expose() == "0000" { "0001" } else { "0000" };
/// let answer = parcels.verify(&store, "EE123456789IN", wrong, "postman-7", now)?;
/// assert_eq!(answer, Outcome::Rejected { attempts_left: 2 });
/// let answer = parcels.verify(&store, "EE123456789IN", code.expose(), "postman-7", now)?;
/// assert_eq!(answer, Outcome::Accepted);
///
/// // One service serves every thread: clone it.
/// let worker = parcels.clone();
/// std::thread::spawn(move || worker.policy().digits()).join().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Service {
    keys: Keys,
    policy: Policy,
    context: Context<'static>,
    scope: Context<'static>,
    events: Sink,
}

/// Where a service keeps its keyring: shared (feature `std`), or a `'static` borrow.
#[derive(Clone)]
enum Keys {
    Static(&'static Keyring),
    #[cfg(feature = "std")]
    Shared(std::sync::Arc<Keyring>),
}

impl core::fmt::Debug for Keys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.get(), f)
    }
}

impl Keys {
    fn get(&self) -> &Keyring {
        match self {
            Self::Static(keys) => keys,
            #[cfg(feature = "std")]
            Self::Shared(keys) => keys,
        }
    }
}

impl Service {
    /// A service for one context: what is handed over, e.g. `"cowin/dose"` or
    /// `"post/parcel"` (1 to 64 bytes). Its verifiers' budgets are kept under the same
    /// context.
    ///
    /// `keys` is the keyring the way you hold it: a [`Keyring`], an `Arc<Keyring>` shared
    /// with other services (pass a clone, `Arc::clone(&keys)`: a borrowed `&Arc<Keyring>`
    /// is refused with E0277, as the service keeps its own handle), or a single
    /// [`Secret`](crate::Secret) (a keyring of one key, id 1). `context` is a `&'static str` or a [`Context`]. Feature `std`; without it see
    /// [`Service::with_static_keys`].
    ///
    /// # Errors
    ///
    /// [`Error::ContextLength`] for an empty or too long context.
    #[cfg(feature = "std")]
    pub fn new(
        keys: impl Into<std::sync::Arc<Keyring>>,
        policy: Policy,
        context: impl TryInto<Context<'static>, Error: Into<Error>>,
    ) -> Result<Self> {
        Self::with_keys(Keys::Shared(keys.into()), policy, context)
    }

    /// [`Service::new`] with a keyring that lives for the whole program: what a `no_std`
    /// host without an allocator uses (a keyring in a `static`, or one put in a static cell
    /// at start-up). Its event sink is `'static` too ([`Service::with_static_events`]).
    ///
    /// ```
    /// use std::sync::OnceLock;
    /// use handover_code::{Keyring, Policy, Secret, Service};
    ///
    /// static KEYS: OnceLock<Keyring> = OnceLock::new();
    /// let keys = KEYS.get_or_init(|| Keyring::from(Secret::from_bytes(&[7; 32]).unwrap()));
    /// let service = Service::with_static_keys(keys, Policy::default(), "ride/start")?;
    /// assert_eq!(service.context().as_bytes(), b"ride/start");
    /// # Ok::<(), handover_code::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ContextLength`] for an empty or too long context.
    pub fn with_static_keys(
        keys: &'static Keyring,
        policy: Policy,
        context: impl TryInto<Context<'static>, Error: Into<Error>>,
    ) -> Result<Self> {
        Self::with_keys(Keys::Static(keys), policy, context)
    }

    fn with_keys(
        keys: Keys,
        policy: Policy,
        context: impl TryInto<Context<'static>, Error: Into<Error>>,
    ) -> Result<Self> {
        let context = context.try_into().map_err(Into::into)?;
        Ok(Self {
            keys,
            policy,
            context,
            scope: context,
            events: Sink::Static(&NoEvents),
        })
    }

    /// Tells `sink` of every state change once its write has landed, and of answers that
    /// write nothing (see [`audit`](crate::audit) for the events and when). The default
    /// sink drops them. Keep an `Arc` clone of the sink to read what it collected; a unit
    /// struct such as [`TracingEvents`](crate::audit) (feature `tracing`) goes in as it is.
    /// Feature `std`; without it see [`Service::with_static_events`].
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use handover_code::audit::{Event, Events};
    /// use handover_code::{MemoryStore, Policy, Secret, Service};
    ///
    /// #[derive(Default)]
    /// struct Log(Mutex<Vec<String>>);
    /// impl Events for Log {
    ///     fn event(&self, event: &Event<'_>) {
    ///         self.0.lock().unwrap().push(format!("{event:?}"));
    ///     }
    /// }
    ///
    /// let log = Arc::new(Log::default());
    /// let service = Service::new(Secret::from_bytes(&[7; 32])?, Policy::default(), "cowin/dose")?
    ///     .with_events(Arc::clone(&log));
    /// service.issue(&MemoryStore::new(), "SLOT-1", 1_700_000_600, 1_700_000_000)?;
    /// assert_eq!(log.0.lock().unwrap().len(), 2); // Issued, then Sent
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "std")]
    #[must_use]
    pub fn with_events(self, sink: impl Events + Send + 'static) -> Self {
        Self {
            events: Sink::Shared(std::sync::Arc::new(sink)),
            ..self
        }
    }

    /// [`Service::with_events`] for a sink that lives for the whole program, without an
    /// allocator.
    #[must_use]
    pub fn with_static_events(self, sink: &'static dyn Events) -> Self {
        Self {
            events: Sink::Static(sink),
            ..self
        }
    }

    /// Keeps verifiers' failure budgets under `scope` instead of the context. Services of
    /// different contexts that name the same scope share one budget per verifier: a
    /// vaccinator's wrong codes at first, second and precaution doses count together. The
    /// budget record keeps the window and limit it was opened with, so give services that
    /// share a scope the same budget.
    ///
    /// # Errors
    ///
    /// [`Error::ContextLength`] for an empty or too long scope.
    pub fn with_budget_scope(
        self,
        scope: impl TryInto<Context<'static>, Error: Into<Error>>,
    ) -> Result<Self> {
        let scope = scope.try_into().map_err(Into::into)?;
        Ok(Self { scope, ..self })
    }

    /// The id of the key new codes are issued under. A service shows ids only, never a
    /// secret: deriving a code takes the [`Secret`](crate::Secret) itself, which the host's
    /// start-up loads from its vault and gives the service when it builds it. A handler
    /// that holds a `Service` gets a live code only by issuing, resending or re-issuing it,
    /// within the send limit, told to the events sink and on the audit log.
    ///
    /// ```
    /// use handover_code::{KeyId, Keyring, Policy, Secret, Service};
    ///
    /// let mut keys = Keyring::new(KeyId(1), Secret::from_bytes(&[1; 32])?);
    /// keys.insert(KeyId(2), Secret::from_bytes(&[2; 32])?)?;
    /// keys.set_current(KeyId(2))?;
    /// let service = Service::new(keys, Policy::default(), "post/parcel")?;
    /// assert_eq!(service.current_key(), KeyId(2));
    /// assert_eq!(service.key_ids().collect::<Vec<_>>(), [KeyId(2), KeyId(1)]);
    /// # Ok::<(), handover_code::Error>(())
    /// ```
    #[must_use]
    pub fn current_key(&self) -> KeyId {
        self.keys.get().current().0
    }

    /// The ids of the keys codes are checked under, the current one first.
    pub fn key_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.get().ids()
    }

    /// The policy for records this service creates.
    #[must_use]
    pub const fn policy(&self) -> &Policy {
        &self.policy
    }

    /// What this service hands over.
    #[must_use]
    pub const fn context(&self) -> Context<'static> {
        self.context
    }

    /// Where this service keeps verifiers' budgets.
    #[must_use]
    pub const fn budget_scope(&self) -> Context<'static> {
        self.scope
    }

    /// Where this service tells its events.
    fn sink(&self) -> &dyn Events {
        self.events.get()
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            keys: self.keys.get(),
            policy: &self.policy,
            context: self.context,
        }
    }

    fn key<'k>(&self, booking: BookingId<'k>) -> Key<'k> {
        Key::Booking {
            context: self.context,
            id: booking,
        }
    }

    /// Issue, resend, re-issue or revoke `booking`.
    fn single<'p>(
        &'p self,
        booking: &'p (impl AsRef<[u8]> + ?Sized),
        operation: Operation,
        now: Timestamp,
    ) -> Result<Single<'p>> {
        let booking = BookingId::new(booking)?;
        Ok(Single::new(self.rules(), booking, operation, now))
    }

    /// An override on a store with transactions (`transactions`) or without: the count and
    /// the redemption in one transaction, or one after the other.
    fn overrule_plan<'p>(
        &'p self,
        booking: &'p (impl AsRef<[u8]> + ?Sized),
        by: Override<'p>,
        now: Timestamp,
        transactions: bool,
    ) -> Result<Overrule<'p>> {
        let booking = BookingId::new(booking)?;
        let plan = Overrule::new(self.rules(), self.scope, booking, by, now);
        Ok(if transactions {
            plan.in_one_transaction()
        } else {
            plan
        })
    }

    /// A verification on `b`, in the mode its store supports: one transaction where it has
    /// them ([`Atomic`]), a reserved budget slot where it writes one key at a time
    /// ([`Verify`]). The ids are checked first: bad ones count nothing.
    async fn verifying<S: AsyncStore>(
        &self,
        b: &S,
        booking: &[u8],
        typed: &str,
        attempt: Attempt<'_>,
        now: Timestamp,
    ) -> Result<Outcome> {
        let booking = BookingId::new(booking)?;
        let who = Who {
            verifier: attempt.verifier.map(VerifierId::new).transpose()?,
            request: attempt.request.map(RequestId::new).transpose()?,
        };
        let (rules, sink) = (self.rules(), self.sink());
        // Each plan is built in the call that runs it, so the future holds it once.
        if S::TRANSACTIONS {
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
fn code(sent: Result<Option<Code>>) -> Result<Code> {
    sent?.ok_or_else(Error::inconsistent)
}

/// The booking a load found, if any; a verifier's record under a booking's key is corrupt.
fn booking_in(found: Option<(Record, crate::record::Version)>) -> Result<Option<Booking>> {
    booking_of(found.as_ref()).map(Option::<&Booking>::copied)
}

#[cfg(all(test, feature = "std"))]
mod tests;
