//! Failovers on a Redis Cluster of 3 masters with a replica each, which the tests start on
//! loopback: what a promoted replica loses, with and without
//! [`RedisStore::with_replicated_writes`].
//!
//! Every round races verifications (right and wrong codes, each retried under its request
//! id after an error), issues and overrides against the cluster while one shard fails over,
//! then checks every answer given against what the cluster stores afterwards: an acceptance
//! or override whose booking is not redeemed, a rejection whose failure is not counted, an
//! issue whose booking is unknown, and a right code accepted a second time are each an
//! answered write lost.
//!
//! - **The control** freezes the shard's replica (SIGSTOP), cuts it off its master, and kills
//!   the master once the race has written to it, so the replica promoted has none of those
//!   writes: without replicated writes the loss is found every time, not by luck; with them
//!   those writes wait, time out and answer errors, and nothing answered is lost.
//! - **The replay door**: a verification whose replicas never acknowledged its acceptance
//!   answers an error, its retry under the same request id must not answer the replayed
//!   acceptance from the master's record, and after the failover the code is accepted once.
//! - **The long run**: forced failovers (`CLUSTER FAILOVER FORCE` with the master alive) and
//!   master SIGKILLs (the cluster promotes the replica) in turn, `FAILOVERS` of them
//!   (default 6; the closing note's run used 24), with replicated writes: 0 answered writes
//!   lost.
//!
//! Without `redis-server` every test is reported ignored, with the reason (and the run fails
//! under `CI=true`).
#![allow(unreachable_pub)]

#[path = "support/harness.rs"]
#[macro_use]
mod harness;

#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

#[path = "support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fixtures::{NOW, UNTIL, wrong};
use handover_code::audit::{Override, Reason};
use handover_code::record::{Earlier, State};

use handover_code::store::redis::RedisStore;
use handover_code::{
    ActorId, Attempt, Digits, Error, KeyId, Keyring, Outcome, Policy, Secret, Service,
};
use redis_server::{Cluster, cli};

/// How long a write waits for its replica before it answers an error.
const WAIT: Duration = Duration::from_millis(250);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// 4 digits, the default attempts, no verifier budget (each request is its own verifier), overrides.
fn service() -> Service {
    let keys: Arc<Keyring> =
        Keyring::new(KeyId(1), Secret::from_bytes(&[0x24; 32]).unwrap()).into();
    let policy = Policy::new(Digits::Four)
        .with_max_retries(Policy::MAX_RETRIES)
        .unwrap();
    Service::new(keys, policy, "cowin/dose").unwrap()
}

/// A cluster of 3 masters with a replica each (`appendfsync always`, a node timeout of 1 s
/// so a killed master is failed over quickly), and a store on it: replicated writes
/// (`WAIT 1`) if `replicated`.
fn start(rt: &tokio::runtime::Runtime, replicated: bool) -> Option<(Cluster, RedisStore)> {
    let cluster = Cluster::start_with(1, "always", 1_000)?;
    let urls = cluster.urls();
    let store = rt
        .block_on(async {
            let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
            RedisStore::connect_cluster(&nodes, Duration::from_secs(2)).await
        })
        .unwrap();
    let store = if replicated {
        store.with_replicated_writes(1, WAIT).unwrap()
    } else {
        store
    };
    Some((cluster, store))
}

/// What one operation of a race was, and what it answered.
#[derive(Debug)]
enum Done {
    /// A verification of a booking: its request id, the answer.
    Verified(String, String, Result<Outcome, Error>),
    Issued(String, Result<(), Error>),
    Overridden(String, Result<(), Error>),
}

/// How a round fails its shard over.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Failover {
    /// The replica frozen and cut off its master before the race; the master killed once the
    /// race has written to it; the replica thawed and promoted by `CLUSTER FAILOVER FORCE`.
    Frozen,
    /// `CLUSTER FAILOVER FORCE` on the replica while the master runs.
    Forced,
    /// The master killed; the cluster promotes the replica.
    Killed,
}

/// One round on the shard serving `shard_index`'s slots: bookings issued and replicated,
/// then verifications, issues and overrides raced across the failover. Answers the answers
/// whose writes the cluster no longer holds.
fn round(
    rt: &tokio::runtime::Runtime,
    cluster: &mut Cluster,
    store: &RedisStore,
    name: &str,
    shard_index: usize,
    failover: Failover,
) -> (Vec<String>, usize) {
    let service = Arc::new(service());
    let shard = cluster.shards()[shard_index % 3].clone();
    let replica = shard.replicas[0];
    // Bookings on every shard; only the failing one's are at risk. A replica still
    // catching up after the last round's failover can time an issue out: it is tried again
    // (a retry of one that landed is refused as issued, and the code sent again instead).
    let codes: Vec<(String, String)> = rt.block_on(async {
        let mut codes = Vec::new();
        let mut retried = 0;
        for i in 0..90 {
            let id = format!("{name}-b{i}");
            let code = loop {
                let mut answer = service.issue_async(store, &id, UNTIL, NOW).await;
                if matches!(answer, Err(Error::AlreadyIssued)) {
                    answer = service.resend_async(store, &id, NOW).await;
                }
                match answer {
                    Ok(code) => break code,
                    Err(Error::Store(_)) if retried < 50 => {
                        retried += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("{id}: {e:?}"),
                }
            };
            codes.push((id, code.expose().to_owned()));
        }
        if retried > 0 {
            println!("{name}: {retried} issues before the race tried again");
        }
        codes
    });
    cluster.settle();
    if failover == Failover::Frozen {
        cluster.node(replica).signal("STOP");
        cli(shard.master, &["CLIENT", "KILL", "TYPE", "replica"]);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    // Three verifiers over the bookings, each code right for a third of them; one issuer;
    // one overrider.
    for lane in 0..3 {
        let (store, service, stop) = (store.clone(), Arc::clone(&service), Arc::clone(&stop));
        let mine: Vec<(String, String)> = codes.iter().skip(lane).step_by(3).cloned().collect();
        tasks.push(rt.spawn(async move {
            let mut done = Vec::new();
            for (i, (id, code)) in mine.iter().enumerate() {
                let right = i % 3 != 2;
                let typed = if right { code.clone() } else { wrong(code, 0) };
                let request = format!("{id}-r");
                // An error is retried under the same request id: a retry replays what landed.
                for _ in 0..4 {
                    let answer = service
                        .verify_async(
                            &store,
                            id,
                            &typed,
                            Attempt::default().request(&request),
                            NOW,
                        )
                        .await;
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
        let (store, service, stop) = (store.clone(), Arc::clone(&service), Arc::clone(&stop));
        let name = name.to_owned();
        tasks.push(rt.spawn(async move {
            let mut done = Vec::new();
            for i in 0..200 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let id = format!("{name}-n{i}");
                let answer = service.issue_async(&store, &id, UNTIL, NOW).await.map(drop);
                done.push(Done::Issued(id, answer));
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            done
        }));
    }
    {
        let (store, service, stop) = (store.clone(), Arc::clone(&service), Arc::clone(&stop));
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
                let by = Override::new(ActorId::new("supervisor").unwrap(), Reason::NoPhone, "")
                    .unwrap();
                let answer = service.overrule_async(&store, &id, by, NOW).await;
                done.push(Done::Overridden(id, answer));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            done
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    match failover {
        Failover::Frozen => {
            cluster.node(shard.master).kill();
            cluster.node(replica).signal("CONT");
            cluster.promote(replica, true);
        }
        Failover::Forced => cluster.promote(replica, true),
        Failover::Killed => {
            cluster.node(shard.master).kill();
            cluster.promote(replica, false);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let done: Vec<Done> = tasks
        .into_iter()
        .flat_map(|t| rt.block_on(t).unwrap())
        .collect();
    // The old master comes back as the new master's replica.
    if !cluster.node(shard.master).running() {
        cluster.node(shard.master).restart();
    }
    cluster.settle();
    let answered = done
        .iter()
        .filter(|d| match d {
            Done::Verified(.., a) => a.is_ok(),
            Done::Issued(_, a) | Done::Overridden(_, a) => a.is_ok(),
        })
        .count();
    let lost = rt.block_on(lost(&service, store, &codes, &done));
    println!(
        "{name} ({failover:?} on the shard of master {}): {answered} answered, {} operations, {} answered writes lost",
        shard.master,
        done.len(),
        lost.len()
    );
    (lost, answered)
}

/// The answers whose writes the store no longer holds, and every right code accepted twice.
async fn lost(
    service: &Service,
    store: &RedisStore,
    codes: &[(String, String)],
    done: &[Done],
) -> Vec<String> {
    let mut lost = Vec::new();
    let mut rejected: BTreeMap<&str, u8> = BTreeMap::new();
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
                if matches!(answer, Outcome::Rejected { .. }) {
                    *rejected.entry(id).or_default() += 1;
                }
            }
            Done::Issued(id, Ok(()))
                if service.booking_async(store, id).await.unwrap().is_none() =>
            {
                lost.push(format!("{id}: issued, unknown now"));
            }
            Done::Overridden(id, Ok(())) => {
                let b = service.booking_async(store, id).await.unwrap();
                if b.is_none_or(|b| b.state() != State::Redeemed) {
                    lost.push(format!("{id}: overridden, not redeemed now: {b:?}"));
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
    for (id, n) in &rejected {
        let b = service.booking_async(store, id).await.unwrap();
        let counted = b.map_or(0, |b| b.lifetime_failures());
        if u32::from(counted) < u32::from(*n) {
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

/// The control: a frozen replica, cut off, promoted after its master dies: without
/// replicated writes, answered writes are lost (found every time, by construction).
fn a_frozen_replica_promoted_loses_answered_writes_without_replicated_writes() {
    let rt = runtime();
    let Some((mut cluster, store)) = start(&rt, false) else {
        return;
    };
    let (lost, _) = round(&rt, &mut cluster, &store, "plain", 0, Failover::Frozen);
    println!("lost: {lost:?}");
    assert!(
        lost.iter()
            .any(|l| l.contains("second time") || l.contains("not redeemed")),
        "the control found no lost acceptance: the test does not bite"
    );
}

/// The same, with replicated writes: the writes to the cut-off shard wait and answer
/// errors, and nothing answered is lost.
fn a_frozen_replica_promoted_loses_nothing_answered_with_replicated_writes() {
    let rt = runtime();
    let Some((mut cluster, store)) = start(&rt, true) else {
        return;
    };
    let (lost, answered) = round(&rt, &mut cluster, &store, "waited", 0, Failover::Frozen);
    assert!(answered > 0);
    assert!(lost.is_empty(), "answered writes lost: {lost:?}");
}

/// The replay door, on one booking: its acceptance lands on the master but never on the
/// (frozen) replica, so it answers an error; the retry under the same request id must not
/// answer the acceptance read from the master; after the failover (and the old master back
/// as a replica) the request is answered its acceptance, and no other request ever is.
fn the_replay_door_stays_shut() {
    for replicated in [false, true] {
        let rt = runtime();
        let Some((mut cluster, store)) = start(&rt, replicated) else {
            return;
        };
        let service = service();
        let id = "door";
        let code = rt
            .block_on(service.issue_async(&store, id, UNTIL, NOW))
            .unwrap();
        cluster.settle();
        let shard = cluster.shard_of(&store.key_name(fixtures_key(id)));
        let replica = shard.replicas[0];
        cluster.node(replica).signal("STOP");
        cli(shard.master, &["CLIENT", "KILL", "TYPE", "replica"]);
        let verify = |request: &str| {
            rt.block_on(service.verify_async(
                &store,
                id,
                code.expose(),
                Attempt::default().request(request),
                NOW,
            ))
        };
        let first = verify("r1");
        let retry = verify("r1");
        cluster.node(shard.master).kill();
        cluster.node(replica).signal("CONT");
        cluster.promote(replica, true);
        // The old master comes back as the new one's replica; the cluster client finds the
        // new master after a few errors.
        cluster.node(shard.master).restart();
        cluster.settle();
        let deadline = Instant::now() + Duration::from_secs(20);
        let after = loop {
            match verify("r1") {
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                answer => break answer,
            }
        };
        let fresh = verify("r2");
        println!(
            "replicated writes {replicated}: first {first:?}, retry {retry:?}, after the failover {after:?}, a new request {fresh:?}"
        );
        let acceptances = [&first, &retry, &after, &fresh]
            .iter()
            .filter(|a| matches!(a, Ok(o) if o.is_accepted()))
            .count();
        if replicated {
            assert!(
                matches!(first, Err(Error::Store(_))),
                "an unreplicated acceptance was answered: {first:?}"
            );
            assert!(
                matches!(retry, Err(Error::Store(_))),
                "the retry answered from an unreplicated record: {retry:?}"
            );
            assert!(matches!(&after, Ok(o) if o.is_accepted()), "{after:?}");
            assert!(
                matches!(fresh, Ok(Outcome::AlreadyRedeemed { by_override: false })),
                "{fresh:?}"
            );
            assert_eq!(acceptances, 1);
        } else {
            // The control: the acceptance answered first is undone by the failover, and the
            // same code is accepted again.
            assert!(matches!(first, Ok(Outcome::Accepted)), "{first:?}");
            assert!(
                matches!(retry, Ok(Outcome::Replayed(Earlier::Accepted))),
                "{retry:?}"
            );
            assert!(acceptances > 2, "the control did not lose the acceptance");
        }
    }
}

fn fixtures_key(id: &str) -> handover_code::Key<'_> {
    fixtures::booking_key(id)
}

/// Forced failovers and killed masters in turn, `FAILOVERS` of them (default 6), during
/// races, with replicated writes: nothing answered is lost.
fn failovers_during_races_lose_nothing_answered_with_replicated_writes() {
    let failovers: usize = std::env::var("FAILOVERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    let rt = runtime();
    let Some((mut cluster, store)) = start(&rt, true) else {
        return;
    };
    let mut lost = Vec::new();
    let mut answered = 0;
    for n in 0..failovers {
        let kind = if n % 2 == 0 {
            Failover::Forced
        } else {
            Failover::Killed
        };
        let (l, a) = round(&rt, &mut cluster, &store, &format!("f{n}"), n, kind);
        lost.extend(l);
        answered += a;
    }
    println!(
        "{failovers} failovers with replicated writes: {answered} answered, {} answered writes lost",
        lost.len()
    );
    assert!(lost.is_empty(), "answered writes lost: {lost:?}");
}

/// What replicated writes cost: verifications per second (right codes, 8 at a time, each
/// on its own booking) on the same cluster, each write answered once the master has it and
/// once its replica has acknowledged it too. Printed, not asserted: the figures are the
/// README's "Deploying" table's.
fn replicated_writes_cost_is_measured() {
    let rt = runtime();
    let Some((cluster, plain)) = start(&rt, false) else {
        return;
    };
    let waited = plain.clone().with_replicated_writes(1, WAIT).unwrap();
    let service = Arc::new(service());
    for (name, store) in [
        ("without replicated writes", &plain),
        ("with replicated writes", &waited),
    ] {
        let store = store
            .clone()
            .with_prefix(&format!("{}:", name.len()))
            .unwrap();
        let per_task = 250;
        let started = Instant::now();
        let issuing: Vec<_> = (0..8)
            .map(|t| {
                let (store, service) = (store.clone(), Arc::clone(&service));
                rt.spawn(async move {
                    let mut codes = Vec::new();
                    for i in 0..per_task {
                        let id = format!("m{t}-{i}");
                        let code = service.issue_async(&store, &id, UNTIL, NOW).await.unwrap();
                        codes.push((id, code.expose().to_owned()));
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
        let started = Instant::now();
        let verifying: Vec<_> = codes
            .into_iter()
            .map(|codes| {
                let (store, service) = (store.clone(), Arc::clone(&service));
                rt.spawn(async move {
                    for (id, code) in codes {
                        let answer = service.verify_async(&store, &id, &code, None, NOW).await;
                        assert!(matches!(answer, Ok(Outcome::Accepted)), "{answer:?}");
                    }
                })
            })
            .collect();
        for task in verifying {
            rt.block_on(task).unwrap();
        }
        let verified = started.elapsed();
        let n = 8.0 * f64::from(per_task);
        println!(
            "{name}: {:.0} issues/s, {:.0} verifications/s (right codes, 8 tasks, 3 masters + 3 replicas on loopback)",
            n / issued.as_secs_f64(),
            n / verified.as_secs_f64()
        );
    }
    drop(cluster);
}

fn main() {
    harness::run(
        redis_server::missing(),
        trials!(server: a_frozen_replica_promoted_loses_answered_writes_without_replicated_writes, a_frozen_replica_promoted_loses_nothing_answered_with_replicated_writes, the_replay_door_stays_shut, failovers_during_races_lose_nothing_answered_with_replicated_writes, replicated_writes_cost_is_measured),
    );
}
