//! Flux's `postBuild` variable substitution, pure: no cluster reads, no files.
//!
//! See docs/postbuild-and-masking.md for the surprises in one place.
//!
//! kustomize-controller (and `flux build`/`flux diff`) run a bash-like `envsubst` over every
//! built object after kustomize. This module reproduces that evaluation exactly, because a
//! preview that substitutes differently from the controller shows a change that will not
//! happen (or hides one that will). The rules, as Flux implements them (fluxcd/pkg
//! `envsubst` v1.7 and `kustomize/kustomize_varsub.go`, used by kustomize-controller v1.9 and
//! flux v2.9):
//!
//! # When substitution runs
//! - Only when the Kustomization has `spec.postBuild` at all ([`PostBuild::from_kustomization`]
//!   returns `None` otherwise; then objects are left exactly as kustomize built them).
//! - Only when there is at least one variable (inline or from `substituteFrom`), unless
//!   `postBuild.substituteStrategy: Always` ([`PostBuild::runs`]). With no variables and the
//!   default strategy (`WithVariables`) even `${x:=default}` stays literal.
//! - Never for an object labelled or annotated `kustomize.toolkit.fluxcd.io/substitute:
//!   disabled` ([`is_disabled`]); such an object is not even parsed, so a malformed `${` in it
//!   is no error.
//!
//! # Where variables come from ([`variables`])
//! `substituteFrom` entries in order, a later entry overriding an earlier one for the same
//! key, then the inline `postBuild.substitute` map overriding them all. Every value, inline
//! ones included, has its newlines removed (a value read from a file with a trailing newline
//! becomes one line). ConfigMaps contribute `data` only (not `binaryData`); Secrets their
//! `data`, base64-decoded ([`decode_secret_data`]). A missing source with `optional: true` is
//! skipped; any other missing source is an error (the caller's, which does the reads).
//!
//! # Variable names ([`check_names`])
//! Every variable *defined* must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$` (ASCII letters,
//! digits, underscore, not starting with a digit). One bad name fails the whole substitution
//! with `'<name>' var name is invalid, must match '<regex>'`. References in manifests are not
//! checked against the rule: `${1x}` simply looks up `1x`, which cannot be defined.
//!
//! # Expressions ([`substitute`])
//! - Only the braced form is an expression. A bare `$var` is plain text and stays as written.
//! - `$$` is an escape for a literal `$` everywhere in text, so `$${var}` gives the literal
//!   text `${var}` and `$$$$` gives `$$`.
//! - `${var}`: the value; a missing variable is the empty string, or with `strict` an error
//!   `variable not set (strict mode): "var"`.
//! - `${var:-default}`, `${var:=default}`, `${var=default}`, and (Flux's quirk: bash would do
//!   otherwise) `${var:+word}` and `${var:?word}`: the value when it is non-empty, otherwise
//!   the default. None of these fail in strict mode. Note the `=` forms do not assign: a later
//!   `${var}` is still unset. `${var-default}` (no colon) is a *syntax error* in Flux's
//!   parser ("missing closing brace"), not a default.
//!   Defaults may contain nested expressions: `${a:-${b:-x}}`.
//! - Also supported, as in bash: `${#var}` (length in bytes), `${var^}`, `${var^^}`,
//!   `${var,}`, `${var,,}` (case), `${var:offset}`, `${var:offset:length}` (byte offsets, a
//!   negative offset counts from the end; offsets that are not numbers leave the value as is),
//!   `${var#glob}`, `${var##glob}`, `${var%glob}`, `${var%%glob}` (trim shortest/longest
//!   prefix/suffix), `${var/old/new}`, `${var//old/new}`, `${var/#old/new}`,
//!   `${var/%old/new}` (plain text, not glob; inside them `\/` is a literal `/`). In strict
//!   mode these fail on a missing variable like `${var}`.
//! - Malformed expressions fail the whole object: `${}` ("unable to parse variable name"),
//!   `${var` or `${var.x}` ("missing closing brace"), `${var:}` ("unable to parse substitution
//!   within function"), `${var/x}` ("bad substitution").
//!
//! # Objects ([`substitute_document`], [`substitute_object`])
//! The controller substitutes the *YAML text* of each object, as its Go emitter writes it,
//! and reads the result back, so a substituted value takes the YAML type of its new text:
//! `replicas: ${N}` with `N=3` becomes the number 3, `0644` the number 420 and `yes` the
//! boolean true (the text is read with YAML 1.1 rules), and a value such as `a: b` can change
//! the document's structure. Quoting in the user's file does not survive kustomize (it writes
//! `"${N}"` back as plain `${N}`), so `value: "${PORT}"` gives a number in Flux too.
//! - [`substitute_document`] substitutes one document of `kubectl kustomize` output as given:
//!   kubectl's kustomize writes with the same Go emitter as Flux, so this is the exact text
//!   Flux substitutes ([`split_documents`] splits the output).
//! - [`substitute_object`] substitutes an object already read: it is written with
//!   serde-saphyr (multi-line strings as `|` blocks), and the strings it double-quotes are
//!   rewritten in Go's single-quoted style where Go single-quotes (the test compares the
//!   result with what `kubectl kustomize` wrote for 41 tricky strings), so a `"` or `\`
//!   substituted into `x: ${A}` reads as in Flux, and a `'` breaks it as in Flux.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

/// The label or annotation that opts an object out of substitution (value `disabled`).
pub const SUBSTITUTE_MARKER: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// The rule every defined variable name must follow, as Flux writes it in its error.
pub const NAME_RULE: &str = "^[_[:alpha:]][_[:alpha:][:digit:]]*$";

/// Why a substitution failed. The texts are Flux's own, so a user who searches for them finds
/// the Flux documentation and issues.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// A defined variable's name breaks [`NAME_RULE`].
    #[error("'{name}' var name is invalid, must match '{NAME_RULE}'")]
    InvalidName { name: String },

    /// Strict mode: a variable used without a default is not defined.
    #[error("variable not set (strict mode): \"{name}\"")]
    NotSet { name: String },

    /// A malformed `${...}` expression.
    #[error("{0}")]
    Syntax(SyntaxError),

    /// The object could not be written as YAML, or its substituted text is no longer valid YAML.
    #[error("{0}")]
    Yaml(String),

    /// A Secret's `data` value is not base64.
    #[error("value of key {key:?} is not valid base64")]
    NotBase64 { key: String },

    /// An error inside one object, naming it (`Kind/namespace/name`).
    #[error("var substitution failed for '{object}': {source}")]
    InObject {
        object: String,
        #[source]
        source: Box<SubstituteError>,
    },
}

/// The parse errors of Flux's `envsubst`, with its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("bad substitution")]
    BadSubstitution,
    #[error("missing closing brace")]
    MissingClosingBrace,
    #[error("unable to parse variable name")]
    VariableName,
    #[error("unable to parse substitution within function")]
    FuncSubstitution,
}

/// Substitutes `${...}` expressions in `text` with `vars`.
///
/// The names in `vars` are checked first ([`check_names`]); the whole text is then parsed
/// before anything is evaluated, so a syntax error anywhere fails the text. With `strict`, a
/// variable used without a default that is not in `vars` is an error naming it; without, it
/// is the empty string.
pub fn substitute(
    text: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, SubstituteError> {
    check_names(vars)?;
    let nodes = Parser::new(text)
        .parse_text()
        .map_err(SubstituteError::Syntax)?;
    let mut out = String::with_capacity(text.len());
    for node in &nodes {
        eval(node, vars, strict, &mut out)?;
    }
    Ok(out)
}

/// Fails on the first defined variable (in name order) whose name breaks [`NAME_RULE`].
pub fn check_names(vars: &BTreeMap<String, String>) -> Result<(), SubstituteError> {
    match vars.keys().find(|name| !valid_name(name)) {
        Some(name) => Err(SubstituteError::InvalidName { name: name.clone() }),
        None => Ok(()),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Whether `object` opts out of substitution: the label or the annotation
/// [`SUBSTITUTE_MARKER`] is `disabled`.
pub fn is_disabled(object: &Value) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        object["metadata"][field][SUBSTITUTE_MARKER]
            .as_str()
            .is_some_and(|value| value == "disabled")
    })
}

/// Substitutes one built object the way kustomize-controller does: its YAML text is
/// substituted and read back, so values take the type their new text has in YAML. An object
/// marked [`is_disabled`] comes back unchanged. Errors name the object.
pub fn substitute_object(
    object: &Value,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Value, SubstituteError> {
    if is_disabled(object) {
        return Ok(object.clone());
    }
    let in_object = |source: SubstituteError| SubstituteError::InObject {
        object: object_id(object),
        source: Box::new(source),
    };
    // Multi-line strings as `|` blocks and quoted strings with `$` single-quoted, as Flux's Go
    // emitter writes them (serde-saphyr makes the same plain-or-quoted choices).
    let yaml = crate::ui::output::kubernetes_yaml(object, true)
        .map_err(|err| in_object(SubstituteError::Yaml(err.to_string())))?;
    let yaml = single_quote_substitutions(&yaml);
    let text = substitute(&yaml, vars, strict).map_err(in_object)?;
    read_back(&text).map_err(|err| {
        in_object(SubstituteError::Yaml(format!(
            "the substituted object is not valid YAML: {err}"
        )))
    })
}

/// Substitutes one document of `kubectl kustomize` output, given as its YAML text: the very
/// text kustomize-controller substitutes (kubectl's kustomize writes YAML with the same Go
/// emitter as Flux's `AsYAML`), so this is the exact path when the build output is at hand.
/// An object marked [`is_disabled`] is returned as read. Errors name the object.
pub fn substitute_document(
    document: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Value, SubstituteError> {
    let object = read_back(document)
        .map_err(|err| SubstituteError::Yaml(format!("the document is not valid YAML: {err}")))?;
    if is_disabled(&object) {
        return Ok(object);
    }
    let in_object = |source: SubstituteError| SubstituteError::InObject {
        object: object_id(&object),
        source: Box::new(source),
    };
    let text = substitute(document, vars, strict).map_err(in_object)?;
    read_back(&text).map_err(|err| {
        in_object(SubstituteError::Yaml(format!(
            "the substituted object is not valid YAML: {err}"
        )))
    })
}

/// The documents of a multi-document YAML text (kustomize's output), split at `---` lines;
/// empty documents are dropped.
pub fn split_documents(text: &str) -> Vec<&str> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        if content == "---" || content.starts_with("--- ") {
            documents.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    documents.push(&text[start..]);
    documents.retain(|document| {
        document
            .lines()
            .any(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
    });
    documents
}

/// Reads substituted YAML as Flux does (sigs.k8s.io/yaml, YAML 1.1): `yes`/`on` are booleans
/// (serde-saphyr's default), `0644` is octal, and integral floats become integers.
fn read_back(text: &str) -> Result<Value, serde_saphyr::Error> {
    let mut options = serde_saphyr::options::Options::default();
    options.legacy_octal_numbers = true;
    let mut value: Value = serde_saphyr::from_str_with_options(text, options)?;
    integral_floats_to_integers(&mut value);
    Ok(value)
}

/// Where a string must be quoted (`x: ${A}`, `[${A}]`, ` ${A}`), Flux's Go emitter
/// single-quotes it and serde-saphyr double-quotes it; the two read a `"` or `\` substituted
/// into them differently. This rewrites serde-saphyr's double-quoted scalars that contain a
/// `$` and no escape but `\"` and `\\` in Go's single-quoted style. Block scalars are left
/// alone. The plain-or-quoted choice itself is the same in both emitters (checked against
/// `kubectl kustomize` output in the tests).
fn single_quote_substitutions(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + 16);
    // The column a block scalar's owner (key or list dash) starts at, while inside the block.
    let mut block_owner: Option<usize> = None;
    for line in yaml.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(owner) = block_owner {
            if line.trim().is_empty() || indent > owner {
                out.push_str(line);
                continue;
            }
            block_owner = None;
        }
        let mut position = indent;
        let mut owner = indent;
        let mut rewritten = String::new();
        let mut copied = 0;
        loop {
            let rest = &line[position..];
            if rest.starts_with("- ") {
                owner = position;
                position += 2;
                continue;
            }
            if rest.starts_with('"') {
                let Some(length) = double_quoted_length(rest) else {
                    break;
                };
                let quoted = &rest[..length];
                if let Some(single) = as_single_quoted(quoted) {
                    rewritten.push_str(&line[copied..position]);
                    rewritten.push_str(&single);
                    copied = position + length;
                }
                let after = &rest[length..];
                if after.starts_with(": ") {
                    owner = position;
                    position += length + 2;
                    continue;
                }
                break;
            }
            match rest.find(": ") {
                Some(colon) if !rest.starts_with(['\'', '{', '[']) => {
                    owner = position;
                    position += colon + 2;
                }
                _ => {
                    let token = rest.trim_end();
                    if is_block_header(token) {
                        block_owner = Some(owner);
                    }
                    break;
                }
            }
        }
        rewritten.push_str(&line[copied..]);
        out.push_str(&rewritten);
    }
    out
}

/// The length of the double-quoted scalar at the start of `text`, quotes included.
fn double_quoted_length(text: &str) -> Option<usize> {
    let mut chars = text.char_indices().skip(1);
    while let Some((index, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return Some(index + 1),
            _ => {}
        }
    }
    None
}

/// `"..."` as Go would single-quote it, when it holds a `$` and no escape but `\"`/`\\`.
fn as_single_quoted(quoted: &str) -> Option<String> {
    let inner = &quoted[1..quoted.len() - 1];
    if !inner.contains('$') {
        return None;
    }
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(escaped @ ('"' | '\\')) => text.push(escaped),
                _ => return None,
            }
        } else {
            text.push(c);
        }
    }
    Some(format!("'{}'", text.replace('\'', "''")))
}

/// `|`, `|-`, `>+`, `|2-`, ...: the header of a block scalar.
fn is_block_header(token: &str) -> bool {
    let mut chars = token.chars();
    matches!(chars.next(), Some('|' | '>'))
        && chars.all(|c| c == '-' || c == '+' || c.is_ascii_digit())
}

/// Flux turns the YAML into JSON through Go's float64, so `1e3` or `3.0` end up as the JSON
/// integers `1000` and `3`; do the same, or the API server would refuse `3.0` as a replica
/// count.
fn integral_floats_to_integers(value: &mut Value) {
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            if let Some(float) = number.as_f64()
                && float.fract() == 0.0
                && float.abs() < 9.0e15
            {
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects.
fn object_id(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match object["metadata"]["namespace"].as_str() {
        Some(namespace) if !namespace.is_empty() => format!("{kind}/{namespace}/{name}"),
        _ => format!("{kind}/{name}"),
    }
}

/// A Kustomization's `spec.postBuild`, read from its JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostBuild {
    /// The inline `substitute` map, as written (newlines are removed by [`variables`]).
    pub substitute: BTreeMap<String, String>,
    /// The `substituteFrom` references, in order.
    pub substitute_from: Vec<SubstituteRef>,
    /// `substituteStrategy: Always`: substitute even with no variables at all.
    pub always: bool,
}

/// One `postBuild.substituteFrom` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstituteRef {
    /// `ConfigMap` or `Secret` (the API allows nothing else).
    pub kind: String,
    pub name: String,
    /// A missing object is skipped instead of failing the build.
    pub optional: bool,
}

impl PostBuild {
    /// `spec.postBuild` of a Kustomization, or `None` when it has none (then nothing is
    /// substituted at all). Non-string inline values are taken as their JSON text.
    pub fn from_kustomization(kustomization: &Value) -> Option<PostBuild> {
        let post_build = kustomization.pointer("/spec/postBuild")?;
        if post_build.is_null() {
            return None;
        }
        let substitute = post_build["substitute"]
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(key, value)| {
                        let value = match value {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        };
                        (key.clone(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let substitute_from = post_build["substituteFrom"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|entry| SubstituteRef {
                        kind: entry["kind"].as_str().unwrap_or_default().to_string(),
                        name: entry["name"].as_str().unwrap_or_default().to_string(),
                        optional: entry["optional"].as_bool().unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(PostBuild {
            substitute,
            substitute_from,
            always: post_build["substituteStrategy"].as_str() == Some("Always"),
        })
    }

    /// Whether substitution runs with these variables: there is at least one, or the
    /// strategy is `Always`.
    pub fn runs(&self, vars: &BTreeMap<String, String>) -> bool {
        !vars.is_empty() || self.always
    }
}

/// The variables of a substitution: each `substituteFrom` source's data in order (a later
/// source overriding an earlier one), then the `inline` map overriding them all; newlines are
/// removed from every value. `sources` are the data of the sources that exist, in
/// `substituteFrom` order: a ConfigMap's `data`, a Secret's decoded `data`
/// ([`decode_secret_data`] for a Secret read as JSON).
pub fn variables(
    inline: &BTreeMap<String, String>,
    sources: &[BTreeMap<String, String>],
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for (key, value) in sources.iter().flatten().chain(inline) {
        vars.insert(key.clone(), value.replace('\n', ""));
    }
    vars
}

/// The `data` of a Secret read as JSON (values base64 as the API serves them), decoded.
/// Bytes that are not UTF-8 are replaced, as they could not be substituted into YAML anyway.
pub fn decode_secret_data(secret: &Value) -> Result<BTreeMap<String, String>, SubstituteError> {
    let mut decoded = BTreeMap::new();
    if let Some(data) = secret["data"].as_object() {
        for (key, value) in data {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap_or_default())
                .map_err(|_| SubstituteError::NotBase64 { key: key.clone() })?;
            decoded.insert(key.clone(), String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok(decoded)
}

// ---------------------------------------------------------------------------------------
// Parsing. The grammar follows Flux's scanner: text up to `${`, then a name, then one
// operator form. The whole text is parsed before evaluation.

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Expr {
        name: String,
        op: &'static str,
        args: Vec<Node>,
    },
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

/// Which characters end a piece of text inside an expression, and whether the escapes `$$`,
/// `\\` and `\/` apply there (only in `${var/old/new}`).
#[derive(Clone, Copy)]
enum Stop {
    Brace,
    Slash,
    ColonOrBrace,
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn at_open(&self) -> bool {
        self.peek() == Some('$') && self.peek_at(1) == Some('{')
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Top level: text with `$$` escapes, and expressions.
    fn parse_text(&mut self) -> Result<Vec<Node>, SyntaxError> {
        let mut nodes = Vec::new();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if self.at_open() {
                if !text.is_empty() {
                    nodes.push(Node::Text(std::mem::take(&mut text)));
                }
                self.pos += 2;
                nodes.push(self.parse_expr()?);
            } else if c == '$' && self.peek_at(1) == Some('$') {
                text.push('$');
                self.pos += 2;
            } else {
                text.push(c);
                self.pos += 1;
            }
        }
        if !text.is_empty() {
            nodes.push(Node::Text(text));
        }
        Ok(nodes)
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c == '_' || c.is_alphabetic() || c.is_numeric())
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn close(&mut self, error: SyntaxError) -> Result<(), SyntaxError> {
        if self.eat('}') { Ok(()) } else { Err(error) }
    }

    /// After `${`.
    fn parse_expr(&mut self) -> Result<Node, SyntaxError> {
        if self.eat('#') {
            let name = self.name();
            if name.is_empty() {
                return Err(SyntaxError::BadSubstitution);
            }
            self.close(SyntaxError::BadSubstitution)?;
            return Ok(Node::Expr {
                name,
                op: "#",
                args: Vec::new(),
            });
        }
        let name = self.name();
        if name.is_empty() {
            return Err(SyntaxError::VariableName);
        }
        let expr = |op, args| Node::Expr {
            name: name.clone(),
            op,
            args,
        };
        match self.peek() {
            Some(':') if matches!(self.peek_at(1), Some('=' | '-' | '?' | '+')) => {
                let op = match self.peek_at(1) {
                    Some('=') => ":=",
                    Some('-') => ":-",
                    Some('?') => ":?",
                    _ => ":+",
                };
                self.pos += 2;
                Ok(expr(op, self.parse_default_args()?))
            }
            Some('=') => {
                self.pos += 1;
                Ok(expr("=", self.parse_default_args()?))
            }
            Some(':') => {
                self.pos += 1;
                let mut args = vec![self.parse_arg(Stop::ColonOrBrace, false)?];
                if self.eat('}') {
                    return Ok(expr(":", args));
                }
                if !self.eat(':') {
                    return Err(SyntaxError::BadSubstitution);
                }
                // Flux's scanner swallows a run of colons as the delimiter.
                while self.eat(':') {}
                args.push(self.parse_arg(Stop::Brace, false)?);
                self.close(SyntaxError::BadSubstitution)?;
                Ok(expr(":", args))
            }
            Some(',' | '^') => {
                let mut op = String::new();
                while op.len() < 2 && matches!(self.peek(), Some(',' | '^')) {
                    op.push(self.chars[self.pos]);
                    self.pos += 1;
                }
                self.close(SyntaxError::BadSubstitution)?;
                let op = match op.as_str() {
                    "," => ",",
                    ",," => ",,",
                    "^" => "^",
                    "^^" => "^^",
                    // Mixed forms parse but do nothing.
                    _ => "casing",
                };
                Ok(expr(op, Vec::new()))
            }
            Some('/') => {
                self.pos += 1;
                let op = match self.peek() {
                    Some('/') => "//",
                    Some('#') => "/#",
                    Some('%') => "/%",
                    _ => "/",
                };
                if op != "/" {
                    self.pos += 1;
                }
                let mut args = vec![self.parse_arg(Stop::Slash, true)?];
                if !self.eat('/') {
                    return Err(SyntaxError::BadSubstitution);
                }
                if self.eat('}') {
                    return Ok(expr(op, args));
                }
                args.push(self.parse_arg(Stop::Brace, true)?);
                self.close(SyntaxError::BadSubstitution)?;
                Ok(expr(op, args))
            }
            Some(mark @ ('#' | '%')) => {
                self.pos += 1;
                let long = self.eat(mark);
                let op = match (mark, long) {
                    ('#', false) => "#",
                    ('#', true) => "##",
                    ('%', false) => "%",
                    _ => "%%",
                };
                let args = vec![self.parse_arg(Stop::Brace, false)?];
                self.close(SyntaxError::BadSubstitution)?;
                Ok(expr(op, args))
            }
            _ => {
                self.close(SyntaxError::MissingClosingBrace)?;
                Ok(expr("", Vec::new()))
            }
        }
    }

    /// The pieces of a default up to its `}`: text and nested expressions.
    fn parse_default_args(&mut self) -> Result<Vec<Node>, SyntaxError> {
        let mut args = Vec::new();
        loop {
            if self.eat('}') {
                return Ok(args);
            }
            args.push(self.parse_arg(Stop::Brace, false)?);
        }
    }

    /// One argument: a nested expression, or text up to a stop character or `${`. An empty
    /// argument is an error.
    fn parse_arg(&mut self, stop: Stop, escapes: bool) -> Result<Node, SyntaxError> {
        if self.at_open() {
            self.pos += 2;
            return self.parse_expr();
        }
        let stops = |c: char| match stop {
            Stop::Brace => c == '}',
            Stop::Slash => c == '/',
            Stop::ColonOrBrace => c == ':' || c == '}',
        };
        let mut text = String::new();
        let mut first = true;
        while let Some(c) = self.peek() {
            if !first && self.at_open() {
                break;
            }
            let escaped = escapes
                && match c {
                    '$' => self.peek_at(1) == Some('$'),
                    '\\' => matches!(self.peek_at(1), Some('/' | '\\')),
                    _ => false,
                };
            if escaped {
                if let Some(next) = self.peek_at(1) {
                    text.push(next);
                }
                self.pos += 2;
            } else if stops(c) {
                break;
            } else {
                text.push(c);
                self.pos += 1;
            }
            first = false;
        }
        if first {
            return Err(SyntaxError::FuncSubstitution);
        }
        Ok(Node::Text(text))
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation.

fn eval(
    node: &Node,
    vars: &BTreeMap<String, String>,
    strict: bool,
    out: &mut String,
) -> Result<(), SubstituteError> {
    let (name, op, args) = match node {
        Node::Text(text) => {
            out.push_str(text);
            return Ok(());
        }
        Node::Expr { name, op, args } => (name, *op, args),
    };
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        let mut value = String::new();
        eval(arg, vars, strict, &mut value)?;
        values.push(value);
    }
    let defaulting = matches!(op, "=" | ":=" | ":-" | ":?" | ":+");
    let value = match vars.get(name) {
        Some(value) => value.as_str(),
        None if strict && !defaulting => {
            return Err(SubstituteError::NotSet { name: name.clone() });
        }
        None => "",
    };
    out.push_str(&apply(op, value, &values));
    Ok(())
}

fn apply(op: &str, value: &str, args: &[String]) -> String {
    let arg = |index: usize| args.get(index).map(String::as_str);
    match op {
        "," => change_first(value, false),
        ",," => value.to_lowercase(),
        "^" => change_first(value, true),
        "^^" => value.to_uppercase(),
        "#" if args.is_empty() => value.len().to_string(),
        "#" => trim_prefix(value, arg(0).unwrap_or_default(), false),
        "##" => trim_prefix(value, arg(0).unwrap_or_default(), true),
        "%" => trim_suffix(value, arg(0).unwrap_or_default(), false),
        "%%" => trim_suffix(value, arg(0).unwrap_or_default(), true),
        ":" => substring(value, arg(0), arg(1)),
        "/" => value.replacen(arg(0).unwrap_or_default(), arg(1).unwrap_or_default(), 1),
        "//" => value.replace(arg(0).unwrap_or_default(), arg(1).unwrap_or_default()),
        "/#" => match (arg(0), arg(1)) {
            (Some(old), Some(new)) if value.starts_with(old) => {
                format!("{new}{}", &value[old.len()..])
            }
            _ => value.to_string(),
        },
        "/%" => match (arg(0), arg(1)) {
            (Some(old), Some(new)) if value.ends_with(old) => {
                format!("{}{new}", &value[..value.len() - old.len()])
            }
            _ => value.to_string(),
        },
        // `${var}`, every default form and the no-op casing forms: the value, or the
        // concatenated default when the value is empty.
        _ if value.is_empty() && !args.is_empty() => args.concat(),
        _ => value.to_string(),
    }
}

fn change_first(value: &str, upper: bool) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) if upper => first.to_uppercase().chain(chars).collect(),
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `${var:offset}` / `${var:offset:length}` on bytes, as Flux does; a cut inside a UTF-8
/// sequence is repaired with the replacement character.
fn substring(value: &str, offset: Option<&str>, length: Option<&str>) -> String {
    let bytes = value.as_bytes();
    let Some(Ok(offset)) = offset.map(str::parse::<i64>) else {
        return value.to_string();
    };
    let len = bytes.len() as i64;
    let start = if offset < 0 {
        (len + offset).max(0)
    } else {
        offset
    };
    let end = match length {
        None => len,
        Some(length) => match length.parse::<i64>() {
            Ok(length) if start + length < len => start + length,
            Ok(_) => len,
            Err(_) => return value.to_string(),
        },
    };
    if start >= len || end <= start {
        return String::new();
    }
    String::from_utf8_lossy(&bytes[start as usize..end as usize]).into_owned()
}

/// Removes the shortest (or longest) non-empty prefix of `value` matching the glob `pattern`.
fn trim_prefix(value: &str, pattern: &str, longest: bool) -> String {
    let pattern: Vec<char> = pattern.chars().collect();
    let chars: Vec<char> = value.chars().collect();
    let mut lengths: Vec<usize> = (1..=chars.len()).collect();
    if longest {
        lengths.reverse();
    }
    for length in lengths {
        match glob_match(&pattern, &chars[..length]) {
            Some(true) => return chars[length..].iter().collect(),
            Some(false) => {}
            None => return value.to_string(),
        }
    }
    value.to_string()
}

/// As [`trim_prefix`] from the end: Flux reverses the value and the pattern, trims, and
/// reverses back (so a reversed character class like `[a-z]` no longer reads as one).
fn trim_suffix(value: &str, pattern: &str, longest: bool) -> String {
    let reverse = |s: &str| s.chars().rev().collect::<String>();
    reverse(&trim_prefix(&reverse(value), &reverse(pattern), longest))
}

/// Whether `name` matches the glob `pattern` as a whole: `*` any run of characters, `?` any
/// one character, `[...]`/`[^...]` a class with ranges, `\c` the character `c`. `None` for a
/// malformed pattern (Flux then leaves the value as is).
fn glob_match(pattern: &[char], name: &[char]) -> Option<bool> {
    match pattern.first() {
        None => Some(name.is_empty()),
        Some('*') => {
            let rest = &pattern[1..];
            for skip in 0..=name.len() {
                if glob_match(rest, &name[skip..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        Some('?') => match name.split_first() {
            Some((_, tail)) => glob_match(&pattern[1..], tail),
            None => Some(false),
        },
        Some('[') => {
            let (matched, consumed) = class_match(&pattern[1..], name.first().copied())?;
            match name.split_first() {
                Some((_, tail)) if matched => glob_match(&pattern[1 + consumed..], tail),
                _ => Some(false),
            }
        }
        Some('\\') => {
            let literal = *pattern.get(1)?;
            match name.split_first() {
                Some((first, tail)) if *first == literal => glob_match(&pattern[2..], tail),
                _ => Some(false),
            }
        }
        Some(literal) => match name.split_first() {
            Some((first, tail)) if first == literal => glob_match(&pattern[1..], tail),
            _ => Some(false),
        },
    }
}

/// A character class after its `[`: whether `c` is in it, and how many pattern characters it
/// took (through the `]`). `None` when the class is malformed.
fn class_match(class: &[char], c: Option<char>) -> Option<(bool, usize)> {
    let mut index = 0;
    let negated = class.first() == Some(&'^');
    if negated {
        index += 1;
    }
    let mut matched = false;
    let mut ranges = 0;
    loop {
        if class.get(index) == Some(&']') && ranges > 0 {
            index += 1;
            break;
        }
        let escaped_char = |index: &mut usize| -> Option<char> {
            let mut ch = *class.get(*index)?;
            if ch == '-' || ch == ']' {
                return None;
            }
            if ch == '\\' {
                *index += 1;
                ch = *class.get(*index)?;
            }
            *index += 1;
            Some(ch)
        };
        let low = escaped_char(&mut index)?;
        let mut high = low;
        if class.get(index) == Some(&'-') {
            index += 1;
            high = escaped_char(&mut index)?;
        }
        if c.is_some_and(|c| low <= c && c <= high) {
            matched = true;
        }
        ranges += 1;
    }
    Some((matched != negated, index))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sub(text: &str, pairs: &[(&str, &str)]) -> String {
        substitute(text, &vars(pairs), false).unwrap()
    }

    fn strict(text: &str, pairs: &[(&str, &str)]) -> Result<String, SubstituteError> {
        substitute(text, &vars(pairs), true)
    }

    #[test]
    fn braced_variables_are_replaced_and_missing_ones_are_empty() {
        assert_eq!(
            sub(
                "image: ${REPO}/app:${TAG}",
                &[("REPO", "ghcr.io/x"), ("TAG", "1.2")]
            ),
            "image: ghcr.io/x/app:1.2"
        );
        assert_eq!(sub("a${MISSING}b", &[]), "ab");
        assert_eq!(sub("${_under_1}", &[("_under_1", "ok")]), "ok");
    }

    #[test]
    fn bare_dollar_names_are_plain_text() {
        assert_eq!(
            sub("echo $HOME and $X", &[("HOME", "/h"), ("X", "x")]),
            "echo $HOME and $X"
        );
        assert_eq!(sub("cost: 5$", &[]), "cost: 5$");
        assert_eq!(sub("$", &[]), "$");
        assert_eq!(sub("a $ {X}", &[("X", "x")]), "a $ {X}");
    }

    #[test]
    fn double_dollar_escapes_one_dollar_everywhere_in_text() {
        assert_eq!(sub("$${VAR}", &[("VAR", "v")]), "${VAR}");
        assert_eq!(sub("$$VAR", &[("VAR", "v")]), "$VAR");
        assert_eq!(sub("$$$$", &[]), "$$");
        assert_eq!(sub("$$${VAR}", &[("VAR", "v")]), "$v");
        assert_eq!(sub("a$$b", &[]), "a$b");
    }

    #[test]
    fn default_forms_apply_when_the_value_is_missing_or_empty() {
        for form in ["${V:-d}", "${V:=d}", "${V=d}", "${V:+d}", "${V:?d}"] {
            assert_eq!(sub(form, &[]), "d", "{form} missing");
            assert_eq!(sub(form, &[("V", "")]), "d", "{form} empty");
            assert_eq!(sub(form, &[("V", "set")]), "set", "{form} set");
            assert_eq!(strict(form, &[]).unwrap(), "d", "{form} strict");
        }
        assert_eq!(sub("${V:-}", &[]), "");
        assert_eq!(sub("${V:-a b:c}", &[]), "a b:c");
        assert_eq!(sub("${V:-${W:-deep}}", &[]), "deep");
        assert_eq!(sub("${V:-x${W}y}", &[("W", "-")]), "x-y");
        // No assignment: a later plain use is still unset.
        assert_eq!(sub("${V:=d} ${V}", &[]), "d ");
    }

    #[test]
    fn default_without_colon_is_a_syntax_error_as_in_flux() {
        assert_eq!(
            strict("${V-d}", &[]).unwrap_err().to_string(),
            "missing closing brace"
        );
    }

    #[test]
    fn strict_mode_names_the_missing_variable() {
        let err = strict("a: ${A}\nb: ${MISSING}", &[("A", "1")]).unwrap_err();
        assert_eq!(
            err,
            SubstituteError::NotSet {
                name: "MISSING".into()
            }
        );
        assert_eq!(
            err.to_string(),
            r#"variable not set (strict mode): "MISSING""#
        );
        // Defined but empty is not missing.
        assert_eq!(strict("${E}", &[("E", "")]).unwrap(), "");
        // Value-reading operators fail like the plain form.
        for form in ["${M^^}", "${#M}", "${M/a/b}", "${M:1}", "${M%x}"] {
            assert!(
                matches!(strict(form, &[]), Err(SubstituteError::NotSet { .. })),
                "{form}"
            );
        }
        // A missing variable inside a default is checked too.
        assert!(strict("${V:-${M}}", &[("V", "x")]).is_err());
    }

    #[test]
    fn string_operators_behave_as_in_flux() {
        let v = &[("V", "Hello-World.tar.gz")];
        assert_eq!(sub("${#V}", v), "18");
        assert_eq!(sub("${V^^}", v), "HELLO-WORLD.TAR.GZ");
        assert_eq!(sub("${V,,}", v), "hello-world.tar.gz");
        assert_eq!(sub("${V,}", v), "hello-World.tar.gz");
        assert_eq!(sub("${V^}", &[("V", "abc")]), "Abc");
        assert_eq!(sub("${V,^}", v), "Hello-World.tar.gz");
        assert_eq!(sub("${V:6}", v), "World.tar.gz");
        assert_eq!(sub("${V:6:5}", v), "World");
        assert_eq!(sub("${V: -6}", v), "Hello-World.tar.gz", "not a number");
        assert_eq!(sub("${V:100}", v), "");
        assert_eq!(sub("${V#*.}", v), "tar.gz");
        assert_eq!(sub("${V##*.}", v), "gz");
        assert_eq!(sub("${V%.*}", v), "Hello-World.tar");
        assert_eq!(sub("${V%%.*}", v), "Hello-World");
        assert_eq!(sub("${V#[A-Z]}", v), "ello-World.tar.gz");
        assert_eq!(sub("${V#nomatch}", v), "Hello-World.tar.gz");
        assert_eq!(sub("${V/o/0}", v), "Hell0-World.tar.gz");
        assert_eq!(sub("${V//o/0}", v), "Hell0-W0rld.tar.gz");
        assert_eq!(sub("${V/#Hello/Bye}", v), "Bye-World.tar.gz");
        assert_eq!(sub("${V/%gz/xz}", v), "Hello-World.tar.xz");
        assert_eq!(sub("${V/#World/x}", v), "Hello-World.tar.gz");
        assert_eq!(sub("${V//./}", v), "Hello-Worldtargz");
        assert_eq!(sub("${P//\\//-}", &[("P", "a/b/c")]), "a-b-c");
    }

    #[test]
    fn malformed_expressions_fail_with_flux_messages() {
        for (text, message) in [
            ("${}", "unable to parse variable name"),
            ("x ${ V}", "unable to parse variable name"),
            ("${V", "missing closing brace"),
            ("${V.x}", "missing closing brace"),
            ("${V:}", "unable to parse substitution within function"),
            ("${V:-x", "unable to parse substitution within function"),
            ("${V/x}", "bad substitution"),
            ("${#}", "bad substitution"),
        ] {
            assert_eq!(
                strict(text, &[("V", "v")]).unwrap_err().to_string(),
                message,
                "{text}"
            );
            assert!(substitute(text, &vars(&[]), false).is_err(), "{text}");
        }
    }

    #[test]
    fn names_must_follow_the_rule() {
        assert!(check_names(&vars(&[("a", ""), ("_B9", ""), ("Z_z", "")])).is_ok());
        for bad in ["9lives", "with-dash", "dot.ted", "", "ünï", "sp ace"] {
            let err = check_names(&vars(&[("ok", ""), (bad, "")])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "'{bad}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
                )
            );
        }
        // The check applies whenever substituting, even if the bad name is never used.
        assert!(substitute("plain", &vars(&[("bad-name", "")]), false).is_err());
    }

    #[test]
    fn objects_are_substituted_as_yaml_text_and_take_new_types() {
        let object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "namespace": "ns", "labels": {"env": "${ENV:=dev}"}},
            "spec": {"replicas": "${N}", "paused": "${P}", "template": {"spec": {"containers": [
                {"name": "c", "image": "img:${TAG}", "args": ["$${NOT}", "$X"]}
            ]}}}
        });
        let out = substitute_object(
            &object,
            &vars(&[("N", "3"), ("P", "yes"), ("TAG", "1.0")]),
            false,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "app", "namespace": "ns", "labels": {"env": "dev"}},
                "spec": {"replicas": 3, "paused": true, "template": {"spec": {"containers": [
                    {"name": "c", "image": "img:1.0", "args": ["${NOT}", "$X"]}
                ]}}}
            })
        );
    }

    #[test]
    fn substituted_numbers_follow_yaml_1_1_as_in_flux() {
        let object = json!({"kind": "X", "metadata": {"name": "x"},
            "spec": {"mode": "${MODE}", "big": "${BIG}", "f": "${F}", "keep": 1.5, "s": "0644"}});
        let out = substitute_object(
            &object,
            &vars(&[("MODE", "0644"), ("BIG", "1e3"), ("F", "2.50")]),
            false,
        )
        .unwrap();
        assert_eq!(
            out["spec"],
            json!({"mode": 420, "big": 1000, "f": 2.5, "keep": 1.5, "s": "0644"})
        );
        assert_eq!(out["spec"]["big"].to_string(), "1000");
    }

    #[test]
    fn quotes_and_backslashes_in_values_stay_text() {
        let object = json!({"kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"a": "${V}", "b": "pre ${V}\nline two", "c": "x\n${V}\n"}});
        let out = substitute_object(&object, &vars(&[("V", r#"say "hi" \ o/"#)]), true).unwrap();
        assert_eq!(out["data"]["a"], r#"say "hi" \ o/"#);
        assert_eq!(out["data"]["b"], "pre say \"hi\" \\ o/\nline two");
        assert_eq!(out["data"]["c"], "x\nsay \"hi\" \\ o/\n");
    }

    #[test]
    fn strings_without_expressions_keep_their_type_through_the_round_trip() {
        // Strings a YAML 1.1 or 1.2 reader could take for something else must be written
        // quoted, or substituting any object would turn them into numbers or booleans.
        let texts = [
            "y",
            "n",
            "Y",
            "N",
            "yes",
            "No",
            "on",
            "OFF",
            "0644",
            "-007",
            "1_000",
            "1e3",
            "0x1F",
            "0o17",
            "0b101",
            ".inf",
            "-.Inf",
            ".NaN",
            "~",
            "null",
            "Null",
            "12:30",
            "2026-01-01",
            "1.0",
            "+1",
            "",
            " lead",
            "trail ",
            "#c",
            "a: b",
            "- x",
            "[x]",
            "{x}",
            "*a",
            "&a",
            "!t",
            "%p",
            "@x",
            "`x",
            "'q'",
            "\"d\"",
            "|",
            ">",
            "?",
            "? x",
            "x #c",
            "true",
            "False",
            "3",
            "-3.5",
            "<<",
            "=",
            "0.",
            ".5",
            "1:2:3",
            "\t",
            "$",
        ];
        let data: serde_json::Map<String, Value> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| (format!("k{index}"), Value::from(*text)))
            .collect();
        let object = json!({"kind": "ConfigMap", "metadata": {"name": "x"}, "data": data});
        let out = substitute_object(&object, &vars(&[("A", "1")]), true).unwrap();
        assert_eq!(out, object);
    }

    /// The same ConfigMap as written by `kubectl kustomize` 1.36 (kustomize v5.8, the Go
    /// emitter of Flux's `AsYAML`), captured once: strings with `${` must be written plain or
    /// quoted exactly as there, or substitution gives other types or other text.
    const KUSTOMIZE_WROTE: &str = r#"apiVersion: v1
data:
  k00: ${A}
  k01: -${A}
  k02: '${A}:'
  k03: '${A}: x'
  k04: 'x: ${A}'
  k05: '${A} #c'
  k06: '#${A}'
  k07: '- ${A}'
  k08: '[${A}]'
  k09: '{${A}}'
  k10: ${A},${B}
  k11: '*${A}'
  k12: '&${A}'
  k13: '!${A}'
  k14: '%${A}'
  k15: '@${A}'
  k16: '`${A}'
  k17: ?${A}
  k18: '? ${A}'
  k19: '|${A}'
  k20: '>${A}'
  k21: ' ${A}'
  k22: '${A} '
  k23: '''${A}'''
  k24: '"${A}"'
  k25: a'${A}
  k26: ${A}\d
  k27: $${A}
  k28: '${A:-x: y}'
  k29: ${A:=0}
  k30: http://${A}:80/x
  k31: "${A}\t"
  k32: =${A}
  k33: ${A}é
  k34: ${A} - ${B}
  k35: key=${A}
  k36: ${A}%
  k37: 0${A}
  k38: .${A}
  k39: ~${A}
  k40: ${A}~
kind: ConfigMap
metadata:
  name: q
"#;

    #[test]
    fn strings_with_expressions_are_written_as_kustomize_writes_them() {
        let texts = [
            "${A}",
            "-${A}",
            "${A}:",
            "${A}: x",
            "x: ${A}",
            "${A} #c",
            "#${A}",
            "- ${A}",
            "[${A}]",
            "{${A}}",
            "${A},${B}",
            "*${A}",
            "&${A}",
            "!${A}",
            "%${A}",
            "@${A}",
            "`${A}",
            "?${A}",
            "? ${A}",
            "|${A}",
            ">${A}",
            " ${A}",
            "${A} ",
            "'${A}'",
            "\"${A}\"",
            "a'${A}",
            "${A}\\d",
            "$${A}",
            "${A:-x: y}",
            "${A:=0}",
            "http://${A}:80/x",
            "${A}\t",
            "=${A}",
            "${A}\u{e9}",
            "${A} - ${B}",
            "key=${A}",
            "${A}%",
            "0${A}",
            ".${A}",
            "~${A}",
            "${A}~",
        ];
        let data: serde_json::Map<String, Value> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| (format!("k{index:02}"), Value::from(*text)))
            .collect();
        let object = json!({"apiVersion": "v1", "data": data, "kind": "ConfigMap",
            "metadata": {"name": "q"}});
        let yaml = crate::ui::output::kubernetes_yaml(&object, true).unwrap();
        assert_eq!(single_quote_substitutions(&yaml), KUSTOMIZE_WROTE);
    }

    #[test]
    fn an_object_substitutes_like_kustomize_output_of_it() {
        // substitute_document works on kustomize's own text (exactly Flux's); substitute_object
        // on the object read from it. They must agree for any value.
        let object = read_back(KUSTOMIZE_WROTE).unwrap();
        let mut failing = Vec::new();
        for value in [
            "3",
            "-1",
            "x",
            "a: b",
            r#"q"uote"#,
            r"back\slash",
            "",
            " pad ",
            "#",
            "0644",
        ] {
            let vars = vars(&[("A", value), ("B", "b")]);
            let from_text = substitute_document(KUSTOMIZE_WROTE, &vars, false);
            let from_object = substitute_object(&object, &vars, false);
            match (from_text, from_object) {
                (Ok(text), Ok(object)) => assert_eq!(object, text, "A={value:?}"),
                (Err(_), Err(_)) => failing.push(value),
                (text, object) => panic!("A={value:?}: {text:?} but {object:?}"),
            }
        }
        // Invalid YAML for Flux too: `k00: a: b`; a quote or backslash inside the
        // double-quoted `"${A}\t"`; an empty or space-led value after `k17: ?`.
        assert_eq!(failing, ["a: b", r#"q"uote"#, r"back\slash", "", " pad "]);
        // Without the tab-escaped `"${A}\t"`, quotes and backslashes succeed and agree.
        let text: String = KUSTOMIZE_WROTE
            .split_inclusive('\n')
            .filter(|line| !line.contains("k31:"))
            .collect();
        let object = read_back(&text).unwrap();
        for value in [r#"q"uote"#, r"back\slash", "x, y"] {
            let vars = vars(&[("A", value), ("B", "b")]);
            assert_eq!(
                substitute_object(&object, &vars, true).unwrap(),
                substitute_document(&text, &vars, true).unwrap(),
                "A={value:?}"
            );
        }
    }

    #[test]
    fn quotes_substituted_into_quoted_strings_read_as_in_flux() {
        let object = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {
            "colon": "k: ${V}", "flow": "[${V}]", "list": ["- ${V}"],
            "script": "echo \"x: ${V}\"\nline\n", "key: ${V}": "x"}});
        let value = r#"say "hi" \ o/"#;
        let out = substitute_object(&object, &vars(&[("V", value)]), true).unwrap();
        assert_eq!(
            out["data"],
            json!({"colon": format!("k: {value}"), "flow": format!("[{value}]"),
                "list": [format!("- {value}")],
                "script": format!("echo \"x: {value}\"\nline\n"),
                format!("key: {value}"): "x"})
        );
        // A `'` ends Go's single-quoted string early: Flux fails on it, and so does this.
        let err = substitute_object(&object, &vars(&[("V", "it's")]), true).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("var substitution failed for 'ConfigMap/c': the substituted object is not valid YAML"),
            "{err}"
        );
    }

    #[test]
    fn documents_of_kustomize_output_are_substituted_as_text() {
        let output = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: apps\ndata:\n  n: ${N}\n  q: \"${N}\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  raw: ${N}\n";
        let documents = split_documents(output);
        assert_eq!(documents.len(), 2);
        let vars = vars(&[("N", "3")]);
        let first = substitute_document(documents[0], &vars, true).unwrap();
        assert_eq!(first["data"], json!({"n": 3, "q": "3"}));
        let second = substitute_document(documents[1], &vars, true).unwrap();
        assert_eq!(second["data"], json!({"raw": "${N}"}));
        assert_eq!(
            substitute_document(documents[0], &BTreeMap::new(), true)
                .unwrap_err()
                .to_string(),
            r#"var substitution failed for 'ConfigMap/apps/a': variable not set (strict mode): "N""#
        );
    }

    #[test]
    fn documents_split_at_separator_lines_only() {
        assert_eq!(
            split_documents("---\na: 1\n---\n# only a comment\n---\nb: |\n  ---x\n  ---\n"),
            vec!["a: 1\n", "b: |\n  ---x\n  ---\n"]
        );
        assert_eq!(split_documents("a: 1"), vec!["a: 1"]);
        assert!(split_documents("").is_empty());
    }

    /// `kubectl kustomize` output of a test folder, and what `flux build kustomization
    /// --dry-run` (flux v2.9.4) printed for it with the inline variables of
    /// [`flux_vars`]: real Flux as the reference for the whole pipeline.
    const KUSTOMIZE_OUTPUT: &str = r#"apiVersion: v1
data:
  raw: ${TAG} ${
kind: ConfigMap
metadata:
  labels:
    kustomize.toolkit.fluxcd.io/substitute: disabled
  name: "off"
  namespace: default
---
apiVersion: v1
data:
  bare: $TAG and $$TAG and $${TAG}
  colon: 'x: ${Q}'
  dflt: ${MISSING:=dflt}-${MISSING:-d2}-${EMPTY:-e}
  multi: ${MULTI}
  plain: ${TAG}
  script: |
    echo "${Q}"
  upper: ${TAG^^}/${#Q}/${Q:0:3}/${Q/hi/HI}
kind: ConfigMap
metadata:
  name: probe
  namespace: default
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    "yes": ${YESV}
  name: d
  namespace: default
spec:
  replicas: ${NUM}
  selector:
    matchLabels:
      app: d
  template:
    metadata:
      labels:
        app: d
    spec:
      containers:
      - env:
        - name: MODE
          value: ${MODE}
        image: img:${TAG}
        name: c
"#;
    const FLUX_BUILD_OUTPUT: &str = r#"apiVersion: v1
data:
  bare: $TAG and $TAG and ${TAG}
  colon: 'x: say "hi" \ o/'
  dflt: dflt-d2-e
  multi: ab
  plain: 1
  script: |
    echo "say "hi" \ o/"
  upper: 1.0/13/say/say "HI" \ o/
kind: ConfigMap
metadata:
  labels:
    kustomize.toolkit.fluxcd.io/name: app
    kustomize.toolkit.fluxcd.io/namespace: flux-system
  name: probe
  namespace: default
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    kustomize.toolkit.fluxcd.io/name: app
    kustomize.toolkit.fluxcd.io/namespace: flux-system
    "yes": true
  name: d
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels:
      app: d
  template:
    metadata:
      labels:
        app: d
    spec:
      containers:
      - env:
        - name: MODE
          value: 420
        image: img:1.0
        name: c
---
apiVersion: v1
data:
  raw: ${TAG} ${
kind: ConfigMap
metadata:
  labels:
    kustomize.toolkit.fluxcd.io/name: app
    kustomize.toolkit.fluxcd.io/namespace: flux-system
    kustomize.toolkit.fluxcd.io/substitute: disabled
  name: "off"
  namespace: default
---
"#;

    fn flux_vars() -> BTreeMap<String, String> {
        let inline = vars(&[
            ("NUM", "3"),
            ("TAG", "1.0"),
            ("Q", r#"say "hi" \ o/"#),
            ("MULTI", "a\nb"),
            ("YESV", "yes"),
            ("MODE", "0644"),
            ("EMPTY", ""),
        ]);
        variables(&inline, &[])
    }

    #[test]
    fn kustomize_output_substitutes_exactly_as_flux_build() {
        let by_name = |mut objects: Vec<Value>| {
            objects.sort_by_key(|object| object["metadata"]["name"].to_string());
            objects
        };
        let ours: Vec<Value> = split_documents(KUSTOMIZE_OUTPUT)
            .into_iter()
            .map(|document| substitute_document(document, &flux_vars(), true).unwrap())
            .collect();
        let flux: Vec<Value> = split_documents(FLUX_BUILD_OUTPUT)
            .into_iter()
            .map(|document| {
                let mut object = read_back(document).unwrap();
                // flux build adds the owner labels after substituting.
                let labels = &mut object["metadata"]["labels"];
                if let Some(map) = labels.as_object_mut() {
                    map.remove("kustomize.toolkit.fluxcd.io/name");
                    map.remove("kustomize.toolkit.fluxcd.io/namespace");
                    if map.is_empty() {
                        object["metadata"].as_object_mut().unwrap().remove("labels");
                    }
                }
                object
            })
            .collect();
        assert_eq!(flux.len(), 3);
        assert_eq!(by_name(ours.clone()), by_name(flux.clone()));
        // The same from the objects as read, for the path without kustomize's text.
        let from_objects: Vec<Value> = split_documents(KUSTOMIZE_OUTPUT)
            .into_iter()
            .map(|document| {
                substitute_object(&read_back(document).unwrap(), &flux_vars(), true).unwrap()
            })
            .collect();
        assert_eq!(by_name(from_objects), by_name(flux));
    }

    #[test]
    fn a_missing_variable_outside_strict_mode_leaves_null_as_in_flux() {
        // flux build printed `a: null` for `a: ${NOPE}` (and, with --strict-substitute,
        // `var substitution failed for 's': envsubst error: variable substitution failed:
        // variable not set (strict mode): "NOPE"`).
        let object =
            json!({"kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"a": "${NOPE}"}});
        let out = substitute_object(&object, &vars(&[("TAG", "1")]), false).unwrap();
        assert_eq!(out["data"]["a"], Value::Null);
    }

    #[test]
    fn keys_are_substituted_too() {
        let object = json!({"kind": "ConfigMap", "metadata": {"name": "c",
            "labels": {"team-${TEAM}": "yes"}}});
        let out = substitute_object(&object, &vars(&[("TEAM", "a")]), true).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"team-a": "yes"}));
    }

    #[test]
    fn multi_line_values_survive_substitution() {
        let object = json!({"kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"script": "#!/bin/sh\necho ${GREETING}\n\tindented\n"}});
        let out = substitute_object(&object, &vars(&[("GREETING", "hi")]), true).unwrap();
        assert_eq!(out["data"]["script"], "#!/bin/sh\necho hi\n\tindented\n");
    }

    #[test]
    fn disabled_objects_are_left_alone_even_when_malformed() {
        for field in ["labels", "annotations"] {
            let object = json!({"kind": "ConfigMap", "metadata": {"name": "c",
                field: {SUBSTITUTE_MARKER: "disabled"}}, "data": {"a": "${A}", "b": "${"}});
            assert_eq!(
                substitute_object(&object, &vars(&[("A", "x")]), true).unwrap(),
                object
            );
        }
        let enabled = json!({"kind": "ConfigMap", "metadata": {"name": "c",
            "annotations": {SUBSTITUTE_MARKER: "enabled"}}, "data": {"a": "${A}"}});
        assert_eq!(
            substitute_object(&enabled, &vars(&[("A", "x")]), true).unwrap()["data"]["a"],
            "x"
        );
    }

    #[test]
    fn object_errors_name_the_object() {
        let object = json!({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
            "data": {"a": "${A}"}});
        assert_eq!(
            substitute_object(&object, &vars(&[("B", "x")]), true)
                .unwrap_err()
                .to_string(),
            r#"var substitution failed for 'ConfigMap/n/c': variable not set (strict mode): "A""#
        );
        let breaking = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "x"},
            "spec": "${V}"});
        let err = substitute_object(&breaking, &vars(&[("V", "a: b: c")]), false).unwrap_err();
        assert!(
            err.to_string().starts_with("var substitution failed for 'ConfigMap/c': the substituted object is not valid YAML"),
            "{err}"
        );
    }

    #[test]
    fn variables_merge_in_order_with_inline_last_and_newlines_removed() {
        let from_config_map = vars(&[("A", "cm\n"), ("B", "cm"), ("C", "cm")]);
        let from_secret = vars(&[("B", "secret\nline\n"), ("C", "secret")]);
        let inline = vars(&[("C", "in\nline")]);
        assert_eq!(
            variables(&inline, &[from_config_map, from_secret]),
            vars(&[("A", "cm"), ("B", "secretline"), ("C", "inline")])
        );
        assert!(variables(&BTreeMap::new(), &[]).is_empty());
    }

    #[test]
    fn secret_data_is_decoded() {
        let secret = json!({"kind": "Secret", "data": {"TOKEN": "czNjcjN0Cg==", "E": ""}});
        assert_eq!(
            decode_secret_data(&secret).unwrap(),
            vars(&[("TOKEN", "s3cr3t\n"), ("E", "")])
        );
        let bad = json!({"kind": "Secret", "data": {"K": "not base64!"}});
        assert_eq!(
            decode_secret_data(&bad).unwrap_err().to_string(),
            r#"value of key "K" is not valid base64"#
        );
    }

    #[test]
    fn post_build_is_read_and_decides_whether_substitution_runs() {
        assert_eq!(
            PostBuild::from_kustomization(&json!({"spec": {"path": "./"}})),
            None
        );
        let ks = json!({"spec": {"postBuild": {
            "substitute": {"A": "1", "N": 2},
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "vars"},
                {"kind": "Secret", "name": "secret-vars", "optional": true}
            ]
        }}});
        let post_build = PostBuild::from_kustomization(&ks).unwrap();
        assert_eq!(post_build.substitute, vars(&[("A", "1"), ("N", "2")]));
        assert_eq!(
            post_build.substitute_from,
            vec![
                SubstituteRef {
                    kind: "ConfigMap".into(),
                    name: "vars".into(),
                    optional: false
                },
                SubstituteRef {
                    kind: "Secret".into(),
                    name: "secret-vars".into(),
                    optional: true
                },
            ]
        );
        assert!(!post_build.always);
        assert!(post_build.runs(&vars(&[("A", "1")])));
        assert!(!post_build.runs(&BTreeMap::new()));
        let always = PostBuild::from_kustomization(
            &json!({"spec": {"postBuild": {"substituteStrategy": "Always"}}}),
        )
        .unwrap();
        assert!(always.runs(&BTreeMap::new()));
    }

    #[test]
    fn glob_classes_and_escapes() {
        let m = |p: &str, n: &str| {
            glob_match(
                &p.chars().collect::<Vec<_>>(),
                &n.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(m("a*c", "abbc"), Some(true));
        assert_eq!(m("a?c", "a/c"), Some(true));
        assert_eq!(m("[^a-c]x", "dx"), Some(true));
        assert_eq!(m("[^a-c]x", "bx"), Some(false));
        assert_eq!(m("\\*", "*"), Some(true));
        assert_eq!(m("[a", "a"), None);
        assert_eq!(m("\\", "a"), None);
    }
}
