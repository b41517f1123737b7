//! `kubectl gitops rollback` as a standalone executable: runs the umbrella `kubectl-gitops` installed
//! next to it, so it is identical to the umbrella's subcommand (see forward.rs).

#[path = "forward.rs"]
mod forward;

fn main() -> std::process::ExitCode {
    forward::command("rollback")
}
