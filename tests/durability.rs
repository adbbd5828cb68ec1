//! An answer read rather than written (a retried verification's replayed acceptance) is
//! given only once the store has made its record durable (`Store::make_durable`): on a
//! store with transactions and on one that writes one key at a time, with and without a
//! verifier budget. A store that cannot confirm answers its error, one whose record moved
//! answers contention, and neither is ever the acceptance. A revoke answered from a revoked
//! record is confirmed the same way.

use std::sync::Mutex;

use handover_code::audit::Entry;
use handover_code::record::{Earlier, Record, Version};
use handover_code::store::{Key, Store, Swap};
use handover_code::{
    Attempt, BookingId, Digits, Error, KeyId, Keyring, MemoryStore, Outcome, Policy, Secret,
    Service, Timestamp,
};

const NOW: Timestamp = Timestamp(1_000_000);

/// What [`Confirming::make_durable`] answers next.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Confirm {
    Yes,
    Moved,
    Fails,
}

/// The memory store, with a `make_durable` that answers as told and remembers its calls.
struct Confirming {
    inner: MemoryStore,
    answer: Mutex<Confirm>,
    calls: Mutex<Vec<(Vec<u8>, Version)>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the replicas did not acknowledge in time")]
struct Unconfirmed;

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Failed(#[from] Box<dyn std::error::Error + Send + Sync>);

impl Confirming {
    fn new() -> Self {
        Self {
            inner: MemoryStore::new(),
            answer: Mutex::new(Confirm::Yes),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn calls(&self) -> Vec<(Vec<u8>, Version)> {
        self.calls.lock().unwrap().clone()
    }
}

fn boxed(e: impl std::error::Error + Send + Sync + 'static) -> Failed {
    Failed(Box::new(e))
}

impl Store for Confirming {
    type Error = Failed;
    const TRANSACTIONS: bool = true;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Failed> {
        Store::load(&self.inner, key).map_err(boxed)
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Failed> {
        Store::compare_and_swap(&self.inner, key, expected, record, new).map_err(boxed)
    }

    fn compare_and_swap_audited(&self, entry: &Entry<'_>, record: &Record) -> Result<Swap, Failed> {
        Store::compare_and_swap_audited(&self.inner, entry, record).map_err(boxed)
    }

    fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Failed> {
        Store::compare_and_swap_all(&self.inner, writes, unchanged).map_err(boxed)
    }

    fn prune(&self, before: Timestamp) -> Result<u64, Failed> {
        Store::prune(&self.inner, before).map_err(boxed)
    }

    fn make_durable(&self, key: Key<'_>, version: Version) -> Result<Swap, Failed> {
        self.calls
            .lock()
            .unwrap()
            .push((key.id().to_vec(), version));
        match *self.answer.lock().unwrap() {
            Confirm::Yes => Ok(Swap::Swapped),
            Confirm::Moved => Ok(Swap::Conflict),
            Confirm::Fails => Err(boxed(Unconfirmed)),
        }
    }
}

fn service(budget: bool) -> Service {
    let keys: std::sync::Arc<Keyring> =
        Keyring::new(KeyId(1), Secret::from_bytes(&[0x42; 32]).unwrap()).into();
    let policy = Policy::new(Digits::Four);
    let policy = if budget {
        policy.with_verifier_budget(5, 86_400).unwrap()
    } else {
        policy
    };
    Service::new(keys, policy, "cowin/dose").unwrap()
}

/// The protocol on `store`: an acceptance is written (no confirmation asked), its retry is
/// confirmed on the booking's stored version before it is answered, a failed or moved
/// confirmation is an error, never the acceptance, and a replayed rejection is confirmed
/// too (it tells the guesser the code is wrong again: the failure it stands for must
/// survive a failover).
fn replays_rest_on_durable_records<S: Store>(
    store: &S,
    calls: impl Fn(&S) -> Vec<(Vec<u8>, Version)>,
    set: impl Fn(&S, Confirm),
    budget: bool,
) {
    let service = service(budget);
    let attempt = |request: &'static str| {
        if budget {
            Attempt::by("vaccinator-7").request(request)
        } else {
            Attempt::default().request(request)
        }
    };
    let id = BookingId::new("SLOT-1").unwrap();
    let code = service.issue(store, id, NOW.0 + 3_600, NOW).unwrap();
    let first = service.verify(store, id, code.expose(), attempt("r1"), NOW);
    assert!(matches!(first, Ok(Outcome::Accepted)), "{first:?}");
    assert!(
        calls(store).is_empty(),
        "a written answer asked for a confirmation"
    );

    let retry = service.verify(store, id, code.expose(), attempt("r1"), NOW);
    assert!(matches!(&retry, Ok(o) if o.is_accepted()), "{retry:?}");
    let stored = service.booking(store, id).unwrap().unwrap();
    let key = Key::Booking {
        context: handover_code::Context::new("cowin/dose").unwrap(),
        id,
    };
    let Ok(Some((_, version))) = Store::load(store, key) else {
        panic!("the booking is stored")
    };
    assert_eq!(stored.state(), handover_code::record::State::Redeemed);
    assert_eq!(calls(store), vec![(b"SLOT-1".to_vec(), version)]);

    // The same request with another code is told the booking is redeemed: that answer
    // stands for no write of its own and hands nothing over, so it asks no confirmation.
    let other_code = if code.expose() == "0000" {
        "1111"
    } else {
        "0000"
    };
    let redeemed = service.verify(store, id, other_code, attempt("r1"), NOW);
    assert!(
        matches!(
            redeemed,
            Ok(Outcome::AlreadyRedeemed { by_override: false })
        ),
        "{redeemed:?}"
    );
    assert_eq!(
        calls(store).len(),
        1,
        "an answer that hands nothing over was confirmed"
    );

    set(store, Confirm::Fails);
    let failed = service.verify(store, id, code.expose(), attempt("r1"), NOW);
    assert!(matches!(failed, Err(Error::Store(_))), "{failed:?}");
    assert!(failed.as_ref().unwrap_err().is_retryable());
    set(store, Confirm::Moved);
    let moved = service.verify(store, id, code.expose(), attempt("r1"), NOW);
    assert!(matches!(moved, Err(Error::Contention)), "{moved:?}");

    // A rejection is written; its replay tells the guesser the code is wrong again, so it
    // is confirmed first too (a failover must not forget the failure it stands for).
    set(store, Confirm::Yes);
    let other = BookingId::new("SLOT-2").unwrap();
    let code = service.issue(store, other, NOW.0 + 3_600, NOW).unwrap();
    let wrong = if code.expose() == "0000" {
        "1111"
    } else {
        "0000"
    };
    let before = calls(store).len();
    let answer = service.verify(store, other, wrong, attempt("r2"), NOW);
    assert!(matches!(answer, Ok(Outcome::Rejected { .. })), "{answer:?}");
    assert_eq!(calls(store).len(), before);
    let answer = service.verify(store, other, wrong, attempt("r2"), NOW);
    assert!(
        matches!(answer, Ok(Outcome::Replayed(Earlier::Rejected { .. }))),
        "{answer:?}"
    );
    assert_eq!(calls(store).len(), before + 1);
    set(store, Confirm::Fails);
    let failed = service.verify(store, other, wrong, attempt("r2"), NOW);
    assert!(matches!(failed, Err(Error::Store(_))), "{failed:?}");
    set(store, Confirm::Yes);

    // A revoke is written; its retry, answered from the revoked record, is confirmed first.
    let before = calls(store).len();
    service.revoke(store, other, NOW).unwrap();
    assert_eq!(calls(store).len(), before);
    service.revoke(store, other, NOW).unwrap();
    assert_eq!(calls(store).len(), before + 1);
    set(store, Confirm::Fails);
    assert!(matches!(
        service.revoke(store, other, NOW),
        Err(Error::Store(_))
    ));
}

fn set(store: &Confirming, answer: Confirm) {
    *store.answer.lock().unwrap() = answer;
}

#[test]
fn a_replayed_acceptance_waits_for_its_record_on_a_store_with_transactions() {
    for budget in [false, true] {
        replays_rest_on_durable_records(&Confirming::new(), Confirming::calls, set, budget);
    }
}

#[cfg(feature = "conformance")]
#[test]
fn a_replayed_acceptance_waits_for_its_record_on_a_store_without_transactions() {
    use handover_code::conformance::WithoutTransactions;
    for budget in [false, true] {
        replays_rest_on_durable_records(
            &WithoutTransactions(Confirming::new()),
            |s| s.0.calls(),
            |s, a| set(&s.0, a),
            budget,
        );
    }
}
