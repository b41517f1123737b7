//! `kubectl gitops completion <shell>`: a completion script for the shell.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::error::Result;
use crate::ui::Ui;

/// Print a shell completion script for the plugin run directly as `kubectl-gitops`.
///
/// `kubectl gitops <TAB>` is completed by kubectl itself (1.26 and newer), which asks the
/// executable `kubectl_complete-gitops` for candidates, Flux kinds and object names from the
/// cluster included: `cargo install` puts it on your PATH; with krew, see the install caveats
/// (`kubectl krew info gitops`). This script completes `kubectl-gitops` commands and flags:
///
///   bash:       source <(kubectl gitops completion bash)
///   zsh:        kubectl gitops completion zsh > "${fpath[1]}/_kubectl-gitops"
///   fish:       kubectl gitops completion fish > ~/.config/fish/completions/kubectl-gitops.fish
///   powershell: kubectl gitops completion powershell | Out-String | Invoke-Expression
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionArgs {
    /// The shell to write the script for
    #[arg(value_enum)]
    shell: CompletionShell,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

pub fn run(args: CompletionArgs, ui: &Ui) -> Result<()> {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::Powershell => Shell::PowerShell,
    };
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut crate::cli::Cli::command(),
        "kubectl-gitops",
        &mut script,
    );
    ui.out_raw(&script)
}
