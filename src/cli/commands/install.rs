//! `kubectl gitops install`.

use std::io::Write;

use crate::cli::commands::reconcile::ReportOutput;
use crate::cluster::connection::ConnectionFlags;
use crate::error::Result;
use crate::manifests::InstallFlags;
use crate::ui::output;
use crate::ui::progress::Progress;

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
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<ReportOutput>,
    #[command(flatten)]
    install: InstallFlags,
    #[command(flatten)]
    connection: ConnectionFlags,
}

pub async fn run(args: InstallArgs, out: &mut dyn Write) -> Result<()> {
    let namespace = crate::cli::flux_namespace(&args.connection);
    let options = args.install.options(&namespace)?;
    if args.export {
        let manifests = crate::lifecycle::install::manifests(&options).await?;
        return crate::cli::write_out(out, &manifests.components_file()?);
    }
    let timeout = crate::cli::parse_duration("--timeout", &args.timeout)?;
    let connection = args.connection.connect().await?;
    let wait = (!args.no_wait).then_some(timeout);
    let applied =
        crate::lifecycle::install::install(&connection, &options, wait, &Progress::stderr())
            .await?;
    let lines: Vec<String> = applied.iter().map(ToString::to_string).collect();
    let text = match args.output {
        None => format!(
            "✔ installed Flux {} in namespace {namespace}\n",
            options.version
        ),
        Some(ReportOutput::Json) => output::to_json(&lines)?,
        Some(ReportOutput::Yaml) => output::to_yaml(&lines)?,
    };
    crate::cli::write_out(out, &text)
}
