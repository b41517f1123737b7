//! `kubectl_complete-gitops-status`: completes `kubectl gitops status ...` when the standalone
//! `kubectl-gitops-status` is installed (kubectl then asks this helper, not the umbrella's).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete_command("status")
}
