//! What the plugin asks the API server to do, named the way kubectl names it, so that every
//! API error message says which request failed.

use kube::discovery::ApiResource;

/// What the plugin was doing when the API server answered, e.g. `get customresourcedefinitions
/// "gitrepositories.source.toolkit.fluxcd.io"`. Part of every API error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub verb: String,
    pub resource: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

impl Action {
    pub fn new(verb: &str, resource: &str) -> Self {
        Self {
            verb: verb.to_string(),
            resource: resource.to_string(),
            name: None,
            namespace: None,
        }
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, " \"{name}\"")?;
        }
        if let Some(namespace) = &self.namespace {
            write!(f, " in namespace \"{namespace}\"")?;
        }
        Ok(())
    }
}

/// `plural.group` as kubectl names resources in messages (`kustomizations.kustomize.toolkit.fluxcd.io`).
pub fn qualified_plural(resource: &ApiResource) -> String {
    if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_verb_resource_name_and_namespace() {
        let action = Action::new("get", "kustomizations.kustomize.toolkit.fluxcd.io")
            .named("apps")
            .in_namespace("flux-system");
        assert_eq!(
            action.to_string(),
            "get kustomizations.kustomize.toolkit.fluxcd.io \"apps\" in namespace \"flux-system\""
        );
    }

    #[test]
    fn core_resources_have_no_group_suffix() {
        let secrets = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Secret".into(),
            plural: "secrets".into(),
        };
        assert_eq!(qualified_plural(&secrets), "secrets");
        let crds = ApiResource {
            group: "apiextensions.k8s.io".into(),
            version: "v1".into(),
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            plural: "customresourcedefinitions".into(),
        };
        assert_eq!(
            qualified_plural(&crds),
            "customresourcedefinitions.apiextensions.k8s.io"
        );
    }
}
