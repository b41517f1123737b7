//! Step-by-step progress on stderr for long commands (bootstrap, install, uninstall), in the
//! flux CLI's style (`►` doing, `✔` done, `◎` waiting, `!` warning), so users moving between
//! the tools read the same story. On a terminal a wait shows a spinner; in a pipe or CI each
//! step is one plain line and nothing is redrawn. stdout stays free for `-o json|yaml`. Each
//! action and wait is also the step an interruption names ([`crate::interrupt`]).

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::ui::{SharedWriter, printable};

/// Where progress lines go; made by [`crate::ui::Ui`], which owns the stream.
pub struct Progress {
    sink: SharedWriter,
    /// Whether the sink is a terminal (spinners), else one plain line per step.
    terminal: bool,
    spinner: Mutex<Option<ProgressBar>>,
}

impl Progress {
    pub fn to(sink: SharedWriter, terminal: bool) -> Progress {
        Progress {
            sink,
            terminal,
            spinner: Mutex::new(None),
        }
    }

    /// Clears a running spinner, so another line can be written (a message, a prompt).
    pub fn pause(&self) {
        self.finish_spinner();
    }

    /// An action starts.
    pub fn action(&self, message: impl AsRef<str>) {
        crate::interrupt::step(message.as_ref());
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
        crate::interrupt::step(message);
        if !self.terminal {
            return self.line('◎', message);
        }
        self.finish_spinner();
        let spinner = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            spinner.set_style(style.tick_chars("◐◓◑◒✔"));
        }
        spinner.set_message(printable(message).into_owned());
        spinner.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.spinner.lock() {
            *slot = Some(spinner);
        }
    }

    /// Something a wait learnt on the way (a controller that cannot answer): a `!` line, above
    /// the spinner on a terminal, which keeps turning.
    pub fn notice(&self, message: impl AsRef<str>) {
        self.above_spinner('!', message.as_ref());
    }

    /// Good news on the way (a controller available again), above a turning spinner.
    pub fn good_news(&self, message: impl AsRef<str>) {
        self.above_spinner('✔', message.as_ref());
    }

    fn above_spinner(&self, symbol: char, message: &str) {
        let line = format!("{symbol} {}", printable(message));
        if let Ok(slot) = self.spinner.lock()
            && let Some(spinner) = slot.as_ref()
        {
            spinner.println(line);
            return;
        }
        if let Ok(mut sink) = self.sink.lock() {
            let _ = writeln!(sink, "{line}");
        }
    }

    /// A wait's heartbeat (what is still awaited, for how long): a `◎` line where no spinner
    /// keeps time, nothing on a terminal.
    pub fn still_waiting(&self, message: impl AsRef<str>) {
        if !self.terminal {
            self.line('◎', message.as_ref());
        }
    }

    /// Work that takes a moment (building, dry-running): a spinner on a terminal until
    /// [`Progress::pause`] or the next line, nothing elsewhere (the result says it all).
    pub fn busy(&self, message: impl AsRef<str>) {
        crate::interrupt::step(message.as_ref());
        if self.terminal {
            self.waiting(message);
        }
    }

    fn line(&self, symbol: char, message: &str) {
        self.finish_spinner();
        if let Ok(mut sink) = self.sink.lock() {
            // Nothing useful can be done when stderr itself is gone.
            let _ = writeln!(sink, "{symbol} {}", printable(message));
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
