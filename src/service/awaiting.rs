//! The operations for an [`AsyncStore`]: each one plan, its store calls
//! awaited.

use core::ops::Deref;

use crate::code::Code;
use crate::decide::Who;
use crate::derive::BookingId;
use crate::drive::{Awaiting, drive};
use crate::error::Error;
use crate::ids::RequestId;
use crate::keyring::Keyring;
use crate::outcome::Outcome;
use crate::plan::Operation;
use crate::record::Booking;
use crate::store::{AsyncStore, VerifierId};
use crate::time::Timestamp;
use crate::who::Override;

use super::{Service, booking_in, code};

impl<'a, const N: usize, K: Deref<Target = Keyring<N>>> Service<'a, N, K> {
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
            self.overrule_plan(booking, by, now, S::TRANSACTIONS),
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
