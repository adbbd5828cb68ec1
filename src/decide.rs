//! The pure decisions: what each operation answers and what it writes, from the record it
//! was shown. No I/O, no clock: everything comes in as a value, so these can be
//! model-tested and fuzzed, and a plan may run them more than once.
//!
//! Every limit is read from the record, never from the policy of the service deciding: a
//! booking keeps the [`Limits`](crate::record::Limits) it was issued under, and a verifier
//! the budget its current window was opened with. The policy only supplies the limits of
//! records it creates (and of a verifier's next window).

use crate::code::Code;
use crate::derive::{BookingId, Context, derive};
use crate::error::{Error, Inactive};
use crate::ids::{IdBuf, RequestId, VerifierId};
use crate::input;
use crate::keyring::Keyring;
pub use crate::outcome::Outcome;
use crate::policy::{Policy, VerifierBudget};
use crate::record::{Booking, Earlier, Hold, Last, State, Tag, Verifier, Version};
use crate::time::Timestamp;

/// A decision on one booking: the answer, and the record to write first (`None`: write
/// nothing).
#[derive(Debug)]
pub struct Decision<T> {
    /// What to answer once `next` (if any) has landed.
    pub answer: Result<T, Error>,
    /// The booking's next record.
    pub next: Option<Booking>,
}

impl<T> Decision<T> {
    const fn answer(answer: Result<T, Error>) -> Self {
        Self { answer, next: None }
    }

    const fn write(next: Booking, answer: T) -> Self {
        Self {
            answer: Ok(answer),
            next: Some(next),
        }
    }
}

/// What a code is checked against: the keys, the policy and the handover it belongs to.
#[derive(Debug)]
pub struct Rules<'a, const N: usize> {
    /// The keys records may name.
    pub keys: &'a Keyring<N>,
    /// The limits for records this service creates.
    pub policy: &'a Policy,
    /// What is handed over.
    pub context: Context<'a>,
}

/// Who is asking: the verifier and the request id, each optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Who<'a> {
    /// The verifier, whose budget pays for each comparison when the policy has one.
    pub verifier: Option<VerifierId<'a>>,
    /// The request id that makes a retry idempotent.
    pub request: Option<RequestId<'a>>,
}

impl Who<'_> {
    /// Whether `last` was written by this very request: same request id, same verifier.
    fn wrote(&self, last: &Last) -> bool {
        let Some(request) = self.request else {
            return false;
        };
        let same_request = last.request.is_some_and(|r| r.is(request.as_bytes()));
        let same_verifier = match (self.verifier, last.verifier) {
            (None, None) => true,
            (Some(v), Some(w)) => w.is(v.as_bytes()),
            _ => false,
        };
        same_request && same_verifier
    }

    fn last(&self, at: Timestamp, answer: Earlier) -> Last {
        Last {
            at,
            paid_by: Version::default(),
            verifier: self.verifier.map(IdBuf::from),
            request: self.request.map(IdBuf::from),
            answer,
        }
    }
}

impl<const N: usize> Rules<'_, N> {
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
}

/// Wrong codes still allowed for a record, under its own limits: the lesser of what the
/// generation and the lifetime cap leave.
#[must_use]
pub fn attempts_left(record: &Booking) -> u8 {
    let generation = record.limits.attempts.saturating_sub(record.failures);
    let lifetime = record
        .limits
        .lifetime_cap
        .saturating_sub(record.lifetime_failures);
    generation.min(u8::try_from(lifetime).unwrap_or(u8::MAX))
}

/// Why a record takes no comparison, or `None` if it takes one. Order matters: a final
/// state wins over expiry, expiry over the lock.
fn closed(record: &Booking, now: Timestamp) -> Option<Outcome> {
    match record.state {
        State::Redeemed => Some(Outcome::AlreadyRedeemed {
            by_override: record.last.is_some_and(|l| l.answer == Earlier::Overridden),
        }),
        State::Revoked => Some(Outcome::Revoked),
        State::Locked => Some(Outcome::Locked),
        State::Active if now >= record.expires_at => Some(Outcome::Expired),
        State::Active if attempts_left(record) == 0 => Some(Outcome::Locked),
        State::Active => None,
    }
}

/// What comparing typed input with a booking's code came to, before anything is written.
#[derive(Debug)]
pub enum Compared {
    /// Answer this and write nothing: nothing was compared and nothing is counted (unknown,
    /// closed, clock, malformed, unknown key).
    Answer(Result<Outcome, Error>),
    /// A retry of the request that wrote the booking's last verification: answer this
    /// ([`Outcome::Replayed`], or [`Outcome::AlreadyRedeemed`] to anything but the right code
    /// after an acceptance) and write nothing; the budget slot that paid for the original
    /// may be settled.
    Replay(Result<Outcome, Error>),
    /// The right code: write this record (redeemed), then answer [`Outcome::Accepted`].
    Right(Booking),
    /// A wrong code: write this record (counted), then answer [`Outcome::Rejected`]. With
    /// a verifier budget a slot is held for it first.
    Wrong(Booking, u8),
}

/// How long after a verification a retry of it is answered as a replay: 15 minutes, ample for
/// a client's timeout and retry. Later, the same request id is a new verification.
pub const REPLAY_SECS: u64 = 900;

/// Verification's decision on the booking: the gate, then the comparison. The record it writes
/// names no hold ([`Last::paid_by`] is 0): the plan that pays for the comparison fills it in.
///
/// The gate, in order: an unknown booking; a retry, within [`REPLAY_SECS`], of the request
/// that wrote the record's last verification (its answer again; an acceptance only to the
/// right code); a closed booking; a clock before the issue time by more than the
/// policy's clock-skew tolerance; then typed input that is
/// not a code of the booking's length; then a key that has left the keyring. Only what
/// passes is compared.
#[must_use]
pub fn compare<const N: usize>(
    rules: &Rules<'_, N>,
    booking: BookingId<'_>,
    record: Option<&Booking>,
    typed: &str,
    who: &Who<'_>,
    now: Timestamp,
) -> Compared {
    let Some(record) = record else {
        return Compared::Answer(Ok(Outcome::UnknownBooking));
    };
    let recent = |l: &Last| now.0 < l.at.0.saturating_add(REPLAY_SECS);
    if let Some(last) = record.last.filter(|l| who.wrote(l) && recent(l)) {
        return Compared::Replay(replay(rules, booking, record, last.answer, typed));
    }
    if let Some(outcome) = closed(record, now) {
        return Compared::Answer(Ok(outcome));
    }
    if before_issue(now, record, rules.policy) {
        return Compared::Answer(Err(Error::Clock));
    }
    let presented = match input::normalize(typed, record.digits) {
        Ok(code) => code,
        Err(e) => return Compared::Answer(Err(e.into())),
    };
    let expected = match rules.code(booking, record) {
        Ok(code) => code,
        Err(e) => return Compared::Answer(Err(e)),
    };
    if expected == presented {
        return Compared::Right(Booking {
            state: State::Redeemed,
            last: Some(who.last(now, Earlier::Accepted)),
            ..*record
        });
    }
    let mut next = Booking {
        failures: record.failures.saturating_add(1),
        lifetime_failures: record.lifetime_failures.saturating_add(1),
        ..*record
    };
    let left = attempts_left(&next);
    if left == 0 {
        next.state = State::Locked;
    }
    next.last = Some(who.last(
        now,
        Earlier::Rejected {
            attempts_left: left,
        },
    ));
    Compared::Wrong(next, left)
}

/// Whether `now` reads further before the booking's issue time than the policy's clock-skew
/// tolerance: a verification or an override then answers [`Error::Clock`].
fn before_issue(now: Timestamp, record: &Booking, policy: &Policy) -> bool {
    now.0.saturating_add(u64::from(policy.clock_skew())) < record.issued_at.0
}

/// The answer to a retried request: a rejection again as it was, an acceptance again only
/// to the right code (anything else is answered as the redeemed booking it is).
fn replay<const N: usize>(
    rules: &Rules<'_, N>,
    booking: BookingId<'_>,
    record: &Booking,
    earlier: Earlier,
    typed: &str,
) -> Result<Outcome, Error> {
    if let Earlier::Rejected { .. } = earlier {
        return Ok(Outcome::Replayed(earlier));
    }
    let presented = input::normalize(typed, record.digits);
    let right = match (presented, rules.code(booking, record)) {
        (Ok(presented), Ok(expected)) => presented == expected,
        _ => false,
    };
    Ok(if right {
        Outcome::Replayed(Earlier::Accepted)
    } else {
        Outcome::AlreadyRedeemed { by_override: false }
    })
}

/// A time as a generation: seconds since the epoch, which fit a `u32` until 2106.
fn stamp(now: Timestamp) -> Result<u32, Error> {
    u32::try_from(now.0).map_err(|_| Error::Clock)
}

/// Counts one send on a record, under its own send limit: the window opens at the first
/// send after the previous window closed.
///
/// # Errors
///
/// [`Error::SendLimit`] with the window's end when the window's sends are used up.
fn count_send(record: &Booking, now: Timestamp) -> Result<Booking, Error> {
    let window = u64::from(record.limits.send_window_secs);
    let end = Timestamp(record.send_window_start.0.saturating_add(window));
    let (start, sends) = if now >= end {
        (now, 0)
    } else {
        (record.send_window_start, record.sends)
    };
    if sends >= record.limits.sends {
        return Err(Error::SendLimit { retry_at: end });
    }
    Ok(Booking {
        sends: sends.saturating_add(1),
        send_window_start: start,
        ..*record
    })
}

/// Issuing: a new record under the current key and the policy's limits, its generation the
/// issue time, one send counted. Refuses if any record exists.
#[must_use]
pub fn issue<const N: usize>(
    rules: &Rules<'_, N>,
    booking: BookingId<'_>,
    record: Option<&Booking>,
    expires_at: Timestamp,
    now: Timestamp,
) -> Decision<Code> {
    if record.is_some() {
        return Decision::answer(Err(Error::AlreadyIssued));
    }
    let generation = match stamp(now) {
        Ok(g) => g,
        Err(e) => return Decision::answer(Err(e)),
    };
    let (key_id, _) = rules.keys.current();
    let first = Booking {
        key_id,
        generation,
        digits: rules.policy.digits(),
        failures: 0,
        lifetime_failures: 0,
        state: State::Active,
        issued_at: now,
        expires_at,
        limits: rules.policy.limits(),
        sends: 1,
        send_window_start: now,
        last: None,
    };
    new_generation(rules, booking, first, expires_at, now)
}

/// Resending: the same code again, for a booking that can still take it. Counts a send.
#[must_use]
pub fn resend<const N: usize>(
    rules: &Rules<'_, N>,
    booking: BookingId<'_>,
    record: Option<&Booking>,
    now: Timestamp,
) -> Decision<Code> {
    let Some(record) = record else {
        return Decision::answer(Err(Error::UnknownBooking));
    };
    let refused = match closed(record, now) {
        None if now < record.issued_at => Some(Error::Clock),
        None => None,
        Some(Outcome::AlreadyRedeemed { .. }) => Some(Error::Inactive(Inactive::Redeemed)),
        Some(Outcome::Revoked) => Some(Error::Inactive(Inactive::Revoked)),
        Some(Outcome::Expired) => Some(Error::Inactive(Inactive::Expired)),
        Some(_) => Some(Error::Inactive(Inactive::Locked)),
    };
    if let Some(e) = refused {
        return Decision::answer(Err(e));
    }
    let code = match rules.code(booking, record) {
        Ok(code) => code,
        Err(e) => return Decision::answer(Err(e)),
    };
    match count_send(record, now) {
        Ok(next) => Decision::write(next, code),
        Err(e) => Decision::answer(Err(e)),
    }
}

/// Re-issuing: a new generation under the current key. The old code dies, the count per
/// generation starts again, the lifetime count stays; the digits and limits stay as issued.
/// Counts a send.
#[must_use]
pub fn reissue<const N: usize>(
    rules: &Rules<'_, N>,
    booking: BookingId<'_>,
    record: Option<&Booking>,
    expires_at: Timestamp,
    now: Timestamp,
) -> Decision<Code> {
    let Some(record) = record else {
        return Decision::answer(Err(Error::UnknownBooking));
    };
    let refused = match record.state {
        State::Redeemed => Some(Error::Inactive(Inactive::Redeemed)),
        State::Revoked => Some(Error::Inactive(Inactive::Revoked)),
        _ if record.lifetime_failures >= record.limits.lifetime_cap => {
            Some(Error::Inactive(Inactive::Exhausted))
        }
        _ if now < record.issued_at => Some(Error::Clock),
        _ => None,
    };
    if let Some(e) = refused {
        return Decision::answer(Err(e));
    }
    let generation = match (record.generation.checked_add(1), stamp(now)) {
        (Some(next), Ok(now)) => next.max(now),
        (None, _) => return Decision::answer(Err(Error::Inactive(Inactive::Exhausted))),
        (_, Err(e)) => return Decision::answer(Err(e)),
    };
    let counted = match count_send(record, now) {
        Ok(next) => next,
        Err(e) => return Decision::answer(Err(e)),
    };
    let (key_id, _) = rules.keys.current();
    let next = Booking {
        key_id,
        generation,
        failures: 0,
        state: State::Active,
        issued_at: now,
        expires_at,
        ..counted
    };
    new_generation(rules, booking, next, expires_at, now)
}

/// Writes a new generation `next` (already stamped with the current key) and answers its
/// code, if its validity ends after `now`. Issue and re-issue both end here.
fn new_generation<const N: usize>(
    rules: &Rules<'_, N>,
    booking: BookingId<'_>,
    next: Booking,
    expires_at: Timestamp,
    now: Timestamp,
) -> Decision<Code> {
    if expires_at <= now {
        return Decision::answer(Err(Error::Validity));
    }
    let (_, secret) = rules.keys.current();
    let code = derive(secret, rules.context, booking, next.generation, next.digits);
    Decision::write(next, code)
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

/// Overriding: redeems the booking without a code, on the word of `by`'s actor. Refused
/// (nothing written) for an unknown booking, a redeemed one (always: nothing is handed over
/// twice), and, unless the policy's [`Overrides`](crate::policy::Overrides) allow it, a
/// revoked, expired or locked one. The record is marked redeemed by override: its
/// [`Last`] names the actor, with [`Earlier::Overridden`] and no request id.
#[must_use]
pub fn overrule(
    policy: &Policy,
    record: Option<&Booking>,
    by: &crate::who::Override<'_>,
    now: Timestamp,
) -> Decision<()> {
    let allowed = policy.overrides();
    if !allowed.enabled {
        return Decision::answer(Err(Error::OverridesOff));
    }
    let Some(record) = record else {
        return Decision::answer(Err(Error::UnknownBooking));
    };
    let refused = match closed(record, now) {
        None if before_issue(now, record, policy) => Some(Error::Clock),
        None => None,
        Some(Outcome::AlreadyRedeemed { .. }) => Some(Error::Inactive(Inactive::Redeemed)),
        Some(Outcome::Revoked) => (!allowed.revoked).then_some(Error::Inactive(Inactive::Revoked)),
        Some(Outcome::Expired) => (!allowed.expired).then_some(Error::Inactive(Inactive::Expired)),
        Some(_) => (!allowed.locked).then_some(Error::Inactive(Inactive::Locked)),
    };
    if let Some(e) = refused {
        return Decision::answer(Err(e));
    }
    Decision::write(
        Booking {
            state: State::Redeemed,
            last: Some(Last {
                at: now,
                paid_by: Version::default(),
                verifier: Some(IdBuf::from(by.actor())),
                request: None,
                answer: Earlier::Overridden,
            }),
            ..*record
        },
        (),
    )
}

/// Counting one override against an actor's budget record: the record's next state, or
/// `Err` with the window's end when the window's overrides are used up. The budget record is
/// a [`Verifier`] whose `failures` count overrides.
///
/// # Errors
///
/// The time the actor may override again.
pub fn count_override(
    record: Option<&Verifier>,
    budget: &VerifierBudget,
    now: Timestamp,
) -> Result<Verifier, Timestamp> {
    let v = current(record, budget, now);
    if v.failures >= v.limit {
        return Err(v.window_end());
    }
    Ok(Verifier {
        failures: v.failures.saturating_add(1),
        ..v
    })
}

/// Giving back an override counted in `window` whose booking turned out not to be
/// overridable: the record's next state, or `None` if the window has moved on (nothing to
/// give back) or nothing is counted.
#[must_use]
pub fn refund_override(v: &Verifier, window: Window) -> Option<Verifier> {
    if Window::of(v) != window || v.failures == 0 {
        return None;
    }
    Some(Verifier {
        failures: v.failures.saturating_sub(1),
        ..*v
    })
}

/// A verifier's record as it stands at `now`: the stored one while its window is current
/// (or the clock reads before it), else a fresh window under `budget`, aligned to
/// multiples of its length since the epoch.
#[must_use]
pub fn current(record: Option<&Verifier>, budget: &VerifierBudget, now: Timestamp) -> Verifier {
    match record {
        Some(v) if now < v.window_end() => *v,
        _ => {
            let secs = budget.window_secs.get();
            let into = now.0.checked_rem(secs).unwrap_or_default();
            Verifier {
                window_start: Timestamp(now.0.saturating_sub(into)),
                window_secs: secs,
                limit: budget.failures.get(),
                failures: 0,
                held: 0,
                holds: [Hold::default(); Verifier::HOLDS],
            }
        }
    }
}

/// The tag of a hold for `request` on `booking` in `context`: a 128-bit digest, so a verifier
/// cannot make two different requests meet one hold.
#[must_use]
pub fn hold_tag(context: Context<'_>, booking: BookingId<'_>, request: RequestId<'_>) -> Tag {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"handover-code/hold");
    for field in [context.as_bytes(), booking.as_bytes(), request.as_bytes()] {
        h.update([u8::try_from(field.len()).unwrap_or(u8::MAX)]);
        h.update(field);
    }
    let digest: [u8; 32] = h.finalize().into();
    let mut tag = Tag::default();
    for (t, d) in tag.iter_mut().zip(digest) {
        *t = d;
    }
    tag
}

/// Where a verifier stands before it may compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// It may take a slot.
    Clear,
    /// Its failures fill the budget: [`Outcome::VerifierSuspended`] until the window ends.
    Suspended(Timestamp),
    /// Failures and slots in flight fill it: [`Error::BudgetBusy`], retry shortly.
    Busy,
}

/// Whether `v` holds a slot for the request tagged `tag`, on any booking version.
fn holds_tag(v: &Verifier, tag: Option<&Tag>) -> bool {
    tag.is_some_and(|t| *t != Tag::default() && v.holds.iter().any(|h| h.tag == *t))
}

/// Where a verifier stands, read before anything about the booking: suspended by settled
/// failures only; busy while slots in flight fill the rest, unless this very request holds
/// one (a retry coming to complete or settle its original).
#[must_use]
pub fn standing(v: &Verifier, tag: Option<&Tag>) -> Standing {
    if v.failures >= v.limit {
        Standing::Suspended(v.window_end())
    } else if v.failures.saturating_add(v.held) >= v.limit && !holds_tag(v, tag) {
        Standing::Busy
    } else {
        Standing::Clear
    }
}

/// The slot of request `tag` taken on booking version `on`, if `v` holds one: a retry may
/// complete its original's comparison on it, since the booking has not moved since.
#[must_use]
pub fn adoptable(v: &Verifier, tag: &Tag, on: Version) -> Option<Hold> {
    let found = v.holds.iter().find(|h| h.tag == *tag && h.on == on);
    found.filter(|_| *tag != Tag::default()).copied()
}

/// Adopting `hold` for a retry: the verifier's next record, with the hold marked shared.
/// `None` when the record no longer holds it.
#[must_use]
pub fn share(v: &Verifier, hold: &Hold) -> Option<Verifier> {
    let mut next = *v;
    let place = next.holds.iter_mut().find(|h| held_as(h, hold))?;
    place.shared = true;
    Some(next)
}

/// Moving an unshared `hold` on to booking version `on`, for its verification's next
/// comparison after its booking write lost a race: the verifier's next record and the hold
/// as moved. `None` when the record no longer holds it, or a retry has adopted it (then it
/// stays for the write it may pay for, and the verification takes a new slot).
#[must_use]
pub fn carry(v: &Verifier, hold: &Hold, on: Version) -> Option<(Verifier, Hold)> {
    let mut next = *v;
    let place = next
        .holds
        .iter_mut()
        .find(|h| held_as(h, hold) && !h.shared)?;
    place.on = on;
    let moved = *place;
    Some((next, moved))
}

/// Whether the stored `h` is `hold` (same request, same id).
fn held_as(h: &Hold, hold: &Hold) -> bool {
    h.tag == hold.tag && h.id == hold.id && h.tag != Tag::default()
}

/// Taking a slot for one comparison on booking version `on`, written as verifier version
/// `id`: the verifier's next record and the [`Hold`] it remembers (for a request with an id,
/// when one of its [`Verifier::HOLDS`] places is free; otherwise the slot is only counted).
/// `Err` with where the verifier stands when no slot is free.
///
/// # Errors
///
/// [`Standing::Suspended`] or [`Standing::Busy`].
pub fn hold(
    v: &Verifier,
    tag: Option<&Tag>,
    on: Version,
    id: Version,
) -> Result<(Verifier, Option<Hold>), Standing> {
    if v.failures >= v.limit {
        return Err(Standing::Suspended(v.window_end()));
    }
    if v.failures.saturating_add(v.held) >= v.limit {
        return Err(Standing::Busy);
    }
    let mut next = Verifier {
        held: v.held.saturating_add(1),
        ..*v
    };
    let free = next.holds.iter_mut().find(|h| h.tag == Tag::default());
    let remembered = match (tag, free) {
        (Some(tag), Some(place)) if *tag != Tag::default() => {
            *place = Hold {
                tag: *tag,
                on,
                id,
                shared: false,
            };
            Some(*place)
        }
        _ => None,
    };
    Ok((next, remembered))
}

/// A wrong code's failure counted on `v` in the same transaction as its rejection (on a
/// store with transactions, where nothing is reserved). `Err` with where the verifier
/// stands when it may not compare: suspended by its failures, or busy with slots reserved by
/// a reservation-mode operation in flight.
///
/// # Errors
///
/// [`Standing::Suspended`] or [`Standing::Busy`].
pub fn charge(v: &Verifier) -> Result<Verifier, Standing> {
    match standing(v, None) {
        Standing::Clear => Ok(Verifier {
            failures: v.failures.saturating_add(1),
            ..*v
        }),
        refused => Err(refused),
    }
}

/// A budget window: its start and length. Two windows of different lengths can start at the
/// same second, so a slot is settled only in a window equal in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// When it starts.
    pub start: Timestamp,
    /// How long it lasts, in seconds.
    pub secs: u64,
}

impl Window {
    /// The window a verifier's record counts in.
    #[must_use]
    pub const fn of(v: &Verifier) -> Self {
        Self {
            start: v.window_start,
            secs: v.window_secs,
        }
    }
}

/// Settling a slot once its verification's answer is written: a wrong code becomes a
/// failure (`failed`), anything else frees the slot. Only in the window it was taken in; a
/// remembered [`Hold`] only if it is still there (whoever settles it first does, once: its
/// owner or a retry replaying its answer). `None`: nothing to write.
#[must_use]
pub fn settle(v: &Verifier, window: Window, hold: Option<&Hold>, failed: bool) -> Option<Verifier> {
    if Window::of(v) != window || v.held == 0 {
        return None;
    }
    let mut next = Verifier {
        held: v.held.saturating_sub(1),
        failures: if failed {
            v.failures.saturating_add(1)
        } else {
            v.failures
        },
        ..*v
    };
    if let Some(hold) = hold {
        let slot = next.holds.iter_mut().find(|h| held_as(h, hold))?;
        *slot = Hold::default();
    }
    Some(next)
}

/// Freeing `hold` for a verification that let it go after a lost race and then compared
/// nothing more: as [`settle`] with no failure, but only while no retry has adopted it.
#[must_use]
pub fn release(v: &Verifier, window: Window, hold: &Hold) -> Option<Verifier> {
    let unshared = v.holds.iter().any(|h| held_as(h, hold) && !h.shared);
    settle(v, window, Some(hold), false).filter(|_| unshared)
}

#[cfg(test)]
mod tests {
    use core::num::{NonZeroU32, NonZeroU64};

    use super::{
        Standing, Window, adoptable, count_override, count_send, current, hold, refund_override,
        settle, standing,
    };
    use crate::code::Digits;
    use crate::error::Error;
    use crate::keyring::KeyId;
    use crate::policy::{Policy, VerifierBudget};
    use crate::record::{Booking, Hold, State, Tag, Verifier, Version};
    use crate::time::Timestamp;

    fn budget(failures: u32, secs: u64) -> VerifierBudget {
        VerifierBudget {
            failures: NonZeroU32::new(failures).unwrap(),
            window_secs: NonZeroU64::new(secs).unwrap(),
        }
    }

    #[test]
    fn overrides_are_counted_to_the_budget_and_given_back_only_in_their_window() {
        let daily = budget(2, 86_400);
        let first = count_override(None, &daily, Timestamp(90_000)).unwrap();
        assert_eq!(
            (first.window_start, first.failures, first.limit),
            (Timestamp(86_400), 1, 2)
        );
        let second = count_override(Some(&first), &daily, Timestamp(90_001)).unwrap();
        assert_eq!(second.failures, 2);
        assert_eq!(
            count_override(Some(&second), &daily, Timestamp(90_002)),
            Err(Timestamp(172_800))
        );
        // The next window starts afresh.
        let next = count_override(Some(&second), &daily, Timestamp(172_800)).unwrap();
        assert_eq!((next.window_start, next.failures), (Timestamp(172_800), 1));
        // Given back in the window it was counted in, once per count; never in another.
        let window = Window::of(&second);
        let back = refund_override(&second, window).unwrap();
        assert_eq!(back.failures, 1);
        assert_eq!(Window::of(&back), window);
        assert_eq!(refund_override(&next, window), None);
        let emptied = refund_override(&back, window).unwrap();
        assert_eq!(emptied.failures, 0);
        assert_eq!(refund_override(&emptied, window), None);
    }

    #[test]
    fn a_verifier_window_is_the_records_until_it_ends_then_the_readers() {
        let hourly = current(None, &budget(5, 3_600), Timestamp(7_300));
        assert_eq!(
            (hourly.window_start, hourly.window_secs),
            (Timestamp(7_200), 3_600)
        );
        let charged = Verifier {
            failures: 5,
            ..hourly
        };
        // A daily reader inside the hour sees the hourly record, limit and all.
        let seen = current(Some(&charged), &budget(9, 86_400), Timestamp(10_799));
        assert_eq!(seen, charged);
        assert_eq!(
            standing(&seen, None),
            Standing::Suspended(Timestamp(10_800))
        );
        // At the hour's end the reader opens its own window.
        let next = current(Some(&charged), &budget(9, 86_400), Timestamp(10_800));
        assert_eq!(
            (next.window_start, next.limit, next.failures),
            (Timestamp(0), 9, 0)
        );
        // A clock that went back keeps the record as it is.
        assert_eq!(
            current(Some(&charged), &budget(9, 86_400), Timestamp(5)),
            charged
        );
    }

    #[test]
    fn every_comparison_holds_a_slot_and_settling_frees_or_fails_it() {
        let v = current(None, &budget(3, 60), Timestamp(0));
        let w0 = Window::of(&v);
        let tags: [Tag; 6] = core::array::from_fn(|i| [u8::try_from(i + 1).unwrap(); 16]);
        let (v, first) = hold(&v, Some(&tags[0]), Version(7), Version(100)).unwrap();
        let want = Hold {
            tag: tags[0],
            on: Version(7),
            id: Version(100),
            shared: false,
        };
        assert_eq!(first, Some(want));
        let (v, second) = hold(&v, None, Version(7), Version(101)).unwrap();
        assert_eq!(second, None);
        let (v, _) = hold(&v, Some(&tags[1]), Version(9), Version(102)).unwrap();
        assert_eq!((v.held, v.failures), (3, 0));
        // Slots in flight fill the budget: busy, not suspended; a retry holding one is clear.
        assert_eq!(
            hold(&v, Some(&tags[2]), Version(9), Version(103)),
            Err(Standing::Busy)
        );
        assert_eq!(standing(&v, Some(&tags[2])), Standing::Busy);
        assert_eq!(standing(&v, Some(&tags[0])), Standing::Clear);
        assert_eq!(adoptable(&v, &tags[0], Version(7)), Some(want));
        assert_eq!(
            adoptable(&v, &tags[0], Version(8)),
            None,
            "another booking version"
        );
        // A wrong code settles as a failure, once; a right one frees its slot.
        let failed = settle(&v, w0, first.as_ref(), true).unwrap();
        assert_eq!((failed.held, failed.failures), (2, 1));
        assert_eq!(settle(&failed, w0, first.as_ref(), true), None);
        let freed = settle(&failed, w0, None, false).unwrap();
        assert_eq!((freed.held, freed.failures), (1, 1));
        // Not in another window, nor in a longer one that starts at the same second.
        let later = Window {
            start: Timestamp(60),
            ..w0
        };
        assert_eq!(settle(&freed, later, None, true), None);
        let longer = Window { secs: 120, ..w0 };
        assert_eq!(settle(&freed, longer, None, true), None);
        // Failures alone suspend.
        let spent = Verifier {
            failures: 3,
            held: 0,
            ..freed
        };
        assert_eq!(
            standing(&spent, Some(&tags[1])),
            Standing::Suspended(Timestamp(60))
        );
        assert_eq!(
            hold(&spent, None, Version(1), Version(2)),
            Err(Standing::Suspended(Timestamp(60)))
        );
        // Remembered holds never evict each other: past four, slots are only counted.
        let mut w = current(None, &budget(9, 60), Timestamp(0));
        let mut remembered = 0;
        for (n, tag) in tags.iter().enumerate() {
            let id = Version(u64::try_from(n).unwrap());
            let (next, hold) = hold(&w, Some(tag), Version(1), id).unwrap();
            remembered += usize::from(hold.is_some());
            w = next;
        }
        assert_eq!((w.held, remembered), (6, Verifier::HOLDS));
    }

    #[test]
    fn sends_count_in_a_window_that_opens_at_the_first_send_after_the_last() {
        let policy = Policy::new(Digits::Four).with_send_limit(2, 60).unwrap();
        let booking = Booking {
            key_id: KeyId(1),
            generation: 0,
            digits: Digits::Four,
            failures: 0,
            lifetime_failures: 0,
            state: State::Active,
            issued_at: Timestamp(100),
            expires_at: Timestamp(1_000),
            limits: policy.limits(),
            sends: 1,
            send_window_start: Timestamp(100),
            last: None,
        };
        let second = count_send(&booking, Timestamp(159)).unwrap();
        assert_eq!(second.sends, 2);
        assert!(matches!(
            count_send(&second, Timestamp(159)),
            Err(Error::SendLimit {
                retry_at: Timestamp(160)
            })
        ));
        let third = count_send(&second, Timestamp(160)).unwrap();
        assert_eq!((third.sends, third.send_window_start), (1, Timestamp(160)));
    }

    #[test]
    fn versions_jump_to_the_time_and_otherwise_count_up() {
        let v = Version::first_at(Timestamp(5)).unwrap();
        assert_eq!(v.after(Timestamp(5)), Some(Version((5 << 24) + 1)));
        assert_eq!(v.after(Timestamp(9)), Version::first_at(Timestamp(9)));
        // A clock behind the version (or a revoke, which has no time) counts up.
        assert_eq!(v.after(Timestamp(0)), Some(Version((5 << 24) + 1)));
    }

    #[test]
    fn versions_start_from_the_time_and_never_cross_into_the_next_second() {
        let first = Version::first_at(Timestamp(2)).unwrap();
        assert_eq!(first, Version(2 << 24));
        assert!(Version::first_at(Timestamp(1)).unwrap() < first);
        assert_eq!(first.next(), Some(Version((2 << 24) + 1)));
        assert_eq!(Version((3 << 24) - 1).next(), None);
        assert_eq!(Version(u64::MAX).next(), None);
        assert_eq!(Version::first_at(Timestamp(u64::MAX)), None);
    }
}
