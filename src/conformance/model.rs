//! Model-based checking: operation sequences driven through [`Service`] on any [`Store`],
//! compared step by step with a plain model of the rules.
//!
//! The model is written apart from the crate's own decision code, as simply as the rules can
//! be said: it knows four bookings and two verifiers, 4-digit codes, 3 attempts per
//! generation, a lifetime cap of 5 and a budget of 4 wrong codes per verifier per 100-second
//! window. Each [`Op`] runs on the crate and on the model; their answers must agree, and the
//! store must then hold exactly the model's records. [`Op::Arm`] makes the next store call
//! fail or conflict: an operation that then answers an error must leave only states the
//! model allows (counts never go down, never past their limits), and nothing is ever
//! accepted but the right code.
//!
//! The crate's proptest state machine and its `verify_sequence` fuzz target both run this;
//! with feature `arbitrary`, [`Op`] is `Arbitrary`, so a host's own fuzz harness can drive
//! its store the same way:
//!
//! ```
//! use handover_code::conformance::model::{check_sequence, Guess, Op};
//! use handover_code::MemoryStore;
//!
//! let ops = [
//!     Op::Issue { booking: 0, ttl: 300 },
//!     Op::Verify { booking: 0, guess: Guess::Wrong(7), verifier: Some(1) },
//!     Op::Verify { booking: 0, guess: Guess::Right, verifier: None },
//!     Op::Verify { booking: 0, guess: Guess::Right, verifier: None },
//! ];
//! check_sequence(MemoryStore::new(), &ops).unwrap();
//! ```

use core::cell::Cell;
use std::borrow::ToOwned;
use std::collections::HashMap;
use std::format;
use std::string::String;

use super::Failure;
use crate::code::{Code, Digits};
use crate::decide::Outcome;
use crate::derive::{BookingId, Context, derive};
use crate::error::Error;
use crate::keyring::{KeyId, Keyring};
use crate::policy::Policy;
use crate::record::{Booking, Record, State, Version};
use crate::secret::Secret;
use crate::store::{Key, Store, Swap, VerifierId};
use crate::time::Timestamp;
use crate::verify::Service;

/// What a verification types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Guess {
    /// The current generation's code.
    Right,
    /// A code other than the right one, chosen by the number.
    Wrong(u16),
    /// The previous generation's code.
    Old,
    /// Input that is not a code.
    Malformed,
}

/// A store fault, armed for the next store call of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Fault {
    /// The next `load` fails.
    LoadError,
    /// The next `compare_and_swap` fails without writing.
    SwapError,
    /// The next `compare_and_swap` answers a conflict without writing.
    SpuriousConflict,
}

/// One step. Booking and verifier numbers are taken modulo [`BOOKINGS`] and [`VERIFIERS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// Issue, valid for `ttl` seconds from now.
    Issue {
        /// Which booking.
        booking: u8,
        /// Seconds of validity (0 is refused).
        ttl: u16,
    },
    /// Resend.
    Resend {
        /// Which booking.
        booking: u8,
    },
    /// Re-issue, valid for `ttl` seconds from now.
    Reissue {
        /// Which booking.
        booking: u8,
        /// Seconds of validity (0 is refused).
        ttl: u16,
    },
    /// Revoke.
    Revoke {
        /// Which booking.
        booking: u8,
    },
    /// Verify a guess, with or without a verifier.
    Verify {
        /// Which booking.
        booking: u8,
        /// What is typed.
        guess: Guess,
        /// Which verifier, if any.
        verifier: Option<u8>,
    },
    /// Move the clock, either way.
    Time {
        /// Seconds to add (negative: back).
        seconds: i16,
    },
    /// Arm a fault for the next store call of its kind.
    Arm(Fault),
}

/// Bookings the model knows.
pub const BOOKINGS: u8 = 4;
/// Verifiers the model knows.
pub const VERIFIERS: u8 = 2;
const ATTEMPTS: u8 = 3;
const CAP: u16 = 5;
const BUDGET: u32 = 4;
const WINDOW: u64 = 100;
const CONTEXT: &str = "model";

/// Runs `ops` on a fresh, empty `store` and on the model.
///
/// # Errors
///
/// The first disagreement, or a store error that was not injected, as a [`Failure`].
pub fn check_sequence<S: Store>(store: S, ops: &[Op]) -> Result<(), Failure> {
    let mut harness = Harness::new(store)?;
    for op in ops {
        harness.step(*op)?;
    }
    harness.resync()
}

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(Failure { check: "model", detail: format!($($why)+) });
        }
    };
}

/// An armed fault or the store's own error.
#[derive(Debug, thiserror::Error)]
enum FaultyError<E> {
    #[error("injected fault")]
    Injected,
    #[error("store failed")]
    Inner(#[source] E),
}

/// The store under test, with one armed fault at a time.
struct Faulty<S> {
    inner: S,
    armed: Cell<Option<Fault>>,
}

impl<S> Faulty<S> {
    fn take(&self, fault: Fault) -> bool {
        let hit = self.armed.get() == Some(fault);
        if hit {
            self.armed.set(None);
        }
        hit
    }
}

impl<S: Store> Store for Faulty<S> {
    type Error = FaultyError<S::Error>;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        if self.take(Fault::LoadError) {
            return Err(FaultyError::Injected);
        }
        self.inner.load(key).map_err(FaultyError::Inner)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        if self.take(Fault::SwapError) {
            return Err(FaultyError::Injected);
        }
        if self.take(Fault::SpuriousConflict) {
            return Ok(Swap::Conflict);
        }
        self.inner
            .compare_and_swap(key, expected, record, new)
            .map_err(FaultyError::Inner)
    }
}

/// The model's booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Model {
    generation: u32,
    failures: u8,
    lifetime: u16,
    state: State,
    issued: u64,
    expires: u64,
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

fn booking_name(b: u8) -> [u8; 2] {
    [b'B', b.checked_rem(BOOKINGS).unwrap_or_default()]
}

fn verifier_name(v: u8) -> [u8; 2] {
    [b'V', v.checked_rem(VERIFIERS).unwrap_or_default()]
}

fn left(m: &Model) -> u8 {
    let generation = ATTEMPTS.saturating_sub(m.failures);
    let lifetime = CAP.saturating_sub(m.lifetime);
    generation.min(u8::try_from(lifetime).unwrap_or(u8::MAX))
}

/// What the model answers without reading input; `None` if a comparison is due.
fn closed(m: Option<&Model>, now: u64) -> Option<Answer> {
    let Some(m) = m else {
        return Some(Ok(Some(Outcome::UnknownBooking)));
    };
    match m.state {
        State::Redeemed => Some(Ok(Some(Outcome::AlreadyRedeemed))),
        State::Revoked => Some(Ok(Some(Outcome::Revoked))),
        State::Locked => Some(Ok(Some(Outcome::Locked))),
        State::Active if now >= m.expires => Some(Ok(Some(Outcome::Expired))),
        State::Active if left(m) == 0 => Some(Ok(Some(Outcome::Locked))),
        State::Active if now < m.issued => Some(Err("clock")),
        State::Active => None,
    }
}

/// An answer, with errors reduced to their kind so crate and model can be compared.
type Answer = Result<Option<Outcome>, &'static str>;

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

fn setup<T, E: core::fmt::Display>(r: Result<T, E>) -> Result<T, Failure> {
    r.map_err(super::setup_failure)
}

struct Harness<S> {
    keys: Keyring,
    store: Faulty<S>,
    now: u64,
    bookings: HashMap<u8, Model>,
    verifiers: HashMap<u8, (u64, u32)>,
}

impl<S: Store> Harness<S> {
    fn new(store: S) -> Result<Self, Failure> {
        Ok(Self {
            keys: Keyring::new(KeyId(1), setup(Secret::from_bytes(&[0x6d; 32]))?),
            store: Faulty {
                inner: store,
                armed: Cell::new(None),
            },
            now: 1_000,
            bookings: HashMap::new(),
            verifiers: HashMap::new(),
        })
    }

    fn service(&self) -> Result<Service<'_>, Failure> {
        let policy = Policy::new(Digits::Four)
            .with_attempts(ATTEMPTS)
            .and_then(|p| p.with_lifetime_cap(CAP))
            .and_then(|p| p.with_verifier_budget(BUDGET, WINDOW))
            .and_then(|p| p.with_max_retries(2));
        Ok(Service::new(
            &self.keys,
            setup(policy)?,
            setup(Context::new(CONTEXT))?,
        ))
    }

    fn code(&self, b: u8, generation: u32) -> Result<Code, Failure> {
        let name = booking_name(b);
        let (context, booking) = (setup(Context::new(CONTEXT))?, setup(BookingId::new(&name))?);
        Ok(derive(
            self.keys.current().1,
            context,
            booking,
            generation,
            Digits::Four,
        ))
    }

    /// The stored booking and verifier records, as the model writes them.
    #[allow(clippy::type_complexity)]
    fn stored(&self) -> Result<(HashMap<u8, Model>, HashMap<u8, (u64, u32)>), Failure> {
        let mut bookings = HashMap::new();
        for b in 0..BOOKINGS {
            let name = booking_name(b);
            match setup(
                self.store
                    .inner
                    .load(Key::Booking(setup(BookingId::new(&name))?)),
            )? {
                None => {}
                Some((Record::Booking(r), _)) => {
                    bookings.insert(b, model_of(&r));
                }
                Some(other) => ensure!(false, "a verifier record under booking {b}: {other:?}"),
            }
        }
        let mut verifiers = HashMap::new();
        for v in 0..VERIFIERS {
            let name = verifier_name(v);
            match setup(
                self.store
                    .inner
                    .load(Key::Verifier(setup(VerifierId::new(&name))?)),
            )? {
                None => {}
                Some((Record::Verifier(r), _)) => {
                    verifiers.insert(v, (r.window_start.0, r.failures));
                }
                Some(other) => ensure!(false, "a booking record under verifier {v}: {other:?}"),
            }
        }
        Ok((bookings, verifiers))
    }

    /// After a fault: takes the model from the store, checking that what landed is a state
    /// the model allows: counts never go down, never past limits, nothing appears.
    fn resync(&mut self) -> Result<(), Failure> {
        let (bookings, verifiers) = self.stored()?;
        for (b, now) in &bookings {
            if let Some(before) = self.bookings.get(b) {
                ensure!(
                    now.lifetime >= before.lifetime,
                    "booking {b}: lifetime count went down"
                );
                ensure!(
                    now.generation >= before.generation,
                    "booking {b}: generation went down"
                );
            }
            ensure!(
                now.lifetime <= CAP && now.failures <= ATTEMPTS,
                "booking {b}: count past its limit: {now:?}"
            );
        }
        for (v, (_, failures)) in &verifiers {
            ensure!(*failures <= BUDGET, "verifier {v} past its budget");
        }
        (self.bookings, self.verifiers) = (bookings, verifiers);
        Ok(())
    }

    fn step(&mut self, op: Op) -> Result<(), Failure> {
        let faulted = match op {
            Op::Arm(fault) => {
                self.store.armed.set(Some(fault));
                return Ok(());
            }
            Op::Time { seconds } => {
                self.now = self.now.saturating_add_signed(i64::from(seconds));
                return Ok(());
            }
            _ => self.store.armed.get().is_some(),
        };
        let before = (self.bookings.clone(), self.verifiers.clone());
        let (real, expected) = self.apply(op)?;
        self.store.armed.set(None);
        if let Err("store" | "contention") = real {
            ensure!(faulted, "{op:?}: a store fault with none injected");
            // The model ran ahead on the assumption that the crate would succeed; take it
            // back, then judge what landed against where it was.
            (self.bookings, self.verifiers) = before;
            return self.resync();
        }
        ensure!(
            real == expected,
            "{op:?} at {}: crate {real:?}, model {expected:?}",
            self.now
        );
        let stored = self.stored()?;
        ensure!(
            stored.0 == self.bookings,
            "after {op:?}: stored {:?}, model {:?}",
            stored.0,
            self.bookings
        );
        ensure!(
            stored.1 == self.verifiers,
            "after {op:?}: stored {:?}, model {:?}",
            stored.1,
            self.verifiers
        );
        if real == Ok(Some(Outcome::Accepted)) {
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
        Ok(())
    }

    /// Runs `op` on the crate and on the model; answers (crate, model).
    fn apply(&mut self, op: Op) -> Result<(Answer, Answer), Failure> {
        let service = self.service()?;
        let now = Timestamp(self.now);
        let key = match op {
            Op::Issue { booking, .. }
            | Op::Resend { booking }
            | Op::Reissue { booking, .. }
            | Op::Revoke { booking } => booking.checked_rem(BOOKINGS).unwrap_or_default(),
            Op::Verify {
                booking,
                guess,
                verifier,
            } => return self.verify(booking, guess, verifier),
            Op::Time { .. } | Op::Arm(_) => return Ok((Ok(None), Ok(None))),
        };
        let name = booking_name(key);
        let id = setup(BookingId::new(&name))?;
        let model = self.bookings.get(&key).copied();
        let answers = match op {
            Op::Issue { ttl, .. } => {
                let until = self.now.saturating_add(u64::from(ttl));
                let real = service.issue(&self.store, id, Timestamp(until), now);
                let expected = match model {
                    Some(_) => Err("already issued"),
                    None if ttl == 0 => Err("validity"),
                    None => Ok(None),
                };
                if let Ok(code) = &real {
                    ensure!(*code == self.code(key, 0)?, "issue gave another code");
                    let m = Model {
                        generation: 0,
                        failures: 0,
                        lifetime: 0,
                        state: State::Active,
                        issued: self.now,
                        expires: until,
                    };
                    self.bookings.insert(key, m);
                }
                (real.map(|_| None).map_err(|e| error_name(&e)), expected)
            }
            Op::Resend { .. } => {
                let real = service.resend(&self.store, id, now);
                let expected = match (model, closed(model.as_ref(), self.now)) {
                    (None, _) => Err("unknown booking"),
                    (Some(_), None | Some(Err(_))) => Ok(None),
                    (Some(_), Some(_)) => Err("inactive"),
                };
                if let (Ok(code), Some(m)) = (&real, model) {
                    ensure!(
                        *code == self.code(key, m.generation)?,
                        "resend gave another code"
                    );
                }
                (real.map(|_| None).map_err(|e| error_name(&e)), expected)
            }
            Op::Reissue { ttl, .. } => {
                let until = self.now.saturating_add(u64::from(ttl));
                let real = service.reissue(&self.store, id, Timestamp(until), now);
                let expected = match model {
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
                if let (Ok(_), Some(m)) = (&real, model) {
                    let generation = m.generation.saturating_add(1);
                    let next = Model {
                        generation,
                        failures: 0,
                        state: State::Active,
                        issued: self.now,
                        expires: until,
                        ..m
                    };
                    self.bookings.insert(key, next);
                }
                (real.map(|_| None).map_err(|e| error_name(&e)), expected)
            }
            Op::Revoke { .. } => {
                let real = service.revoke(&self.store, id);
                let expected = match model {
                    None => Err("unknown booking"),
                    Some(m) if m.state == State::Redeemed => Err("inactive"),
                    Some(m) => {
                        if real.is_ok() {
                            self.bookings.insert(
                                key,
                                Model {
                                    state: State::Revoked,
                                    ..m
                                },
                            );
                        }
                        Ok(None)
                    }
                };
                (real.map(|()| None).map_err(|e| error_name(&e)), expected)
            }
            Op::Verify { .. } | Op::Time { .. } | Op::Arm(_) => (Ok(None), Ok(None)),
        };
        Ok(answers)
    }

    fn verify(
        &mut self,
        booking: u8,
        guess: Guess,
        verifier: Option<u8>,
    ) -> Result<(Answer, Answer), Failure> {
        let key = booking.checked_rem(BOOKINGS).unwrap_or_default();
        let model = self.bookings.get(&key).copied();
        let generation = model.map_or(0, |m| m.generation);
        let right = self.code(key, generation)?;
        let typed: String = match guess {
            Guess::Right => right.expose().to_owned(),
            Guess::Old => self
                .code(key, generation.wrapping_sub(1))?
                .expose()
                .to_owned(),
            Guess::Wrong(k) => {
                let value: u32 = setup(right.expose().parse::<u32>())?;
                let other = value
                    .saturating_add(1)
                    .saturating_add(u32::from(k).checked_rem(9_999).unwrap_or_default());
                format!("{:04}", other.checked_rem(10_000).unwrap_or_default())
            }
            Guess::Malformed => "12a4".to_owned(),
        };
        let is_right = typed == right.expose();
        let name = booking_name(key);
        let vname = verifier.map(verifier_name);
        let vid = match &vname {
            Some(n) => Some(setup(VerifierId::new(n))?),
            None => None,
        };
        let service = self.service()?;
        let real = service.verify(
            &self.store,
            setup(BookingId::new(&name))?,
            &typed,
            vid,
            Timestamp(self.now),
        );
        let real = real.map(Some).map_err(|e| error_name(&e));

        // The model.
        if let Some(answer) = closed(model.as_ref(), self.now) {
            return Ok((real, answer));
        }
        if guess == Guess::Malformed {
            return Ok((real, Err("malformed")));
        }
        let Some(mut next) = model else {
            return Ok((real, Ok(Some(Outcome::UnknownBooking))));
        };
        let mut reserved = None;
        if let Some(v) = verifier.map(|v| v.checked_rem(VERIFIERS).unwrap_or_default()) {
            let window = self
                .now
                .saturating_sub(self.now.checked_rem(WINDOW).unwrap_or_default());
            let (start, failures) = match self.verifiers.get(&v) {
                Some(&(start, failures)) if start >= window => (start, failures),
                _ => (window, 0),
            };
            if failures >= BUDGET {
                return Ok((real, Ok(Some(Outcome::VerifierSuspended))));
            }
            self.verifiers
                .insert(v, (start, failures.saturating_add(1)));
            reserved = Some((v, start));
        }
        let outcome = if is_right {
            next.state = State::Redeemed;
            Outcome::Accepted
        } else {
            next.failures = next.failures.saturating_add(1);
            next.lifetime = next.lifetime.saturating_add(1);
            if left(&next) == 0 {
                next.state = State::Locked;
            }
            Outcome::Rejected {
                attempts_left: left(&next),
            }
        };
        self.bookings.insert(key, next);
        let refund = reserved.filter(|_| !outcome.is_failure());
        if let Some(entry) =
            refund.and_then(|(v, start)| self.verifiers.get_mut(&v).filter(|e| e.0 == start))
        {
            entry.1 = entry.1.saturating_sub(1);
        }
        Ok((real, Ok(Some(outcome))))
    }
}
