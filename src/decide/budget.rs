//! The budget's decisions: a verifier's window and standing, a slot held, settled, freed or
//! carried on, a failure charged, and an actor's overrides counted and given back.

use crate::derive::{BookingId, Context};
use crate::ids::RequestId;
use crate::policy::VerifierBudget;
use crate::record::{Hold, Tag, Verifier, Version};
use crate::time::Timestamp;

/// Counting one override against an actor's budget record: the record's next state, or
/// `Err` with the window's end when the window's overrides are used up. The budget record is
/// a [`Verifier`] whose `failures` count overrides.
///
/// # Errors
///
/// The time the actor may override again.
pub(crate) fn count_override(
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
pub(crate) fn refund_override(v: &Verifier, window: Window) -> Option<Verifier> {
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
pub(crate) fn current(
    record: Option<&Verifier>,
    budget: &VerifierBudget,
    now: Timestamp,
) -> Verifier {
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
pub(crate) fn hold_tag(
    context: Context<'_>,
    booking: BookingId<'_>,
    request: RequestId<'_>,
) -> Tag {
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
pub(crate) enum Standing {
    /// It may take a slot.
    Clear,
    /// Its failures fill the budget:
    /// [`Outcome::VerifierSuspended`](crate::Outcome::VerifierSuspended) until the window ends.
    Suspended(Timestamp),
    /// Failures and slots in flight fill it: [`Error::BudgetBusy`](crate::Error::BudgetBusy), retry
    /// shortly.
    Busy,
}

/// When a verifier found [`Standing::Busy`] at `now` may try again: a second later (the
/// verifications in flight that fill its budget are answered within the store's timeout),
/// never past the end of its window (when every slot is free), never before `now`.
#[must_use]
pub(crate) fn busy_until(v: &Verifier, now: Timestamp) -> Timestamp {
    core::cmp::max(
        now,
        core::cmp::min(Timestamp(now.0.saturating_add(1)), v.window_end()),
    )
}

/// Whether `v` holds a slot for the request tagged `tag`, on any booking version.
fn holds_tag(v: &Verifier, tag: Option<&Tag>) -> bool {
    tag.is_some_and(|t| *t != Tag::default() && v.holds.iter().any(|h| h.tag == *t))
}

/// Where a verifier stands, read before anything about the booking: suspended by settled
/// failures only; busy while slots in flight fill the rest, unless this very request holds
/// one (a retry coming to complete or settle its original).
#[must_use]
pub(crate) fn standing(v: &Verifier, tag: Option<&Tag>) -> Standing {
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
pub(crate) fn adoptable(v: &Verifier, tag: &Tag, on: Version) -> Option<Hold> {
    let found = v.holds.iter().find(|h| h.tag == *tag && h.on == on);
    found.filter(|_| *tag != Tag::default()).copied()
}

/// Adopting `hold` for a retry: the verifier's next record, with the hold marked shared.
/// `None` when the record no longer holds it.
#[must_use]
pub(crate) fn share(v: &Verifier, hold: &Hold) -> Option<Verifier> {
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
pub(crate) fn carry(v: &Verifier, hold: &Hold, on: Version) -> Option<(Verifier, Hold)> {
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
pub(crate) fn hold(
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
pub(crate) fn charge(v: &Verifier) -> Result<Verifier, Standing> {
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
pub(crate) struct Window {
    /// When it starts.
    pub(crate) start: Timestamp,
    /// How long it lasts, in seconds.
    pub(crate) secs: u64,
}

impl Window {
    /// The window a verifier's record counts in.
    #[must_use]
    pub(crate) const fn of(v: &Verifier) -> Self {
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
pub(crate) fn settle(
    v: &Verifier,
    window: Window,
    hold: Option<&Hold>,
    failed: bool,
) -> Option<Verifier> {
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
pub(crate) fn release(v: &Verifier, window: Window, hold: &Hold) -> Option<Verifier> {
    let unshared = v.holds.iter().any(|h| held_as(h, hold) && !h.shared);
    settle(v, window, Some(hold), false).filter(|_| unshared)
}
