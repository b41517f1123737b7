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
}
