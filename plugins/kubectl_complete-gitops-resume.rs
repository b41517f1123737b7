//! `kubectl_complete-gitops-resume`: completes `kubectl gitops resume ...` when the standalone
//! `kubectl-gitops-resume` is installed (kubectl then asks this helper, not the umbrella's).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete_command("resume")
}
