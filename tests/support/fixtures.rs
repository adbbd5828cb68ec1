//! What the real-store tests share: a key, a service with a verifier budget, wrong codes,
//! and the child-process protocol (children print `ANSWER <what>` lines).

use handover_code::record::{Record, Version};
use handover_code::{
    Context, Digits, Error, KeyId, Keyring, Outcome, Policy, Secret, Service, Timestamp,
};

pub const NOW: Timestamp = Timestamp(1_000_000);
pub const UNTIL: Timestamp = Timestamp(2_000_000);
/// Wrong codes per verifier per day in these tests.
pub const BUDGET: u32 = 5;

/// The tests' runtime: two workers, timers and I/O.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn keys() -> std::sync::Arc<Keyring> {
    Keyring::new(KeyId(1), Secret::from_bytes(&[0x51; 32]).unwrap()).into()
}

/// 4 digits, 3 attempts, the budget, and the most conflict retries.
pub fn service(keys: &std::sync::Arc<Keyring>) -> Service {
    let policy = Policy::new(Digits::Four)
        .with_verifier_budget(BUDGET, 86_400)
        .unwrap()
        .with_max_retries(Policy::MAX_RETRIES)
        .unwrap();
    Service::new(std::sync::Arc::clone(keys), policy, "cowin/dose").unwrap()
}

/// The key of a booking of [`service`]'s context.
pub fn booking_key(id: &str) -> handover_code::Key<'_> {
    handover_code::Key::Booking {
        context: Context::new("cowin/dose").unwrap(),
        id: handover_code::BookingId::new(id).unwrap(),
    }
}

/// A 4-digit code other than `right`, different for each `k`.
pub fn wrong(right: &str, k: u32) -> String {
    let value: u32 = right.parse().unwrap();
    format!("{:04}", (value + 1 + k % 9_999) % 10_000)
}

/// An answer as one word for the `ANSWER` lines.
pub fn describe(answer: &Result<Outcome, Error>) -> String {
    match answer {
        Ok(Outcome::Accepted) => "accepted".into(),
        Ok(Outcome::Rejected { .. }) => "rejected".into(),
        Ok(Outcome::AlreadyRedeemed { by_override: false }) => "redeemed".into(),
        Ok(Outcome::Locked) => "locked".into(),
        Ok(Outcome::VerifierSuspended { .. }) => "suspended".into(),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("error {e:?}"),
    }
}

/// Waits for a child and returns what it answered.
pub fn answers(child: std::process::Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {:?}", out.status);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once("ANSWER ").map(|(_, a)| a.to_owned()))
        .collect()
}

/// A wall-clock instant (ms since the epoch) `lead_ms` from now, for children to start at.
pub fn start_at(lead_ms: u128) -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + lead_ms
}

/// In a child: waits for the instant in `HANDOVER_START`, if set.
pub fn wait_for_start() {
    let Some(at) = std::env::var("HANDOVER_START")
        .ok()
        .and_then(|s| s.parse::<u128>().ok())
    else {
        return;
    };
    while start_at(0) < at {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The invariants of the several-processes tests: on the shared booking at most 3 wrong
/// codes answered and exactly that many counted in its stored record, at most one
/// acceptance, no errors; for the spraying verifier no more rejections than its budget.
pub fn check_processes(shared: &[String], sprayed: &[String], stored: Option<(Record, Version)>) {
    let count = |v: &[String], what: &str| v.iter().filter(|a| *a == what).count();
    assert_eq!(shared.len(), 30, "{shared:?}");
    assert!(shared.iter().all(|a| !a.starts_with("error")), "{shared:?}");
    let rejected = count(shared, "rejected");
    assert!(
        rejected <= 3,
        "{rejected} wrong codes answered across processes: {shared:?}"
    );
    assert!(count(shared, "accepted") <= 1, "{shared:?}");
    let Some((Record::Booking(b), _)) = stored else {
        panic!("no booking record: {stored:?}")
    };
    assert_eq!(
        usize::from(b.failures()),
        rejected,
        "answered and counted disagree"
    );
    assert!(
        count(sprayed, "rejected") <= BUDGET as usize,
        "answered past the budget: {sprayed:?}"
    );
    assert_eq!(
        count(sprayed, "rejected") + count(sprayed, "suspended"),
        40,
        "{sprayed:?}"
    );
}

/// Every message down an error's source chain, the error's own first: where a store's error
/// says why (a record that does not decode, say).
#[allow(dead_code)] // not every test binary that includes the fixtures reads a chain
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut chain = vec![e.to_string()];
    let mut source = e.source();
    while let Some(next) = source {
        chain.push(next.to_string());
        source = next.source();
    }
    chain
}
