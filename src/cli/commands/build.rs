//! `kubectl gitops build ks`: a Kustomization's folder built as kustomize-controller would
//! build it, printed as the objects it would apply.

use std::path::PathBuf;

use crate::cli::args::json_or_yaml;
use crate::cluster::connection::{Connection, ConnectionFlags};
use crate::error::{Error, Result};
use crate::flux::KUSTOMIZATION;
use crate::flux::objects::parse_targets;
use crate::preview::build::{BuildOptions, Kustomization, build, load_kustomization};
use crate::preview::kustomize::Kubectl;
use crate::preview::mask::mask_secret;
use crate::ui::Ui;
use crate::ui::output::{List, OutputFormat};

/// Build a Kustomization's folder as kustomize-controller would (generated kustomization.yaml,
/// targetNamespace, namePrefix/nameSuffix, patches, images, components, postBuild
/// substitution, owner labels, commonMetadata) and print the objects it would apply.
///
/// The Kustomization's spec comes from the cluster, or from --kustomization-file. The build
/// uses the kustomize inside kubectl (`kubectl kustomize`); the folder is never written to.
/// Secret values are masked unless --show-secrets.
#[derive(clap::Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub(crate) source: KustomizationBuildFlags,
    /// Print Secret values as they are (masked by default)
    #[arg(long)]
    show_secrets: bool,
    /// Print the objects as a JSON List (default: YAML documents)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    output: Option<OutputFormat>,
    #[command(flatten)]
    pub(crate) connection: ConnectionFlags,
}

/// What to build, shared by `build` and `diff`.
#[derive(clap::Args)]
pub struct KustomizationBuildFlags {
    /// `ks <name>`, `ks/<name>` or `kustomization <name>`
    #[arg(value_name = "KUSTOMIZATION", num_args = 1..=2, required = true)]
    target: Vec<String>,
    /// The folder to build (a checkout of the Kustomization's source, at spec.path)
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub path: Option<PathBuf>,
    /// Take the Kustomization's spec from this YAML file (the first matching document)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    kustomization_file: Option<PathBuf>,
    /// Leave out files matching these .gitignore-style patterns (repeatable, or comma-separated)
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    ignore_paths: Vec<String>,
    /// Fail when a ${var} has no value and no default
    #[arg(long)]
    strict_substitute: bool,
}

impl KustomizationBuildFlags {
    /// The Kustomization's name, checked before the cluster is asked.
    pub fn name(&self) -> Result<String> {
        let (_, targets) = parse_targets(&self.target)?;
        match targets.as_slice() {
            [target] if target.kind.kind == KUSTOMIZATION.kind => Ok(target.name.clone()),
            [target] => Err(Error::InvalidUsage(format!(
                "{} is not a Kustomization: build and diff take ks <name>",
                target.kind.kind
            ))),
            _ => Err(Error::InvalidUsage(
                "name one Kustomization: ks <name>".to_string(),
            )),
        }
    }

    pub fn options(&self) -> BuildOptions {
        BuildOptions {
            ignore_paths: self.ignore_paths.clone(),
            strict_substitute: self.strict_substitute,
        }
    }

    /// The Kustomization, from the file or the cluster.
    pub async fn load(&self, connection: &Connection, name: &str) -> Result<Kustomization> {
        load_kustomization(
            connection,
            name,
            &connection.namespace,
            self.kustomization_file.as_deref(),
        )
        .await
    }
}

pub async fn run(args: BuildArgs, ui: &Ui) -> Result<()> {
    let name = args.source.name()?;
    let Some(path) = args.source.path.clone() else {
        return Err(Error::InvalidUsage(
            "--path is required: the folder to build".to_string(),
        ));
    };
    let kubectl = Kubectl::find()?;
    let connection = args.connection.connect().await?;
    let kustomization = args.source.load(&connection, &name).await?;
    ui.progress()
        .busy(format!("building {}", kustomization.display_name()));
    let built = build(
        &connection,
        &kubectl,
        &kustomization,
        &path,
        &args.source.options(),
    )
    .await;
    ui.progress().pause();
    let mut objects = built?;
    if !args.show_secrets {
        objects.iter_mut().for_each(mask_secret);
    }
    match args.output {
        Some(OutputFormat::Json) => ui.out_json(&List::new(&objects)),
        _ => {
            let text = crate::ui::output::yaml_documents(&objects)
                .map_err(|err| Error::encode("YAML", err))?;
            ui.out(&text)
        }
    }
}
