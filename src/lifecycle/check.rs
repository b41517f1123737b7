//! `kubectl gitops check`: whether a cluster can take Flux (`--pre`: Kubernetes version and the
//! permissions an install needs) and whether the installed Flux is healthy (controllers
//! available, CRDs established with no stored version left unserved, Flux version).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use serde::Serialize;

use crate::cluster::action::Action;
use crate::cluster::connection::Connection;
use crate::cluster::deployment::{Rollout, rollout};
use crate::error::Result;
use crate::flux::{self, labels};

/// Flux 2.9 supports Kubernetes 1.33 and later.
pub const MIN_KUBERNETES: (u64, u64) = (1, 33);

/// One verdict, as a line of output and a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `kubernetes version`, `source-controller`, a CRD name.
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Checks grouped under a heading, in the order they ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub title: &'static str,
    pub checks: Vec<Check>,
}

/// Whether every check in every section passed.
pub fn all_passed(sections: &[Section]) -> bool {
    sections.iter().all(|s| s.checks.iter().all(|c| c.ok))
}

/// What the API server must allow for an install: (verb, group, resource, namespaced).
const INSTALL_PERMISSIONS: &[(&str, &str, &str, bool)] = &[
    (
        "create",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        false,
    ),
    (
        "patch",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        false,
    ),
    ("create", "", "namespaces", false),
    ("create", "rbac.authorization.k8s.io", "clusterroles", false),
    (
        "create",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        false,
    ),
    ("bind", "rbac.authorization.k8s.io", "clusterroles", false),
    ("create", "apps", "deployments", true),
    ("create", "", "services", true),
    ("create", "", "serviceaccounts", true),
    ("create", "", "secrets", true),
    ("create", "networking.k8s.io", "networkpolicies", true),
];

/// Prerequisites: the server version and the permissions to install into `namespace`.
pub async fn prerequisites(connection: &Connection, namespace: &str) -> Result<Section> {
    let info = connection
        .call(
            Action::new("get", "/version"),
            connection.client.apiserver_version(),
        )
        .await?;
    let mut checks = vec![kubernetes_version_check(&info.git_version)];
    let reviews: Api<SelfSubjectAccessReview> = Api::all(connection.client.clone());
    for &(verb, group, resource, namespaced) in INSTALL_PERMISSIONS {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_string()),
                    group: Some(group.to_string()),
                    resource: Some(resource.to_string()),
                    namespace: namespaced.then(|| namespace.to_string()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let action = Action::new("create", "selfsubjectaccessreviews.authorization.k8s.io");
        let answer = connection
            .call(action, reviews.create(&PostParams::default(), &review))
            .await?;
        let allowed = answer.status.is_some_and(|s| s.allowed);
        let target = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        let scope = if namespaced {
            format!(" in namespace {namespace}")
        } else {
            String::new()
        };
        checks.push(Check {
            name: format!("can {verb} {target}{scope}"),
            ok: allowed,
            detail: if allowed {
                "allowed".to_string()
            } else {
                "denied: installing Flux needs cluster-admin rights; use a context with them"
                    .to_string()
            },
        });
    }
    Ok(Section {
        title: "prerequisites",
        checks,
    })
}

fn kubernetes_version_check(git_version: &str) -> Check {
    let parsed = parse_major_minor(git_version);
    let ok = parsed.is_some_and(|v| v >= MIN_KUBERNETES);
    let (major, minor) = MIN_KUBERNETES;
    Check {
        name: "kubernetes version".to_string(),
        ok,
        detail: match parsed {
            Some(_) if ok => format!("{git_version} >= {major}.{minor}"),
            Some(_) => format!(
                "{git_version} is older than {major}.{minor}, the oldest Kubernetes Flux 2.9 supports; upgrade the cluster"
            ),
            None => format!("cannot read the server version {git_version:?}"),
        },
    }
}

/// `(major, minor)` of a Kubernetes git version such as `v1.36.3` or `v1.33.1-gke.100`.
fn parse_major_minor(git_version: &str) -> Option<(u64, u64)> {
    let mut parts = git_version.trim_start_matches('v').split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The installed Flux: its version, the controllers in `namespace` and the CRDs.
pub async fn installation(connection: &Connection, namespace: &str) -> Result<Vec<Section>> {
    let install = flux::installed(connection).await?;
    let version = Check {
        name: "flux version".to_string(),
        ok: install.is_some(),
        detail: match &install {
            Some(i) => {
                let version = i.version.as_deref().unwrap_or("unknown");
                match &i.managed_by {
                    Some(tool) => format!("{version}, managed by {tool}"),
                    None => version.to_string(),
                }
            }
            None => "Flux is not installed; install it with kubectl gitops bootstrap git or kubectl gitops install".to_string(),
        },
    };
    let part_of_flux = ListParams::default().labels(&format!("{}=flux", labels::PART_OF));

    let deployments: Api<Deployment> = Api::namespaced(connection.client.clone(), namespace);
    let action = Action::new("list", "deployments.apps").in_namespace(namespace);
    let mut controllers: Vec<Check> = connection
        .call(action, deployments.list(&part_of_flux))
        .await?
        .items
        .iter()
        .map(controller_check)
        .collect();
    if controllers.is_empty() {
        controllers.push(Check {
            name: "controllers".to_string(),
            ok: false,
            detail: format!("no Flux controller Deployments in namespace {namespace}"),
        });
    }

    let crds: Api<CustomResourceDefinition> = Api::all(connection.client.clone());
    let action = Action::new("list", "customresourcedefinitions.apiextensions.k8s.io");
    let mut crd_checks: Vec<Check> = connection
        .call(action, crds.list(&part_of_flux))
        .await?
        .items
        .iter()
        .map(crd_check)
        .collect();
    crd_checks.sort_by(|a, b| a.name.cmp(&b.name));
    if crd_checks.is_empty() {
        crd_checks.push(Check {
            name: "crds".to_string(),
            ok: false,
            detail: "no Flux CRDs (label app.kubernetes.io/part-of=flux)".to_string(),
        });
    }
    Ok(vec![
        Section {
            title: "version",
            checks: vec![version],
        },
        Section {
            title: "controllers",
            checks: controllers,
        },
        Section {
            title: "crds",
            checks: crd_checks,
        },
    ])
}

fn controller_check(deployment: &Deployment) -> Check {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let images: Vec<String> = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| {
            p.containers
                .iter()
                .filter_map(|c| c.image.clone())
                .collect()
        })
        .unwrap_or_default();
    let (ok, detail) = match rollout(deployment) {
        Rollout::Available => (true, format!("available ({})", images.join(", "))),
        Rollout::InProgress(why) | Rollout::Failed(why) => (false, format!("not available: {why}")),
    };
    Check { name, ok, detail }
}

fn crd_check(crd: &CustomResourceDefinition) -> Check {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let status = crd.status.clone().unwrap_or_default();
    let established = status
        .conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    let served: Vec<&str> = crd
        .spec
        .versions
        .iter()
        .filter(|v| v.served)
        .map(|v| v.name.as_str())
        .collect();
    let stored = status.stored_versions.unwrap_or_default();
    let unserved: Vec<&String> = stored
        .iter()
        .filter(|v| !served.contains(&v.as_str()))
        .collect();
    let (ok, detail) = if !established {
        (false, "not Established".to_string())
    } else if !unserved.is_empty() {
        (
            false,
            format!(
                "stored versions {unserved:?} are no longer served; migrate the stored objects before upgrading"
            ),
        )
    } else {
        (true, format!("stored versions: {}", stored.join(", ")))
    };
    Check { name, ok, detail }
}

/// A cluster's checks in one row (fleet mode): the versions, the controllers, what failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// The server's version, as the `kubernetes version` check read it.
    pub kubernetes: Option<String>,
    /// Flux's version (`flux version` check), when installed.
    pub flux: Option<String>,
    /// Controllers available, of those found (not with `--pre`).
    pub controllers: Option<(usize, usize)>,
    pub passed: usize,
    pub total: usize,
    /// The names of the checks that failed.
    pub failed: Vec<String>,
}

/// Sums the sections up: the versions come from the checks that read them (their detail starts
/// with the version, see [`kubernetes_version_check`] and [`installation`]).
pub fn overview(sections: &[Section]) -> Overview {
    let checks = || sections.iter().flat_map(|s| &s.checks);
    let version_of = |name: &str| {
        checks()
            .find(|c| c.name == name && (c.ok || name == "kubernetes version"))
            .and_then(|c| c.detail.split([' ', ',']).next())
            .filter(|v| v.starts_with('v'))
            .map(str::to_string)
    };
    let controllers = sections.iter().find(|s| s.title == "controllers").map(|s| {
        let found = s.checks.iter().filter(|c| c.name != "controllers");
        let total = found.clone().count();
        (found.filter(|c| c.ok).count(), total)
    });
    Overview {
        kubernetes: version_of("kubernetes version"),
        flux: version_of("flux version"),
        controllers,
        passed: checks().filter(|c| c.ok).count(),
        total: checks().count(),
        failed: checks().filter(|c| !c.ok).map(|c| c.name.clone()).collect(),
    }
}

/// The per-cluster function of `check` (single cluster and fleet mode): every check of one cluster, in sections.
pub async fn check_cluster(
    connection: &Connection,
    namespace: &str,
    pre: bool,
) -> Result<Vec<Section>> {
    let mut sections = vec![prerequisites(connection, namespace).await?];
    if !pre {
        sections.extend(installation(connection, namespace).await?);
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overview_reads_the_versions_and_counts_the_checks() {
        let check = |name: &str, ok: bool, detail: &str| Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        };
        let sections = vec![
            Section {
                title: "prerequisites",
                checks: vec![check("kubernetes version", true, "v1.36.3 >= 1.33")],
            },
            Section {
                title: "version",
                checks: vec![check(
                    "flux version",
                    true,
                    "v2.9.4, managed by flux-operator",
                )],
            },
            Section {
                title: "controllers",
                checks: vec![
                    check("source-controller", true, "available"),
                    check("helm-controller", false, "not available"),
                ],
            },
        ];
        let overview = overview(&sections);
        assert_eq!(overview.kubernetes.as_deref(), Some("v1.36.3"));
        assert_eq!(overview.flux.as_deref(), Some("v2.9.4"));
        assert_eq!(overview.controllers, Some((1, 2)));
        assert_eq!((overview.passed, overview.total), (3, 4));
        assert_eq!(overview.failed, vec!["helm-controller"]);

        let missing = vec![Section {
            title: "version",
            checks: vec![check(
                "flux version",
                false,
                "Flux is not installed; install it",
            )],
        }];
        assert_eq!(super::overview(&missing).flux, None);
    }

    #[test]
    fn kubernetes_versions_are_compared_by_major_and_minor() {
        assert!(kubernetes_version_check("v1.33.0").ok);
        assert!(kubernetes_version_check("v1.36.3").ok);
        assert!(kubernetes_version_check("v1.34.1-gke.1200").ok);
        let old = kubernetes_version_check("v1.32.9");
        assert!(!old.ok);
        assert!(old.detail.contains("older than 1.33"), "{}", old.detail);
        assert!(!kubernetes_version_check("garbage").ok);
        assert!(kubernetes_version_check("v2.0.0").ok);
    }
}
