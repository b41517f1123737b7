//! `kubectl gitops install`.

use crate::cli::args::{flux_namespace, json_or_yaml, parse_duration};
use crate::cluster::connection::ConnectionFlags;
use crate::error::Result;
use crate::lifecycle::install::{install, manifests};
use crate::manifests::InstallFlags;
use crate::ui::Ui;
use crate::ui::output::OutputFormat;

/// Install Flux into the cluster without Git: the manifests bootstrap would commit, applied
/// directly (CRDs first, then the controllers), then wait for the controllers. On a cluster
/// bootstrapped from Git, change the repository instead (or re-run bootstrap).
#[derive(clap::Args)]
pub struct InstallArgs {
    /// Print the manifests (as gotk-components.yaml) instead of applying them
    #[arg(long)]
    export: bool,
    /// How long to wait for the controllers (e.g. 2m)
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    timeout: String,
    /// Apply and return, without waiting for the controllers
    #[arg(long)]
    no_wait: bool,
    /// Print what was applied as JSON or YAML
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    install: InstallFlags,
    #[command(flatten)]
    connection: ConnectionFlags,
}

pub async fn run(args: InstallArgs, ui: &Ui) -> Result<()> {
    let namespace = flux_namespace(&args.connection);
    let options = args.install.options(&namespace)?;
    if args.export {
        let manifests = manifests(&options).await?;
        return ui.out_raw(manifests.components_file()?.as_bytes());
    }
    let timeout = parse_duration("--timeout", &args.timeout)?;
    let connection = args.connection.connect().await?;
    let wait = (!args.no_wait).then_some(timeout);
    let applied = install(&connection, &options, wait, ui.progress()).await?;
    let lines: Vec<String> = applied.iter().map(ToString::to_string).collect();
    ui.report(args.output, &lines, |_| {
        format!(
            "✔ installed Flux {} in namespace {namespace}\n",
            options.version
        )
    })
}
