//! Command-line parsing and dispatch of the umbrella `kubectl-gitops`, which carries every
//! command.
//!
//! The standalone `kubectl-gitops-<command>` executables run the umbrella installed next to them
//! with their command name as the first argument (`plugins/forward.rs`), so both have the same
//! flags, help, output and exit codes by construction.

pub mod args;
pub mod commands;
pub mod complete;

use commands::{
    bootstrap, build, check, completion, diff, events, history, install, reconcile, rollback,
    status, trace, tree, uninstall, version,
};

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::Result;
use crate::ui::Ui;

/// Flux CD GitOps from kubectl: bootstrap Flux into a cluster and its Git repository, see what
/// every Flux object is doing, and reconcile them now.
#[derive(Parser)]
#[command(
    name = "kubectl-gitops",
    bin_name = "kubectl gitops",
    disable_version_flag = true
)]
pub struct Cli {
    /// Log verbosity on stderr: 0 warnings, 2 info, 4 debug, 6 and up traces every request (`-v` alone: 1, which makes diff list unchanged objects too)
    #[arg(
        short = 'v',
        long = "v",
        value_name = "LEVEL",
        global = true,
        default_value_t = 0,
        num_args = 0..=1,
        default_missing_value = "1"
    )]
    verbosity: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the plugin's version, and the cluster's Kubernetes and Flux versions
    Version(Box<version::VersionArgs>),
    /// Show what every Flux object is doing: ready, failing, suspended, reconciling
    Status(Box<status::StatusArgs>),
    /// Show what a Kustomization or HelmRelease applied, as a tree with each object's health
    Tree(Box<tree::TreeArgs>),
    /// Ask Flux to reconcile objects now and wait, watching, for the result
    Reconcile(Box<reconcile::ReconcileArgs>),
    /// Suspend Flux objects: the controllers stop reconciling them
    Suspend(Box<reconcile::SuspendArgs>),
    /// Resume suspended Flux objects and wait for them to reconcile
    Resume(Box<reconcile::ResumeArgs>),
    /// Install Flux and commit its manifests to the Git repository that will drive the cluster
    Bootstrap(Box<bootstrap::BootstrapArgs>),
    /// Install Flux into the cluster without Git
    Install(Box<install::InstallArgs>),
    /// Check that the cluster can run Flux (--pre), or that the installed Flux is healthy
    Check(Box<check::CheckArgs>),
    /// Remove Flux from the cluster (controllers, CRDs, finalizers, namespace)
    Uninstall(Box<uninstall::UninstallArgs>),
    /// Show what the controllers said about Flux objects and their sources
    Events(Box<events::EventsArgs>),
    /// Trace any object to the Flux objects that manage it and the source they apply
    Trace(Box<trace::TraceArgs>),
    /// Build a Kustomization's folder as kustomize-controller would, and print the objects
    Build(Box<build::BuildArgs>),
    /// Show what applying a Kustomization's folder (or a Git ref) would change in the cluster
    Diff(Box<diff::DiffArgs>),
    /// Show the commits that changed a Kustomization's folder and what the cluster did with each
    History(Box<history::HistoryArgs>),
    /// Restore a Kustomization's folder to an earlier commit, as a new commit, and reconcile
    Rollback(Box<rollback::RollbackArgs>),
    /// Print a shell completion script (bash, zsh, fish, powershell)
    Completion(completion::CompletionArgs),
}

/// Entry point of the umbrella executable.
pub fn main_umbrella() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    // `kubectl-gitops __complete <args>` answers kubectl's plugin completion: the completion
    // helpers `kubectl_complete-gitops[-<command>]` run it, as does the shell script that stands
    // in for them where only the umbrella is installed (krew).
    if args.get(1).is_some_and(|arg| arg == "__complete") {
        let words: Vec<String> = args[2..]
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        return complete::print_completions(&words);
    }
    run(args)
}

fn run(args: Vec<std::ffi::OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.verbosity);
    let ui = Ui::stdio();
    crate::interrupt::step(format!("running {}", cli.command.name()));
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            // SIGINT/SIGTERM from here on: children stopped, temporary folders removed.
            crate::interrupt::watch(&runtime);
            runtime.block_on(dispatch(cli.command, cli.verbosity, &ui))
        }
        Err(err) => Err(crate::Error::Runtime(err)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed stdout is the reader's choice (`| head`), not a failure to report; the
            // changes `diff` found were printed, and exit status 1 says so (as kubectl diff).
            if !matches!(
                err,
                crate::Error::StdoutClosed | crate::Error::ChangesFound { .. }
            ) {
                ui.error(&err);
            }
            ExitCode::from(err.exit_code())
        }
    }
}

impl Command {
    /// The command's name, for the interruption line ("interrupted while running status").
    fn name(&self) -> &'static str {
        match self {
            Command::Version(_) => "version",
            Command::Status(_) => "status",
            Command::Tree(_) => "tree",
            Command::Reconcile(_) => "reconcile",
            Command::Suspend(_) => "suspend",
            Command::Resume(_) => "resume",
            Command::Bootstrap(_) => "bootstrap",
            Command::Install(_) => "install",
            Command::Check(_) => "check",
            Command::Uninstall(_) => "uninstall",
            Command::Events(_) => "events",
            Command::Trace(_) => "trace",
            Command::Build(_) => "build",
            Command::Diff(_) => "diff",
            Command::History(_) => "history",
            Command::Rollback(_) => "rollback",
            Command::Completion(_) => "completion",
        }
    }
}

async fn dispatch(command: Command, verbosity: u8, ui: &Ui) -> Result<()> {
    match command {
        Command::Version(args) => version::run(*args, ui).await,
        Command::Status(args) => status::run(*args, ui).await,
        Command::Tree(args) => tree::run(*args, ui).await,
        Command::Reconcile(args) => reconcile::run_reconcile(*args, ui).await,
        Command::Suspend(args) => reconcile::run_suspend(*args, ui).await,
        Command::Resume(args) => reconcile::run_resume(*args, ui).await,
        Command::Bootstrap(args) => bootstrap::run(*args, ui).await,
        Command::Install(args) => install::run(*args, ui).await,
        Command::Check(args) => check::run(*args, ui).await,
        Command::Uninstall(args) => uninstall::run(*args, ui).await,
        Command::Events(args) => events::run(*args, ui).await,
        Command::Trace(args) => trace::run(*args, ui).await,
        Command::Build(args) => build::run(*args, ui).await,
        Command::Diff(args) => diff::run(*args, ui, verbosity > 0).await,
        Command::History(args) => history::run(*args, ui).await,
        Command::Rollback(args) => rollback::run(*args, ui).await,
        Command::Completion(args) => completion::run(args, ui),
    }
}

/// Logs go to stderr. At the default level only this plugin's warnings show: the kube client
/// logs every failed request itself, which would repeat the one clear error we print.
fn init_logging(verbosity: u8) {
    use std::io::IsTerminal;
    let directives = match verbosity {
        0..=1 => "kubectl_gitops=warn",
        2..=3 => "kubectl_gitops=info,kube=warn",
        4..=5 => "kubectl_gitops=debug,kube=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBECTL_GITOPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
