//! `kubectl_complete-gitops-diff`: completes `kubectl gitops diff ...` when the standalone
//! `kubectl-gitops-diff` is installed (kubectl then asks this helper, not the umbrella's); the
//! umbrella `kubectl-gitops` installed next to it answers (see forward.rs).

#[path = "forward.rs"]
mod forward;

fn main() -> std::process::ExitCode {
    forward::command_completion("diff")
}
