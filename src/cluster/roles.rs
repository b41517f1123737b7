//! The ClusterRoles the README offers for each group of commands (the files in docs/rbac/,
//! compiled in), and which of them grants a right that a 403 answer said was missing, so the
//! forbidden message can name the role to ask for. The files are the one source: what the
//! message names is exactly what a cluster admin applies.

use serde::Deserialize;

/// The roles, smallest first: a 403 names the first one that grants the missing right.
const ROLES: [(&str, &str); 4] = [
    (
        "gitops-view",
        include_str!("../../docs/rbac/gitops-view.yaml"),
    ),
    (
        "gitops-view-secrets",
        include_str!("../../docs/rbac/gitops-view-secrets.yaml"),
    ),
    (
        "gitops-operate",
        include_str!("../../docs/rbac/gitops-operate.yaml"),
    ),
    (
        "gitops-admin",
        include_str!("../../docs/rbac/gitops-admin.yaml"),
    ),
];

/// One right, as RBAC checks it: `patch` on `kustomizations` in API group
/// `kustomize.toolkit.fluxcd.io` (the core group is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Right {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub namespace: Option<String>,
}

impl Right {
    /// The right a 403 message says was missing: Kubernetes words it as `User "u" cannot
    /// <verb> resource "<resource>" in API group "<group>"[ in the namespace "<ns>"]`.
    pub fn from_forbidden_message(message: &str) -> Option<Right> {
        let (_, rest) = message.split_once(" cannot ")?;
        let (verb, rest) = rest.split_once(" resource \"")?;
        let (resource, rest) = rest.split_once('"')?;
        let group = quoted_after(rest, "in API group \"")?;
        Some(Right {
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            namespace: quoted_after(rest, "in the namespace \"").map(str::to_string),
        })
    }
}

/// The text between `prefix` and the next `"`.
fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let (_, rest) = text.split_once(prefix)?;
    rest.split_once('"').map(|(value, _)| value)
}

#[derive(Deserialize)]
struct ClusterRole {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    api_groups: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
}

impl Rule {
    /// RBAC's own matching: `*` matches any verb, group or resource.
    fn allows(&self, right: &Right) -> bool {
        let matches = |values: &[String], wanted: &str| {
            values.iter().any(|value| value == "*" || value == wanted)
        };
        matches(&self.verbs, &right.verb)
            && matches(&self.api_groups, &right.group)
            && matches(&self.resources, &right.resource)
    }
}

/// The rules of one of the roles above; none when its file does not parse (a test keeps them
/// parsing).
fn rules(text: &str) -> Vec<Rule> {
    serde_saphyr::from_str::<ClusterRole>(text)
        .map(|role| role.rules)
        .unwrap_or_default()
}

/// The smallest of the plugin's ClusterRoles that grants `right`, if any does.
pub fn role_granting(right: &Right) -> Option<&'static str> {
    ROLES
        .iter()
        .find(|(_, text)| rules(text).iter().any(|rule| rule.allows(right)))
        .map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn right(verb: &str, group: &str, resource: &str) -> Right {
        Right {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            namespace: None,
        }
    }

    #[test]
    fn every_role_file_parses_names_itself_and_has_rules() {
        for (name, text) in ROLES {
            let value: serde_json::Value = serde_saphyr::from_str(text).unwrap();
            assert_eq!(value["kind"], "ClusterRole", "{name}");
            assert_eq!(value["metadata"]["name"], name);
            assert!(!rules(text).is_empty(), "{name}");
        }
    }

    #[test]
    fn the_smallest_role_that_grants_a_right_is_named() {
        let cases = [
            (
                right("list", "kustomize.toolkit.fluxcd.io", "kustomizations"),
                Some("gitops-view"),
            ),
            (
                right("watch", "source.toolkit.fluxcd.io", "gitrepositories"),
                Some("gitops-view"),
            ),
            (right("list", "", "events"), Some("gitops-view")),
            (
                right("get", "apiextensions.k8s.io", "customresourcedefinitions"),
                Some("gitops-view"),
            ),
            (right("list", "apps", "deployments"), Some("gitops-view")),
            (right("get", "", "secrets"), Some("gitops-view-secrets")),
            (
                right("patch", "helm.toolkit.fluxcd.io", "helmreleases"),
                Some("gitops-operate"),
            ),
            (
                right("create", "kustomize.toolkit.fluxcd.io", "kustomizations"),
                Some("gitops-admin"),
            ),
            (
                right(
                    "create",
                    "apiextensions.k8s.io",
                    "customresourcedefinitions",
                ),
                Some("gitops-admin"),
            ),
            (
                right("escalate", "rbac.authorization.k8s.io", "clusterroles"),
                Some("gitops-admin"),
            ),
            (right("patch", "", "secrets"), Some("gitops-admin")),
            // Kinds the plugin never writes: no role of the plugin's grants them.
            (right("patch", "", "nodes"), None),
            (right("list", "batch", "jobs"), None),
        ];
        for (right, expected) in cases {
            assert_eq!(role_granting(&right), expected, "{right:?}");
        }
    }

    #[test]
    fn operate_and_admin_include_what_view_allows() {
        let view = rules(ROLES[0].1);
        for bigger in [ROLES[2].1, ROLES[3].1] {
            let bigger = rules(bigger);
            for rule in &view {
                for group in &rule.api_groups {
                    for resource in &rule.resources {
                        for verb in &rule.verbs {
                            let wanted = right(verb, group, resource);
                            assert!(bigger.iter().any(|r| r.allows(&wanted)), "{wanted:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_missing_right_is_read_from_the_servers_message() {
        let message = "kustomizations.kustomize.toolkit.fluxcd.io \"apps\" is forbidden: User \"viewer\" cannot patch resource \"kustomizations\" in API group \"kustomize.toolkit.fluxcd.io\" in the namespace \"apps\"";
        assert_eq!(
            Right::from_forbidden_message(message),
            Some(Right {
                verb: "patch".into(),
                group: "kustomize.toolkit.fluxcd.io".into(),
                resource: "kustomizations".into(),
                namespace: Some("apps".into()),
            })
        );
        let cluster_wide = "namespaces is forbidden: User \"nobody\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope";
        assert_eq!(
            Right::from_forbidden_message(cluster_wide),
            Some(right("list", "", "namespaces"))
        );
        assert_eq!(Right::from_forbidden_message("forbidden"), None);
    }
}
