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
