//! `kubectl gitops check` as a standalone executable; identical to the umbrella's subcommand.

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::main_standalone("check")
}
