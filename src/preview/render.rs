//! Placeholder until the render module lands (branch preview-parts).

use serde_json::Value;

pub fn unified_diff(live: &str, merged: &str, a: &str, b: &str, colour: bool) -> String {
    let _ = (colour, a, b);
    format!("{live}{merged}")
}

pub fn changed_paths(live: &Value, merged: &Value) -> Vec<String> {
    let _ = (live, merged);
    Vec::new()
}

pub fn normalise_for_diff(object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "managedFields",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
        ] {
            meta.remove(key);
        }
    }
}
