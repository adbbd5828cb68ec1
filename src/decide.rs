//! The pure decisions: what each operation answers and what it writes, from the record it
//! was shown. No I/O, no clock: everything comes in as a value, so these can be
//! model-tested and fuzzed, and a store may run them more than once.

use crate::code::{Code, Digits};
use crate::derive::{BookingId, Context, derive};
use crate::error::{Error, Inactive};
use crate::input;
use crate::keyring::Keyring;
use crate::policy::{Policy, VerifierBudget};
use crate::record::{Booking, State, Verifier};
use crate::time::Timestamp;

/// What a verification answers. Faults and malformed input are errors, not outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The code is right: hand over. The booking is now redeemed; this is answered once.
    Accepted,
    /// The code is wrong. `attempts_left` more wrong codes are allowed (in this generation
    /// and within the lifetime cap); at 0 the booking is now locked.
    Rejected {
        /// Wrong codes still allowed before the booking locks.
        attempts_left: u8,
    },
    /// Too many wrong codes; nothing was compared. A re-issue unlocks it unless the
    /// lifetime cap is reached.
    Locked,
    /// The code's validity has ended; nothing was compared.
    Expired,
    /// The code was already accepted once; nothing was compared.
    AlreadyRedeemed,
    /// The host ended the booking; nothing was compared.
    Revoked,
    /// No such booking; nothing was compared.
    UnknownBooking,
    /// This verifier has used its failure budget for the window; nothing was compared and
    /// the booking was not touched.
    VerifierSuspended,
}

impl Outcome {
    /// Whether this answer came from comparing a wrong code: what a verifier's budget counts.
    #[must_use]
    pub const fn is_failure(&self) -> bool {
        matches!(self, Self::Rejected { .. })
    }
}

/// A decision: the answer, and the record to write first (`None`: write nothing).
#[derive(Debug)]
pub struct Decision<T> {
    /// What to answer once `next` (if any) has landed.
    pub answer: Result<T, Error>,
    /// The booking's next record.
    pub next: Option<Booking>,
}

impl<T> Decision<T> {
    fn answer(answer: Result<T, Error>) -> Self {
        Self { answer, next: None }
    }

    fn write(next: Booking, answer: T) -> Self {
        Self {
            answer: Ok(answer),
            next: Some(next),
        }
    }
}

/// What a code is checked against: the keys, the policy and the handover it belongs to.
#[derive(Debug)]
pub struct Scope<'a, const N: usize> {
    /// The keys records may name.
    pub keys: &'a Keyring<N>,
    /// The limits in force.
    pub policy: &'a Policy,
    /// What is handed over.
    pub context: Context<'a>,
}

impl<const N: usize> Scope<'_, N> {
    /// The code of `booking` for the record's key, generation and digits.
    fn code(&self, booking: BookingId<'_>, record: &Booking) -> Result<Code, Error> {
        let secret = self.keys.get(record.key_id).ok_or(Error::UnknownKey)?;
        Ok(derive(
            secret,
            self.context,
            booking,
            record.generation,
            record.digits,
        ))
    }

    /// Wrong codes still allowed for a record: the lesser of what the generation and the
    /// lifetime cap leave.
    fn attempts_left(&self, record: &Booking) -> u8 {
        let generation = self.policy.attempts().saturating_sub(record.failures);
        let lifetime = self
            .policy
            .lifetime_cap()
            .saturating_sub(record.lifetime_failures);
        generation.min(u8::try_from(lifetime).unwrap_or(u8::MAX))
    }
}

/// Why a record takes no comparison, or `None` if it takes one. Order matters: a final
/// state wins over expiry, expiry over the lock.
fn closed<const N: usize>(
    scope: &Scope<'_, N>,
    record: &Booking,
    now: Timestamp,
) -> Option<Outcome> {
    match record.state {
        State::Redeemed => Some(Outcome::AlreadyRedeemed),
        State::Revoked => Some(Outcome::Revoked),
        State::Locked => Some(Outcome::Locked),
        State::Active if now >= record.expires_at => Some(Outcome::Expired),
        State::Active if scope.attempts_left(record) == 0 => Some(Outcome::Locked),
        State::Active => None,
    }
}

/// Verification: read what was typed, compare it with the booking's code, count it if
/// wrong.
///
/// Writes only when a comparison was made: a redemption or a counted failure. Every other
/// answer (unknown, closed, expired, clock before issue, malformed input, unknown key)
/// writes nothing and counts nothing.
#[must_use]
pub fn verify<const N: usize>(
    scope: &Scope<'_, N>,
    booking: BookingId<'_>,
    record: Option<&Booking>,
    typed: &str,
    now: Timestamp,
) -> Decision<Outcome> {
    let (record, presented) = match admit(scope, record, typed, now) {
        Ok(admitted) => admitted,
        Err(answer) => return Decision::answer(answer),
    };
    let expected = match scope.code(booking, record) {
        Ok(code) => code,
        Err(e) => return Decision::answer(Err(e)),
    };
    if expected == presented {
        let next = Booking {
            state: State::Redeemed,
            ..*record
        };
        return Decision::write(next, Outcome::Accepted);
    }
    let mut next = Booking {
        failures: record.failures.saturating_add(1),
        lifetime_failures: record.lifetime_failures.saturating_add(1),
        ..*record
    };
    let attempts_left = scope.attempts_left(&next);
    if attempts_left == 0 {
        next.state = State::Locked;
    }
    Decision::write(next, Outcome::Rejected { attempts_left })
}

/// The gate before a comparison, in order: an unknown or closed booking, or a clock before
/// the issue time, is answered without reading the input; then input that is not a code of
/// the booking's length is an error. What passes is the record and the code presented.
///
/// # Errors
///
/// The answer to give instead of comparing: an [`Outcome`] or an [`Error`].
pub fn admit<'r, const N: usize>(
    scope: &Scope<'_, N>,
    record: Option<&'r Booking>,
    typed: &str,
    now: Timestamp,
) -> Result<(&'r Booking, Code), Result<Outcome, Error>> {
    let record = record.ok_or(Ok(Outcome::UnknownBooking))?;
    if let Some(outcome) = closed(scope, record, now) {
        return Err(Ok(outcome));
    }
    if now < record.issued_at {
        return Err(Err(Error::Clock));
    }
    let presented = input::normalize(typed, record.digits).map_err(Err)?;
    Ok((record, presented))
}

/// Issuing: a new record under the current key, generation 0. Refuses if any record exists.
#[must_use]
pub fn issue<const N: usize>(
    scope: &Scope<'_, N>,
    booking: BookingId<'_>,
    record: Option<&Booking>,
    expires_at: Timestamp,
    now: Timestamp,
) -> Decision<Code> {
    if record.is_some() {
        return Decision::answer(Err(Error::AlreadyIssued));
    }
    new_generation(scope, booking, 0, scope.policy.digits(), 0, expires_at, now)
}

/// Resending: the same code again, for a booking that can still take it. Never writes.
///
/// # Errors
///
/// [`Error::UnknownBooking`], [`Error::Inactive`] for a redeemed, revoked, locked or
/// expired booking, [`Error::UnknownKey`] if its key has left the keyring.
pub fn resend<const N: usize>(
    scope: &Scope<'_, N>,
    booking: BookingId<'_>,
    record: Option<&Booking>,
    now: Timestamp,
) -> Result<Code, Error> {
    let record = record.ok_or(Error::UnknownBooking)?;
    match closed(scope, record, now) {
        None => scope.code(booking, record),
        Some(Outcome::AlreadyRedeemed) => Err(Error::Inactive(Inactive::Redeemed)),
        Some(Outcome::Revoked) => Err(Error::Inactive(Inactive::Revoked)),
        Some(Outcome::Expired) => Err(Error::Inactive(Inactive::Expired)),
        Some(_) => Err(Error::Inactive(Inactive::Locked)),
    }
}

/// Re-issuing: a new generation under the current key. The old code dies, the count per
/// generation starts again, the lifetime count stays; the digits stay as issued.
#[must_use]
pub fn reissue<const N: usize>(
    scope: &Scope<'_, N>,
    booking: BookingId<'_>,
    record: Option<&Booking>,
    expires_at: Timestamp,
    now: Timestamp,
) -> Decision<Code> {
    let Some(record) = record else {
        return Decision::answer(Err(Error::UnknownBooking));
    };
    let refused = match record.state {
        State::Redeemed => Some(Inactive::Redeemed),
        State::Revoked => Some(Inactive::Revoked),
        _ if record.lifetime_failures >= scope.policy.lifetime_cap() => Some(Inactive::Exhausted),
        _ => None,
    };
    if let Some(why) = refused {
        return Decision::answer(Err(Error::Inactive(why)));
    }
    let Some(generation) = record.generation.checked_add(1) else {
        return Decision::answer(Err(Error::Inactive(Inactive::Exhausted)));
    };
    new_generation(
        scope,
        booking,
        generation,
        record.digits,
        record.lifetime_failures,
        expires_at,
        now,
    )
}

/// A generation of `booking` under the current key: active, no failures yet, valid from
/// `now` until `expires_at`, with the lifetime count it carries. Issue and re-issue both
/// end here.
fn new_generation<const N: usize>(
    scope: &Scope<'_, N>,
    booking: BookingId<'_>,
    generation: u32,
    digits: Digits,
    lifetime_failures: u16,
    expires_at: Timestamp,
    now: Timestamp,
) -> Decision<Code> {
    if expires_at <= now {
        return Decision::answer(Err(Error::Validity));
    }
    let (key_id, secret) = scope.keys.current();
    let next = Booking {
        key_id,
        generation,
        digits,
        failures: 0,
        lifetime_failures,
        state: State::Active,
        issued_at: now,
        expires_at,
    };
    Decision::write(
        next,
        derive(secret, scope.context, booking, generation, digits),
    )
}

/// Revoking: ends the booking. Revoking a revoked booking changes nothing; a redeemed one
/// cannot be revoked.
#[must_use]
pub fn revoke(record: Option<&Booking>) -> Decision<()> {
    match record.map(|r| (r, r.state)) {
        None => Decision::answer(Err(Error::UnknownBooking)),
        Some((_, State::Revoked)) => Decision::answer(Ok(())),
        Some((_, State::Redeemed)) => Decision::answer(Err(Error::Inactive(Inactive::Redeemed))),
        Some((r, _)) => Decision::write(
            Booking {
                state: State::Revoked,
                ..*r
            },
            (),
        ),
    }
}

/// The answer to a verifier asking to make one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// A failure is counted in advance in the window starting here; refund it if the
    /// comparison turns out not to be a failure.
    Reserved(Timestamp),
    /// The budget for this window is spent.
    Suspended,
}

/// The start of the window `now` falls in.
fn window_of(now: Timestamp, budget: &VerifierBudget) -> Timestamp {
    let into = now
        .0
        .checked_rem(budget.window_secs.get())
        .unwrap_or_default();
    Timestamp(now.0.saturating_sub(into))
}

/// Counting a verifier's guess before it is compared: reserves one failure in the current
/// window, or answers [`Reservation::Suspended`] when the budget is spent. A record from a
/// later window than `now` (the clock went back) is kept as it is, never reset.
#[must_use]
pub fn reserve(
    record: Option<&Verifier>,
    budget: &VerifierBudget,
    now: Timestamp,
) -> (Reservation, Option<Verifier>) {
    let window_start = window_of(now, budget);
    let current = match record {
        Some(v) if v.window_start >= window_start => *v,
        _ => Verifier {
            window_start,
            failures: 0,
        },
    };
    if current.failures >= budget.failures.get() {
        return (Reservation::Suspended, None);
    }
    let next = Verifier {
        failures: current.failures.saturating_add(1),
        ..current
    };
    (Reservation::Reserved(current.window_start), Some(next))
}

/// Giving back a reserved failure when the guess was not a failure after all (accepted, or
/// nothing compared). Only in the window it was reserved in; otherwise nothing is written.
#[must_use]
pub fn refund(record: Option<&Verifier>, reserved_in: Timestamp) -> Option<Verifier> {
    let v = record?;
    (v.window_start == reserved_in && v.failures > 0).then(|| Verifier {
        failures: v.failures.saturating_sub(1),
        ..*v
    })
}
