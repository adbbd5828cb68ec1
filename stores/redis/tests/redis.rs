//! The Redis store against real servers that each test starts for itself: the conformance
//! kit (sync and async), the model's sequences, every shared-store scenario, dropped
//! futures, several OS processes on one server, a server killed with SIGKILL and restarted
//! under `appendfsync always` and `everysec`, and the conformance kit and the process race
//! once more through the cluster client on a 3-master Redis Cluster. Without `redis-server`
//! installed every test is reported ignored, with the reason (and the run fails under
//! `CI=true`): `tests/support/harness.rs`.
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

#[path = "../../../tests/support/corrupt.rs"]
mod corrupt;

#[path = "../../../tests/support/fixtures.rs"]
mod fixtures;

#[path = "../../../tests/support/cancel.rs"]
mod cancel;

#[path = "../../../tests/support/ops.rs"]
mod ops;

#[path = "../../../tests/support/settlement.rs"]
mod settlement;

#[path = "../../../tests/support/roles.rs"]
mod roles;

#[path = "../../../tests/support/written.rs"]
mod written;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fixtures::{
    NOW, UNTIL, answers, booking_key, check_processes, keys, runtime, service, start_at,
    wait_for_start,
};
use handover_code::conformance::Blocking;
use handover_code::{AsyncStore, BookingId, Error, Timestamp, conformance};
use handover_code_redis::RedisStore;
use redis_server::{Cluster, Server, cli};
use written::{issue_expiring, issue_many, unwritten, verify_all};

/// A store on `server`, connected inside `rt`.
fn connect(rt: &tokio::runtime::Runtime, server: &Server) -> RedisStore {
    rt.block_on(RedisStore::connect(&server.url(), Duration::from_secs(3)))
        .unwrap()
}

/// The same store under a prefix no other call has used: an empty store, without flushing
/// (which a cluster would need on every master).
fn fresh(store: &RedisStore) -> RedisStore {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    store.clone().with_prefix(&format!("t{n}:")).unwrap()
}

/// A fresh server (append-only file, `appendfsync always`), a runtime, and a store on it;
/// `None` (the test skips) where Redis is not installed.
fn start() -> Option<(Server, tokio::runtime::Runtime, RedisStore)> {
    let server = Server::start("always")?;
    let rt = runtime();
    let store = connect(&rt, &server);
    Some((server, rt, store))
}

fn passes_the_conformance_kit() {
    let Some((_server, rt, store)) = start() else {
        return;
    };
    let handle = rt.handle().clone();
    let report = conformance::check_all(|| Blocking {
        store: fresh(&store),
        handle: handle.clone(),
    })
    .unwrap();
    assert!(report.conflicts > 0);
}

fn passes_the_async_conformance_kit_as_an_async_store() {
    let Some((_server, rt, store)) = start() else {
        return;
    };
    let report = rt
        .block_on(conformance::check_all_async(|| fresh(&store)))
        .unwrap();
    assert!(report.conflicts > 0);
}

/// The model's operation sequences (four services, prunes, faults, cut-off operations) on a
/// real server, each under a fresh prefix.
fn a_real_server_agrees_with_the_model() {
    let Some((_server, rt, store)) = start() else {
        return;
    };
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let sequences = proptest::collection::vec(ops::op(), 1..50);
    runner
        .run(&sequences, |ops| {
            let blocking = Blocking {
                store: fresh(&store),
                handle: rt.handle().clone(),
            };
            conformance::model::check_sequence_pruning(blocking, &ops)
                .map_err(|failure| TestCaseError::fail(failure.to_string()))
        })
        .unwrap();
}

fn every_shared_store_scenario_on_a_real_server() {
    let Some((_server, rt, store)) = start() else {
        return;
    };
    conformance::check_scenarios_async(|| fresh(&store), rt.handle()).unwrap();
}

/// A rejection waits for its settlement however many races it loses, and a sprayer's wrong
/// codes racing each other's settlements on one server all count: the verifier ends
/// suspended with its failures equal to the rejections answered.
fn settlements_that_lose_races_on_a_real_server() {
    let Some((_server, rt, store)) = start() else {
        return;
    };
    let blocking = || Blocking {
        store: fresh(&store),
        handle: rt.handle().clone(),
    };
    settlement::a_rejection_waits_for_its_settlement(blocking);
    settlement::a_sprayer_whose_settlements_lose_is_suspended(&blocking());
    settlement::contention_never_hides_a_sprayer(&blocking());
}

fn dropped_verifications_settle_on_a_real_server() {
    let Some((_server, rt, store)) = start() else {
        return;
    };
    rt.block_on(async {
        cancel::dropped_verifications_settle(&fresh(&store)).await;
        cancel::dropped_right_codes_cost_nothing(&fresh(&store)).await;
        cancel::dropped_overrides_count_only_what_landed(&fresh(&store)).await;
    });
}

/// Issue, resend, a wrong code, the right one, a replay; prune in batches over many records
/// (the live ones stay, and so do their index entries); prefixes keep stores apart; the key
/// layout is the documented one; a hash something else wrote is an error, not a record.
fn the_flow_prune_and_layout_on_a_real_server() {
    let Some((server, rt, store)) = start() else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    let store = store.with_prefix("flow:").unwrap().with_prune_batch(64);
    rt.block_on(async {
        written::the_flow(&service, &store, "EE123456789IN").await;
        // Another prefix is another store.
        let other = store.clone().with_prefix("other:").unwrap();
        assert!(
            AsyncStore::load(&other, booking_key("EE123456789IN"))
                .await
                .unwrap()
                .is_none()
        );

        // 1,000 bookings that expire early, 300 that live on: batches of 64 in every bucket.
        issue_expiring(&service, &store, "old", 1000, Timestamp(NOW.0 + 10)).await;
        issue_expiring(&service, &store, "live", 300, UNTIL).await;
        let started = Instant::now();
        let pruned = store.prune(Timestamp(NOW.0 + 1_000)).await.unwrap();
        println!("pruned {pruned} records in {:?}", started.elapsed());
        assert_eq!(pruned, 1_000);
        assert_eq!(store.prune(Timestamp(NOW.0 + 1_000)).await.unwrap(), 0);
        for i in [0, 150, 299] {
            let key = booking_key(Box::leak(format!("live-{i}").into_boxed_str()));
            assert!(AsyncStore::load(&store, key).await.unwrap().is_some());
        }
        // The index holds the 301 live records, and only them.
        let indexed: u64 = (0..1024u16)
            .map(|b| {
                let index = format!("flow:{{{b:04x}}}prune");
                cli(server.port, &["ZCARD", &index])
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(indexed, 301);
        // Past every expiry, everything goes.
        assert_eq!(
            store.prune(Timestamp(UNTIL.0 + 100_000_000)).await.unwrap(),
            301
        );

        // The documented layout: `{prefix}{bbbb}{kind}:{len}:{namespace}{id}`.
        let name = store.key_name(booking_key("EE123456789IN"));
        let name = String::from_utf8(name).unwrap();
        assert!(
            name.starts_with("flow:{") && name.ends_with("}1:10:cowin/doseEE123456789IN"),
            "{name}"
        );

        // A hash with a version and no record was not written by this store.
        let stray = String::from_utf8(store.key_name(booking_key("stray"))).unwrap();
        cli(server.port, &["HSET", &stray, "v", "5"]);
        let stray = AsyncStore::load(&store, booking_key("stray")).await;
        assert!(
            matches!(&stray, Err(Error::Corrupt(e)) if e.to_string().contains("incomplete")),
            "{stray:?}"
        );
    });
    assert!(matches!(
        RedisStore::with_prefix(store.clone(), "a{b}"),
        Err(Error::Setup(_))
    ));
}

/// `prune_task` prunes on its interval until it is aborted.
fn the_prune_task_prunes_on_its_interval() {
    let Some((_server, rt, store)) = start() else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    let store = fresh(&store);
    rt.block_on(async {
        // Expired long before the system clock's reading.
        issue_expiring(&service, &store, "gone", 20, Timestamp(NOW.0 + 10)).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(
            store
                .clone()
                .prune_task(Duration::from_millis(50), move |pass| {
                    let _ = tx.send(pass.map_err(|e| e.to_string()));
                }),
        );
        assert_eq!(rx.recv().await.unwrap(), Ok(20));
        assert_eq!(rx.recv().await.unwrap(), Ok(0));
        task.abort();
    });
}

/// What a child process does, when this binary is started as one.
fn child() {
    let Ok(role) = std::env::var("HANDOVER_REDIS_CHILD") else {
        return;
    };
    let urls = std::env::var("HANDOVER_REDIS").unwrap();
    let prefix = std::env::var("HANDOVER_PREFIX").unwrap();
    let index: u32 = std::env::var("HANDOVER_INDEX").unwrap().parse().unwrap();
    let code = std::env::var("HANDOVER_CODE").unwrap();
    let rt = runtime();
    let store = rt.block_on(async {
        let urls: Vec<&str> = urls.split(',').collect();
        let store = if std::env::var("HANDOVER_CLUSTER").is_ok() {
            RedisStore::connect_cluster(&urls, Duration::from_secs(5)).await
        } else {
            RedisStore::connect(urls[0], Duration::from_secs(5)).await
        };
        store.unwrap().with_prefix(&prefix).unwrap()
    });
    let keys = keys();
    let service = service(&keys);
    // Start together, at the instant the parent set.
    wait_for_start();
    let answers = rt.block_on(roles::play(&role, &service, &store, index, &code));
    let mut stdout = std::io::stdout().lock();
    for a in answers {
        writeln!(stdout, "ANSWER {a}").unwrap();
    }
}

/// Ten processes released together on one server or cluster: six guessing one booking (one
/// of them holding the right code), four spraying wrong codes across 40 bookings as one
/// verifier. Every limit holds across them.
fn several_processes_keep_every_limit(
    rt: &tokio::runtime::Runtime,
    store: &RedisStore,
    urls: &[String],
    cluster: bool,
) {
    let keys = keys();
    let service = service(&keys);
    let store = fresh(store);
    let code = rt.block_on(async {
        for i in 0..40 {
            let id = format!("spray-{i}");
            service
                .issue_async(&store, BookingId::new(&id).unwrap(), UNTIL, NOW)
                .await
                .unwrap();
        }
        service
            .issue_async(&store, BookingId::new("shared").unwrap(), UNTIL, NOW)
            .await
            .unwrap()
    });
    let prefix = String::from_utf8(store.prefix().to_vec()).unwrap();
    let start = start_at(1_500);
    let spawn = |role: &str, index: u32| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env("HANDOVER_START", start.to_string())
            .env("HANDOVER_CODE", code.expose())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env("HANDOVER_REDIS_CHILD", role)
            .env("HANDOVER_REDIS", urls.join(","))
            .env("HANDOVER_PREFIX", &prefix)
            .env("HANDOVER_INDEX", index.to_string())
            .stdout(Stdio::piped());
        if cluster {
            cmd.env("HANDOVER_CLUSTER", "1");
        }
        cmd.spawn().unwrap()
    };
    let guessers: Vec<_> = (0..6)
        .map(|i| spawn(if i == 3 { "holder" } else { "guesser" }, i))
        .collect();
    let sprayers: Vec<_> = (0..4).map(|i| spawn("sprayer", i)).collect();
    let shared: Vec<String> = guessers.into_iter().flat_map(answers).collect();
    let sprayed: Vec<String> = sprayers.into_iter().flat_map(answers).collect();
    let stored = rt
        .block_on(AsyncStore::load(&store, booking_key("shared")))
        .unwrap();
    check_processes(&shared, &sprayed, stored);
}

fn several_processes_on_one_server_keep_every_limit() {
    let Some((server, rt, store)) = start() else {
        return;
    };
    several_processes_keep_every_limit(&rt, &store, &[server.url()], false);
}

/// Kills the server with SIGKILL while bookings are being verified, then restarts it: the
/// calls meanwhile answer errors, the store recovers, and every answer that went out has
/// its write in the restarted server. Answers the answers that were lost, and how many
/// were answered at all.
fn kill_mid_run(fsync: &'static str) -> Option<(Vec<String>, usize)> {
    let mut server = Server::start(fsync)?;
    let rt = runtime();
    let store = connect(&rt, &server);
    let keys = keys();
    let service = service(&keys);
    let codes = rt.block_on(issue_many(&service, &store, "kill", 600));
    // Eight verifiers at once, so the kill meets calls in flight.
    let verifying: Vec<_> = codes
        .chunks(codes.len() / 8)
        .map(|chunk| {
            let store = store.clone();
            let chunk = chunk.to_vec();
            rt.spawn(async move {
                let keys = fixtures::keys();
                let service = fixtures::service(&keys);
                verify_all(&service, &store, &chunk, Duration::from_millis(2)).await
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(60));
    server.kill();
    std::thread::sleep(Duration::from_millis(150));
    server.restart();
    let answers: Vec<_> = verifying
        .into_iter()
        .flat_map(|task| rt.block_on(task).unwrap())
        .collect();
    let answered = answers.iter().filter(|a| a.is_ok()).count();
    let errors = answers.len() - answered;
    println!("appendfsync {fsync}: {answered} answered, {errors} errors across the kill");
    assert!(errors > 0, "the kill did not land mid-run");
    rt.block_on(async {
        // Recovered: the connection manager reconnects.
        let again = issue_many(&service, &store, "after-kill", 20).await;
        let answers = verify_all(&service, &store, &again, Duration::ZERO).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    });
    let lost = rt.block_on(unwritten(&store, &codes, &answers));
    Some((lost, answered))
}

fn a_killed_server_with_appendfsync_always_loses_no_answered_guess() {
    for _ in 0..3 {
        let Some((lost, _)) = kill_mid_run("always") else {
            return;
        };
        assert!(lost.is_empty(), "answers without their write: {lost:?}");
    }
}

/// `everysec` is measured, not promised: a process kill leaves the file written (only the
/// fsync is late), so the count is expected to be 0 unless the disk stalled; a machine crash
/// (not tested here) can lose the last 1–2 s.
fn a_killed_server_with_appendfsync_everysec_is_measured() {
    let mut lost_total = 0;
    let mut answered_total = 0;
    for _ in 0..3 {
        let Some((lost, answered)) = kill_mid_run("everysec") else {
            return;
        };
        lost_total += lost.len();
        answered_total += answered;
    }
    println!(
        "appendfsync everysec: {lost_total} of {answered_total} answered guesses lost across 3 SIGKILLs"
    );
}

fn a_stopped_server_gives_errors_then_the_store_recovers() {
    let Some((mut server, rt, store)) = start() else {
        return;
    };
    let keys = keys();
    let service = service(&keys);
    written::down_then_back(&rt, &service, &store, |up| {
        if up { server.restart() } else { server.kill() }
    });
}

/// The conformance kit (async, and the sync kit's threads through the cluster client) and
/// the several-processes race on a real 3-master Redis Cluster: every record lands on its
/// slot's master, and all three masters hold some.
fn a_three_master_cluster_passes_the_same_proof() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let rt = runtime();
    let urls = cluster.urls();
    let store = rt
        .block_on(async {
            let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
            RedisStore::connect_cluster(&nodes, Duration::from_secs(5)).await
        })
        .unwrap();
    let report = rt
        .block_on(conformance::check_all_async(|| fresh(&store)))
        .unwrap();
    assert!(report.conflicts > 0);
    let handle = rt.handle().clone();
    let report = conformance::check_all(|| Blocking {
        store: fresh(&store),
        handle: handle.clone(),
    })
    .unwrap();
    assert!(report.conflicts > 0);
    conformance::check_scenarios_async(|| fresh(&store), rt.handle()).unwrap();
    several_processes_keep_every_limit(&rt, &store, &urls, true);
    // A prune through the cluster reaches every master.
    let flow = fresh(&store);
    let keys = keys();
    let service = service(&keys);
    rt.block_on(async {
        issue_expiring(&service, &flow, "c", 200, Timestamp(NOW.0 + 10)).await;
        assert_eq!(flow.prune(Timestamp(NOW.0 + 1_000)).await.unwrap(), 200);
    });
    for node in &cluster.nodes {
        let keys: u64 = cli(node.port, &["DBSIZE"]).trim().parse().unwrap();
        println!("cluster node {}: {keys} keys", node.port);
        assert!(
            keys > 0,
            "a master holds no records: the keys do not spread"
        );
    }
}

/// A record's raw bytes in its hash's `r` field, through a connection of its own.
struct RawHashes<'a> {
    con: handover_code_redis::redis::Connection,
    rt: &'a tokio::runtime::Runtime,
    store: &'a RedisStore,
    service: handover_code::Service,
}

impl RawHashes<'_> {
    fn name(&self, kind: u8, id: &str) -> Vec<u8> {
        let context = handover_code::Context::new("cowin/dose").unwrap();
        let key = match kind {
            corrupt::BOOKING_KIND => handover_code::Key::Booking {
                context,
                id: BookingId::new(id).unwrap(),
            },
            _ => handover_code::Key::Verifier {
                scope: context,
                id: handover_code::VerifierId::new(id).unwrap(),
            },
        };
        self.store.key_name(key)
    }
}

impl corrupt::Raw for RawHashes<'_> {
    fn read(&mut self, kind: u8, id: &str) -> Vec<u8> {
        let name = self.name(kind, id);
        handover_code_redis::redis::cmd("HGET")
            .arg(name)
            .arg("r")
            .query(&mut self.con)
            .unwrap()
    }
    fn write(&mut self, kind: u8, id: &str, bytes: &[u8]) {
        let name = self.name(kind, id);
        let () = handover_code_redis::redis::cmd("HSET")
            .arg(name)
            .arg("r")
            .arg(bytes)
            .query(&mut self.con)
            .unwrap();
    }
    fn verify(
        &mut self,
        typed: &str,
        attempt: Option<handover_code::VerifierId<'static>>,
    ) -> Result<handover_code::Outcome, Error> {
        self.rt.block_on(self.service.verify_async(
            self.store,
            corrupt::BOOKING,
            typed,
            attempt,
            NOW,
        ))
    }
}

/// Garbage, empty, another format, bit flips, in a booking's and a verifier's hash: each
/// answers `Error::Corrupt`, not retryable, naming the key (issue 32). So do a hash with no
/// record field and a key holding a list (`WRONGTYPE`). A role without the right to write
/// (`NOPERM`) answers `Error::Refused`.
fn unreadable_records_are_corrupt_and_refusals_permanent() {
    let Some((server, rt, store)) = start() else {
        return;
    };
    let store = fresh(&store);
    let keys = keys();
    let service = service(&keys);
    let code = rt
        .block_on(service.issue_async(&store, corrupt::BOOKING, UNTIL, NOW))
        .unwrap();
    let mut raw = RawHashes {
        con: handover_code_redis::redis::Client::open(server.url())
            .unwrap()
            .get_connection()
            .unwrap(),
        rt: &rt,
        store: &store,
        service: service.clone(),
    };
    corrupt::every_unreadable_record_answers_corrupt(&mut raw, code.expose());

    let stray = String::from_utf8(raw.name(corrupt::BOOKING_KIND, "stray")).unwrap();
    cli(server.port, &["HSET", &stray, "v", "5"]);
    let answer = rt.block_on(service.verify_async(&store, "stray", "1234", None, NOW));
    corrupt::assert_corrupt(&answer, "booking", "stray", b"5", "a hash with no record");
    let list = String::from_utf8(raw.name(corrupt::BOOKING_KIND, "list")).unwrap();
    cli(server.port, &["RPUSH", &list, "zq1", "zq2"]);
    let answer = rt.block_on(service.verify_async(&store, "list", "1234", None, NOW));
    corrupt::assert_corrupt(&answer, "booking", "list", b"zq1zq2", "a list, not a hash");

    // A user the server's ACL lets read and never write.
    cli(
        server.port,
        &[
            "ACL",
            "SETUSER",
            "reader",
            "on",
            ">reader-pw",
            "~*",
            "+@read",
            "+@connection",
            "+evalsha",
            "+eval",
            "+script|load",
        ],
    );
    let url = server
        .url()
        .replacen("redis://", "redis://reader:reader-pw@", 1);
    let reader = rt
        .block_on(RedisStore::connect(&url, Duration::from_secs(3)))
        .unwrap();
    let reader = fresh(&reader);
    let answer = rt.block_on(service.issue_async(&reader, "READER", UNTIL, NOW));
    corrupt::assert_refused(&answer, "a user that may not write");
}

/// Replicated writes on a server with no replica: every write lands on the server but is
/// never acknowledged by a replica, so each answers a retryable store error naming the
/// count, never an outcome; a zero count or timeout is refused at setup.
fn replicated_writes_without_a_replica_answer_errors_not_outcomes() {
    let Some((_server, rt, store)) = start() else {
        return;
    };
    assert!(matches!(
        fresh(&store).with_replicated_writes(0, Duration::from_millis(50)),
        Err(Error::Setup(_))
    ));
    assert!(matches!(
        fresh(&store).with_replicated_writes(1, Duration::ZERO),
        Err(Error::Setup(_))
    ));
    let waiting = fresh(&store)
        .with_replicated_writes(1, Duration::from_millis(50))
        .unwrap();
    let keys = keys();
    let service = service(&keys);
    let issued = rt.block_on(service.issue_async(&waiting, "W1", UNTIL, NOW));
    let Err(e) = &issued else {
        panic!("answered without a replica: {issued:?}")
    };
    assert!(e.is_retryable());
    let chain = fixtures::error_chain(e);
    assert!(
        chain.iter().any(|m| m.contains("0 of 1 replicas")),
        "{chain:?}"
    );
    // The write itself landed on the master: a failover could lose it, so it was not answered.
    assert!(
        rt.block_on(AsyncStore::load(&waiting, booking_key("W1")))
            .unwrap()
            .is_some()
    );
}

/// Every test, each ignored (with the reason printed) where the server is missing.
fn main() {
    harness::run(
        redis_server::missing(),
        trials!(server: passes_the_conformance_kit, passes_the_async_conformance_kit_as_an_async_store, a_real_server_agrees_with_the_model, every_shared_store_scenario_on_a_real_server, settlements_that_lose_races_on_a_real_server, dropped_verifications_settle_on_a_real_server, the_flow_prune_and_layout_on_a_real_server, the_prune_task_prunes_on_its_interval, child, several_processes_on_one_server_keep_every_limit, a_killed_server_with_appendfsync_always_loses_no_answered_guess, a_killed_server_with_appendfsync_everysec_is_measured, a_stopped_server_gives_errors_then_the_store_recovers, a_three_master_cluster_passes_the_same_proof, unreadable_records_are_corrupt_and_refusals_permanent, replicated_writes_without_a_replica_answer_errors_not_outcomes),
    );
}
