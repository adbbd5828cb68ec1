//! What a stored record is kept under: [`Key`], its kind, namespace and id.

use crate::ids::{ActorId, BookingId, Context, VerifierId};

/// What a record is stored under: a kind, a namespace and an id.
///
/// Every key carries its namespace, so many kinds of handover share one store safely: a
/// booking is stored under its [`Context`] (what is handed over), a verifier's budget under
/// its budget scope (the context unless the host names a scope shared across contexts on
/// purpose, see [`Service::with_budget_scope`](crate::Service::with_budget_scope)). Two
/// services with different contexts never read, count, lock or redeem each other's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key<'a> {
    /// A booking's record.
    Booking {
        /// What is handed over.
        context: Context<'a>,
        /// The booking.
        id: BookingId<'a>,
    },
    /// A verifier's budget record.
    Verifier {
        /// The budget scope.
        scope: Context<'a>,
        /// The verifier.
        id: VerifierId<'a>,
    },
    /// An override actor's budget record (a [`Record::Verifier`](crate::record::Record::Verifier) whose [`failures()`](crate::record::Verifier::failures) count the
    /// actor's overrides in the window).
    Actor {
        /// The budget scope.
        scope: Context<'a>,
        /// The actor.
        id: ActorId<'a>,
    },
}

impl Key<'_> {
    /// 1 for a booking, 2 for a verifier, 3 for an override actor: the first part of the
    /// stored key.
    #[must_use]
    pub const fn kind(&self) -> u8 {
        match self {
            Self::Booking { .. } => 1,
            Self::Verifier { .. } => 2,
            Self::Actor { .. } => 3,
        }
    }

    /// The context or budget scope's bytes: the second part of the stored key.
    #[must_use]
    pub const fn namespace(&self) -> &[u8] {
        match self {
            Self::Booking { context, .. } => context.as_bytes(),
            Self::Verifier { scope, .. } | Self::Actor { scope, .. } => scope.as_bytes(),
        }
    }

    /// The id's bytes: the third part of the stored key.
    #[must_use]
    pub const fn id(&self) -> &[u8] {
        match self {
            Self::Booking { id, .. } => id.as_bytes(),
            Self::Verifier { id, .. } => id.as_bytes(),
            Self::Actor { id, .. } => id.as_bytes(),
        }
    }
}
