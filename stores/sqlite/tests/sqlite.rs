//! The SQLite store: the conformance kit, persistence, several OS processes on one file,
//! and processes killed with SIGKILL mid-run.
#![allow(unreachable_pub)]

#[path = "../../../tests/support/fixtures.rs"]
#[allow(dead_code)] // `runtime`: these tests run without one
mod fixtures;

#[path = "../../../tests/support/ops.rs"]
mod ops;

#[path = "../../../tests/support/corrupt.rs"]
mod corrupt;

#[path = "../../../tests/support/scratch.rs"]
#[allow(dead_code)]
mod scratch;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fixtures::{
    NOW, UNTIL, answers, check_processes, describe, keys, service, start_at, wait_for_start, wrong,
};
use handover_code::record::{Record, State};
use handover_code::{BookingId, Error, Outcome, Store, Timestamp, VerifierId, conformance};
use handover_code_sqlite::{Durability, SqliteStore};
use scratch::ScratchDir;

/// The database file of a test's scratch directory.
fn db(dir: &ScratchDir) -> PathBuf {
    dir.join("handover.db")
}

#[test]
fn passes_the_conformance_kit_on_a_file() {
    let dir = ScratchDir::new("conformance");
    let n = AtomicU32::new(0);
    let report = conformance::check_all(|| {
        let path = dir.join(format!("kit-{}.db", n.fetch_add(1, Ordering::Relaxed)));
        SqliteStore::open(path, Durability::Normal).unwrap()
    })
    .unwrap();
    assert!(report.conflicts > 0);
    // One key at a time, as a store that does not opt in to transactions runs it.
    let one_key = conformance::check_all(|| {
        let path = dir.join(format!("kit-{}.db", n.fetch_add(1, Ordering::Relaxed)));
        conformance::WithoutTransactions(SqliteStore::open(path, Durability::Normal).unwrap())
    })
    .unwrap();
    assert!(one_key.conflicts > 0);
}

#[test]
fn passes_the_conformance_contract_in_memory() {
    conformance::check_contract(|| SqliteStore::open_in_memory().unwrap()).unwrap();
}

#[test]
fn records_survive_reopening_and_prune() {
    let dir = ScratchDir::new("reopen");
    let keys = keys();
    let service = service(&keys);
    let id = BookingId::new("SLOT-1").unwrap();
    let code = {
        let store = SqliteStore::open(db(&dir), Durability::Full).unwrap();
        let code = service.issue(&store, id, UNTIL, NOW).unwrap();
        assert_eq!(
            service
                .verify(&store, id, &wrong(code.expose(), 0), None, NOW)
                .unwrap(),
            Outcome::Rejected { attempts_left: 2 }
        );
        code
    };
    let store = SqliteStore::open(db(&dir), Durability::Full).unwrap();
    assert_eq!(
        service
            .verify(&store, id, code.expose(), None, NOW)
            .unwrap(),
        Outcome::Accepted
    );
    assert_eq!(store.prune(UNTIL).unwrap(), 0);
    assert_eq!(store.prune(Timestamp(UNTIL.0 + 1)).unwrap(), 1);
    assert!(
        store
            .load(fixtures::booking_key("SLOT-1"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_busy_timeout_past_what_sqlite_takes_is_clamped_never_a_panic() {
    let dir = ScratchDir::new("busy");
    let store = SqliteStore::open(db(&dir), Durability::Normal)
        .unwrap()
        .with_busy_timeout(Duration::from_secs(30 * 86_400));
    let keys = keys();
    let service = service(&keys);
    // A new connection (another thread's) takes the clamped timeout too.
    std::thread::scope(|s| {
        s.spawn(|| service.issue(&store, BookingId::new("T").unwrap(), UNTIL, NOW))
            .join()
            .unwrap()
            .unwrap();
    });
    assert!(SqliteStore::MAX_BUSY_TIMEOUT < Duration::from_secs(25 * 86_400));
}

#[test]
fn a_database_of_another_schema_version_is_refused() {
    let dir = ScratchDir::new("schema");
    drop(SqliteStore::open(db(&dir), Durability::Normal).unwrap());
    let conn = rusqlite::Connection::open(db(&dir)).unwrap();
    conn.execute("UPDATE handover_schema SET version = 99", [])
        .unwrap();
    drop(conn);
    let refused = SqliteStore::open(db(&dir), Durability::Normal).map(drop);
    assert!(
        matches!(&refused, Err(Error::Setup(e)) if e.to_string().contains("schema version 99")),
        "{refused:?}"
    );
}

/// A record's raw bytes in a SQLite file, through a connection of its own.
struct RawRows<'a> {
    conn: rusqlite::Connection,
    store: &'a SqliteStore,
    service: handover_code::Service,
}

impl corrupt::Raw for RawRows<'_> {
    fn read(&mut self, kind: u8, id: &str) -> Vec<u8> {
        self.conn
            .query_row(
                "SELECT record FROM handover_records WHERE kind = ?1 AND id = ?2",
                rusqlite::params![kind, id.as_bytes()],
                |row| row.get(0),
            )
            .unwrap()
    }
    fn write(&mut self, kind: u8, id: &str, bytes: &[u8]) {
        let changed = self
            .conn
            .execute(
                "UPDATE handover_records SET record = ?1 WHERE kind = ?2 AND id = ?3",
                rusqlite::params![bytes, kind, id.as_bytes()],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }
    fn verify(
        &mut self,
        typed: &str,
        attempt: Option<handover_code::VerifierId<'static>>,
    ) -> Result<Outcome, Error> {
        self.service
            .verify(self.store, corrupt::BOOKING, typed, attempt, NOW)
    }
}

/// Garbage, empty, another format, bit flips, in a booking's and a verifier's row: each
/// answers `Error::Corrupt`, not retryable, naming the key (issue 32). So does a value
/// SQLite holds as text where bytes belong (`rusqlite` refuses its type).
#[test]
fn an_unreadable_row_is_corrupt_never_retryable() {
    let dir = ScratchDir::new("corrupt");
    let keys = keys();
    let service = service(&keys);
    let store = SqliteStore::open(db(&dir), Durability::Normal).unwrap();
    let code = service.issue(&store, corrupt::BOOKING, UNTIL, NOW).unwrap();
    let mut raw = RawRows {
        conn: rusqlite::Connection::open(db(&dir)).unwrap(),
        store: &store,
        service: service.clone(),
    };
    corrupt::every_unreadable_record_answers_corrupt(&mut raw, code.expose());
    service.issue(&store, "TEXT-1", UNTIL, NOW).unwrap();
    raw.conn
        .execute(
            "UPDATE handover_records SET record = 'text' WHERE id = CAST('TEXT-1' AS BLOB)",
            [],
        )
        .unwrap();
    let answer = service.verify(&store, "TEXT-1", "1234", None, NOW);
    corrupt::assert_corrupt(&answer, "booking", "TEXT-1", b"text", "text, not bytes");
}

/// A database that refuses for good answers `Error::Refused`, not retryable: a trigger that
/// raises (SQLITE_CONSTRAINT_TRIGGER), a table renamed away (SQLITE_ERROR). A database
/// locked by another connection past the busy timeout answers `Error::Store`, retryable.
#[test]
fn refusals_are_permanent_and_a_lock_is_transient() {
    let dir = ScratchDir::new("refused");
    let keys = keys();
    let service = service(&keys);
    let store = SqliteStore::open(db(&dir), Durability::Normal).unwrap();
    let conn = rusqlite::Connection::open(db(&dir)).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON handover_records
         BEGIN SELECT RAISE(ABORT, 'writes refused by policy'); END;",
    )
    .unwrap();
    corrupt::assert_refused(&service.issue(&store, "TRIGGER", UNTIL, NOW), "a trigger");
    conn.execute_batch("DROP TRIGGER refuse; ALTER TABLE handover_records RENAME TO handover_gone")
        .unwrap();
    corrupt::assert_refused(
        &service.issue(&store, "RENAMED", UNTIL, NOW),
        "a table renamed away",
    );
    conn.execute_batch("ALTER TABLE handover_gone RENAME TO handover_records")
        .unwrap();
    service.issue(&store, "BACK", UNTIL, NOW).unwrap();
    // Another connection holds the write lock past the store's busy timeout.
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let locked = service.issue(&store, "LOCKED", UNTIL, NOW);
    conn.execute_batch("COMMIT").unwrap();
    let Err(e @ Error::Store(_)) = &locked else {
        panic!("a database locked: expected Error::Store, got {locked:?}")
    };
    assert!(e.is_retryable());
    service.issue(&store, "LOCKED", UNTIL, NOW).unwrap();
}

// ---- Several processes -------------------------------------------------------------------

/// Runs this test binary's `child` test in a new process with `role` and `db` set.
fn spawn_child(role: &str, db: &Path, extra: &[(&str, String)]) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("HANDOVER_CHILD", role)
        .env("HANDOVER_DB", db)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// What a child process does, when this binary is started as one.
#[test]
fn child() {
    let Ok(role) = std::env::var("HANDOVER_CHILD") else {
        return;
    };
    let db = PathBuf::from(std::env::var("HANDOVER_DB").unwrap());
    if role == "opener" {
        // Open a fresh file at the same instant as the other openers.
        wait_for_start();
        match SqliteStore::open(&db, Durability::Full) {
            Ok(_) => println!("OPENED ok"),
            Err(e) => println!("OPENED failed: {e} ({e:?})"),
        }
        return;
    }
    // The crasher runs as the issue asks: every commit synced before it is answered.
    let durability = if role == "crasher" {
        Durability::Full
    } else {
        Durability::Normal
    };
    let store = SqliteStore::open(&db, durability).unwrap();
    let keys = keys();
    let service = service(&keys);
    // Start together, at the instant the parent set.
    wait_for_start();
    let mut out = std::io::stdout().lock();
    match role.as_str() {
        "guesser" | "holder" => {
            let id = BookingId::new("shared").unwrap();
            let code = service
                .resend(&store, id, NOW)
                .map(|c| c.expose().to_owned());
            let index: u32 = std::env::var("HANDOVER_INDEX").unwrap().parse().unwrap();
            for k in 0..5 {
                let typed = match (&role[..], &code) {
                    ("holder", Ok(code)) if k == 2 => code.clone(),
                    (_, Ok(code)) => wrong(code, index * 10 + k),
                    (_, Err(_)) => format!("{:04}", index * 10 + k),
                };
                let answer = service.verify(&store, id, &typed, None, NOW);
                writeln!(out, "ANSWER {}", describe(&answer)).unwrap();
            }
        }
        "sprayer" => {
            let eve = VerifierId::new("eve").unwrap();
            let index: u32 = std::env::var("HANDOVER_INDEX").unwrap().parse().unwrap();
            for k in 0..10 {
                let name = format!("spray-{}", (index * 10 + k) % 40);
                // A busy budget (slots held by this verifier's other guesses in flight) is
                // a retryable error: retry it, as a host would.
                let mut tries = 0;
                let answer = loop {
                    tries += 1;
                    let answer = service.verify(
                        &store,
                        BookingId::new(&name).unwrap(),
                        "0000",
                        Some(eve),
                        NOW,
                    );
                    // Bounded: a slot leaked by a store fault fails the test, not hangs it.
                    if !matches!(answer, Err(Error::BudgetBusy { .. })) || tries > 10_000 {
                        break answer;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                };
                writeln!(out, "ANSWER {}", describe(&answer)).unwrap();
            }
        }
        "crasher" => {
            // Issues, verifies and re-issues its own bookings until killed, reporting each
            // answer once it has landed.
            let run = std::env::var("HANDOVER_RUN").unwrap();
            // Some bookings are overridden instead, counted against the supervisor's budget:
            // a third kind of record, and its audit entries, to cut through.
            let policy = service
                .policy()
                .with_override_budget(1_000_000, 86_400)
                .unwrap();
            let overrides =
                handover_code::Service::new(keys.clone(), policy, service.context()).unwrap();
            let supervisor = handover_code::ActorId::new("supervisor").unwrap();
            let by = handover_code::audit::Override::new(
                supervisor,
                handover_code::audit::Reason::NoPhone,
                "crash test",
            )
            .unwrap();
            let mut rng = std::env::var("HANDOVER_SEED")
                .unwrap()
                .parse::<u64>()
                .unwrap();
            loop {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let name = format!("crash-{run}-{}", rng % 60);
                let id = BookingId::new(&name).unwrap();
                let code = match service.resend(&store, id, NOW) {
                    Ok(code) => code,
                    Err(Error::UnknownBooking) => match service.issue(&store, id, UNTIL, NOW) {
                        Ok(code) => code,
                        Err(_) => continue,
                    },
                    // A locked booking is re-issued while its lifetime allows.
                    Err(Error::Inactive(handover_code::Inactive::Locked)) => {
                        match service.reissue(&store, id, UNTIL, NOW) {
                            Ok(code) => code,
                            Err(_) => continue,
                        }
                    }
                    Err(_) => continue,
                };
                if rng % 11 == 0 {
                    let answer = overrides.overrule(&store, id, by, NOW);
                    if answer.is_ok() {
                        writeln!(out, "ANSWER {name} overridden").unwrap();
                        out.flush().unwrap();
                    }
                    continue;
                }
                let typed = if rng % 7 == 0 {
                    code.expose().to_owned()
                } else {
                    wrong(code.expose(), (rng >> 20) as u32)
                };
                let answer = service.verify(&store, id, &typed, None, NOW);
                writeln!(out, "ANSWER {name} {}", describe(&answer)).unwrap();
                out.flush().unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn several_processes_on_one_file_keep_every_limit() {
    let dir = ScratchDir::new("processes");
    let keys = keys();
    let service = service(&keys);
    let store = SqliteStore::open(db(&dir), Durability::Normal).unwrap();
    service
        .issue(&store, BookingId::new("shared").unwrap(), UNTIL, NOW)
        .unwrap();
    for i in 0..40 {
        service
            .issue(
                &store,
                BookingId::new(&format!("spray-{i}")).unwrap(),
                UNTIL,
                NOW,
            )
            .unwrap();
    }
    let start = start_at(700).to_string();
    let mut guessers = Vec::new();
    for i in 0..6 {
        let role = if i == 3 { "holder" } else { "guesser" };
        guessers.push(spawn_child(
            role,
            &db(&dir),
            &[
                ("HANDOVER_INDEX", i.to_string()),
                ("HANDOVER_START", start.clone()),
            ],
        ));
    }
    let sprayers: Vec<_> = (0..4)
        .map(|i| {
            spawn_child(
                "sprayer",
                &db(&dir),
                &[
                    ("HANDOVER_INDEX", i.to_string()),
                    ("HANDOVER_START", start.clone()),
                ],
            )
        })
        .collect();
    let shared: Vec<String> = guessers.into_iter().flat_map(answers).collect();
    let sprayed: Vec<String> = sprayers.into_iter().flat_map(answers).collect();
    assert_eq!(shared.len(), 30);
    assert_eq!(sprayed.len(), 40);
    let stored = store.load(fixtures::booking_key("shared")).unwrap();
    check_processes(&shared, &sprayed, stored);
}

#[test]
fn processes_killed_mid_write_leave_consistent_records() {
    let dir = ScratchDir::new("crash");
    drop(SqliteStore::open(db(&dir), Durability::Normal).unwrap());
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    let mut answered: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut kills = 0;
    let mut entries = 0;
    while kills < 100 && Instant::now() < deadline {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let env = [
            ("HANDOVER_SEED", (seed | 1).to_string()),
            ("HANDOVER_RUN", kills.to_string()),
        ];
        let mut child = spawn_child("crasher", &db(&dir), &env);
        let stdout = child.stdout.take().unwrap();
        let (first, started) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, answer)) = line.split_once("ANSWER ") {
                    if lines.is_empty() {
                        let _ = first.send(());
                    }
                    lines.push(answer.to_owned());
                }
            }
            lines
        });
        // Once it is writing, kill it at a random moment within the next 100 ms (each
        // answer is synced to disk first, `Durability::Full`, so fewer come in a moment).
        let _ = started.recv_timeout(Duration::from_secs(10));
        std::thread::sleep(Duration::from_micros((seed >> 33) % 100_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        answered.extend(reader.join().unwrap());
        kills += 1;

        // After every kill: the file opens, every record decodes and is consistent, and
        // the audit log and the records agree exactly.
        drop(SqliteStore::open(db(&dir), Durability::Normal).unwrap());
        check_consistent(&db(&dir), &answered);
        entries = check_audit_agrees(&db(&dir));
    }
    println!("{entries} audit entries, each chained to its record's versions");
    println!("{kills} kills, {} answers checked", answered.len());
    assert!(kills >= 50, "only {kills} kills in the time allowed");
    assert!(
        answered.len() > 1_000,
        "the children answered only {} guesses",
        answered.len()
    );
}

/// Reads every row back: each decodes, each booking's counts agree with what was answered.
fn check_consistent(db: &Path, answered: &[String]) {
    let mut per_booking: HashMap<&str, (usize, usize)> = HashMap::new();
    for line in answered {
        let (name, what) = line.split_once(' ').unwrap();
        let entry = per_booking.entry(name).or_default();
        match what {
            "accepted" | "overridden" => entry.0 += 1,
            "rejected" => entry.1 += 1,
            _ => {}
        }
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, record FROM handover_records WHERE kind = 1")
        .unwrap();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut seen = 0;
    for (id, bytes) in rows {
        let name = String::from_utf8(id).unwrap();
        let record =
            Record::decode(&bytes).unwrap_or_else(|e| panic!("{name}: row does not decode: {e}"));
        let Record::Booking(r) = record else {
            panic!("{name}: not a booking record")
        };
        let (accepted, rejected) = per_booking.get(name.as_str()).copied().unwrap_or_default();
        seen += usize::from(per_booking.contains_key(name.as_str()));
        assert!(accepted <= 1, "{name}: accepted {accepted} times");
        if accepted == 1 {
            assert_eq!(
                r.state(),
                State::Redeemed,
                "{name}: accepted but not redeemed"
            );
        }
        // Every answered rejection was counted first, across generations too (a kill between
        // the write and the print leaves the count higher, never lower).
        assert!(
            usize::from(r.lifetime_failures()) >= rejected,
            "{name}: {rejected} answered, {} counted",
            r.lifetime_failures()
        );
        assert!(
            r.failures() <= 3 && r.lifetime_failures() <= 9,
            "{name}: counts out of range: {r:?}"
        );
        // Generations count up from the issue time (the children's clock stands still).
        let reissues = r.generation() - u32::try_from(NOW.0).unwrap();
        assert!(
            u32::from(r.lifetime_failures()) >= 3 * reissues,
            "{name}: re-issued before it locked: {r:?}"
        );
        let exhausted = r.failures() == 3 || r.lifetime_failures() == 9;
        assert_eq!(
            r.state() == State::Locked,
            exhausted && r.state() != State::Redeemed,
            "{name}: lock state disagrees with its counts: {r:?}"
        );
    }
    assert_eq!(
        seen,
        per_booking.len(),
        "a booking that answered has no row"
    );
}

/// Every record version has its audit entry and every audit entry its record version: the
/// entries of each record, in log order, chain from its creation (no prior version) to the
/// version stored, each one's prior the version the one before produced; and no entry is for
/// a record that is not there (nothing was pruned). Answers how many entries there are.
fn check_audit_agrees(db: &Path) -> usize {
    type Key = (i64, Vec<u8>, Vec<u8>);
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT kind, namespace, id, version FROM handover_records")
        .unwrap();
    let records: HashMap<Key, i64> = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut stmt = conn
        .prepare("SELECT kind, namespace, id, prior, version FROM handover_audit ORDER BY seq")
        .unwrap();
    let rows: Vec<(Key, Option<i64>, i64)> = stmt
        .query_map([], |r| {
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut at: HashMap<Key, i64> = HashMap::new();
    for (key, prior, version) in &rows {
        assert_eq!(
            at.get(key).copied(),
            *prior,
            "{key:?}: an audit entry from {prior:?} after {:?}",
            at.get(key)
        );
        at.insert(key.clone(), *version);
    }
    assert_eq!(
        at, records,
        "the audit chains do not end at the stored versions"
    );
    rows.len()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]
    /// The model's operation sequences (four services, prunes, faults) on SQLite.
    #[test]
    fn sqlite_agrees_with_the_model(ops in proptest::collection::vec(ops::op(), 1..60)) {
        let store = SqliteStore::open_in_memory().unwrap();
        if let Err(failure) = handover_code::conformance::model::check_sequence_audited(store, &ops) {
            proptest::prop_assert!(false, "{}", failure);
        }
    }

    /// The same, one key at a time (the reservation mode).
    #[test]
    fn sqlite_agrees_with_the_model_one_key_at_a_time(ops in proptest::collection::vec(ops::op(), 1..60)) {
        let store = conformance::WithoutTransactions(SqliteStore::open_in_memory().unwrap());
        if let Err(failure) = handover_code::conformance::model::check_sequence_audited(store, &ops) {
            proptest::prop_assert!(false, "{}", failure);
        }
    }
}

/// Any number of processes may open a fresh file at once: 16 processes at the same instant,
/// 12 times over, and every open succeeds (WAL switch and schema creation wait their turn).
#[test]
fn many_processes_open_a_fresh_file_at_once() {
    let dir = ScratchDir::new("open");
    let mut failures = Vec::new();
    for round in 0..12 {
        let db = dir.join(format!("fresh-{round}.db"));
        let start = start_at(400);
        let children: Vec<_> = (0..16)
            .map(|_| spawn_child("opener", &db, &[("HANDOVER_START", start.to_string())]))
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let line = text
                .lines()
                .find_map(|l| l.find("OPENED").map(|at| &l[at..]))
                .unwrap_or("no answer");
            if line != "OPENED ok" {
                failures.push(format!("round {round}: {line}"));
            }
        }
        let store = SqliteStore::open(&db, Durability::Normal).unwrap();
        assert_eq!(store.durability(), Durability::Normal);
    }
    assert!(
        failures.is_empty(),
        "{} of 192 opens failed: {failures:#?}",
        failures.len()
    );
}

/// Prune deletes in batches, each its own statement: every expired row goes, nothing else,
/// and a writer in another connection waits for one batch at most, never the whole prune.
#[test]
fn prune_deletes_in_batches() {
    let dir = ScratchDir::new("prune");
    let db = dir.join("prune.db");
    let store = SqliteStore::open(&db, Durability::Normal)
        .unwrap()
        .with_prune_batch(5_000);
    const EXPIRED: i64 = 100_000;
    // Rows written straight to the table, prune_at in the store's order-preserving encoding
    // (seconds with the top bit flipped): 100,000 expired at 10 s, 100 at 4e9 s.
    {
        let conn = handover_code_sqlite::rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {EXPIRED} + 100)
             INSERT INTO handover_records (kind, namespace, id, version, record, prune_at)
             SELECT 1, x'6e73', CAST(i AS BLOB), 1, x'00',
               -9223372036854775807 - 1 + CASE WHEN i <= {EXPIRED} THEN 10 ELSE 4000000000 END FROM n"
        ))
        .unwrap();
    }
    // A writer on its own connection (500 writes a second), timing each of its writes
    // while the prune runs.
    let done = std::sync::atomic::AtomicBool::new(false);
    let (removed, slowest) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let conn = handover_code_sqlite::rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(Duration::from_secs(30)).unwrap();
            let mut slowest = Duration::ZERO;
            let mut i = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let started = std::time::Instant::now();
                conn.execute(
                    "INSERT INTO handover_records VALUES (2, x'77', ?1, 1, x'00', 4000000000)",
                    [i.to_be_bytes()],
                )
                .unwrap();
                slowest = slowest.max(started.elapsed());
                i += 1;
                // A busy counter's pace: a write every 2 ms, not a write-lock hammer.
                std::thread::sleep(Duration::from_millis(2));
            }
            slowest
        });
        let started = std::time::Instant::now();
        let removed = store.prune(Timestamp(1_000)).unwrap();
        let took = started.elapsed();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let slowest = writer.join().unwrap();
        println!(
            "SQLite prune of {removed} rows in batches of 5,000: {took:.2?}; \
             the slowest write beside it waited {slowest:.2?}"
        );
        (removed, slowest)
    });
    assert_eq!(removed, EXPIRED as u64);
    let _ = slowest;
    let conn = handover_code_sqlite::rusqlite::Connection::open(&db).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM handover_records WHERE kind = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 100, "only the unexpired rows are left");
    // Each batch finds its rows through the prune_at index, not by reading the table.
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", SqliteStore::PRUNE))
        .unwrap()
        .query_map([0i64, 5_000], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    println!("SQLite prune plan: {plan:?}");
    assert!(
        plan.iter()
            .any(|step| step.contains("INDEX handover_records_prune")),
        "the prune reads the whole table: {plan:?}"
    );
}
