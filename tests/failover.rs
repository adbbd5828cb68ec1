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

#[path = "support/scratch.rs"]
#[allow(dead_code)]
mod scratch;

#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

#[path = "support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

#[path = "support/race.rs"]
mod race;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fixtures::NOW;
use handover_code::record::{Earlier, Version};
use handover_code::store::redis::RedisStore;
use handover_code::store::{AsyncStore, Swap};
use handover_code::{Attempt, Error, Outcome};
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
    let rt = race::runtime();
    let Some((mut cluster, store)) = start(&rt, false) else {
        return;
    };
    let (lost, _) = round(&rt, &mut cluster, &store, "plain", 0, Failover::Frozen);
    race::assert_an_acceptance_lost(&lost);
}

/// The same, with replicated writes: the writes to the cut-off shard wait and answer
/// errors, and nothing answered is lost.
fn a_frozen_replica_promoted_loses_nothing_answered_with_replicated_writes() {
    let rt = race::runtime();
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
        let rt = race::runtime();
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
    let rt = race::runtime();
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
    let rt = race::runtime();
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
    let rt = race::runtime();
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

fn main() {
    harness::run_one_at_a_time(
        redis_server::missing(),
        trials!(server: a_frozen_replica_promoted_loses_answered_writes_without_replicated_writes, a_frozen_replica_promoted_loses_nothing_answered_with_replicated_writes, the_replay_door_stays_shut, failovers_during_races_lose_nothing_answered_with_replicated_writes, replicated_writes_cost_is_measured, make_durable_confirms_the_version_read),
    );
}
