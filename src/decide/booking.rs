//! The booking's decisions: compare, replay, close, issue, resend, re-issue, revoke,
//! overrule.

use crate::code::Code;
use crate::derive::{BookingId, derive};
use crate::error::{Error, Inactive};
use crate::ids::IdBuf;
use crate::input;
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::record::{Booking, Earlier, Last, State, Version};
use crate::time::Timestamp;

use super::{Decision, Rules, Who};

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
        State::Active if record.remaining_attempts() == 0 => Some(Outcome::Locked),
        State::Active => None,
    }
}

/// What comparing typed input with a booking's code came to, before anything is written.
#[derive(Debug)]
pub(crate) enum Compared {
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
pub(crate) const REPLAY_SECS: u64 = crate::who::Attempt::REPLAY_SECS;

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
pub(crate) fn compare(
    rules: &Rules<'_>,
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
        Err(e) => return Compared::Answer(Err(e)),
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
    let left = next.remaining_attempts();
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
fn replay(
    rules: &Rules<'_>,
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
pub(super) fn count_send(record: &Booking, now: Timestamp) -> Result<Booking, Error> {
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
pub(crate) fn issue(
    rules: &Rules<'_>,
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
pub(crate) fn resend(
    rules: &Rules<'_>,
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
pub(crate) fn reissue(
    rules: &Rules<'_>,
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
fn new_generation(
    rules: &Rules<'_>,
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
pub(crate) fn revoke(record: Option<&Booking>) -> Decision<()> {
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
pub(crate) fn overrule(
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
