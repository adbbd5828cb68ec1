//! The attacks on a verifier's budget: a suspended verifier, a busy honest one, 64 codes at
//! once under one request id, alternating request ids, the last slot, mixed budgets.

use std::borrow::ToOwned;
use std::format;
use std::string::String;
use std::vec::Vec;

use crate::code::Digits;
use crate::error::Error;
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::service::Service;
use crate::store::Store;
use crate::time::Timestamp;

use super::{
    Checked, OrFail, T0, THREADS, UNTIL, budgeted, ctx, id, ids, keys, release, request,
    verifier_record, verifier_record_if_any, verify_retrying, who, wrong,
};

/// The first attack the review found: 64 requests at once under one request id, on one
/// booking, each with another code and one with the right one. One slot pays for one
/// comparison: exactly one answer is fresh, the rest are its replay (or the booking's
/// redemption), and the verifier ends with at most that one failure.
pub(super) fn one_request_id_many_codes_at_once_gets_one_comparison<S: Store>(
    store: &S,
) -> Checked {
    let keys = keys()?;
    let policy = budgeted(3, 86_400)?;
    let service = Service::new(keys.clone(), policy, ctx("same-id")?).or_fail()?;
    let code = service.issue(store, id("S")?, UNTIL, T0).or_fail()?;
    let (booking, mallory, one_id) = (id("S")?, who("mallory")?, request("one-id")?);
    let answers = release(|i| {
        let typed = if i == THREADS / 2 {
            code.expose().to_owned()
        } else {
            wrong(code.expose(), i)
        };
        verify_retrying(&service, store, booking, &typed, mallory, Some(one_id), T0)
    })?;
    let fresh = answers
        .iter()
        .filter(|a| matches!(a, Ok(Outcome::Accepted | Outcome::Rejected { .. })))
        .count();
    ensure_eq!(fresh, 1, "{answers:?}");
    ensure!(
        answers.iter().all(|a| matches!(
            a,
            Ok(Outcome::Accepted
                | Outcome::Rejected { .. }
                | Outcome::Replayed(_)
                | Outcome::AlreadyRedeemed { by_override: false })
        )),
        "{answers:?}"
    );
    // The one comparison answered is paid for: a failure if it was wrong. A loser whose
    // booking write lost the race lets its slot go unsettled (it cannot know whether a twin
    // sharing it paid with it): over-counted until the window ends, never under.
    let record = service.booking(store, id("S")?).or_fail()?.or_fail()?;
    ensure!(record.lifetime_failures <= 1);
    // In the transaction mode a right code writes no verifier record: when the right code
    // was the one compared, the verifier may have none, and then no failure is owed.
    match verifier_record_if_any(store, "same-id", "mallory")? {
        Some(v) => {
            ensure_eq!(v.failures, u32::from(record.lifetime_failures), "{v:?}");
            ensure!(
                v.failures.saturating_add(v.held) <= v.limit,
                "more slots than the budget: {v:?}"
            );
        }
        None => ensure_eq!(
            record.lifetime_failures,
            0,
            "a failure with no verifier record"
        ),
    }
    Ok(())
}

/// The second attack the review found: two request ids taken in turns on one booking, with
/// new codes and malformed input. Every wrong code compared is a failure of the verifier's,
/// and no replay gives a slot back.
pub(super) fn alternating_request_ids_pay_for_every_comparison<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let policy = Policy::new(Digits::Six)
        .with_attempts(10)
        .or_fail()?
        .with_verifier_budget(20, 86_400)
        .or_fail()?;
    let service = Service::new(keys.clone(), policy, ctx("alternate")?).or_fail()?;
    let code = service.issue(store, id("A")?, UNTIL, T0).or_fail()?;
    let (booking, mallory) = (id("A")?, who("mallory")?);
    let mut compared = 0u32;
    for k in 0..8 {
        let req = request(if k % 2 == 0 { "a" } else { "b" })?;
        let typed = wrong(code.expose(), k);
        let answer = verify_retrying(&service, store, booking, &typed, mallory, Some(req), T0);
        if let Ok(Outcome::Rejected { .. }) = answer {
            compared = compared.saturating_add(1);
        }
        let replay = verify_retrying(&service, store, booking, "x", mallory, Some(req), T0);
        ensure!(matches!(replay, Ok(Outcome::Replayed(_))), "{replay:?}");
    }
    ensure_eq!(compared, 8);
    let record = service.booking(store, id("A")?).or_fail()?.or_fail()?;
    let v = verifier_record(store, "alternate", "mallory")?;
    ensure_eq!(record.lifetime_failures, 8);
    ensure_eq!((v.failures, v.held), (8, 0), "{v:?}");
    Ok(())
}

/// The third attack: 64 guesses in flight, one of them right, when the budget has one slot
/// left. Only one code is compared at a time, so at most one wrong code is answered.
pub(super) fn a_nearly_spent_budget_allows_one_comparison_at_a_time<S: Store>(
    store: &S,
) -> Checked {
    let keys = keys()?;
    let policy = budgeted(5, 86_400)?;
    let service = Service::new(keys.clone(), policy, ctx("last-slot")?).or_fail()?;
    for k in 0..4 {
        let name = format!("spent-{k}");
        let code = service.issue(store, id(&name)?, UNTIL, T0).or_fail()?;
        let answer = service.verify(store, id(&name)?, &wrong(code.expose(), 0), who("eve")?, T0);
        ensure!(answer.or_fail()?.is_failure());
    }
    let names: Vec<String> = (0..THREADS).map(|i| format!("last-{i}")).collect();
    let codes = names
        .iter()
        .map(|n| service.issue(store, id(n)?, UNTIL, T0).or_fail())
        .collect::<Result<Vec<_>, _>>()?;
    let ids = ids(&names)?;
    let eve = who("eve")?;
    let right = THREADS / 3;
    let answers = release(|i| {
        let (code, booking) = (codes.get(i)?, *ids.get(i)?);
        let typed = if i == right {
            code.expose().to_owned()
        } else {
            wrong(code.expose(), 0)
        };
        Some(service.verify(store, booking, &typed, eve, T0))
    })?;
    let answers = answers.into_iter().collect::<Option<Vec<_>>>().or_fail()?;
    let rejected = answers
        .iter()
        .filter(|a| matches!(a, Ok(o) if o.is_failure()))
        .count();
    let accepted = answers
        .iter()
        .filter(|a| matches!(a, Ok(Outcome::Accepted)))
        .count();
    ensure!(
        rejected <= 1,
        "{rejected} wrong codes answered with one slot left: {answers:?}"
    );
    ensure!(
        rejected.saturating_add(accepted) <= 1
            || matches!(answers.get(right), Some(Ok(Outcome::Accepted)))
    );
    ensure!(
        answers.iter().enumerate().all(|(i, a)| i == right
            || matches!(
                a,
                Ok(Outcome::Rejected { .. } | Outcome::VerifierSuspended { .. })
                    | Err(Error::BudgetBusy { .. })
            )),
        "{answers:?}"
    );
    Ok(())
}

/// Two services with different budgets on one scope, 64 threads guessing through both at
/// once: the window's budget is the one the first guess opened it with, and exactly that many
/// wrong codes are answered.
pub(super) fn mixed_budgets_on_one_scope_under_threads<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let four = budgeted(4, 86_400)?;
    let nine = budgeted(9, 3_600)?;
    let scope = ctx("mixed-scope")?;
    let a = Service::new(keys.clone(), four, ctx("mixed/a")?)
        .or_fail()?
        .with_budget_scope(scope)
        .or_fail()?;
    let b = Service::new(keys.clone(), nine, ctx("mixed/b")?)
        .or_fail()?
        .with_budget_scope(scope)
        .or_fail()?;
    let names: Vec<String> = (0..THREADS).map(|i| format!("m-{i}")).collect();
    let typed = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let service = if i % 2 == 0 { &a } else { &b };
            let code = service.issue(store, id(n)?, UNTIL, T0).or_fail()?;
            Ok(wrong(code.expose(), i))
        })
        .collect::<Result<Vec<String>, String>>()?;
    let ids = ids(&names)?;
    let vac = who("vac")?;
    let answers = release(|i| {
        let service = if i % 2 == 0 { &a } else { &b };
        let (booking, typed) = (*ids.get(i)?, typed.get(i)?);
        Some(verify_retrying(
            service, store, booking, typed, vac, None, T0,
        ))
    })?;
    let answers = answers.into_iter().collect::<Option<Vec<_>>>().or_fail()?;
    let rejected = answers
        .iter()
        .filter(|a| matches!(a, Ok(o) if o.is_failure()))
        .count();
    let v = verifier_record(store, "mixed-scope", "vac")?;
    ensure!(v.limit == 4 || v.limit == 9, "{v:?}");
    ensure_eq!(rejected, v.limit as usize, "{answers:?}");
    ensure_eq!((v.failures, v.held), (v.limit, 0));
    Ok(())
}

/// A suspended verifier gets one answer for every booking and every input, with its end.
pub(super) fn a_suspended_verifier_learns_nothing<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(2, 86_400)
        .or_fail()?;
    let service = Service::new(keys.clone(), policy, ctx("enum")?).or_fail()?;
    let codes = ["active", "redeemed", "locked", "spray-0", "spray-1"]
        .into_iter()
        .map(|n| Ok((n, service.issue(store, id(n)?, UNTIL, T0).or_fail()?)))
        .collect::<Result<Vec<_>, String>>()?;
    let code = |n: &str| {
        let found = codes.iter().find(|(m, _)| *m == n);
        found.map(|(_, c)| c.clone()).or_fail()
    };
    service
        .verify(store, id("redeemed")?, code("redeemed")?.expose(), None, T0)
        .or_fail()?;
    for k in 0..3 {
        service
            .verify(
                store,
                id("locked")?,
                &wrong(code("locked")?.expose(), k),
                None,
                T0,
            )
            .or_fail()?;
    }
    for n in ["spray-0", "spray-1"] {
        let answer = service.verify(store, id(n)?, &wrong(code(n)?.expose(), 0), who("eve")?, T0);
        ensure!(answer.or_fail()?.is_failure());
    }
    let until = Timestamp(T0.0 - T0.0 % 86_400 + 86_400);
    let cases = [
        ("unknown", "1234".to_owned()),
        ("active", code("active")?.expose().to_owned()),
        ("active", wrong(code("active")?.expose(), 1)),
        ("redeemed", code("redeemed")?.expose().to_owned()),
        ("locked", code("locked")?.expose().to_owned()),
        ("active", "x".to_owned()),
        ("unknown", "x".to_owned()),
        ("redeemed", "".to_owned()),
    ];
    for (booking, typed) in cases {
        let answer = service.verify(store, id(booking)?, &typed, who("eve")?, T0);
        ensure!(
            matches!(answer, Ok(Outcome::VerifierSuspended { until: u }) if u == until),
            "{booking} {typed:?}: {answer:?}"
        );
    }
    // The right code was never compared: the active booking is untouched.
    let record = service.booking(store, id("active")?).or_fail()?.or_fail()?;
    ensure_eq!((record.failures, record.last), (0, None));
    Ok(())
}

/// One verifier with 64 requests in flight on distinct bookings, under a budget of 5: with
/// right codes never suspended; with wrong codes exactly 5 answered, then suspensions.
pub(super) fn a_busy_honest_verifier_is_never_suspended<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let policy = budgeted(5, 86_400)?;
    let service = Service::new(keys.clone(), policy, ctx("busy")?).or_fail()?;
    for round in ["right", "wrong"] {
        let names: Vec<String> = (0..THREADS).map(|i| format!("{round}-{i}")).collect();
        let typed = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let code = service.issue(store, id(n)?, UNTIL, T0).or_fail()?;
                Ok(if round == "right" {
                    code.expose().to_owned()
                } else {
                    wrong(code.expose(), i)
                })
            })
            .collect::<Result<Vec<String>, String>>()?;
        let ids = ids(&names)?;
        let vaccinator = who("vaccinator-17")?;
        // A busy budget (slots held by the verifier's own verifications in flight) is a
        // retryable error: each request retries it until it is answered.
        let answers = release(|i| {
            let (booking, typed) = (*ids.get(i)?, typed.get(i)?);
            Some(verify_retrying(
                &service, store, booking, typed, vaccinator, None, T0,
            ))
        })?;
        let answers = answers.into_iter().collect::<Option<Vec<_>>>().or_fail()?;
        let count = |f: fn(&Outcome) -> bool| {
            answers
                .iter()
                .filter(|a| matches!(a, Ok(o) if f(o)))
                .count()
        };
        ensure!(answers.iter().all(Result::is_ok), "{round}: {answers:?}");
        if round == "right" {
            ensure_eq!(count(|o| *o == Outcome::Accepted), THREADS, "{answers:?}");
        } else {
            ensure_eq!(count(Outcome::is_failure), 5, "{answers:?}");
            let suspended = count(|o| matches!(o, Outcome::VerifierSuspended { .. }));
            ensure_eq!(suspended, THREADS - 5, "{answers:?}");
        }
    }
    Ok(())
}
