//! Operations as sans-IO plans: which record to read, what to write, in which order, and
//! what to answer, decided without any I/O.
//!
//! A [`Plan`] says what it needs next ([`Next`]): a record loaded, a compare-and-swap made,
//! or nothing more (the answer). The driver that runs plans on a [`Store`](crate::Store) or an
//! [`AsyncStore`](crate::AsyncStore) only executes those calls and hands back their results;
//! it never decides. So one plan serves blocking and async hosts, and the order of a
//! verification's steps (suspension check, comparison, then the writes: one transaction, or
//! a budget slot, the booking and the settlement) is fixed here, where the model tests and
//! the fuzz target see it.
//!
//! One file per plan:
//!
//! | file | plan |
//! |---|---|
//! | [`single`] | issue, resend, re-issue, revoke: one booking, one compare-and-swap |
//! | [`atomic`] | a verification on a store with transactions: both records in one write |
//! | [`reserve`] | a verification on a store that writes one key at a time: reserve, write, settle |
//! | [`overrule`] | the audited override: count and redeem (one transaction where the store has them), give back on a refusal |
//!
//! A verification's mode is chosen by its store:
//! [`Store::TRANSACTIONS`](crate::Store::TRANSACTIONS) (the memory store, SQLite, PostgreSQL) runs
//! [`Atomic`]; a store that writes one key at a time (Redis, a host's store that does not opt in)
//! runs [`Verify`].

mod asked;
pub(crate) mod atomic;
mod charge;
pub(crate) mod overrule;
pub(crate) mod reserve;
pub(crate) mod single;

use asked::Asked;
pub(crate) use atomic::Atomic;
pub(crate) use overrule::Overrule;
pub(crate) use reserve::Verify;
pub(crate) use single::{Operation, Single};

use crate::audit::{Action, Audit, Entry, Events};
use crate::error::Error;
use crate::key::Key;
use crate::outcome::Outcome;
use crate::record::{Booking, Record, Verifier, Version};
use crate::store::Swap;
use crate::time::Timestamp;

/// What a plan needs next.
// A record rides along with each write; the plan allocates nothing, so it is moved, not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Next<'a, T> {
    /// Load this key's record and pass it to [`Plan::loaded`].
    Load(Key<'a>),
    /// Compare-and-swap and pass the result to [`Plan::swapped`]: store `record` under
    /// `entry.key` if its version is `entry.prior` (`None`: insert if absent), as version
    /// `entry.version`, appending `entry` to the store's audit log in the same write
    /// ([`Store::compare_and_swap_audited`](crate::Store::compare_and_swap_audited)).
    Swap {
        /// The record to store.
        record: Record,
        /// The key, the versions and what the write does.
        entry: Entry<'a>,
    },
    /// In one transaction
    /// ([`Store::compare_and_swap_all`](crate::Store::compare_and_swap_all)), compare-and-swap
    /// the booking and do the verifier's part, then pass the result to [`Plan::swapped`]:
    /// all of it lands or none. Asked only of a store with
    /// [`Store::TRANSACTIONS`](crate::Store::TRANSACTIONS).
    Commit {
        /// The booking's write: its entry (key, versions, what it does) and record.
        booking: &'a (Entry<'a>, Record),
        /// The verifier's part.
        verifier: &'a Charge<'a>,
    },
    /// Answer this: every write it depends on has landed.
    Done(Result<T, Error>),
    /// The last store call failed: answer its error.
    Fail,
}

/// The verifier's part of a verification's transaction ([`Next::Commit`]).
// Kept in the plan and lent to the driver, never moved around: not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Charge<'a> {
    /// Its record written with the answer: a wrong code's failure counted.
    Write(Entry<'a>, Record),
    /// Its version (`None`: no record) still the one the answer was decided on, read and
    /// not written: a right code, which counts nothing.
    Unchanged(Key<'a>, Option<Version>),
}

/// A sans-IO operation. Call [`Plan::next`], execute what it asks, report the result, and
/// repeat until it says [`Next::Done`] or [`Next::Fail`].
pub(crate) trait Plan {
    /// What the operation answers.
    type Output;

    /// What to do next.
    fn next(&mut self) -> Next<'_, Self::Output>;

    /// The record the last [`Next::Load`] found.
    fn loaded(&mut self, found: Option<(Record, Version)>);

    /// What the last [`Next::Swap`] did.
    fn swapped(&mut self, swap: Swap);

    /// The last store call failed.
    fn failed(&mut self);

    /// The plan's answer was given: tell `sink` of what it answered without a write (a
    /// verification's answer that wrote nothing, a send refused). Writes are told as they
    /// land, by the driver, from their [`Entry`].
    fn answered(&self, answer: &Result<Self::Output, Error>, sink: &dyn Events) {
        let _ = (answer, sink);
    }

    /// The record (key and version) that the answer in [`Next::Done`] was read from, when it
    /// stands for a write it did not make itself (a replayed acceptance or rejection, a
    /// revoke of a revoked booking): the driver
    /// makes it durable ([`Store::make_durable`](crate::Store::make_durable)) before the
    /// answer is given, and answers the store's error, or [`Error::Contention`] if the record
    /// moved, instead.
    fn rests_on(&self) -> Option<(Key<'_>, Version)> {
        None
    }
}

/// A swap of `record` under `key` from `expected`, as of `now`, described by `audit`.
fn swap_of<'a, T>(
    key: Key<'a>,
    expected: Option<Version>,
    record: Record,
    now: Timestamp,
    audit: Audit<'a>,
) -> Result<(Next<'a, T>, Version), Error> {
    let version = version_after(expected, now)?;
    Ok((
        Next::Swap {
            record,
            entry: Entry {
                key,
                prior: expected,
                version,
                audit,
            },
        },
        version,
    ))
}

/// One record's key and, once loaded, what the plan knows of it.
#[derive(Debug)]
struct Slot<'a> {
    key: Key<'a>,
    known: Option<Option<(Record, Version)>>,
    /// Whether the answer is read from this record, standing for a write it did not make
    /// (a replayed acceptance or rejection, a revoke of a revoked booking):
    /// [`Slot::rests_on`].
    answered_from: bool,
}

impl<'a> Slot<'a> {
    const fn new(key: Key<'a>) -> Self {
        Self {
            key,
            known: None,
            answered_from: false,
        }
    }

    /// The record (key and the version read) the answer rests on, if it was answered from
    /// this record: what [`Plan::rests_on`] names, for the driver to make durable first.
    fn rests_on(&self) -> Option<(Key<'a>, Version)> {
        self.answered_from
            .then(|| self.version())
            .flatten()
            .map(|v| (self.key, v))
    }

    fn version(&self) -> Option<Version> {
        self.known
            .as_ref()
            .and_then(Option::as_ref)
            .map(|(_, v)| *v)
    }
}

/// Whether an answer rests on the booking it was read from: a replay. A replayed
/// acceptance hands the booking over again, and a replayed rejection tells the guesser a
/// code is wrong again: each stands for a write that must survive a failover (the
/// redemption, the counted failure), as its first answer did. (Issue 31: confirming no
/// longer writes the row on PostgreSQL, so concurrent replays of one request never
/// contend, and the rejection's replay is confirmed again.)
fn replay_rests_on_booking(answer: &Result<Outcome, Error>) -> bool {
    matches!(answer, Ok(Outcome::Replayed(_)))
}

/// A swap of `record` over `slot`'s known version, as of `now`, described by `audit`; a
/// budget record's swap is remembered in `proposed`, for the plan to know once it lands.
fn swap_slot<'a, T>(
    slot: Option<&Slot<'a>>,
    record: Record,
    now: Timestamp,
    audit: Audit<'a>,
    proposed: Option<&mut Option<(Record, Version)>>,
) -> Next<'a, T> {
    let Some(slot) = slot else {
        return Next::Done(Err(Error::inconsistent()));
    };
    match swap_of(slot.key, slot.version(), record, now, audit) {
        Ok((swap, new)) => {
            if let Some(proposed) = proposed {
                *proposed = Some((record, new));
            }
            swap
        }
        Err(e) => Next::Done(Err(e)),
    }
}

/// The version a write after `expected` stores, for a record created at `now` if new.
fn version_after(expected: Option<Version>, now: Timestamp) -> Result<Version, Error> {
    match expected {
        None => Version::first_at(now).ok_or(Error::Clock),
        Some(v) => v.after(now).ok_or_else(Error::inconsistent),
    }
}

/// What a verification's booking write does, for the audit log: the answer it lands.
const fn verdict_action(answer: Outcome) -> Action {
    match answer {
        Outcome::Rejected { attempts_left: 0 } => Action::Locked,
        Outcome::Rejected { attempts_left } => Action::Rejected { attempts_left },
        _ => Action::Accepted,
    }
}

/// The booking in a record read under a booking key; a verifier's record there is corrupt.
pub(crate) fn booking_of(found: Option<&(Record, Version)>) -> Result<Option<&Booking>, Error> {
    match found {
        None => Ok(None),
        Some((Record::Booking(b), _)) => Ok(Some(b)),
        Some((Record::Verifier(_), _)) => Err(Error::inconsistent()),
    }
}

/// The verifier in a record read under a verifier key; a booking's record there is corrupt.
fn verifier_of(found: Option<&(Record, Version)>) -> Result<Option<&Verifier>, Error> {
    match found {
        None => Ok(None),
        Some((Record::Verifier(v), _)) => Ok(Some(v)),
        Some((Record::Booking(_), _)) => Err(Error::inconsistent()),
    }
}

/// Counts lost races against the retry bound of the plans' compare-and-swap steps.
#[derive(Debug)]
struct Tries {
    left: u8,
}

impl Tries {
    const fn new(max_retries: u8) -> Self {
        Self { left: max_retries }
    }

    /// The step every plan takes after a lost compare-and-swap: what it read of the `stale`
    /// records is forgotten (the store holds newer versions: they are loaded again), the
    /// race is counted, and `true` says to decide again; `false`, that the retries are spent
    /// and the operation answers contention.
    fn lost_race<const K: usize>(&mut self, stale: [Option<&mut Slot<'_>>; K]) -> bool {
        for slot in stale.into_iter().flatten() {
            slot.known = None;
        }
        self.lost()
    }

    /// Counts a lost race; `false` once none are left.
    fn lost(&mut self) -> bool {
        match self.left.checked_sub(1) {
            Some(left) => {
                self.left = left;
                true
            }
            None => false,
        }
    }
}
