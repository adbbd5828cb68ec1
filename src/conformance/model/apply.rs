//! One operation run on the crate and on the model, and the answers judged.

use std::format;

use crate::code::Code;
use crate::conformance::Failure;
use crate::derive::BookingId;
use crate::ids::ActorId;
use crate::outcome::Outcome;
use crate::record::{Earlier, State, Verifier};
use crate::store::Store;
use crate::time::Timestamp;
use crate::who::Override;
use crate::who::Reason;

use super::state::{bump, closed, error_name, name_of, send, setup};
use super::{ACTORS, Answer, BOOKINGS, Guess, Harness, Lane, Model, Op, Space, VModel, lane};

impl<S: Store> Harness<S> {
    pub(super) fn step(&mut self, op: Op) -> Result<(), Failure> {
        match op {
            Op::Arm(fault) => {
                self.store.armed.set(Some(fault));
                return Ok(());
            }
            Op::Time { seconds } => {
                self.now = self.now.saturating_add_signed(i64::from(seconds));
                return Ok(());
            }
            _ => {}
        }
        self.store.fired.set(false);
        self.store.calls.borrow_mut().clear();
        let before = self.spaces.clone();
        let (real, expected) = self.apply(op)?;
        self.store.armed.set(None);
        let result = self.judge(op, &real, &expected, before.clone());
        if let Some(read) = self.audit {
            let entries = setup(read(&self.store.inner, self.cursor))?;
            if let Some(last) = entries.last() {
                self.cursor = last.cursor;
            }
            result?;
            let faulted = self.store.fired.get();
            self.check_audit(op, &real, faulted, &before, &entries)?;
            return Ok(());
        }
        result
    }

    /// Judges one operation's answers and the records it left.
    pub(super) fn judge(
        &mut self,
        op: Op,
        real: &Answer,
        expected: &Answer,
        before: [Space; 2],
    ) -> Result<(), Failure> {
        let (real, expected) = (*real, *expected);
        if let Ok(Some(outcome)) = real
            && outcome.is_accepted()
        {
            {
                ensure!(
                    matches!(
                        op,
                        Op::Verify {
                            guess: Guess::Right,
                            ..
                        }
                    ),
                    "{op:?} accepted"
                );
            }
        }
        if self.store.fired.get() {
            if let Err("store" | "contention") = real {
            } else {
                ensure!(
                    real == expected,
                    "{op:?} at {} under a fault: crate {real:?}, model {expected:?}",
                    self.now
                );
            }
            // The model ran ahead on the assumption that the crate would succeed; take it
            // back, then judge what landed against where it was.
            self.spaces = before;
            return self.resync();
        }
        ensure!(
            !matches!(real, Err("store" | "contention")),
            "{op:?}: a store fault with none injected: {real:?}"
        );
        ensure!(
            real == expected,
            "{op:?} at {}: crate {real:?}, model {expected:?}",
            self.now
        );
        let stored = self.stored()?;
        ensure!(
            stored == self.spaces,
            "after {op:?}: stored {:?}, model {:?}",
            stored,
            self.spaces
        );
        Ok(())
    }

    /// Runs `op` on the crate and on the model; answers (crate, model).
    pub(super) fn apply(&mut self, op: Op) -> Result<(Answer, Answer), Failure> {
        let now = self.now;
        let (service, b) = match op {
            Op::Issue {
                service, booking, ..
            }
            | Op::Resend { service, booking }
            | Op::Reissue {
                service, booking, ..
            }
            | Op::Revoke { service, booking } => {
                (service, booking.checked_rem(BOOKINGS).unwrap_or_default())
            }
            Op::Verify {
                service,
                booking,
                guess,
                verifier,
                request,
            } => return self.verify(service, booking, guess, verifier, request),
            Op::Prune { age } => return self.prune(age),
            Op::Override {
                service,
                booking,
                actor,
                reason,
            } => return self.overrule(service, booking, actor, reason),
            Op::Time { .. } | Op::Arm(_) => return Ok((Ok(None), Ok(None))),
        };
        let lane = lane(service);
        let booking = name_of(b'B', b, BOOKINGS);
        let id = setup(BookingId::new(&booking))?;
        let model = self.space(lane).bookings.get(&b).copied();
        let svc = self.service(lane)?;
        let at = Timestamp(now);
        let (real, expected, next): (Result<Option<Code>, _>, Answer, Option<Model>) = match op {
            Op::Issue { ttl, .. } => {
                let until = now.saturating_add(u64::from(ttl));
                let real = svc.issue(&self.store, id, Timestamp(until), at).map(Some);
                let fresh = Model {
                    version: bump(None, now),
                    generation: u32::try_from(now).unwrap_or(u32::MAX),
                    digits: lane.digits,
                    failures: 0,
                    lifetime: 0,
                    state: State::Active,
                    issued: now,
                    expires: until,
                    attempts: lane.attempts,
                    cap: lane.cap,
                    sends_allowed: lane.sends.0,
                    send_secs: lane.sends.1,
                    sends: 1,
                    send_start: now,
                    last: None,
                };
                match model {
                    Some(_) => (real, Err("already issued"), None),
                    None if ttl == 0 => (real, Err("validity"), None),
                    None => (real, Ok(None), Some(fresh)),
                }
            }
            Op::Resend { .. } => {
                let real = svc.resend(&self.store, id, at).map(Some);
                match model {
                    None => (real, Err("unknown booking"), None),
                    Some(m) if closed(&m, now).is_some() => (real, Err("inactive"), None),
                    Some(m) if now < m.issued => (real, Err("clock"), None),
                    Some(m) => match send(&m, now) {
                        Err(_) => (real, Err("send limit"), None),
                        Ok(next) => {
                            let next = Model {
                                version: bump(Some(m.version), now),
                                ..next
                            };
                            (real, Ok(None), Some(next))
                        }
                    },
                }
            }
            Op::Reissue { ttl, .. } => {
                let until = now.saturating_add(u64::from(ttl));
                let real = svc.reissue(&self.store, id, Timestamp(until), at).map(Some);
                match model {
                    None => (real, Err("unknown booking"), None),
                    Some(m)
                        if matches!(m.state, State::Redeemed | State::Revoked)
                            || m.lifetime >= m.cap =>
                    {
                        (real, Err("inactive"), None)
                    }
                    Some(m) if now < m.issued => (real, Err("clock"), None),
                    Some(m) => match send(&m, now) {
                        Err(_) => (real, Err("send limit"), None),
                        Ok(_) if ttl == 0 => (real, Err("validity"), None),
                        Ok(sent) => {
                            let stamp = u32::try_from(now).unwrap_or(u32::MAX);
                            let next = Model {
                                version: bump(Some(m.version), now),
                                generation: m.generation.saturating_add(1).max(stamp),
                                failures: 0,
                                state: State::Active,
                                issued: now,
                                expires: until,
                                ..sent
                            };
                            (real, Ok(None), Some(next))
                        }
                    },
                }
            }
            Op::Revoke { .. } => {
                let real = svc.revoke(&self.store, id, at).map(|()| None);
                match model {
                    None => (real, Err("unknown booking"), None),
                    Some(m) if m.state == State::Redeemed => (real, Err("inactive"), None),
                    Some(m) if m.state == State::Revoked => (real, Ok(None), None),
                    Some(m) => {
                        let next = Model {
                            version: bump(Some(m.version), now),
                            state: State::Revoked,
                            ..m
                        };
                        (real, Ok(None), Some(next))
                    }
                }
            }
            _ => return Ok((Ok(None), Ok(None))),
        };
        if let (Ok(Some(code)), Some(next)) = (&real, next) {
            let want = self.code(lane, b, next.generation, next.digits)?;
            ensure!(*code == want, "{op:?} gave another code");
        }
        if let (Ok(_), Some(next)) = (&real, next) {
            self.space(lane).bookings.insert(b, next);
        }
        Ok((real.map(|_| None).map_err(|e| error_name(&e)), expected))
    }

    /// An override on the crate and on the model.
    pub(super) fn overrule(
        &mut self,
        service: u8,
        booking: u8,
        actor: u8,
        reason: u8,
    ) -> Result<(Answer, Answer), Failure> {
        let lane = lane(service);
        let now = self.now;
        let b = booking.checked_rem(BOOKINGS).unwrap_or_default();
        let a = actor.checked_rem(ACTORS).unwrap_or_default();
        let reason = *Reason::ALL
            .get(usize::from(reason.checked_rem(4).unwrap_or_default()))
            .unwrap_or(&Reason::Other);
        let (bname, aname) = (name_of(b'B', b, BOOKINGS), name_of(b'A', a, ACTORS));
        let by = setup(Override::new(setup(ActorId::new(&aname))?, reason, "model"))?;
        let svc = self.service(lane)?;
        let id = setup(BookingId::new(&bname))?;
        let real = svc
            .overrule(&self.store, id, by, Timestamp(now))
            .map(|()| None)
            .map_err(|e| error_name(&e));
        let expected = self.overrule_model(lane, b, a);
        Ok((real, expected))
    }

    /// The model's override: refusals first (turned off, unknown, closed unless allowed,
    /// clock), then the actor's budget, then the redemption.
    pub(super) fn overrule_model(&mut self, lane: &Lane, b: u8, a: u8) -> Answer {
        let now = self.now;
        let Some((budget, locked, expired)) = lane.overrides else {
            return Err("overrides off");
        };
        let Some(m) = self.space(lane).bookings.get(&b).copied() else {
            return Err("unknown booking");
        };
        match closed(&m, now) {
            None if now.saturating_add(u64::from(lane.skew)) < m.issued => return Err("clock"),
            None => {}
            Some(Outcome::AlreadyRedeemed { .. } | Outcome::Revoked) => return Err("inactive"),
            Some(Outcome::Expired) if !expired => return Err("inactive"),
            Some(Outcome::Expired) => {}
            Some(_) if !locked => return Err("inactive"),
            Some(_) => {}
        }
        if let Some((limit, secs)) = budget {
            let stored = self.space_at(lane.scope).actors.get(&a).copied();
            let fresh = VModel {
                version: stored.map_or(0, |m| m.version),
                start: now.saturating_sub(now.checked_rem(secs).unwrap_or_default()),
                secs,
                limit,
                failures: 0,
                held: 0,
                ring: [None; Verifier::HOLDS],
            };
            let mut current = match stored {
                Some(m) if now < m.start.saturating_add(m.secs) => m,
                _ => fresh,
            };
            if current.failures >= current.limit {
                return Err("override limit");
            }
            current.failures = current.failures.saturating_add(1);
            current.version = bump(stored.map(|m| m.version), now);
            self.space_at(lane.scope).actors.insert(a, current);
        }
        let next = Model {
            version: bump(Some(m.version), now),
            state: State::Redeemed,
            last: Some((Some(a), None, now, 0, Earlier::Overridden)),
            ..m
        };
        self.space(lane).bookings.insert(b, next);
        Ok(None)
    }

    pub(super) fn prune(&mut self, age: u16) -> Result<(Answer, Answer), Failure> {
        let Some(prune) = self.prune else {
            return Ok((Ok(None), Ok(None)));
        };
        let before = self.now.saturating_sub(u64::from(age));
        let real = prune(&self.store.inner, Timestamp(before));
        let mut removed = 0u64;
        for space in &mut self.spaces {
            let bookings = space.bookings.len();
            space
                .bookings
                .retain(|_, m| m.expires.max(u64::from(m.generation)) >= before);
            let verifiers = space.verifiers.len();
            space
                .verifiers
                .retain(|_, v| v.start.saturating_add(v.secs) >= before);
            let actors = space.actors.len();
            space
                .actors
                .retain(|_, v| v.start.saturating_add(v.secs) >= before);
            let gone = bookings
                .saturating_sub(space.bookings.len())
                .saturating_add(verifiers.saturating_sub(space.verifiers.len()))
                .saturating_add(actors.saturating_sub(space.actors.len()));
            removed = removed.saturating_add(u64::try_from(gone).unwrap_or(u64::MAX));
        }
        let real = setup(real)?;
        ensure!(
            real == removed,
            "prune before {before} removed {real}, the model {removed}"
        );
        Ok((Ok(None), Ok(None)))
    }
}
