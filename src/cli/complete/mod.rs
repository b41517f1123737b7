//! Completion of `kubectl gitops ...` for kubectl's plugin completion.
//!
//! kubectl (1.26 and newer) completes `kubectl gitops <words> <partial>` by running
//! `kubectl_complete-gitops <words> <partial>` and reading Cobra's `__complete` protocol from
//! its stdout: one candidate per line (`value`, or `value<TAB>description`), then a last line
//! `:<directive>` telling the shell what to do besides (4: no file names). The umbrella answers
//! as `kubectl-gitops __complete <words> <partial>`; the helpers `kubectl_complete-gitops` and
//! `kubectl_complete-gitops-<command>` run it (`plugins/forward.rs`), and so can a one-line
//! shell script where only the umbrella is installed (krew).
//!
//! Commands and flags come from the clap definition, so new commands and flags complete without
//! changes here; Flux kinds from [`KINDS`] (`trace`'s kinds, any the cluster serves, from
//! discovery); object names and namespaces from the cluster, reached
//! with the connection flags typed on the line. Completion must never get in the way: it writes
//! nothing on stderr, gives up on the cluster after a few seconds, and always ends with a
//! directive line.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, Args, Command, CommandFactory, FromArgMatches, ValueHint};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, ListParams};

use crate::cli::Cli;
use crate::cluster::action::{Action, qualified_plural};
use crate::cluster::connection::{Connection, ConnectionFlags};
use crate::cluster::discovery::Resources;
use crate::flux::discovery::FluxApis;
use crate::flux::objects::Scope;
use crate::flux::{FluxKind, KINDS};

/// Cobra's shell directives (a bit set).
pub mod directive {
    /// Let the shell complete file names too.
    pub const DEFAULT: u32 = 0;
    /// Something went wrong; the shell offers nothing.
    pub const ERROR: u32 = 1;
    /// No space after the completed word.
    pub const NO_SPACE: u32 = 2;
    /// No file names.
    pub const NO_FILE_COMP: u32 = 4;
    /// Keep the candidates in the order given (newest commit first).
    pub const KEEP_ORDER: u32 = 32;
}

/// Commands whose arguments are Flux objects: `<kind> <name>...` or `<kind>/<name>...`.
const OBJECT_COMMANDS: &[&str] = &["status", "tree", "reconcile", "suspend", "resume", "events"];

/// Commands whose one argument is a Kustomization: `ks <name>` or `ks/<name>`.
const KUSTOMIZATION_COMMANDS: &[&str] = &["build", "diff", "history", "rollback"];

/// How long completion may wait for the cluster before giving up silently.
const CLUSTER_TIME_LIMIT: Duration = Duration::from_secs(5);

/// Objects listed at most per request; completion offers no more.
const LIST_LIMIT: u32 = 500;

/// One completion candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub description: Option<String>,
}

impl Candidate {
    fn new(value: impl Into<String>, description: Option<String>) -> Candidate {
        Candidate {
            value: value.into(),
            description: description.filter(|d| !d.is_empty()),
        }
    }
}

/// Candidates and the shell directive: the answer to one completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completions {
    pub candidates: Vec<Candidate>,
    pub directive: u32,
}

impl Completions {
    fn none() -> Completions {
        Completions {
            candidates: Vec::new(),
            directive: directive::NO_FILE_COMP,
        }
    }

    /// Keeps the candidates starting with `prefix`, each once.
    fn matching(candidates: Vec<Candidate>, prefix: &str, directive: u32) -> Completions {
        let mut kept: Vec<Candidate> = Vec::new();
        for candidate in candidates {
            if candidate.value.starts_with(prefix)
                && !kept.iter().any(|c| c.value == candidate.value)
            {
                kept.push(candidate);
            }
        }
        Completions {
            candidates: kept,
            directive,
        }
    }

    /// The protocol text: candidates, one a line, then `:<directive>`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for candidate in &self.candidates {
            // A candidate holds no line break or tab of its own; descriptions end at the first
            // line break.
            text.push_str(&candidate.value.replace(['\n', '\t'], " "));
            if let Some(description) = &candidate.description {
                let first_line = description.lines().next().unwrap_or_default();
                text.push('\t');
                text.push_str(&first_line.replace('\t', " "));
            }
            text.push('\n');
        }
        text.push_str(&format!(":{}\n", self.directive));
        text
    }
}

/// Answers a completion request on stdout. `args` are the words after `kubectl gitops`, the
/// last one being the word to complete (a leading `__complete` is ignored). Always succeeds.
pub fn print_completions(args: &[String]) -> ExitCode {
    let args = match args.split_first() {
        Some((first, rest)) if first == "__complete" => rest,
        _ => args,
    };
    // A bug must not spill a panic message into the user's shell: answer "no candidates".
    std::panic::set_hook(Box::new(|_| {}));
    let text = std::panic::catch_unwind(|| complete(args))
        .unwrap_or_else(|_| Completions {
            candidates: Vec::new(),
            directive: directive::ERROR,
        })
        .render();
    // Nothing useful can be done when the shell stopped reading.
    let _ = crate::ui::Ui::stdio().out_raw(text.as_bytes());
    ExitCode::SUCCESS
}

/// The completions for `kubectl gitops <args>`, the last argument being the partial word.
pub fn complete(args: &[String]) -> Completions {
    let (partial, words) = match args.split_last() {
        Some((partial, words)) => (partial.as_str(), words),
        None => ("", args),
    };
    let mut root = Cli::command();
    root.build();
    let kubectl = kubectl_flags();
    let line = Line::parse(&root, &kubectl, words);
    let command = line.subcommand.unwrap_or(&root);

    if let Some(arg) = line.pending_value {
        return complete_value(&line, arg, "", partial);
    }
    if let Some(rest) = partial.strip_prefix("--")
        && let Some((name, value)) = rest.split_once('=')
    {
        return match find_long(command, name).or_else(|| find_long(&kubectl, name)) {
            Some(arg) => complete_value(&line, arg, &format!("--{name}="), value),
            None => Completions::none(),
        };
    }
    if partial.starts_with('-') && !line.after_double_dash {
        return complete_flags(command, partial);
    }
    let Some(subcommand) = line.subcommand else {
        return complete_subcommands(&root, partial);
    };
    if subcommand.has_subcommands() {
        if line.positionals.is_empty() {
            return complete_subcommands(subcommand, partial);
        }
        return Completions::none();
    }
    if OBJECT_COMMANDS.contains(&subcommand.get_name()) {
        return complete_objects(&line, partial);
    }
    if KUSTOMIZATION_COMMANDS.contains(&subcommand.get_name()) {
        if line.positionals.is_empty() && !partial.contains('/') {
            let kinds = ["ks", "kustomization"].map(|kind| Candidate::new(kind.to_string(), None));
            return Completions::matching(kinds.to_vec(), partial, directive::NO_FILE_COMP);
        }
        return complete_objects(&line, partial);
    }
    if subcommand.get_name() == "trace" {
        return complete_any_object(&line, partial);
    }
    // A positional with a fixed set of values (`completion <shell>`).
    match subcommand.get_positionals().nth(line.positionals.len()) {
        Some(arg) => complete_value(&line, arg, "", partial),
        None => Completions::none(),
    }
}

/// What the words before the partial one say.
struct Line<'a> {
    subcommand: Option<&'a Command>,
    positionals: Vec<String>,
    /// Flags given, as `--long[=value]` for those with a long name.
    flags: Vec<(&'a Arg, Option<String>)>,
    /// The last word was a flag whose value is the partial word.
    pending_value: Option<&'a Arg>,
    after_double_dash: bool,
}

impl<'a> Line<'a> {
    /// `kubectl` holds flags known even where `root`'s subcommand does not define them.
    fn parse(root: &'a Command, kubectl: &'a Command, words: &[String]) -> Line<'a> {
        let mut line = Line {
            subcommand: None,
            positionals: Vec::new(),
            flags: Vec::new(),
            pending_value: None,
            after_double_dash: false,
        };
        let mut words = words.iter().peekable();
        while let Some(word) = words.next() {
            let command = line.subcommand.unwrap_or(root);
            line.pending_value = None;
            if line.after_double_dash {
                line.positionals.push(word.clone());
            } else if word == "--" {
                line.after_double_dash = true;
            } else if let Some(rest) = word.strip_prefix("--") {
                let (name, value) = match rest.split_once('=') {
                    Some((name, value)) => (name, Some(value.to_string())),
                    None => (rest, None),
                };
                let Some(arg) = find_long(command, name).or_else(|| find_long(kubectl, name))
                else {
                    continue;
                };
                if value.is_none() && takes_value(arg) {
                    match words.next() {
                        Some(value) => line.flags.push((arg, Some(value.clone()))),
                        None => line.pending_value = Some(arg),
                    }
                } else {
                    line.flags.push((arg, value));
                }
            } else if word.len() > 1 && word.starts_with('-') {
                // A cluster of short flags, the last of which may take a value: -A, -n ns, -nns.
                for (at, short) in word.char_indices().skip(1) {
                    let Some(arg) =
                        find_short(command, short).or_else(|| find_short(kubectl, short))
                    else {
                        break;
                    };
                    if !takes_value(arg) {
                        line.flags.push((arg, None));
                        continue;
                    }
                    let attached = &word[at + short.len_utf8()..];
                    if !attached.is_empty() {
                        let attached = attached.strip_prefix('=').unwrap_or(attached);
                        line.flags.push((arg, Some(attached.to_string())));
                    } else {
                        match words.next() {
                            Some(value) => line.flags.push((arg, Some(value.clone()))),
                            None => line.pending_value = Some(arg),
                        }
                    }
                    break;
                }
            } else if line.positionals.is_empty() && command.has_subcommands() {
                // A command, or a command's subcommand (`bootstrap github`).
                match command.find_subcommand(word) {
                    Some(found) => line.subcommand = Some(found),
                    // An unknown command: nothing after it can be completed sensibly.
                    None => line.positionals.push(word.clone()),
                }
            } else {
                line.positionals.push(word.clone());
            }
        }
        line
    }

    fn has_flag(&self, id: &str) -> bool {
        self.flags.iter().any(|(arg, _)| arg.get_id() == id)
    }

    /// The connection flags on the line, parsed as the command would parse them.
    fn connection_flags(&self) -> Option<ConnectionFlags> {
        let command = ConnectionFlags::augment_args(Command::new("complete"));
        let mut argv = vec!["complete".to_string()];
        for (arg, value) in &self.flags {
            let Some(long) = arg.get_long() else { continue };
            if command.get_arguments().all(|a| a.get_id() != arg.get_id()) {
                continue;
            }
            argv.push(match value {
                Some(value) => format!("--{long}={value}"),
                None => format!("--{long}"),
            });
        }
        let matches = command.try_get_matches_from(argv).ok()?;
        ConnectionFlags::from_arg_matches(&matches).ok()
    }
}

fn find_long<'a>(command: &'a Command, name: &str) -> Option<&'a Arg> {
    command.get_arguments().find(|arg| {
        arg.get_long() == Some(name)
            || arg
                .get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&name))
    })
}

fn find_short(command: &Command, short: char) -> Option<&Arg> {
    command
        .get_arguments()
        .find(|arg| arg.get_short() == Some(short))
}

/// kubectl's connection flags and `-A`, for reading a line whose command does not declare them
/// (yet): the values still reach the cluster query, and are not taken for positionals.
fn kubectl_flags() -> Command {
    ConnectionFlags::augment_args(Command::new("kubectl")).arg(
        Arg::new("all_namespaces")
            .short('A')
            .long("all-namespaces")
            .action(ArgAction::SetTrue),
    )
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

fn about(command: &Command) -> Option<String> {
    command.get_about().map(|about| about.to_string())
}

fn complete_subcommands(root: &Command, partial: &str) -> Completions {
    let candidates = root
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        .map(|sub| Candidate::new(sub.get_name(), about(sub)))
        .collect();
    Completions::matching(candidates, partial, directive::NO_FILE_COMP)
}

fn complete_flags(command: &Command, partial: &str) -> Completions {
    let mut candidates = Vec::new();
    for arg in command.get_arguments() {
        if arg.is_hide_set() || arg.is_positional() {
            continue;
        }
        let help = arg.get_help().map(|help| help.to_string());
        if let Some(long) = arg.get_long() {
            candidates.push(Candidate::new(format!("--{long}"), help.clone()));
        }
        // Short forms only once the user typed a single dash, as kubectl does.
        if !partial.starts_with("--")
            && let Some(short) = arg.get_short()
        {
            candidates.push(Candidate::new(format!("-{short}"), help));
        }
    }
    if !partial.starts_with("--") {
        // Long forms first, then short ones, each sorted: a stable order for every shell.
        candidates.sort_by_key(|c| (!c.value.starts_with("--"), c.value.clone()));
    }
    Completions::matching(candidates, partial, directive::NO_FILE_COMP)
}

/// The value of a flag: `prefix` goes before each candidate (`--namespace=`).
fn complete_value(line: &Line<'_>, arg: &Arg, prefix: &str, partial: &str) -> Completions {
    let with_prefix = |candidates: Vec<Candidate>| {
        candidates
            .into_iter()
            .map(|c| Candidate::new(format!("{prefix}{}", c.value), c.description))
            .collect::<Vec<_>>()
    };
    let full = format!("{prefix}{partial}");
    if arg.get_id() == "namespace" {
        let names = from_cluster(line, |flags| async move { namespaces(&flags).await });
        return Completions::matching(
            with_prefix(names.into_iter().map(|n| Candidate::new(n, None)).collect()),
            &full,
            directive::NO_FILE_COMP,
        );
    }
    if matches!(arg.get_long(), Some("context" | "contexts")) {
        // Context names from the line's kubeconfig; `--contexts a,b,<TAB>` completes the last.
        let (done, _) = match partial.rfind(',') {
            Some(at) if arg.get_long() == Some("contexts") => partial.split_at(at + 1),
            _ => ("", partial),
        };
        let names = line
            .connection_flags()
            .and_then(|flags| flags.contexts().ok())
            .map(|(names, _)| names)
            .unwrap_or_default();
        let candidates = names
            .into_iter()
            .map(|name| Candidate::new(format!("{done}{name}"), None))
            .collect();
        return Completions::matching(with_prefix(candidates), &full, directive::NO_FILE_COMP);
    }
    if arg.get_long() == Some("to") && line.subcommand.is_some_and(|c| c.get_name() == "rollback") {
        return Completions::matching(
            with_prefix(rollback_targets(line)),
            &full,
            directive::NO_FILE_COMP | directive::KEEP_ORDER,
        );
    }
    if arg.get_long() == Some("kind") {
        // `status --kind <TAB>`: the Flux kinds.
        let kinds = complete_kinds("").candidates;
        return Completions::matching(with_prefix(kinds), &full, directive::NO_FILE_COMP);
    }
    let possible: Vec<Candidate> = arg
        .get_possible_values()
        .into_iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| {
            Candidate::new(
                value.get_name(),
                value.get_help().map(|help| help.to_string()),
            )
        })
        .collect();
    if !possible.is_empty() {
        return Completions::matching(with_prefix(possible), &full, directive::NO_FILE_COMP);
    }
    match arg.get_value_hint() {
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath if prefix.is_empty() => {
            Completions {
                candidates: Vec::new(),
                directive: directive::DEFAULT,
            }
        }
        _ => Completions::none(),
    }
}

/// Flux kinds (`<kind>`, `<kind> <name>`), or objects (`<kind>/<name>`).
fn complete_objects(line: &Line<'_>, partial: &str) -> Completions {
    let slash_form = line
        .positionals
        .first()
        .map_or(partial.contains('/'), |first| first.contains('/'));
    if slash_form {
        let Some((typed_kind, _)) = partial.split_once('/') else {
            return complete_kinds(partial);
        };
        let Some(kind) = FluxKind::lookup(typed_kind) else {
            return Completions::none();
        };
        let candidates = object_names(line, kind)
            .into_iter()
            .map(|name| format!("{typed_kind}/{name}"))
            .filter(|value| !line.positionals.contains(value))
            .map(|value| Candidate::new(value, None))
            .collect();
        return Completions::matching(candidates, partial, directive::NO_FILE_COMP);
    }
    let Some(first) = line.positionals.first() else {
        return complete_kinds(partial);
    };
    let Some(kind) = FluxKind::lookup(first) else {
        return Completions::none();
    };
    let candidates = object_names(line, kind)
        .into_iter()
        .filter(|name| !line.positionals[1..].contains(name))
        .map(|name| Candidate::new(name, None))
        .collect();
    Completions::matching(candidates, partial, directive::NO_FILE_COMP)
}

/// `trace`'s one object of any kind the cluster serves: its kinds (as kubectl names them),
/// then `<kind>/<name>` or, after `<kind>`, the names.
fn complete_any_object(line: &Line<'_>, partial: &str) -> Completions {
    let (typed_kind, prefix) = match (line.positionals.as_slice(), partial.split_once('/')) {
        ([], Some((kind, _))) => (kind.to_string(), format!("{kind}/")),
        ([], None) => {
            let kinds = from_cluster(line, |flags| async move {
                let connection = flags.connect().await?;
                let resources = Resources::discover(&connection).await?;
                Ok(resources
                    .names()
                    .map(|(name, _)| name.to_string())
                    .collect())
            });
            let candidates = kinds.into_iter().map(|k| Candidate::new(k, None)).collect();
            return Completions::matching(candidates, partial, directive::NO_FILE_COMP);
        }
        ([kind], None) if !kind.contains('/') => (kind.clone(), String::new()),
        _ => return Completions::none(),
    };
    let names = from_cluster(line, |flags| async move {
        let connection = flags.connect().await?;
        let resources = Resources::discover(&connection).await?;
        let Some((resource, namespaced)) = resources.find_by_name(&typed_kind) else {
            return Ok(Vec::new());
        };
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(connection.client.clone(), &connection.namespace, resource)
        } else {
            Api::all_with(connection.client.clone(), resource)
        };
        let action = Action::new("list", &qualified_plural(resource));
        names_in(&connection, action, api).await
    });
    let candidates = names
        .into_iter()
        .map(|name| Candidate::new(format!("{prefix}{name}"), None))
        .collect();
    Completions::matching(candidates, partial, directive::NO_FILE_COMP)
}

/// Every name of every Flux kind: the kind in lower case, its plural and short names.
fn complete_kinds(partial: &str) -> Completions {
    let mut candidates = Vec::new();
    for kind in KINDS {
        let description = Some(format!("{} ({})", kind.kind, kind.group));
        candidates.push(Candidate::new(
            kind.kind.to_ascii_lowercase(),
            description.clone(),
        ));
        candidates.push(Candidate::new(kind.plural, description.clone()));
        for short in kind.short_names {
            candidates.push(Candidate::new(*short, description.clone()));
        }
    }
    Completions::matching(candidates, partial, directive::NO_FILE_COMP)
}

fn object_names(line: &Line<'_>, kind: &'static FluxKind) -> Vec<String> {
    let all_namespaces = line.has_flag("all_namespaces");
    from_cluster(line, move |flags| async move {
        list_objects(&flags, kind, all_namespaces).await
    })
}

/// Runs a cluster query for completion: with the line's connection flags, bounded in time, and
/// silent on every failure (no candidates).
/// `rollback --to <TAB>`: the commits of the Kustomization's folder, newest first, with their
/// subject and what the cluster did with them (read as `history` reads them; the Git access
/// flags on the line and GIT_PASSWORD apply).
fn rollback_targets(line: &Line<'_>) -> Vec<Candidate> {
    let Ok((kind, name)) =
        crate::cli::commands::history::recovery_target(&line.positionals, "rollback")
    else {
        return Vec::new();
    };
    let Some(flags) = line.connection_flags() else {
        return Vec::new();
    };
    let flag = |long: &str| {
        line.flags
            .iter()
            .find(|(arg, _)| arg.get_long() == Some(long))
            .and_then(|(_, value)| value.clone())
    };
    let access = crate::preview::source::GitAccess {
        username: flag("git-username").unwrap_or_else(|| "git".to_string()),
        password: std::env::var("GIT_PASSWORD")
            .ok()
            .map(secrecy::SecretString::from),
        ca_file: flag("ca-file").map(std::path::PathBuf::from),
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let history = runtime.block_on(async {
        tokio::time::timeout(CLUSTER_TIME_LIMIT, async {
            let connection = flags.connect().await?;
            let subject =
                crate::cli::commands::history::resolve_subject(&connection, kind, &name, &access)
                    .await?;
            crate::recovery::history::read_history(&subject, 20).await
        })
        .await
    });
    match history {
        Ok(Ok(history)) => history
            .entries
            .into_iter()
            .filter(|entry| !entry.current)
            .map(|entry| {
                let description = format!("{} ({})", entry.subject, entry.state.as_str());
                Candidate::new(entry.short, Some(description))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn from_cluster<F, Fut>(line: &Line<'_>, query: F) -> Vec<String>
where
    F: FnOnce(ConnectionFlags) -> Fut,
    Fut: Future<Output = crate::Result<Vec<String>>>,
{
    let Some(flags) = line.connection_flags() else {
        return Vec::new();
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let result =
        runtime.block_on(async { tokio::time::timeout(CLUSTER_TIME_LIMIT, query(flags)).await });
    let mut names = match result {
        Ok(Ok(names)) => names,
        _ => Vec::new(),
    };
    names.sort();
    names.dedup();
    names
}

async fn namespaces(flags: &ConnectionFlags) -> crate::Result<Vec<String>> {
    let connection = flags.connect().await?;
    let api = Api::<Namespace>::all(connection.client.clone());
    names_in(&connection, Action::new("list", "namespaces"), api).await
}

async fn list_objects(
    flags: &ConnectionFlags,
    kind: &'static FluxKind,
    all_namespaces: bool,
) -> crate::Result<Vec<String>> {
    let connection = flags.connect().await?;
    let apis = FluxApis::discover(&connection).await?;
    let Some(served) = apis.get(kind) else {
        return Ok(Vec::new());
    };
    let scope = Scope::new(&connection.namespace, all_namespaces);
    let action = Action::new("list", &qualified_plural(&served.resource));
    names_in(&connection, action, scope.api(&connection, served)).await
}

/// The names of (at most [`LIST_LIMIT`]) objects, from a metadata-only list.
async fn names_in<K>(
    connection: &Connection,
    action: Action,
    api: Api<K>,
) -> crate::Result<Vec<String>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = ListParams::default().limit(LIST_LIMIT);
    let list = connection.call(action, api.list_metadata(&params)).await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|object| object.metadata.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if line.ends_with(' ') || line.is_empty() {
            words.push(String::new());
        }
        words
    }

    fn values(line: &str) -> Vec<String> {
        complete(&words(line))
            .candidates
            .into_iter()
            .map(|c| c.value)
            .collect()
    }

    #[test]
    fn subcommands_complete_first_with_descriptions() {
        let answer = complete(&words(""));
        assert_eq!(answer.directive, directive::NO_FILE_COMP);
        let names: Vec<&str> = answer.candidates.iter().map(|c| c.value.as_str()).collect();
        for name in ["version", "status", "reconcile", "bootstrap", "completion"] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert!(!names.contains(&"help"));
        assert!(answer.candidates.iter().all(|c| c.description.is_some()));
        assert_eq!(values("ver"), vec!["version"]);
        assert_eq!(values("nothing-starts-like-this"), Vec::<String>::new());
    }

    #[test]
    fn flags_of_the_subcommand_complete_after_a_dash() {
        let long = values("version --");
        for flag in [
            "--client",
            "--output",
            "--kubeconfig",
            "--namespace",
            "--context",
        ] {
            assert!(long.contains(&flag.to_string()), "{flag} missing: {long:?}");
        }
        assert!(long.iter().all(|f| f.starts_with("--")), "{long:?}");
        assert_eq!(
            values("version --cli"),
            vec!["--client", "--client-certificate", "--client-key"]
        );
        let short = values("version -");
        assert!(short.contains(&"-n".to_string()), "{short:?}");
        assert!(short.contains(&"-o".to_string()), "{short:?}");
    }

    #[test]
    fn possible_values_complete_for_a_flag_in_both_forms() {
        assert_eq!(values("version -o "), vec!["json", "yaml"]);
        assert_eq!(values("version --output j"), vec!["json"]);
        assert_eq!(values("version --output=y"), vec!["--output=yaml"]);
        assert_eq!(
            values("completion "),
            vec!["bash", "zsh", "fish", "powershell"]
        );
    }

    #[test]
    fn kinds_complete_for_the_kind_flag() {
        assert_eq!(
            values("status --kind helmrel"),
            vec!["helmrelease", "helmreleases"]
        );
        assert_eq!(values("status --kind=ks"), vec!["--kind=ks"]);
    }

    #[test]
    fn contexts_complete_from_the_kubeconfig_of_the_line() {
        let dir = std::env::temp_dir().join(format!("complete-contexts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("config");
        let context =
            |name: &str| format!("- name: {name}\n  context:\n    cluster: c\n    user: u\n");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\nusers:\n- name: u\n  user: {{}}\ncontexts:\n{}{}{}",
                context("prod-eu"),
                context("prod-us"),
                context("staging")
            ),
        )
        .unwrap();
        let line = format!("status --kubeconfig {} --contexts ", kubeconfig.display());
        assert_eq!(values(&format!("{line}prod")), vec!["prod-eu", "prod-us"]);
        assert_eq!(
            values(&format!("{line}staging,prod-e")),
            vec!["staging,prod-eu"]
        );
        assert_eq!(
            values(&format!(
                "status --kubeconfig {} --context=st",
                kubeconfig.display()
            )),
            vec!["--context=staging"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn path_flags_leave_the_shell_to_complete_file_names() {
        let answer = complete(&words("version --kubeconfig "));
        assert!(answer.candidates.is_empty());
        assert_eq!(answer.directive, directive::DEFAULT);
    }

    #[test]
    fn kinds_complete_for_object_commands_with_every_name() {
        let all = values("status ");
        for kind in KINDS {
            assert!(all.contains(&kind.plural.to_string()), "{}", kind.plural);
            assert!(
                all.contains(&kind.kind.to_ascii_lowercase()),
                "{}",
                kind.kind
            );
            for short in kind.short_names {
                assert!(all.contains(&short.to_string()), "{short}");
            }
        }
        assert_eq!(values("reconcile ks"), vec!["ks"]);
        assert_eq!(
            values("reconcile helmrel"),
            vec!["helmrelease", "helmreleases"]
        );
        assert!(values("version ").is_empty());
    }

    #[test]
    fn unknown_kinds_and_unreachable_clusters_give_no_candidates_but_a_directive() {
        assert!(values("status nosuchkind/").is_empty());
        assert!(values("status nosuchkind ").is_empty());
        // No server listens there: nothing, quickly, and still a directive line.
        let answer = complete(&words(
            "status --server=https://127.0.0.1:9 --request-timeout=1s ks/",
        ));
        assert!(answer.candidates.is_empty());
        assert_eq!(answer.render(), ":4\n");
    }

    #[test]
    fn the_line_is_parsed_like_the_command_parses_it() {
        let mut root = Cli::command();
        root.build();
        let kubectl = kubectl_flags();
        let line = Line::parse(
            &root,
            &kubectl,
            &words("status -n flux-system --context=kind -A --kubeconfig /k ks app"),
        );
        assert_eq!(line.subcommand.map(|c| c.get_name()), Some("status"));
        assert_eq!(line.positionals, vec!["ks", "app"]);
        assert!(line.has_flag("all_namespaces"));
        let flags = line.connection_flags().expect("connection flags parse");
        assert_eq!(flags.namespace.as_deref(), Some("flux-system"));
        assert_eq!(flags.context.as_deref(), Some("kind"));
        assert_eq!(flags.kubeconfig, Some(std::path::PathBuf::from("/k")));
        let clustered = Line::parse(&root, &kubectl, &words("version -nflux-system")[..2]);
        assert_eq!(
            clustered.connection_flags().and_then(|f| f.namespace),
            Some("flux-system".to_string())
        );
        let pending = Line::parse(&root, &kubectl, &words("status -n")[..2]);
        assert_eq!(
            pending.pending_value.map(|a| a.get_id().as_str()),
            Some("namespace")
        );
    }

    #[test]
    fn render_follows_the_cobra_protocol() {
        let answer = Completions {
            candidates: vec![
                Candidate::new("ks", Some("Kustomization\nmore".to_string())),
                Candidate::new("plain", None),
            ],
            directive: directive::NO_FILE_COMP | directive::NO_SPACE,
        };
        assert_eq!(answer.render(), "ks\tKustomization\nplain\n:6\n");
    }
}
