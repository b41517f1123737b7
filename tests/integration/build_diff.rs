//! `build ks` and `diff ks` against the real API server, with the real flux CLI of the test
//! environment as the reference: for the same folders and Kustomizations, the objects `build`
//! prints equal `flux build kustomization`'s, and the objects and actions `diff` reports (and
//! its exit status) equal `flux diff kustomization`'s.
//!
//! "Live" objects are applied as kustomize-controller would have applied them (server-side,
//! field manager kustomize-controller) and the Kustomization's inventory is written into its
//! status, as no controller runs here.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::flux_objects::{create, git_repository};
use crate::support::golden::{assert_golden, replace_value, transcript};
use crate::support::{control_plane, fresh_namespace, plugin_command, run_async, stderr, stdout};

/// Runs the plugin with the test environment's kubectl first on PATH (its kustomize is the
/// one `build` uses), so the result does not depend on the machine's own kubectl.
async fn gitops(args: &[&str]) -> Output {
    let mut command = plugin_command(control_plane(), args);
    command.env("PATH", control_plane().assets.path_with_kubectl());
    run_async(command).await
}

/// The real flux CLI, run from `folder` (with --in-memory-build it refuses paths outside its
/// working directory).
async fn flux(folder: &str, args: &[&str]) -> Output {
    let plane = control_plane();
    let mut command = Command::new(&plane.assets.flux_cli);
    command
        .current_dir(folder)
        .args(args)
        .arg("--kubeconfig")
        .arg(&plane.kubeconfig)
        .env("PATH", control_plane().assets.path_with_kubectl());
    run_async(command).await
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn config_map(ns: &str, name: &str, data: Value) -> String {
    serde_json::to_string(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns}, "data": data}))
    .expect("json")
}

/// A Kustomization `apps` in `ns` with `spec` merged over a plain one (prune on).
fn kustomization(ns: &str, spec: Value) -> Value {
    let mut base = json!({"interval": "10m", "path": "./apps", "prune": true,
        "sourceRef": {"kind": "GitRepository", "name": "source"}});
    if let (Some(base), Some(extra)) = (base.as_object_mut(), spec.as_object()) {
        base.extend(extra.clone());
    }
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": ns}, "spec": base})
}

/// Applies `objects` as kustomize-controller would have, owner labels included.
fn apply_as_controller(ns: &str, objects: &[Value]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("live.json");
    let items: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": ns});
            o
        })
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(&file, list.to_string()).expect("write");
    control_plane().kubectl_ok(&[
        "apply",
        "--server-side",
        "--field-manager=kustomize-controller",
        "-f",
        &file.display().to_string(),
    ]);
}

/// Writes `status.inventory` of Kustomization `apps`: `(name, group, kind, version)` in `ns`.
fn set_inventory(ns: &str, entries: &[(&str, &str, &str, &str)]) {
    let entries: Vec<Value> = entries
        .iter()
        .map(|(name, group, kind, version)| {
            json!({"id": format!("{ns}_{name}_{group}_{kind}"), "v": version})
        })
        .collect();
    control_plane().kubectl_ok(&[
        "patch",
        "kustomization",
        "apps",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &json!({"status": {"inventory": {"entries": entries}}}).to_string(),
    ]);
}

/// `(object, action)` pairs of flux diff's `► Kind/ns/name <action>` lines, in our words.
fn flux_actions(output: &Output) -> BTreeSet<(String, String)> {
    stdout(output)
        .lines()
        .filter_map(|line| line.strip_prefix("► "))
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(object, action)| {
            let action = match action {
                "drifted" => "configured",
                "deleted" => "pruned",
                other => other,
            };
            (object.to_string(), action.to_string())
        })
        .collect()
}

/// `(object, action)` pairs of our `diff -o json`, unchanged objects left out as flux does.
fn our_actions(output: &Output) -> BTreeSet<(String, String)> {
    let report: Value = serde_json::from_str(&stdout(output))
        .unwrap_or_else(|err| panic!("diff -o json: {err}\n{}", stderr(output)));
    report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "unchanged")
        .map(|c| {
            (
                c["object"].as_str().unwrap_or_default().to_string(),
                c["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(o, a)| (o.to_string(), a.to_string()))
        .collect()
}

/// The objects of a YAML stream, sorted, for comparing builds.
fn objects_of(yaml: &str) -> Vec<Value> {
    let mut objects: Vec<Value> =
        serde_saphyr::from_multiple(yaml).unwrap_or_else(|err| panic!("YAML: {err}\n{yaml}"));
    objects.retain(|o| !o.is_null());
    objects.sort_by_key(|o| o.to_string());
    objects
}

#[tokio::test]
async fn diff_reports_what_flux_diff_reports_created_configured_pruned_skipped() {
    let ns = fresh_namespace("diff");
    create(&[git_repository(&ns, "source"), kustomization(&ns, json!({}))]);
    let live = [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns}, "data": {"level": "info"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "same", "namespace": ns}, "data": {"k": "v"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": ns}, "data": {"k": "v"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": ns}, "stringData": {"password": "old-password"}}),
    ];
    apply_as_controller(&ns, &live);
    set_inventory(
        &ns,
        &[
            ("settings", "", "ConfigMap", "v1"),
            ("same", "", "ConfigMap", "v1"),
            ("old", "", "ConfigMap", "v1"),
            ("creds", "", "Secret", "v1"),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "settings.yaml",
        &config_map(&ns, "settings", json!({"level": "debug"})),
    );
    write(
        root,
        "same.yaml",
        &config_map(&ns, "same", json!({"k": "v"})),
    );
    write(
        root,
        "nested/service.yaml",
        &serde_json::to_string(&json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}))
        .expect("json"),
    );
    write(
        root,
        "secret.yaml",
        &serde_json::to_string(&json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "creds", "namespace": ns}, "stringData": {"password": "new-password"}}))
        .expect("json"),
    );
    write(
        root,
        "disabled.yaml",
        &serde_json::to_string(&json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "hands-off", "namespace": ns,
                "annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}},
            "data": {"k": "v"}}))
        .expect("json"),
    );
    let folder = root.display().to_string();
    let ours = gitops(&[
        "diff", "ks", "apps", "--path", &folder, "-n", &ns, "-o", "json",
    ])
    .await;
    let reference = flux(
        &folder,
        &[
            "diff",
            "ks",
            "apps",
            "--path",
            &folder,
            "-n",
            &ns,
            "--progress-bar=false",
            "--in-memory-build",
        ],
    )
    .await;
    let expected = pairs(&[
        (&format!("ConfigMap/{ns}/settings"), "configured"),
        (&format!("Secret/{ns}/creds"), "configured"),
        (&format!("Service/{ns}/web"), "created"),
        (&format!("ConfigMap/{ns}/hands-off"), "skipped"),
        (&format!("ConfigMap/{ns}/old"), "pruned"),
    ]);
    assert_eq!(our_actions(&ours), expected, "ours: {}", stderr(&ours));
    // flux prints a skipped object that does not exist yet without its namespace and name
    // ("► ConfigMap/ skipped"): the same line, in flux's words.
    let mut flux_expected = expected.clone();
    flux_expected.remove(&(format!("ConfigMap/{ns}/hands-off"), "skipped".to_string()));
    flux_expected.insert(("ConfigMap/".to_string(), "skipped".to_string()));
    assert_eq!(
        flux_actions(&reference),
        flux_expected,
        "flux: {}\n{}",
        stdout(&reference),
        stderr(&reference)
    );
    assert_eq!(
        ours.status.code(),
        Some(1),
        "changes: exit 1 as kubectl diff"
    );
    assert_eq!(reference.status.code(), ours.status.code());
    for value in [
        "old-password",
        "new-password",
        "b2xkLXBhc3N3b3Jk",
        "bmV3LXBhc3N3b3Jk",
    ] {
        assert!(
            !stdout(&ours).contains(value),
            "Secret values never printed"
        );
    }

    // Text output, whole: each change, a unified diff under each configured object (the
    // Secret's values masked), unchanged objects only with -v, the summary on stderr.
    let text = gitops(&["diff", "ks", "apps", "--path", &folder, "-n", &ns]).await;
    assert_golden(
        "diff/changes",
        &replace_value(&transcript(&text), &ns, "<ns>"),
    );
    let verbose = gitops(&["diff", "ks", "apps", "--path", &folder, "-n", &ns, "-v"]).await;
    assert_golden(
        "diff/changes-verbose",
        &replace_value(&transcript(&verbose), &ns, "<ns>"),
    );
}

#[tokio::test]
async fn diff_of_an_unchanged_folder_exits_zero_as_flux_diff() {
    let ns = fresh_namespace("diff-same");
    create(&[git_repository(&ns, "source"), kustomization(&ns, json!({}))]);
    let settings = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns}, "data": {"level": "info"}});
    apply_as_controller(&ns, std::slice::from_ref(&settings));
    set_inventory(&ns, &[("settings", "", "ConfigMap", "v1")]);
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "settings.yaml", &settings.to_string());
    let folder = dir.path().display().to_string();
    let ours = gitops(&["diff", "ks", "apps", "--path", &folder, "-n", &ns]).await;
    let reference = flux(
        &folder,
        &[
            "diff",
            "ks",
            "apps",
            "--path",
            &folder,
            "-n",
            &ns,
            "--progress-bar=false",
            "--in-memory-build",
        ],
    )
    .await;
    assert_eq!(stdout(&ours), "", "{}", stderr(&ours));
    assert_eq!(ours.status.code(), Some(0), "{}", stderr(&ours));
    assert_eq!(reference.status.code(), Some(0), "{}", stderr(&reference));
}

#[tokio::test]
async fn a_missing_crd_fails_that_object_and_the_others_are_still_diffed() {
    let ns = fresh_namespace("diff-crd");
    create(&[git_repository(&ns, "source"), kustomization(&ns, json!({}))]);
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a.yaml",
        &config_map(&ns, "a", json!({"k": "v"})),
    );
    write(
        dir.path(),
        "widget.yaml",
        &json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": ns}})
        .to_string(),
    );
    let folder = dir.path().display().to_string();
    let ours = gitops(&["diff", "ks", "apps", "--path", &folder, "-n", &ns]).await;
    let reference = flux(
        &folder,
        &[
            "diff",
            "ks",
            "apps",
            "--path",
            &folder,
            "-n",
            &ns,
            "--progress-bar=false",
            "--in-memory-build",
        ],
    )
    .await;
    assert_eq!(reference.status.code(), Some(2), "{}", stderr(&reference));
    assert_eq!(
        ours.status.code(),
        reference.status.code(),
        "{}",
        stderr(&ours)
    );
    assert_eq!(
        stdout(&ours),
        format!(
            "► ConfigMap/{ns}/a created\n✗ Widget/{ns}/w failed: dry-run failed: no matches for kind \"Widget\" in version \"example.com/v1\" (is its CRD installed?)\n"
        ),
        "nothing lost: {}",
        stderr(&ours)
    );
}

#[tokio::test]
async fn build_gives_the_objects_flux_build_gives() {
    let ns = fresh_namespace("build");
    let vars_cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "vars", "namespace": ns}, "data": {"greeting": "hello", "replicas": "3"}});
    let vars_secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "secret-vars", "namespace": ns}, "stringData": {"token": "s3cr3t", "greeting": "from-secret"}});
    let spec = json!({
        "targetNamespace": ns,
        "namePrefix": "p-",
        "patches": [{"patch": "- op: add\n  path: /metadata/annotations/patched\n  value: \"yes\"\n",
                     "target": {"kind": "ConfigMap"}}],
        "images": [{"name": "nginx", "newTag": "1.27.0"}],
        "commonMetadata": {"labels": {"team": "web"}},
        "postBuild": {
            "substitute": {"env": "prod"},
            "substituteFrom": [{"kind": "ConfigMap", "name": "vars"},
                               {"kind": "Secret", "name": "secret-vars"},
                               {"kind": "ConfigMap", "name": "absent", "optional": true}]
        }
    });
    create(&[
        vars_cm,
        vars_secret,
        git_repository(&ns, "source"),
        kustomization(&ns, spec),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "kustomization.yaml",
        "resources: [app.yaml]\nconfigMapGenerator:\n- name: generated\n  literals:\n  - \"mode=${env}\"\n",
    );
    write(
        root,
        "app.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${replicas}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        env:\n        - {name: GREETING, value: \"${greeting}\"}\n        - {name: ESCAPED, value: \"$${greeting}\"}\n        - {name: DEFAULTED, value: \"${missing:=fallback}\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  text: \"${greeting}\"\n",
    );
    let folder = root.display().to_string();
    let ours = gitops(&[
        "build",
        "ks",
        "apps",
        "--path",
        &folder,
        "-n",
        &ns,
        "--show-secrets",
    ])
    .await;
    let reference = flux(
        &folder,
        &[
            "build",
            "ks",
            "apps",
            "--path",
            &folder,
            "-n",
            &ns,
            "--in-memory-build",
        ],
    )
    .await;
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert!(reference.status.success(), "{}", stderr(&reference));
    let built = objects_of(&stdout(&ours));
    assert_eq!(built, objects_of(&stdout(&reference)));
    // And what they hold is what Flux's rules give (so the comparison is not vacuous).
    let deployment = built
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("Deployment");
    assert_eq!(deployment["metadata"]["name"], "p-web");
    assert_eq!(deployment["metadata"]["namespace"], ns.as_str());
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "GREETING", "value": "from-secret"},
               {"name": "ESCAPED", "value": "${greeting}"},
               {"name": "DEFAULTED", "value": "fallback"}])
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27.0"
    );
    assert_eq!(deployment["metadata"]["labels"]["team"], "web");
    assert_eq!(
        deployment["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
        "apps"
    );
    let raw = built
        .iter()
        .find(|o| o["metadata"]["name"] == "p-raw")
        .expect("raw ConfigMap");
    assert_eq!(raw["data"]["text"], "${greeting}", "substitute: disabled");
    assert!(!root.join("kustomization.yaml.original").exists());

    // The same folder diffed: every object created, as flux diff says.
    let ours = gitops(&[
        "diff", "ks", "apps", "--path", &folder, "-n", &ns, "-o", "json",
    ])
    .await;
    let reference = flux(
        &folder,
        &[
            "diff",
            "ks",
            "apps",
            "--path",
            &folder,
            "-n",
            &ns,
            "--progress-bar=false",
            "--in-memory-build",
        ],
    )
    .await;
    let expected = pairs(&[
        (&format!("Deployment/{ns}/p-web"), "created"),
        (&format!("ConfigMap/{ns}/p-raw"), "created"),
        (&format!("ConfigMap/{ns}/p-generated-ftm248d6f7"), "created"),
    ]);
    assert_eq!(our_actions(&ours), expected, "{}", stderr(&ours));
    assert_eq!(flux_actions(&reference), expected, "{}", stderr(&reference));
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(reference.status.code(), Some(1));
}

#[tokio::test]
async fn bad_input_is_named_with_the_next_step() {
    let ns = fresh_namespace("build-bad");
    create(&[
        git_repository(&ns, "source"),
        kustomization(
            &ns,
            json!({
                "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "nowhere"}]}
            }),
        ),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a.yaml",
        &config_map(&ns, "a", json!({"k": "${x}"})),
    );
    let folder = dir.path().display().to_string();
    let missing = gitops(&["build", "ks", "apps", "--path", &folder, "-n", &ns]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        format!(
            "error: ConfigMap {ns}/nowhere named in postBuild.substituteFrom of Kustomization {ns}/apps not found; create it, or mark it optional: true\n"
        )
    );
    let not_there = gitops(&["build", "ks", "nope", "--path", &folder, "-n", &ns]).await;
    assert_eq!(not_there.status.code(), Some(1));
    assert!(
        stderr(&not_there).starts_with(&format!(
            "error: Kustomization \"nope\" not found in namespace \"{ns}\""
        )),
        "{}",
        stderr(&not_there)
    );
    let no_folder = gitops(&["diff", "ks", "apps", "-n", &ns]).await;
    assert_eq!(no_folder.status.code(), Some(2), "{}", stderr(&no_folder));
    let no_kubectl = {
        let mut command = plugin_command(
            control_plane(),
            &["build", "ks", "apps", "--path", &folder, "-n", &ns],
        );
        command.env("PATH", "/nonexistent");
        run_async(command).await
    };
    assert_eq!(
        stderr(&no_kubectl),
        "error: kubectl was not found on PATH: build and diff run the kustomize inside kubectl; install kubectl (https://kubernetes.io/docs/tasks/tools/) or add it to PATH\n"
    );
    // A stand-in for a kubectl older than 1.27, reporting kustomize v4 as that kubectl does.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let old = tempfile::tempdir().expect("tempdir");
        let script = old.path().join("kubectl");
        std::fs::write(
            &script,
            "#!/bin/sh\necho '{\"clientVersion\":{\"gitVersion\":\"v1.24.0\"},\"kustomizeVersion\":\"v4.5.4\"}'\n",
        )
        .expect("write");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut command = plugin_command(
            control_plane(),
            &["build", "ks", "apps", "--path", &folder, "-n", &ns],
        );
        command.env("PATH", old.path());
        let too_old = run_async(command).await;
        assert_eq!(too_old.status.code(), Some(1));
        assert_eq!(
            stderr(&too_old),
            format!(
                "error: {} ships kustomize v4.5.4, and build needs kustomize v5 or newer (kubectl 1.27 or newer, as Flux's kustomize-controller): upgrade kubectl\n",
                script.display()
            )
        );
    }
}

/// `-r`: the Kustomizations in the build are diffed too, their spec.path taken from the root of
/// the Git checkout holding --path; remote ones (spec.kubeConfig) are named and skipped.
#[tokio::test]
async fn recursive_diff_follows_child_kustomizations_in_the_same_checkout() {
    let ns = fresh_namespace("diff-r");
    let child = |name: &str, extra: Value| {
        let mut spec = json!({"interval": "10m", "path": format!("./{name}"), "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "source"}});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": ns}, "spec": spec})
    };
    let remote = child(
        "remote",
        json!({"kubeConfig": {"secretRef": {"name": "remote-kubeconfig"}}}),
    );
    create(&[
        git_repository(&ns, "source"),
        kustomization(&ns, json!({})),
        child("child", json!({})),
        remote.clone(),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    crate::support::run(
        Command::new("git")
            .args(["init", "--quiet"])
            .current_dir(root),
    );
    write(
        root,
        "apps/settings.yaml",
        &config_map(&ns, "settings", json!({"k": "v"})),
    );
    write(
        root,
        "apps/child.yaml",
        &child("child", json!({})).to_string(),
    );
    write(root, "apps/remote.yaml", &remote.to_string());
    write(
        root,
        "child/cm.yaml",
        &config_map(&ns, "child-cm", json!({"k": "v"})),
    );
    let folder = root.join("apps").display().to_string();
    let out = gitops(&["diff", "ks", "apps", "--path", &folder, "-n", &ns, "-r"]).await;
    assert_golden(
        "diff/recursive",
        &replace_value(&transcript(&out), &ns, "<ns>"),
    );
    let flat = gitops(&[
        "diff", "ks", "apps", "--path", &folder, "-n", &ns, "-o", "json",
    ])
    .await;
    assert!(
        !our_actions(&flat)
            .iter()
            .any(|(object, _)| object.contains("child-cm")),
        "without -r the children are not diffed: {}",
        stdout(&flat)
    );
}

/// `build` masks Secret values unless --show-secrets, and prints a JSON List with -o json.
#[tokio::test]
async fn build_masks_secrets_and_prints_json() {
    let ns = fresh_namespace("build-mask");
    create(&[git_repository(&ns, "source"), kustomization(&ns, json!({}))]);
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "secret.yaml",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": ns},
            "stringData": {"token": "t0ken-value"}, "data": {"key": "a2V5LXZhbHVl"}}).to_string(),
    );
    let folder = dir.path().display().to_string();
    let masked = gitops(&["build", "ks", "apps", "--path", &folder, "-n", &ns]).await;
    assert_golden(
        "build/masked",
        &replace_value(&transcript(&masked), &ns, "<ns>"),
    );
    let shown = gitops(&[
        "build",
        "ks",
        "apps",
        "--path",
        &folder,
        "-n",
        &ns,
        "--show-secrets",
        "-o",
        "json",
    ])
    .await;
    let list: Value = serde_json::from_str(&stdout(&shown)).expect("JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["stringData"]["token"], "t0ken-value");
    assert_eq!(list["items"][0]["data"]["key"], "a2V5LXZhbHVl");
}
