//! What a test makes outside itself, undone however the test ends.
//!
//! - [`ScratchDir`]: a fresh directory under the temporary directory, named
//!   `handover-<what>-<pid>-<n>`, removed when dropped (a pass, a failed assertion, a panic).
//! - [`on_interrupt`]: registers how to undo something (stop a server by its pid, remove a
//!   directory) for as long as the returned [`Undo`] lives. On Ctrl-C, SIGTERM or SIGHUP a
//!   handler runs every registered undo, the newest first (servers before the directories
//!   they live in), then exits with 130. A `SIGKILL` cannot be caught: nothing runs then.
//! - [`starting`]: held while a server is being started and registered (a directory made,
//!   a process spawned and its pid recorded); the handler waits for every such start to
//!   finish before it undoes anything, so that nothing started meanwhile escapes it.
//!
//! Servers started by the tests register their stop here, by the process ids they started
//! (a child's pid, `postmaster.pid`, a process group of their own), never by a pattern
//! matched against process titles, which PostgreSQL and pg_autoctl rewrite.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

type Action = Arc<dyn Fn() + Send + Sync>;

/// What the interrupt handler undoes, by registration number.
static LIVE: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());

/// Read-held by every start in progress, write-held by the interrupt handler.
static STARTING: RwLock<()> = RwLock::new(());

/// Holds off the interrupt handler while the caller starts something and registers how to
/// undo it. Hold it across one start only, and never take a second one (or make a
/// [`ScratchDir`], which takes one) while holding it: a read lock taken twice by one thread
/// can deadlock with the handler waiting for it.
pub fn starting() -> RwLockReadGuard<'static, ()> {
    STARTING.read().unwrap_or_else(|e| e.into_inner())
}

/// A registration with the interrupt handler; dropping it unregisters (it does not run the
/// action: the owner's own `Drop` undoes what it made).
pub struct Undo(u64);

impl Drop for Undo {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|(id, _)| *id != self.0);
    }
}

/// Runs `action` if the test process is interrupted while the answer lives.
pub fn on_interrupt(action: impl Fn() + Send + Sync + 'static) -> Undo {
    static HANDLER: Once = Once::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    HANDLER.call_once(|| {
        // A second handler (another harness's) is refused: the tests then lose only the
        // cleanup on Ctrl-C, which they say.
        if let Err(e) = ctrlc::set_handler(undo_everything_and_exit) {
            eprintln!("no cleanup on Ctrl-C: {e}");
        }
    });
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.push((id, Arc::new(action)));
    Undo(id)
}

fn undo_everything_and_exit() {
    // Every start in progress finishes and registers first; none begins after this.
    let _no_more_starts = STARTING.write().unwrap_or_else(|e| e.into_inner());
    let actions: Vec<Action> = {
        let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.iter().rev().map(|(_, a)| Arc::clone(a)).collect()
    };
    eprintln!(
        "interrupted: undoing what the tests started ({} servers and directories)",
        actions.len()
    );
    for action in actions {
        action();
    }
    std::process::exit(130);
}

/// A fresh directory under the temporary directory, removed when dropped or on interrupt.
pub struct ScratchDir {
    path: PathBuf,
    _undo: Undo,
}

impl ScratchDir {
    /// `handover-<what>-<pid>-<n>` under the temporary directory, empty.
    pub fn new(what: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "handover-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        let _starting = starting();
        let undo = on_interrupt({
            let path = path.clone();
            move || remove(&path)
        });
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Self { path, _undo: undo }
    }

    /// [`ScratchDir::new`], owned by user `postgres` when we are root (the server refuses
    /// to run as root, and a directory of root's is not its to write).
    pub fn for_postgres(what: &str) -> Self {
        let dir = Self::new(what);
        dir.give_to_postgres();
        dir
    }

    /// Makes the directory and everything in it user `postgres`'s, when we are root.
    pub fn give_to_postgres(&self) {
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&self.path)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown postgres {} failed", self.path.display());
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        remove(&self.path);
    }
}

/// Removes `path` and everything in it, trying again for a moment while a process that is
/// still going away writes into it.
fn remove(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir_all(path).is_err() && path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Whether process `pid` runs: it exists and is not a zombie (ended, not yet reaped).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        !matches!(state, Some("Z" | "X") | None)
    })
}

/// Sends `signal` (`INT`, `TERM`, `KILL`, `STOP`, `CONT`) to process `pid`, or to process
/// group `pid` when `group`.
pub fn signal(pid: u32, signal: &str, group: bool) {
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &target])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Waits up to `limit` for process `pid` to be gone; answers whether it is.
pub fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

/// Asks process `pid` to stop with `polite` (`INT`, `TERM`), waits up to `grace`, then
/// kills it; waits for it to be gone.
pub fn stop_pid(pid: u32, polite: &str, grace: Duration) {
    signal(pid, polite, false);
    if !wait_gone(pid, grace) {
        signal(pid, "KILL", false);
        wait_gone(pid, Duration::from_secs(10));
    }
}

/// The first line of a pid file, as a pid.
pub fn pid_in(file: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// The processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| parent(p) == Some(pid))
        .collect()
}

/// The kernel's name for process `pid` (`/proc/PID/comm`, which a process title does not
/// change).
pub fn comm(pid: u32) -> Option<String> {
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(name.trim_end().to_owned())
}

/// The parent of process `pid`, from `/proc/PID/stat`.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether `program` is found on PATH (or is a path that exists).
pub fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
