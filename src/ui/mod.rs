//! What the user sees and answers: one [`Ui`] object carries command output (stdout), messages
//! and progress (stderr), prompts and password reads, so the library never prints by itself,
//! tests can capture everything a command says, and fleet mode can prefix each cluster's lines.
//!
//! Two rules hold for everything written through it:
//! - text that may come from the cluster or a Git server never reaches the terminal with
//!   control characters in it ([`printable`]): a Kubernetes message could otherwise move the
//!   cursor, retitle the terminal or hide lines;
//! - a closed stdout (`kubectl gitops status | head -1`) stops the command quietly
//!   ([`Error::StdoutClosed`], exit status 0), as kubectl and ripgrep do.

pub mod confirm;
pub mod duration;
pub mod output;
pub mod progress;

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use serde::Serialize;

use crate::error::{Error, Result};
use progress::Progress;

/// A writer shared by the [`Ui`] and its [`Progress`].
pub type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// Where a command's output, messages and questions go.
pub struct Ui {
    stdout: SharedWriter,
    stderr: SharedWriter,
    stdout_terminal: bool,
    stderr_terminal: bool,
    /// Whether a person can answer prompts (stdin and stderr are terminals).
    interactive: bool,
    progress: Progress,
}

/// What a captured [`Ui`] was given, for tests.
#[derive(Clone, Default)]
pub struct Captured {
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    pub fn stdout(&self) -> String {
        read_all(&self.stdout)
    }

    pub fn stderr(&self) -> String {
        read_all(&self.stderr)
    }
}

impl Ui {
    /// The process's stdout and stderr; spinners, redraws and prompts only on terminals.
    pub fn stdio() -> Ui {
        let stderr_terminal = std::io::stderr().is_terminal();
        let stderr = shared(std::io::stderr());
        Ui {
            stdout: shared(std::io::stdout()),
            stdout_terminal: std::io::stdout().is_terminal(),
            interactive: stderr_terminal && std::io::stdin().is_terminal(),
            progress: Progress::to(stderr.clone(), stderr_terminal),
            stderr,
            stderr_terminal,
        }
    }

    /// Everything into memory, as if neither stream were a terminal (nobody to ask).
    pub fn capture() -> (Ui, Captured) {
        let captured = Captured::default();
        let stderr = shared(Buffer(captured.stderr.clone()));
        let ui = Ui {
            stdout: shared(Buffer(captured.stdout.clone())),
            stdout_terminal: false,
            interactive: false,
            progress: Progress::to(stderr.clone(), false),
            stderr,
            stderr_terminal: false,
        };
        (ui, captured)
    }

    /// Command output for people (tables, report lines), control characters made visible.
    pub fn out(&self, text: &str) -> Result<()> {
        self.out_raw(printable(text).as_bytes())
    }

    /// Command output as it is: JSON and YAML (their encoders escape control characters), a
    /// completion script, or this plugin's own terminal codes.
    pub fn out_raw(&self, bytes: &[u8]) -> Result<()> {
        let mut stdout = self.stdout.lock().map_err(|_| Error::StdoutClosed)?;
        stdout
            .write_all(bytes)
            .and_then(|()| stdout.flush())
            .map_err(stdout_error)
    }

    /// A value as kubectl prints JSON, streamed (no second copy of a large listing).
    pub fn out_json<T: Serialize>(&self, value: &T) -> Result<()> {
        let mut stdout = self.stdout.lock().map_err(|_| Error::StdoutClosed)?;
        output::write_json(&mut **stdout, value)
    }

    /// A command's result: as `-o json|yaml` asks, else the lines `text` writes for people.
    pub fn report<T: Serialize>(
        &self,
        format: Option<output::OutputFormat>,
        value: &T,
        text: impl FnOnce(&T) -> String,
    ) -> Result<()> {
        match format {
            Some(output::OutputFormat::Json) => self.out_json(value),
            Some(output::OutputFormat::Yaml) => self.out_raw(output::to_yaml(value)?.as_bytes()),
            _ => self.out(&text(value)),
        }
    }

    /// A message line on stderr (not command output: pipelines do not see it).
    pub fn line(&self, text: &str) {
        self.progress.pause();
        if let Ok(mut stderr) = self.stderr.lock() {
            // Nothing useful can be done when stderr itself is gone.
            let _ = writeln!(stderr, "{}", printable(text));
        }
    }

    /// A line only a person watching needs (what a wait is doing): shown on a terminal only,
    /// so logs and pipelines stay clean.
    pub fn transient(&self, text: &str) {
        if self.stderr_terminal {
            self.line(text);
        }
    }

    pub fn warning(&self, text: &str) {
        self.line(&format!("warning: {text}"));
    }

    pub fn error(&self, err: &Error) {
        self.line(&format!("error: {err}"));
    }

    /// Step-by-step progress of long commands (bootstrap, install, uninstall).
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Whether a person can answer a question (stdin and stderr are terminals).
    pub fn can_ask(&self) -> bool {
        self.interactive
    }

    pub fn stdout_is_terminal(&self) -> bool {
        self.stdout_terminal
    }

    /// Asks a yes/no question (see [`confirm::confirm`]); `assume_yes` answers it.
    pub fn confirm(&self, question: &str, assume_yes: bool) -> Result<()> {
        self.progress.pause();
        confirm::ask(question, assume_yes, self.interactive)
    }

    /// Reads a secret without echo; `needed` says what is missing and how to give it when
    /// nobody can type it.
    pub fn password(&self, prompt: &str, needed: &'static str) -> Result<SecretString> {
        if !self.interactive {
            return Err(Error::NobodyToType { needed });
        }
        self.progress.pause();
        dialoguer::Password::new()
            .with_prompt(prompt)
            .interact()
            .map(SecretString::from)
            .map_err(|dialoguer::Error::IO(err)| Error::Prompt(err))
    }
}

/// Text with every control character but newline and tab shown as an escape (`\u{1b}`), and
/// the bidirectional overrides and isolates too: they reorder what the terminal shows, so a
/// name could read as another.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            clean.extend(c.escape_unicode());
        } else {
            clean.push(c);
        }
    }
    Cow::Owned(clean)
}

/// A failed write to stdout: a closed pipe ends the command quietly, anything else is an error.
pub fn stdout_error(err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        Error::StdoutClosed
    } else {
        Error::Stdout(err)
    }
}

fn shared(writer: impl Write + Send + 'static) -> SharedWriter {
    Arc::new(Mutex::new(Box::new(writer)))
}

fn read_all(buffer: &Mutex<Vec<u8>>) -> String {
    buffer
        .lock()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// An in-memory stream for [`Ui::capture`].
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("capture buffer poisoned"))?;
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_the_cluster_are_made_visible() {
        assert_eq!(printable("plain\n\ttext"), "plain\n\ttext");
        assert_eq!(
            printable("bad\x1b]0;owned\x07 \u{9b}2J\r"),
            "bad\\u{1b}]0;owned\\u{7} \\u{9b}2J\\u{d}"
        );
    }

    #[test]
    fn captured_ui_keeps_stdout_and_stderr_apart() {
        let (ui, captured) = Ui::capture();
        ui.out("row \x1b[31m\n").unwrap();
        ui.out_raw(b"{\"a\": 1}\n").unwrap();
        ui.warning("kind not served");
        ui.transient("not shown: stderr is no terminal");
        ui.progress().success("done");
        assert_eq!(captured.stdout(), "row \\u{1b}[31m\n{\"a\": 1}\n");
        assert_eq!(captured.stderr(), "warning: kind not served\n✔ done\n");
    }

    #[test]
    fn nobody_is_asked_in_a_capture() {
        let (ui, _) = Ui::capture();
        assert!(matches!(
            ui.confirm("Go ahead?", false),
            Err(Error::NobodyToAsk { .. })
        ));
        assert!(ui.confirm("Go ahead?", true).is_ok());
        assert!(matches!(
            ui.password("Git password or token", "set GIT_PASSWORD"),
            Err(Error::NobodyToType { .. })
        ));
    }

    #[test]
    fn a_closed_pipe_is_not_an_error_to_report() {
        let closed = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(matches!(stdout_error(closed), Error::StdoutClosed));
        let other = std::io::Error::other("disk full");
        assert!(matches!(stdout_error(other), Error::Stdout(_)));
    }
}
