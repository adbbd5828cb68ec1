//! The failover tests' race on any async store: bookings issued before it, then
//! verifications (right and wrong codes, each retried under its request id after an
//! error), issues and overrides racing while the test fails the database over; and the
//! check afterwards of every answer given against what the store holds then.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use handover_code::audit::{Override, Reason};
use handover_code::record::{Earlier, State};
use handover_code::{
    ActorId, AsyncStore, Attempt, Digits, Error, KeyId, Keyring, Outcome, Policy, Secret, Service,
};

use super::fixtures::{NOW, UNTIL, wrong};

/// `call` tried again every 100 ms while it answers an error (a client still finding the
/// new primary after a failover), until `deadline`; its last answer.
pub fn until_answered<T>(
    deadline: std::time::Instant,
    mut call: impl FnMut() -> Result<T, Error>,
) -> Result<T, Error> {
    loop {
        match call() {
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            answer => return answer,
        }
    }
}

/// A control's proof that it bites: among the answered writes `lost`, an acceptance undone
/// (a booking accepted and no longer redeemed, or a code accepted a second time).
pub fn assert_an_acceptance_lost(lost: &[String]) {
    println!("lost: {lost:?}");
    assert!(
        lost.iter()
            .any(|l| l.contains("second time") || l.contains("not redeemed")),
        "the control found no lost acceptance: the test does not bite"
    );
}

/// 4 digits, the default attempts, no verifier budget (each request is its own verifier),
/// overrides.
pub fn service() -> Service {
    let keys: Arc<Keyring> =
        Keyring::new(KeyId(1), Secret::from_bytes(&[0x24; 32]).unwrap()).into();
    let policy = Policy::new(Digits::Four)
        .with_max_retries(Policy::MAX_RETRIES)
        .unwrap();
    Service::new(keys, policy, "cowin/dose").unwrap()
}

/// What one operation of a race was, and what it answered.
#[derive(Debug)]
pub enum Done {
    /// A verification of a booking: its request id, the answer.
    Verified(String, String, Result<Outcome, Error>),
    Issued(String, Result<(), Error>),
    Overridden(String, Result<(), Error>),
    Revoked(String, Result<(), Error>),
}

/// How many operations were answered (not an error).
pub fn answered(done: &[Done]) -> usize {
    done.iter()
        .filter(|d| match d {
            Done::Verified(.., a) => a.is_ok(),
            Done::Issued(_, a) | Done::Overridden(_, a) | Done::Revoked(_, a) => a.is_ok(),
        })
        .count()
}

/// Issues 90 bookings named `{name}-b{i}`; answers their ids and codes. A write the
/// database times out (a replica or standby still catching up after the last failover) is
/// tried again: a retry of one that landed is refused as issued, and the code is sent
/// again instead.
pub async fn issue_before<S: AsyncStore>(
    service: &Service,
    store: &S,
    name: &str,
) -> Vec<(String, String)> {
    let mut codes = Vec::new();
    let mut retried = 0;
    for i in 0..90 {
        let id = format!("{name}-b{i}");
        let (code, tries) = issue_one(service, store, &id).await;
        retried += tries;
        codes.push((id, code));
    }
    if retried > 0 {
        println!("{name}: {retried} issues before the race tried again");
    }
    codes
}

/// Issues booking `id` and answers its code, and how many times the issue was tried again
/// (at most 100, 100 ms apart) after a store error; a retry of one that landed is refused
/// as issued, and the code is sent again instead.
pub async fn issue_one<S: AsyncStore>(service: &Service, store: &S, id: &str) -> (String, u32) {
    let mut retried = 0;
    loop {
        let mut answer = service.issue_async(store, id, UNTIL, NOW).await;
        if matches!(answer, Err(Error::AlreadyIssued)) {
            answer = service.resend_async(store, id, NOW).await;
        }
        match answer {
            Ok(code) => return (code.expose().to_owned(), retried),
            Err(Error::Store(_)) if retried < 100 => {
                retried += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{id}: {e:?}"),
        }
    }
}

/// A race in flight: three verifiers over the bookings (each code right for two thirds of
/// them), one overrider of the last 30 bookings, and one issuer that issues until stopped
/// and revokes every third booking it issued (each revoke tried again after an error, so a
/// retry finds it landed).
pub struct Race {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Done>>>,
}

impl Race {
    pub fn start<S: AsyncStore + Clone + Send + 'static>(
        rt: &tokio::runtime::Runtime,
        store: &S,
        service: &Arc<Service>,
        codes: &[(String, String)],
        name: &str,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for lane in 0..3 {
            let (store, service, stop) = (store.clone(), Arc::clone(service), Arc::clone(&stop));
            let mine: Vec<(String, String)> = codes.iter().skip(lane).step_by(3).cloned().collect();
            tasks.push(rt.spawn(async move {
                let mut done = Vec::new();
                for (i, (id, code)) in mine.iter().enumerate() {
                    let right = i % 3 != 2;
                    let typed = if right { code.clone() } else { wrong(code, 0) };
                    let request = format!("{id}-r");
                    // An error is retried under the same request id: a retry replays what
                    // landed.
                    for _ in 0..4 {
                        let attempt = Attempt::default().request(&request);
                        let answer = service.verify_async(&store, id, &typed, attempt, NOW).await;
                        let failed = answer.is_err();
                        done.push(Done::Verified(id.clone(), request.clone(), answer));
                        if !failed {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                done
            }));
        }
        {
            let (store, service, stop) = (store.clone(), Arc::clone(service), Arc::clone(&stop));
            let name = name.to_owned();
            tasks.push(rt.spawn(async move {
                let mut done = Vec::new();
                // Issues until the race is stopped, so writes are in flight when the
                // database fails over, however long the test waits first.
                for i in 0..10_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = format!("{name}-n{i}");
                    let answer = service.issue_async(&store, &id, UNTIL, NOW).await.map(drop);
                    let issued = answer.is_ok();
                    done.push(Done::Issued(id.clone(), answer));
                    // Every third booking issued is revoked again at once.
                    if issued && i % 3 == 0 {
                        for _ in 0..3 {
                            let answer = service.revoke_async(&store, &id, NOW).await;
                            let failed = answer.is_err();
                            done.push(Done::Revoked(id.clone(), answer));
                            if !failed {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                done
            }));
        }
        {
            let (store, service, stop) = (store.clone(), Arc::clone(service), Arc::clone(&stop));
            let ids: Vec<String> = codes
                .iter()
                .rev()
                .take(30)
                .map(|(id, _)| id.clone())
                .collect();
            tasks.push(rt.spawn(async move {
                let mut done = Vec::new();
                for id in ids {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let by =
                        Override::new(ActorId::new("supervisor").unwrap(), Reason::NoPhone, "")
                            .unwrap();
                    let answer = service.overrule_async(&store, &id, by, NOW).await;
                    done.push(Done::Overridden(id, answer));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                done
            }));
        }
        Self { stop, tasks }
    }

    /// Stops the race and answers every operation it made.
    pub fn stop(self, rt: &tokio::runtime::Runtime) -> Vec<Done> {
        self.stop.store(true, Ordering::Relaxed);
        self.tasks
            .into_iter()
            .flat_map(|t| rt.block_on(t).unwrap())
            .collect()
    }
}

/// The answers whose writes the store no longer holds, and every right code accepted twice.
pub async fn lost<S: AsyncStore>(
    service: &Service,
    store: &S,
    codes: &[(String, String)],
    done: &[Done],
) -> Vec<String>
where
    S::Error: std::fmt::Debug,
{
    let mut lost = Vec::new();
    // The requests answered a rejection (first, or replayed) on each booking.
    let mut rejected: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut accepted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for d in done {
        match d {
            Done::Verified(id, request, Ok(answer)) => {
                if answer.is_accepted() {
                    let requests = accepted.entry(id).or_default();
                    if !requests.contains(&request.as_str()) {
                        requests.push(request);
                    }
                }
                if matches!(
                    answer,
                    Outcome::Rejected { .. } | Outcome::Replayed(Earlier::Rejected { .. })
                ) {
                    let requests = rejected.entry(id).or_default();
                    if !requests.contains(&request.as_str()) {
                        requests.push(request);
                    }
                }
            }
            Done::Issued(id, Ok(()))
                if service.booking_async(store, id).await.unwrap().is_none() =>
            {
                lost.push(format!("{id}: issued, unknown now"));
            }
            Done::Revoked(id, Ok(())) => {
                let b = service.booking_async(store, id).await.unwrap();
                if b.is_none_or(|b| b.state() != State::Revoked) {
                    lost.push(format!("{id}: revoked, not revoked now"));
                }
            }
            Done::Overridden(id, Ok(())) => {
                let b = service.booking_async(store, id).await.unwrap();
                if b.is_none_or(|b| b.state() != State::Redeemed) {
                    lost.push(format!("{id}: overridden, not redeemed now"));
                }
            }
            _ => {}
        }
    }
    for (id, requests) in &accepted {
        if requests.len() > 1 {
            lost.push(format!("{id}: accepted for {} requests", requests.len()));
        }
        let b = service.booking_async(store, id).await.unwrap();
        if b.is_none_or(|b| b.state() != State::Redeemed) {
            lost.push(format!("{id}: accepted, not redeemed now"));
        }
    }
    for (id, requests) in &rejected {
        let n = requests.len();
        let b = service.booking_async(store, id).await.unwrap();
        let counted = b.map_or(0, |b| b.lifetime_failures());
        if usize::from(counted) < n {
            lost.push(format!(
                "{id}: {n} rejections answered, {counted} counted now"
            ));
        }
    }
    // Every code accepted once is refused to a new request: never a second acceptance.
    for (id, code) in codes {
        if !accepted.contains_key(id.as_str()) {
            continue;
        }
        let again = service
            .verify_async(store, id, code, Attempt::default().request("again"), NOW)
            .await;
        if matches!(again, Ok(Outcome::Accepted)) {
            lost.push(format!("{id}: accepted a second time"));
        }
    }
    lost
}

/// Issues 2,000 bookings (8 tasks of 250, their ids starting `prefix`), then verifies each
/// with its right code the same way; answers (issues a second, verifications a second).
pub fn throughput<S: AsyncStore + Clone + Send + 'static>(
    rt: &tokio::runtime::Runtime,
    store: &S,
    service: &Arc<Service>,
    prefix: &str,
) -> (f64, f64) {
    let per_task = 250;
    let started = std::time::Instant::now();
    let issuing: Vec<_> = (0..8)
        .map(|t| {
            let (store, service) = (store.clone(), Arc::clone(service));
            let prefix = prefix.to_owned();
            rt.spawn(async move {
                let mut codes = Vec::new();
                for i in 0..per_task {
                    let id = format!("{prefix}{t}-{i}");
                    let (code, _) = issue_one(&service, &store, &id).await;
                    codes.push((id, code));
                }
                codes
            })
        })
        .collect();
    let codes: Vec<Vec<(String, String)>> = issuing
        .into_iter()
        .map(|t| rt.block_on(t).unwrap())
        .collect();
    let issued = started.elapsed();
    let started = std::time::Instant::now();
    let verifying: Vec<_> = codes
        .into_iter()
        .map(|codes| {
            let (store, service) = (store.clone(), Arc::clone(service));
            rt.spawn(async move {
                for (id, code) in codes {
                    // A write a loaded machine's replica or standby did not confirm in time
                    // is retried under its request id (a replay once it landed).
                    let request = format!("{id}-r");
                    let mut answer = Err(Error::Contention);
                    for _ in 0..50 {
                        let attempt = Attempt::default().request(&request);
                        answer = service.verify_async(&store, &id, &code, attempt, NOW).await;
                        if answer.is_ok() {
                            break;
                        }
                    }
                    assert!(matches!(&answer, Ok(o) if o.is_accepted()), "{answer:?}");
                }
            })
        })
        .collect();
    for task in verifying {
        rt.block_on(task).unwrap();
    }
    let verified = started.elapsed();
    let n = 8.0 * f64::from(per_task);
    (n / issued.as_secs_f64(), n / verified.as_secs_f64())
}

/// Adds up rounds of failovers (each its answered writes lost and its answers), prints the
/// total as `what`, and fails on any loss.
pub fn none_lost(what: &str, rounds: impl IntoIterator<Item = (Vec<String>, usize)>) {
    let (mut lost, mut answered, mut n) = (Vec::new(), 0, 0);
    for (l, a) in rounds {
        lost.extend(l);
        answered += a;
        n += 1;
    }
    println!(
        "{n} {what}: {answered} answered, {} answered writes lost",
        lost.len()
    );
    assert!(lost.is_empty(), "answered writes lost: {lost:?}");
}
