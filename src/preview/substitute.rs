//! Placeholder until the postBuild substitution module lands (branch preview-parts).

use std::collections::BTreeMap;

use serde_json::Value;

pub fn merge_variables(
    sources: &[BTreeMap<String, String>],
    inline: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut merged = BTreeMap::new();
    for source in sources {
        merged.extend(source.clone());
    }
    merged.extend(inline.clone());
    merged
}

pub fn substitute_object(
    object: &Value,
    _variables: &BTreeMap<String, String>,
    _strict: bool,
) -> Result<Value, String> {
    Ok(object.clone())
}
