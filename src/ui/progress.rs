//! Step-by-step progress on stderr for long commands (bootstrap, install, uninstall), in the
//! flux CLI's style (`►` doing, `✔` done, `◎` waiting, `!` warning), so users moving between
//! the tools read the same story. On a terminal a wait shows a spinner; in a pipe or CI each
//! step is one plain line and nothing is redrawn. stdout stays free for `-o json|yaml`.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Where progress lines go. `Progress::silent()` drops them (library callers, tests).
pub struct Progress {
    sink: Sink,
    spinner: Mutex<Option<ProgressBar>>,
}

enum Sink {
    Stderr { terminal: bool },
    Silent,
}

impl Progress {
    /// Progress on stderr; spinners only when stderr is a terminal.
    pub fn stderr() -> Progress {
        Progress {
            sink: Sink::Stderr {
                terminal: std::io::stderr().is_terminal(),
            },
            spinner: Mutex::new(None),
        }
    }

    pub fn silent() -> Progress {
        Progress {
            sink: Sink::Silent,
            spinner: Mutex::new(None),
        }
    }

    /// An action starts.
    pub fn action(&self, message: impl AsRef<str>) {
        self.line('►', message.as_ref());
    }

    /// An action finished well.
    pub fn success(&self, message: impl AsRef<str>) {
        self.line('✔', message.as_ref());
    }

    pub fn warning(&self, message: impl AsRef<str>) {
        self.line('!', message.as_ref());
    }

    /// A wait starts: a spinner on a terminal (until the next line), one line elsewhere.
    pub fn waiting(&self, message: impl AsRef<str>) {
        let message = message.as_ref();
        match self.sink {
            Sink::Stderr { terminal: true } => {
                self.finish_spinner();
                let spinner = ProgressBar::new_spinner();
                if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                    spinner.set_style(style.tick_chars("◐◓◑◒✔"));
                }
                spinner.set_message(message.to_string());
                spinner.enable_steady_tick(Duration::from_millis(120));
                if let Ok(mut slot) = self.spinner.lock() {
                    *slot = Some(spinner);
                }
            }
            _ => self.line('◎', message),
        }
    }

    fn line(&self, symbol: char, message: &str) {
        if let Sink::Stderr { .. } = self.sink {
            self.finish_spinner();
            let _ = writeln!(std::io::stderr().lock(), "{symbol} {message}");
        }
    }

    fn finish_spinner(&self) {
        if let Ok(mut slot) = self.spinner.lock()
            && let Some(spinner) = slot.take()
        {
            spinner.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish_spinner();
    }
}
