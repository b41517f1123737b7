//! What a HelmRelease installed, read from Helm's own record of the release, for
//! helm-controllers older than 1.5 that keep no inventory in the HelmRelease's status
//! (docs/inventory.md): the Secret `sh.helm.release.v1.<release>.v<version>` in the storage
//! namespace holds the rendered manifest, base64-encoded by Helm (inside the Secret's own
//! encoding) and usually gzipped.

use std::io::Read;

use base64::Engine;
use serde_json::Value;

use crate::flux::inventory::Entry;

/// Helm's gzip magic: the record is compressed when it starts with these bytes.
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// The latest release snapshot a HelmRelease recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub version: i64,
    /// Where Helm keeps its records (`status.storageNamespace`).
    pub storage_namespace: String,
}

impl Release {
    /// The name of the Secret holding this release's record.
    pub fn secret_name(&self) -> String {
        format!("sh.helm.release.v1.{}.v{}", self.name, self.version)
    }
}

/// The snapshot with the highest version in `status.history`, with the storage namespace;
/// `None` when the HelmRelease has not installed anything yet.
pub fn latest_release(status: &Value) -> Option<Release> {
    let storage_namespace = status["storageNamespace"]
        .as_str()
        .filter(|s| !s.is_empty())?;
    let latest = status["history"]
        .as_array()?
        .iter()
        .filter(|s| s["version"].as_i64().is_some())
        .max_by_key(|s| s["version"].as_i64())?;
    Some(Release {
        name: latest["name"].as_str()?.to_string(),
        namespace: latest["namespace"].as_str().unwrap_or_default().to_string(),
        version: latest["version"].as_i64()?,
        storage_namespace: storage_namespace.to_string(),
    })
}

/// The manifest in a release record (the Secret's `data.release`, already decoded from the
/// Secret's own base64).
pub fn manifest(record: &[u8]) -> Result<String, String> {
    let compact: Vec<u8> = record
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|err| format!("the release record is not base64: {err}"))?;
    let json = if bytes.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|err| format!("the release record does not unzip: {err}"))?;
        out
    } else {
        bytes
    };
    let release: Value = serde_json::from_slice(&json)
        .map_err(|err| format!("the release record is not JSON: {err}"))?;
    release["manifest"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "the release record has no manifest".to_string())
}

/// The objects of a rendered manifest (a YAML stream), in its order. An object without a
/// namespace belongs to the release's namespace when `namespaced(group, kind)` says its kind is
/// namespaced.
pub fn entries(
    manifest: &str,
    release_namespace: &str,
    namespaced: impl Fn(&str, &str) -> bool,
) -> Result<Vec<Entry>, String> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(manifest)
        .map_err(|err| format!("the release manifest is not YAML: {err}"))?;
    Ok(documents
        .iter()
        .filter_map(|object| {
            let api_version = object["apiVersion"].as_str()?;
            let kind = object["kind"].as_str()?;
            let name = object["metadata"]["name"].as_str()?;
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let namespace = match object["metadata"]["namespace"].as_str() {
                Some(ns) if !ns.is_empty() => ns.to_string(),
                _ if namespaced(group, kind) => release_namespace.to_string(),
                _ => String::new(),
            };
            Some(Entry {
                namespace,
                name: name.to_string(),
                group: group.to_string(),
                kind: kind.to_string(),
                version: version.to_string(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    const MANIFEST: &str = "---\n# Source: podinfo/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\nspec:\n  ports: []\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: podinfo:read\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n  namespace: other\n";

    /// A record as Helm writes it: JSON, gzipped, base64.
    fn record(gzip: bool) -> Vec<u8> {
        let json = serde_json::to_vec(&json!({"name": "podinfo", "version": 3,
            "manifest": MANIFEST, "info": {"status": "deployed"}}))
        .unwrap();
        let bytes = if gzip {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&json).unwrap();
            encoder.finish().unwrap()
        } else {
            json
        };
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into_bytes()
    }

    #[test]
    fn the_latest_snapshot_names_the_secret() {
        let status = json!({"storageNamespace": "apps", "history": [
            {"name": "podinfo", "namespace": "apps", "version": 2},
            {"name": "podinfo", "namespace": "apps", "version": 3},
            {"name": "podinfo", "namespace": "apps", "version": 1}]});
        let release = latest_release(&status).unwrap();
        assert_eq!(release.secret_name(), "sh.helm.release.v1.podinfo.v3");
        assert_eq!(release.storage_namespace, "apps");
        assert_eq!(latest_release(&json!({"history": []})), None);
    }

    #[test]
    fn records_are_read_gzipped_or_not() {
        assert_eq!(manifest(&record(true)).unwrap(), MANIFEST);
        assert_eq!(manifest(&record(false)).unwrap(), MANIFEST);
        assert!(manifest(b"not base64!").is_err());
    }

    #[test]
    fn objects_without_a_namespace_take_the_release_namespace_when_namespaced() {
        let found = entries(MANIFEST, "apps", |_, kind| kind != "ClusterRole").unwrap();
        let shown: Vec<(&str, &str, &str, &str, &str)> = found
            .iter()
            .map(|e| {
                (
                    e.namespace.as_str(),
                    e.name.as_str(),
                    e.group.as_str(),
                    e.kind.as_str(),
                    e.version.as_str(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                ("apps", "podinfo", "", "Service", "v1"),
                (
                    "",
                    "podinfo:read",
                    "rbac.authorization.k8s.io",
                    "ClusterRole",
                    "v1"
                ),
                ("other", "podinfo", "apps", "Deployment", "v1"),
            ]
        );
    }
}
