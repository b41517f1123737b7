//! A large cluster for `status -A` under partial rights (tests/lifecycle/faults.rs and
//! tests/bench_partial_rights.sh): many Flux objects in namespaces `team-00`.., created fast
//! (server-side applied Lists, four at a time), and users who may read only some of them.

use super::control_plane::ControlPlane;
use super::processes::temp_dir;

/// Fills `plane` with `teams * per_team` Flux objects in namespaces `team-00`.. (half
/// GitRepositories, half Kustomizations, no status): one server-side applied List per
/// namespace, four at a time.
pub fn fill_large_cluster(plane: &ControlPlane, teams: usize, per_team: usize) {
    let dir = temp_dir("large-");
    let namespaces: Vec<serde_json::Value> = (0..teams)
        .map(|t| serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("team-{t:02}")}}))
        .collect();
    let file = dir.join("namespaces.json");
    std::fs::write(
        &file,
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": namespaces}).to_string(),
    )
    .unwrap();
    plane.apply_server_side(&file);
    let files: Vec<std::path::PathBuf> = (0..teams)
        .map(|t| {
            let ns = format!("team-{t:02}");
            let items: Vec<serde_json::Value> = (0..per_team / 2)
                .flat_map(|i| {
                    [
                        serde_json::json!({
                            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                            "metadata": {"name": format!("repo-{i:03}"), "namespace": ns},
                            "spec": {"url": "https://git.example/app.git", "interval": "10m",
                                     "ref": {"branch": "main"}},
                        }),
                        serde_json::json!({
                            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                            "metadata": {"name": format!("app-{i:03}"), "namespace": ns},
                            "spec": {"interval": "10m", "path": "./apps", "prune": true,
                                     "sourceRef": {"kind": "GitRepository", "name": format!("repo-{i:03}")}},
                        }),
                    ]
                })
                .collect();
            let file = dir.join(format!("{ns}.json"));
            std::fs::write(
                &file,
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
            )
            .unwrap();
            file
        })
        .collect();
    std::thread::scope(|scope| {
        for chunk in files.chunks(teams.div_ceil(4).max(1)) {
            scope.spawn(move || chunk.iter().for_each(|file| plane.apply_server_side(file)));
        }
    });
}

/// Applies `yaml` (RBAC for the test's users) as admin.
fn apply_yaml(plane: &ControlPlane, yaml: &str) {
    let file = temp_dir("rbac-").join("rbac.yaml");
    std::fs::write(&file, yaml).unwrap();
    plane.kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
}

/// Users with partial rights (client-certificate users; kubeconfigs from
/// [`ControlPlane::kubeconfig_for`]), through docs/rbac/gitops-view.yaml as it is:
/// - `tenant`: gitops-view in the first half of the `teams` namespaces (RoleBindings), and may
///   list namespaces;
/// - `isolated`: the same RoleBindings, nothing cluster-wide;
/// - `ks-only`: may list Kustomizations (and namespaces, CRDs) cluster-wide, nothing else.
pub fn grant_partial_rights(plane: &ControlPlane, teams: usize) {
    let rbac = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rbac/gitops-view.yaml");
    plane.kubectl_ok(&["apply", "-f", rbac.to_str().unwrap()]);
    let mut rbac = String::from(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: namespace-reader}\nrules:\n- {apiGroups: [''], resources: [namespaces], verbs: [get, list]}\n- {apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], verbs: [get, list]}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: kustomization-reader}\nrules:\n- {apiGroups: [kustomize.toolkit.fluxcd.io], resources: [kustomizations], verbs: [get, list, watch]}\n",
    );
    for (user, role) in [
        ("tenant", "namespace-reader"),
        ("ks-only", "namespace-reader"),
        ("ks-only", "kustomization-reader"),
    ] {
        rbac += &format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {user}-{role}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}\nsubjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}]\n"
        );
    }
    for t in 0..teams / 2 {
        rbac += &format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: view, namespace: team-{t:02}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gitops-view}}\nsubjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: tenant}}, {{apiGroup: rbac.authorization.k8s.io, kind: User, name: isolated}}]\n"
        );
    }
    apply_yaml(plane, &rbac);
}
