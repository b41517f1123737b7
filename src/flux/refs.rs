//! References between Flux objects: which object feeds another (a Kustomization's GitRepository,
//! a HelmRelease's chart, an ImagePolicy's ImageRepository), read from the spec field the kinds
//! table names, so `status` (the SOURCE column) and `reconcile --with-source` agree.

use kube::api::DynamicObject;

use crate::flux::{FluxKind, HELM_CHART, SourceRef};

/// Another object, as a spec names it: the namespace only when the reference gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

impl ObjectRef {
    /// `Kind/name`, or `Kind/namespace/name` when the object lives in another namespace than
    /// `own_namespace`.
    pub fn display(&self, own_namespace: Option<&str>) -> String {
        match self.namespace.as_deref() {
            Some(namespace) if Some(namespace) != own_namespace => {
                format!("{}/{namespace}/{}", self.kind, self.name)
            }
            _ => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// What the object's spec names as its input, where its kind has one.
///
/// For a HelmRelease with an inline chart template this is the chart's repository (what a user
/// declared); [`reconciled_source`] says which object reconciles for it.
pub fn source_ref(kind: &FluxKind, object: &DynamicObject) -> Option<SourceReference> {
    let spec = &object.data["spec"];
    let (reference, default_kind) = match kind.source {
        SourceRef::Spec => (&spec["sourceRef"], ""),
        SourceRef::HelmChart if spec["chartRef"].is_object() => (&spec["chartRef"], ""),
        SourceRef::HelmChart => (&spec["chart"]["spec"]["sourceRef"], ""),
        SourceRef::ImageRepository => (&spec["imageRepositoryRef"], "ImageRepository"),
        SourceRef::Provider => (&spec["providerRef"], "Provider"),
        SourceRef::None => return None,
    };
    let text = |field: &str| reference[field].as_str().map(str::to_string);
    Some(
        match (
            text("kind").or_else(|| non_empty(default_kind)),
            text("name"),
        ) {
            (Some(kind), Some(name)) => SourceReference::Named(ObjectRef {
                kind,
                name,
                namespace: text("namespace"),
            }),
            _ => SourceReference::Incomplete,
        },
    )
}

/// A kind's reference to its input, as found in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceReference {
    Named(ObjectRef),
    /// The field is missing or lacks a kind or name (an object the API server let through
    /// without its CRD's validation, or a future schema).
    Incomplete,
}

/// The object to reconcile first for `reconcile --with-source`: the source itself, except for a
/// HelmRelease with an inline chart template, whose chart helm-controller keeps as the
/// HelmChart `<namespace>-<name>` in the repository's namespace.
pub fn reconciled_source(kind: &FluxKind, object: &DynamicObject) -> Option<SourceReference> {
    let reference = source_ref(kind, object)?;
    let inline_chart =
        kind.source == SourceRef::HelmChart && !object.data["spec"]["chartRef"].is_object();
    Some(match reference {
        SourceReference::Named(chart_source) if inline_chart => {
            let own = object.metadata.namespace.as_deref().unwrap_or_default();
            let name = object.metadata.name.as_deref().unwrap_or_default();
            SourceReference::Named(ObjectRef {
                kind: HELM_CHART.kind.to_string(),
                name: format!("{own}-{name}"),
                namespace: chart_source.namespace,
            })
        }
        other => other,
    })
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flux::{HELM_RELEASE, KUSTOMIZATION};

    fn object(kind: &str, spec: serde_json::Value) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "x/v1", "kind": kind,
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": spec
        }))
        .unwrap()
    }

    fn named(kind: &str, name: &str, namespace: Option<&str>) -> Option<SourceReference> {
        Some(SourceReference::Named(ObjectRef {
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.map(str::to_string),
        }))
    }

    #[test]
    fn a_kustomization_reconciles_the_source_it_names() {
        let ks = object(
            "Kustomization",
            serde_json::json!({"sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}}),
        );
        let expected = named("GitRepository", "flux-system", Some("flux-system"));
        assert_eq!(source_ref(&KUSTOMIZATION, &ks), expected);
        assert_eq!(reconciled_source(&KUSTOMIZATION, &ks), expected);
    }

    #[test]
    fn a_helm_release_with_an_inline_chart_reconciles_its_helm_chart() {
        let hr = object(
            "HelmRelease",
            serde_json::json!({"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}}}}),
        );
        assert_eq!(
            source_ref(&HELM_RELEASE, &hr),
            named("HelmRepository", "podinfo", Some("flux-system"))
        );
        assert_eq!(
            reconciled_source(&HELM_RELEASE, &hr),
            named("HelmChart", "apps-podinfo", Some("flux-system"))
        );
    }

    #[test]
    fn a_helm_release_with_a_chart_ref_reconciles_that() {
        let hr = object(
            "HelmRelease",
            serde_json::json!({"chartRef": {"kind": "OCIRepository", "name": "podinfo"}}),
        );
        let expected = named("OCIRepository", "podinfo", None);
        assert_eq!(source_ref(&HELM_RELEASE, &hr), expected);
        assert_eq!(reconciled_source(&HELM_RELEASE, &hr), expected);
    }

    #[test]
    fn a_reference_without_a_name_is_incomplete() {
        let ks = object("Kustomization", serde_json::json!({}));
        assert_eq!(
            reconciled_source(&KUSTOMIZATION, &ks),
            Some(SourceReference::Incomplete)
        );
    }

    #[test]
    fn references_into_other_namespaces_show_the_namespace() {
        let reference = ObjectRef {
            kind: "GitRepository".into(),
            name: "infra".into(),
            namespace: Some("flux-system".into()),
        };
        assert_eq!(
            reference.display(Some("apps")),
            "GitRepository/flux-system/infra"
        );
        assert_eq!(
            reference.display(Some("flux-system")),
            "GitRepository/infra"
        );
    }
}
