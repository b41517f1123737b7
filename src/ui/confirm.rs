//! Yes/no questions before destructive or surprising steps. They are asked only when a person
//! can answer (stdin and stderr are terminals); otherwise the command stops and names `--yes`,
//! so CI never hangs on a prompt.

use crate::error::{Error, Result};

/// Returns Ok when the user agreed (or `assume_yes`), an error naming `--yes` otherwise.
pub fn ask(question: &str, assume_yes: bool, interactive: bool) -> Result<()> {
    if assume_yes {
        return Ok(());
    }
    if !interactive {
        return Err(Error::NobodyToAsk {
            question: question.to_string(),
        });
    }
    let agreed = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|dialoguer::Error::IO(err)| Error::Prompt(err))?;
    if agreed { Ok(()) } else { Err(Error::Declined) }
}

/// [`ask`] on the process's own terminal, for the bootstrap steps that do not hold a
/// [`crate::ui::Ui`] yet.
pub fn confirm(question: &str, assume_yes: bool) -> Result<()> {
    use std::io::IsTerminal;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    ask(question, assume_yes, interactive)
}
