//! `kubectl_complete-gitops-version`: completes `kubectl gitops version ...` when the standalone
//! `kubectl-gitops-version` is installed (kubectl then asks this helper, not the umbrella's).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete_command("version")
}
