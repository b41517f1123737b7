//! What SIGINT (Ctrl-C) and SIGTERM do to any command: the child processes it started are
//! stopped, every temporary folder it made is removed, one line on stderr says what was in
//! progress and the last change made ("interrupted while pushing to "…"; nothing was changed
//! after applied 3 objects"), and the process exits with 130 (SIGINT) or 143 (SIGTERM).
//!
//! The state lives in one process-wide registry rather than in the futures of the command,
//! because a signal can arrive while a folder or a child belongs to a blocking thread or to a
//! future that will never be polled again: whoever made it registers it here, and the signal
//! watcher (started by [`watch`] at the entry point) sweeps whatever is registered.
//!
//! Children run in a process group of their own on Unix, so the sweep stops git together with
//! the ssh or HTTPS helper it started; a child that may need the terminal (ssh asking for the
//! passphrase of the user's own key) stays in ours, where a terminal's Ctrl-C reaches it
//! anyway. On Linux the children also get a death signal, so even a SIGKILL of the plugin,
//! which nothing can catch, stops them (ssh-agent included). On Windows, Ctrl-C reaches every
//! process of the console, so the sweep only removes folders there.
//!
//! This module is the lowest leaf of the crate: it knows nothing of the others.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
#[cfg(unix)]
use std::time::{Duration, Instant};

/// How long stopped children get to exit before they are killed.
#[cfg(unix)]
const CHILD_GRACE: Duration = Duration::from_secs(2);

/// The signal that interrupted the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// The shell's convention: 128 + the signal's number.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// Whether a child may need the terminal (and so stays in the plugin's process group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// Never reads the terminal: a process group of its own, stopped as a whole.
    NotNeeded,
    /// May prompt on the terminal (the user's own ssh setup).
    MayPrompt,
}

#[derive(Default)]
struct Registry {
    interrupted: bool,
    folders: BTreeMap<u64, PathBuf>,
    /// Process id, and whether it leads a process group of its own.
    children: BTreeMap<u64, (u32, bool)>,
    step: Option<String>,
    last_change: Option<String>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Runs `work` on the registry (made on first use). A poisoned lock is still used: the
/// registry stays consistent whatever panicked while holding it.
fn with_registry<T>(work: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard: MutexGuard<'_, Option<Registry>> = match REGISTRY.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    work(guard.get_or_insert_with(Registry::default))
}

/// The step now in progress, for the interruption line ("pushing to …").
pub fn step(text: impl Into<String>) {
    let text = text.into();
    with_registry(|registry| registry.step = Some(text));
}

/// A change just completed ("pushed commit abc1234 to main", "applied 42 objects").
pub fn changed(text: impl Into<String>) {
    let text = text.into();
    with_registry(|registry| registry.last_change = Some(text));
}

/// The line printed when a signal interrupts the command now.
pub fn message() -> String {
    with_registry(|registry| line(registry.step.as_deref(), registry.last_change.as_deref()))
}

/// The interruption line for `step` and `last_change` (control characters of cluster text
/// replaced, as everywhere on the terminal).
fn line(step: Option<&str>, last_change: Option<&str>) -> String {
    let step = step.unwrap_or("starting");
    let line = match last_change {
        Some(change) => format!("interrupted while {step}; nothing was changed after {change}"),
        None => format!("interrupted while {step}; nothing was changed"),
    };
    line.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Creates `path` with `create` and registers it for removal on an interruption, in one step
/// (so a signal cannot slip between them). Refuses once the command is interrupted. Returns
/// the registration to hand to [`forget_folder`] when the folder is removed.
pub(crate) fn create_folder(
    path: &Path,
    create: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    with_registry(|registry| {
        if registry.interrupted {
            return Err(interrupted_error());
        }
        create(path)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        registry.folders.insert(id, path.to_path_buf());
        Ok(id)
    })
}

/// The folder of registration `id` was removed by its owner.
pub(crate) fn forget_folder(id: u64) {
    with_registry(|registry| registry.folders.remove(&id));
}

/// A child process that is stopped on an interruption, and killed when dropped before it
/// finished (a future dropped mid-way leaves no process behind).
pub(crate) struct TrackedChild {
    child: Option<Child>,
    id: u64,
    /// Whether it leads a process group of its own (stopped as a whole; Unix only).
    #[cfg_attr(not(unix), allow(dead_code))]
    own_group: bool,
}

impl TrackedChild {
    /// Starts `command` (in a process group of its own unless it may prompt on the terminal).
    /// Refuses once the command is interrupted.
    pub(crate) fn spawn(command: &mut Command, terminal: Terminal) -> std::io::Result<Self> {
        let own_group = terminal == Terminal::NotNeeded;
        #[cfg(unix)]
        if own_group {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        #[cfg(target_os = "linux")]
        die_with_this_thread(command);
        with_registry(|registry| {
            if registry.interrupted {
                return Err(interrupted_error());
            }
            let child = command.spawn()?;
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            registry.children.insert(id, (child.id(), own_group));
            Ok(TrackedChild {
                child: Some(child),
                id,
                own_group,
            })
        })
    }

    /// The child, to talk to it through its pipes (the ssh-agent of `git/agent.rs`, Unix).
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn child(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// Waits for the child and collects its output (as [`Child::wait_with_output`]).
    pub(crate) fn wait_with_output(mut self) -> std::io::Result<Output> {
        match self.child.take() {
            Some(child) => child.wait_with_output(),
            None => Err(std::io::Error::other("the child was already waited for")),
        }
    }
}

impl Drop for TrackedChild {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && matches!(child.try_wait(), Ok(None))
        {
            // Best effort: the child may have exited meanwhile.
            #[cfg(unix)]
            if self.own_group {
                // The whole group: what the child started goes with it (ssh-agent's agent).
                signal_children(&[(child.id(), true)], libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        with_registry(|registry| registry.children.remove(&self.id));
    }
}

/// A process the plugin caused but cannot wait for (ssh-agent's agent, a child of its
/// command): stopped on an interruption, and with SIGTERM when dropped.
#[cfg(unix)]
pub(crate) struct TrackedProcess {
    pid: u32,
    id: u64,
}

#[cfg(unix)]
impl TrackedProcess {
    /// Registers `pid`; once the command is interrupted, stops it at once and refuses.
    pub(crate) fn track(pid: u32) -> std::io::Result<Self> {
        with_registry(|registry| {
            if registry.interrupted {
                signal_children(&[(pid, false)], libc::SIGTERM);
                return Err(interrupted_error());
            }
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            registry.children.insert(id, (pid, false));
            Ok(TrackedProcess { pid, id })
        })
    }
}

#[cfg(unix)]
impl Drop for TrackedProcess {
    fn drop(&mut self) {
        signal_children(&[(self.pid, false)], libc::SIGTERM);
        with_registry(|registry| registry.children.remove(&self.id));
    }
}

/// Runs `command` to completion as a [`TrackedChild`], collecting its output.
pub(crate) fn output(command: &mut Command, terminal: Terminal) -> std::io::Result<Output> {
    TrackedChild::spawn(command, terminal)?.wait_with_output()
}

/// Linux: the child is killed when the thread that started it ends, which covers a SIGKILL of
/// the whole plugin (no sweep can run then). Every tracked child is started and waited for (or
/// dropped) by the same thread, so that thread outlives it in normal operation. The kernel
/// drops this for set-group-ID programs such as Debian's ssh-agent, which `agent.rs` ties to
/// the plugin by a pipe instead.
#[cfg(target_os = "linux")]
fn die_with_this_thread(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and calls only prctl(2) and getppid(2),
    // which are async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the death signal was set.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(std::io::Error::other("the plugin exited"));
            }
            Ok(())
        });
    }
}

fn interrupted_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Interrupted,
        "the command was interrupted",
    )
}

/// Starts watching for SIGINT and SIGTERM (Ctrl-C on Windows) on `runtime`. The handlers are
/// installed before this returns, so no signal is missed once the command runs; on a signal,
/// [`sweep`] runs and the process exits. Without a way to listen (rare), the signals keep
/// their default action.
pub fn watch(runtime: &tokio::runtime::Runtime) {
    let _context = runtime.enter();
    match listen() {
        Ok(signals) => {
            runtime.spawn(async move {
                let signal = signals.recv().await;
                sweep(signal)
            });
        }
        Err(err) => tracing::debug!("cannot listen for interrupts: {err}"),
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
fn listen() -> std::io::Result<Signals> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Signals {
        interrupt: signal(SignalKind::interrupt())?,
        terminate: signal(SignalKind::terminate())?,
    })
}

#[cfg(unix)]
impl Signals {
    async fn recv(mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
fn listen() -> std::io::Result<Signals> {
    Ok(Signals)
}

#[cfg(not(unix))]
impl Signals {
    async fn recv(self) -> Signal {
        // An error means no handler could be installed: wait forever, as if no signal came.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        Signal::Interrupt
    }
}

/// Stops every registered child (SIGTERM to its group, SIGKILL after [`CHILD_GRACE`]), removes
/// every registered folder, prints the interruption line and exits.
pub fn sweep(signal: Signal) -> ! {
    let children: Vec<(u32, bool)> = with_registry(|registry| {
        registry.interrupted = true;
        registry.children.values().copied().collect()
    });
    stop_children(&children);
    let folders: Vec<PathBuf> = with_registry(|registry| {
        std::mem::take(&mut registry.folders)
            .into_values()
            .collect()
    });
    for folder in folders {
        // Best effort: the process is about to exit and cannot do better.
        let _ = std::fs::remove_dir_all(folder);
    }
    let mut stderr = std::io::stderr().lock();
    if std::io::IsTerminal::is_terminal(&stderr) {
        // Clear a spinner's half-drawn line, and show the cursor a prompt may have hidden.
        let _ = write!(stderr, "\r\x1b[2K\x1b[?25h");
    }
    let _ = writeln!(stderr, "{}", message());
    let _ = stderr.flush();
    std::process::exit(signal.exit_code())
}

#[cfg(unix)]
fn stop_children(children: &[(u32, bool)]) {
    if children.is_empty() {
        return;
    }
    signal_children(children, libc::SIGTERM);
    // The threads waiting for the children unregister them once reaped; other processes are
    // gone when kill(pid, 0) no longer finds them.
    let remaining = || -> Vec<(u32, bool)> {
        with_registry(|registry| registry.children.values().copied().collect::<Vec<_>>())
            .into_iter()
            .filter(|&(pid, _)| {
                libc::pid_t::try_from(pid).is_ok_and(|pid| {
                    // SAFETY: kill(2) with signal 0 only checks that the process exists.
                    unsafe { libc::kill(pid, 0) == 0 }
                })
            })
            .collect()
    };
    let deadline = Instant::now() + CHILD_GRACE;
    while Instant::now() < deadline && !remaining().is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_children(&remaining(), libc::SIGKILL);
}

/// Sends `signal` to each child's process group, or to the child alone when it shares ours.
#[cfg(unix)]
fn signal_children(children: &[(u32, bool)], signal: libc::c_int) {
    for &(pid, own_group) in children {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            continue;
        };
        let target = if own_group { -pid } else { pid };
        // SAFETY: kill(2) has no memory-safety preconditions; a child that is gone already
        // only makes it return an error, which changes nothing here.
        unsafe {
            libc::kill(target, signal);
        }
    }
}

/// Windows: Ctrl-C reaches every process of the console, the children included.
#[cfg(not(unix))]
fn stop_children(_children: &[(u32, bool)]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_step_and_the_last_change() {
        assert_eq!(
            line(Some("cloning branch \"main\""), None),
            "interrupted while cloning branch \"main\"; nothing was changed"
        );
        assert_eq!(
            line(
                Some("applying sync manifests"),
                Some("pushed commit abc1234 to main")
            ),
            "interrupted while applying sync manifests; nothing was changed after pushed commit abc1234 to main"
        );
        assert_eq!(
            line(None, Some("applied Secret a/\u{1b}[31mb")),
            "interrupted while starting; nothing was changed after applied Secret a/?[31mb"
        );
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
    }

    #[cfg(unix)]
    #[test]
    fn a_dropped_child_is_killed_and_forgotten() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut child = TrackedChild::spawn(&mut command, Terminal::NotNeeded).unwrap();
        let pid = child.child().map(|c| c.id()).unwrap();
        assert!(with_registry(|r| r
            .children
            .values()
            .any(|(p, _)| *p == pid)));
        drop(child);
        assert!(!with_registry(|r| r
            .children
            .values()
            .any(|(p, _)| *p == pid)));
        // Reaped: /proc no longer lists it (Linux), or kill(0) fails elsewhere.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        assert!(!alive, "sleep {pid} still runs");
    }

    #[test]
    fn registered_folders_are_forgotten_when_their_owner_removes_them() {
        let parent = std::env::temp_dir().join(format!("interrupt-test-{}", std::process::id()));
        let id = create_folder(&parent, |path| std::fs::create_dir(path)).unwrap();
        assert!(with_registry(|r| r.folders.contains_key(&id)));
        std::fs::remove_dir(&parent).unwrap();
        forget_folder(id);
        assert!(!with_registry(|r| r.folders.contains_key(&id)));
    }
}
