//! One verification paused between two store calls while others act: on a store with
//! transactions, a comparison decided on an old verifier record; one key at a time, the
//! reservation's holds shared, moved on and freed.

use std::borrow::ToOwned;
use std::string::String;
use std::sync::Mutex;

use crate::code::Digits;
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::record::{Booking, Verifier};
use crate::service::Service;
use crate::store::Store;
use crate::who::Attempt;

use super::pausing::Pausing;
use super::{
    Checked, HANDOFF, OrFail, T0, UNTIL, budgeted, ctx, id, keys, request, verifier_record, who,
    wrong,
};

/// The shared-hold attack, on a store with transactions: O (the right code) reads the
/// verifier and its booking and pauses before its transaction; P and Q (wrong codes on two
/// other bookings) spend the budget of 2 meanwhile. O's transaction checks the verifier's
/// record unchanged, and it is not: it lands nothing, O reads again and is answered
/// suspended. Nothing but the verifier's record ties O to P and Q, so only that check stops
/// an acceptance after the suspension.
pub(super) fn a_comparison_decided_on_an_old_verifier_is_decided_again<S: Store>(
    store: &S,
) -> Checked {
    let keys = keys()?;
    let policy = Policy::new(Digits::Six)
        .with_attempts(5)
        .or_fail()?
        .with_verifier_budget(2, 86_400)
        .or_fail()?;
    let service = Service::new(keys.clone(), policy, ctx("decided-again")?).or_fail()?;
    let code = service.issue(store, id("B")?, UNTIL, T0).or_fail()?;
    let c = service.issue(store, id("C")?, UNTIL, T0).or_fail()?;
    let d = service.issue(store, id("D")?, UNTIL, T0).or_fail()?;
    let v = who("mallory")?;
    // On other bookings: only the verifier's record ties their writes to O's.
    let others = || {
        let p = service.verify(
            store,
            id("C")?,
            &wrong(c.expose(), 2),
            Attempt::from(v).request(&request("p")?),
            T0,
        );
        ensure!(matches!(p, Ok(Outcome::Rejected { .. })), "P: {p:?}");
        let q = service.verify(
            store,
            id("D")?,
            &wrong(d.expose(), 3),
            Attempt::from(v).request(&request("q")?),
            T0,
        );
        ensure!(matches!(q, Ok(Outcome::Rejected { .. })), "Q: {q:?}");
        Ok(())
    };
    // O's calls: load the verifier, load the booking, write both.
    let paused = Pausing::new(store, 3, others);
    let o = service.verify(
        &paused,
        id("B")?,
        code.expose(),
        Attempt::from(v).request(&request("o")?),
        T0,
    );
    paused.ran()?;
    ensure!(
        matches!(o, Ok(Outcome::VerifierSuspended { .. })),
        "O was answered on a verifier that was suspended before its write: {o:?}"
    );
    let record = service.booking(store, id("B")?).or_fail()?.or_fail()?;
    ensure_eq!(record.lifetime_failures, 0);
    ensure_eq!(record.state, crate::record::State::Active);
    let verifier = verifier_record(store, "decided-again", "mallory")?;
    ensure_eq!((verifier.failures, verifier.held), (2, 0));
    Ok(())
}

/// The second review's attack: O takes a slot for request `a` and pauses before its booking
/// write; P (the same request id, another code) completes on that slot, and Q (request `b`)
/// spends the last of the budget. O's write then conflicts; its slot has paid for P's
/// comparison, so O may not compare again on it: it needs a new slot, and there is none.
pub(super) fn a_shared_hold_pays_for_one_write_only<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let policy = Policy::new(Digits::Six)
        .with_attempts(5)
        .or_fail()?
        .with_verifier_budget(2, 86_400)
        .or_fail()?;
    let service = Service::new(keys.clone(), policy, ctx("shared-hold")?).or_fail()?;
    let code = service.issue(store, id("B")?, UNTIL, T0).or_fail()?;
    let v = who("mallory")?;
    let others = || {
        let p = service.verify(
            store,
            id("B")?,
            &wrong(code.expose(), 2),
            Attempt::from(v).request(&request("a")?),
            T0,
        );
        ensure!(matches!(p, Ok(Outcome::Rejected { .. })), "P: {p:?}");
        let q = service.verify(
            store,
            id("B")?,
            &wrong(code.expose(), 3),
            Attempt::from(v).request(&request("b")?),
            T0,
        );
        ensure!(matches!(q, Ok(Outcome::Rejected { .. })), "Q: {q:?}");
        Ok(())
    };
    // O's calls: load the verifier, load the booking, hold a slot, write the booking.
    let paused = Pausing::new(store, 4, others);
    let o = service.verify(
        &paused,
        id("B")?,
        &wrong(code.expose(), 1),
        Attempt::from(v).request(&request("a")?),
        T0,
    );
    paused.ran()?;
    ensure!(
        matches!(o, Ok(Outcome::VerifierSuspended { .. })),
        "O compared a third wrong code on a budget of 2: {o:?}"
    );
    let record = service.booking(store, id("B")?).or_fail()?.or_fail()?;
    ensure_eq!(record.lifetime_failures, 2);
    let verifier = verifier_record(store, "shared-hold", "mallory")?;
    ensure_eq!(verifier.failures, 2);
    Ok(())
}

/// Ann (budget 1) verifies `ann_types` on a fresh booking under a request id, and bob's
/// verification of `bob_types` lands between ann taking her slot and writing, so ann's write
/// loses the race. Ann's answer, bob's, ann's budget record and the booking's record.
fn ann_loses_a_race<S: Store>(
    store: &S,
    scope: &'static str,
    ann_types: fn(&str) -> String,
    bob_types: fn(&str) -> String,
) -> Result<(Outcome, Outcome, Verifier, Booking), String> {
    let keys = keys()?;
    let service = Service::new(keys.clone(), budgeted(1, 86_400)?, ctx(scope)?).or_fail()?;
    let code = service.issue(store, id("B")?, UNTIL, T0).or_fail()?;
    let bobs = Mutex::new(None);
    let other = || {
        let w = service.verify(store, id("B")?, &bob_types(code.expose()), who("bob")?, T0);
        *bobs.lock().or_fail()? = Some(w.or_fail()?);
        Ok(())
    };
    // Ann's calls: load the verifier, load the booking, hold a slot, write the booking.
    let paused = Pausing::new(store, 4, other);
    let typed = ann_types(code.expose());
    let ann = service.verify(
        &paused,
        id("B")?,
        &typed,
        Attempt::from(who("ann")?).request(&request("a")?),
        T0,
    );
    paused.ran()?;
    let bob = bobs.lock().or_fail()?.take().or_fail()?;
    let record = service.booking(store, id("B")?).or_fail()?.or_fail()?;
    Ok((
        ann.or_fail()?,
        bob,
        verifier_record(store, scope, "ann")?,
        record,
    ))
}

/// Ann's write loses the race to bob's wrong code. Her hold is still her own, so it moves on
/// with her to the booking's new version and pays for the comparison there: she is answered
/// (not busy for the rest of the day), and her budget ends with her one failure, nothing held.
pub(super) fn a_lost_race_moves_the_hold_on<S: Store>(store: &S) -> Checked {
    let (ann, bob, v, record) =
        ann_loses_a_race(store, "lost-race", |c| wrong(c, 1), |c| wrong(c, 2))?;
    ensure!(matches!(bob, Outcome::Rejected { .. }), "bob: {bob:?}");
    ensure!(matches!(ann, Outcome::Rejected { .. }), "ann: {ann:?}");
    ensure_eq!((v.failures, v.held), (1, 0), "{v:?}");
    ensure!(v.holds.iter().all(|h| *h == Default::default()), "{v:?}");
    ensure_eq!(record.lifetime_failures, 2);
    Ok(())
}

/// Ann's write loses the race to the right code typed at bob's counter: the booking is
/// redeemed, ann compares nothing more, and her slot is freed, not held until the window ends.
pub(super) fn a_lost_race_with_nothing_to_compare_frees_the_hold<S: Store>(store: &S) -> Checked {
    let (ann, bob, v, _) =
        ann_loses_a_race(store, "lost-race-free", |c| wrong(c, 1), str::to_owned)?;
    ensure_eq!(
        (bob, ann),
        (
            Outcome::Accepted,
            Outcome::AlreadyRedeemed { by_override: false }
        )
    );
    ensure_eq!((v.failures, v.held), (0, 0), "{v:?}");
    ensure!(v.holds.iter().all(|h| *h == Default::default()), "{v:?}");
    Ok(())
}

/// O takes a slot and pauses before its write; P, O's own retry (the same request id),
/// adopts the slot, marking it shared, and pauses before its write too, while bob's write
/// moves the booking. P loses its race and compares again, then pauses before settling;
/// bob writes once more, and O, resuming, loses its race and compares again too. The shared
/// slot may be moved on by neither: had both carried it to their second comparisons, two
/// wrong codes would be answered on one slot and one counted. Each pays with a new slot, and
/// every wrong code of ann's answered is a failure of ann's.
pub(super) fn a_hold_adopted_in_the_race_is_not_moved<S: Store>(store: &S) -> Checked {
    let keys = keys()?;
    let policy = budgeted(3, 86_400)?.with_attempts(5).or_fail()?;
    let service = Service::new(keys.clone(), policy, ctx("adopted-race")?).or_fail()?;
    let code = service.issue(store, id("B")?, UNTIL, T0).or_fail()?;
    let (booking, req, ann, bob_id) = (id("B")?, request("a")?, who("ann")?, who("bob")?);
    let bob = |k| -> Checked {
        let w = service.verify(store, booking, &wrong(code.expose(), k), bob_id, T0);
        ensure!(matches!(w, Ok(Outcome::Rejected { .. })), "bob: {w:?}");
        Ok(())
    };
    // Hand-offs that time out: a plan whose calls go otherwise fails the test, not hangs it.
    let (paused_tx, paused) = std::sync::mpsc::channel::<()>();
    let (resume, resume_rx) = std::sync::mpsc::channel::<()>();
    let (paused_tx, resume_rx) = (Mutex::new(paused_tx), Mutex::new(resume_rx));
    let paused = Mutex::new(paused);
    let (o, p) = std::thread::scope(|scope| -> Result<_, String> {
        let o_hook = || -> Result<_, String> {
            let p = scope.spawn(|| {
                // P's calls: load the verifier, load the booking, adopt (a verifier write),
                // write the booking (bob goes first: P loses), load the booking, hold a new
                // slot, write the booking, settle (here P waits for O).
                let wait = || {
                    paused_tx.lock().or_fail()?.send(()).or_fail()?;
                    let _ = resume_rx.lock().or_fail()?.recv_timeout(HANDOFF);
                    Ok(())
                };
                let at_settle = Pausing::new(store, 8, wait);
                let at_write = Pausing::new(&at_settle, 4, || bob(3));
                let typed = wrong(code.expose(), 2);
                let answer = service.verify(
                    &at_write,
                    booking,
                    &typed,
                    Attempt::from(ann).request(&req),
                    T0,
                );
                at_write.ran()?;
                at_settle.ran()?;
                Ok::<_, String>(answer)
            });
            paused
                .lock()
                .or_fail()?
                .recv_timeout(HANDOFF)
                .map_err(|_| {
                    String::from("P never reached its settlement by the calls described")
                })?;
            bob(4)?;
            Ok(p)
        };
        let handle = Mutex::new(None);
        let o_store = Pausing::new(store, 4, || {
            let p = o_hook()?;
            *handle.lock().or_fail()? = Some(p);
            Ok(())
        });
        let o = service.verify(
            &o_store,
            booking,
            &wrong(code.expose(), 1),
            Attempt::from(ann).request(&req),
            T0,
        );
        let _ = resume.send(());
        let ran = o_store.ran();
        let p = handle.lock().or_fail()?.take();
        // P's thread is joined either way, so a failed hook never leaves it waiting.
        let p = p.map(|p| p.join().map_err(|_| String::from("P's thread panicked")));
        ran?;
        Ok((o, p.or_fail()???))
    })?;
    ensure!(matches!(o, Ok(Outcome::Rejected { .. })), "O: {o:?}");
    ensure!(matches!(p, Ok(Outcome::Rejected { .. })), "P: {p:?}");
    let v = verifier_record(store, "adopted-race", "ann")?;
    let record = service.booking(store, id("B")?).or_fail()?.or_fail()?;
    // bob's two failures are on the booking, not on ann's budget.
    let anns = u32::from(record.lifetime_failures)
        .checked_sub(2)
        .or_fail()?;
    ensure_eq!(anns, 2);
    ensure_eq!(
        v.failures,
        anns,
        "a wrong code of ann's was answered uncounted: {v:?}"
    );
    ensure!(v.failures.saturating_add(v.held) <= v.limit, "{v:?}");
    Ok(())
}

/// O takes a slot for request `a` and pauses before its booking write; P, O's own retry,
/// adopts the slot and pauses before its write. O's rejection lands, and before O settles
/// its slot P resumes: its write loses, it lets the shared slot go and compares again, and
/// finds O's rejection, paid for by that very slot. P settles it as the failure it paid for
/// (O then finds it settled), so the verifier's failures equal the booking's: had P freed
/// the slot as one that paid for nothing, a wrong code would be answered and never counted.
pub(super) fn a_retry_holding_the_paying_slot_settles_it_as_the_failure<S: Store>(
    store: &S,
) -> Checked {
    let keys = keys()?;
    let policy = budgeted(3, 86_400)?.with_attempts(5).or_fail()?;
    let service = Service::new(keys.clone(), policy, ctx("paying-retry")?).or_fail()?;
    let code = service.issue(store, id("B")?, UNTIL, T0).or_fail()?;
    let (booking, req, ann) = (id("B")?, request("a")?, who("ann")?);
    let (typed_o, typed_p) = (wrong(code.expose(), 1), wrong(code.expose(), 2));
    let (paused_tx, paused) = std::sync::mpsc::channel::<()>();
    let (resume, resume_rx) = std::sync::mpsc::channel::<()>();
    let (paused_tx, resume_rx) = (Mutex::new(paused_tx), Mutex::new(resume_rx));
    let (paused, resume) = (Mutex::new(paused), Mutex::new(resume));
    let o = std::thread::scope(|scope| -> Result<_, String> {
        let p_thread = Mutex::new(None);
        // Before O's booking write: P runs until it has adopted the slot and reached its own.
        let before_write = || -> Checked {
            let p = scope.spawn(|| {
                // P's calls: load the verifier, load the booking, adopt, write the booking.
                let at_write = Pausing::new(store, 4, || {
                    paused_tx.lock().or_fail()?.send(()).or_fail()?;
                    let _ = resume_rx.lock().or_fail()?.recv_timeout(HANDOFF);
                    Ok(())
                });
                let answer = service.verify(
                    &at_write,
                    booking,
                    &typed_p,
                    Attempt::from(ann).request(&req),
                    T0,
                );
                at_write.ran()?;
                Ok::<_, String>(answer)
            });
            *p_thread.lock().or_fail()? = Some(p);
            paused
                .lock()
                .or_fail()?
                .recv_timeout(HANDOFF)
                .map_err(|_| String::from("P never reached its booking write"))?;
            Ok(())
        };
        // Before O's settlement: P resumes and finishes.
        let before_settle = || -> Checked {
            resume.lock().or_fail()?.send(()).or_fail()?;
            Ok(())
        };
        // O's calls: load the verifier, load the booking, hold a slot, write the booking,
        // settle.
        let at_settle = Pausing::new(store, 5, || {
            before_settle()?;
            let p = p_thread.lock().or_fail()?.take().or_fail()?;
            let p = p
                .join()
                .map_err(|_| String::from("P's thread panicked"))??;
            *p_thread.lock().or_fail()? = None;
            ensure!(matches!(p, Ok(Outcome::Replayed(_))), "P: {p:?}");
            Ok(())
        });
        let at_write = Pausing::new(&at_settle, 4, before_write);
        let o = service.verify(
            &at_write,
            booking,
            &typed_o,
            Attempt::from(ann).request(&req),
            T0,
        );
        // Whatever happened, P is released and joined before the scope ends.
        let _ = resume.lock().or_fail()?.send(());
        at_write.ran()?;
        at_settle.ran()?;
        Ok(o)
    })?;
    ensure!(matches!(o, Ok(Outcome::Rejected { .. })), "O: {o:?}");
    let record = service.booking(store, booking).or_fail()?.or_fail()?;
    let v = verifier_record(store, "paying-retry", "ann")?;
    ensure_eq!(record.lifetime_failures, 1);
    ensure_eq!(
        (v.failures, v.held),
        (1, 0),
        "the rejection's slot was not settled as its failure: {v:?}"
    );
    Ok(())
}
