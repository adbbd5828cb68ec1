//! Sends, replays and the clock: send limits under threads, the original answer to a retry,
//! a clock before the issue, and a prune between a verification's load and its write.

use std::sync::Mutex;

use crate::code::Digits;
use crate::error::{Error, Inactive};
use crate::key::Key;
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::record::{Earlier, Record};
use crate::service::Service;
use crate::store::{Store, VerifierId};
use crate::time::Timestamp;
use crate::who::Attempt;

use super::pausing::Pausing;
use super::{Checked, OrFail, T0, UNTIL, ctx, id, keys, release, request, who, wrong};

/// Sends per booking under the same atomic contract: 64 threads resend at once, and no more
/// sends are answered than the limit; the refusals say when to send again.
pub(super) fn send_limits_hold_under_threads<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let policy = Policy::new(Digits::Four)
        .with_send_limit(4, 600)
        .or_fail()?
        .with_max_retries(Policy::MAX_RETRIES)
        .or_fail()?;
    let service = Service::new(keys.clone(), policy, ctx("sms")?).or_fail()?;
    let code = service.issue(store, id("P")?, UNTIL, T0).or_fail()?;
    let booking = id("P")?;
    let answers = release(|_| service.resend(store, booking, T0))?;
    let sent = answers.iter().filter(|a| a.is_ok()).count();
    ensure_eq!(sent, 3, "the issue was the first of 4 sends: {answers:?}");
    ensure!(answers.iter().all(|a| match a {
        Ok(c) => *c == code,
        Err(Error::SendLimit { retry_at }) => *retry_at == Timestamp(T0.0 + 600),
        Err(_) => false,
    }));
    // A re-issue is a send too; the next window opens at the first send after this one.
    ensure!(matches!(
        service.reissue(store, id("P")?, UNTIL, Timestamp(T0.0 + 599)),
        Err(Error::SendLimit { .. })
    ));
    let later = Timestamp(T0.0 + 600);
    // The first send after `later` opens a window that ends 600 s on.
    let fresh = service.reissue(store, id("P")?, UNTIL, later).or_fail()?;
    ensure_ne!(fresh, code);
    for _ in 0..3 {
        ensure_eq!(service.resend(store, id("P")?, later).or_fail()?, fresh);
    }
    ensure!(matches!(
        service.resend(store, id("P")?, later),
        Err(Error::SendLimit { retry_at }) if retry_at == Timestamp(T0.0 + 1_200)
    ));
    // Malformed and refused sends change nothing.
    ensure!(matches!(
        service.reissue(store, id("P")?, later, later),
        Err(Error::SendLimit { .. })
    ));
    ensure_eq!(
        service.booking(store, id("P")?).or_fail()?.or_fail()?.sends,
        4
    );
    Ok(())
}

/// Idempotent answers: a retry with the same request id gets the original answer (an
/// acceptance to the right code only), counted once; the record says who redeemed it.
pub(super) fn retries_with_a_request_id_get_the_original_answer<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(5, 86_400)
        .or_fail()?;
    let service = Service::new(keys.clone(), policy, ctx("retry")?).or_fail()?;
    let code = service.issue(store, id("R")?, UNTIL, T0).or_fail()?;
    let req = |s: &'static str| request(s);
    let bad = wrong(code.expose(), 0);
    let first = service
        .verify(
            store,
            id("R")?,
            &bad,
            Attempt::from(who("v1")?).request(&req("a")?),
            T0,
        )
        .or_fail()?;
    ensure_eq!(first, Outcome::Rejected { attempts_left: 2 });
    for typed in [bad.as_str(), code.expose(), "x"] {
        ensure_eq!(
            service
                .verify(
                    store,
                    id("R")?,
                    typed,
                    Attempt::from(who("v1")?).request(&req("a")?),
                    T0
                )
                .or_fail()?,
            Outcome::Replayed(Earlier::Rejected { attempts_left: 2 })
        );
    }
    // Another verifier reusing the request id is a new request.
    ensure_eq!(
        service
            .verify(
                store,
                id("R")?,
                &bad,
                Attempt::from(who("v2")?).request(&req("a")?),
                T0
            )
            .or_fail()?,
        Outcome::Rejected { attempts_left: 1 }
    );
    let accepted = service
        .verify(
            store,
            id("R")?,
            code.expose(),
            Attempt::from(who("v1")?).request(&req("b")?),
            T0,
        )
        .or_fail()?;
    ensure_eq!(accepted, Outcome::Accepted);
    let at = Timestamp(T0.0 + 60);
    let replay = service
        .verify(
            store,
            id("R")?,
            code.expose(),
            Attempt::from(who("v1")?).request(&req("b")?),
            at,
        )
        .or_fail()?;
    ensure_eq!(replay, Outcome::Replayed(Earlier::Accepted));
    ensure!(replay.is_accepted());
    // Only to the right code, only to the same verifier, only under the same request.
    for (typed, v, r) in [
        (bad.as_str(), "v1", "b"),
        (code.expose(), "v2", "b"),
        (code.expose(), "v1", "c"),
    ] {
        ensure_eq!(
            service
                .verify(
                    store,
                    id("R")?,
                    typed,
                    Attempt::from(who(v)?).request(&req(r)?),
                    at
                )
                .or_fail()?,
            Outcome::AlreadyRedeemed { by_override: false }
        );
    }
    let last = service
        .booking(store, id("R")?)
        .or_fail()?
        .or_fail()?
        .last
        .or_fail()?;
    ensure_eq!(last.at, T0);
    ensure!(last.verifier.or_fail()?.is(b"v1") && last.request.or_fail()?.is(b"b"));
    ensure_eq!(last.answer, Earlier::Accepted);
    // v1's one wrong code is its one failure: the replays cost nothing, and its acceptance's
    // slot was freed.
    let v1 = Key::Verifier {
        scope: ctx("retry")?,
        id: VerifierId::new("v1").or_fail()?,
    };
    let Some((Record::Verifier(v), _)) = store.load(v1).or_fail()? else {
        return Err("v1 has no budget record".into());
    };
    ensure_eq!((v.failures, v.held), (1, 0));
    Ok(())
}

/// A re-issue before the current generation's issue time is a clock fault; nothing moves.
pub(super) fn reissue_refuses_a_clock_before_the_issue<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let service = Service::new(keys.clone(), Policy::new(Digits::Four), ctx("clock")?).or_fail()?;
    service.issue(store, id("C")?, UNTIL, T0).or_fail()?;
    ensure!(matches!(
        service.reissue(store, id("C")?, UNTIL, Timestamp(T0.0 - 1)),
        Err(Error::Clock)
    ));
    ensure!(matches!(
        service.resend(store, id("C")?, Timestamp(T0.0 - 1)),
        Err(Error::Clock)
    ));
    let record = service.booking(store, id("C")?).or_fail()?.or_fail()?;
    ensure_eq!((record.issued_at, record.sends), (T0, 1));
    service.revoke(store, id("C")?, T0).or_fail()?;
    ensure!(matches!(
        service.reissue(store, id("C")?, UNTIL, T0),
        Err(Error::Inactive(Inactive::Revoked))
    ));
    Ok(())
}

/// Prune and re-issue between a verification's load and its compare-and-swap: the stale
/// write never lands on the new record, and the new record's code is a new code.
pub(super) fn prune_between_load_and_write_lands_nothing<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let service = Service::new(keys.clone(), Policy::new(Digits::Six), ctx("aba")?).or_fail()?;
    let (t1, t2) = (Timestamp(100), Timestamp(200));
    let first = service
        .issue(store, id("A")?, Timestamp(150), t1)
        .or_fail()?;
    let second = Mutex::new(None);
    let paused = Pausing::new(store, 2, || {
        ensure_eq!(store.prune(Timestamp(151)).or_fail()?, 1);
        let code = service
            .issue(store, id("A")?, Timestamp(10_000), t2)
            .or_fail()?;
        *second.lock().or_fail()? = Some(code);
        Ok(())
    });
    // At t=149 the first code is still valid: the verification loads the record, decides to
    // redeem it, and meanwhile the record is pruned and the id issued again.
    let stale = service.verify(&paused, id("A")?, first.expose(), None, Timestamp(149));
    paused.ran()?;
    ensure!(matches!(stale, Err(Error::Clock)), "{stale:?}");
    let second = second.lock().or_fail()?.take().or_fail()?;
    ensure_ne!(second, first, "the id issued again repeats its first code");
    let record = service.booking(store, id("A")?).or_fail()?.or_fail()?;
    ensure_eq!(record.expires_at, Timestamp(10_000));
    ensure_eq!((record.failures, record.last), (0, None));
    ensure_eq!(
        service
            .verify(store, id("A")?, first.expose(), None, Timestamp(300))
            .or_fail()?,
        Outcome::Rejected { attempts_left: 2 }
    );
    ensure_eq!(
        service
            .verify(store, id("A")?, second.expose(), None, Timestamp(300))
            .or_fail()?,
        Outcome::Accepted
    );
    Ok(())
}
