//! kubectl's output conventions: `-o table|wide|json|yaml|name`, data on stdout, tables without
//! borders, JSON indented by 4 spaces, YAML that Kubernetes' Go reader reads back unchanged.
//! See docs/yaml-and-git.md for why YAML is written with YAML 1.1 quoting.

use serde::Serialize;

use crate::error::{Error, Result};

/// `-o` values. Commands that print only some of them say which in their own flag.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
    Name,
}

/// JSON as kubectl prints it (4-space indent, trailing newline).
pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    let mut out = Vec::new();
    write_json(&mut out, value)?;
    String::from_utf8(out).map_err(|err| Error::encode("JSON", err))
}

/// [`to_json`] straight into a writer, for large outputs (no second copy in memory).
pub fn write_json<T: Serialize>(out: &mut dyn std::io::Write, value: &T) -> Result<()> {
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, out);
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut buffered, formatter);
    value
        .serialize(&mut serializer)
        .map_err(|err| Error::encode("JSON", err))?;
    use std::io::Write;
    buffered
        .write_all(b"\n")
        .and_then(|()| buffered.flush())
        .map_err(crate::ui::stdout_error)
}

/// A kubectl-style `List` of items, serialised without copying them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List<'a, T: Serialize> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [T],
    metadata: serde_json::Map<String, serde_json::Value>,
}

impl<'a, T: Serialize> List<'a, T> {
    pub fn new(items: &'a [T]) -> Self {
        List {
            api_version: "v1",
            kind: "List",
            items,
            metadata: serde_json::Map::new(),
        }
    }
}

/// YAML that round-trips through Kubernetes' Go reader: 2-space indent, no folding of long
/// strings, YAML 1.1 quoting (so `on`, `yes`, `1:20` stay strings), no `%YAML` directive.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String> {
    kubernetes_yaml(value, true).map_err(|err| Error::encode("YAML", err))
}

/// [`to_yaml`]'s emitter, with multi-line strings as `|` blocks or quoted, returning
/// serde-saphyr's own error for callers that have their own error type (the manifests).
pub fn kubernetes_yaml<T: Serialize>(
    value: &T,
    block_scalars: bool,
) -> std::result::Result<String, serde_saphyr::SerializeError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.indent_step = 2;
    options.compact_list_indent = true;
    options.prefer_block_scalars = block_scalars;
    options.folded_wrap_chars = usize::MAX;
    options.yaml_12 = false;
    serde_saphyr::to_string_with_options(value, options)
}

/// A kubectl-style table: upper-case headers, no borders, three spaces between columns, no
/// trailing spaces. Written by hand rather than with `tabled`: for 10,000 rows it is several
/// times faster and needs no second copy of the cells.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let headers: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out =
        String::with_capacity((widths.iter().sum::<usize>() + 3 * widths.len()) * (rows.len() + 1));
    for row in std::iter::once(&headers).chain(rows) {
        let start = out.len();
        for (cell, width) in row.iter().zip(&widths) {
            out.push_str(cell);
            for _ in cell.chars().count()..*width + 3 {
                out.push(' ');
            }
        }
        out.truncate(start + out[start..].trim_end().len());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_looks_like_kubectl() {
        let text = table(
            &["name", "ready"],
            &[
                vec!["flux-system".into(), "True".into()],
                vec!["apps".into(), "False".into()],
            ],
        );
        assert_eq!(
            text,
            "NAME          READY\nflux-system   True\napps          False\n"
        );
    }

    #[test]
    fn yaml_quotes_what_go_would_misread() {
        let value = serde_json::json!({"a": "on", "b": "yes", "c": "1:20", "d": "plain"});
        let text = to_yaml(&value).unwrap();
        assert!(!text.contains("a: on\n"), "{text}");
        assert!(!text.contains("b: yes\n"), "{text}");
        assert!(!text.contains("c: 1:20\n"), "{text}");
        assert!(text.contains("d: plain\n"), "{text}");
        let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn control_characters_stay_escaped_in_json_and_yaml() {
        let value = serde_json::json!({"message": "bad\u{1b}]0;title\u{7}\nsecond line"});
        for text in [to_json(&value).unwrap(), to_yaml(&value).unwrap()] {
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "{text:?}"
            );
        }
        let back: serde_json::Value = serde_saphyr::from_str(&to_yaml(&value).unwrap()).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn json_is_indented_like_kubectl() {
        let text = to_json(&serde_json::json!({"a": {"b": 1}})).unwrap();
        assert_eq!(text, "{\n    \"a\": {\n        \"b\": 1\n    }\n}\n");
    }
}

/// Objects as one YAML stream (`---` between documents), in order; same objects, same
/// bytes, and Kubernetes' Go reader reads back exactly these objects.
///
/// The objects as documents separated by `---`, in order; same objects, same bytes.
pub fn yaml_documents(
    objects: &[serde_json::Value],
) -> std::result::Result<String, serde_saphyr::SerializeError> {
    let mut out = String::with_capacity(objects.len() * 4096);
    for (index, object) in objects.iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        // serde-saphyr writes multi-line strings with a tab-led line as `|` blocks without an
        // indentation indicator, which the Go reader rejects; quoted strings read back the same
        // everywhere.
        let block_scalars = !has_tab_led_multiline(object);
        let text = kubernetes_yaml(object, block_scalars)?;
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// Whether a multi-line string in `value` has a line starting with a tab.
fn has_tab_led_multiline(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => {
            s.contains('\n') && s.split('\n').any(|line| line.starts_with('\t'))
        }
        serde_json::Value::Array(items) => items.iter().any(has_tab_led_multiline),
        serde_json::Value::Object(map) => map.values().any(has_tab_led_multiline),
        _ => false,
    }
}

#[cfg(test)]
mod yaml_documents_tests {
    use serde_json::json;

    use serde_json::Value;

    use super::*;

    #[test]
    fn documents_parse_back_and_keep_go_booleans_as_strings() {
        let objects = vec![
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "on", "y": "yes", "z": "1:20", "n": "0644"}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"script": "line1\n\tindented\n"}}),
        ];
        let text = yaml_documents(&objects).unwrap();
        assert!(text.contains("\n---\n"), "{text}");
        assert!(
            !text.contains("x: on\n") && !text.contains("y: yes\n"),
            "{text}"
        );
        assert!(!text.contains("|\n\t"), "tab-led block avoided: {text}");
        let back: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        assert_eq!(back, objects);
        assert_eq!(yaml_documents(&objects).unwrap(), text, "deterministic");
    }
}
