//! How a configured object's change is shown: as a unified diff of its live and merged
//! (server-side dry-run) YAML, and as the list of JSON paths that change.
//!
//! `flux diff` prints dyff's report; this plugin prints what `kubectl diff` prints (a
//! `diff -u -N` of the two YAML documents), because that is what reviewers already read, what
//! pull-request tools highlight, and what needs no further tool. For CI bots the same change
//! is also given as JSON paths ([`changed_paths`]), which are stable where line numbers are
//! not.
//!
//! Both sides are compared after [`normalise_for_diff`], which drops what the API server
//! writes and nobody writes in Git, so that only what a user can change shows.

use serde_json::{Map, Value};
use similar::{Algorithm, ChangeTag, TextDiff};

use crate::ui::printable;

/// Lines of unchanged context around each change, as `diff -u`.
const CONTEXT: usize = 3;

const RED: &str = "\u{1b}[31m";
const GREEN: &str = "\u{1b}[32m";
const CYAN: &str = "\u{1b}[36m";
const BOLD: &str = "\u{1b}[1m";
const RESET: &str = "\u{1b}[0m";

/// A unified diff of two YAML texts in the shape `diff -u -N` prints for `kubectl diff`:
/// `--- <live_label>` and `+++ <merged_label>` (without diff's timestamps), then hunks
/// `@@ -a,b +c,d @@` with 3 lines of context (`-a` alone when the range is one line, `-0,0`
/// for an empty side, so a created object diffs against nothing). Empty when the texts are
/// equal. With `colour`, removed lines are red, added lines green, hunk headers cyan and the
/// file headers bold, as `diff --color` shows them. Control characters in the texts and labels
/// are made printable ([`printable`]); the colour codes are the only escapes in the result,
/// so print it as is (a second [`printable`] would show the colour codes as text).
pub fn unified_diff(
    live_yaml: &str,
    merged_yaml: &str,
    live_label: &str,
    merged_label: &str,
    colour: bool,
) -> String {
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .diff_lines(live_yaml, merged_yaml);
    let mut out = String::new();
    let paint = |out: &mut String, colour_code: &str, text: &str| {
        if colour {
            out.push_str(colour_code);
            out.push_str(text);
            out.push_str(RESET);
        } else {
            out.push_str(text);
        }
        out.push('\n');
    };
    let mut unified = diff.unified_diff();
    let mut hunks = unified.context_radius(CONTEXT).iter_hunks().peekable();
    if hunks.peek().is_none() {
        return out;
    }
    paint(&mut out, BOLD, &format!("--- {}", printable(live_label)));
    paint(&mut out, BOLD, &format!("+++ {}", printable(merged_label)));
    for hunk in hunks {
        paint(&mut out, CYAN, &hunk.header().to_string());
        for change in hunk.iter_changes() {
            let (sign, colour_code) = match change.tag() {
                ChangeTag::Delete => ('-', RED),
                ChangeTag::Insert => ('+', GREEN),
                ChangeTag::Equal => (' ', ""),
            };
            let line = change.value();
            let text = line.strip_suffix('\n').unwrap_or(line);
            let text = format!("{sign}{}", printable(text));
            if colour_code.is_empty() {
                out.push_str(&text);
                out.push('\n');
            } else {
                paint(&mut out, colour_code, &text);
            }
            if change.missing_newline() {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// The JSON paths whose values differ between `live` and `merged`, in document order (the
/// merged object's key order, then keys only the live object has). Paths are dotted with list
/// indexes (`spec.ports[0].port`); a key that is not a plain name (letters, digits, `_`, `-`,
/// not starting with a digit or `-`) is quoted in brackets
/// (`metadata.labels["app.kubernetes.io/name"]`, `data["config.yaml"]`). A field or list
/// entry present on one side only is reported once, at its top, not field by field. When the
/// two roots are not both objects and differ, the single path is the empty string.
pub fn changed_paths(live: &Value, merged: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    walk(live, merged, &mut String::new(), &mut paths);
    paths
}

fn walk(live: &Value, merged: &Value, path: &mut String, paths: &mut Vec<String>) {
    match (live, merged) {
        (Value::Object(before), Value::Object(after)) => {
            let keys = after
                .keys()
                .chain(before.keys().filter(|key| !after.contains_key(*key)));
            for key in keys {
                let start = path.len();
                push_key(path, key);
                match (before.get(key), after.get(key)) {
                    (Some(old), Some(new)) => walk(old, new, path, paths),
                    _ => paths.push(path.clone()),
                }
                path.truncate(start);
            }
        }
        (Value::Array(before), Value::Array(after)) => {
            for index in 0..before.len().max(after.len()) {
                let start = path.len();
                path.push_str(&format!("[{index}]"));
                match (before.get(index), after.get(index)) {
                    (Some(old), Some(new)) => walk(old, new, path, paths),
                    _ => paths.push(path.clone()),
                }
                path.truncate(start);
            }
        }
        _ if live != merged => paths.push(path.clone()),
        _ => {}
    }
}

fn push_key(path: &mut String, key: &str) {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::from(key).to_string());
        path.push(']');
    }
}

/// The metadata fields the API server sets and users do not write; dropped before comparing
/// and showing live and merged objects:
/// - `managedFields`: who wrote which field, rewritten by every apply (the dry run's own
///   entry would show as a change on every object);
/// - `resourceVersion`, `uid`, `creationTimestamp`, `selfLink`: identity and bookkeeping;
/// - `generation`: bumped by the dry run whenever the spec changes, so it would only repeat
///   what the spec lines already show (flux diff prints it; here it is noise);
/// - the `kubectl.kubernetes.io/last-applied-configuration` annotation: a copy of a client-side
///   `kubectl apply`'s input, noise for a Flux-managed object, and for a Secret it holds the
///   values in clear, which masking `data` would not hide.
pub const SERVER_SET_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
];

/// The annotation of client-side `kubectl apply` (see [`SERVER_SET_METADATA`]).
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what the server sets and users do not write, so live and dry-run objects compare on
/// what a change in Git can change: the [`SERVER_SET_METADATA`] fields, the [`LAST_APPLIED`]
/// annotation (and `annotations` itself if that leaves it empty), and `status` (written by
/// controllers, never applied by Flux).
pub fn normalise_for_diff(object: &mut Value) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    root.remove("status");
    let Some(metadata) = root.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for field in SERVER_SET_METADATA {
        metadata.remove(*field);
    }
    let emptied = match metadata
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        Some(annotations) => annotations.remove(LAST_APPLIED).is_some() && annotations.is_empty(),
        None => false,
    };
    if emptied {
        metadata.remove("annotations");
    }
}

/// An empty JSON object, for a side that does not exist (a created or pruned object).
pub fn nothing() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LIVE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: podinfo
  namespace: default
spec:
  ports:
  - name: http
    port: 9899
    protocol: TCP
    targetPort: http
  selector:
    app: podinfo
  type: ClusterIP
";

    #[test]
    fn a_changed_line_gives_one_hunk_with_three_lines_of_context() {
        // Every expected text in these tests is what GNU `diff -u -N` prints for the same
        // input, minus its timestamps.
        let merged = LIVE.replace("port: 9899", "port: 9898");
        assert_eq!(
            unified_diff(
                LIVE,
                &merged,
                "live/Service/default/podinfo",
                "merged/Service/default/podinfo",
                false
            ),
            "\
--- live/Service/default/podinfo
+++ merged/Service/default/podinfo
@@ -6,7 +6,7 @@
 spec:
   ports:
   - name: http
-    port: 9899
+    port: 9898
     protocol: TCP
     targetPort: http
   selector:
"
        );
    }

    #[test]
    fn distant_changes_give_separate_hunks_and_near_ones_merge() {
        let before: String = (1..=20).map(|n| format!("line{n}\n")).collect();
        let after = before
            .replace("line2\n", "LINE2\n")
            .replace("line18\n", "")
            .replace("line20\n", "line20\nline21\n");
        assert_eq!(
            unified_diff(&before, &after, "a", "b", false),
            "\
--- a
+++ b
@@ -1,5 +1,5 @@
 line1
-line2
+LINE2
 line3
 line4
 line5
@@ -15,6 +15,6 @@
 line15
 line16
 line17
-line18
 line19
 line20
+line21
"
        );
    }

    #[test]
    fn a_created_object_diffs_against_nothing_and_equal_texts_give_nothing() {
        assert_eq!(
            unified_diff("", "a: 1\nb: 2\n", "live", "merged", false),
            "--- live\n+++ merged\n@@ -0,0 +1,2 @@\n+a: 1\n+b: 2\n"
        );
        assert_eq!(
            unified_diff("a: 1\n", "", "live", "merged", false),
            "--- live\n+++ merged\n@@ -1 +0,0 @@\n-a: 1\n"
        );
        assert_eq!(unified_diff(LIVE, LIVE, "live", "merged", true), "");
    }

    #[test]
    fn colour_marks_removed_added_and_hunk_lines_only_when_asked() {
        let out = unified_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n", "live", "merged", true);
        assert_eq!(
            out,
            "\u{1b}[1m--- live\u{1b}[0m\n\u{1b}[1m+++ merged\u{1b}[0m\n\
             \u{1b}[36m@@ -1,2 +1,2 @@\u{1b}[0m\n a: 1\n\
             \u{1b}[31m-b: 2\u{1b}[0m\n\u{1b}[32m+b: 3\u{1b}[0m\n"
        );
    }

    #[test]
    fn control_characters_from_the_cluster_are_made_printable() {
        let out = unified_diff(
            "a: x\n",
            "a: \u{1b}]0;owned\u{7}\n",
            "live\u{1b}",
            "m",
            false,
        );
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
        assert!(out.contains("+a: \\u{1b}]0;owned\\u{7}\n"), "{out}");
        assert!(out.starts_with("--- live\\u{1b}\n"), "{out}");
    }

    #[test]
    fn a_missing_final_newline_is_marked_as_diff_does() {
        assert_eq!(
            unified_diff("a: 1\n", "a: 2", "l", "m", false),
            "--- l\n+++ m\n@@ -1 +1 @@\n-a: 1\n+a: 2\n\\ No newline at end of file\n"
        );
    }

    #[test]
    fn changed_paths_are_dotted_indexed_and_quoted_in_document_order() {
        let live = json!({
            "metadata": {"name": "app", "labels": {"app.kubernetes.io/name": "a", "team": "x"}},
            "spec": {"ports": [{"name": "http", "port": 9899}, {"name": "grpc", "port": 9999}],
                     "selector": {"app": "a"}},
            "data": {"config.yaml": "x: 1", "plain_key": "v", "gone": "g"}
        });
        let merged = json!({
            "metadata": {"name": "app", "labels": {"app.kubernetes.io/name": "b", "team": "x"}},
            "spec": {"ports": [{"name": "http", "port": 9898}],
                     "selector": {"app": "a", "tier": {"deep": {"er": 1}}}},
            "data": {"config.yaml": "x: 2", "plain_key": "w", "new-key": "n"}
        });
        assert_eq!(
            changed_paths(&live, &merged),
            vec![
                r#"metadata.labels["app.kubernetes.io/name"]"#,
                "spec.ports[0].port",
                "spec.ports[1]",
                "spec.selector.tier",
                r#"data["config.yaml"]"#,
                "data.plain_key",
                "data.new-key",
                "data.gone",
            ]
        );
    }

    #[test]
    fn changed_paths_report_type_changes_and_nothing_for_equal_objects() {
        assert!(
            changed_paths(
                &json!({"a": [1, {"b": null}]}),
                &json!({"a": [1, {"b": null}]})
            )
            .is_empty()
        );
        assert_eq!(
            changed_paths(
                &json!({"a": {"b": 1}, "c": "1"}),
                &json!({"a": [1], "c": 1})
            ),
            vec!["a", "c"]
        );
        assert_eq!(
            changed_paths(&json!({"a": [1]}), &json!({"a": [1, 2, 3]})),
            vec!["a[1]", "a[2]"]
        );
        assert_eq!(
            changed_paths(&json!({"0start": 1, "-x": 1, "": 1}), &json!({})),
            vec![r#"["0start"]"#, r#"["-x"]"#, r#"[""]"#]
        );
        assert_eq!(
            changed_paths(&json!({"a": {"x.y": 1}}), &json!({"a": {"x.y": 2}})),
            vec![r#"a["x.y"]"#]
        );
        assert_eq!(changed_paths(&json!(1), &json!(2)), vec![""]);
        assert_eq!(
            changed_paths(&nothing(), &json!({"kind": "X"})),
            vec!["kind"]
        );
    }

    #[test]
    fn normalising_drops_server_set_fields_and_status() {
        let mut object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "c", "namespace": "n", "labels": {"a": "b"},
                "annotations": {LAST_APPLIED: "{\"data\":{\"secret\":\"clear\"}}", "keep": "me"},
                "managedFields": [{"manager": "kubectl"}], "resourceVersion": "42",
                "uid": "0000", "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                "selfLink": "/api/v1/x"
            },
            "data": {"k": "v"},
            "status": {"phase": "Active"}
        });
        normalise_for_diff(&mut object);
        assert_eq!(
            object,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "n", "labels": {"a": "b"},
                    "annotations": {"keep": "me"}},
                "data": {"k": "v"}
            })
        );
        let mut only_last_applied = json!({"metadata": {"name": "c",
            "annotations": {LAST_APPLIED: "{}"}}});
        normalise_for_diff(&mut only_last_applied);
        assert_eq!(only_last_applied, json!({"metadata": {"name": "c"}}));
        let mut empty_annotations = json!({"metadata": {"annotations": {}}});
        normalise_for_diff(&mut empty_annotations);
        assert_eq!(
            empty_annotations,
            json!({"metadata": {"annotations": {}}}),
            "the user's own empty map stays"
        );
    }
}
