//! `kubectl_complete-gitops-suspend`: completes `kubectl gitops suspend ...` when the standalone
//! `kubectl-gitops-suspend` is installed (kubectl then asks this helper, not the umbrella's).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete_command("suspend")
}
