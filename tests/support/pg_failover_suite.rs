//! Failovers of PostgreSQL to a streaming standby, which the tests start on loopback: a
//! primary and a `pg_basebackup -R` standby, the store connected to both (as [`Pg::open`]
//! reaches several servers: `host=…,… port=P,S target_session_attrs=read-write` for
//! tokio-postgres, a proxy that moves with the primary for sqlx), so after the failover it
//! reaches whichever is primary. Each PostgreSQL store's `tests/pg_failover.rs` runs
//! [`trials`] on it. Each round races verifications, issues, overrides and revokes
//! against the primary, kills the primary (SIGKILL of every process) while writes flow,
//! promotes the standby, and checks every answer given against what the promoted standby
//! holds (`tests/support/race.rs`). The controls cut the standby off first (its WAL
//! receiver frozen, the primary's sender to it terminated), so what it misses is certain.
//!
//! - **Asynchronous standby**: answered writes are lost, acceptances among them, and codes
//!   are accepted a second time: the control, found every time by construction.
//! - **Synchronous standby, without `with_synchronous_standby`**: the statement timeout does
//!   not cut a commit's wait for the standby short (the server turns it off before the
//!   commit), so the writes hang until the primary dies, and nothing answered is lost.
//! - **Synchronous standby with `with_synchronous_standby`**: the writes wait, time out and
//!   answer errors; nothing answered is lost.
//! - **The replay door**: an acceptance whose commit the standby never confirmed is made
//!   visible on the primary (its waiting backend cancelled, as an administrator or a
//!   restart would); the retry by request id must not answer it from the primary's record.
//!
//! Without PostgreSQL every test is reported ignored, with the reason (and the run fails
//! under `CI=true`).
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fixtures::{self, NOW};
use crate::pg_cluster::{Cluster, signal};
use crate::pg_store::{Pg, Target};
use crate::race::{self, service};
use crate::storm;
use handover_code::audit::Entry;
use handover_code::record::{Record, State, Version};
use handover_code::store::{AsyncStore, Key, Swap};
use handover_code::{Attempt, Error, Outcome, Timestamp};

/// The store's statement timeout.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a commit waits for the synchronous standby, with the setting.
const COMMIT_WAIT: Duration = Duration::from_millis(400);

/// A primary, its standby (synchronous if `synchronous`), and a store reaching whichever
/// takes writes, with `with_synchronous_standby` if `setting`.
fn start<S: Pg>(
    rt: &tokio::runtime::Runtime,
    synchronous: bool,
    setting: bool,
) -> Option<(Cluster, Cluster, S)> {
    let primary = Cluster::start()?;
    let standby = primary.standby();
    if synchronous {
        primary.synchronous(true);
    }
    let target = Target {
        ports: vec![primary.port, standby.port],
        options: None,
    };
    let store = S::open(rt, &target, 8, TIMEOUT).unwrap();
    let store = if setting {
        store.with_synchronous_standby(COMMIT_WAIT)
    } else {
        store
    };
    rt.block_on(store.create_schema()).unwrap();
    Some((primary, standby, store))
}

/// Waits until the standby has replayed everything the primary wrote.
fn caught_up(primary: &Cluster) {
    primary.wait_for(
        "SELECT count(*) FROM pg_stat_replication WHERE replay_lsn = pg_current_wal_lsn()",
        "1",
    );
}

/// A race against the primary for 1.5 s (longer than the statement timeout), the primary
/// killed while writes flow, the standby promoted, the race run on for 0.5 s. With `cut`,
/// the standby is cut off for the whole race (the control's certain loss); without, it
/// streams until the primary dies. Answers the answered writes lost, and how many
/// operations were answered.
fn failover_round<S: Pg>(
    rt: &tokio::runtime::Runtime,
    primary: &Cluster,
    standby: &Cluster,
    store: &S,
    name: &str,
    cut: bool,
) -> (Vec<String>, usize) {
    let service = Arc::new(service());
    let codes = rt.block_on(race::issue_before(&service, store, name));
    caught_up(primary);
    let receiver = cut.then(|| standby.cut_off_from(primary));
    let race = race::Race::start(rt, store, &service, &codes, name);
    std::thread::sleep(Duration::from_millis(1_500));
    primary.kill();
    if let Some(receiver) = receiver {
        signal(receiver, "CONT");
    }
    standby.promote();
    std::thread::sleep(Duration::from_millis(500));
    let done = race.stop(rt);
    let answered = race::answered(&done);
    let lost = rt.block_on(race::lost(&service, store, &codes, &done));
    println!(
        "{name}: {answered} answered, {} operations, {} answered writes lost",
        done.len(),
        lost.len()
    );
    (lost, answered)
}

/// The control: an asynchronous standby promoted loses answered writes.
pub fn an_asynchronous_standby_promoted_loses_answered_writes<S: Pg>() {
    let rt = fixtures::runtime();
    let Some((primary, standby, store)) = start::<S>(&rt, false, false) else {
        return;
    };
    let (lost, _) = failover_round(&rt, &primary, &standby, &store, "async", true);
    race::assert_an_acceptance_lost(&lost);
}

/// A synchronous standby without the setting: the statement timeout (1 s, shorter than
/// the 1.5 s stall) does not cut the commits' waits short, so nothing answered is lost;
/// the writes hang instead, until the primary dies.
pub fn a_synchronous_standby_without_the_setting_loses_nothing_answered<S: Pg>() {
    let rt = fixtures::runtime();
    let Some((primary, standby, store)) = start::<S>(&rt, true, false) else {
        return;
    };
    let (lost, answered) = failover_round(&rt, &primary, &standby, &store, "sync-plain", true);
    assert!(answered > 0);
    assert!(lost.is_empty(), "answered writes lost: {lost:?}");
}

/// A synchronous standby with the setting: nothing answered is lost.
pub fn a_synchronous_standby_with_the_setting_loses_nothing_answered<S: Pg>() {
    let rt = fixtures::runtime();
    let Some((primary, standby, store)) = start::<S>(&rt, true, true) else {
        return;
    };
    let (lost, answered) = failover_round(&rt, &primary, &standby, &store, "sync", true);
    assert!(answered > 0);
    assert!(lost.is_empty(), "answered writes lost: {lost:?}");
    // And with the standby streaming until the primary dies: writes answered right up to
    // the kill, none lost.
    drop((primary, standby, store));
    let Some((primary, standby, store)) = start::<S>(&rt, true, true) else {
        return;
    };
    let (lost, answered) = failover_round(&rt, &primary, &standby, &store, "sync-live", false);
    assert!(
        answered > 100,
        "too few answers before the kill: {answered}"
    );
    assert!(lost.is_empty(), "answered writes lost: {lost:?}");
}

/// Failovers of fresh pairs with a synchronous standby (streaming until the primary dies)
/// and the setting, `PG_FAILOVERS` of them (default 2; the closing note's run used more):
/// nothing answered is lost.
pub fn repeated_failovers_lose_nothing_answered<S: Pg>() {
    let rounds: usize = std::env::var("PG_FAILOVERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    let rt = fixtures::runtime();
    let rounds = (0..rounds).map_while(|n| {
        let (primary, standby, store) = start::<S>(&rt, true, true)?;
        Some(failover_round(
            &rt,
            &primary,
            &standby,
            &store,
            &format!("p{n}"),
            false,
        ))
    });
    race::none_lost("failovers to a synchronous standby", rounds);
}

/// What a synchronous standby costs: verifications per second (right codes, 8 at a time,
/// each on its own booking) with the standby asynchronous, then synchronous with the
/// setting. Printed, not asserted: the figures are the README's "Deploying" table's.
pub fn synchronous_standby_cost_is_measured<S: Pg>() {
    let rt = fixtures::runtime();
    // One server, no standby: the same harness.
    let Some(one) = Cluster::start() else {
        return;
    };
    let store = S::open(&rt, &Target::on(&one), 8, TIMEOUT).unwrap();
    rt.block_on(store.create_schema()).unwrap();
    let service = Arc::new(service());
    let (issues, verifications) = race::throughput(&rt, &store, &service, "one-m");
    println!(
        "one PostgreSQL: {issues:.0} issues/s, {verifications:.0} verifications/s (right codes, 8 tasks)"
    );
    drop((store, one));
    let Some((primary, _standby, store)) = start::<S>(&rt, false, false) else {
        return;
    };
    for (name, synchronous) in [
        ("asynchronous standby", false),
        ("synchronous standby", true),
    ] {
        primary.synchronous(synchronous);
        let store = if synchronous {
            store
                .clone()
                .with_synchronous_standby(Duration::from_secs(2))
        } else {
            store.clone()
        };
        let (issues, verifications) =
            race::throughput(&rt, &store, &service, &format!("{synchronous}-m"));
        println!(
            "{name}: {issues:.0} issues/s, {verifications:.0} verifications/s (right codes, 8 tasks, primary and standby on loopback)"
        );
    }
}

/// The store without its `make_durable` (the trait's default): what the replay door looks
/// like when a store does not confirm a replayed record.
#[derive(Clone)]
struct Unconfirmed<S>(S);

impl<S: Pg> AsyncStore for Unconfirmed<S> {
    type Error = Error;
    const TRANSACTIONS: bool = true;

    async fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        self.0.load(key).await
    }

    async fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        self.0.compare_and_swap(key, expected, record, new).await
    }

    async fn compare_and_swap_audited(
        &self,
        entry: &Entry<'_>,
        record: &Record,
    ) -> Result<Swap, Error> {
        self.0.compare_and_swap_audited(entry, record).await
    }

    async fn compare_and_swap_all(
        &self,
        writes: &[(Entry<'_>, Record)],
        unchanged: &[(Key<'_>, Option<Version>)],
    ) -> Result<Swap, Error> {
        self.0.compare_and_swap_all(writes, unchanged).await
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, Error> {
        self.0.prune(before).await
    }
}

/// The replay door on one booking, with the store confirming replays (`confirming`) and
/// without: its acceptance is committed on the primary but never confirmed by the cut-off
/// standby (an error is answered), then made visible there (the waiting backend
/// cancelled); the retry under the same request id; the failover; then a new request, and
/// the first one's again. Answers the four answers.
fn replay_door<S: AsyncStore>(
    rt: &tokio::runtime::Runtime,
    primary: &Cluster,
    standby: &Cluster,
    store: &S,
) -> [Result<Outcome, Error>; 4]
where
    S::Error: std::fmt::Debug,
{
    let service = service();
    let (code, _) = rt.block_on(race::issue_one(&service, store, "door"));
    caught_up(primary);
    let receiver = standby.cut_off_from(primary);
    let verify = |request: &str| {
        rt.block_on(service.verify_async(
            store,
            "door",
            &code,
            Attempt::default().request(request),
            NOW,
        ))
    };
    let first = verify("r1");
    // The commit still waits for the standby, invisible; cancelled, it is visible on the
    // primary although the standby never had it.
    primary
        .psql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt
        .block_on(service.booking_async(store, "door"))
        .unwrap()
        .is_none_or(|b| b.state() != State::Redeemed)
    {
        assert!(
            Instant::now() < deadline,
            "the acceptance never became visible"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let retry = verify("r1");
    // Cancel whatever the retry left waiting, so the failover is all that decides.
    primary
        .psql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
    primary.kill();
    signal(receiver, "CONT");
    standby.promote();
    let deadline = Instant::now() + Duration::from_secs(20);
    // r2 may meet errors while the store finds the new primary, and a try that wrote but
    // was not confirmed is answered by its retry as a replay: either way, once.
    let fresh = race::until_answered(deadline, || verify("r2"));
    let again = race::until_answered(deadline, || verify("r1"));
    println!(
        "first {first:?}, retry {retry:?}; after the failover a new request {fresh:?}, the first again {again:?}"
    );
    [first, retry, fresh, again]
}

pub fn the_replay_door_stays_shut<S: Pg>() {
    // Confirming replays: the retry waits for the standby and answers an error, so no
    // acceptance was handed over before the failover; after it the code is accepted once.
    let rt = fixtures::runtime();
    let Some((primary, standby, store)) = start::<S>(&rt, true, true) else {
        return;
    };
    let [first, retry, fresh, again] = replay_door(&rt, &primary, &standby, &store);
    assert!(matches!(first, Err(Error::Store(_))), "{first:?}");
    assert!(matches!(retry, Err(Error::Store(_))), "{retry:?}");
    assert!(matches!(&fresh, Ok(o) if o.is_accepted()), "{fresh:?}");
    assert!(
        matches!(again, Ok(Outcome::AlreadyRedeemed { .. })),
        "{again:?}"
    );
    // The control, without confirmation: the retry is handed the acceptance from the
    // primary's record, and after the failover a new request is accepted again.
    drop((primary, standby, store));
    let Some((primary, standby, store)) = start::<S>(&rt, true, true) else {
        return;
    };
    let [first, retry, fresh, _] = replay_door(&rt, &primary, &standby, &Unconfirmed(store));
    assert!(matches!(first, Err(Error::Store(_))), "{first:?}");
    assert!(matches!(&retry, Ok(o) if o.is_accepted()), "{retry:?}");
    assert!(
        matches!(&fresh, Ok(o) if o.is_accepted()),
        "the control did not accept twice: {fresh:?}"
    );
}

/// The replay storm of `postgres`'s `a_replay_storm_never_contends` on a primary whose
/// commits wait for a synchronous standby, at each isolation level: 48 concurrent replays
/// of one accepted request, 10 rounds, each replay's confirmation waiting for the standby,
/// and none answered `Contention` or a second acceptance.
pub fn a_replay_storm_on_a_synchronous_standby_never_contends<S: Pg>() {
    let rt = fixtures::runtime();
    let Some((primary, _standby, _store)) = start::<S>(&rt, true, true) else {
        return;
    };
    let service = service();
    for level in ["read committed", "repeatable read", "serializable"] {
        primary.default_isolation(level);
        let store = S::open(&rt, &Target::on(&primary), 48, Duration::from_secs(5))
            .unwrap()
            .with_synchronous_standby(Duration::from_secs(5));
        rt.block_on(storm::replay_storm(&store, &service, &level[..4], 10, 48))
            .check(&format!("{level}, synchronous standby"), 480);
    }
}

/// A write cut off by the commit wait, or dropped by its caller while its commit waits for
/// a standby that is away, never holds up the pool: on a pool of one connection, the next
/// call gets a connection of its own and answers, where one handed back with the commit
/// still waiting would make it wait as long as the standby is away.
pub fn a_cut_off_write_never_holds_up_the_pool<S: Pg>() {
    let rt = fixtures::runtime();
    let Some((primary, standby, store)) = start::<S>(&rt, true, true) else {
        return;
    };
    let service = service();
    rt.block_on(race::issue_one(&service, &store, "read"));
    caught_up(&primary);
    let receiver = standby.cut_off_from(&primary);
    let target = Target::on(&primary);
    for (commit_wait, dropped) in [
        (Duration::from_millis(300), false),
        (Duration::from_secs(60), true),
    ] {
        let store = S::open(&rt, &target, 1, TIMEOUT)
            .unwrap()
            .with_synchronous_standby(commit_wait);
        let id = format!("cut-{dropped}");
        let write = service.issue_async(&store, id.as_str(), fixtures::UNTIL, NOW);
        if dropped {
            let cut = rt
                .block_on(async { tokio::time::timeout(Duration::from_millis(300), write).await });
            assert!(
                cut.is_err(),
                "the write did not wait for the standby: {cut:?}"
            );
        } else {
            let refused = rt.block_on(write);
            assert!(matches!(refused, Err(Error::Store(_))), "{refused:?}");
        }
        // A liveness bound, not a speed target: a pool holding the cut-off connection
        // answers nothing until the standby is back.
        let read = rt.block_on(async {
            let read = service.booking_async(&store, "read");
            tokio::time::timeout(Duration::from_secs(10), read).await
        });
        assert!(
            matches!(read, Ok(Ok(Some(_)))),
            "dropped {dropped}: the pool held the cut-off connection: {read:?}"
        );
    }
    signal(receiver, "CONT");
}

/// Every failover proof, for `S`, each needing the server; run one at a time.
pub fn trials<S: Pg>() -> Vec<(&'static str, bool, fn())> {
    trials!(generic S; server: an_asynchronous_standby_promoted_loses_answered_writes, a_synchronous_standby_without_the_setting_loses_nothing_answered, a_synchronous_standby_with_the_setting_loses_nothing_answered, the_replay_door_stays_shut, repeated_failovers_lose_nothing_answered, synchronous_standby_cost_is_measured, a_replay_storm_on_a_synchronous_standby_never_contends, a_cut_off_write_never_holds_up_the_pool)
}
