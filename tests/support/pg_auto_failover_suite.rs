//! A failover of PostgreSQL decided by a failover manager a host would run:
//! `pg_auto_failover` (Debian's `postgresql-15-auto-failover` and `pg-auto-failover-cli`),
//! a monitor and two nodes on loopback, started by the test. The manager keeps the standby
//! synchronous (`synchronous_standby_names = 'ANY 1 (…)'`); the test races verifications,
//! issues, overrides and revokes against the primary through the formation's two nodes (as
//! [`Pg::open`] reaches several servers: a multi-host connection string for tokio-postgres,
//! a proxy that moves with the primary for sqlx), kills the primary node (its keeper and every PostgreSQL process,
//! SIGKILL) while writes flow, waits for the monitor to promote the other node (out of
//! recovery about 20 s after the crash, taking writes about 50 s after it, with the
//! defaults), and checks every answer given against what the new primary holds.
//!
//! Without `pg_autoctl` the test is reported ignored, with the reason (and the run fails
//! under `CI=true`).
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pg_cluster::{self, free_port, is_root};
use crate::pg_store::{Pg, Target};
use crate::scratch::{self, ScratchDir, Undo, on_interrupt};
use crate::{fixtures, race};

/// The PostgreSQL binaries `pg_autoctl` runs.
const BIN: &str = "/usr/lib/postgresql/15/bin";

pub fn missing() -> Option<&'static str> {
    let found = Command::new("pg_autoctl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !(found && Path::new(BIN).join("initdb").exists()) {
        return Some(
            "pg_autoctl or PostgreSQL 15 not found; install postgresql-15-auto-failover and pg-auto-failover-cli",
        );
    }
    pg_cluster::as_postgres_missing()
}

/// `pg_autoctl args…`, as user `postgres` when we are root, with PostgreSQL 15 on PATH and
/// its configuration, state and pid files kept under `home` (the XDG directories it uses),
/// so that nothing of it outlives the formation's directory.
fn autoctl(home: &Path, args: &[&str]) -> Command {
    let env = [
        (
            "PATH",
            format!("{BIN}:{}", std::env::var("PATH").unwrap_or_default()),
        ),
        ("XDG_CONFIG_HOME", home.join("config").display().to_string()),
        ("XDG_DATA_HOME", home.join("data").display().to_string()),
        ("XDG_RUNTIME_DIR", home.join("run").display().to_string()),
    ];
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "env"]);
        c.args(env.iter().map(|(k, v)| format!("{k}={v}")));
        c.arg("pg_autoctl");
        c
    } else {
        let mut c = Command::new("pg_autoctl");
        c.envs(env);
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

/// A monitor and two nodes, each `pg_autoctl run` in the background in a process group of
/// its own, every PostgreSQL of theirs listening on 127.0.0.1 only (`--listen 127.0.0.1`,
/// which sets `listen_addresses`). Dropped, or on Ctrl-C, it kills what it started by the
/// ids it knows: each `pg_autoctl run` group, each pid in a `postmaster.pid` or a
/// `pg_autoctl.pid` under its directory, and their children; then the directory goes.
struct Formation {
    /// The `pg_autoctl run` processes (each its group's leader), by node name.
    runs: Arc<Mutex<Vec<(String, std::process::Child)>>>,
    /// Stops everything on Ctrl-C; dropped (unregistered) before `dir`.
    _undo: Undo,
    dir: ScratchDir,
    monitor: u16,
    nodes: [u16; 2],
}

impl Formation {
    fn start() -> Self {
        let dir = ScratchDir::new("paf");
        // pg_autoctl uses an XDG directory only if it exists (else ~/.config, ~/.local and
        // /tmp/pg_autoctl, outside the formation's directory).
        for xdg in ["config", "data", "run"] {
            std::fs::create_dir(dir.join(xdg)).unwrap();
        }
        dir.give_to_postgres();
        let runs: Arc<Mutex<Vec<(String, std::process::Child)>>> = Arc::default();
        let undo = on_interrupt({
            let (path, runs) = (dir.path().to_owned(), Arc::clone(&runs));
            move || stop_all(&path, &runs)
        });
        let formation = Self {
            runs,
            _undo: undo,
            dir,
            monitor: free_port(),
            nodes: [free_port(), free_port()],
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

    /// `pg_autoctl create <what>` for `name` on `port`, then `pg_autoctl run` for it. The
    /// interrupt handler waits until both have started (each in a process group of its
    /// own, out of reach of a Ctrl-C at the terminal) and `run` is recorded.
    fn create(&self, what: &str, name: &str, port: u16) {
        let _starting = scratch::starting();
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
            "--listen",
            "127.0.0.1",
            "--auth",
            "trust",
            "--no-ssl",
        ];
        if what == "postgres" {
            args.extend(["--monitor", &monitor, "--name", name]);
        }
        let out = autoctl(self.dir.path(), &args)
            .process_group(0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_autoctl create {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let run = autoctl(self.dir.path(), &["run", "--pgdata", data])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        self.runs.lock().unwrap().push((name.to_owned(), run));
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
        autoctl(
            self.dir.path(),
            &["show", "state", "--pgdata", data.to_str().unwrap()],
        )
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

    /// The formation's two nodes, for a store reaching whichever is primary.
    fn target(&self) -> Target {
        Target {
            ports: self.nodes.to_vec(),
            options: None,
        }
    }

    /// Kills the node on `port` as a machine crash would: its keeper and every PostgreSQL
    /// process, SIGKILL.
    fn crash(&self, port: u16) {
        let name = if port == self.nodes[0] { "n1" } else { "n2" };
        let mut runs = self.runs.lock().unwrap();
        let at = runs.iter().position(|(n, _)| n == name).unwrap();
        let (_, mut run) = runs.remove(at);
        kill_all_in(&self.data(name), Some(&mut run));
    }
}

/// Every pid named in a pid file under `dir`, at any depth (`postmaster.pid`, and
/// `pg_autoctl.pid` and its services' files under the XDG run directory), that is still a
/// `postgres` or `pg_autoctl` process (a stale file's pid may be another's by now).
fn pid_files(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return pids;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            pids.extend(pid_files(&path));
        } else if path.extension().is_some_and(|e| e == "pid") {
            pids.extend(scratch::pid_in(&path).filter(|&pid| {
                matches!(
                    scratch::comm(pid).as_deref(),
                    Some("postgres" | "pg_autoctl")
                )
            }));
        }
    }
    pids
}

/// Kills, with SIGKILL, every process named in a pid file under `dir` (a node's PostgreSQL
/// runs in a session of its own) with their children, and the `pg_autoctl run` group `run`
/// leads (its keeper among them), if given; waits until they are gone and reaps `run`.
fn kill_all_in(dir: &Path, run: Option<&mut std::process::Child>) {
    let mut pids = pid_files(dir);
    pids.extend(pids.clone().into_iter().flat_map(scratch::children));
    if let Some(run) = run.as_ref() {
        scratch::signal(run.id(), "KILL", true);
    }
    for &pid in &pids {
        scratch::signal(pid, "KILL", false);
    }
    if let Some(run) = run {
        let _ = run.wait();
    }
    for pid in pids {
        scratch::wait_gone(pid, Duration::from_secs(10));
    }
}

/// Stops the whole formation in `dir`: each remaining node with its `pg_autoctl run` group,
/// then anything still named in a pid file under `dir` (the keepers' pid files sit under
/// its XDG run directory).
fn stop_all(dir: &Path, runs: &Mutex<Vec<(String, std::process::Child)>>) {
    let mut runs = runs.lock().unwrap_or_else(|e| e.into_inner());
    for (name, mut run) in runs.drain(..) {
        kill_all_in(&dir.join(name), Some(&mut run));
    }
    kill_all_in(dir, None);
}

impl Drop for Formation {
    /// Stops every process of the formation; its directory goes when `dir` drops, after this.
    fn drop(&mut self) {
        stop_all(self.dir.path(), &self.runs);
    }
}

/// The primary node crashed during a race; pg_auto_failover promotes the synchronous
/// standby: nothing answered is lost.
pub fn a_pg_auto_failover_failover_loses_nothing_answered<S: Pg>() {
    let formation = Formation::start();
    let rt = fixtures::runtime();
    let store = S::open(&rt, &formation.target(), 8, Duration::from_secs(2))
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
