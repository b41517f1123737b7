//! `kubectl_complete-gitops`: kubectl (1.26 and newer) runs it to complete `kubectl gitops ...`,
//! answering in Cobra's `__complete` protocol; the umbrella `kubectl-gitops` installed next to it
//! answers (see forward.rs).

#[path = "forward.rs"]
mod forward;

fn main() -> std::process::ExitCode {
    forward::completion()
}
