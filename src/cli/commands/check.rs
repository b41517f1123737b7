//! `kubectl gitops check`.

use crate::cli::args::{flux_namespace, json_or_yaml};
use crate::cluster::connection::ConnectionFlags;
use crate::error::{Error, Result};
use crate::lifecycle::check::{Section, all_passed, installation, prerequisites};
use crate::ui::Ui;
use crate::ui::output::OutputFormat;

/// Check that the cluster can run Flux (--pre) or that the installed Flux is healthy:
/// controllers available, CRDs established with every stored version still served.
///
/// Exit status: 0 when every check passed, 1 otherwise.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Check the prerequisites only: Kubernetes >= 1.33 and the permissions to install
    #[arg(long)]
    pre: bool,
    /// Print the checks as JSON or YAML (default: one line per check)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    connection: ConnectionFlags,
}

pub async fn run(args: CheckArgs, ui: &Ui) -> Result<()> {
    let namespace = flux_namespace(&args.connection);
    let connection = args.connection.connect().await?;
    let mut sections = vec![prerequisites(&connection, &namespace).await?];
    if !args.pre {
        sections.extend(installation(&connection, &namespace).await?);
    }
    ui.report(args.output, &sections, |sections| to_text(sections))?;
    if all_passed(&sections) {
        Ok(())
    } else {
        let failed = sections
            .iter()
            .flat_map(|s| &s.checks)
            .filter(|c| !c.ok)
            .count();
        Err(Error::ChecksFailed { failed })
    }
}

fn to_text(sections: &[Section]) -> String {
    let mut text = String::new();
    for section in sections {
        text += &format!("► checking {}\n", section.title);
        for check in &section.checks {
            let mark = if check.ok { '✔' } else { '✗' };
            text += &format!("{mark} {}: {}\n", check.name, check.detail);
        }
    }
    if all_passed(sections) {
        text += "✔ all checks passed\n";
    }
    text
}
