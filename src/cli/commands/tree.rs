//! `kubectl gitops tree`: what a Kustomization or HelmRelease applied, as a tree, with the
//! health of every object, so a failure leads to the object that causes it.

use serde::Serialize;

use crate::cli::args::{flux_namespace, json_or_yaml};
use crate::cluster::connection::ConnectionFlags;
use crate::cluster::discovery::Resources;
use crate::error::{Error, Result};
use crate::flux::discovery::FluxApis;
use crate::flux::objects::{self, Target, parse_targets};
use crate::flux::tree::{Node, walk};
use crate::flux::{HELM_RELEASE, KUSTOMIZATION};
use crate::ui::Ui;
use crate::ui::output::{self, OutputFormat};

/// Show every object a Kustomization or HelmRelease applied, and what applied them, as a tree
/// with the health of each: unhealthy objects first, child Kustomizations and HelmReleases
/// walked through their own inventories.
///
/// Arguments: `ks/<name>`, `hr/<name>` or `<kind> <name>`; nothing for the root Kustomization
/// named like the namespace (flux-system unless -n). Exit status: 0 shown, 1 error, 3 with
/// --fail-if-not-ready when some object in the tree is not ready.
#[derive(clap::Args)]
pub struct TreeArgs {
    /// `<kind>/<name>` or `<kind> <name>` of a Kustomization or HelmRelease
    #[arg(value_name = "OBJECT")]
    target: Vec<String>,
    /// Only the paths that lead to an object that is not ready
    #[arg(long)]
    not_ready: bool,
    /// Only Flux objects
    #[arg(long)]
    compact: bool,
    /// Levels below the root to show
    #[arg(long, value_name = "N")]
    depth: Option<usize>,
    /// Print the tree as JSON or YAML
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    /// Exit with status 3 when any object in the tree is not ready (for CI pipelines)
    #[arg(long)]
    fail_if_not_ready: bool,
    #[command(flatten)]
    connection: ConnectionFlags,
}

/// The root to walk, found from the arguments before any request. `None` as namespace means
/// the connection's namespace.
fn root_target(args: &TreeArgs) -> Result<(Target, Option<String>)> {
    if args.target.is_empty() {
        let namespace = flux_namespace(&args.connection);
        return Ok((
            Target {
                kind: &KUSTOMIZATION,
                name: namespace.clone(),
            },
            Some(namespace),
        ));
    }
    let (_, mut targets) = parse_targets(&args.target)?;
    if targets.len() != 1 {
        return Err(Error::InvalidUsage(
            "tree shows one Kustomization or HelmRelease: give <kind>/<name> or <kind> <name>"
                .to_string(),
        ));
    }
    let target = targets.remove(0);
    if target.kind != &KUSTOMIZATION && target.kind != &HELM_RELEASE {
        return Err(Error::InvalidUsage(format!(
            "{} objects apply nothing to walk; tree starts at a Kustomization (ks) or HelmRelease (hr)",
            target.kind.kind
        )));
    }
    Ok((target, None))
}

/// The nested document of `-o json|yaml`: the root node with its children.
#[derive(Serialize)]
struct Document<'a>(&'a Node);

pub async fn run(args: TreeArgs, ui: &Ui) -> Result<()> {
    let (target, namespace) = root_target(&args)?;
    let connection = args.connection.connect().await?;
    let namespace = namespace.unwrap_or_else(|| connection.namespace.clone());
    let (apis, resources) = tokio::join!(
        FluxApis::discover(&connection),
        Resources::discover(&connection)
    );
    let (apis, resources) = (apis?, resources?);
    let served = apis.require(target.kind)?;
    let root = objects::get(&connection, served, &namespace, &target.name).await?;
    let tree = walk(&connection, &resources, &root).await?;
    for warning in &tree.warnings {
        ui.warning(warning);
    }
    let (total, not_ready) = tree.root.count();

    let mut shown = tree.root;
    if args.not_ready {
        shown.retain_not_ready();
    }
    if args.compact {
        shown.retain_flux();
    }
    if let Some(depth) = args.depth {
        shown.cut(depth);
    }
    match args.output {
        Some(OutputFormat::Yaml) => ui.out_raw(output::to_yaml(&Document(&shown))?.as_bytes())?,
        Some(_) => ui.out_json(&Document(&shown))?,
        None => ui.out(&shown.render())?,
    }
    if args.fail_if_not_ready && not_ready > 0 {
        return Err(Error::TreeNotReady { not_ready, total });
    }
    Ok(())
}
