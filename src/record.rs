//! What a store keeps: small fixed records that never hold a code or a key.
//!
//! A leaked database reveals no code: a booking's record holds the key *id*, the generation
//! and the digit count, from which only the holder of the secret can derive the code.
//!
//! Records describe themselves: a booking keeps the limits it was issued under and a
//! verifier the budget its window was opened under, so services with different policies
//! sharing one store each apply the limits the record was written with.

use crate::code::Digits;
pub(crate) use crate::ids::IdBuf;
use crate::keyring::KeyId;
use crate::time::Timestamp;

mod encoding;
mod read;

#[cfg(any(feature = "sql", all(test, feature = "std")))]
pub(crate) use encoding::DecodeError;

/// Where a booking stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum State {
    /// Issued and waiting for its code.
    Active,
    /// The code was accepted: handed over, once.
    Redeemed,
    /// Too many wrong codes: this generation (or the booking's lifetime) is used up.
    Locked,
    /// Ended by the host.
    Revoked,
}

/// The limits a booking was issued under, kept in its record. Every later decision on the
/// booking uses these, whatever the policy of the service that reads it; a re-issue keeps
/// them, as it keeps the digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub(crate) struct Limits {
    /// Wrong codes allowed per generation.
    pub attempts: u8,
    /// Wrong codes allowed over the booking's life.
    pub lifetime_cap: u16,
    /// Sends (issue, resend, re-issue) allowed per send window.
    pub sends: u8,
    /// The send window's length in seconds.
    pub send_window_secs: u32,
}

/// An answer a verification was given and that a retry of the same request gets again.
///
/// With feature `serde`: `{"answer":"accepted"}` or
/// `{"answer":"rejected","attempts_left":1}` (inside an [`Outcome`](crate::Outcome), these
/// fields sit beside `"outcome":"replayed"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "answer", rename_all = "snake_case"))]
pub enum Earlier {
    /// The code was accepted.
    Accepted,
    /// The code was wrong, with this many wrong codes left.
    Rejected {
        /// Wrong codes that were still allowed after it.
        attempts_left: u8,
    },
    /// No code was typed: the booking was redeemed by an override, and the record's
    /// [`Booking::last_verifier`] names the override actor (its [`Booking::last_request`] is
    /// `None`, so no verification ever replays it). Never inside an [`Outcome`](crate::Outcome).
    Overridden,
}

/// The last verification written to a booking: who, when, under which request, and what it
/// was answered. On a redeemed booking it is the redemption.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub(crate) struct Last {
    /// When it was answered.
    pub at: Timestamp,
    /// The id of the verifier's [`Hold`] that paid for its comparison (0: none). A retry of
    /// the request settles exactly that hold.
    pub paid_by: Version,
    /// The verifier it came from, if one was named (for an override: the actor).
    pub verifier: Option<IdBuf>,
    /// The request id it carried, if any.
    pub request: Option<IdBuf>,
    /// What it was answered.
    pub answer: Earlier,
}

/// A booking's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Booking {
    /// The key the current generation's code is derived under.
    pub(crate) key_id: KeyId,
    /// The current generation: part of the derivation, so old codes die. `issue` sets it
    /// to the issue time in seconds and every re-issue to `max(previous + 1, now)`, so a
    /// booking id issued again after a prune never meets an earlier generation's code.
    pub(crate) generation: u32,
    /// The code's digit count, fixed at issue.
    pub(crate) digits: Digits,
    /// Wrong codes answered in this generation.
    pub(crate) failures: u8,
    /// Wrong codes answered over the booking's life; never reset.
    pub(crate) lifetime_failures: u16,
    /// Where the booking stands.
    pub(crate) state: State,
    /// When the current generation was issued.
    pub(crate) issued_at: Timestamp,
    /// The first instant at which the code is no longer valid.
    pub(crate) expires_at: Timestamp,
    /// The limits it was issued under.
    pub(crate) limits: Limits,
    /// Sends counted in the current send window.
    pub(crate) sends: u8,
    /// When the current send window opened.
    pub(crate) send_window_start: Timestamp,
    /// The last verification written: the redemption, once redeemed.
    pub(crate) last: Option<Last>,
}

/// A hold's tag: which (context, booking, request) a budget slot was taken for. All zeros is
/// an empty slot.
pub(crate) type Tag = [u8; 16];

/// A budget slot taken by a verification with a request id, before it compared: the request's
/// tag, the version of the booking's record it was taken on, and its id (the version of the
/// verifier's record that took it). A retry of that request finds it: to complete the
/// verification on it (the booking is still at that version) or to settle it (the booking's
/// last verification was paid by it).
///
/// A hold belongs to the verification that took it until a retry adopts it, which marks it
/// `shared` in the same compare-and-swap. An unshared hold whose booking write lost a race
/// moves on with its verification to the booking's new version (or is freed if that
/// verification compares nothing more); a shared one stays put until the write it paid for
/// settles it, or the window ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub(crate) struct Hold {
    /// The request's tag: 128 bits of a SHA-256 over the context, the booking and the request
    /// id, so a verifier cannot make two different requests meet one hold.
    pub tag: [u8; 16],
    /// The booking's version when the slot was taken (or last moved on).
    pub on: Version,
    /// The hold's id: the version of the verifier's record that took it, unique for the key.
    pub id: Version,
    /// Whether a retry of the request adopted it: more than one verification may pay with
    /// it, so none of them may move or free it.
    pub shared: bool,
}

/// A verifier's budget in its current window, under the budget the window was opened with:
/// failures settled, and slots held by verifications in flight.
///
/// Every comparison a budgeted verifier makes takes a slot first (`held`), and is settled
/// after its answer is written: a wrong code becomes a failure, anything else frees the slot.
/// At `failures >= limit` the verifier is suspended; while `failures + held >= limit` it is
/// only busy (its own verifications in flight hold the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Verifier {
    /// The start of the window the count belongs to.
    pub(crate) window_start: Timestamp,
    /// The window's length in seconds (never 0 in a stored record).
    pub(crate) window_secs: u64,
    /// Wrong codes allowed in the window (never 0 in a stored record).
    pub(crate) limit: u32,
    /// Wrong codes compared and settled in that window.
    pub(crate) failures: u32,
    /// Slots held by comparisons not yet settled.
    pub(crate) held: u32,
    /// The latest holds taken by requests with an id, newest first (an all-zero tag is an
    /// empty slot).
    pub(crate) holds: [Hold; Verifier::HOLDS],
}

impl Verifier {
    /// How many tagged holds a verifier record remembers.
    pub const HOLDS: usize = 4;

    /// The first instant after the window: when a suspension ends.
    #[must_use]
    pub const fn window_end(&self) -> Timestamp {
        Timestamp(self.window_start.0.saturating_add(self.window_secs))
    }
}

/// One stored record: a booking's or a verifier's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Record {
    /// Under a [`Key::Booking`](crate::store::Key::Booking).
    Booking(Booking),
    /// Under a [`Key::Verifier`](crate::store::Key::Verifier).
    Verifier(Verifier),
}

impl Record {
    /// When a prune may delete the record: once this instant is before the prune's cut-off.
    ///
    /// A booking: its expiry, or its generation read as a time if that is later (bursts of
    /// re-issues move the generation ahead of the clock), so that an id issued again after
    /// the prune starts above every generation it had. A verifier: the end of its window.
    #[must_use]
    pub fn prune_at(&self) -> Timestamp {
        match self {
            Self::Booking(b) => b.expires_at.max(Timestamp(u64::from(b.generation))),
            Self::Verifier(v) => v.window_end(),
        }
    }
}

/// A record's version: every successful write stores a new one, and a compare-and-swap
/// only lands if the version it expects is still the stored one.
///
/// Versions never repeat for a key, even across a prune. Every write made at a time `now`
/// stores [`Version::after`]: `now × 2^24` when that is above the stored version (the first
/// write of each second), else the stored version plus one. A record is pruned only once
/// its [`Record::prune_at`] has passed, and every write made at a time `t` leaves
/// `prune_at > t`, so a record created again under the same key (at a time no earlier than
/// the prune's cut-off) starts above every version the pruned one had: a write decided on
/// the old record can never land on the new one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Version(pub u64);

impl Version {
    /// The version of a newly inserted record when the time is not known: for records of a
    /// host's own written through the primitives (the crate's own start at their creation
    /// time, [`Version::first_at`]).
    pub const FIRST: Self = Self(1);
    /// Writes a record may take within one second before its versions would reach the next
    /// second's.
    pub const SPAN: u64 = 1 << 24;

    /// The first version of a record created at `now`; `None` past the year 500,000.
    #[must_use]
    pub const fn first_at(now: Timestamp) -> Option<Self> {
        match now.0.checked_mul(Self::SPAN) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The version a write at `now` stores over this one: [`Version::first_at`] `now` if
    /// that is higher, else [`Version::next`].
    #[must_use]
    pub const fn after(self, now: Timestamp) -> Option<Self> {
        match Self::first_at(now) {
            Some(v) if v.0 > self.0 => Some(v),
            _ => self.next(),
        }
    }

    /// The version after this one, or `None` at the end of its second's span (the write is
    /// then refused as [`Error::Corrupt`](crate::Error::Corrupt)).
    #[must_use]
    pub const fn next(self) -> Option<Self> {
        match self.0.checked_add(1) {
            Some(v) if v % Self::SPAN != 0 => Some(Self(v)),
            _ => None,
        }
    }
}
