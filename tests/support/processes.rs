//! Child processes and temporary folders that must not outlive the test binary.
//!
//! Tests share one control plane through a `static`, whose destructor never runs. So every
//! process started here is (1) killed by the kernel if the test binary dies (PR_SET_PDEATHSIG,
//! set from a spawner thread that lives as long as the process, because the signal follows the
//! thread that forked), and (2) stopped, with its temporary folders removed, by an `atexit`
//! handler when the test binary exits normally or after failed tests.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

type SpawnRequest = (Command, Sender<std::io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<Sender<SpawnRequest>>> = OnceLock::new();
static PIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn spawner() -> &'static Mutex<Sender<SpawnRequest>> {
    SPAWNER.get_or_init(|| {
        // SAFETY: registering a plain extern "C" function with atexit.
        unsafe { libc::atexit(cleanup_at_exit) };
        let (tx, rx) = channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("testenv-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    // SAFETY: prctl is async-signal-safe; it only sets this child's death signal.
                    unsafe {
                        command.pre_exec(|| {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("start the spawner thread");
        Mutex::new(tx)
    })
}

/// Starts `command` with stdout and stderr written to `log` (a fresh file), tracked for cleanup.
pub fn spawn(mut command: Command, log: &Path) -> Child {
    let out = File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
    let err = out.try_clone().expect("clone log file handle");
    command.stdin(Stdio::null()).stdout(out).stderr(err);
    let (tx, rx) = channel();
    spawner()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((command, tx))
        .expect("spawner thread is running");
    let child = rx
        .recv()
        .expect("spawner thread answers")
        .unwrap_or_else(|e| panic!("cannot start process (log {}): {e}", log.display()));
    PIDS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(child.id() as i32);
    child
}

/// A fresh temporary folder, removed when the test binary exits.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let _ = spawner(); // make sure the exit handler is registered
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create temp dir")
        .keep();
    DIRS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(dir.clone());
    dir
}

/// Stops a tracked process now: SIGTERM, then SIGKILL after `grace`.
pub fn stop(child: &mut Child, grace: Duration) {
    let pid = child.id() as i32;
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    PIDS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|p| *p != pid);
}

extern "C" fn cleanup_at_exit() {
    let pids: Vec<i32> = std::mem::take(&mut *PIDS.lock().unwrap_or_else(|p| p.into_inner()));
    for pid in &pids {
        // SAFETY: signalling children we started.
        unsafe { libc::kill(*pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut remaining = pids;
    while !remaining.is_empty() && Instant::now() < deadline {
        remaining.retain(|pid| {
            let mut status = 0;
            // SAFETY: reaping our own children without blocking.
            unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) == 0 }
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in remaining {
        // SAFETY: as above.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
    if std::env::var_os("KUBECTL_GITOPS_TEST_KEEP").is_none() {
        for dir in DIRS.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A loopback port that is free right now. Another process may take it before we bind it, so
/// callers retry a start that fails on an address in use.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

/// Whether process `pid` itself listens on TCP `port` (IPv4): a port can answer a connect
/// while belonging to another process that took it between `free_port()` and the bind, so
/// this looks up the listening socket in /proc/net/tcp and finds it among the process's
/// open files.
pub fn process_listens_on(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let wanted = format!(":{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listening = fields.get(3) == Some(&"0A");
            let local = fields.get(1)?;
            (listening && local.ends_with(&wanted)).then(|| fields.get(9).map(|i| i.to_string()))?
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .any(|target| {
            let target = target.to_string_lossy();
            inodes
                .iter()
                .any(|inode| target == format!("socket:[{inode}]"))
        })
}

/// The last `lines` lines of a log, for failure messages.
pub fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
