//! `kubectl gitops version`.

use std::io::Write;

use crate::cluster::connection::ConnectionFlags;
use crate::error::Result;
use crate::ui::output;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionOutput {
    Json,
    Yaml,
}

#[derive(clap::Args)]
pub struct VersionArgs {
    /// Print the plugin's version only, without contacting a cluster
    #[arg(long)]
    client: bool,
    /// Output format (default: text)
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    output: Option<VersionOutput>,
    #[command(flatten)]
    connection: ConnectionFlags,
}

pub async fn run(args: VersionArgs, out: &mut dyn Write) -> Result<()> {
    let report = if args.client {
        crate::lifecycle::version::client_only()
    } else {
        crate::lifecycle::version::with_cluster(&args.connection.connect().await?).await?
    };
    let text = match args.output {
        None => report.to_text(),
        Some(VersionOutput::Json) => output::to_json(&report)?,
        Some(VersionOutput::Yaml) => output::to_yaml(&report)?,
    };
    crate::cli::write_out(out, &text)
}
