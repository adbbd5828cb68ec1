//! Throwaway Redis servers for tests and benchmarks: `redis-server` from the machine, in a
//! temporary directory, on 127.0.0.1 at a free port, with the append-only file on; killed
//! when dropped. Also a 3-master Redis Cluster on loopback, with or without a replica per
//! master, and what a failover test does to one: freeze a node, cut a master's replicas
//! off, kill a master, force a replica's failover.
//!
//! Where `redis-server` is not installed, [`Server::start`] answers `None` with a message,
//! except under `CI=true`, where a missing server is a failure.
//!
//! Every server is this process's child, in a [`ScratchDir`]: killed by its pid when
//! dropped (a pass, a failure, a panic) and on Ctrl-C through the interrupt handler of
//! `scratch.rs`, its directory removed with it.

use std::os::unix::ffi::OsStrExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::scratch::{ScratchDir, Undo, on_interrupt};

pub struct Server {
    /// The running server's pid (0 when killed), for the interrupt handler.
    pid: Arc<AtomicU32>,
    /// Kills the server on Ctrl-C; dropped (unregistered) before `dir`.
    _undo: Undo,
    dir: ScratchDir,
    pub port: u16,
    fsync: &'static str,
    cluster: bool,
    /// The cluster's node timeout, in milliseconds (how soon a silent master is failed).
    node_timeout: u32,
    child: Option<Child>,
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why the tests cannot start a server here, if they cannot: no `redis-server` or
/// `redis-cli`.
pub fn missing() -> Option<&'static str> {
    (!(installed("redis-server") && installed("redis-cli")))
        .then_some("redis-server or redis-cli not found; install redis-server to run these tests")
}

/// Whether `redis-server` and `redis-cli` can be run; under `CI=true` their absence fails.
fn available() -> bool {
    if installed("redis-server") && installed("redis-cli") {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but redis-server or redis-cli was not found: install redis-server and redis-tools"
    );
    eprintln!(
        "skipping: redis-server or redis-cli not found; install redis-server to run these tests"
    );
    false
}

fn free_port() -> u16 {
    // Cluster nodes also listen on port + 10000: keep both below 65536.
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Runs `redis-cli -p port args…` and answers its output.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Server {
    /// A fresh server with `appendfsync` set to `fsync` (`always`, `everysec`, `no`), or
    /// `None` where Redis is not installed.
    pub fn start(fsync: &'static str) -> Option<Self> {
        if !available() {
            return None;
        }
        Some(Self::spawn(fsync, false, 5_000))
    }

    fn spawn(fsync: &'static str, cluster: bool, node_timeout: u32) -> Self {
        // The directory first: the interrupt handler undoes the newest first, so the server
        // is killed before its directory is removed.
        let dir = ScratchDir::new("redis");
        let pid = Arc::new(AtomicU32::new(0));
        let undo = on_interrupt({
            let pid = Arc::clone(&pid);
            move || match pid.load(Ordering::SeqCst) {
                0 => {}
                pid => crate::scratch::stop_pid(pid, "KILL", Duration::ZERO),
            }
        });
        let mut server = Self {
            pid,
            _undo: undo,
            dir,
            port: free_port(),
            fsync,
            cluster,
            node_timeout,
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        // The interrupt handler waits until the pid is recorded.
        let starting = crate::scratch::starting();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--appendonly", "yes", "--appendfsync", self.fsync])
            .args(["--save", "", "--daemonize", "no", "--protected-mode", "no"])
            .args(["--logfile", "server.log"]);
        if self.cluster {
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .args(["--cluster-node-timeout", &self.node_timeout.to_string()]);
        }
        let child = cmd.stdout(Stdio::null()).spawn().unwrap();
        self.pid.store(child.id(), Ordering::SeqCst);
        self.child = Some(child);
        drop(starting);
        let deadline = Instant::now() + Duration::from_secs(20);
        // Ready once it answers PING with PONG (not LOADING): the file is replayed by then.
        while cli(self.port, &["PING"]).trim() != "PONG" {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start: {}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server with SIGKILL (no shutdown, no final write) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.pid.store(0, Ordering::SeqCst);
        }
    }

    /// Starts the killed server again on the same port and directory: it replays its
    /// append-only file before answering.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Whether the process runs (it was not killed).
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server's process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid} failed");
    }
}

impl Drop for Server {
    /// Kills the server; its directory goes when `dir` drops, after this.
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three masters, each with `replicas` replicas, every slot assigned, on loopback.
pub struct Cluster {
    pub nodes: Vec<Server>,
    /// Replicas per master.
    replicas: usize,
}

/// One shard as the cluster sees it now: its master's port and its replicas' ports.
#[derive(Clone, Debug)]
pub struct Shard {
    pub master: u16,
    pub replicas: Vec<u16>,
    /// The slot ranges it serves, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl Cluster {
    /// A fresh 3-master cluster without replicas, or `None` where Redis is not installed.
    pub fn start() -> Option<Self> {
        Self::start_with(0, "everysec", 5_000)
    }

    /// A fresh cluster of 3 masters with `replicas` replicas each, under `appendfsync`
    /// `fsync` and a node timeout of `node_timeout` ms, every replica in sync; `None` where
    /// Redis is not installed.
    pub fn start_with(replicas: usize, fsync: &'static str, node_timeout: u32) -> Option<Self> {
        if !available() {
            return None;
        }
        let nodes: Vec<Server> = (0..3 * (1 + replicas))
            .map(|_| Server::spawn(fsync, true, node_timeout))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &nodes {
            while !cli(node.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(Instant::now() < deadline, "the cluster did not come up");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let cluster = Self { nodes, replicas };
        cluster.settle();
        Some(cluster)
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// The node on `port`.
    pub fn node(&mut self, port: u16) -> &mut Server {
        self.nodes.iter_mut().find(|n| n.port == port).unwrap()
    }

    /// The shards as a running node sees them (masters not marked failed).
    pub fn shards(&self) -> Vec<Shard> {
        let seen = self
            .nodes
            .iter()
            .filter(|n| n.running())
            .map(|n| cli(n.port, &["CLUSTER", "NODES"]))
            .find(|out| !out.trim().is_empty())
            .expect("a node answers");
        let lines: Vec<Vec<&str>> = seen.lines().map(|l| l.split(' ').collect()).collect();
        let port =
            |address: &str| -> u16 { address.split(['@', ':']).nth(1).unwrap().parse().unwrap() };
        let mut shards = Vec::new();
        for master in lines
            .iter()
            .filter(|f| f[2].contains("master") && !f[2].contains("fail") && f.len() > 8)
        {
            let replicas = lines
                .iter()
                .filter(|f| f[3] == master[0] && !f[2].contains("fail"))
                .map(|f| port(f[1]))
                .collect();
            let slots = master[8..]
                .iter()
                .filter(|r| !r.starts_with('['))
                .map(|r| {
                    let mut ends = r.split('-').map(|n| n.parse::<u16>().unwrap());
                    let start = ends.next().unwrap();
                    (start, ends.next().unwrap_or(start))
                })
                .collect();
            shards.push(Shard {
                master: port(master[1]),
                replicas,
                slots,
            });
        }
        shards
    }

    /// The shard serving `key` (a Redis key name).
    pub fn shard_of(&self, key: &[u8]) -> Shard {
        let any = self.nodes.iter().find(|n| n.running()).unwrap().port;
        let out = Command::new("redis-cli")
            .args(["-p", &any.to_string(), "CLUSTER", "KEYSLOT"])
            .arg(std::ffi::OsStr::from_bytes(key))
            .output()
            .unwrap();
        let slot: u16 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        self.shards()
            .into_iter()
            .find(|s| s.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
            .expect("every slot is served")
    }

    /// Waits until every running node sees the cluster ok, every shard has a master and
    /// all its replicas (every node running), and every replica's link to its master is up
    /// and caught up with it.
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let ready = || {
            let all_ok = self
                .nodes
                .iter()
                .filter(|n| n.running())
                .all(|n| cli(n.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"));
            all_ok
                && self.shards().len() == 3
                && self.shards().iter().all(|shard| {
                    let running = self.nodes.iter().filter(|n| n.running()).count();
                    if running == self.nodes.len() && shard.replicas.len() != self.replicas {
                        return false;
                    }
                    let offset = |port: u16, field: &str| -> Option<u64> {
                        cli(port, &["INFO", "replication"])
                            .lines()
                            .find_map(|l| l.strip_prefix(field))
                            .and_then(|v| v.trim().parse().ok())
                    };
                    let master = offset(shard.master, "master_repl_offset:");
                    shard.replicas.iter().all(|&r| {
                        cli(r, &["INFO", "replication"]).contains("master_link_status:up")
                            && offset(r, "slave_repl_offset:") == master
                    })
                })
        };
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "the cluster did not settle: {:?}",
                self.shards()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `replica` is a master the cluster serves its slots from: promoted with
    /// `CLUSTER FAILOVER FORCE` (no handshake with its master, which may be gone) at once if
    /// `force`, else by the cluster's own failover of a dead master (forced after 8 s if the
    /// cluster has not promoted it by then).
    pub fn promote(&self, replica: u16, force: bool) {
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut asked = if force {
            Instant::now() - Duration::from_secs(10)
        } else {
            Instant::now() + Duration::from_secs(5)
        };
        loop {
            if cli(replica, &["ROLE"]).starts_with("master")
                && self.shards().iter().any(|s| s.master == replica)
                && self
                    .nodes
                    .iter()
                    .filter(|n| n.running())
                    .all(|n| cli(n.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
            {
                return;
            }
            // A failover that found no votes (a timed-out election) is asked for again.
            if asked.elapsed() > Duration::from_secs(3) {
                cli(replica, &["CLUSTER", "FAILOVER", "FORCE"]);
                asked = Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "the failover to {replica} did not happen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
