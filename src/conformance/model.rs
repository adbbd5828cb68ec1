//! Model-based checking: operation sequences driven through [`Service`] on any [`Store`],
//! compared step by step with a plain model of the rules.
//!
//! The model is written apart from the crate's own decision code, as simply as the rules can
//! be said. Four services share the store: service 0 and service 1 hand over different
//! things (contexts `model/a` and `model/b`) under different policies and budgets, and each
//! context is checked against its own model, which never sees the other's, so any
//! cross-talk between contexts fails the check. Service 2 works on service 0's context
//! under a looser policy, so its model applies the limits the records were written with,
//! not its own. Service 3 works on service 1's context but keeps its verifiers' budgets in
//! the scope of service 0 (`model/a`), named on purpose, so those budgets are shared. Each
//! context knows four bookings, two verifiers and four request ids. The services' clock-skew
//! tolerances differ (5, 0, 30 and 5 seconds), and the clock moves both ways, so a
//! verification or an override a little before a booking's issue time is judged by one
//! service and refused by another.
//!
//! Each [`Op`] runs on the crate and on the model; their answers must agree, and the store
//! must then hold exactly the model's records. [`Op::Arm`] makes a store call fail, conflict,
//! or cut the operation off after a write has landed (as a dropped future or a timeout
//! would): an operation a fault reached must leave only states the model allows (counts
//! never go down, never past their limits), and nothing is ever accepted but the right code.
//! The order of a verification's store calls is checked too, in the mode the store runs
//! ([`Store::TRANSACTIONS`]): a budgeted verification reads the verifier first, a suspended
//! one reads nothing else; one key at a time, a wrong code's failure is written only after
//! the verifier was charged for it; in one transaction, a comparison's answer is written in
//! one batch with the verifier's failure (a wrong code) or its version checked (a right
//! code). Whatever fault fired, a rejection is answered only when its last store call
//! landed the verifier's record (its failure settled). Run a store with transactions
//! through [`WithoutTransactions`](super::WithoutTransactions) to check the other mode.
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
//!     Op::Issue { service: 0, booking: 0, ttl: 300 },
//!     Op::Issue { service: 1, booking: 0, ttl: 300 },
//!     Op::Verify { service: 0, booking: 0, guess: Guess::Wrong(7), verifier: Some(1), request: None },
//!     Op::Verify { service: 1, booking: 0, guess: Guess::Right, verifier: None, request: Some(2) },
//!     Op::Verify { service: 1, booking: 0, guess: Guess::Right, verifier: None, request: Some(2) },
//! ];
//! check_sequence(MemoryStore::new(), &ops).unwrap();
//! ```

use core::cell::{Cell, RefCell};
use std::borrow::ToOwned;
use std::collections::HashMap;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use super::Failure;
use crate::audit::{Action, AuditEntry, AuditLog, Cursor, Entry};
use crate::code::{Code, Digits};
use crate::decide::{REPLAY_SECS, hold_tag};
use crate::derive::{BookingId, Context, derive};
use crate::error::Error;
use crate::ids::{ActorId, IdBuf, RequestId};
use crate::key::Key;
use crate::keyring::{KeyId, Keyring};
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::record::{Booking, Earlier, Record, State, Tag, Verifier, Version};
use crate::secret::Secret;
use crate::service::Service;
use crate::store::{Prune, Store, Swap, VerifierId};
use crate::time::Timestamp;
use crate::who::Override;
use crate::who::Reason;

/// What a verification types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Guess {
    /// The current generation's code.
    Right,
    /// A code other than the right one, chosen by the number.
    Wrong(u16),
    /// The code of the generation number below the current one.
    Old,
    /// Input that is not a code.
    Malformed,
}

/// A store fault, armed for the next operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Fault {
    /// The next `load` fails.
    LoadError,
    /// The next `compare_and_swap` fails without writing.
    SwapError,
    /// The next `compare_and_swap` answers a conflict without writing.
    SpuriousConflict,
    /// The operation is cut off at its store call number `at` (from 0, modulo 5): that call
    /// fails, after writing if it is a compare-and-swap and `lands` is set. This is what a
    /// dropped future or a timeout after the commit leaves behind.
    Cut {
        /// Which store call of the operation.
        at: u8,
        /// Whether a compare-and-swap there lands before it fails.
        lands: bool,
    },
}

/// One step. Service, booking, verifier and request numbers are taken modulo [`SERVICES`],
/// [`BOOKINGS`], [`VERIFIERS`] and [`REQUESTS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// Issue, valid for `ttl` seconds from now.
    Issue {
        /// Which service.
        service: u8,
        /// Which booking.
        booking: u8,
        /// Seconds of validity (0 is refused).
        ttl: u16,
    },
    /// Resend.
    Resend {
        /// Which service.
        service: u8,
        /// Which booking.
        booking: u8,
    },
    /// Re-issue, valid for `ttl` seconds from now.
    Reissue {
        /// Which service.
        service: u8,
        /// Which booking.
        booking: u8,
        /// Seconds of validity (0 is refused).
        ttl: u16,
    },
    /// Revoke.
    Revoke {
        /// Which service.
        service: u8,
        /// Which booking.
        booking: u8,
    },
    /// Verify a guess, with or without a verifier and a request id.
    Verify {
        /// Which service.
        service: u8,
        /// Which booking.
        booking: u8,
        /// What is typed.
        guess: Guess,
        /// Which verifier, if any.
        verifier: Option<u8>,
        /// Which request id, if any.
        request: Option<u8>,
    },
    /// Move the clock, either way.
    Time {
        /// Seconds to add (negative: back).
        seconds: i16,
    },
    /// Prune every record whose [`Record::prune_at`] is before `age` seconds ago (only in
    /// [`check_sequence_pruning`]; elsewhere it does nothing).
    Prune {
        /// How far before now the cut-off lies.
        age: u16,
    },
    /// Override (redeem without a code) by an actor, for a reason (numbers taken modulo
    /// [`ACTORS`] and the four reasons).
    Override {
        /// Which service.
        service: u8,
        /// Which booking.
        booking: u8,
        /// Which actor.
        actor: u8,
        /// Which reason.
        reason: u8,
    },
    /// Arm a fault for the next operation.
    Arm(Fault),
}

/// Services sharing the store.
pub const SERVICES: u8 = 4;
/// Bookings each context knows.
pub const BOOKINGS: u8 = 4;
/// Verifiers each context knows.
pub const VERIFIERS: u8 = 2;
/// Request ids the model uses.
pub const REQUESTS: u8 = 4;
/// Override actors each budget scope knows.
pub const ACTORS: u8 = 2;

/// One service's configuration: where its bookings and its verifiers' budgets live, and its
/// policy.
struct Lane {
    /// The context's index: where its bookings are.
    ns: usize,
    /// The budget scope's index: where its verifiers' budgets are.
    scope: usize,
    context: &'static str,
    digits: Digits,
    attempts: u8,
    cap: u16,
    budget: (u32, u64),
    sends: (u8, u32),
    /// Overrides: `None` turned off, else the actor budget and whether locked and expired
    /// bookings may be overridden.
    overrides: Option<Overruling>,
    /// Seconds a verification or an override may read before the issue time and be judged.
    skew: u16,
}

/// A lane's overrides: the actor budget (overrides, window), and whether locked and expired
/// bookings may be overridden.
type Overruling = (Option<(u32, u64)>, bool, bool);

/// The two namespaces: contexts, and budget scopes of the same names.
const NAMESPACES: [&str; 2] = ["model/a", "model/b"];

const LANES: [Lane; 4] = [
    Lane {
        ns: 0,
        scope: 0,
        context: "model/a",
        digits: Digits::Four,
        attempts: 3,
        cap: 5,
        budget: (4, 100),
        sends: (3, 60),
        overrides: Some((Some((2, 100)), false, false)),
        skew: 5,
    },
    Lane {
        ns: 1,
        scope: 1,
        context: "model/b",
        digits: Digits::Six,
        attempts: 2,
        cap: 4,
        budget: (2, 50),
        sends: (2, 120),
        overrides: None,
        skew: 0,
    },
    Lane {
        ns: 0,
        scope: 0,
        context: "model/a",
        digits: Digits::Five,
        attempts: 5,
        cap: 15,
        budget: (9, 300),
        sends: (10, 60),
        overrides: Some((None, true, true)),
        skew: 30,
    },
    Lane {
        ns: 1,
        scope: 0,
        context: "model/b",
        digits: Digits::Six,
        attempts: 2,
        cap: 4,
        budget: (3, 200),
        sends: (2, 120),
        overrides: Some((Some((1, 200)), false, true)),
        skew: 5,
    },
];

fn lane(service: u8) -> &'static Lane {
    let i = usize::from(service.checked_rem(SERVICES).unwrap_or_default());
    LANES.get(i).unwrap_or(&LANES[0])
}

/// Runs `ops` on a fresh, empty `store` and on the model. [`Op::Prune`] does nothing.
/// The store's audit log, if it keeps one, is not read: see [`check_sequence_audited`].
///
/// # Errors
///
/// The first disagreement, or a store error that was not injected, as a [`Failure`].
pub fn check_sequence<S: Store>(store: S, ops: &[Op]) -> Result<(), Failure> {
    run(Harness::new(store, None)?, ops)
}

/// [`check_sequence`] for a store that can prune: [`Op::Prune`] prunes it and the model.
///
/// # Errors
///
/// As [`check_sequence`].
pub fn check_sequence_pruning<S: Prune>(store: S, ops: &[Op]) -> Result<(), Failure> {
    run(Harness::new(store, Some(prune_with::<S>))?, ops)
}

fn prune_with<S: Prune>(store: &S, before: Timestamp) -> Result<u64, String> {
    store.prune(before).map_err(|e| e.to_string())
}

/// [`check_sequence_pruning`] for a store that keeps an audit log, and its log checked
/// against the model after every operation: the entries each operation appended must chain
/// every record it changed from the version the model had before to the version it has
/// after (each entry's `prior` the version before it, none for a record that did not
/// change, none at all for a prune, which never touches the log), and, for an operation
/// no fault reached, say what the model did: the booking's action (issued with its
/// generation, resent, re-issued, revoked, accepted, rejected with the attempts left,
/// locked, overridden with its reason) with the verifier, request and actor the operation
/// named, a verifier's slots held before and settled after (a suspension exactly when the
/// model's verifier used up its budget), an actor's override counted. After a fault the
/// chains must still join the model's versions before to what landed.
///
/// # Errors
///
/// As [`check_sequence`].
pub fn check_sequence_audited<S: Prune + AuditLog>(store: S, ops: &[Op]) -> Result<(), Failure> {
    let mut harness = Harness::new(store, Some(prune_with::<S>))?;
    harness.audit = Some(since_with::<S>);
    run(harness, ops)
}

fn since_with<S: AuditLog>(store: &S, cursor: Cursor) -> Result<Vec<AuditEntry>, String> {
    store.since(cursor, usize::MAX).map_err(|e| e.to_string())
}

fn run<S: Store>(mut harness: Harness<S>, ops: &[Op]) -> Result<(), Failure> {
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

/// A store call, as the trace records it: `true` for a compare-and-swap, and the key kind.
type Call = (bool, u8);

/// The key kinds of a booking's and a verifier's record, as [`Key::kind`] numbers them.
const BOOKING_KIND: u8 = 1;
const VERIFIER_KIND: u8 = 2;

/// The store under test, with one armed fault at a time and a trace of the calls.
struct Faulty<S> {
    inner: S,
    armed: Cell<Option<Fault>>,
    fired: Cell<bool>,
    calls: RefCell<Vec<Call>>,
    /// Whether the last compare-and-swap landed (answered `Swapped`, no fault).
    landed: Cell<bool>,
}

impl<S> Faulty<S> {
    /// Whether the armed fault hits this call (`swap`: a compare-and-swap).
    fn hit(&self, swap: bool) -> Option<Fault> {
        let index = self.calls.borrow().len();
        let armed = self.armed.get()?;
        let hit = match armed {
            Fault::LoadError => !swap,
            Fault::SwapError | Fault::SpuriousConflict => swap,
            Fault::Cut { at, .. } => usize::from(at.checked_rem(5).unwrap_or_default()) == index,
        };
        if hit {
            self.armed.set(None);
            self.fired.set(true);
        }
        hit.then_some(armed)
    }

    fn record(&self, swap: bool, key: Key<'_>) {
        self.calls.borrow_mut().push((swap, key.kind()));
    }

    /// Notes whether a compare-and-swap's answer says it landed, and passes it on.
    fn landing<E>(&self, answer: Result<Swap, E>) -> Result<Swap, E> {
        self.landed.set(matches!(answer, Ok(Swap::Swapped)));
        answer
    }
}

impl<S: Store> Store for Faulty<S> {
    type Error = FaultyError<S::Error>;
    const TRANSACTIONS: bool = S::TRANSACTIONS;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        let fault = self.hit(false);
        self.record(false, key);
        if fault.is_some() {
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
        let fault = self.hit(true);
        self.record(true, key);
        self.landing(match fault {
            None => self
                .inner
                .compare_and_swap(key, expected, record, new)
                .map_err(FaultyError::Inner),
            Some(Fault::SpuriousConflict) => Ok(Swap::Conflict),
            Some(Fault::Cut { lands: true, .. }) => self
                .inner
                .compare_and_swap(key, expected, record, new)
                .map_err(FaultyError::Inner)
                .and(Err(FaultyError::Injected)),
            Some(_) => Err(FaultyError::Injected),
        })
    }

    fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Self::Error> {
        let fault = self.hit(true);
        self.record(true, entry.key);
        self.landing(match fault {
            None => self
                .inner
                .compare_and_swap_audited(entry, record)
                .map_err(FaultyError::Inner),
            Some(Fault::SpuriousConflict) => Ok(Swap::Conflict),
            Some(Fault::Cut { lands: true, .. }) => self
                .inner
                .compare_and_swap_audited(entry, record)
                .map_err(FaultyError::Inner)
                .and(Err(FaultyError::Injected)),
            Some(_) => Err(FaultyError::Injected),
        })
    }
    /// A batch is one call to fault, traced as a swap of each key it writes and a load of
    /// each it checks unchanged, in order.
    fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Self::Error> {
        let fault = self.hit(true);
        for (entry, _) in writes {
            self.record(true, entry.key);
        }
        for (key, _) in unchanged {
            self.record(false, *key);
        }
        self.landing(match fault {
            None => self
                .inner
                .compare_and_swap_all(writes, unchanged)
                .map_err(FaultyError::Inner),
            Some(Fault::SpuriousConflict) => Ok(Swap::Conflict),
            Some(Fault::Cut { lands: true, .. }) => self
                .inner
                .compare_and_swap_all(writes, unchanged)
                .map_err(FaultyError::Inner)
                .and(Err(FaultyError::Injected)),
            Some(_) => Err(FaultyError::Injected),
        })
    }
}

/// The model's last verification of a booking: verifier, request, time, the id of the hold
/// that paid for it, and answer.
type LastM = (Option<u8>, Option<u8>, u64, u64, Earlier);

/// The model's booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Model {
    version: u64,
    generation: u32,
    digits: Digits,
    failures: u8,
    lifetime: u16,
    state: State,
    issued: u64,
    expires: u64,
    attempts: u8,
    cap: u16,
    sends_allowed: u8,
    send_secs: u32,
    sends: u8,
    send_start: u64,
    last: Option<LastM>,
}

/// The model's verifier: its record's version, window start and length, limit, failures,
/// slots held, and the holds it remembers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct VModel {
    version: u64,
    start: u64,
    secs: u64,
    limit: u32,
    failures: u32,
    held: u32,
    ring: [Option<RingHold>; Verifier::HOLDS],
}

/// A remembered hold: (context, booking, request, booking version, id, shared).
type RingHold = (usize, u8, u8, u64, u64, bool);

/// The version a write at `now` stores over `previous`.
fn bump(previous: Option<u64>, now: u64) -> u64 {
    let first = now.saturating_mul(Version::SPAN);
    match previous {
        Some(v) if first <= v => v.saturating_add(1),
        _ => first,
    }
}

/// What one context holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Space {
    bookings: HashMap<u8, Model>,
    verifiers: HashMap<u8, VModel>,
    /// Override actors' budgets: `failures` counts overrides.
    actors: HashMap<u8, VModel>,
}

fn name_of(prefix: u8, n: u8, modulo: u8) -> [u8; 2] {
    [prefix, n.checked_rem(modulo).unwrap_or_default()]
}

/// The number in a model id (`V1`, `R3`) kept in a record.
fn number(id: Option<IdBuf>, prefix: u8) -> Result<Option<u8>, Failure> {
    match id.as_ref().map(IdBuf::as_bytes) {
        None => Ok(None),
        Some([p, n]) if *p == prefix => Ok(Some(*n)),
        Some(other) => Err(Failure {
            check: "model",
            detail: format!("a record names an id the model never used: {other:?}"),
        }),
    }
}

fn left(m: &Model) -> u8 {
    let generation = m.attempts.saturating_sub(m.failures);
    let lifetime = m.cap.saturating_sub(m.lifetime);
    generation.min(u8::try_from(lifetime).unwrap_or(u8::MAX))
}

/// What the model answers a closed booking with; `None` if it is open.
fn closed(m: &Model, now: u64) -> Option<Outcome> {
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
        Error::SendLimit { .. } => "send limit",
        Error::BudgetBusy => "budget busy",
        Error::Store(_) => "store",
        Error::Contention => "contention",
        Error::OverridesOff => "overrides off",
        Error::OverrideLimit { .. } => "override limit",
        _ => "other",
    }
}

fn setup<T, E: core::fmt::Display>(r: Result<T, E>) -> Result<T, Failure> {
    r.map_err(super::setup_failure)
}

/// Counts a send in the model; `Err` with the retry time when the window's sends are used.
fn send(m: &Model, now: u64) -> Result<Model, u64> {
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

type Pruner<S> = fn(&S, Timestamp) -> Result<u64, String>;
type Reader<S> = fn(&S, Cursor) -> Result<Vec<AuditEntry>, String>;

struct Harness<S> {
    keys: Keyring,
    store: Faulty<S>,
    prune: Option<Pruner<S>>,
    /// The store's audit log, read after every operation, from `cursor` on.
    audit: Option<Reader<S>>,
    cursor: Cursor,
    now: u64,
    spaces: [Space; 2],
}

impl<S: Store> Harness<S> {
    fn new(store: S, prune: Option<Pruner<S>>) -> Result<Self, Failure> {
        Ok(Self {
            keys: Keyring::new(KeyId(1), setup(Secret::from_bytes(&[0x6d; 32]))?),
            store: Faulty {
                inner: store,
                armed: Cell::new(None),
                fired: Cell::new(false),
                calls: RefCell::new(Vec::new()),
                landed: Cell::new(false),
            },
            prune,
            audit: None,
            cursor: Cursor::START,
            now: 1_000,
            spaces: [Space::default(), Space::default()],
        })
    }

    fn service(&self, lane: &Lane) -> Result<Service<'_>, Failure> {
        let policy = Policy::new(lane.digits)
            .with_attempts(lane.attempts)
            .and_then(|p| p.with_lifetime_cap(lane.cap))
            .and_then(|p| p.with_verifier_budget(lane.budget.0, lane.budget.1))
            .and_then(|p| p.with_send_limit(lane.sends.0, lane.sends.1))
            .and_then(|p| p.with_max_retries(2))
            .and_then(|p| p.with_clock_skew(lane.skew))
            .and_then(|p| match lane.overrides {
                None => Ok(p.without_overrides()),
                Some((budget, locked, expired)) => {
                    let p = p.with_overrides_of(locked, expired, false);
                    match budget {
                        Some((count, secs)) => p.with_override_budget(count, secs),
                        None => Ok(p),
                    }
                }
            });
        let scope = NAMESPACES.get(lane.scope).copied().unwrap_or_default();
        Ok(Service::new(
            &self.keys,
            setup(policy)?,
            setup(Context::new(lane.context))?,
        )
        .with_budget_scope(setup(Context::new(scope))?))
    }

    fn code(&self, lane: &Lane, b: u8, generation: u32, digits: Digits) -> Result<Code, Failure> {
        let booking = name_of(b'B', b, BOOKINGS);
        Ok(derive(
            self.keys.current().1,
            setup(Context::new(lane.context))?,
            setup(BookingId::new(&booking))?,
            generation,
            digits,
        ))
    }

    fn space(&mut self, lane: &Lane) -> &mut Space {
        self.space_at(lane.ns)
    }

    fn space_at(&mut self, ns: usize) -> &mut Space {
        let [a, b] = &mut self.spaces;
        if ns == 0 { a } else { b }
    }

    /// The stored records of both contexts, as the model writes them.
    fn stored(&self) -> Result<[Space; 2], Failure> {
        let mut spaces = [Space::default(), Space::default()];
        for (space, name) in spaces.iter_mut().zip(NAMESPACES) {
            let context = setup(Context::new(name))?;
            for b in 0..BOOKINGS {
                let booking = name_of(b'B', b, BOOKINGS);
                let key = Key::Booking {
                    context,
                    id: setup(BookingId::new(&booking))?,
                };
                match setup(self.store.inner.load(key))? {
                    None => {}
                    Some((Record::Booking(r), version)) => {
                        space.bookings.insert(b, model_of(&r, version)?);
                    }
                    Some(other) => ensure!(false, "a verifier record under booking {b}: {other:?}"),
                }
            }
            for v in 0..VERIFIERS {
                let verifier = name_of(b'V', v, VERIFIERS);
                let key = Key::Verifier {
                    scope: context,
                    id: setup(VerifierId::new(&verifier))?,
                };
                match setup(self.store.inner.load(key))? {
                    None => {}
                    Some((Record::Verifier(r), version)) => {
                        space.verifiers.insert(v, vmodel_of(&r, version)?);
                    }
                    Some(other) => ensure!(false, "a booking record under verifier {v}: {other:?}"),
                }
            }
            for a in 0..ACTORS {
                let actor = name_of(b'A', a, ACTORS);
                let key = Key::Actor {
                    scope: context,
                    id: setup(ActorId::new(&actor))?,
                };
                match setup(self.store.inner.load(key))? {
                    None => {}
                    Some((Record::Verifier(r), version)) => {
                        space.actors.insert(a, vmodel_of(&r, version)?);
                    }
                    Some(other) => ensure!(false, "a booking record under actor {a}: {other:?}"),
                }
            }
        }
        Ok(spaces)
    }

    /// After a fault: takes the model from the store, checking that what landed is a state
    /// the model allows: counts never go down, never past limits.
    fn resync(&mut self) -> Result<(), Failure> {
        let stored = self.stored()?;
        for (space, before) in stored.iter().zip(&self.spaces) {
            for (b, now) in &space.bookings {
                if let Some(before) = before.bookings.get(b) {
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
                    now.lifetime <= now.cap && now.failures <= now.attempts,
                    "booking {b}: count past its limit: {now:?}"
                );
            }
            for (v, m) in &space.verifiers {
                ensure!(m.failures <= m.limit, "verifier {v} past its budget: {m:?}");
            }
            for (a, m) in &space.actors {
                ensure!(
                    m.failures <= m.limit,
                    "actor {a} past its override budget: {m:?}"
                );
            }
        }
        self.spaces = stored;
        Ok(())
    }

    fn step(&mut self, op: Op) -> Result<(), Failure> {
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
    fn judge(
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
    fn apply(&mut self, op: Op) -> Result<(Answer, Answer), Failure> {
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
    fn overrule(
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
    fn overrule_model(&mut self, lane: &Lane, b: u8, a: u8) -> Answer {
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

    /// The audit entries one operation appended, against the model: every record's chain
    /// joins its version before to its version after; without a fault, the actions are the
    /// model's.
    fn check_audit(
        &self,
        op: Op,
        real: &Answer,
        faulted: bool,
        before: &[Space; 2],
        entries: &[AuditEntry],
    ) -> Result<(), Failure> {
        if matches!(op, Op::Prune { .. } | Op::Time { .. } | Op::Arm(_)) {
            ensure!(
                entries.is_empty(),
                "{op:?} wrote audit entries: {entries:?}"
            );
            return Ok(());
        }
        let mut chains: HashMap<(u8, usize, u8), Vec<&AuditEntry>> = HashMap::new();
        for e in entries {
            let ns = NAMESPACES
                .iter()
                .position(|n| n.as_bytes() == e.namespace.as_slice());
            let prefix = match e.kind {
                1 => b'B',
                2 => b'V',
                _ => b'A',
            };
            let n = match e.id.as_slice() {
                [p, n] if *p == prefix => Some(*n),
                _ => None,
            };
            let (Some(ns), Some(n)) = (ns, n) else {
                ensure!(
                    false,
                    "{op:?}: an audit entry for a record the model never had: {e:?}"
                );
                continue;
            };
            ensure!(
                e.at.0 == self.now,
                "{op:?}: an audit entry at {} instead of {}: {e:?}",
                e.at.0,
                self.now
            );
            chains.entry((e.kind, ns, n)).or_default().push(e);
        }
        let version = |space: &Space, kind: u8, n: u8| match kind {
            1 => space.bookings.get(&n).map(|m| m.version),
            2 => space.verifiers.get(&n).map(|m| m.version),
            _ => space.actors.get(&n).map(|m| m.version),
        };
        for (ns, (was, is)) in before.iter().zip(&self.spaces).enumerate() {
            for (kind, count) in [(1, BOOKINGS), (2, VERIFIERS), (3, ACTORS)] {
                for n in 0..count {
                    let chain = chains
                        .get(&(kind, ns, n))
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let mut at = version(was, kind, n);
                    for e in chain {
                        ensure!(
                            e.prior.map(|v| v.0) == at,
                            "{op:?}: record ({kind}, {ns}, {n}) chain broken at {e:?} (expected prior {at:?})"
                        );
                        at = Some(e.version.0);
                    }
                    ensure!(
                        at == version(is, kind, n),
                        "{op:?}: record ({kind}, {ns}, {n}) is at {:?} but its audit chain ends at {at:?}: {chain:?}",
                        version(is, kind, n)
                    );
                }
            }
        }
        if faulted {
            return Ok(());
        }
        self.check_actions(op, real, before, &chains)
    }

    /// Without a fault: the actions of the entries are what the model did.
    fn check_actions(
        &self,
        op: Op,
        real: &Answer,
        before: &[Space; 2],
        chains: &HashMap<(u8, usize, u8), Vec<&AuditEntry>>,
    ) -> Result<(), Failure> {
        let (service, booking) = match op {
            Op::Issue {
                service, booking, ..
            }
            | Op::Resend { service, booking }
            | Op::Reissue {
                service, booking, ..
            }
            | Op::Revoke { service, booking }
            | Op::Verify {
                service, booking, ..
            }
            | Op::Override {
                service, booking, ..
            } => (service, booking.checked_rem(BOOKINGS).unwrap_or_default()),
            _ => return Ok(()),
        };
        let lane = lane(service);
        let after = self
            .spaces
            .get(lane.ns)
            .and_then(|s| s.bookings.get(&booking));
        let generation = after.map_or(0, |m| m.generation);
        let changed = before
            .get(lane.ns)
            .and_then(|s| s.bookings.get(&booking))
            .map(|m| m.version)
            != after.map(|m| m.version);
        let want: Option<Action> = match (op, real) {
            (_, Err(_)) => None,
            (Op::Issue { .. }, Ok(_)) => Some(Action::Issued { generation }),
            (Op::Resend { .. }, Ok(_)) => Some(Action::Resent { generation }),
            (Op::Reissue { .. }, Ok(_)) => Some(Action::Reissued { generation }),
            (Op::Revoke { .. }, Ok(_)) => changed.then_some(Action::Revoked),
            (Op::Override { reason, .. }, Ok(_)) => Reason::ALL
                .get(usize::from(reason.checked_rem(4).unwrap_or_default()))
                .map(|reason| Action::Overridden { reason: *reason }),
            (_, Ok(Some(Outcome::Accepted))) => Some(Action::Accepted),
            (_, Ok(Some(Outcome::Rejected { attempts_left: 0 }))) => Some(Action::Locked),
            (_, Ok(Some(Outcome::Rejected { attempts_left }))) => Some(Action::Rejected {
                attempts_left: *attempts_left,
            }),
            _ => None,
        };
        let got: Vec<Action> = chains
            .get(&(1, lane.ns, booking))
            .map(|c| c.iter().map(|e| e.action).collect())
            .unwrap_or_default();
        ensure!(
            got == want.into_iter().collect::<Vec<_>>(),
            "{op:?}: the booking's audit entries say {got:?}, the model {want:?}"
        );
        for ((kind, ns, n), chain) in chains {
            for e in chain {
                let (verifier, request, actor) = match op {
                    Op::Verify {
                        verifier, request, ..
                    } => (
                        verifier.map(|v| name_of(b'V', v, VERIFIERS).to_vec()),
                        request.map(|r| name_of(b'R', r, REQUESTS).to_vec()),
                        None,
                    ),
                    Op::Override { actor, .. } => {
                        (None, None, Some(name_of(b'A', actor, ACTORS).to_vec()))
                    }
                    _ => (None, None, None),
                };
                ensure!(
                    (&e.verifier, &e.request, &e.actor) == (&verifier, &request, &actor)
                        && e.booking == name_of(b'B', booking, BOOKINGS)
                        && e.context == lane.context.as_bytes(),
                    "{op:?}: an audit entry names someone else: {e:?}"
                );
            }
            match kind {
                2 => {
                    let Some((last, held)) = chain.split_last() else {
                        continue;
                    };
                    ensure!(
                        held.iter().all(|e| e.action == Action::BudgetHeld),
                        "{op:?}: verifier {n}'s entries before the last are not slots held: {chain:?}"
                    );
                    let now = self.spaces.get(*ns).and_then(|s| s.verifiers.get(n));
                    let was = before.get(*ns).and_then(|s| s.verifiers.get(n));
                    let suspends = now.is_some_and(|m| {
                        m.failures >= m.limit
                            && !was.is_some_and(|w| w.start == m.start && w.failures >= w.limit)
                    });
                    let ok = match last.action {
                        Action::Suspended { until } => {
                            suspends
                                && now.is_some_and(|m| until.0 == m.start.saturating_add(m.secs))
                        }
                        Action::BudgetSettled { .. } => !suspends,
                        _ => false,
                    };
                    ensure!(
                        ok,
                        "{op:?}: verifier {n}'s last entry {last:?} is not its settlement (suspending: {suspends})"
                    );
                }
                3 => ensure!(
                    chain.iter().map(|e| e.action).collect::<Vec<_>>() == [Action::OverrideCounted],
                    "{op:?}: actor {n}'s entries are not one override counted: {chain:?}"
                ),
                _ => {}
            }
        }
        Ok(())
    }

    fn prune(&mut self, age: u16) -> Result<(Answer, Answer), Failure> {
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

    fn verify(
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
            Some(n) => svc.verify_request(
                &self.store,
                id,
                &typed,
                vid,
                setup(RequestId::new(n))?,
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
    fn verify_model(
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
    fn decide_model(
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
            && now < at.saturating_add(REPLAY_SECS)
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
    fn check_order(&self, budgeted: bool, answer: &Answer, adopted: bool) -> Result<(), Failure> {
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

fn model_of(r: &Booking, version: Version) -> Result<Model, Failure> {
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

fn vmodel_of(v: &Verifier, version: Version) -> Result<VModel, Failure> {
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
fn hold_of(tag: &Tag) -> Result<(usize, u8, u8), Failure> {
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
