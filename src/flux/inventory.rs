//! The list of objects a Kustomization (or, from helm-controller 1.5 on, a HelmRelease) applied,
//! as the controller records it in `status.inventory.entries` (docs/inventory.md): what `tree`
//! walks.

use serde_json::Value;

/// One applied object, identified the way Flux identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    /// Empty for the core group.
    pub group: String,
    pub kind: String,
    /// The version only (`v1`), as applied.
    pub version: String,
}

impl Entry {
    /// `group/version`, or just the version for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// An inventory as read from an object: its entries in stored (apply) order, and the ids that
/// could not be parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub entries: Vec<Entry>,
    pub malformed: Vec<String>,
}

/// Reads `status.inventory.entries` from an object's status; `None` when the object has no
/// inventory at all (never applied, or a HelmRelease from a helm-controller older than 1.5).
pub fn from_status(status: &Value) -> Option<Inventory> {
    let entries = status["inventory"]["entries"].as_array()?;
    let mut inventory = Inventory::default();
    for entry in entries {
        let id = entry["id"].as_str().unwrap_or_default();
        let version = entry["v"].as_str().unwrap_or_default();
        match parse_id(id, version) {
            Some(parsed) => inventory.entries.push(parsed),
            None => inventory.malformed.push(id.to_string()),
        }
    }
    Some(inventory)
}

/// Parses `<namespace>_<name>_<group>_<kind>` from both ends, as Flux does: the namespace is
/// before the first `_`, the kind after the last, the group before that, and the name is what
/// remains in between (names may hold `_`), with `__` standing for `:`. `None` when the id has
/// fewer than three separators.
pub fn parse_id(id: &str, version: &str) -> Option<Entry> {
    let (namespace, rest) = id.split_once('_')?;
    let (rest, kind) = rest.rsplit_once('_')?;
    let (name, group) = rest.rsplit_once('_')?;
    Some(Entry {
        namespace: namespace.to_string(),
        name: name.replace("__", ":"),
        group: group.to_string(),
        kind: kind.to_string(),
        version: version.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(namespace: &str, name: &str, group: &str, kind: &str, version: &str) -> Entry {
        Entry {
            namespace: namespace.into(),
            name: name.into(),
            group: group.into(),
            kind: kind.into(),
            version: version.into(),
        }
    }

    #[test]
    fn a_cluster_scoped_core_object_has_empty_namespace_and_group() {
        assert_eq!(
            parse_id("_flux-system__Namespace", "v1"),
            Some(entry("", "flux-system", "", "Namespace", "v1"))
        );
    }

    #[test]
    fn a_namespaced_object_in_a_named_group() {
        let parsed = parse_id("flux-system_source-controller_apps_Deployment", "v1").unwrap();
        assert_eq!(
            parsed,
            entry(
                "flux-system",
                "source-controller",
                "apps",
                "Deployment",
                "v1"
            )
        );
        assert_eq!(parsed.api_version(), "apps/v1");
        assert_eq!(
            parse_id("_flux-system__Namespace", "v1")
                .unwrap()
                .api_version(),
            "v1"
        );
    }

    #[test]
    fn double_underscores_in_a_name_are_colons() {
        assert_eq!(
            parse_id("_system__foo_rbac.authorization.k8s.io_ClusterRole", "v1"),
            Some(entry(
                "",
                "system:foo",
                "rbac.authorization.k8s.io",
                "ClusterRole",
                "v1"
            ))
        );
    }

    #[test]
    fn a_name_may_hold_single_underscores() {
        assert_eq!(
            parse_id("apps_my_config_map__ConfigMap", "v1"),
            Some(entry("apps", "my_config_map", "", "ConfigMap", "v1"))
        );
    }

    #[test]
    fn fewer_than_three_separators_is_malformed() {
        assert_eq!(parse_id("flux-system_Namespace", "v1"), None);
        assert_eq!(parse_id("a_b", "v1"), None);
        assert_eq!(parse_id("", "v1"), None);
    }

    #[test]
    fn entries_keep_the_stored_order_and_collect_malformed_ids() {
        let status = json!({"inventory": {"entries": [
            {"id": "_flux-system__Namespace", "v": "v1"},
            {"id": "broken", "v": "v1"},
            {"id": "flux-system_flux-system_kustomize.toolkit.fluxcd.io_Kustomization", "v": "v1"},
        ]}});
        let inventory = from_status(&status).unwrap();
        assert_eq!(
            inventory.entries,
            vec![
                entry("", "flux-system", "", "Namespace", "v1"),
                entry(
                    "flux-system",
                    "flux-system",
                    "kustomize.toolkit.fluxcd.io",
                    "Kustomization",
                    "v1"
                ),
            ]
        );
        assert_eq!(inventory.malformed, vec!["broken".to_string()]);
        assert_eq!(from_status(&json!({"conditions": []})), None);
        assert_eq!(
            from_status(&json!({"inventory": {"entries": []}})),
            Some(Inventory::default())
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_panics(id in any::<String>(), version in any::<String>()) {
            let _ = parse_id(&id, &version);
        }

        /// An id written as Flux writes it (`:` in names as `__`) reads back to its parts.
        #[test]
        fn ids_round_trip(
            namespace in "([a-z0-9][a-z0-9-]{0,20})?",
            name in "[a-z0-9:][a-z0-9.:-]{0,30}",
            group in "([a-z0-9][a-z0-9.-]{0,20})?",
            kind in "[A-Z][A-Za-z0-9]{0,20}",
            version in "v[0-9][a-z0-9]{0,6}",
        ) {
            let id = format!("{namespace}_{}_{group}_{kind}", name.replace(':', "__"));
            let entry = parse_id(&id, &version).ok_or_else(|| TestCaseError::fail(format!("{id} refused")))?;
            prop_assert_eq!(entry, Entry { namespace, name, group, kind, version });
        }

        /// Fewer than three separators is not an id.
        #[test]
        fn short_ids_are_refused(parts in prop::collection::vec("[a-z]{0,5}", 1..=3)) {
            prop_assert_eq!(parse_id(&parts.join("_"), "v1"), None);
        }
    }
}
