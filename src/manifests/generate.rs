//! The install options applied to a bundle exactly as the flux CLI applies them: flux2's
//! `pkg/manifestgen/install` writes a kustomization (namespace, labels, RBAC name suffix,
//! node selector and pull-secret patches, controller argument patches, image rewrites) and
//! builds it with kustomize. Each step here is one of those transformations, on JSON values.

use serde_json::{Value, json};

use super::error::{Error, Result};
use super::{Bundle, DEFAULT_NAMESPACE, InstallOptions, Manifests};

/// Kinds that live outside namespaces (kustomize sets no namespace on them).
const CLUSTER_SCOPED: [&str; 10] = [
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The objects for `options`, in the order flux writes them: Namespace, network policies,
/// RBAC, then each component's objects.
pub fn generate(bundle: &Bundle, options: &InstallOptions) -> Result<Manifests> {
    let generator = Generator { bundle, options };
    let mut objects = vec![namespace_object(&options.namespace)];
    if options.network_policy {
        objects.extend(bundle.policies.iter().cloned());
    }
    objects.extend(generator.rbac());
    for component in &options.components {
        let part = bundle
            .component(component)
            .ok_or_else(|| Error::ManifestsMissingComponent {
                origin: bundle.origin.clone(),
                component: component.clone(),
            })?;
        objects.extend(part.iter().cloned());
    }
    for object in &mut objects {
        generator.set_namespace(object);
        if object["kind"] == "Deployment" {
            generator.patch_deployment(object)?;
        }
        generator.add_labels(object);
        sort_keys(object);
    }
    Ok(Manifests {
        version: bundle.version.clone(),
        components: options.components.clone(),
        objects,
    })
}

struct Generator<'a> {
    bundle: &'a Bundle,
    options: &'a InstallOptions,
}

impl Generator<'_> {
    /// flux's `roles` kustomization: the release's RBAC with `-<namespace>` appended to every
    /// name (and to references between them), and the ServiceAccount namespace substituted.
    fn rbac(&self) -> Vec<Value> {
        let namespace = &self.options.namespace;
        let suffix = |name: &str| format!("{name}-{namespace}");
        let renamed: Vec<(String, String)> = self
            .bundle
            .rbac
            .iter()
            .filter_map(|o| Some((o["kind"].as_str()?.to_string(), name(o)?.to_string())))
            .collect();
        self.bundle
            .rbac
            .iter()
            .map(|object| {
                let mut object = object.clone();
                // flux replaces the default namespace textually in rbac.yaml, because kustomize
                // does not set it on ClusterRoleBinding subjects.
                if namespace != DEFAULT_NAMESPACE {
                    replace_text(&mut object, DEFAULT_NAMESPACE, namespace);
                }
                if let Some(name) = name(&object).map(str::to_string) {
                    object["metadata"]["name"] = json!(suffix(&name));
                }
                if let Some(role_ref) = object.get_mut("roleRef")
                    && let (Some(kind), Some(name)) =
                        (role_ref["kind"].as_str(), role_ref["name"].as_str())
                    && renamed.iter().any(|(k, n)| k == kind && n == name)
                {
                    role_ref["name"] = json!(suffix(name));
                }
                object
            })
            .collect()
    }

    /// kustomize's namespace transformer: namespaced objects, subjects named `default`, and
    /// CRD conversion webhooks.
    fn set_namespace(&self, object: &mut Value) {
        let namespace = json!(self.options.namespace);
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        if !CLUSTER_SCOPED.contains(&kind.as_str())
            && let Some(metadata) = object["metadata"].as_object_mut()
        {
            metadata.insert("namespace".into(), namespace.clone());
        }
        if (kind == "RoleBinding" || kind == "ClusterRoleBinding")
            && let Some(subjects) = object["subjects"].as_array_mut()
        {
            for subject in subjects {
                if subject["name"] == "default"
                    && let Some(subject) = subject.as_object_mut()
                {
                    subject.insert("namespace".into(), namespace.clone());
                }
            }
        }
        if kind == "CustomResourceDefinition"
            && let Some(service) =
                object.pointer_mut("/spec/conversion/webhook/clientConfig/service")
            && let Some(service) = service.as_object_mut()
        {
            service.insert("namespace".into(), namespace);
        }
    }

    /// flux's labels transformer: instance, version and part-of on every object, and on the
    /// Deployments' pod templates.
    fn add_labels(&self, object: &mut Value) {
        let labels = [
            (
                "app.kubernetes.io/instance",
                self.options.namespace.as_str(),
            ),
            ("app.kubernetes.io/version", self.bundle.version.as_str()),
            ("app.kubernetes.io/part-of", "flux"),
        ];
        let is_deployment = object["kind"] == "Deployment";
        set_labels(object.pointer_mut("/metadata"), &labels);
        if is_deployment {
            set_labels(object.pointer_mut("/spec/template/metadata"), &labels);
        }
    }

    /// flux's node-selector patch, the controller argument patches, the source-watcher
    /// feature gate, and the image rewrite.
    fn patch_deployment(&self, deployment: &mut Value) -> Result<()> {
        let options = self.options;
        let name = name(deployment).unwrap_or_default().to_string();
        let pod = deployment
            .pointer_mut("/spec/template/spec")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| self.shape_error("the node selector", &name, "no pod template"))?;

        let selector = pod.entry("nodeSelector").or_insert_with(|| json!({}));
        if let Some(selector) = selector.as_object_mut() {
            selector.insert("kubernetes.io/os".into(), json!("linux"));
        }
        if let Some(secret) = &options.image_pull_secret {
            let secrets = pod.entry("imagePullSecrets").or_insert_with(|| json!([]));
            if let Some(secrets) = secrets.as_array_mut()
                && !secrets.iter().any(|s| s["name"] == secret.as_str())
            {
                secrets.push(json!({ "name": secret }));
            }
        }
        if !options.toleration_keys.is_empty() {
            let tolerations: Vec<Value> = options
                .toleration_keys
                .iter()
                .map(|key| json!({ "key": key, "operator": "Exists" }))
                .collect();
            pod.insert("tolerations".into(), Value::Array(tolerations));
        }

        let selected = |c: &str| options.components.iter().any(|s| s == c);
        if selected(&name) {
            for (index, value) in self.controller_args(&name) {
                let arg = deployment
                    .pointer_mut(&format!("/spec/template/spec/containers/0/args/{index}"))
                    .ok_or_else(|| {
                        self.shape_error(
                            "the controller arguments",
                            &name,
                            &format!("its first container has no argument {index}"),
                        )
                    })?;
                *arg = json!(value);
            }
        }
        if selected("source-watcher")
            && (name == "kustomize-controller" || name == "helm-controller")
            && let Some(args) = deployment
                .pointer_mut("/spec/template/spec/containers/0/args")
                .and_then(Value::as_array_mut)
        {
            args.push(json!("--feature-gates=ExternalArtifact=true"));
        }
        if !options.registry.is_empty() {
            self.rewrite_images(deployment);
        }
        Ok(())
    }

    /// The argument replacements of flux's kustomization template, by position.
    fn controller_args(&self, component: &str) -> Vec<(usize, String)> {
        let options = self.options;
        let watch = format!("--watch-all-namespaces={}", options.watch_all_namespaces);
        let log_level = format!("--log-level={}", options.log_level);
        let events_addr = if options
            .components
            .iter()
            .any(|c| c == "notification-controller")
        {
            // Fully qualified, so that `.cluster.local` in no_proxy keeps it off HTTP proxies.
            format!(
                "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc.{}./",
                options.cluster_domain
            )
        } else {
            "--events-addr=".to_string()
        };
        match component {
            "notification-controller" => vec![(0, watch), (1, log_level)],
            "source-controller" | "source-watcher" => vec![
                (0, events_addr),
                (1, watch),
                (2, log_level),
                (
                    6,
                    format!(
                        "--storage-adv-addr={component}.$(RUNTIME_NAMESPACE).svc.{}.",
                        options.cluster_domain
                    ),
                ),
            ],
            _ => vec![(0, events_addr), (1, watch), (2, log_level)],
        }
    }

    /// kustomize's `images` for `fluxcd/<component>`: the component images come from
    /// `--registry`, tag or digest kept. Images from another registry (local manifests of a
    /// mirror) are matched by their last path segment, as the flux CLI does not do.
    fn rewrite_images(&self, deployment: &mut Value) {
        let registry = &self.options.registry;
        for list in ["containers", "initContainers"] {
            let Some(containers) = deployment
                .pointer_mut(&format!("/spec/template/spec/{list}"))
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for container in containers {
                let Some(image) = container["image"].as_str() else {
                    continue;
                };
                let (repository, reference) = split_image(image);
                let component = repository.rsplit('/').next().unwrap_or_default();
                if self.options.components.iter().any(|c| c == component) {
                    container["image"] = json!(format!("{registry}/{component}{reference}"));
                }
            }
        }
    }

    fn shape_error(&self, option: &'static str, name: &str, cause: &str) -> Error {
        Error::ManifestShape {
            option,
            object: format!("Deployment \"{name}\""),
            origin: self.bundle.origin.clone(),
            cause: cause.to_string(),
        }
    }
}

/// flux's namespace template.
fn namespace_object(namespace: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "labels": {
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/warn-version": "latest",
            },
        },
    })
}

fn name(object: &Value) -> Option<&str> {
    object["metadata"]["name"].as_str()
}

fn set_labels(metadata: Option<&mut Value>, labels: &[(&str, &str)]) {
    let Some(metadata) = metadata.and_then(Value::as_object_mut) else {
        return;
    };
    let existing = metadata.entry("labels").or_insert_with(|| json!({}));
    if existing.is_null() {
        *existing = json!({});
    }
    if let Some(existing) = existing.as_object_mut() {
        for (key, value) in labels {
            existing.insert((*key).to_string(), json!(value));
        }
    }
}

/// `repo[:tag][@digest]` split into the repository and the rest (`:tag`, `@digest`).
fn split_image(image: &str) -> (&str, &str) {
    let end = image.find('@').unwrap_or(image.len());
    let last_slash = image[..end].rfind('/').map_or(0, |i| i + 1);
    let tag = image[last_slash..end].find(':').map(|i| i + last_slash);
    let split = tag.unwrap_or(end);
    image.split_at(split)
}

/// Replaces `from` by `to` in every string and key, like flux's `bytes.ReplaceAll` on rbac.yaml.
fn replace_text(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_text(v, from, to)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                replace_text(&mut v, from, to);
                map.insert(key.replace(from, to), v);
            }
        }
        _ => {}
    }
}

/// Keys in byte order at every level, as kustomize writes them; this makes the output
/// independent of how the input files were ordered.
fn sort_keys(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, mut v) in entries {
                sort_keys(&mut v);
                map.insert(key, v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn deployment(name: &str, args: &[&str]) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/component": name}},
            "spec": {"template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "manager", "args": args, "image": format!("fluxcd/{name}:v1.0.0")}]}
            }}
        })
    }

    fn bundle() -> Bundle {
        let source_args = [
            "--events-addr=x",
            "--watch-all-namespaces",
            "--log-level=info",
            "--log-encoding=json",
            "--enable-leader-election",
            "--storage-path=/data",
            "--storage-adv-addr=x",
        ];
        let controller_args = [
            "--events-addr=x",
            "--watch-all-namespaces",
            "--log-level=info",
        ];
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gitrepositories.source.toolkit.fluxcd.io"}});
        let account = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "source-controller"}});
        Bundle {
            origin: "test".into(),
            version: "v2.9.4".into(),
            components: vec![
                (
                    "source-controller".into(),
                    vec![crd, account, deployment("source-controller", &source_args)],
                ),
                (
                    "kustomize-controller".into(),
                    vec![deployment("kustomize-controller", &controller_args)],
                ),
                (
                    "helm-controller".into(),
                    vec![deployment("helm-controller", &controller_args)],
                ),
                (
                    "notification-controller".into(),
                    vec![deployment(
                        "notification-controller",
                        &["--watch-all-namespaces", "--log-level=info"],
                    )],
                ),
                (
                    "source-watcher".into(),
                    vec![deployment("source-watcher", &source_args)],
                ),
            ],
            rbac: vec![
                json!({"kind": "ResourceQuota", "apiVersion": "v1", "metadata": {"name": "critical-pods"}}),
                json!({"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "crd-controller"}}),
                json!({"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "crd-controller"},
                       "roleRef": {"kind": "ClusterRole", "name": "crd-controller"},
                       "subjects": [{"kind": "ServiceAccount", "name": "source-controller", "namespace": "flux-system"}]}),
                json!({"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "cluster-reconciler"},
                       "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}),
            ],
            policies: vec![
                json!({"kind": "NetworkPolicy", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": "allow-egress"}}),
            ],
        }
    }

    fn options() -> InstallOptions {
        InstallOptions::for_tests()
    }

    fn find<'a>(m: &'a Manifests, kind: &str, name: &str) -> &'a Value {
        m.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    fn args(m: &Manifests, name: &str) -> Vec<String> {
        serde_json::from_value(
            find(m, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["args"]
                .clone(),
        )
        .unwrap()
    }

    #[test]
    fn defaults_order_namespace_labels_selector_and_images() {
        let m = generate(&bundle(), &options()).unwrap();
        let kinds: Vec<&str> = m
            .objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            &kinds[..6],
            [
                "Namespace",
                "NetworkPolicy",
                "ResourceQuota",
                "ClusterRole",
                "ClusterRoleBinding",
                "ClusterRoleBinding"
            ]
        );
        assert_eq!(m.objects.len(), 1 + 1 + 4 + 3 + 3, "watcher not selected");
        let ns = &m.objects[0];
        assert_eq!(ns["metadata"]["name"], "flux-system");
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/warn"],
            "restricted"
        );
        let crd = find(
            &m,
            "CustomResourceDefinition",
            "gitrepositories.source.toolkit.fluxcd.io",
        );
        assert!(crd["metadata"].get("namespace").is_none(), "cluster-scoped");
        assert_eq!(
            crd["metadata"]["labels"]["app.kubernetes.io/version"],
            "v2.9.4"
        );
        let source = find(&m, "Deployment", "source-controller");
        assert_eq!(source["metadata"]["namespace"], "flux-system");
        for labels in [
            &source["metadata"]["labels"],
            &source["spec"]["template"]["metadata"]["labels"],
        ] {
            assert_eq!(labels["app.kubernetes.io/part-of"], "flux");
            assert_eq!(labels["app.kubernetes.io/instance"], "flux-system");
            assert_eq!(labels["app.kubernetes.io/version"], "v2.9.4");
        }
        let pod = &source["spec"]["template"]["spec"];
        assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
        assert!(pod.get("imagePullSecrets").is_none() && pod.get("tolerations").is_none());
        assert_eq!(
            pod["containers"][0]["image"],
            "ghcr.io/fluxcd/source-controller:v1.0.0"
        );
        assert_eq!(
            args(&m, "source-controller")[..3],
            [
                "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc.cluster.local./",
                "--watch-all-namespaces=true",
                "--log-level=info"
            ]
        );
        assert_eq!(
            args(&m, "source-controller")[6],
            "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."
        );
        assert_eq!(
            args(&m, "notification-controller"),
            ["--watch-all-namespaces=true", "--log-level=info"]
        );
        let keys: Vec<&String> = source.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["apiVersion", "kind", "metadata", "spec"],
            "keys sorted like kustomize"
        );
    }

    #[test]
    fn namespace_suffixes_rbac_and_moves_its_service_accounts() {
        let m = generate(
            &bundle(),
            &InstallOptions {
                namespace: "gitops".into(),
                ..options()
            },
        )
        .unwrap();
        assert_eq!(m.objects[0]["metadata"]["name"], "gitops");
        let binding = find(&m, "ClusterRoleBinding", "crd-controller-gitops");
        assert_eq!(binding["roleRef"]["name"], "crd-controller-gitops");
        assert_eq!(binding["subjects"][0]["namespace"], "gitops");
        assert_eq!(
            find(&m, "ClusterRoleBinding", "cluster-reconciler-gitops")["roleRef"]["name"],
            "cluster-admin"
        );
        assert_eq!(
            find(&m, "ResourceQuota", "critical-pods-gitops")["metadata"]["namespace"],
            "gitops"
        );
        assert_eq!(
            find(&m, "Deployment", "helm-controller")["metadata"]["labels"]["app.kubernetes.io/instance"],
            "gitops"
        );
        assert!(
            find(&m, "ClusterRole", "crd-controller-gitops")
                .get("roleRef")
                .is_none()
        );
    }

    #[test]
    fn network_policies_can_be_left_out() {
        let m = generate(
            &bundle(),
            &InstallOptions {
                network_policy: false,
                ..options()
            },
        )
        .unwrap();
        assert!(m.objects.iter().all(|o| o["kind"] != "NetworkPolicy"));
    }

    #[test]
    fn watch_log_level_and_cluster_domain_go_into_the_arguments() {
        let o = InstallOptions {
            watch_all_namespaces: false,
            log_level: "debug".into(),
            cluster_domain: "example.internal".into(),
            ..options()
        };
        let m = generate(&bundle(), &o).unwrap();
        assert_eq!(
            args(&m, "kustomize-controller"),
            [
                "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc.example.internal./",
                "--watch-all-namespaces=false",
                "--log-level=debug"
            ]
        );
        assert_eq!(
            args(&m, "source-controller")[6],
            "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.example.internal."
        );
        assert_eq!(
            args(&m, "notification-controller"),
            ["--watch-all-namespaces=false", "--log-level=debug"]
        );
    }

    #[test]
    fn without_notification_controller_events_go_nowhere() {
        let o = InstallOptions {
            components: vec!["source-controller".into(), "kustomize-controller".into()],
            ..options()
        };
        let m = generate(&bundle(), &o).unwrap();
        assert_eq!(args(&m, "kustomize-controller")[0], "--events-addr=");
        assert_eq!(m.components, ["source-controller", "kustomize-controller"]);
    }

    #[test]
    fn pull_secret_and_tolerations_patch_every_deployment() {
        let o = InstallOptions {
            image_pull_secret: Some("regcred".into()),
            registry_credentials: Some(("u".into(), SecretString::from("p"))),
            toleration_keys: vec!["a".into(), "b".into()],
            ..options()
        };
        let m = generate(&bundle(), &o).unwrap();
        for d in m.objects.iter().filter(|o| o["kind"] == "Deployment") {
            let pod = &d["spec"]["template"]["spec"];
            assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
            assert_eq!(
                pod["tolerations"],
                json!([{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}])
            );
        }
        assert!(
            m.objects.iter().all(|o| o["kind"] != "Secret"),
            "credentials never in the manifests"
        );
    }

    #[test]
    fn source_watcher_turns_on_external_artifacts() {
        let mut o = options();
        o.components.push("source-watcher".into());
        let m = generate(&bundle(), &o).unwrap();
        for name in ["kustomize-controller", "helm-controller"] {
            assert_eq!(
                args(&m, name).last().unwrap(),
                "--feature-gates=ExternalArtifact=true"
            );
        }
        assert_eq!(
            args(&m, "source-watcher")[6],
            "--storage-adv-addr=source-watcher.$(RUNTIME_NAMESPACE).svc.cluster.local."
        );
        assert!(
            !args(&m, "source-controller")
                .iter()
                .any(|a| a.starts_with("--feature-gates"))
        );
    }

    #[test]
    fn registry_rewrites_component_images_keeping_tags_and_digests() {
        let m = generate(
            &bundle(),
            &InstallOptions {
                registry: "mirror.example:5000/flux".into(),
                ..options()
            },
        )
        .unwrap();
        assert_eq!(
            find(&m, "Deployment", "helm-controller")["spec"]["template"]["spec"]["containers"][0]
                ["image"],
            "mirror.example:5000/flux/helm-controller:v1.0.0"
        );
        let m = generate(
            &bundle(),
            &InstallOptions {
                registry: String::new(),
                ..options()
            },
        )
        .unwrap();
        assert_eq!(
            find(&m, "Deployment", "helm-controller")["spec"]["template"]["spec"]["containers"][0]
                ["image"],
            "fluxcd/helm-controller:v1.0.0"
        );
        assert_eq!(
            split_image("ghcr.io/fluxcd/x:v1@sha256:ab"),
            ("ghcr.io/fluxcd/x", ":v1@sha256:ab")
        );
        assert_eq!(split_image("localhost:5000/x"), ("localhost:5000/x", ""));
        assert_eq!(split_image("x@sha256:ab"), ("x", "@sha256:ab"));
    }

    #[test]
    fn missing_components_and_foreign_shapes_are_refused_by_name() {
        let mut b = bundle();
        b.components.retain(|(n, _)| n != "helm-controller");
        let err = generate(&b, &options()).unwrap_err().to_string();
        assert!(err.contains("no helm-controller"), "{err}");
        let mut b = bundle();
        b.components[1].1 = vec![deployment("kustomize-controller", &["--only-one"])];
        let err = generate(&b, &options()).unwrap_err().to_string();
        assert!(
            err.contains("Deployment \"kustomize-controller\"") && err.contains("argument 1"),
            "{err}"
        );
    }

    #[test]
    fn generation_is_deterministic() {
        let a = generate(&bundle(), &options()).unwrap();
        assert_eq!(a, generate(&bundle(), &options()).unwrap());
        assert_eq!(
            a.to_yaml().unwrap(),
            generate(&bundle(), &options()).unwrap().to_yaml().unwrap()
        );
    }
}
