//! The `kustomization.yaml` kustomize-controller would build for a folder, written into a
//! private temporary folder so the user's folder is never touched.
//!
//! kustomize-controller (fluxcd/pkg `kustomize.Generator`) works on the folder itself:
//! - when the folder has no kustomization file, it generates one listing every `.yaml`/`.yml`
//!   file in the tree (folders that hold their own kustomization file are listed as one
//!   resource and not entered), leaving out what `.sourceignore` files and the ignore patterns
//!   exclude; every listed file must read as Kubernetes YAML;
//! - it then sets the Kustomization's `targetNamespace`, `namePrefix`, `nameSuffix`, and adds
//!   its `patches`, `images` and `components`.
//!
//! Here the same kustomization is written into a temporary folder, naming the user's files
//! and folders by paths relative to it (kustomize refuses absolute folder resources); with
//! kubectl's `--load-restrictor LoadRestrictionsNone` it builds the same objects. When the
//! folder has its own kustomization file, the temporary kustomization takes the folder as its
//! one resource (an overlay) and adds the Kustomization's settings on top. Either way it asks
//! for `sortOptions: fifo`: kubectl's kustomize otherwise sorts by kind, while
//! kustomize-controller keeps the order of the files. The result is Flux's, except that a
//! `namePrefix`/`nameSuffix` set both in the folder's kustomization and in the Kustomization
//! is applied twice here where Flux replaces the folder's (see docs/build-and-diff.md).

use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde_json::{Map, Value, json};

use super::error::{Error, Result};
use crate::git::ScratchDir;

/// The names kustomize recognises, in its order of preference.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Per-folder ignore files, as source-controller reads them.
const SOURCE_IGNORE_FILE: &str = ".sourceignore";

/// What to hand to `kubectl kustomize`: a generated kustomization in a private folder,
/// removed on drop.
pub struct Prepared {
    folder: PathBuf,
    _scratch: ScratchDir,
}

impl Prepared {
    /// The folder to build.
    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

/// Prepares `folder` for the Kustomization `spec` (its `spec` field), honouring
/// `ignore_patterns` (`.gitignore` syntax, relative to `folder`).
pub fn prepare(folder: &Path, spec: &Value, ignore_patterns: &[String]) -> Result<Prepared> {
    let folder = std::fs::canonicalize(folder).map_err(|source| Error::InvalidPath {
        path: folder.to_path_buf(),
        reason: source.to_string(),
    })?;
    if !folder.is_dir() {
        return Err(Error::InvalidPath {
            path: folder,
            reason: "not a directory".to_string(),
        });
    }
    let has_own = kustomization_file(&folder).is_some();
    let transforms = transforms(&folder, spec)?;
    let paths: Vec<PathBuf> = if has_own {
        vec![folder.clone()]
    } else {
        let ignore = IgnoreRules::new(&folder, ignore_patterns)?;
        scan_manifests(&folder, &ignore)?
    };
    let scratch = ScratchDir::in_temp("kubectl-gitops-build-").map_err(|err| Error::Write {
        path: std::env::temp_dir(),
        source: std::io::Error::other(err.to_string()),
    })?;
    // kustomize refuses absolute folder resources ("new root cannot be absolute"): every path
    // is written relative to the generated kustomization's own folder.
    let here = std::fs::canonicalize(scratch.path()).map_err(|source| Error::Write {
        path: scratch.path().to_path_buf(),
        source,
    })?;
    let relative = |path: &Path| Value::String(path_text(&relative_to(&here, path)));
    let mut kustomization = Map::new();
    kustomization.insert(
        "apiVersion".into(),
        json!("kustomize.config.k8s.io/v1beta1"),
    );
    kustomization.insert("kind".into(), json!("Kustomization"));
    // kubectl's kustomize sorts by kind unless told otherwise; kustomize-controller keeps the
    // order of the files (what it applies and prunes in, and what build prints).
    kustomization.insert("sortOptions".into(), json!({"order": "fifo"}));
    kustomization.insert(
        "resources".into(),
        Value::Array(paths.iter().map(|p| relative(p)).collect()),
    );
    for (key, value) in transforms {
        let value = match (key.as_str(), value) {
            ("components", Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|item| relative(Path::new(item.as_str().unwrap_or_default())))
                    .collect(),
            ),
            (_, value) => value,
        };
        kustomization.insert(key, value);
    }
    let text = serde_json::to_string_pretty(&Value::Object(kustomization)).map_err(|err| {
        Error::BuildOutput {
            reason: err.to_string(),
        }
    })?;
    // JSON is YAML; kustomize reads it as the kustomization file.
    scratch
        .write_private(KUSTOMIZATION_FILE_NAMES[0], text.as_bytes())
        .map_err(|err| Error::Write {
            path: scratch.path().to_path_buf(),
            source: std::io::Error::other(err.to_string()),
        })?;
    Ok(Prepared {
        folder: here,
        _scratch: scratch,
    })
}

/// `target` as seen from `base` (both absolute): `../../x/y`. Paths with no common root
/// (another drive on Windows) stay absolute.
fn relative_to(base: &Path, target: &Path) -> PathBuf {
    let base: Vec<_> = base.components().collect();
    let target: Vec<_> = target.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return target.iter().collect();
    }
    let mut relative = PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    relative.extend(&target[common..]);
    relative
}

/// The folder's own kustomization file, if it has one.
pub fn kustomization_file(folder: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_FILE_NAMES
        .iter()
        .map(|name| folder.join(name))
        .find(|path| path.is_file())
}

/// The kustomization fields the Kustomization's spec sets, in kustomize's own names.
fn transforms(folder: &Path, spec: &Value) -> Result<Map<String, Value>> {
    let mut fields = Map::new();
    for (from, to) in [
        ("targetNamespace", "namespace"),
        ("namePrefix", "namePrefix"),
        ("nameSuffix", "nameSuffix"),
    ] {
        if let Some(value) = spec.get(from).and_then(Value::as_str) {
            fields.insert(to.into(), json!(value));
        }
    }
    if let Some(patches) = spec.get("patches").and_then(Value::as_array) {
        // Same field names in Flux and kustomize: patch, target{group, version, kind, name,
        // namespace, labelSelector, annotationSelector}.
        let patches: Vec<Value> = patches
            .iter()
            .map(|patch| {
                let mut kept = Map::new();
                for key in ["patch", "target"] {
                    if let Some(value) = patch.get(key) {
                        kept.insert(key.into(), value.clone());
                    }
                }
                Value::Object(kept)
            })
            .collect();
        if !patches.is_empty() {
            fields.insert("patches".into(), Value::Array(patches));
        }
    }
    if let Some(images) = spec.get("images").and_then(Value::as_array)
        && !images.is_empty()
    {
        fields.insert("images".into(), Value::Array(images.clone()));
    }
    if let Some(components) = spec.get("components").and_then(Value::as_array) {
        let ignore_missing = spec
            .get("ignoreMissingComponents")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut found = Vec::new();
        for component in components {
            let text = component.as_str().unwrap_or_default();
            if !is_local_relative(text) {
                return Err(Error::InvalidPath {
                    path: PathBuf::from(text),
                    reason: "component paths must be local and relative".to_string(),
                });
            }
            let path = folder.join(text);
            if !path.exists() && ignore_missing {
                continue;
            }
            found.push(Value::String(path_text(&path)));
        }
        if !found.is_empty() {
            fields.insert("components".into(), Value::Array(found));
        }
    }
    Ok(fields)
}

/// Whether a component path is a local relative path, as Flux requires (no URL, no
/// remote-base shorthand, not absolute).
fn is_local_relative(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let remote = [
        "git::",
        "gh:",
        "ssh://",
        "https://",
        "http://",
        "git@",
        "github.com:",
        "github.com/",
    ]
    .iter()
    .any(|prefix| prefix.len() < lower.len() && lower.starts_with(prefix));
    let absolute = Path::new(path).is_absolute()
        || Path::new(lower.trim_start_matches("file://")).is_absolute();
    !path.is_empty() && !remote && !absolute
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `.sourceignore` files (each applying below its own folder) plus the command's patterns.
struct IgnoreRules {
    patterns: Gitignore,
}

impl IgnoreRules {
    fn new(root: &Path, patterns: &[String]) -> Result<IgnoreRules> {
        let mut builder = GitignoreBuilder::new(root);
        for pattern in patterns {
            builder
                .add_line(None, pattern)
                .map_err(|err| Error::InvalidPath {
                    path: PathBuf::from(pattern),
                    reason: format!("not a valid --ignore-paths pattern: {err}"),
                })?;
        }
        let patterns = builder.build().map_err(|err| Error::InvalidPath {
            path: root.to_path_buf(),
            reason: format!("invalid --ignore-paths: {err}"),
        })?;
        Ok(IgnoreRules { patterns })
    }

    /// Whether `path` is excluded, by the command's patterns or by any `.sourceignore`
    /// on the way down (`folder_rules`, outermost first; the innermost match wins).
    fn excluded(&self, path: &Path, is_dir: bool, folder_rules: &[Gitignore]) -> bool {
        if self
            .patterns
            .matched_path_or_any_parents(path, is_dir)
            .is_ignore()
        {
            return true;
        }
        for rules in folder_rules.iter().rev() {
            match rules.matched_path_or_any_parents(path, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}

/// Every manifest under `root` in lexical walk order (as Go's `filepath.Walk`): folders with
/// their own kustomization file are listed themselves and not entered.
fn scan_manifests(root: &Path, ignore: &IgnoreRules) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut folder_rules = Vec::new();
    walk(root, ignore, &mut folder_rules, &mut found)?;
    Ok(found)
}

fn walk(
    folder: &Path,
    ignore: &IgnoreRules,
    folder_rules: &mut Vec<Gitignore>,
    found: &mut Vec<PathBuf>,
) -> Result<()> {
    let own_rules = folder.join(SOURCE_IGNORE_FILE);
    let pushed = own_rules.is_file();
    if pushed {
        let (rules, _) = Gitignore::new(&own_rules);
        folder_rules.push(rules);
    }
    let mut entries: Vec<(PathBuf, bool)> = std::fs::read_dir(folder)
        .map_err(|source| Error::Read {
            path: folder.to_path_buf(),
            source,
        })?
        .filter_map(|entry| entry.ok())
        .map(|entry| {
            let path = entry.path();
            let is_dir = path.is_dir();
            (path, is_dir)
        })
        .collect();
    entries.sort();
    for (path, is_dir) in entries {
        if ignore.excluded(&path, is_dir, folder_rules) {
            continue;
        }
        if is_dir {
            if kustomization_file(&path).is_some() {
                found.push(path);
            } else {
                walk(&path, ignore, folder_rules, found)?;
            }
            continue;
        }
        let is_manifest = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if is_manifest {
            check_manifest(&path)?;
            found.push(path);
        }
    }
    if pushed {
        folder_rules.pop();
    }
    Ok(())
}

/// Every listed file must read as Kubernetes YAML, as kustomize-controller checks before the
/// build: the error names the file rather than kustomize's later, vaguer one.
fn check_manifest(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|err| Error::ManifestUnreadable {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
    for document in documents {
        match &document {
            Value::Null => {}
            Value::Object(map) if map.get("kind").and_then(Value::as_str).is_some() => {}
            _ => {
                return Err(Error::ManifestUnreadable {
                    path: path.to_path_buf(),
                    reason: "a document is not a Kubernetes object (it has no kind)".to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";

    /// The generated kustomization, with its relative paths resolved back to absolute ones.
    fn generated(prepared: &Prepared) -> Value {
        let text = std::fs::read_to_string(prepared.folder().join("kustomization.yaml")).unwrap();
        let mut value: Value = serde_json::from_str(&text).unwrap();
        for field in ["resources", "components"] {
            if let Some(items) = value.get_mut(field).and_then(Value::as_array_mut) {
                for item in items {
                    let relative = item.as_str().unwrap().to_string();
                    assert!(relative.starts_with(".."), "relative: {relative}");
                    let path = std::fs::canonicalize(prepared.folder().join(relative)).unwrap();
                    *item = json!(path.to_string_lossy());
                }
            }
        }
        value
    }

    #[test]
    fn a_folder_without_kustomization_lists_its_manifests_in_walk_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        write(&root, "b.yaml", CM);
        write(&root, "a/z.yml", CM);
        write(&root, "a/notes.txt", "not a manifest");
        write(&root, "base/kustomization.yaml", "resources: []\n");
        write(&root, "base/inner.yaml", "not: [read");
        write(&root, "skipped/x.yaml", CM);
        write(&root, "drafts/y.yaml", CM);
        write(&root, ".sourceignore", "drafts/\n");
        let prepared = prepare(&root, &json!({}), &["skipped/".to_string()]).unwrap();
        assert_ne!(prepared.folder(), root, "generated elsewhere");
        let r = |p: &str| json!(root.join(p).to_string_lossy());
        assert_eq!(
            generated(&prepared),
            json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "sortOptions": {"order": "fifo"},
                "resources": [r("a/z.yml"), r("b.yaml"), r("base")],
            })
        );
        assert!(
            !root.join("kustomization.yaml").exists(),
            "user's folder untouched"
        );
        let scratch = prepared.folder().to_path_buf();
        drop(prepared);
        assert!(!scratch.exists(), "removed on drop");
    }

    #[test]
    fn the_spec_sets_namespace_prefix_suffix_patches_images_and_components() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        write(&root, "kustomization.yaml", "resources: [cm.yaml]\n");
        write(&root, "cm.yaml", CM);
        write(&root, "comp/kustomization.yaml", "kind: Component\n");
        let spec = json!({
            "targetNamespace": "apps", "namePrefix": "p-", "nameSuffix": "-s",
            "patches": [{"patch": "- op: add", "target": {"kind": "ConfigMap"}, "extra": 1}],
            "images": [{"name": "nginx", "newTag": "1.27"}],
            "components": ["comp", "missing"], "ignoreMissingComponents": true,
            "prune": true, "interval": "1m",
        });
        let prepared = prepare(&root, &spec, &[]).unwrap();
        assert_eq!(
            generated(&prepared),
            json!({
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "sortOptions": {"order": "fifo"},
                "resources": [root.to_string_lossy()],
                "namespace": "apps", "namePrefix": "p-", "nameSuffix": "-s",
                "patches": [{"patch": "- op: add", "target": {"kind": "ConfigMap"}}],
                "images": [{"name": "nginx", "newTag": "1.27"}],
                "components": [root.join("comp").to_string_lossy()],
            })
        );
    }

    #[test]
    fn paths_are_made_relative_to_the_generated_folder() {
        assert_eq!(
            relative_to(Path::new("/tmp/a/b"), Path::new("/home/u/repo")),
            PathBuf::from("../../../home/u/repo")
        );
        assert_eq!(
            relative_to(Path::new("/tmp/a"), Path::new("/tmp/a/x.yaml")),
            PathBuf::from("x.yaml")
        );
    }

    #[test]
    fn bad_input_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        write(&root, "bad.yaml", "just a string\n");
        let err = prepare(&root, &json!({}), &[]).err().unwrap();
        assert!(
            err.to_string().starts_with(&format!(
                "failed to decode Kubernetes YAML from {}",
                root.join("bad.yaml").display()
            )),
            "{err}"
        );
        let err = prepare(&root.join("nope"), &json!({}), &[]).err().unwrap();
        assert!(matches!(err, Error::InvalidPath { .. }), "{err}");
        std::fs::remove_file(root.join("bad.yaml")).unwrap();
        let err = prepare(&root, &json!({"components": ["https://x/y"]}), &[])
            .err()
            .unwrap();
        assert!(err.to_string().contains("local and relative"), "{err}");
    }
}
