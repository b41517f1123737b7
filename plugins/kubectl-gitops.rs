//! `kubectl gitops <command>`: the umbrella executable, carrying every command (krew installs
//! this one).

fn main() -> std::process::ExitCode {
    kubectl_gitops::cli::main_umbrella()
}
