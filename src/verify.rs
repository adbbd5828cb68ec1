//! The operations a host calls, driving the pure decisions through a store.
//!
//! Each operation is written once, as an `async fn` over a small private [`Backend`] trait.
//! An [`AsyncStore`] is awaited for real. A synchronous [`Store`] answers every call at once,
//! so its operation's future is complete on its first poll: the synchronous methods poll it
//! once, with no runtime and no thread.

use core::future::Future;
use core::pin::pin;
use core::task::{Context as TaskContext, Poll, Waker};

use crate::code::Code;
use crate::decide::{self, Decision, Outcome, Reservation, Scope};
use crate::derive::{BookingId, Context};
use crate::error::Error;
use crate::keyring::Keyring;
use crate::policy::Policy;
use crate::record::{Booking, Record, Verifier, Version};
use crate::store::{AsyncStore, Key, Step, Store, VerifierId};
use crate::time::Timestamp;

/// Issues and verifies the codes of one kind of handover (one [`Context`]) under one
/// [`Policy`] and [`Keyring`].
///
/// Every method takes the store to use and the current time as values; see the crate docs
/// for the whole flow. Sync methods take a [`Store`]; the `_async` ones an [`AsyncStore`].
#[derive(Debug)]
pub struct Service<'a, const N: usize = 3> {
    keys: &'a Keyring<N>,
    policy: Policy,
    context: Context<'a>,
}

impl<'a, const N: usize> Service<'a, N> {
    /// A service for one context.
    #[must_use]
    pub const fn new(keys: &'a Keyring<N>, policy: Policy, context: Context<'a>) -> Self {
        Self {
            keys,
            policy,
            context,
        }
    }

    /// The policy in force.
    #[must_use]
    pub const fn policy(&self) -> &Policy {
        &self.policy
    }

    fn scope(&self) -> Scope<'_, N> {
        Scope {
            keys: self.keys,
            policy: &self.policy,
            context: self.context,
        }
    }

    /// Creates the booking's record and returns the code to send. Its validity ends at
    /// `expires_at`; there is no default.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyIssued`] if the booking has a record (use [`Service::reissue`]),
    /// [`Error::Validity`] if `expires_at <= now`, and store faults.
    pub fn issue<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Code, Error<S::Error>> {
        ready(self.issue_with(&Blocking(store), booking, expires_at, now))
    }

    /// The same code again, for an SMS that did not arrive. Counts nothing, writes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBooking`], [`Error::Inactive`] when the booking is redeemed, revoked,
    /// locked or expired, and store faults.
    pub fn resend<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        now: Timestamp,
    ) -> Result<Code, Error<S::Error>> {
        ready(self.resend_with(&Blocking(store), booking, now))
    }

    /// A new generation: a new code, the old one dead, the per-generation count fresh, the
    /// lifetime count kept. Also renews an expired or locked booking.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBooking`], [`Error::Inactive`] when the booking is redeemed, revoked
    /// or out of lifetime attempts, [`Error::Validity`], and store faults.
    pub fn reissue<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Code, Error<S::Error>> {
        ready(self.reissue_with(&Blocking(store), booking, expires_at, now))
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
    ) -> Result<(), Error<S::Error>> {
        ready(self.revoke_with(&Blocking(store), booking))
    }

    /// Checks what a person typed against the booking's code.
    ///
    /// A wrong code is counted (and, with a verifier budget, charged to `verifier`) before
    /// the answer is returned; a right one redeems the booking, once. See [`Outcome`].
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] for input that is not a code of the booking's length (nothing
    /// counted, nothing written); [`Error::Clock`] when `now` is before the issue time;
    /// [`Error::UnknownKey`] when the record's key has left the keyring; store faults,
    /// [`Error::Contention`] and [`Error::Corrupt`]. None of them is ever an acceptance.
    pub fn verify<S: Store>(
        &self,
        store: &S,
        booking: BookingId<'_>,
        typed: &str,
        verifier: Option<VerifierId<'_>>,
        now: Timestamp,
    ) -> Result<Outcome, Error<S::Error>> {
        ready(self.verify_with(&Blocking(store), booking, typed, verifier, now))
    }

    /// [`Service::issue`] on an [`AsyncStore`].
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
        self.issue_with(&Awaiting(store), booking, expires_at, now)
            .await
    }

    /// [`Service::resend`] on an [`AsyncStore`].
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
        self.resend_with(&Awaiting(store), booking, now).await
    }

    /// [`Service::reissue`] on an [`AsyncStore`].
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
        self.reissue_with(&Awaiting(store), booking, expires_at, now)
            .await
    }

    /// [`Service::revoke`] on an [`AsyncStore`].
    ///
    /// # Errors
    ///
    /// As [`Service::revoke`].
    pub async fn revoke_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: BookingId<'_>,
    ) -> Result<(), Error<S::Error>> {
        self.revoke_with(&Awaiting(store), booking).await
    }

    /// [`Service::verify`] on an [`AsyncStore`].
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
        self.verify_with(&Awaiting(store), booking, typed, verifier, now)
            .await
    }

    async fn issue_with<B: Backend>(
        &self,
        b: &B,
        booking: BookingId<'_>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Code, Error<B::Error>> {
        let scope = self.scope();
        self.update_booking(b, booking, |r| {
            decide::issue(&scope, booking, r, expires_at, now)
        })
        .await
    }

    async fn resend_with<B: Backend>(
        &self,
        b: &B,
        booking: BookingId<'_>,
        now: Timestamp,
    ) -> Result<Code, Error<B::Error>> {
        let loaded = b.load(Key::Booking(booking)).await.map_err(Error::Store)?;
        let record = booking_of(loaded.as_ref().map(|(r, _)| r)).map_err(Error::widen)?;
        decide::resend(&self.scope(), booking, record.as_ref(), now).map_err(Error::widen)
    }

    async fn reissue_with<B: Backend>(
        &self,
        b: &B,
        booking: BookingId<'_>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Code, Error<B::Error>> {
        let scope = self.scope();
        self.update_booking(b, booking, |r| {
            decide::reissue(&scope, booking, r, expires_at, now)
        })
        .await
    }

    async fn revoke_with<B: Backend>(
        &self,
        b: &B,
        booking: BookingId<'_>,
    ) -> Result<(), Error<B::Error>> {
        self.update_booking(b, booking, decide::revoke).await
    }

    async fn verify_with<B: Backend>(
        &self,
        b: &B,
        booking: BookingId<'_>,
        typed: &str,
        verifier: Option<VerifierId<'_>>,
        now: Timestamp,
    ) -> Result<Outcome, Error<B::Error>> {
        let scope = self.scope();
        let decide = |record: Option<&Booking>| decide::verify(&scope, booking, record, typed, now);
        let (Some(verifier), Some(budget)) = (verifier, self.policy.verifier_budget()) else {
            return self.update_booking(b, booking, decide).await;
        };
        // With a budget, first answer from a plain read whatever needs no comparison
        // (an unknown or closed booking, malformed input), so that it costs the verifier
        // nothing; then count the guess against the verifier before comparing.
        let loaded = b.load(Key::Booking(booking)).await.map_err(Error::Store)?;
        let record = booking_of(loaded.as_ref().map(|(r, _)| r)).map_err(Error::widen)?;
        if let Err(answer) = decide::admit(&scope, record.as_ref(), typed, now) {
            return answer.map_err(Error::widen);
        }
        let key = Key::Verifier(verifier);
        let reserved = self
            .update_verifier(b, key, |v| decide::reserve(v, &budget, now))
            .await?;
        let Reservation::Reserved(window) = reserved else {
            return Ok(Outcome::VerifierSuspended);
        };
        let outcome = self.update_booking(b, booking, decide).await;
        if matches!(&outcome, Ok(o) if !o.is_failure())
            || matches!(&outcome, Err(Error::Malformed(_) | Error::Clock))
        {
            // Nothing wrong was compared: give the reserved failure back. If this write
            // fails the verifier stays charged: over-counted, never under.
            let _refunded = self
                .update_verifier(b, key, |v| ((), decide::refund(v, window)))
                .await;
        }
        outcome
    }

    /// Runs a booking decision through the store's update loop.
    async fn update_booking<B: Backend, T: Send>(
        &self,
        b: &B,
        booking: BookingId<'_>,
        mut decide: impl FnMut(Option<&Booking>) -> Decision<T> + Send,
    ) -> Result<T, Error<B::Error>> {
        let step = |record: Option<&Record>| match booking_of(record) {
            Err(corrupt) => Step::Answer(Err(corrupt)),
            Ok(record) => {
                let Decision { answer, next } = decide(record.as_ref());
                match (answer, next) {
                    (Ok(answer), Some(next)) => Step::Write(Record::Booking(next), Ok(answer)),
                    (answer, _) => Step::Answer(answer),
                }
            }
        };
        b.update(Key::Booking(booking), self.policy.max_retries(), step)
            .await?
            .map_err(Error::widen)
    }

    /// Runs a verifier decision through the store's update loop.
    async fn update_verifier<B: Backend, T: Send>(
        &self,
        b: &B,
        key: Key<'_>,
        decide: impl Fn(Option<&Verifier>) -> (T, Option<Verifier>) + Send + Sync,
    ) -> Result<T, Error<B::Error>> {
        let step = move |record: Option<&Record>| match record {
            Some(Record::Booking(_)) => Step::Answer(Err(Error::Corrupt)),
            Some(Record::Verifier(v)) => verifier_step(decide(Some(v))),
            None => verifier_step(decide(None)),
        };
        b.update(key, self.policy.max_retries(), step).await?
    }
}

fn verifier_step<T, S>((answer, next): (T, Option<Verifier>)) -> Step<Result<T, Error<S>>> {
    match next {
        Some(next) => Step::Write(Record::Verifier(next), Ok(answer)),
        None => Step::Answer(Ok(answer)),
    }
}

/// The booking in a record read under a booking key; a verifier's record there is corrupt.
fn booking_of(record: Option<&Record>) -> Result<Option<Booking>, Error> {
    match record {
        None => Ok(None),
        Some(Record::Booking(b)) => Ok(Some(*b)),
        Some(Record::Verifier(_)) => Err(Error::Corrupt),
    }
}

/// The two store calls the operations need, as futures, for either kind of store.
trait Backend {
    type Error: Send;

    fn load(
        &self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<Option<(Record, Version)>, Self::Error>>;

    fn update<T, F>(
        &self,
        key: Key<'_>,
        max_retries: u8,
        decide: F,
    ) -> impl Future<Output = Result<T, Error<Self::Error>>>
    where
        T: Send,
        F: FnMut(Option<&Record>) -> Step<T> + Send;
}

/// A synchronous store: every future is ready at once.
struct Blocking<'s, S>(&'s S);

/// An asynchronous store.
struct Awaiting<'s, S>(&'s S);

impl<S: Store> Backend for Blocking<'_, S> {
    type Error = S::Error;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, S::Error> {
        self.0.load(key)
    }

    async fn update<T: Send, F>(
        &self,
        key: Key<'_>,
        max_retries: u8,
        decide: F,
    ) -> Result<T, Error<S::Error>>
    where
        F: FnMut(Option<&Record>) -> Step<T> + Send,
    {
        self.0.update(key, max_retries, decide)
    }
}

impl<S: AsyncStore> Backend for Awaiting<'_, S> {
    type Error = S::Error;

    fn load(
        &self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<Option<(Record, Version)>, S::Error>> {
        self.0.load(key)
    }

    fn update<T: Send, F>(
        &self,
        key: Key<'_>,
        max_retries: u8,
        decide: F,
    ) -> impl Future<Output = Result<T, Error<S::Error>>>
    where
        F: FnMut(Option<&Record>) -> Step<T> + Send,
    {
        self.0.update(key, max_retries, decide)
    }
}

/// Polls a future built only from synchronous store calls, which is complete on its first
/// poll. Were it ever not, the operation fails closed as contention: nothing was answered.
fn ready<T, S>(future: impl Future<Output = Result<T, Error<S>>>) -> Result<T, Error<S>> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(Error::Contention),
    }
}
