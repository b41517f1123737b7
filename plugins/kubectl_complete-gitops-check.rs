//! `kubectl_complete-gitops-check`: completes `kubectl gitops check ...` when the standalone
//! `kubectl-gitops-check` is installed (kubectl then asks this helper, not the umbrella's).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete_command("check")
}
