//! `kubectl gitops trace`: which Flux objects put an object in the cluster, from which source
//! and revision, and how each of them is doing.

use crate::cli::args::json_or_yaml;
use crate::cluster::connection::ConnectionFlags;
use crate::cluster::discovery::Resources;
use crate::error::{Error, Result};
use crate::flux::Error as FluxError;
use crate::flux::discovery::FluxApis;
use crate::flux::trace::trace;
use crate::ui::Ui;
use crate::ui::output::OutputFormat;

/// Trace any object to the Flux objects that manage it, up to the root, and the source whose
/// revision they applied: the object and its owners (Pod, ReplicaSet, Deployment), the
/// Kustomization or HelmRelease that applied it, their managers, and the GitRepository,
/// OCIRepository, Bucket or HelmChart with URL, ref, revision and when it was fetched.
///
/// Name the object as kubectl does: `deploy/podinfo`, `cm settings`, `pod/web-7d9-abcde`.
/// Exit status: 0 traced, 1 when no Flux object manages it (or another error).
#[derive(clap::Args)]
pub struct TraceArgs {
    /// `<kind>/<name>` or `<kind> <name>`
    #[arg(value_name = "OBJECT", num_args = 1..=2, required = true)]
    object: Vec<String>,
    /// Print the chain as JSON or YAML (default: one block per object)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    connection: ConnectionFlags,
}

/// `<kind>/<name>` or `<kind> <name>`, checked before the cluster is asked.
fn parse_object(words: &[String]) -> Result<(String, String)> {
    let usage = || {
        Error::InvalidUsage(format!(
            "\"{}\" is not one object: give <kind>/<name> or <kind> <name>",
            words.join(" ")
        ))
    };
    match words {
        [one] => {
            let (kind, name) = one.split_once('/').ok_or_else(usage)?;
            if kind.is_empty() || name.is_empty() || name.contains('/') {
                return Err(usage());
            }
            Ok((kind.to_string(), name.to_string()))
        }
        [kind, name] if !kind.contains('/') && !name.contains('/') => {
            Ok((kind.clone(), name.clone()))
        }
        _ => Err(usage()),
    }
}

pub async fn run(args: TraceArgs, ui: &Ui) -> Result<()> {
    let (kind, name) = parse_object(&args.object)?;
    let connection = args.connection.connect().await?;
    let (resources, apis) = tokio::try_join!(
        async { Ok::<_, Error>(Resources::discover(&connection).await?) },
        FluxApis::discover(&connection)
    )?;
    let (resource, namespaced) = resources
        .find_by_name(&kind)
        .ok_or(FluxError::UnknownResourceType { name: kind.clone() })?;
    let traced = trace(
        &connection,
        &resources,
        &apis,
        resource,
        namespaced,
        &connection.namespace,
        &name,
    )
    .await?;
    ui.report(args.output, &traced, |t| t.text())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn objects_are_named_as_kubectl_names_them() {
        assert_eq!(
            parse_object(&words("deploy/podinfo")).unwrap(),
            ("deploy".into(), "podinfo".into())
        );
        assert_eq!(
            parse_object(&words("cm settings")).unwrap(),
            ("cm".into(), "settings".into())
        );
        for wrong in ["podinfo", "deploy/", "/podinfo", "a/b/c", "deploy/a b"] {
            assert!(
                matches!(parse_object(&words(wrong)), Err(Error::InvalidUsage(_))),
                "{wrong}"
            );
        }
    }
}
