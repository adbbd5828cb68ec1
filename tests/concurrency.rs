//! Many threads released together on one booking or one verifier, on the reference store.
//! Each test first shows that the threads really contended (compare-and-swaps conflicted).

use std::sync::Barrier;
use std::thread;

use handover_code::{
    BookingId, Digits, Error, KeyId, Keyring, MemoryStore, Outcome, Policy, Secret, Service,
    Timestamp, VerifierId,
};

const THREADS: usize = 64;
const NOW: Timestamp = Timestamp(1_000);
const UNTIL: Timestamp = Timestamp(2_000);

fn keys() -> std::sync::Arc<Keyring> {
    Keyring::new(KeyId(1), Secret::from_bytes(&[3; 32]).unwrap()).into()
}

fn release<T: Send>(f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn wrong(right: &str, k: usize) -> String {
    let value: u32 = right.parse().unwrap();
    let modulus = 10u32.pow(right.len() as u32);
    let other = (value + 1 + (k as u32 % (modulus - 1))) % modulus;
    format!("{other:0width$}", width = right.len())
}

#[test]
fn wrong_codes_and_one_right_one_on_one_booking() {
    let mut contended = 0;
    for round in 0..500 {
        if contended >= 5 {
            break;
        }
        let keys = keys();
        let policy = Policy::new(Digits::Four).with_max_retries(64).unwrap();
        let service = Service::new(keys.clone(), policy, "c").unwrap();
        let store = MemoryStore::new();
        let id = BookingId::new("one").unwrap();
        let code = service.issue(&store, id, UNTIL, NOW).unwrap();
        let right_thread = round % THREADS;
        let answers = release(|i| {
            let typed = if i == right_thread {
                code.expose().to_owned()
            } else {
                wrong(code.expose(), i)
            };
            (
                i == right_thread,
                service.verify(&store, id, &typed, None, NOW),
            )
        });
        contended += usize::from(store.stats().conflicts > 0);
        let rejected = answers
            .iter()
            .filter(|(_, a)| matches!(a, Ok(Outcome::Rejected { .. })))
            .count();
        let accepted: Vec<bool> = answers
            .iter()
            .filter(|(_, a)| matches!(a, Ok(Outcome::Accepted)))
            .map(|(r, _)| *r)
            .collect();
        assert!(
            rejected <= 3,
            "round {round}: {rejected} wrong codes answered"
        );
        assert!(
            accepted.len() <= 1,
            "round {round}: accepted {} times",
            accepted.len()
        );
        assert!(
            accepted.iter().all(|r| *r),
            "round {round}: a wrong code was accepted"
        );
        // Accepted only if the right code got in before the lock: then fewer than 3 failures
        // were counted ahead of it.
        if accepted.len() == 1 {
            assert!(rejected <= 3);
        } else {
            assert_eq!(
                rejected, 3,
                "round {round}: locked without 3 counted failures"
            );
        }
        assert!(
            answers
                .iter()
                .all(|(_, a)| !matches!(a, Err(Error::Contention))),
            "round {round}: contention error"
        );
    }
    assert!(
        contended >= 5,
        "only {contended} rounds of 500 raced: the test proved nothing"
    );
}

#[test]
fn many_right_codes_redeem_exactly_once() {
    let mut contended = 0;
    for _ in 0..500 {
        if contended >= 5 {
            break;
        }
        let keys = keys();
        let service = Service::new(keys.clone(), Policy::new(Digits::Six), "c").unwrap();
        let store = MemoryStore::new();
        let id = BookingId::new("parcel").unwrap();
        let code = service.issue(&store, id, UNTIL, NOW).unwrap();
        let answers = release(|_| service.verify(&store, id, code.expose(), None, NOW));
        let accepted = answers
            .iter()
            .filter(|a| matches!(a, Ok(Outcome::Accepted)))
            .count();
        let redeemed = answers
            .iter()
            .filter(|a| matches!(a, Ok(Outcome::AlreadyRedeemed { by_override: false })))
            .count();
        assert_eq!(accepted, 1);
        assert_eq!(redeemed, THREADS - 1, "{answers:?}");
        contended += usize::from(store.stats().conflicts > 0);
    }
    assert!(
        contended >= 5,
        "only {contended} rounds of 500 raced: the test proved nothing"
    );
}

#[test]
fn a_spraying_verifier_never_exceeds_its_budget() {
    const BUDGET: u32 = 10;
    let mut contended = 0;
    for round in 0..500 {
        if contended >= 5 {
            break;
        }
        let keys = keys();
        let policy = Policy::new(Digits::Four)
            .with_verifier_budget(BUDGET, 86_400)
            .unwrap()
            .with_max_retries(64)
            .unwrap();
        let service = Service::new(keys.clone(), policy, "c").unwrap();
        let store = MemoryStore::new();
        let ids: Vec<String> = (0..THREADS).map(|i| format!("parcel-{i}")).collect();
        let codes: Vec<String> = ids
            .iter()
            .map(|b| {
                service
                    .issue(&store, BookingId::new(b).unwrap(), UNTIL, NOW)
                    .unwrap()
                    .expose()
                    .to_owned()
            })
            .collect();
        let before = store.stats().conflicts;
        let eve = VerifierId::new("eve").unwrap();
        let answers = release(|i| {
            service.verify(
                &store,
                BookingId::new(&ids[i]).unwrap(),
                &wrong(&codes[i], 0),
                Some(eve),
                NOW,
            )
        });
        contended += usize::from(store.stats().conflicts > before);
        let rejected = answers
            .iter()
            .filter(|a| matches!(a, Ok(o) if o.is_failure()))
            .count();
        let suspended = answers
            .iter()
            .filter(|a| matches!(a, Ok(Outcome::VerifierSuspended { .. })))
            .count();
        assert!(
            rejected <= BUDGET as usize,
            "round {round}: {rejected} failures past a budget of {BUDGET}"
        );
        // The rest found the budget held by eve's own guesses in flight: a retryable error,
        // nothing compared.
        let busy = answers
            .iter()
            .filter(|a| matches!(a, Err(handover_code::Error::BudgetBusy { .. })))
            .count();
        assert_eq!(
            rejected + suspended + busy,
            THREADS,
            "round {round}: {answers:?}"
        );
        // No booking was locked by eve: each took at most one wrong code.
        for (id, code) in ids.iter().zip(&codes) {
            let asha = VerifierId::new("asha").unwrap();
            assert_eq!(
                service
                    .verify(&store, BookingId::new(id).unwrap(), code, Some(asha), NOW)
                    .unwrap(),
                Outcome::Accepted
            );
        }
    }
    assert!(
        contended >= 5,
        "only {contended} rounds of 500 raced: the test proved nothing"
    );
}
