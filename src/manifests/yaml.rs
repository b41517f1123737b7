//! Multi-document YAML of install manifests, written so that Kubernetes' Go reader reads back
//! exactly the objects (see `crate::ui::output::to_yaml` for the emitter options).
//!
//! See docs/yaml-and-git.md.

use serde_json::Value;

use super::error::{Error, Result};
use crate::ui::output::kubernetes_yaml;

/// The objects as documents separated by `---`, in order; same objects, same bytes.
pub(super) fn documents(objects: &[Value]) -> Result<String> {
    let mut out = String::with_capacity(objects.len() * 4096);
    for (index, object) in objects.iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        // serde-saphyr writes multi-line strings with a tab-led line as `|` blocks without an
        // indentation indicator, which the Go reader rejects; quoted strings read back the same
        // everywhere.
        let block_scalars = !has_tab_led_multiline(object);
        let text =
            kubernetes_yaml(object, block_scalars).map_err(|source| Error::Yaml { source })?;
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// Whether a multi-line string in `value` has a line starting with a tab.
fn has_tab_led_multiline(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\n') && s.split('\n').any(|line| line.starts_with('\t')),
        Value::Array(items) => items.iter().any(has_tab_led_multiline),
        Value::Object(map) => map.values().any(has_tab_led_multiline),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_parse_back_and_keep_go_booleans_as_strings() {
        let objects = vec![
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "on", "y": "yes", "z": "1:20", "n": "0644"}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"script": "line1\n\tindented\n"}}),
        ];
        let text = documents(&objects).unwrap();
        assert!(text.contains("\n---\n"), "{text}");
        assert!(
            !text.contains("x: on\n") && !text.contains("y: yes\n"),
            "{text}"
        );
        assert!(!text.contains("|\n\t"), "tab-led block avoided: {text}");
        let back: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        assert_eq!(back, objects);
        assert_eq!(documents(&objects).unwrap(), text, "deterministic");
    }
}
