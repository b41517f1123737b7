//! Which Flux kinds this cluster serves, and at which (preferred) version, from one aggregated
//! discovery request, so a later Flux API bump needs no plugin change.

use kube::discovery::ApiResource;

use crate::cluster::connection::Connection;
use crate::cluster::discovery::Resources;
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
        let resources = Resources::discover_groups(connection).await?;
        let served = KINDS
            .iter()
            .filter_map(|kind| {
                let resource = resources.preferred(kind.group, kind.plural)?;
                Some(ServedKind {
                    kind,
                    resource: resource.clone(),
                })
            })
            .collect();
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
