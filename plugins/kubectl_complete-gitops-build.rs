//! `kubectl_complete-gitops-build`: completes `kubectl gitops build ...` when the standalone
//! `kubectl-gitops-build` is installed (kubectl then asks this helper, not the umbrella's); the
//! umbrella `kubectl-gitops` installed next to it answers (see forward.rs).

#[path = "forward.rs"]
mod forward;

fn main() -> std::process::ExitCode {
    forward::command_completion("build")
}
