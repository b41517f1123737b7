//! Which Flux kinds this cluster serves, and at which version, from one aggregated discovery
//! request (Kubernetes >= 1.30), so a later Flux API bump needs no plugin change.

use kube::discovery::ApiResource;

use crate::cluster::action::Action;
use crate::cluster::connection::Connection;
use crate::error::{Error, Result};
use crate::flux::Error as FluxError;
use crate::flux::{FluxKind, KINDS};

/// A Flux kind the cluster serves, at its preferred version.
#[derive(Debug, Clone)]
pub struct ServedKind {
    pub kind: &'static FluxKind,
    pub resource: ApiResource,
}

/// The Flux kinds the cluster serves.
#[derive(Debug, Clone, Default)]
pub struct FluxApis {
    pub served: Vec<ServedKind>,
}

impl FluxApis {
    pub async fn discover(connection: &Connection) -> Result<FluxApis> {
        let groups = connection
            .call(
                Action::new("get", "/apis (aggregated discovery)"),
                connection.client.list_api_groups_aggregated(),
            )
            .await?;
        let mut served = Vec::new();
        for kind in KINDS {
            let Some(group) = groups
                .items
                .iter()
                .find(|g| g.metadata.as_ref().and_then(|m| m.name.as_deref()) == Some(kind.group))
            else {
                continue;
            };
            // Versions are listed in preference order; take the first that serves the kind.
            let version = group.versions.iter().find_map(|v| {
                let version = v.version.as_deref()?;
                v.resources
                    .iter()
                    .any(|r| r.resource.as_deref() == Some(kind.plural))
                    .then(|| version.to_string())
            });
            if let Some(version) = version {
                served.push(ServedKind {
                    kind,
                    resource: ApiResource {
                        group: kind.group.to_string(),
                        api_version: format!("{}/{}", kind.group, version),
                        version,
                        kind: kind.kind.to_string(),
                        plural: kind.plural.to_string(),
                    },
                });
            }
        }
        Ok(FluxApis { served })
    }

    pub fn get(&self, kind: &FluxKind) -> Option<&ServedKind> {
        self.served.iter().find(|s| s.kind.kind == kind.kind)
    }

    /// The served kind for `kind`, or the error a user should see when it is not served.
    pub fn require(&self, kind: &'static FluxKind) -> Result<&ServedKind> {
        self.get(kind).ok_or_else(|| {
            Error::Flux(if self.served.is_empty() {
                FluxError::FluxNotInstalled
            } else {
                FluxError::KindNotInstalled {
                    kind: kind.kind,
                    crd: kind.crd_name(),
                    controller: kind.controller,
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_kinds_say_whether_flux_or_one_controller_is_missing() {
        let ks = FluxKind::lookup("ks").unwrap();
        let none = FluxApis::default();
        assert!(matches!(
            none.require(ks),
            Err(Error::Flux(FluxError::FluxNotInstalled))
        ));
        assert!(
            none.require(ks)
                .unwrap_err()
                .to_string()
                .contains("Flux is not installed in this cluster")
        );

        let some = FluxApis {
            served: vec![ServedKind {
                kind: ks,
                resource: ks.api_resource(),
            }],
        };
        assert!(some.require(ks).is_ok());
        let err = some
            .require(FluxKind::lookup("hr").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the HelmRelease kind is not installed")
                && err.contains("helmreleases.helm.toolkit.fluxcd.io"),
            "{err}"
        );
    }
}
