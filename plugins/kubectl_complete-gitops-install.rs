//! `kubectl_complete-gitops-install`: completes `kubectl gitops install ...` when the standalone
//! `kubectl-gitops-install` is installed (kubectl then asks this helper, not the umbrella's).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete_command("install")
}
