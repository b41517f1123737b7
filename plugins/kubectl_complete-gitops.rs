//! `kubectl_complete-gitops`: kubectl (1.26 and newer) runs it to complete `kubectl gitops ...`,
//! answering in Cobra's `__complete` protocol.

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::complete::main_complete()
}
