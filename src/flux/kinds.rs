//! Flux's kinds as data: one table row per kind says where its API lives, how users
//! abbreviate it, and where its status keeps the facts commands show.
//!
//! See docs/flux-status.md for where each kind keeps its revision and source.

use kube::discovery::ApiResource;

/// One Flux kind: where its API lives, how users abbreviate it, and where its status keeps the
/// facts commands show. The version is the one Flux 2.9 serves; commands resolve the served
/// (preferred) version through discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FluxKind {
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub short_names: &'static [&'static str],
    pub controller: &'static str,
    pub revision: Revision,
    pub source: SourceRef,
    /// Whether the controller acts on `reconcile.fluxcd.io/requestedAt` (Alert and Provider are
    /// static objects without a reconcile loop).
    pub reconcilable: bool,
    /// Whether the controller also acts on `reconcile.fluxcd.io/forceAt` and `resetAt`
    /// (`reconcile --force/--reset`): helm-controller only.
    pub force_and_reset: bool,
    /// Whether objects of the kind can wait for others of the same kind (`spec.dependsOn`):
    /// Kustomization and HelmRelease.
    pub depends_on: bool,
}

/// Where a kind's current revision lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// `status.artifact.revision` (sources): "fetched revision".
    Artifact,
    /// `status.lastAppliedRevision` (Kustomization): "applied revision".
    LastApplied,
    /// `status.history[0].chartVersion`, else `status.lastAttemptedRevision` (HelmRelease).
    HelmHistory,
    /// `status.lastScanResult.latestTags[0]` (ImageRepository).
    LatestScannedTag,
    /// `status.latestRef.tag` (ImagePolicy).
    LatestRef,
    /// `status.lastPushCommit` (ImageUpdateAutomation).
    LastPushCommit,
    /// No revision (notification kinds).
    None,
}

/// Where a kind names the object it takes its input from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRef {
    /// `spec.sourceRef` (Kustomization, HelmChart, ImageUpdateAutomation).
    Spec,
    /// `spec.chartRef`, else `spec.chart.spec.sourceRef` (HelmRelease).
    HelmChart,
    /// `spec.imageRepositoryRef` (ImagePolicy).
    ImageRepository,
    /// `spec.providerRef` (Alert).
    Provider,
    None,
}

const SOURCE: &str = "source.toolkit.fluxcd.io";
const NOTIFICATION: &str = "notification.toolkit.fluxcd.io";
const IMAGE: &str = "image.toolkit.fluxcd.io";

pub const GIT_REPOSITORY: FluxKind = FluxKind {
    kind: "GitRepository",
    group: SOURCE,
    version: "v1",
    plural: "gitrepositories",
    short_names: &["gitrepo"],
    controller: "source-controller",
    revision: Revision::Artifact,
    source: SourceRef::None,
    reconcilable: true,
    force_and_reset: false,
    depends_on: false,
};

pub const HELM_CHART: FluxKind = FluxKind {
    kind: "HelmChart",
    group: SOURCE,
    version: "v1",
    plural: "helmcharts",
    short_names: &["hc"],
    controller: "source-controller",
    revision: Revision::Artifact,
    source: SourceRef::Spec,
    reconcilable: true,
    force_and_reset: false,
    depends_on: false,
};

pub const KUSTOMIZATION: FluxKind = FluxKind {
    kind: "Kustomization",
    group: "kustomize.toolkit.fluxcd.io",
    version: "v1",
    plural: "kustomizations",
    short_names: &["ks"],
    controller: "kustomize-controller",
    revision: Revision::LastApplied,
    source: SourceRef::Spec,
    reconcilable: true,
    force_and_reset: false,
    depends_on: true,
};

pub const HELM_RELEASE: FluxKind = FluxKind {
    kind: "HelmRelease",
    group: "helm.toolkit.fluxcd.io",
    version: "v2",
    plural: "helmreleases",
    short_names: &["hr"],
    controller: "helm-controller",
    revision: Revision::HelmHistory,
    source: SourceRef::HelmChart,
    reconcilable: true,
    force_and_reset: true,
    depends_on: true,
};

/// Every Flux kind, in the order listings show them.
pub const KINDS: &[FluxKind] = &[
    GIT_REPOSITORY,
    FluxKind {
        kind: "OCIRepository",
        group: SOURCE,
        version: "v1",
        plural: "ocirepositories",
        short_names: &["ocirepo"],
        controller: "source-controller",
        revision: Revision::Artifact,
        source: SourceRef::None,
        reconcilable: true,
        force_and_reset: false,
        depends_on: false,
    },
    FluxKind {
        kind: "HelmRepository",
        group: SOURCE,
        version: "v1",
        plural: "helmrepositories",
        short_names: &["helmrepo"],
        controller: "source-controller",
        revision: Revision::Artifact,
        source: SourceRef::None,
        reconcilable: true,
        force_and_reset: false,
        depends_on: false,
    },
    HELM_CHART,
    FluxKind {
        kind: "Bucket",
        group: SOURCE,
        version: "v1",
        plural: "buckets",
        short_names: &["bucket"],
        controller: "source-controller",
        revision: Revision::Artifact,
        source: SourceRef::None,
        reconcilable: true,
        force_and_reset: false,
        depends_on: false,
    },
    KUSTOMIZATION,
    HELM_RELEASE,
    FluxKind {
        kind: "Receiver",
        group: NOTIFICATION,
        version: "v1",
        plural: "receivers",
        short_names: &["receiver"],
        controller: "notification-controller",
        revision: Revision::None,
        source: SourceRef::None,
        reconcilable: true,
        force_and_reset: false,
        depends_on: false,
    },
    FluxKind {
        kind: "Alert",
        group: NOTIFICATION,
        version: "v1beta3",
        plural: "alerts",
        short_names: &["alert"],
        controller: "notification-controller",
        revision: Revision::None,
        source: SourceRef::Provider,
        reconcilable: false,
        force_and_reset: false,
        depends_on: false,
    },
    FluxKind {
        kind: "Provider",
        group: NOTIFICATION,
        version: "v1beta3",
        plural: "providers",
        short_names: &["provider"],
        controller: "notification-controller",
        revision: Revision::None,
        source: SourceRef::None,
        reconcilable: false,
        force_and_reset: false,
        depends_on: false,
    },
    FluxKind {
        kind: "ImageRepository",
        group: IMAGE,
        version: "v1",
        plural: "imagerepositories",
        short_names: &["imgrepo"],
        controller: "image-reflector-controller",
        revision: Revision::LatestScannedTag,
        source: SourceRef::None,
        reconcilable: true,
        force_and_reset: false,
        depends_on: false,
    },
    FluxKind {
        kind: "ImagePolicy",
        group: IMAGE,
        version: "v1",
        plural: "imagepolicies",
        short_names: &["imgpol"],
        controller: "image-reflector-controller",
        revision: Revision::LatestRef,
        source: SourceRef::ImageRepository,
        reconcilable: true,
        force_and_reset: false,
        depends_on: false,
    },
    FluxKind {
        kind: "ImageUpdateAutomation",
        group: IMAGE,
        version: "v1",
        plural: "imageupdateautomations",
        short_names: &["imgauto"],
        controller: "image-automation-controller",
        revision: Revision::LastPushCommit,
        source: SourceRef::Spec,
        reconcilable: true,
        force_and_reset: false,
        depends_on: false,
    },
];

impl Revision {
    /// How a successful reconcile of a kind with this revision is told: "applied revision
    /// main@sha1:…" for a Kustomization, "reconciled chart version 6.1.0" for a HelmRelease.
    pub fn success_words(self) -> &'static str {
        match self {
            Revision::LastApplied => "applied revision",
            Revision::HelmHistory => "reconciled chart version",
            _ => "fetched revision",
        }
    }
}

impl FluxKind {
    /// Finds a kind by its name, plural, singular or short name, in any case.
    pub fn lookup(name: &str) -> Option<&'static FluxKind> {
        let name = name.to_ascii_lowercase();
        KINDS.iter().find(|k| {
            k.kind.eq_ignore_ascii_case(&name)
                || k.plural == name
                || k.short_names.contains(&name.as_str())
                || format!("{}.{}", k.plural, k.group) == name
        })
    }

    /// The kind's API at its default version.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version: format!("{}/{}", self.group, self.version),
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }

    /// The controllers that must answer a reconcile of this kind: its own, and
    /// source-controller for the kinds that download their source's artifact from it
    /// (Kustomization, HelmRelease).
    pub fn answering_controllers(&self) -> Vec<&'static str> {
        let mut controllers = vec![self.controller];
        if matches!(self.source, SourceRef::Spec | SourceRef::HelmChart)
            && self.group != IMAGE
            && self.controller != GIT_REPOSITORY.controller
        {
            controllers.push(GIT_REPOSITORY.controller);
        }
        controllers
    }

    /// The CRD's name, `plural.group`.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_by_any_name_in_any_case() {
        for name in [
            "Kustomization",
            "kustomization",
            "KUSTOMIZATION",
            "ks",
            "kustomizations",
            "kustomizations.kustomize.toolkit.fluxcd.io",
        ] {
            assert_eq!(
                FluxKind::lookup(name).map(|k| k.kind),
                Some("Kustomization"),
                "{name}"
            );
        }
        assert_eq!(FluxKind::lookup("hr").map(|k| k.kind), Some("HelmRelease"));
        assert_eq!(
            FluxKind::lookup("imgauto").map(|k| k.kind),
            Some("ImageUpdateAutomation")
        );
        assert_eq!(FluxKind::lookup("deployment"), None);
    }

    #[test]
    fn kinds_with_a_source_artifact_also_wait_for_source_controller() {
        let answering = |name| FluxKind::lookup(name).unwrap().answering_controllers();
        assert_eq!(
            answering("ks"),
            ["kustomize-controller", "source-controller"]
        );
        assert_eq!(answering("hr"), ["helm-controller", "source-controller"]);
        assert_eq!(answering("gitrepo"), ["source-controller"]);
        assert_eq!(answering("hc"), ["source-controller"]);
        assert_eq!(answering("imgauto"), ["image-automation-controller"]);
        assert_eq!(answering("alert"), ["notification-controller"]);
    }

    #[test]
    fn every_common_flux_short_name_is_known() {
        for short in [
            "ks", "hr", "gitrepo", "ocirepo", "helmrepo", "hc", "bucket", "receiver", "alert",
            "provider", "imgrepo", "imgpol", "imgauto",
        ] {
            assert!(FluxKind::lookup(short).is_some(), "{short}");
        }
    }
}
