//! `kubectl_complete-gitops-reconcile`: completes `kubectl gitops reconcile ...` when the standalone
//! `kubectl-gitops-reconcile` is installed (kubectl then asks this helper, not the umbrella's).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete_command("reconcile")
}
