//! Services, contexts and scopes on one store: what never touches what, whose limits win,
//! and what a verifier is charged for.

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use crate::code::Digits;
use crate::error::Error;
use crate::invalid::Malformed;
use crate::key::Key;
use crate::keyring::{KeyId, Keyring};
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::record::Record;
use crate::secret::Secret;
use crate::service::Service;
use crate::store::{Store, VerifierId};
use crate::time::Timestamp;

use super::{Checked, OrFail, T0, UNTIL, ctx, id, keys, release, who, wrong};

/// The issue's first reproduction: a `post/parcel` service and a `cowin/dose` service on one
/// store, with the same booking ids.
pub(super) fn contexts_never_touch_each_other<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let cowin =
        Service::new(keys.clone(), Policy::new(Digits::Four), ctx("cowin/dose")?).or_fail()?;
    let post =
        Service::new(keys.clone(), Policy::new(Digits::Six), ctx("post/parcel")?).or_fail()?;
    let slot = id("SLOT-1")?;
    let cowin_code = cowin.issue(store, slot, UNTIL, T0).or_fail()?;
    // The parcel service does not know the cowin booking ...
    ensure_eq!(
        post.verify(store, slot, "123456", None, T0).or_fail()?,
        Outcome::UnknownBooking
    );
    ensure!(matches!(
        post.resend(store, slot, T0),
        Err(Error::UnknownBooking)
    ));
    ensure!(matches!(
        post.revoke(store, slot, T0),
        Err(Error::UnknownBooking)
    ));
    // ... can issue its own under the same id ...
    let post_code = post.issue(store, slot, UNTIL, T0).or_fail()?;
    // ... and wrong codes there never lock the cowin booking.
    for k in 0..3 {
        let typed = wrong(post_code.expose(), k);
        ensure!(
            post.verify(store, slot, &typed, None, T0)
                .or_fail()?
                .is_failure()
        );
    }
    ensure_eq!(
        post.verify(store, slot, post_code.expose(), None, T0)
            .or_fail()?,
        Outcome::Locked
    );
    ensure_eq!(
        cowin
            .verify(store, slot, cowin_code.expose(), None, T0)
            .or_fail()?,
        Outcome::Accepted
    );
    // Verifier budgets are kept per context: failures in one never suspend in the other.
    let budget = Policy::new(Digits::Four)
        .with_verifier_budget(2, 86_400)
        .or_fail()?;
    let a = Service::new(keys.clone(), budget, ctx("cowin/dose1")?).or_fail()?;
    let b = Service::new(keys.clone(), budget, ctx("cowin/dose2")?).or_fail()?;
    let (ca, cb) = (
        a.issue(store, id("X")?, UNTIL, T0).or_fail()?,
        b.issue(store, id("X")?, UNTIL, T0).or_fail()?,
    );
    for k in 0..2 {
        let answer = a.verify(store, id("X")?, &wrong(ca.expose(), k), who("v")?, T0);
        ensure!(answer.or_fail()?.is_failure());
    }
    ensure!(matches!(
        a.verify(store, id("X")?, ca.expose(), who("v")?, T0),
        Ok(Outcome::VerifierSuspended { .. })
    ));
    ensure_eq!(
        b.verify(store, id("X")?, cb.expose(), who("v")?, T0)
            .or_fail()?,
        Outcome::Accepted
    );
    Ok(())
}

/// A stricter and a looser service on one context: whichever reads, the limits the booking
/// was issued under apply, with 64 threads guessing through both at once.
pub(super) fn the_record_limits_win_both_ways<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let strict = Policy::new(Digits::Six)
        .with_attempts(2)
        .or_fail()?
        .with_max_retries(Policy::MAX_RETRIES)
        .or_fail()?;
    let loose = Policy::new(Digits::Six)
        .with_attempts(8)
        .or_fail()?
        .with_max_retries(Policy::MAX_RETRIES)
        .or_fail()?;
    let strict = Service::new(keys.clone(), strict, ctx("mixed")?).or_fail()?;
    let loose = Service::new(keys.clone(), loose, ctx("mixed")?).or_fail()?;
    for (issuer, limit, name) in [(&strict, 2usize, "by-strict"), (&loose, 8, "by-loose")] {
        let booking = id(name)?;
        let code = issuer.issue(store, booking, UNTIL, T0).or_fail()?;
        let answers = release(|i| {
            let reader = if i % 2 == 0 { &strict } else { &loose };
            reader.verify(store, booking, &wrong(code.expose(), i), None, T0)
        })?;
        let rejected = answers
            .iter()
            .filter(|a| matches!(a, Ok(o) if o.is_failure()))
            .count();
        ensure_eq!(rejected, limit, "{name}: {answers:?}");
        ensure!(answers.iter().all(|a| matches!(
            a,
            Ok(Outcome::Rejected { .. } | Outcome::Locked) | Err(Error::Contention)
        )));
        let record = issuer.booking(store, id(name)?).or_fail()?.or_fail()?;
        ensure_eq!(usize::from(record.failures), limit);
        // The digits, limits and lifetime stay as issued through a re-issue by the other.
        let other = if limit == 2 { &loose } else { &strict };
        let code = other.reissue(store, id(name)?, UNTIL, T0).or_fail()?;
        ensure_eq!(code.expose().len(), 6);
        let record = other.booking(store, id(name)?).or_fail()?.or_fail()?;
        ensure_eq!(usize::from(record.limits.attempts), limit);
    }
    Ok(())
}

/// A verifier's window and limit are the record's while the window lasts, whichever service
/// reads it: one service with 5 failures an hour and one with 5 a day on one shared scope.
/// The window is the one the first guess of the period opened, never the reader's own.
pub(super) fn a_verifier_record_keeps_its_window_and_limit<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let hourly = Policy::new(Digits::Four)
        .with_verifier_budget(5, 3_600)
        .or_fail()?;
    let daily = Policy::new(Digits::Four)
        .with_verifier_budget(5, 86_400)
        .or_fail()?;
    let scope = ctx("post")?;
    let hourly = Service::new(keys.clone(), hourly, ctx("post/parcel")?)
        .or_fail()?
        .with_budget_scope(scope)
        .or_fail()?;
    let daily = Service::new(keys.clone(), daily, ctx("post/cod")?)
        .or_fail()?
        .with_budget_scope(scope)
        .or_fail()?;
    let mut n = 0u32;
    // Three wrong codes through `service` at `now`: how many were answered, and the
    // suspensions' end.
    let postman = who("postman")?;
    let mut spray = |service: &Service, now: Timestamp| -> Result<_, String> {
        let (mut rejected, mut until) = (0u32, Vec::new());
        for k in 0..3 {
            n = n.saturating_add(1);
            let name = format!("W{n}");
            let expiry = Timestamp(now.0.saturating_add(600));
            let code = service.issue(store, id(&name)?, expiry, now).or_fail()?;
            let typed = wrong(code.expose(), k);
            match service.verify(store, id(&name)?, &typed, postman, now) {
                Ok(o) if o.is_failure() => rejected = rejected.saturating_add(1),
                Ok(Outcome::VerifierSuspended { until: u }) => until.push(u),
                other => return Err(format!("{name}: {other:?}")),
            }
        }
        Ok((rejected, until))
    };
    const DAY: u64 = T0.0 - T0.0 % 86_400;
    let hour = |d: u64, h: u64| {
        Timestamp(
            DAY.saturating_add(d.saturating_mul(86_400))
                .saturating_add(h.saturating_mul(3_600)),
        )
    };
    // Day 0: the hourly service opens an hourly window; the daily one is held to it.
    ensure_eq!(spray(&hourly, hour(0, 0))?, (3, vec![]));
    ensure_eq!(spray(&daily, hour(0, 0))?, (2, vec![hour(0, 1)]));
    // Day 1: the daily service opens a day's window; the hourly one is held to it all day.
    ensure_eq!(spray(&daily, hour(1, 0))?, (3, vec![]));
    ensure_eq!(spray(&hourly, hour(1, 0))?, (2, vec![hour(2, 0)]));
    ensure_eq!(
        spray(&hourly, hour(1, 5))?,
        (0, vec![hour(2, 0), hour(2, 0), hour(2, 0)])
    );
    ensure_eq!(spray(&hourly, hour(2, 0))?, (3, vec![]));
    Ok(())
}

/// A scope named on purpose: three contexts whose verifiers share one budget.
pub(super) fn a_named_scope_shares_one_budget_across_contexts<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(4, 86_400)
        .or_fail()?;
    let scope = ctx("cowin")?;
    let doses = ["cowin/dose1", "cowin/dose2", "cowin/precaution"]
        .into_iter()
        .map(|c| {
            Service::new(keys.clone(), policy, ctx(c)?)
                .or_fail()?
                .with_budget_scope(scope)
                .or_fail()
        })
        .collect::<Result<Vec<Service>, String>>()?;
    let mut answers = Vec::new();
    for (i, service) in doses.iter().cycle().take(9).enumerate() {
        let name = format!("S{i}");
        let code = service.issue(store, id(&name)?, UNTIL, T0).or_fail()?;
        answers.push(
            service
                .verify(
                    store,
                    id(&name)?,
                    &wrong(code.expose(), 0),
                    who("vac-1")?,
                    T0,
                )
                .or_fail()?,
        );
    }
    ensure_eq!(answers.iter().filter(|o| o.is_failure()).count(), 4);
    ensure!(
        answers
            .get(4..)
            .or_fail()?
            .iter()
            .all(|o| matches!(o, Outcome::VerifierSuspended { .. }))
    );
    Ok(())
}

/// Unknown key, malformed input, a clock before the issue, acceptances and closed bookings
/// compare no wrong code: none of them charges the verifier.
pub(super) fn nothing_that_compared_no_code_stays_charged<S: Store>(store: &S) -> Checked {
    // Key 2 issues a booking, then leaves the keyring: a service on key 1 alone.
    let mut rotated = Keyring::new(KeyId(1), Secret::from_bytes(&[0x37; 32]).or_fail()?);
    rotated
        .insert(KeyId(2), Secret::from_bytes(&[0x38; 32]).or_fail()?)
        .or_fail()?;
    rotated.set_current(KeyId(2)).or_fail()?;
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(3, 86_400)
        .or_fail()?;
    let old = {
        let service = Service::new(rotated, policy, ctx("charges")?).or_fail()?;
        service.issue(store, id("orphan")?, UNTIL, T0).or_fail()?
    };
    let service = Service::new(keys()?, policy, ctx("charges")?).or_fail()?;
    let code = service.issue(store, id("open")?, UNTIL, T0).or_fail()?;
    for _ in 0..5 {
        ensure!(matches!(
            service.verify(store, id("orphan")?, old.expose(), who("asha")?, T0),
            Err(Error::UnknownKey)
        ));
        ensure!(matches!(
            service.verify(store, id("open")?, "12", who("asha")?, T0),
            Err(Error::Malformed(Malformed::WrongLength))
        ));
        ensure!(matches!(
            service.verify(
                store,
                id("open")?,
                code.expose(),
                who("asha")?,
                Timestamp(T0.0 - 6)
            ),
            Err(Error::Clock)
        ));
        ensure_eq!(
            service
                .verify(store, id("none")?, "1234", who("asha")?, T0)
                .or_fail()?,
            Outcome::UnknownBooking
        );
    }
    ensure_eq!(
        service
            .verify(store, id("open")?, code.expose(), who("asha")?, T0)
            .or_fail()?,
        Outcome::Accepted
    );
    for _ in 0..5 {
        ensure_eq!(
            service
                .verify(store, id("open")?, "0000", who("asha")?, T0)
                .or_fail()?,
            Outcome::AlreadyRedeemed { by_override: false }
        );
    }
    let key = Key::Verifier {
        scope: ctx("charges")?,
        id: VerifierId::new("asha").or_fail()?,
    };
    // Only the acceptance compared a code: one key at a time it held a slot and settled it
    // freed; with transactions it checked the record and wrote none. No failure, nothing held.
    match store.load(key).or_fail()? {
        Some((Record::Verifier(v), _)) => {
            ensure_eq!((v.failures, v.held), (0, 0), "asha was charged: {v:?}");
        }
        None => ensure!(S::TRANSACTIONS, "asha's acceptance held no slot"),
        Some(other) => return Err(format!("{other:?}")),
    }
    Ok(())
}
