//! The install options applied to a bundle exactly as the flux CLI applies them: flux2's
//! `pkg/manifestgen/install` writes a kustomization (namespace, labels, RBAC name suffix,
//! node selector and pull-secret patches, controller argument patches, image rewrites) and
//! builds it with kustomize. Each step here is one of those transformations, on JSON values.

use serde_json::{Value, json};

use super::{Bundle, DEFAULT_NAMESPACE, InstallOptions, Manifests};
use crate::error::{Error, Result};

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
