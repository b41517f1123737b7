//! Flag groups several commands share, so each flag has one spelling, one help text and one
//! parser: which objects (names or a bulk selection), how to wait, and the one `-o` type.

use std::time::Duration;

use clap::ValueEnum;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::error::{Error, Result};
use crate::flux::objects::SelectionArgs;
use crate::ui::output::OutputFormat;

/// Which objects: names, or a bulk selection (reconcile, suspend, resume).
#[derive(clap::Args)]
pub struct SelectionFlags {
    /// `<kind> <name>...` or `<kind>/<name>...` (with --all or -l: optionally a kind)
    #[arg(value_name = "OBJECT")]
    pub targets: Vec<String>,
    /// Every object (of the given kind, or of every kind) in the namespace
    #[arg(long)]
    pub all: bool,
    /// Select objects by label (e.g. app=web)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// With --all or -l: in all namespaces
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

impl SelectionFlags {
    /// The selection, checked without the cluster (forms, flag combinations).
    pub fn to_args(&self) -> Result<SelectionArgs> {
        let args = SelectionArgs {
            targets: self.targets.clone(),
            label_selector: self.selector.clone(),
            all: self.all,
            all_namespaces: self.all_namespaces,
        };
        args.check()?;
        Ok(args)
    }
}

/// How to wait for the controllers (reconcile, resume).
#[derive(clap::Args)]
pub struct WaitFlags {
    /// How long to wait for each object (e.g. 30s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub timeout: String,
    /// Only request; do not wait for the controllers
    #[arg(long)]
    pub no_wait: bool,
    /// Print the results as JSON or YAML (default: one line per object)
    #[arg(short = 'o', long, value_name = "FORMAT", value_parser = json_or_yaml())]
    pub output: Option<OutputFormat>,
}

impl WaitFlags {
    pub fn timeout(&self) -> Result<Duration> {
        parse_duration("--timeout", &self.timeout)
    }
}

/// `-o` for commands whose output is lines for people or one JSON/YAML report: the
/// [`OutputFormat`] values they print, so clap lists and checks exactly those.
pub fn json_or_yaml() -> impl TypedValueParser<Value = OutputFormat> {
    PossibleValuesParser::new(["json", "yaml"])
        .map(|value| OutputFormat::from_str(&value, true).unwrap_or(OutputFormat::Json))
}

/// A duration flag (`30s`, `5m`), or the error that names the flag.
pub fn parse_duration(flag: &'static str, value: &str) -> Result<Duration> {
    crate::ui::duration::parse(value).map_err(|reason| Error::InvalidFlag {
        flag,
        value: value.to_string(),
        reason,
    })
}

/// The namespace Flux lives in for install, bootstrap, check and uninstall: `-n` when given,
/// else `flux-system` (as the flux CLI; the kubeconfig context's namespace is not Flux's).
pub fn flux_namespace(connection: &crate::cluster::connection::ConnectionFlags) -> String {
    connection
        .namespace
        .clone()
        .unwrap_or_else(|| "flux-system".to_string())
}
