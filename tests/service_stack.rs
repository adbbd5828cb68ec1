//! The service in a Rust service stack: `'static` state shared by tasks and threads, and one
//! error story for `?`. These compile only while the API allows them, then run.

use std::sync::Arc;

use handover_code::Attempt;
use handover_code::{
    BookingId, Digits, Error, KeyId, Keyring, MemoryStore, Outcome, Policy, RequestId, Secret,
    Service, Timestamp, VerifierId,
};

const NOW: Timestamp = Timestamp(1_700_000_000);

/// What axum asks of `State`, and `tokio::spawn` of what moves into a task.
fn state<T: Clone + Send + Sync + 'static>(_: &T) {}

fn shared() -> Result<Service, Error> {
    let keys = Arc::new(Keyring::new(KeyId(1), Secret::from_bytes(&[3; 32])?));
    let policy = Policy::new(Digits::Four).with_verifier_budget(5, 3_600)?;
    Service::new(keys, policy, "cowin/dose")
}

#[test]
fn a_shared_service_is_state_for_tasks_and_threads() {
    let service = shared().unwrap();
    state(&service);
    state(&Arc::new(MemoryStore::new()));
    let store = Arc::new(MemoryStore::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let (s, st) = (service.clone(), Arc::clone(&store));
        let code = tokio::spawn(async move {
            let booking = BookingId::new("SLOT-1")?;
            s.issue_async(&*st, booking, Timestamp(NOW.0 + 600), NOW)
                .await
        })
        .await
        .unwrap()
        .unwrap();
        let (s, st) = (service.clone(), Arc::clone(&store));
        let typed = code.expose().to_owned();
        let blocking = tokio::task::spawn_blocking(move || {
            let booking = BookingId::new("SLOT-1")?;
            let vaccinator = Some(VerifierId::new("vaccinator-1")?);
            s.verify(&*st, booking, &typed, vaccinator, NOW)
        });
        assert_eq!(blocking.await.unwrap().unwrap(), Outcome::Accepted);
    });
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (s, st) = (service.clone(), Arc::clone(&store));
            std::thread::spawn(move || s.booking(&*st, BookingId::new("SLOT-1").unwrap()))
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().unwrap().is_some());
    }
}

#[test]
fn a_borrowing_service_still_works_in_one_scope() {
    let keys: Keyring = Keyring::new(KeyId(1), Secret::from_bytes(&[3; 32]).unwrap());
    let service = Service::new(keys, Policy::new(Digits::Four), "c").unwrap();
    let store = MemoryStore::new();
    let booking = BookingId::new("b").unwrap();
    let code = service
        .issue(&store, booking, Timestamp(NOW.0 + 1), NOW)
        .unwrap();
    let answer = std::thread::scope(|scope| {
        let verifier = scope.spawn(|| service.verify(&store, booking, code.expose(), None, NOW));
        verifier.join().expect("the thread ran")
    });
    assert_eq!(answer.unwrap(), Outcome::Accepted);
    assert_eq!(service.current_key(), KeyId(1));
}

/// Constructors and operations in one function returning the operations' error.
fn redeem(store: &MemoryStore, id: &str, typed: &str) -> Result<Outcome, Error> {
    let service = shared()?;
    let booking = BookingId::new(id)?;
    let request = RequestId::new("req-1")?;
    let vaccinator = Some(VerifierId::new("vaccinator-1")?);
    service.verify(
        store,
        booking,
        typed,
        Attempt::from(vaccinator).request(&request),
        NOW,
    )
}

/// The same in functions returning `Box<dyn Error>` and `anyhow::Error`.
fn boxed(store: &MemoryStore) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let service = shared()?;
    let code = service.issue(store, BookingId::new("SLOT-9")?, Timestamp(NOW.0 + 60), NOW)?;
    Ok(code.expose().to_owned())
}

fn with_anyhow(store: &MemoryStore, typed: &str) -> anyhow::Result<Outcome> {
    let service = shared()?;
    let policy = Policy::new(Digits::Six).with_attempts(4)?;
    assert_eq!(policy.attempts(), 4);
    Ok(service.verify(store, BookingId::new("SLOT-9")?, typed, None, NOW)?)
}

#[test]
fn question_marks_convert_every_error() {
    let store = MemoryStore::new();
    let code = boxed(&store).unwrap();
    assert!(matches!(
        redeem(&store, "SLOT-9", "12a4"),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        redeem(&store, "", &code),
        Err(Error::BookingIdLength)
    ));
    assert_eq!(redeem(&store, "SLOT-9", &code).unwrap(), Outcome::Accepted);
    assert_eq!(
        with_anyhow(&store, &code).unwrap(),
        Outcome::AlreadyRedeemed { by_override: false }
    );
    let refused = Policy::new(Digits::Four)
        .with_attempts(9)
        .map_err(anyhow::Error::from);
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("attempts per generation")
    );
}
