//! `kubectl_complete-gitops-bootstrap`: completes `kubectl gitops bootstrap ...` when the standalone
//! `kubectl-gitops-bootstrap` is installed (kubectl then asks this helper, not the umbrella's).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete_command("bootstrap")
}
