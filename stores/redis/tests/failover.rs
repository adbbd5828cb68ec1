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

#[path = "../../../tests/support/harness.rs"]
#[macro_use]
mod harness;

#[path = "../../../tests/support/scratch.rs"]
#[allow(dead_code)]
mod scratch;

#[path = "../../../tests/support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

#[path = "../../../tests/support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

#[path = "../../../tests/support/race.rs"]
mod race;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fixtures::NOW;
use handover_code::record::{Earlier, Version};
use handover_code::store::{AsyncStore, Swap};
use handover_code::{Attempt, Error, Outcome};
use handover_code_redis::RedisStore;
use race::service;
use redis_server::{Cluster, cli};

/// How long a write waits for its replica before it answers an error.
const WAIT: Duration = Duration::from_millis(250);

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
    // Bookings on every shard; only the failing one's are at risk.
    let codes = rt.block_on(race::issue_before(&service, store, name));
    cluster.settle();
    if failover == Failover::Frozen {
        cluster.node(replica).signal("STOP");
        cli(shard.master, &["CLIENT", "KILL", "TYPE", "replica"]);
    }
    let race = race::Race::start(rt, store, &service, &codes, name);
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
    let done = race.stop(rt);
    // The old master comes back as the new master's replica.
    if !cluster.node(shard.master).running() {
        cluster.node(shard.master).restart();
    }
    cluster.settle();
    let answered = race::answered(&done);
    let lost = rt.block_on(race::lost(&service, store, &codes, &done));
    println!(
        "{name} ({failover:?} on the shard of master {}): {answered} answered, {} operations, {} answered writes lost",
        shard.master,
        done.len(),
        lost.len()
    );
    (lost, answered)
}

/// The control: a frozen replica, cut off, promoted after its master dies: without
/// replicated writes, answered writes are lost (found every time, by construction).
fn a_frozen_replica_promoted_loses_answered_writes_without_replicated_writes() {
    let rt = fixtures::runtime();
    let Some((mut cluster, store)) = start(&rt, false) else {
        return;
    };
    let (lost, _) = round(&rt, &mut cluster, &store, "plain", 0, Failover::Frozen);
    race::assert_an_acceptance_lost(&lost);
}

/// The same, with replicated writes: the writes to the cut-off shard wait and answer
/// errors, and nothing answered is lost.
fn a_frozen_replica_promoted_loses_nothing_answered_with_replicated_writes() {
    let rt = fixtures::runtime();
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
/// as a replica) a new request is accepted, and the first is refused: one acceptance
/// handed over. Without replicated writes (the control) both requests are handed one.
fn the_replay_door_stays_shut() {
    for replicated in [false, true] {
        let rt = fixtures::runtime();
        let Some((mut cluster, store)) = start(&rt, replicated) else {
            return;
        };
        let service = service();
        let id = "door";
        let (code, _) = rt.block_on(race::issue_one(&service, &store, id));
        cluster.settle();
        let shard = cluster.shard_of(&store.key_name(fixtures_key(id)));
        let replica = shard.replicas[0];
        cluster.node(replica).signal("STOP");
        cli(shard.master, &["CLIENT", "KILL", "TYPE", "replica"]);
        let verify = |request: &str| {
            rt.block_on(service.verify_async(
                &store,
                id,
                &code,
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
        // r2 may meet errors while the client finds the new master, and a try that wrote
        // but was not confirmed is answered by its retry as a replay: either way, once.
        let fresh = race::until_answered(deadline, || verify("r2"));
        let again = race::until_answered(deadline, || verify("r1"));
        println!(
            "replicated writes {replicated}: first {first:?}, retry {retry:?}; after the failover a new request {fresh:?}, the first again {again:?}"
        );
        // Requests handed an acceptance: r1 (first or retry) and r2.
        let r1 = [&first, &retry]
            .iter()
            .any(|a| matches!(a, Ok(o) if o.is_accepted()));
        let r2 = matches!(&fresh, Ok(o) if o.is_accepted());
        if replicated {
            assert!(
                matches!(first, Err(Error::Store(_))),
                "an unreplicated acceptance was answered: {first:?}"
            );
            assert!(
                matches!(retry, Err(Error::Store(_))),
                "the retry answered from an unreplicated record: {retry:?}"
            );
            assert!(matches!(&fresh, Ok(o) if o.is_accepted()), "{fresh:?}");
            assert!(
                matches!(again, Ok(Outcome::AlreadyRedeemed { by_override: false })),
                "{again:?}"
            );
            assert!(!(r1 && r2));
        } else {
            // The control: the acceptance handed to r1 is undone by the failover, and r2 is
            // accepted too.
            assert!(matches!(first, Ok(Outcome::Accepted)), "{first:?}");
            assert!(
                matches!(retry, Ok(Outcome::Replayed(Earlier::Accepted))),
                "{retry:?}"
            );
            assert!(r1 && r2, "the control did not accept twice: {fresh:?}");
        }
    }
}

/// `make_durable` with replicated writes: `Swapped` on the version stored (its rewrite
/// acknowledged by the replica), `Conflict` on another version or a missing record, and the
/// record unchanged; without replicated writes it checks nothing.
fn make_durable_confirms_the_version_read() {
    let rt = fixtures::runtime();
    let Some((_cluster, store)) = start(&rt, true) else {
        return;
    };
    let service = service();
    rt.block_on(async {
        race::issue_one(&service, &store, "t1").await;
        let key = fixtures_key("t1");
        let (record, version) = store.load(key).await.unwrap().unwrap();
        // A replica slow to acknowledge on a loaded machine is an error: tried again.
        let mut confirmed = store.make_durable(key, version).await;
        for _ in 0..20 {
            if confirmed.is_ok() {
                break;
            }
            confirmed = store.make_durable(key, version).await;
        }
        assert_eq!(confirmed.unwrap(), Swap::Swapped);
        let stale = Version(version.0 - 1);
        assert_eq!(
            store.make_durable(key, stale).await.unwrap(),
            Swap::Conflict
        );
        let none = fixtures_key("none");
        assert_eq!(
            store.make_durable(none, version).await.unwrap(),
            Swap::Conflict
        );
        assert!(store.load(none).await.unwrap().is_none());
        assert_eq!(store.load(key).await.unwrap().unwrap(), (record, version));
    });
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
    let rt = fixtures::runtime();
    let Some((mut cluster, store)) = start(&rt, true) else {
        return;
    };
    let rounds = (0..failovers).map(|n| {
        let kind = if n % 2 == 0 {
            Failover::Forced
        } else {
            Failover::Killed
        };
        round(&rt, &mut cluster, &store, &format!("f{n}"), n, kind)
    });
    race::none_lost("failovers with replicated writes", rounds);
}

/// What replicated writes cost: verifications per second (right codes, 8 at a time, each
/// on its own booking) on the same cluster, each write answered once the master has it and
/// once its replica has acknowledged it too. Printed, not asserted: the figures are the
/// README's "Deploying" table's.
fn replicated_writes_cost_is_measured() {
    let rt = fixtures::runtime();
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
        let (issues, verifications) = race::throughput(&rt, &store, &service, "m");
        println!(
            "{name}: {issues:.0} issues/s, {verifications:.0} verifications/s (right codes, 8 tasks, 3 masters + 3 replicas on loopback)"
        );
    }
    drop(cluster);
    // One server (appendfsync always), no replica: the same harness.
    let Some(server) = redis_server::Server::start("always") else {
        return;
    };
    let one = rt
        .block_on(RedisStore::connect(&server.url(), Duration::from_secs(2)))
        .unwrap();
    let (issues, verifications) = race::throughput(&rt, &one, &service, "m");
    println!(
        "one server, appendfsync always: {issues:.0} issues/s, {verifications:.0} verifications/s (right codes, 8 tasks)"
    );
}

/// Redis Cluster's hash slot of a key name: CRC16 (XMODEM) of its `{…}` hash tag (of the
/// whole name without one), modulo 16384.
fn slot(name: &[u8]) -> u16 {
    let tag = name
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &name[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(name);
    let mut crc: u16 = 0;
    for &byte in tag {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16_384
}

/// What one store answered during [`traffic`].
#[derive(Debug, Default)]
struct Tally {
    reads_ok: usize,
    reads_failed: usize,
    healthy_ok: usize,
    healthy_failed: usize,
    waited_unreplicated: usize,
    waited_other: usize,
}

/// For `span`: one task loading records of the frozen shard over and over, one issuing
/// bookings on the healthy shards (`healthy`, in turn), and `waiting` tasks issuing bookings
/// on the frozen shard (`frozen`, in turn), each write waiting for its replica.
async fn traffic(
    store: &RedisStore,
    service: &handover_code::Service,
    frozen: &[String],
    healthy: &[String],
    waiting: usize,
    span: Duration,
) -> Tally {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let until = Instant::now() + span;
    let next_frozen = AtomicUsize::new(0);
    let tally = std::sync::Mutex::new(Tally::default());
    let reader = async {
        let mut i = 0;
        while Instant::now() < until {
            let key = fixtures::booking_key(&frozen[i % frozen.len()]);
            let read = store.load(key).await;
            let mut t = tally.lock().unwrap();
            if read.is_ok() {
                t.reads_ok += 1
            } else {
                t.reads_failed += 1
            }
            i += 1;
        }
    };
    let healthy_writer = async {
        let mut i = 0;
        while Instant::now() < until && i < healthy.len() {
            let issued = service
                .issue_async(store, &healthy[i], fixtures::UNTIL, NOW)
                .await;
            let mut t = tally.lock().unwrap();
            if issued.is_ok() {
                t.healthy_ok += 1
            } else {
                t.healthy_failed += 1
            }
            i += 1;
        }
    };
    let waiter = || async {
        while Instant::now() < until {
            let i = next_frozen.fetch_add(1, Ordering::Relaxed);
            let Some(id) = frozen.get(i) else { break };
            let issued = service.issue_async(store, id, fixtures::UNTIL, NOW).await;
            let mut t = tally.lock().unwrap();
            match issued {
                Err(Error::Store(e)) if format!("{e}").contains("replicas in time") => {
                    t.waited_unreplicated += 1
                }
                _ => t.waited_other += 1,
            }
        }
    };
    // The waiting writers run side by side, on this task.
    let mut waiters: Vec<_> = (0..waiting).map(|_| Box::pin(waiter())).collect();
    let all_waiters = std::future::poll_fn(|cx| {
        waiters.retain_mut(|w| w.as_mut().poll(cx).is_pending());
        if waiters.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    });
    tokio::join!(reader, healthy_writer, all_waiters);
    drop(waiters);
    tally.into_inner().unwrap()
}

/// While a replica is frozen, only the writes that wait for it are held up: reads of its
/// master's records and writes to the other shards keep answering, because each waiting
/// write sends its `WAIT` on a connection of its own. Shown beside a store built on the
/// host's own connection (`from_cluster`), whose waits share it, as every store's did
/// before: its reads queue behind the waits. The figures are printed (the closing note's
/// before and after); what is asserted is that on the store with its own waiting
/// connections no read and no write to a healthy shard failed while 4 writes at a time
/// waited out their replica's timeout, and that they did wait.
fn a_frozen_replica_holds_up_only_the_writes_that_wait() {
    let rt = fixtures::runtime();
    let Some(mut cluster) = Cluster::start_with(1, "always", 5_000) else {
        return;
    };
    let wait = Duration::from_millis(1_000);
    let urls = cluster.urls();
    let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
    let own = rt
        .block_on(RedisStore::connect_cluster(&nodes, Duration::from_secs(2)))
        .unwrap()
        .with_replicated_writes(1, wait)
        .unwrap();
    let shared = rt
        .block_on(async {
            handover_code_redis::redis::cluster::ClusterClient::builder(nodes.iter().copied())
                .retries(0)
                .connection_timeout(Duration::from_secs(2))
                .response_timeout(Duration::from_secs(2))
                .build()
                .unwrap()
                .get_async_connection()
                .await
        })
        .unwrap();
    let shared = RedisStore::from_cluster(shared)
        .with_prefix("shared:")
        .unwrap()
        .with_replicated_writes(1, wait)
        .unwrap();
    let service = service();
    let shards = cluster.shards();
    let target = shards[0].clone();
    let on_target = |store: &RedisStore, id: &str| {
        let s = slot(&store.key_name(fixtures::booking_key(id)));
        target.slots.iter().any(|&(a, b)| a <= s && s <= b)
    };
    for (name, store) in [
        ("own waiting connections", &own),
        ("one shared connection", &shared),
    ] {
        let ids = |tag: &str, frozen: bool, n: usize| -> Vec<String> {
            (0..)
                .map(|i| format!("{tag}-{i}"))
                .filter(|id| on_target(store, id) == frozen)
                .take(n)
                .collect()
        };
        let tag = &name[..3];
        let before = rt.block_on(traffic(
            store,
            &service,
            &ids(&format!("{tag}-r"), true, 64),
            &ids(&format!("{tag}-h0"), false, 4_000),
            0,
            Duration::from_secs(2),
        ));
        let replica = target.replicas[0];
        cluster.node(replica).signal("STOP");
        cli(target.master, &["CLIENT", "KILL", "TYPE", "replica"]);
        let during = rt.block_on(traffic(
            store,
            &service,
            &ids(&format!("{tag}-w"), true, 400),
            &ids(&format!("{tag}-h1"), false, 4_000),
            4,
            Duration::from_secs(3),
        ));
        cluster.node(replica).signal("CONT");
        cluster.settle();
        println!(
            "{name}: before the freeze {:.0} reads/s of the shard and {:.0} writes/s to the others; \
             with its replica frozen {:.0} reads/s ({} failed), {:.0} writes/s to the others ({} failed), \
             {} writes waited out the timeout",
            before.reads_ok as f64 / 2.0,
            before.healthy_ok as f64 / 2.0,
            during.reads_ok as f64 / 3.0,
            during.reads_failed,
            during.healthy_ok as f64 / 3.0,
            during.healthy_failed,
            during.waited_unreplicated,
        );
        if std::ptr::eq(store, &own) {
            assert!(
                during.waited_unreplicated > 0,
                "no write waited: {during:?}"
            );
            assert_eq!(during.waited_other, 0, "{during:?}");
            assert!(during.reads_ok > 0 && during.healthy_ok > 0, "{during:?}");
            assert_eq!(
                during.reads_failed, 0,
                "a read queued behind a WAIT: {during:?}"
            );
            assert_eq!(
                during.healthy_failed, 0,
                "a healthy shard's write failed: {during:?}"
            );
        }
    }
}

fn main() {
    harness::run_one_at_a_time(
        redis_server::missing(),
        trials!(server: a_frozen_replica_promoted_loses_answered_writes_without_replicated_writes, a_frozen_replica_promoted_loses_nothing_answered_with_replicated_writes, the_replay_door_stays_shut, failovers_during_races_lose_nothing_answered_with_replicated_writes, replicated_writes_cost_is_measured, make_durable_confirms_the_version_read, a_frozen_replica_holds_up_only_the_writes_that_wait),
    );
}
