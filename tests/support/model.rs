//! A plain reference model of the operations, and a runner that drives the crate on a
//! fault-injecting memory store beside it and checks that both agree. Shared by the
//! proptest state-machine test (`tests/model.rs`) and the `verify_sequence` fuzz target.

use std::collections::HashMap;
use std::sync::Mutex;

use handover_code::record::{Booking, Record, State, Version};
use handover_code::store::{Key, Store, Swap};
use handover_code::{
    BookingId, Code, Context, Digits, Error, KeyId, Keyring, MemoryStore, Outcome, Policy, Secret,
    Service, Timestamp, VerifierId, derive::derive,
};

/// What a step types.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Guess {
    Right,
    Wrong(u16),
    /// The previous generation's code.
    Old,
    Malformed,
}

/// A store fault armed for the next primitive of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Fault {
    LoadError,
    SwapError,
    SpuriousConflict,
}

#[derive(Clone, Copy, Debug)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Op {
    Issue {
        booking: u8,
        ttl: u16,
    },
    Resend {
        booking: u8,
    },
    Reissue {
        booking: u8,
        ttl: u16,
    },
    Revoke {
        booking: u8,
    },
    Verify {
        booking: u8,
        guess: Guess,
        verifier: Option<u8>,
    },
    Time {
        seconds: i16,
    },
    Arm(Fault),
}

pub const BOOKINGS: u8 = 4;
pub const VERIFIERS: u8 = 2;
const ATTEMPTS: u8 = 3;
const CAP: u16 = 5;
const BUDGET: u32 = 4;
const WINDOW: u64 = 100;

#[derive(Debug, thiserror::Error)]
#[error("injected fault")]
pub struct Injected;

/// The memory store with one armed fault at a time.
#[derive(Default)]
pub struct Faulty {
    pub inner: MemoryStore,
    armed: Mutex<Option<Fault>>,
}

impl Faulty {
    fn take(&self, fault: Fault) -> bool {
        let mut armed = self.armed.lock().unwrap();
        if *armed == Some(fault) {
            *armed = None;
            true
        } else {
            false
        }
    }
}

impl Store for Faulty {
    type Error = Injected;
    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Injected> {
        if self.take(Fault::LoadError) {
            return Err(Injected);
        }
        Ok(Store::load(&self.inner, key).unwrap())
    }
    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Injected> {
        if self.take(Fault::SwapError) {
            return Err(Injected);
        }
        if self.take(Fault::SpuriousConflict) {
            return Ok(Swap::Conflict);
        }
        Ok(Store::compare_and_swap(&self.inner, key, expected, record, new).unwrap())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Model {
    generation: u32,
    failures: u8,
    lifetime: u16,
    state: State,
    issued: u64,
    expires: u64,
}

fn booking_name(b: u8) -> [u8; 2] {
    [b'B', b % BOOKINGS]
}

fn verifier_name(v: u8) -> [u8; 2] {
    [b'V', v % VERIFIERS]
}

fn left(m: &Model) -> u8 {
    let generation = ATTEMPTS.saturating_sub(m.failures);
    let lifetime = CAP.saturating_sub(m.lifetime);
    generation.min(u8::try_from(lifetime).unwrap_or(u8::MAX))
}

/// What the model answers for a verification that reads no input: `None` if a comparison is due.
fn closed(m: Option<&Model>, now: u64) -> Option<Result<Outcome, &'static str>> {
    let Some(m) = m else {
        return Some(Ok(Outcome::UnknownBooking));
    };
    match m.state {
        State::Redeemed => Some(Ok(Outcome::AlreadyRedeemed)),
        State::Revoked => Some(Ok(Outcome::Revoked)),
        State::Locked => Some(Ok(Outcome::Locked)),
        State::Active if now >= m.expires => Some(Ok(Outcome::Expired)),
        State::Active if left(m) == 0 => Some(Ok(Outcome::Locked)),
        State::Active if now < m.issued => Some(Err("clock")),
        State::Active => None,
    }
}

fn error_name<S>(e: &Error<S>) -> &'static str {
    match e {
        Error::Malformed(_) => "malformed",
        Error::Clock => "clock",
        Error::AlreadyIssued => "already issued",
        Error::UnknownBooking => "unknown booking",
        Error::Inactive(_) => "inactive",
        Error::Validity => "validity",
        Error::Store(_) => "store",
        Error::Contention => "contention",
        _ => "other",
    }
}

pub struct Harness {
    keys: Keyring,
    store: Faulty,
    now: u64,
    bookings: HashMap<u8, Model>,
    verifiers: HashMap<u8, (u64, u32)>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        Self {
            keys: Keyring::new(KeyId(1), Secret::from_bytes(&[0x6d; 32]).unwrap()),
            store: Faulty::default(),
            now: 1_000,
            bookings: HashMap::new(),
            verifiers: HashMap::new(),
        }
    }

    fn service(&self) -> Service<'_> {
        let policy = Policy::new(Digits::Four)
            .with_attempts(ATTEMPTS)
            .and_then(|p| p.with_lifetime_cap(CAP))
            .and_then(|p| p.with_verifier_budget(BUDGET, WINDOW))
            .and_then(|p| p.with_max_retries(2))
            .unwrap();
        Service::new(&self.keys, policy, Context::new("model").unwrap())
    }

    fn code(&self, b: u8, generation: u32) -> Code {
        let name = booking_name(b);
        derive(
            self.keys.current().1,
            Context::new("model").unwrap(),
            BookingId::new(&name).unwrap(),
            generation,
            Digits::Four,
        )
    }

    /// Reads the model back from the store after a fault, and checks that whatever landed
    /// is one of the states the model allows: counts never go down, never past limits.
    fn resync(&mut self) {
        for b in 0..BOOKINGS {
            let name = booking_name(b);
            let stored = Store::load(
                &self.store.inner,
                Key::Booking(BookingId::new(&name).unwrap()),
            )
            .unwrap();
            let before = self.bookings.get(&b).copied();
            match (stored, before) {
                (None, None) => {}
                (Some((Record::Booking(r), _)), before) => {
                    let now = model_of(&r);
                    if let Some(before) = before {
                        assert!(now.lifetime >= before.lifetime, "lifetime count went down");
                        assert!(now.generation >= before.generation, "generation went down");
                    }
                    assert!(
                        now.lifetime <= CAP && now.failures <= ATTEMPTS,
                        "count past its limit: {now:?}"
                    );
                    self.bookings.insert(b, now);
                }
                other => panic!("store and model disagree on existence: {other:?}"),
            }
        }
        for v in 0..VERIFIERS {
            let name = verifier_name(v);
            let stored = Store::load(
                &self.store.inner,
                Key::Verifier(VerifierId::new(&name).unwrap()),
            )
            .unwrap();
            if let Some((Record::Verifier(r), _)) = stored {
                assert!(r.failures <= BUDGET, "verifier past its budget");
                self.verifiers.insert(v, (r.window_start.0, r.failures));
            }
        }
    }

    /// Every stored record equals the model's.
    fn check_stored(&self) {
        for b in 0..BOOKINGS {
            let name = booking_name(b);
            let stored = Store::load(
                &self.store.inner,
                Key::Booking(BookingId::new(&name).unwrap()),
            )
            .unwrap();
            let stored = stored.map(|(r, _)| match r {
                Record::Booking(r) => model_of(&r),
                other => panic!("a verifier record under a booking key: {other:?}"),
            });
            assert_eq!(stored, self.bookings.get(&b).copied(), "booking {b}");
        }
        for v in 0..VERIFIERS {
            let name = verifier_name(v);
            let stored = Store::load(
                &self.store.inner,
                Key::Verifier(VerifierId::new(&name).unwrap()),
            )
            .unwrap();
            let stored = stored.map(|(r, _)| match r {
                Record::Verifier(r) => (r.window_start.0, r.failures),
                other => panic!("a booking record under a verifier key: {other:?}"),
            });
            assert_eq!(stored, self.verifiers.get(&v).copied(), "verifier {v}");
        }
    }

    pub fn step(&mut self, op: Op) {
        let faulted = match op {
            Op::Arm(fault) => {
                *self.store.armed.lock().unwrap() = Some(fault);
                return;
            }
            Op::Time { seconds } => {
                self.now = self.now.saturating_add_signed(i64::from(seconds));
                return;
            }
            _ => self.store.armed.lock().unwrap().is_some(),
        };
        let before = (self.bookings.clone(), self.verifiers.clone());
        let (real, expected) = self.apply(op);
        *self.store.armed.lock().unwrap() = None;
        match (&real, &expected) {
            (Err(e), _) if matches!(*e, "store" | "contention") => {
                assert!(faulted, "{op:?}: a fault with none injected: {e}");
                (self.bookings, self.verifiers) = before;
                self.resync();
            }
            _ => {
                if faulted && real != expected {
                    // A spurious conflict that a retry absorbed changes nothing.
                    panic!("{op:?} under a fault: crate {real:?}, model {expected:?}");
                }
                assert_eq!(real, expected, "{op:?} at {}", self.now);
                self.check_stored();
            }
        }
        if let Ok(Some(Outcome::Accepted)) = real {
            assert!(
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

    /// Runs `op` on the crate and on the model; answers (crate, model).
    #[allow(clippy::type_complexity)]
    fn apply(
        &mut self,
        op: Op,
    ) -> (
        Result<Option<Outcome>, &'static str>,
        Result<Option<Outcome>, &'static str>,
    ) {
        let service = self.service();
        let now = Timestamp(self.now);
        match op {
            Op::Issue { booking, ttl } => {
                let name = booking_name(booking);
                let real = service.issue(
                    &self.store,
                    BookingId::new(&name).unwrap(),
                    Timestamp(self.now + u64::from(ttl)),
                    now,
                );
                let expected = match self.bookings.get(&(booking % BOOKINGS)) {
                    Some(_) => Err("already issued"),
                    None if ttl == 0 => Err("validity"),
                    None => Ok(None),
                };
                if let Ok(code) = &real {
                    let m = Model {
                        generation: 0,
                        failures: 0,
                        lifetime: 0,
                        state: State::Active,
                        issued: self.now,
                        expires: self.now + u64::from(ttl),
                    };
                    self.bookings.insert(booking % BOOKINGS, m);
                    assert_eq!(code, &self.code(booking, 0));
                }
                (real.map(|_| None).map_err(|e| error_name(&e)), expected)
            }
            Op::Resend { booking } => {
                let name = booking_name(booking);
                let real = service.resend(&self.store, BookingId::new(&name).unwrap(), now);
                let m = self.bookings.get(&(booking % BOOKINGS)).copied();
                let expected = match (m, closed(m.as_ref(), self.now)) {
                    (None, _) => Err("unknown booking"),
                    (Some(_), None | Some(Err(_))) => Ok(None),
                    (Some(_), Some(_)) => Err("inactive"),
                };
                if let (Ok(code), Some(m)) = (&real, m) {
                    assert_eq!(
                        code,
                        &self.code(booking, m.generation),
                        "resend gave another code"
                    );
                }
                (real.map(|_| None).map_err(|e| error_name(&e)), expected)
            }
            Op::Reissue { booking, ttl } => {
                let name = booking_name(booking);
                let real = service.reissue(
                    &self.store,
                    BookingId::new(&name).unwrap(),
                    Timestamp(self.now + u64::from(ttl)),
                    now,
                );
                let key = booking % BOOKINGS;
                let expected = match self.bookings.get(&key) {
                    None => Err("unknown booking"),
                    Some(m)
                        if matches!(m.state, State::Redeemed | State::Revoked)
                            || m.lifetime >= CAP =>
                    {
                        Err("inactive")
                    }
                    Some(_) if ttl == 0 => Err("validity"),
                    Some(_) => Ok(None),
                };
                if real.is_ok() {
                    let m = self.bookings.get_mut(&key).unwrap();
                    *m = Model {
                        generation: m.generation + 1,
                        failures: 0,
                        state: State::Active,
                        issued: self.now,
                        expires: self.now + u64::from(ttl),
                        ..*m
                    };
                }
                (real.map(|_| None).map_err(|e| error_name(&e)), expected)
            }
            Op::Revoke { booking } => {
                let name = booking_name(booking);
                let real = service.revoke(&self.store, BookingId::new(&name).unwrap());
                let expected = match self.bookings.get_mut(&(booking % BOOKINGS)) {
                    None => Err("unknown booking"),
                    Some(m) if m.state == State::Redeemed => Err("inactive"),
                    Some(m) => {
                        if real.is_ok() {
                            m.state = State::Revoked;
                        }
                        Ok(None)
                    }
                };
                (real.map(|()| None).map_err(|e| error_name(&e)), expected)
            }
            Op::Verify {
                booking,
                guess,
                verifier,
            } => self.verify(booking, guess, verifier),
            Op::Time { .. } | Op::Arm(_) => (Ok(None), Ok(None)),
        }
    }

    #[allow(clippy::type_complexity)]
    fn verify(
        &mut self,
        booking: u8,
        guess: Guess,
        verifier: Option<u8>,
    ) -> (
        Result<Option<Outcome>, &'static str>,
        Result<Option<Outcome>, &'static str>,
    ) {
        let key = booking % BOOKINGS;
        let m = self.bookings.get(&key).copied();
        let generation = m.map_or(0, |m| m.generation);
        let typed = match guess {
            Guess::Right => self.code(booking, generation).expose().to_owned(),
            Guess::Old => self
                .code(booking, generation.wrapping_sub(1))
                .expose()
                .to_owned(),
            Guess::Wrong(k) => {
                let right: u32 = self.code(booking, generation).expose().parse().unwrap();
                format!("{:04}", (right + 1 + u32::from(k) % 9_999) % 10_000)
            }
            Guess::Malformed => "12a4".to_owned(),
        };
        let is_right = typed == self.code(booking, generation).expose();
        let name = booking_name(booking);
        let vname = verifier.map(verifier_name);
        let vid = vname.as_ref().map(|n| VerifierId::new(n).unwrap());
        let real = self.service().verify(
            &self.store,
            BookingId::new(&name).unwrap(),
            &typed,
            vid,
            Timestamp(self.now),
        );
        let real = real.map(Some).map_err(|e| error_name(&e));

        // The model.
        if let Some(answer) = closed(m.as_ref(), self.now) {
            return (real, answer.map(Some));
        }
        if matches!(guess, Guess::Malformed) {
            return (real, Err("malformed"));
        }
        let mut reserved = None;
        if let Some(v) = verifier {
            let window = self.now - self.now % WINDOW;
            let (start, failures) = self
                .verifiers
                .get(&(v % VERIFIERS))
                .copied()
                .unwrap_or((window, 0));
            let (start, failures) = if start >= window {
                (start, failures)
            } else {
                (window, 0)
            };
            if failures >= BUDGET {
                return (real, Ok(Some(Outcome::VerifierSuspended)));
            }
            self.verifiers.insert(v % VERIFIERS, (start, failures + 1));
            reserved = Some((v % VERIFIERS, start));
        }
        let mut next = m.unwrap();
        let outcome = if is_right {
            next.state = State::Redeemed;
            Outcome::Accepted
        } else {
            next.failures += 1;
            next.lifetime += 1;
            if left(&next) == 0 {
                next.state = State::Locked;
            }
            Outcome::Rejected {
                attempts_left: left(&next),
            }
        };
        self.bookings.insert(key, next);
        if let (Some((v, start)), false) = (reserved, outcome.is_failure()) {
            let entry = self.verifiers.get_mut(&v).unwrap();
            if entry.0 == start && entry.1 > 0 {
                entry.1 -= 1;
            }
        }
        (real, Ok(Some(outcome)))
    }

    pub fn run(ops: &[Op]) {
        let mut harness = Self::new();
        for op in ops {
            harness.step(*op);
        }
        harness.resync();
    }
}

fn model_of(r: &Booking) -> Model {
    Model {
        generation: r.generation,
        failures: r.failures,
        lifetime: r.lifetime_failures,
        state: r.state,
        issued: r.issued_at.0,
        expires: r.expires_at.0,
    }
}
