//! A command whose stderr and stdout are read line by line as they are written, each stderr
//! line with the time it arrived, so a test can act at a moment of the command's run (write a Pod once a wait has
//! begun, restart the API server while a watch runs) and check how soon something was said.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running command and the stderr lines it has written so far.
pub struct Streamed {
    child: Child,
    started: Instant,
    lines: Arc<Mutex<Vec<(Duration, String)>>>,
    stdout_lines: Arc<Mutex<Vec<(Duration, String)>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Reads `stream` line by line into `sink`, each line with its time since `started`.
fn read_lines(
    stream: impl Read + Send + 'static,
    sink: Arc<Mutex<Vec<(Duration, String)>>>,
    started: Instant,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((started.elapsed(), line));
        }
    })
}

/// How a [`Streamed`] command ended.
pub struct Ended {
    pub status: ExitStatus,
    pub stdout: String,
    /// Every stderr line with when it arrived, from the start.
    pub lines: Vec<(Duration, String)>,
}

impl Ended {
    pub fn stderr(&self) -> String {
        self.lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// When the first line equal to `line` arrived.
    pub fn when(&self, line: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|(_, l)| l == line)
            .map(|(at, _)| *at)
    }
}

impl Streamed {
    pub fn spawn(mut command: Command) -> Streamed {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {:?}: {err}", command.get_program()));
        let started = Instant::now();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            read_lines(
                child.stderr.take().expect("piped stderr"),
                lines.clone(),
                started,
            ),
            read_lines(
                child.stdout.take().expect("piped stdout"),
                stdout_lines.clone(),
                started,
            ),
        ];
        Streamed {
            child,
            started,
            lines,
            stdout_lines,
            readers,
        }
    }

    /// Waits until a stderr line passes `wanted` and returns it; panics with what was written
    /// when none does within `limit` or the command ends first.
    pub fn wait_for_line(&mut self, limit: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let lines = self.lines.clone();
        self.wait_in(&lines, limit, wanted)
    }

    /// [`Streamed::wait_for_line`] on stdout.
    pub fn wait_for_stdout_line(
        &mut self,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let lines = self.stdout_lines.clone();
        self.wait_in(&lines, limit, wanted)
    }

    fn wait_in(
        &mut self,
        lines: &Mutex<Vec<(Duration, String)>>,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let seen = lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some((_, line)) = seen.iter().find(|(_, l)| wanted(l)) {
                return line.clone();
            }
            let ended = matches!(self.child.try_wait(), Ok(Some(_)));
            if ended || Instant::now() > deadline {
                let text: Vec<String> = seen.into_iter().map(|(_, l)| l).collect();
                panic!(
                    "no such line within {limit:?} (command ended: {ended}); so far:\n{}\nstderr:\n{}",
                    text.join("\n"),
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The stderr lines written so far.
    pub fn stderr_so_far(&self) -> String {
        let seen = self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
        seen.into_iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// Stops the command (SIGKILL) and returns what it wrote: for commands that run until
    /// stopped (`status -w`).
    pub fn kill(mut self) -> Ended {
        let _ = self.child.kill();
        self.finish(Duration::from_secs(10))
    }

    /// Sends `signal` (e.g. `libc::SIGINT`, as Ctrl-C does) to the command.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid, which is not reaped before `finish`.
        let sent = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(sent, 0, "kill({}, {signal})", self.child.id());
    }

    /// How long the command has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for the command to end (at most `limit`, then kills it and panics).
    pub fn finish(mut self, limit: Duration) -> Ended {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let seen = self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let text: Vec<String> = seen.into_iter().map(|(_, l)| l).collect();
                panic!(
                    "command still running after {limit:?}; stderr:\n{}",
                    text.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        let stdout = self
            .stdout_lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ended {
            status,
            stdout,
            lines,
        }
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
