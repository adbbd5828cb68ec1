//! A failover of PostgreSQL decided by a failover manager a host would run:
//! `pg_auto_failover` (Debian's `postgresql-15-auto-failover` and `pg-auto-failover-cli`),
//! a monitor and two nodes on loopback, started by the test. The manager keeps the standby
//! synchronous (`synchronous_standby_names = 'ANY 1 (…)'`); the test races verifications,
//! issues, overrides and revokes against the primary through the formation's multi-host
//! connection string, kills the primary node (its keeper and every PostgreSQL process,
//! SIGKILL) while writes flow, waits for the monitor to promote the other node (out of
//! recovery about 20 s after the crash, taking writes about 50 s after it, with the
//! defaults), and checks every answer given against what the new primary holds.
//!
//! Without `pg_autoctl` the test is reported ignored, with the reason (and the run fails
//! under `CI=true`).
#![allow(unreachable_pub)]

#[path = "support/harness.rs"]
#[macro_use]
mod harness;

#[path = "support/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

#[path = "support/race.rs"]
#[allow(dead_code)]
mod race;

#[path = "support/pg_cluster.rs"]
#[allow(dead_code)]
mod pg_cluster;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use handover_code::store::postgres::PostgresStore;
use pg_cluster::{free_port, is_root};

/// The PostgreSQL binaries `pg_autoctl` runs.
const BIN: &str = "/usr/lib/postgresql/15/bin";

fn missing() -> Option<&'static str> {
    let found = Command::new("pg_autoctl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!(found && Path::new(BIN).join("initdb").exists())).then_some(
        "pg_autoctl or PostgreSQL 15 not found; install postgresql-15-auto-failover and pg-auto-failover-cli",
    )
}

/// `pg_autoctl args…`, as user `postgres` when we are root, with PostgreSQL 15 on PATH.
fn autoctl(args: &[&str]) -> Command {
    let path = format!("{BIN}:{}", std::env::var("PATH").unwrap_or_default());
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args([
            "-u",
            "postgres",
            "--",
            "env",
            &format!("PATH={path}"),
            "pg_autoctl",
        ]);
        c
    } else {
        let mut c = Command::new("pg_autoctl");
        c.env("PATH", path);
        c
    };
    cmd.args(args);
    cmd
}

/// `psql -c sql` on `port`; `None` if the server does not answer.
fn psql(port: u16, sql: &str) -> Option<String> {
    let out = Command::new(Path::new(BIN).join("psql"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-Atqc", sql])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A monitor and two nodes, each `pg_autoctl run` in the background.
struct Formation {
    dir: PathBuf,
    monitor: u16,
    nodes: [u16; 2],
    /// The `pg_autoctl run` processes, reaped when the formation is dropped.
    runs: std::cell::RefCell<Vec<std::process::Child>>,
}

impl Formation {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("handover-paf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let formation = Self {
            dir,
            monitor: free_port(),
            nodes: [free_port(), free_port()],
            runs: std::cell::RefCell::new(Vec::new()),
        };
        formation.create("monitor", "monitor", formation.monitor);
        for (i, port) in formation.nodes.into_iter().enumerate() {
            formation.create("postgres", &format!("n{}", i + 1), port);
            // The first node becomes the primary before the second joins as its standby.
            formation.wait_for(|f| f.primary().is_some());
        }
        formation.wait_for(|f| {
            f.primary().is_some_and(|p| {
                psql(
                    p,
                    "SELECT string_agg(sync_state, ',') FROM pg_stat_replication",
                )
                .is_some_and(|s| s == "quorum" || s == "sync")
            })
        });
        formation
    }

    fn data(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `pg_autoctl create <what>` for `name` on `port`, then `pg_autoctl run` for it.
    fn create(&self, what: &str, name: &str, port: u16) {
        let data = self.data(name);
        let (data, port) = (data.to_str().unwrap(), port.to_string());
        let monitor = format!(
            "postgres://autoctl_node@127.0.0.1:{}/pg_auto_failover?sslmode=disable",
            self.monitor
        );
        let mut args = vec![
            "create",
            what,
            "--pgdata",
            data,
            "--pgport",
            &port,
            "--hostname",
            "127.0.0.1",
            "--auth",
            "trust",
            "--no-ssl",
        ];
        if what == "postgres" {
            args.extend(["--monitor", &monitor, "--name", name]);
        }
        let out = autoctl(&args).output().unwrap();
        assert!(
            out.status.success(),
            "pg_autoctl create {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let run = autoctl(&["run", "--pgdata", data])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.runs.borrow_mut().push(run);
    }

    fn wait_for(&self, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "the formation did not get there: {}",
                self.state()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn state(&self) -> String {
        let data = self.data("monitor");
        autoctl(&["show", "state", "--pgdata", data.to_str().unwrap()])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The port of the node that takes writes, if one does (out of recovery, and no longer
    /// read-only as the manager keeps a node while it promotes it).
    fn primary(&self) -> Option<u16> {
        let sql =
            "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'";
        self.nodes
            .into_iter()
            .find(|&p| psql(p, sql).as_deref() == Some("t"))
    }

    /// The formation's connection parameters for `tokio_postgres`.
    fn params(&self) -> String {
        format!(
            "host=127.0.0.1,127.0.0.1 port={},{} user=postgres dbname=postgres target_session_attrs=read-write",
            self.nodes[0], self.nodes[1]
        )
    }

    /// Kills the node on `port` as a machine crash would: its keeper and every PostgreSQL
    /// process, SIGKILL.
    fn crash(&self, port: u16) {
        let name = if port == self.nodes[0] { "n1" } else { "n2" };
        let data = self.data(name);
        let pattern = data.to_str().unwrap().to_owned();
        let mut pids: Vec<String> = Vec::new();
        for p in ["pg_autoctl", "postgres"] {
            let out = Command::new("pgrep")
                .args(["-f", &format!("{p}.*{pattern}")])
                .output()
                .unwrap();
            pids.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_owned),
            );
        }
        let children: Vec<String> = pids
            .iter()
            .flat_map(|pid| {
                let out = Command::new("pgrep").args(["-P", pid]).output().unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .args(&children)
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        let pattern = self.dir.to_str().unwrap().to_owned();
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", &pattern])
            .status();
        for mut run in self.runs.borrow_mut().drain(..) {
            let _ = run.kill();
            let _ = run.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The primary node crashed during a race; pg_auto_failover promotes the synchronous
/// standby: nothing answered is lost.
fn a_pg_auto_failover_failover_loses_nothing_answered() {
    let formation = Formation::start();
    let rt = race::runtime();
    let store = PostgresStore::connect(&formation.params(), 8, Duration::from_secs(2))
        .unwrap()
        .with_synchronous_standby(Duration::from_secs(1));
    rt.block_on(store.create_schema()).unwrap();
    let service = Arc::new(race::service());
    let codes = rt.block_on(race::issue_before(&service, &store, "paf"));
    let primary = formation.primary().unwrap();
    let race = race::Race::start(&rt, &store, &service, &codes, "paf");
    std::thread::sleep(Duration::from_millis(500));
    formation.crash(primary);
    let promoted = Instant::now();
    formation.wait_for(|f| f.primary().is_some_and(|p| p != primary));
    println!(
        "pg_auto_failover promoted the standby {:.1} s after the crash",
        promoted.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_millis(500));
    let done = race.stop(&rt);
    let answered = race::answered(&done);
    let lost = rt.block_on(race::lost(&service, &store, &codes, &done));
    println!(
        "pg_auto_failover: {answered} answered, {} operations, {} answered writes lost",
        done.len(),
        lost.len()
    );
    assert!(answered > 0);
    assert!(lost.is_empty(), "answered writes lost: {lost:?}");
}

fn main() {
    harness::run_one_at_a_time(
        missing(),
        trials!(server: a_pg_auto_failover_failover_loses_nothing_answered),
    );
}
