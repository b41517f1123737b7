//! What the user sees and answers: output formats, progress lines, prompts, durations.

pub mod confirm;
pub mod duration;
pub mod output;
pub mod progress;
