//! What can go wrong with Flux objects themselves: Flux or one of its kinds is not installed,
//! a kind or object does not exist, or an object is suspended.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "Flux is not installed in this cluster (no Flux CRDs are served); install it with kubectl gitops bootstrap or flux install"
    )]
    FluxNotInstalled,

    #[error(
        "the {kind} kind is not installed in this cluster (CRD {crd} is missing); install the {controller} (e.g. --components-extra) to use it"
    )]
    KindNotInstalled {
        kind: &'static str,
        crd: String,
        controller: &'static str,
    },

    #[error("unknown kind \"{name}\": Flux kinds are {known}")]
    UnknownKind { name: String, known: String },

    #[error("{kind} \"{name}\" not found in namespace \"{namespace}\"{hint}")]
    NotFound {
        kind: &'static str,
        name: String,
        namespace: String,
        hint: String,
    },

    #[error(
        "{kind}/{name} in namespace \"{namespace}\" is suspended, so Flux will not reconcile it; resume it with: kubectl gitops resume {short} {name} -n {namespace}"
    )]
    Suspended {
        kind: &'static str,
        short: &'static str,
        name: String,
        namespace: String,
    },

    #[error("{kind}/{name} in namespace \"{namespace}\" was deleted while waiting for it")]
    DeletedWhileWaiting {
        kind: &'static str,
        name: String,
        namespace: String,
    },

    #[error(
        "{kind} objects have no reconcile loop in Flux (they take effect when applied); nothing to reconcile"
    )]
    NotReconcilable { kind: &'static str },

    #[error("--force and --reset apply to HelmReleases only, and {name} is a {kind}")]
    ForceNotApplicable { kind: &'static str, name: String },

    #[error(
        "{object} in namespace \"{namespace}\" names no source (spec.sourceRef), so --with-source has nothing to reconcile"
    )]
    NoSource { object: String, namespace: String },

    #[error("the dependsOn chain of {root} has a cycle among {members}; nothing was reconciled")]
    DependencyCycle { root: String, members: String },

    #[error(
        "the server has no resource type \"{name}\"; kubectl api-resources lists the names it knows"
    )]
    UnknownResourceType { name: String },

    #[error("{object} not found{}", in_namespace(.namespace))]
    ObjectNotFound {
        object: String,
        namespace: Option<String>,
    },

    #[error(
        "{object} is not managed by Flux: neither it nor its owners carry the labels kustomize-controller and helm-controller put on what they apply (kustomize.toolkit.fluxcd.io/name, helm.toolkit.fluxcd.io/name)"
    )]
    NotManaged { object: String },
}

fn in_namespace(namespace: &Option<String>) -> String {
    namespace
        .as_deref()
        .map(|ns| format!(" in namespace \"{ns}\""))
        .unwrap_or_default()
}

impl Error {
    /// Whether the command line itself is wrong (exit status 2): a kind that Flux does not have.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::UnknownKind { .. }
                | Error::NotReconcilable { .. }
                | Error::ForceNotApplicable { .. }
        )
    }
}
