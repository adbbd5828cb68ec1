//! Throwaway Redis servers for tests and benchmarks: `redis-server` from the machine, in a
//! temporary directory, on 127.0.0.1 at a free port, with the append-only file on; killed
//! when dropped. Also a 3-master Redis Cluster on loopback.
//!
//! Where `redis-server` is not installed, [`Server::start`] answers `None` with a message,
//! except under `CI=true`, where a missing server is a failure.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct Server {
    dir: PathBuf,
    pub port: u16,
    fsync: &'static str,
    cluster: bool,
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
        Some(Self::spawn(fsync, false))
    }

    fn spawn(fsync: &'static str, cluster: bool) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "handover-redis-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            dir,
            port: free_port(),
            fsync,
            cluster,
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
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
            .args(["--cluster-node-timeout", "5000"]);
        }
        self.child = Some(cmd.stdout(Stdio::null()).spawn().unwrap());
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
        }
    }

    /// Starts the killed server again on the same port and directory: it replays its
    /// append-only file before answering.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three masters with no replicas, every slot assigned, on loopback.
pub struct Cluster {
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// A fresh 3-master cluster, or `None` where Redis is not installed.
    pub fn start() -> Option<Self> {
        if !available() {
            return None;
        }
        let nodes: Vec<Server> = (0..3).map(|_| Server::spawn("everysec", true)).collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
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
        Some(Self { nodes })
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }
}
