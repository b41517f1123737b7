//! `kubectl_complete-gitops-uninstall`: completes `kubectl gitops uninstall ...` when the standalone
//! `kubectl-gitops-uninstall` is installed (kubectl then asks this helper, not the umbrella's).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete_command("uninstall")
}
