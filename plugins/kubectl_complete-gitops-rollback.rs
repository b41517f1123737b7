//! `kubectl_complete-gitops-rollback`: completes `kubectl gitops rollback ...` when the standalone
//! `kubectl-gitops-rollback` is installed (kubectl then asks this helper, not the umbrella's); the
//! umbrella `kubectl-gitops` installed next to it answers (see forward.rs).

#[path = "forward.rs"]
mod forward;

fn main() -> std::process::ExitCode {
    forward::command_completion("rollback")
}
