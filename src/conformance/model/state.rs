//! The model's records and the pure rules it applies to them, written apart from the crate's
//! own decisions.

use std::collections::HashMap;
use std::format;

use crate::code::Digits;
use crate::conformance::Failure;
use crate::decide::hold_tag;
use crate::derive::{BookingId, Context};
use crate::error::Error;
use crate::ids::{IdBuf, RequestId};
use crate::outcome::Outcome;
use crate::record::{Booking, Earlier, State, Tag, Verifier, Version};

use super::{BOOKINGS, NAMESPACES, REQUESTS};

/// The model's last verification of a booking: verifier, request, time, the id of the hold
/// that paid for it, and answer.
pub(super) type LastM = (Option<u8>, Option<u8>, u64, u64, Earlier);

/// The model's booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Model {
    pub(super) version: u64,
    pub(super) generation: u32,
    pub(super) digits: Digits,
    pub(super) failures: u8,
    pub(super) lifetime: u16,
    pub(super) state: State,
    pub(super) issued: u64,
    pub(super) expires: u64,
    pub(super) attempts: u8,
    pub(super) cap: u16,
    pub(super) sends_allowed: u8,
    pub(super) send_secs: u32,
    pub(super) sends: u8,
    pub(super) send_start: u64,
    pub(super) last: Option<LastM>,
}

/// The model's verifier: its record's version, window start and length, limit, failures,
/// slots held, and the holds it remembers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct VModel {
    pub(super) version: u64,
    pub(super) start: u64,
    pub(super) secs: u64,
    pub(super) limit: u32,
    pub(super) failures: u32,
    pub(super) held: u32,
    pub(super) ring: [Option<RingHold>; Verifier::HOLDS],
}

/// A remembered hold: (context, booking, request, booking version, id, shared).
pub(super) type RingHold = (usize, u8, u8, u64, u64, bool);

/// What one context holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Space {
    pub(super) bookings: HashMap<u8, Model>,
    pub(super) verifiers: HashMap<u8, VModel>,
    /// Override actors' budgets: `failures` counts overrides.
    pub(super) actors: HashMap<u8, VModel>,
}

/// The version a write at `now` stores over `previous`.
pub(super) fn bump(previous: Option<u64>, now: u64) -> u64 {
    let first = now.saturating_mul(Version::SPAN);
    match previous {
        Some(v) if first <= v => v.saturating_add(1),
        _ => first,
    }
}

pub(super) fn name_of(prefix: u8, n: u8, modulo: u8) -> [u8; 2] {
    [prefix, n.checked_rem(modulo).unwrap_or_default()]
}

/// The number in a model id (`V1`, `R3`) kept in a record.
pub(super) fn number(id: Option<IdBuf>, prefix: u8) -> Result<Option<u8>, Failure> {
    match id.as_ref().map(IdBuf::as_bytes) {
        None => Ok(None),
        Some([p, n]) if *p == prefix => Ok(Some(*n)),
        Some(other) => Err(Failure {
            check: "model",
            detail: format!("a record names an id the model never used: {other:?}"),
        }),
    }
}

pub(super) fn left(m: &Model) -> u8 {
    let generation = m.attempts.saturating_sub(m.failures);
    let lifetime = m.cap.saturating_sub(m.lifetime);
    generation.min(u8::try_from(lifetime).unwrap_or(u8::MAX))
}

/// What the model answers a closed booking with; `None` if it is open.
pub(super) fn closed(m: &Model, now: u64) -> Option<Outcome> {
    match m.state {
        State::Redeemed => Some(Outcome::AlreadyRedeemed {
            by_override: matches!(m.last, Some((.., Earlier::Overridden))),
        }),
        State::Revoked => Some(Outcome::Revoked),
        State::Locked => Some(Outcome::Locked),
        State::Active if now >= m.expires => Some(Outcome::Expired),
        State::Active if left(m) == 0 => Some(Outcome::Locked),
        State::Active => None,
    }
}

pub(super) fn error_name(e: &Error) -> &'static str {
    match e {
        Error::Malformed(_) => "malformed",
        Error::Clock => "clock",
        Error::AlreadyIssued => "already issued",
        Error::UnknownBooking => "unknown booking",
        Error::Inactive(_) => "inactive",
        Error::Validity => "validity",
        Error::SendLimit { .. } => "send limit",
        Error::BudgetBusy { .. } => "budget busy",
        Error::Store(_) => "store",
        Error::Contention => "contention",
        Error::OverridesOff => "overrides off",
        Error::OverrideLimit { .. } => "override limit",
        _ => "other",
    }
}

pub(super) fn setup<T, E: core::fmt::Display>(r: Result<T, E>) -> Result<T, Failure> {
    r.map_err(crate::conformance::setup_failure)
}

/// Counts a send in the model; `Err` with the retry time when the window's sends are used.
pub(super) fn send(m: &Model, now: u64) -> Result<Model, u64> {
    let end = m.send_start.saturating_add(u64::from(m.send_secs));
    let (start, sends) = if now >= end {
        (now, 0)
    } else {
        (m.send_start, m.sends)
    };
    if sends >= m.sends_allowed {
        return Err(end);
    }
    Ok(Model {
        sends: sends.saturating_add(1),
        send_start: start,
        ..*m
    })
}

pub(super) fn model_of(r: &Booking, version: Version) -> Result<Model, Failure> {
    let last = match r.last {
        None => None,
        Some(l) => Some((
            number(
                l.verifier,
                if l.answer == Earlier::Overridden {
                    b'A'
                } else {
                    b'V'
                },
            )?,
            number(l.request, b'R')?,
            l.at.0,
            l.paid_by.0,
            l.answer,
        )),
    };
    Ok(Model {
        version: version.0,
        generation: r.generation,
        digits: r.digits,
        failures: r.failures,
        lifetime: r.lifetime_failures,
        state: r.state,
        issued: r.issued_at.0,
        expires: r.expires_at.0,
        attempts: r.limits.attempts,
        cap: r.limits.lifetime_cap,
        sends_allowed: r.limits.sends,
        send_secs: r.limits.send_window_secs,
        sends: r.sends,
        send_start: r.send_window_start.0,
        last,
    })
}

pub(super) fn vmodel_of(v: &Verifier, version: Version) -> Result<VModel, Failure> {
    let mut ring = [None; Verifier::HOLDS];
    for (slot, hold) in ring.iter_mut().zip(&v.holds) {
        if hold.tag == Tag::default() {
            continue;
        }
        let (ns, b, r) = hold_of(&hold.tag)?;
        *slot = Some((ns, b, r, hold.on.0, hold.id.0, hold.shared));
    }
    Ok(VModel {
        version: version.0,
        start: v.window_start.0,
        secs: v.window_secs,
        limit: v.limit,
        failures: v.failures,
        held: v.held,
        ring,
    })
}

/// The (context, booking, request) a hold's tag was made for.
pub(super) fn hold_of(tag: &Tag) -> Result<(usize, u8, u8), Failure> {
    for (ns, name) in NAMESPACES.into_iter().enumerate() {
        for b in 0..BOOKINGS {
            for r in 0..REQUESTS {
                let (booking, request) = (name_of(b'B', b, BOOKINGS), name_of(b'R', r, REQUESTS));
                let made = hold_tag(
                    setup(Context::new(name))?,
                    setup(BookingId::new(&booking))?,
                    setup(RequestId::new(&request))?,
                );
                if made == *tag {
                    return Ok((ns, b, r));
                }
            }
        }
    }
    Err(Failure {
        check: "model",
        detail: format!("a verifier remembers a hold the model never took: {tag:?}"),
    })
}
