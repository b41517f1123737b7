//! `kubectl gitops version`.

use crate::cli::args::json_or_yaml;
use crate::cluster::connection::ConnectionFlags;
use crate::error::Result;
use crate::lifecycle::version::{VersionReport, client_only, with_cluster};
use crate::ui::Ui;
use crate::ui::output::OutputFormat;

#[derive(clap::Args)]
pub struct VersionArgs {
    /// Print the plugin's version only, without contacting a cluster
    #[arg(long)]
    client: bool,
    /// Output format (default: text)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    connection: ConnectionFlags,
}

pub async fn run(args: VersionArgs, ui: &Ui) -> Result<()> {
    let report = if args.client {
        client_only()
    } else {
        with_cluster(&args.connection.connect().await?).await?
    };
    ui.report(args.output, &report, VersionReport::to_text)
}
