//! Model-based checking: operation sequences driven through [`Service`](crate::Service) on any
//! [`Store`], compared step by step with a plain model of the rules.
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

use std::string::{String, ToString};
use std::vec::Vec;

use super::Failure;
use crate::code::Digits;
use crate::keyring::Keyring;
use crate::outcome::Outcome;
use crate::store::Store;
use crate::store::{AuditEntry, AuditLog, Cursor};
use crate::time::Timestamp;

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
    /// Prune every record whose [`Record::prune_at`](crate::record::Record::prune_at) is before
    /// `age` seconds ago (only in [`check_sequence_pruning`]; elsewhere it does nothing).
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
pub fn check_sequence_pruning<S: Store>(store: S, ops: &[Op]) -> Result<(), Failure> {
    run(Harness::new(store, Some(prune_with::<S>))?, ops)
}

fn prune_with<S: Store>(store: &S, before: Timestamp) -> Result<u64, String> {
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
pub fn check_sequence_audited<S: AuditLog>(store: S, ops: &[Op]) -> Result<(), Failure> {
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

mod apply;
mod audit;
mod faulty;
mod harness;
mod state;
mod verify;

use faulty::Shared;
use state::{Model, RingHold, Space, VModel};

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

/// The key kinds of a booking's and a verifier's record, as [`Key::kind`](crate::Key::kind) numbers them.
const BOOKING_KIND: u8 = 1;
const VERIFIER_KIND: u8 = 2;

/// The store under test, with one armed fault at a time and a trace of the calls.
struct Faulty<S> {
    inner: S,
    armed: Shared<Option<Fault>>,
    fired: Shared<bool>,
    calls: Shared<Vec<Call>>,
    /// Whether the last compare-and-swap landed (answered `Swapped`, no fault).
    landed: Shared<bool>,
}

/// An answer, with errors reduced to their kind so crate and model can be compared.
type Answer = Result<Option<Outcome>, &'static str>;

type Pruner<S> = fn(&S, Timestamp) -> Result<u64, String>;
type Reader<S> = fn(&S, Cursor) -> Result<Vec<AuditEntry>, String>;

struct Harness<S> {
    keys: std::sync::Arc<Keyring>,
    store: Faulty<S>,
    prune: Option<Pruner<S>>,
    /// The store's audit log, read after every operation, from `cursor` on.
    audit: Option<Reader<S>>,
    cursor: Cursor,
    now: u64,
    spaces: [Space; 2],
}
