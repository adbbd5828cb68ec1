//! The transaction hammer's parts: two counters moved together by
//! [`Store::compare_and_swap_all`], the single calls made before the threads, and how the
//! kit judges what the store answered.

use std::format;
use std::vec::Vec;

use crate::audit::{Action, Audit, Entry};
use crate::derive::{BookingId, Context};
use crate::key::Key;
use crate::record::{Record, Verifier, Version};
use crate::store::{Store, Swap, VerifierId};
use crate::time::Timestamp;

use super::{Failure, MAX_LOST, NOW, ROUNDS, ensure, fail, io, release, setup_failure};

/// The two counters a transaction moves together, and a third key that is never written.
pub(crate) fn pair_keys() -> Result<[Key<'static>; 3], Failure> {
    let scope = Context::new("conformance").map_err(setup_failure)?;
    let key = |id| -> Result<Key<'static>, Failure> {
        Ok(Key::Verifier {
            scope,
            id: VerifierId::new(id).map_err(setup_failure)?,
        })
    };
    Ok([key("pair-a")?, key("pair-b")?, key("pair-c")?])
}

/// A transaction adding one to each counter as loaded (`None`: absent): the writes for
/// [`Store::compare_and_swap_all`].
pub(crate) fn pair_writes<'a>(
    keys: [Key<'a>; 2],
    loaded: [Option<(Record, Version)>; 2],
) -> Result<[(Entry<'a>, Record); 2], Failure> {
    let audit = Audit {
        at: NOW,
        context: Context::new("conformance").map_err(setup_failure)?,
        booking: BookingId::new("pair").map_err(setup_failure)?,
        verifier: None,
        request: None,
        by: None,
        action: Action::BudgetSettled { failed: false },
    };
    let write = |key: Key<'a>, found: Option<(Record, Version)>| {
        let (count, prior) = match found {
            Some((Record::Verifier(v), version)) => (v.failures, Some(version)),
            None => (0, None),
            Some(other) => return fail("transactions", format!("loaded {other:?}")),
        };
        let version = Version(prior.map_or(1, |v| v.0.saturating_add(1)));
        let entry = Entry {
            key,
            prior,
            version,
            audit,
        };
        Ok((entry, counter(count.saturating_add(1))))
    };
    let [ka, kb] = keys;
    let [la, lb] = loaded;
    Ok([write(ka, la)?, write(kb, lb)?])
}

/// The single calls [`check_concurrency`](super::check_concurrency) makes of [`Store::compare_and_swap_all`] before
/// its threads, with what each must answer on a store with transactions (a store without
/// them must refuse the first and write nothing).
pub(crate) const PAIR_CALLS: [(&str, Swap); 7] = [
    ("creating two absent records", Swap::Swapped),
    (
        "a write beside one expecting a stale version",
        Swap::Conflict,
    ),
    (
        "two writes of one key, the second over the first",
        Swap::Conflict,
    ),
    (
        "a write with another key checked at a stale version",
        Swap::Conflict,
    ),
    (
        "a write with one key checked unchanged and one checked absent",
        Swap::Swapped,
    ),
    ("a write with an absent key checked present", Swap::Conflict),
    ("a write with its own key checked unchanged", Swap::Conflict),
];

/// The batches of [`PAIR_CALLS`], in order, given the counters as loaded before each
/// (`a`, `b`) and the third, absent key `c`: writes, and keys checked unchanged.
pub(crate) fn pair_call<'k>(
    n: usize,
    keys: [Key<'k>; 3],
    a: Option<(Record, Version)>,
    b: Option<(Record, Version)>,
) -> Result<PairCall<'k>, Failure> {
    let [ka, kb, kc] = keys;
    let stale = |found: Option<(Record, Version)>| found.map(|(r, v)| (r, Version(v.0 ^ 7)));
    let version = |found: Option<(Record, Version)>| found.map(|(_, v)| v);
    let [wa, wb] = pair_writes([ka, kb], [a, b])?;
    Ok(match n {
        0 => (pair_writes([ka, kb], [None, None])?.to_vec(), Vec::new()),
        1 => (pair_writes([ka, kb], [a, stale(b)])?.to_vec(), Vec::new()),
        // The second write expects the version the first one makes: one key, named twice.
        2 => {
            let next = a.map(|(r, v)| (r, Version(v.0.wrapping_add(1))));
            (pair_writes([ka, ka], [a, next])?.to_vec(), Vec::new())
        }
        3 => (std::vec![wa], std::vec![(kb, stale(b).map(|(_, v)| v))]),
        4 => (std::vec![wa], std::vec![(kb, version(b)), (kc, None)]),
        5 => (std::vec![wa], std::vec![(kc, Some(Version(1)))]),
        _ => {
            let _ = wb;
            (std::vec![wa], std::vec![(ka, version(a))])
        }
    })
}

/// One batch: writes, and keys checked unchanged.
pub(crate) type PairCall<'k> = (Vec<(Entry<'k>, Record)>, Vec<(Key<'k>, Option<Version>)>);

/// Judges the answers to [`PAIR_CALLS`] and the counters after them (with transactions:
/// `[2, 1]`, the two that landed having added to the first counter and one to the second).
pub(crate) fn judge_pair_calls(
    transactions: bool,
    answers: &[Swap],
    after: [u64; 2],
) -> Result<(), Failure> {
    if !transactions {
        let first = answers.first().copied();
        return ensure(
            first == Some(Swap::Conflict) && after == [0, 0],
            "transactions",
            || {
                format!(
                    "a store without TRANSACTIONS answered {first:?} to a batch of two and holds \
                     {after:?}: it must write nothing (set TRANSACTIONS to use its batches)"
                )
            },
        );
    }
    for ((what, want), got) in PAIR_CALLS.iter().zip(answers) {
        ensure(got == want, "transactions", || {
            format!("{what} answered {got:?}, not {want:?}")
        })?;
    }
    ensure(after == [2, 1], "transactions", || {
        format!(
            "after the single batches the counters read {after:?}, not [2, 1]: a batch that \
             conflicted wrote part of itself, or one that landed wrote too little"
        )
    })
}

/// A counter's value as loaded.
pub(crate) fn count_of(found: Option<&(Record, Version)>) -> Result<u64, Failure> {
    match found {
        Some((Record::Verifier(v), _)) => Ok(u64::from(v.failures)),
        None => Ok(0),
        Some(other) => fail("transactions", format!("loaded {other:?}")),
    }
}

/// [`Store::compare_and_swap_all`]: the single calls of [`PAIR_CALLS`] (a batch with a stale
/// version, written or checked, writes nothing), then every thread adds one to both counters
/// [`ROUNDS`] times in one batch each: both must read the batches that landed. On a store
/// without [`Store::TRANSACTIONS`], a batch of two must be refused and write nothing.
pub(crate) fn hammer_transactions<S: Store>(store: &S) -> Result<(), Failure> {
    let keys = pair_keys()?;
    let [ka, kb, _] = keys;
    let check = "transactions";
    let load = |k| io(check, store.load(k));
    let mut answers = Vec::new();
    for n in 0..PAIR_CALLS.len() {
        let (writes, unchanged) = pair_call(n, keys, load(ka)?, load(kb)?)?;
        answers.push(io(check, store.compare_and_swap_all(&writes, &unchanged))?);
        if !S::TRANSACTIONS {
            break;
        }
    }
    let after = [count_of(load(ka)?.as_ref())?, count_of(load(kb)?.as_ref())?];
    judge_pair_calls(S::TRANSACTIONS, &answers, after)?;
    if !S::TRANSACTIONS {
        return Ok(());
    }
    let answers = release(|_| {
        let mut landed = 0u64;
        for _ in 0..ROUNDS {
            let mut lost = 0u32;
            loop {
                let writes = pair_writes([ka, kb], [load(ka)?, load(kb)?])?;
                if io(check, store.compare_and_swap_all(&writes, &[]))? == Swap::Swapped {
                    landed = landed.saturating_add(1);
                    break;
                }
                lost = lost.saturating_add(1);
                if lost > MAX_LOST {
                    return fail(check, format!("a batch lost {MAX_LOST} races in a row"));
                }
            }
        }
        Ok(landed)
    })?;
    let mut landed = 0u64;
    for a in answers {
        landed = landed.saturating_add(a?);
    }
    let stored = [count_of(load(ka)?.as_ref())?, count_of(load(kb)?.as_ref())?];
    let want = [landed.saturating_add(2), landed.saturating_add(1)];
    ensure(stored == want, check, || {
        format!(
            "{landed} batches landed but the counters read {stored:?}, not {want:?}: the batch \
             is not one transaction"
        )
    })
}

/// The hammers' counter: a verifier record whose failure count is the count.
pub(crate) fn counter(failures: u32) -> Record {
    Record::Verifier(Verifier {
        window_start: Timestamp(0),
        window_secs: 1,
        limit: u32::MAX,
        failures,
        held: 0,
        holds: Default::default(),
    })
}
