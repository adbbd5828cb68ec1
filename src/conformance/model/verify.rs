//! A verification on the crate and on the model, and the order of its store calls checked.

use std::borrow::ToOwned;
use std::collections::HashMap;
use std::format;
use std::string::String;

use crate::conformance::Failure;
use crate::derive::BookingId;
use crate::ids::RequestId;
use crate::outcome::Outcome;
use crate::record::{Earlier, State, Verifier};
use crate::store::{Store, VerifierId};
use crate::time::Timestamp;
use crate::who::Attempt;

use super::state::{bump, closed, error_name, left, name_of, setup};
use super::{
    Answer, BOOKING_KIND, BOOKINGS, Call, Guess, Harness, Lane, Model, REQUESTS, RingHold,
    VERIFIER_KIND, VERIFIERS, VModel, lane,
};

impl<S: Store> Harness<S> {
    pub(super) fn verify(
        &mut self,
        service: u8,
        booking: u8,
        guess: Guess,
        verifier: Option<u8>,
        request: Option<u8>,
    ) -> Result<(Answer, Answer), Failure> {
        let lane = lane(service);
        let now = self.now;
        let b = booking.checked_rem(BOOKINGS).unwrap_or_default();
        let v = verifier.map(|v| v.checked_rem(VERIFIERS).unwrap_or_default());
        let r = request.map(|r| r.checked_rem(REQUESTS).unwrap_or_default());
        let model = self.space(lane).bookings.get(&b).copied();
        let (generation, digits) = model.map_or((0, lane.digits), |m| (m.generation, m.digits));
        let right = self.code(lane, b, generation, digits)?;
        let width = usize::from(digits.count());
        let typed: String = match guess {
            Guess::Right => right.expose().to_owned(),
            Guess::Old => self
                .code(lane, b, generation.wrapping_sub(1), digits)?
                .expose()
                .to_owned(),
            Guess::Wrong(k) => {
                let value: u32 = setup(right.expose().parse::<u32>())?;
                let modulus = digits.modulus();
                let step = u32::from(k)
                    .checked_rem(modulus.saturating_sub(1))
                    .unwrap_or_default();
                let other = value.saturating_add(1).saturating_add(step);
                format!("{:0width$}", other.checked_rem(modulus).unwrap_or_default())
            }
            Guess::Malformed => "12a4".to_owned(),
        };
        let is_right = typed == right.expose();
        let bname = name_of(b'B', b, BOOKINGS);
        let vname = v.map(|v| name_of(b'V', v, VERIFIERS));
        let rname = r.map(|r| name_of(b'R', r, REQUESTS));
        let vid = match &vname {
            Some(n) => Some(setup(VerifierId::new(n))?),
            None => None,
        };
        let svc = self.service(lane)?;
        let id = setup(BookingId::new(&bname))?;
        let real = match &rname {
            Some(n) => svc.verify(
                &self.store,
                id,
                &typed,
                Attempt::from(vid).request(&setup(RequestId::new(n))?),
                Timestamp(now),
            ),
            None => svc.verify(&self.store, id, &typed, vid, Timestamp(now)),
        };
        let real = real.map(Some).map_err(|e| error_name(&e));
        // Whatever fault fired: a rejection is answered only once its failure has landed on
        // the verifier's record, as the verification's last store call.
        if v.is_some() && matches!(real, Ok(Some(Outcome::Rejected { .. }))) {
            let calls = self.store.calls.borrow();
            ensure!(
                calls.last() == Some(&(true, VERIFIER_KIND)) && self.store.landed.get(),
                "a rejection was answered before its failure was settled: {calls:?}"
            );
        }
        let (expected, adopted) = self.verify_model(lane, b, model, is_right, guess, v, r);
        if !self.store.fired.get() {
            self.check_order(v.is_some(), &expected, adopted)?;
        }
        Ok((real, expected))
    }

    /// The model's verification; updates the model and returns its answer, and whether it
    /// completed on a hold a retry adopted.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn verify_model(
        &mut self,
        lane: &Lane,
        b: u8,
        model: Option<Model>,
        is_right: bool,
        guess: Guess,
        v: Option<u8>,
        r: Option<u8>,
    ) -> (Answer, bool) {
        let now = self.now;
        let mut verifiers = core::mem::take(&mut self.space_at(lane.scope).verifiers);
        let answer = Self::decide_model(
            now,
            S::TRANSACTIONS,
            lane,
            &mut self.space(lane).bookings,
            &mut verifiers,
            (b, model, is_right, guess, v, r),
        );
        self.space_at(lane.scope).verifiers = verifiers;
        answer
    }

    /// The model's rules for one verification, on the context's bookings and the scope's
    /// verifiers: the budget's standing first, then the booking; a slot held for every
    /// comparison, settled after the answer is written.
    pub(super) fn decide_model(
        now: u64,
        atomic: bool,
        lane: &Lane,
        bookings: &mut HashMap<u8, Model>,
        verifiers: &mut HashMap<u8, VModel>,
        (b, model, is_right, guess, v, r): (u8, Option<Model>, bool, Guess, Option<u8>, Option<u8>),
    ) -> (Answer, bool) {
        // The verifier's record as it stands now (a new window keeps the record's version).
        let mut vm = v.map(|v| {
            let stored = verifiers.get(&v).copied();
            let fresh = VModel {
                version: stored.map_or(0, |m| m.version),
                start: now.saturating_sub(now.checked_rem(lane.budget.1).unwrap_or_default()),
                secs: lane.budget.1,
                limit: lane.budget.0,
                failures: 0,
                held: 0,
                ring: [None; Verifier::HOLDS],
            };
            match stored {
                Some(m) if now < m.start.saturating_add(m.secs) => (v, m, true),
                Some(_) => (v, fresh, true),
                None => (v, fresh, false),
            }
        });
        let mine = |h: &RingHold| r.is_some_and(|r| (h.0, h.1, h.2) == (lane.ns, b, r));
        if let Some((_, m, _)) = &vm {
            if m.failures >= m.limit {
                let until = Timestamp(m.start.saturating_add(m.secs));
                return (Ok(Some(Outcome::VerifierSuspended { until })), false);
            }
            if m.failures.saturating_add(m.held) >= m.limit && !m.ring.iter().flatten().any(mine) {
                return (Err("budget busy"), false);
            }
        }
        // Settles a slot: the remembered hold with this id, or (`counted`) one only counted.
        let settle = |verifiers: &mut HashMap<u8, VModel>,
                      vm: Option<(u8, VModel, bool)>,
                      id: Option<u64>,
                      counted: bool,
                      failed: bool| {
            let Some((v, mut m, _)) = vm else { return };
            let found = match id {
                Some(id) => {
                    let place = m
                        .ring
                        .iter_mut()
                        .find(|h| h.is_some_and(|h| mine(&h) && h.4 == id));
                    place.map(|p| *p = None).is_some()
                }
                None => counted,
            };
            if found && m.held > 0 {
                m.held = m.held.saturating_sub(1);
                if failed {
                    m.failures = m.failures.saturating_add(1);
                }
                m.version = bump(Some(m.version), now);
                verifiers.insert(v, m);
            }
        };
        let Some(mut m) = model else {
            return (Ok(Some(Outcome::UnknownBooking)), false);
        };
        if let (Some(rq), Some((lv, lr, at, paid, earlier))) = (r, m.last)
            && lr == Some(rq)
            && lv == v
            && now < at.saturating_add(Attempt::REPLAY_SECS)
        {
            let answer = match earlier {
                Earlier::Rejected { .. } => Outcome::Replayed(earlier),
                Earlier::Accepted if is_right && guess != Guess::Malformed => {
                    Outcome::Replayed(earlier)
                }
                Earlier::Accepted | Earlier::Overridden => {
                    Outcome::AlreadyRedeemed { by_override: false }
                }
            };
            let failed = matches!(earlier, Earlier::Rejected { .. });
            settle(verifiers, vm, Some(paid), false, failed);
            return (Ok(Some(answer)), false);
        }
        if let Some(outcome) = closed(&m, now) {
            return (Ok(Some(outcome)), false);
        }
        if now.saturating_add(u64::from(lane.skew)) < m.issued {
            return (Err("clock"), false);
        }
        if guess == Guess::Malformed {
            return (Err("malformed"), false);
        }
        // A slot for the comparison: the original's, adopted, or a new one.
        let on = m.version;
        let mut adopted = false;
        let mut paid = 0;
        let mut remembered = None;
        if let Some((_, vmodel, exists)) = &mut vm
            && atomic
        {
            // A wrong code's failure is written with its answer, and that write paid for its
            // comparison; a right code leaves the verifier's record as it is.
            if !is_right {
                let id = bump(exists.then_some(vmodel.version), now);
                vmodel.version = id;
                *exists = true;
                paid = id;
            }
        } else if let Some((_, vmodel, exists)) = &mut vm {
            let found = vmodel
                .ring
                .iter_mut()
                .flatten()
                .find(|h| mine(h) && h.3 == on);
            if let Some(hold) = found {
                adopted = true;
                paid = hold.4;
                remembered = Some(hold.4);
                // Adopting marks the hold shared, in a write of the verifier's record.
                if !hold.5 {
                    hold.5 = true;
                    vmodel.version = bump(Some(vmodel.version), now);
                }
            } else {
                if vmodel.failures.saturating_add(vmodel.held) >= vmodel.limit {
                    return (Err("budget busy"), false);
                }
                let id = bump(exists.then_some(vmodel.version), now);
                vmodel.version = id;
                *exists = true;
                vmodel.held = vmodel.held.saturating_add(1);
                paid = id;
                if let Some(r) = r
                    && let Some(place) = vmodel.ring.iter_mut().find(|h| h.is_none())
                {
                    *place = Some((lane.ns, b, r, on, id, false));
                    remembered = Some(id);
                }
            }
        }
        let outcome = if is_right {
            m.state = State::Redeemed;
            m.last = Some((v, r, now, paid, Earlier::Accepted));
            Outcome::Accepted
        } else {
            m.failures = m.failures.saturating_add(1);
            m.lifetime = m.lifetime.saturating_add(1);
            let attempts_left = left(&m);
            if attempts_left == 0 {
                m.state = State::Locked;
            }
            m.last = Some((v, r, now, paid, Earlier::Rejected { attempts_left }));
            Outcome::Rejected { attempts_left }
        };
        m.version = bump(Some(m.version), now);
        bookings.insert(b, m);
        match vm {
            Some((v, mut charged, _)) if atomic => {
                if outcome.is_failure() {
                    charged.failures = charged.failures.saturating_add(1);
                    verifiers.insert(v, charged);
                }
            }
            _ => settle(verifiers, vm, remembered, true, outcome.is_failure()),
        }
        (Ok(Some(outcome)), adopted)
    }

    /// The plan's order, as the store saw it: a budgeted verification reads the verifier
    /// first; a suspended one reads nothing else, a busy one nothing else but (for a retry
    /// holding a slot) the booking; a comparison's answer is written
    /// only after a slot was held for it (unless it completed on one a retry adopted), and
    /// the slot is settled after.
    pub(super) fn check_order(
        &self,
        budgeted: bool,
        answer: &Answer,
        adopted: bool,
    ) -> Result<(), Failure> {
        let calls = self.store.calls.borrow();
        if !budgeted {
            ensure!(
                calls.iter().all(|(_, kind)| *kind == BOOKING_KIND),
                "a verification without a verifier touched a verifier: {calls:?}"
            );
            return Ok(());
        }
        ensure!(
            calls.first() == Some(&(false, VERIFIER_KIND)),
            "a budgeted verification did not read the verifier first: {calls:?}"
        );
        if S::TRANSACTIONS {
            // Read the verifier, then the booking, then one transaction: nothing else.
            let want: &[Call] = match answer {
                Ok(Some(Outcome::VerifierSuspended { .. })) | Err("budget busy") => {
                    &[(false, VERIFIER_KIND)]
                }
                Ok(Some(Outcome::Rejected { .. })) => &[
                    (false, VERIFIER_KIND),
                    (false, BOOKING_KIND),
                    (true, BOOKING_KIND),
                    (true, VERIFIER_KIND),
                ],
                // A right code's transaction checks the verifier's record unchanged.
                Ok(Some(Outcome::Accepted)) => &[
                    (false, VERIFIER_KIND),
                    (false, BOOKING_KIND),
                    (true, BOOKING_KIND),
                    (false, VERIFIER_KIND),
                ],
                _ => &[(false, VERIFIER_KIND), (false, BOOKING_KIND)],
            };
            ensure!(
                calls.as_slice() == want,
                "an atomic verification answered {answer:?} after {calls:?}, not {want:?}"
            );
            return Ok(());
        }
        if let Ok(Some(Outcome::VerifierSuspended { .. })) = answer {
            ensure!(
                calls.len() == 1,
                "a suspended verifier's booking was looked at: {calls:?}"
            );
        }
        // Busy is answered before the booking is read, except to a retry holding a slot for
        // its request (on an older version of the booking), which reads it to find out.
        if let Err("budget busy") = answer {
            ensure!(
                calls.iter().all(|(swap, _)| !swap) && calls.len() <= 2,
                "a busy verifier wrote or read more than its retry needs: {calls:?}"
            );
        }
        if let Ok(Some(Outcome::Rejected { .. } | Outcome::Accepted)) = answer {
            let write = calls.iter().position(|c| *c == (true, BOOKING_KIND));
            let first_hold = calls.iter().position(|c| *c == (true, VERIFIER_KIND));
            let last_settle = calls.iter().rposition(|c| *c == (true, VERIFIER_KIND));
            let held_first = adopted || matches!((first_hold, write), (Some(h), Some(w)) if h < w);
            ensure!(
                held_first,
                "a code was compared and answered without a slot held first: {calls:?}"
            );
            ensure!(
                matches!((write, last_settle), (Some(w), Some(s)) if w < s),
                "a comparison's slot was not settled after its answer was written: {calls:?}"
            );
        }
        Ok(())
    }
}
