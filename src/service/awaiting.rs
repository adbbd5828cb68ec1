//! The operations for an [`AsyncStore`], their store calls awaited: each the plan of its
//! blocking twin (`blocking.rs`), built by the same private method and run by the same
//! driver. Same arguments, answers and errors; [`Service::verify_async`] shows them all in
//! one example.

use crate::code::Code;
use crate::derive::BookingId;
use crate::drive::drive;
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::plan::Operation;
use crate::record::Booking;
use crate::store::AsyncStore;
use crate::time::Timestamp;
use crate::who::{Attempt, Override};

use super::{Service, booking_in, code};

impl Service {
    /// [`Service::issue`] on an [`AsyncStore`] (example: [`Service::verify_async`]).
    ///
    /// # Errors
    ///
    /// As [`Service::issue`].
    pub async fn issue_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        expires_at: impl Into<Timestamp>,
        now: impl Into<Timestamp>,
    ) -> Result<Code> {
        code(
            drive(
                store,
                self.sink(),
                self.single(&booking, Operation::Issue(expires_at.into()), now.into())?,
            )
            .await,
        )
    }

    /// [`Service::resend`] on an [`AsyncStore`] (example: [`Service::verify_async`]).
    ///
    /// # Errors
    ///
    /// As [`Service::resend`].
    pub async fn resend_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        now: impl Into<Timestamp>,
    ) -> Result<Code> {
        code(
            drive(
                store,
                self.sink(),
                self.single(&booking, Operation::Resend, now.into())?,
            )
            .await,
        )
    }

    /// [`Service::reissue`] on an [`AsyncStore`] (example: [`Service::verify_async`]).
    ///
    /// # Errors
    ///
    /// As [`Service::reissue`].
    pub async fn reissue_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        expires_at: impl Into<Timestamp>,
        now: impl Into<Timestamp>,
    ) -> Result<Code> {
        code(
            drive(
                store,
                self.sink(),
                self.single(&booking, Operation::Reissue(expires_at.into()), now.into())?,
            )
            .await,
        )
    }

    /// [`Service::revoke`] on an [`AsyncStore`] (example: [`Service::verify_async`]).
    ///
    /// # Errors
    ///
    /// As [`Service::revoke`].
    pub async fn revoke_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        now: impl Into<Timestamp>,
    ) -> Result<()> {
        drive(
            store,
            self.sink(),
            self.single(&booking, Operation::Revoke, now.into())?,
        )
        .await
        .map(drop)
    }

    /// [`Service::verify`] on an [`AsyncStore`].
    ///
    /// Dropping the future at any await point never leaves a comparison unpaid: it can leave
    /// one budget slot held, which a retry with the same request id
    /// ([`Attempt::request`]) settles, or the window's end frees.
    ///
    /// Every `_async` operation, in one example:
    ///
    #[doc = include_str!("awaiting_example.md")]
    ///
    /// # Errors
    ///
    /// As [`Service::verify`].
    pub async fn verify_async<'v, S: AsyncStore>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        typed: &str,
        attempt: impl Into<Attempt<'v>>,
        now: impl Into<Timestamp>,
    ) -> Result<Outcome> {
        let (attempt, now) = (attempt.into(), now.into());
        self.verifying(store, booking.as_ref(), typed, attempt, now)
            .await
    }

    /// [`Service::overrule`] on an [`AsyncStore`] (example: [`Service::verify_async`]).
    ///
    /// # Errors
    ///
    /// As [`Service::overrule`].
    pub async fn overrule_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
        by: Override<'_>,
        now: impl Into<Timestamp>,
    ) -> Result<()> {
        drive(
            store,
            self.sink(),
            self.overrule_plan(&booking, by, now.into(), S::TRANSACTIONS)?,
        )
        .await
    }

    /// [`Service::booking`] on an [`AsyncStore`] (example: [`Service::verify_async`]).
    ///
    /// # Errors
    ///
    /// As [`Service::booking`].
    pub async fn booking_async<S: AsyncStore>(
        &self,
        store: &S,
        booking: impl AsRef<[u8]>,
    ) -> Result<Option<Booking>> {
        let booking = BookingId::new(&booking)?;
        booking_in(store.load(self.key(booking)).await.map_err(Error::store)?)
    }
}
