//! Yes/no questions before destructive or surprising steps. They are asked only when a person
//! can answer (stdin and stderr are terminals); otherwise the command stops and names `--yes`,
//! so CI never hangs on a prompt.

use std::io::IsTerminal;

use crate::error::{Error, Result};

/// Returns Ok when the user agreed (or `assume_yes`), an error naming `--yes` otherwise.
pub fn confirm(question: &str, assume_yes: bool) -> Result<()> {
    if assume_yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Error::Usage(format!(
            "{question} Nobody can answer here (not a terminal): pass --yes to go ahead"
        )));
    }
    let agreed = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|err| Error::Usage(format!("cannot read the answer: {err}")))?;
    if agreed {
        Ok(())
    } else {
        Err(Error::Usage("stopped: nothing was changed".to_string()))
    }
}
