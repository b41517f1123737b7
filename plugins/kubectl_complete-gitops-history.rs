//! `kubectl_complete-gitops-history`: completes `kubectl gitops history ...` when the standalone
//! `kubectl-gitops-history` is installed (kubectl then asks this helper, not the umbrella's); the
//! umbrella `kubectl-gitops` installed next to it answers (see forward.rs).

#[path = "forward.rs"]
mod forward;

fn main() -> std::process::ExitCode {
    forward::command_completion("history")
}
