//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` and `pg_ctl` from the
//! machine's PostgreSQL into a temporary directory, listening on 127.0.0.1 at a free port,
//! stopped by its postmaster's pid when dropped. Also a streaming standby of one, and what
//! a failover test does to the pair: make the standby synchronous, cut it off, kill the
//! primary, promote the standby.
//!
//! Where no PostgreSQL binaries are installed, [`Cluster::start`] answers `None` with a
//! message, except under `CI=true`, where a missing server is a failure.
//!
//! Every cluster lives in a [`ScratchDir`] and is stopped by its postmaster's pid (from
//! `postmaster.pid`) when dropped, on a pass, a failure or a panic, and on Ctrl-C through
//! the interrupt handler of `scratch.rs`. Its directory goes with it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use crate::scratch::is_root;
use crate::scratch::{ScratchDir, Undo, on_interrupt, on_path, pid_in, stop_pid};

pub struct Cluster {
    /// Stops the server on Ctrl-C; dropped (unregistered) before `dir`.
    _undo: Undo,
    dir: ScratchDir,
    bin: PathBuf,
    pub port: u16,
}

/// The directory holding `initdb` and `pg_ctl`: the newest under /usr/lib/postgresql, or
/// the one on PATH.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    })
}

/// Why the tests cannot start a cluster here, if they cannot: no PostgreSQL binaries, or
/// (as root) no way to run them as user `postgres`.
pub fn missing() -> Option<&'static str> {
    if binaries().is_none() {
        return Some(
            "no PostgreSQL binaries (initdb, pg_ctl) found; install postgresql to run these tests",
        );
    }
    as_postgres_missing()
}

/// Why PostgreSQL's programs cannot be run here as user `postgres` (the server refuses to
/// run as root), if they cannot: as root, `runuser` must be on PATH and the user must exist.
pub fn as_postgres_missing() -> Option<&'static str> {
    if !is_root() {
        return None;
    }
    if !on_path("runuser") {
        return Some(
            "`runuser` not found on PATH: as root the tests run PostgreSQL as user postgres \
             through it; put /usr/sbin on PATH (util-linux installs it there)",
        );
    }
    let user = Command::new("id").args(["-u", "postgres"]).output();
    if !user.is_ok_and(|o| o.status.success()) {
        return Some(
            "no user `postgres`: as root the tests run PostgreSQL as that user; \
             install postgresql, which creates it",
        );
    }
    None
}

/// `program`, as user `postgres` when we are root (the server refuses root).
pub fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Runs a PostgreSQL program, as user `postgres` when we are root; a missing `runuser` or
/// user is named as what it is, not as the program.
fn run(program: &Path, args: &[&str]) -> std::process::Output {
    output(as_postgres(program).args(args), program)
}

/// [`run`], in a process group of its own: a Ctrl-C at the terminal does not reach it.
fn run_in_own_group(program: &Path, args: &[&str]) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    output(as_postgres(program).args(args).process_group(0), program)
}

fn output(command: &mut Command, program: &Path) -> std::process::Output {
    if let Some(reason) = as_postgres_missing() {
        panic!("cannot run {}: {reason}", program.display());
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `signal` (`STOP`, `CONT`, `KILL`) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    crate::scratch::signal(pid, signal, false);
}

/// Stops the server whose data directory is `data`, by the postmaster's pid (if that pid
/// is still a `postgres` process: a stale file's may be another's): its children thawed
/// first (a test may have frozen one, which would hold the shutdown up), a fast shutdown
/// (SIGINT), SIGKILL after 20 s, and any child still running then killed too.
fn stop_server(data: &Path) {
    let Some(pid) = pid_in(&data.join("postmaster.pid")) else {
        return;
    };
    if crate::scratch::comm(pid).as_deref() != Some("postgres") {
        return;
    }
    let children = crate::scratch::children(pid);
    for &child in &children {
        signal(child, "CONT");
    }
    stop_pid(pid, "INT", Duration::from_secs(20));
    for child in children {
        if crate::scratch::comm(child).as_deref() == Some("postgres") {
            stop_pid(child, "KILL", Duration::ZERO);
        }
    }
}

impl Cluster {
    /// Starts a fresh cluster, or answers `None` where PostgreSQL is not installed.
    pub fn start() -> Option<Self> {
        let Some(bin) = binaries() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but no PostgreSQL binaries (initdb, pg_ctl) were found: install postgresql"
            );
            eprintln!(
                "skipping: no PostgreSQL binaries (initdb, pg_ctl) found; install postgresql to run these tests"
            );
            return None;
        };
        let dir = ScratchDir::for_postgres("pg");
        let data = dir.join("data");
        let out = run(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self::new(dir, bin);
        cluster.pg_ctl_start();
        Some(cluster)
    }

    /// A cluster in `dir` (its data directory `dir/data`) on a free port, stopped on Ctrl-C.
    fn new(dir: ScratchDir, bin: PathBuf) -> Self {
        let data = dir.join("data");
        Self {
            _undo: on_interrupt(move || stop_server(&data)),
            dir,
            bin,
            port: free_port(),
        }
    }

    /// `pg_ctl start`, waiting until the server answers. The interrupt handler waits for
    /// it (and pg_ctl runs in a process group of its own, so Ctrl-C does not cut it short
    /// with a postmaster already forked): the server is running and its `postmaster.pid`
    /// written before the handler looks for it.
    fn pg_ctl_start(&self) {
        let _starting = crate::scratch::starting();
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let out = run_in_own_group(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-o",
                &opts,
                "start",
            ],
        );
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{log_text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The path of one of the server's programs (`pgbench`, `psql`).
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// Connection parameters for `tokio_postgres`.
    pub fn params(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// The same server as a URL, for sqlx.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The postmaster's pid, from `postmaster.pid`.
    fn pid(&self) -> Option<u32> {
        pid_in(&self.dir.join("data").join("postmaster.pid"))
    }

    /// Stops the server (fast shutdown, by pid) and waits for it to be gone.
    pub fn stop(&self) {
        stop_server(&self.dir.join("data"));
    }

    /// Turns the server into one that takes TLS only: a test CA and a certificate it signed
    /// for 127.0.0.1 (made with `openssl`), `ssl = on`, and `hostssl` as the only way in over
    /// TCP. Restarts it, and answers the CA certificate's path: what a client trusts.
    pub fn require_tls(&self) -> PathBuf {
        let data = self.dir.join("data");
        let (crt, key) = (data.join("server.crt"), data.join("server.key"));
        let (ca, ca_key) = (self.dir.join("ca.crt"), self.dir.join("ca.key"));
        let (csr, ext) = (self.dir.join("server.csr"), self.dir.join("server.ext"));
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let path = |p: &Path| p.to_str().unwrap().to_owned();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            &path(&ca_key),
            "-out",
            &path(&ca),
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &path(&key),
            "-out",
            &path(&csr),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &path(&csr),
            "-CA",
            &path(&ca),
            "-CAkey",
            &path(&ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &path(&ext),
            "-out",
            &path(&crt),
        ]);
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        let key_arg = key.to_str().unwrap();
        let _ = Command::new("chmod").args(["600", key_arg]).status();
        if is_root() {
            let _ = Command::new("chown")
                .args(["postgres:postgres", key_arg])
                .status();
            let _ = Command::new("chown")
                .args(["postgres:postgres", crt.to_str().unwrap()])
                .status();
        }
        self.restart();
        ca
    }

    /// Stops and starts the server again on the same port.
    pub fn restart(&self) {
        self.stop();
        self.pg_ctl_start();
    }

    /// Sets the database's default isolation level (`read committed`, `repeatable read`,
    /// `serializable`) for connections opened from now on.
    pub fn default_isolation(&self, level: &str) {
        self.psql(&format!(
            "ALTER DATABASE postgres SET default_transaction_isolation = '{level}'"
        ));
    }

    /// Runs `sql` with `psql` and answers its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(self.program("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-Atqc", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A streaming standby of this server (`pg_basebackup -R`), started on its own port,
    /// streaming once this answers. Settings made on this server afterwards
    /// (`synchronous_standby_names`) are not the standby's.
    pub fn standby(&self) -> Self {
        let dir = ScratchDir::for_postgres("pg");
        let data = dir.join("data");
        let out = run(
            &self.bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-D",
                data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let standby = Self::new(dir, self.bin.clone());
        standby.pg_ctl_start();
        self.wait_for(
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            "1",
        );
        standby
    }

    /// Waits until `sql` answers `want` here (at most 30 s).
    pub fn wait_for(&self, sql: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.psql(sql) != want {
            assert!(Instant::now() < deadline, "{sql} never answered {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Makes every commit here wait for a standby (`synchronous_standby_names = '*'`) or
    /// for none (`''`), and waits until the standby is seen as synchronous (or not).
    pub fn synchronous(&self, on: bool) {
        let names = if on { "*" } else { "" };
        self.psql(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = '{names}'"
        ));
        self.psql("SELECT pg_reload_conf()");
        let want = if on { "sync" } else { "async" };
        self.wait_for(
            "SELECT string_agg(sync_state, ',') FROM pg_stat_replication",
            want,
        );
    }

    /// Cuts this standby off its primary: its WAL receiver frozen (SIGSTOP, so it cannot
    /// reconnect), then the primary's WAL sender to it terminated. From then on the primary
    /// sends it nothing. Answers the receiver's pid, to thaw it with `signal(pid, "CONT")`.
    pub fn cut_off_from(&self, primary: &Self) -> u32 {
        let pid: u32 = self
            .psql("SELECT pid FROM pg_stat_wal_receiver")
            .parse()
            .expect("the standby has a WAL receiver");
        signal(pid, "STOP");
        primary.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication");
        primary.wait_for("SELECT count(*) FROM pg_stat_replication", "0");
        pid
    }

    /// Kills the server as a crash would: the postmaster and every process it started, with
    /// SIGKILL, nothing flushed or shut down.
    pub fn kill(&self) {
        let Some(pid) = self.pid() else { return };
        let children = crate::scratch::children(pid);
        signal(pid, "KILL");
        for child in children {
            signal(child, "KILL");
        }
        crate::scratch::wait_gone(pid, Duration::from_secs(20));
        let _ = std::fs::remove_file(self.dir.join("data").join("postmaster.pid"));
    }

    /// Promotes this standby (`pg_ctl promote`, waiting until it takes writes).
    pub fn promote(&self) {
        let data = self.dir.join("data");
        let out = run(
            &self.bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-w", "promote"],
        );
        assert!(
            out.status.success(),
            "pg_ctl promote failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_for("SELECT pg_is_in_recovery()", "f");
    }
}

impl Drop for Cluster {
    /// Stops the server; its directory goes when `dir` drops, after this.
    fn drop(&mut self) {
        self.stop();
    }
}
