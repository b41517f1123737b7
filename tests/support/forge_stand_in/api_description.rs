//! Checks a request against a published API description in OpenAPI 3.0 form: the operation
//! (method and path template) exists, every path and query parameter is declared and has the
//! declared type, required ones are there, and the JSON body matches the request body's schema
//! (with no property the schema does not name: a misspelt field would be ignored by the real
//! server, so it is an error here). GitHub's description is its own (`@octokit/openapi`);
//! GitLab publishes none, so tests/testdata/forge/gitlab-api-v4.json writes its documented
//! shapes in the same form.

use serde_json::{Map, Value, json};

/// An API description and the path prefix its paths are served under (`/api/v3`, `/api/v4`).
pub struct ApiDescription {
    document: Value,
    prefix: String,
}

/// Path parameters by name, as they appear in the path (still percent-encoded).
type PathParams = Vec<(String, String)>;

/// The operation a valid request was matched to.
#[derive(Debug, Clone)]
pub struct Matched {
    /// The description's path template, e.g. `/repos/{owner}/{repo}/keys`.
    pub template: String,
    /// Path parameters, percent-decoded.
    pub params: Map<String, Value>,
}

impl ApiDescription {
    pub fn new(document: Value, prefix: &str) -> ApiDescription {
        ApiDescription {
            document,
            prefix: prefix.to_string(),
        }
    }

    /// Validates one request; `Err` says what in it the description does not allow.
    pub fn validate(
        &self,
        method: &str,
        raw_path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Matched, String> {
        let Some(path) = raw_path.strip_prefix(&self.prefix) else {
            return Err(format!("{raw_path} is not under {}", self.prefix));
        };
        let (template, item, params) = self
            .match_path(path)
            .ok_or_else(|| format!("no path of the description matches {path}"))?;
        let method = method.to_ascii_lowercase();
        let operation = item
            .get(&method)
            .ok_or_else(|| format!("{template} has no {} operation", method.to_uppercase()))?;
        let declared: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(
                operation
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            )
            .map(|p| self.resolve(p).clone())
            .collect();
        let operation_id = operation
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or(&template);
        let context = format!("{} {path} ({operation_id})", method.to_uppercase());

        let mut decoded = Map::new();
        for (name, raw) in &params {
            let parameter = declared
                .iter()
                .find(|p| p["in"] == "path" && p["name"] == name.as_str())
                .ok_or_else(|| format!("{context}: path parameter {name} is not declared"))?;
            let value = decode(raw);
            self.check_parameter(&context, parameter, &value)?;
            decoded.insert(name.clone(), Value::String(value));
        }
        let mut seen = Vec::new();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name);
            let parameter = declared
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == name.as_str())
                .ok_or_else(|| {
                    format!("{context}: query parameter {name:?} is not in the description")
                })?;
            self.check_parameter(&context, parameter, &decode(value))?;
            seen.push(name);
        }
        for parameter in &declared {
            if parameter["in"] == "query"
                && parameter["required"] == true
                && !seen.iter().any(|s| parameter["name"] == s.as_str())
            {
                return Err(format!(
                    "{context}: required query parameter {} is missing",
                    parameter["name"]
                ));
            }
        }

        match operation.get("requestBody").map(|b| self.resolve(b)) {
            None if !body.is_empty() => {
                return Err(format!("{context}: the operation takes no body"));
            }
            None => {}
            Some(spec) if body.is_empty() && spec["required"] == true => {
                return Err(format!("{context}: the request body is required"));
            }
            Some(_) if body.is_empty() => {}
            Some(spec) => {
                let schema = spec
                    .pointer("/content/application~1json/schema")
                    .ok_or_else(|| format!("{context}: the operation takes no JSON body"))?;
                let value: Value = serde_json::from_slice(body)
                    .map_err(|e| format!("{context}: the body is no JSON: {e}"))?;
                self.check_value(&context, "request body", schema, &value, true)?;
            }
        }
        Ok(Matched {
            template,
            params: decoded,
        })
    }

    /// The path template matching `path` best (most literal segments), its path item, and the
    /// raw values of its parameters.
    fn match_path(&self, path: &str) -> Option<(String, &Value, PathParams)> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(usize, String, &Value, PathParams)> = None;
        for (template, item) in self.document["paths"].as_object()? {
            let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let mut params = Vec::new();
            let mut literal = 0;
            let matched = parts.iter().zip(&segments).all(|(part, segment)| {
                if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    params.push((name.to_string(), segment.to_string()));
                    !segment.is_empty()
                } else {
                    literal += 1;
                    part == segment
                }
            });
            if matched && best.as_ref().is_none_or(|(n, ..)| literal > *n) {
                best = Some((literal, template.clone(), item, params));
            }
        }
        best.map(|(_, template, item, params)| (template, item, params))
    }

    fn check_parameter(&self, context: &str, parameter: &Value, raw: &str) -> Result<(), String> {
        let name = parameter["name"].as_str().unwrap_or_default();
        let schema = &parameter["schema"];
        let value = match self.resolve(schema)["type"].as_str() {
            Some("integer") => raw
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("{context}: parameter {name}={raw:?} is no integer"))?,
            Some("boolean") => raw
                .parse::<bool>()
                .map(Value::from)
                .map_err(|_| format!("{context}: parameter {name}={raw:?} is no boolean"))?,
            _ => Value::String(raw.to_string()),
        };
        self.check_value(context, &format!("parameter {name}"), schema, &value, false)
    }

    fn check_value(
        &self,
        context: &str,
        what: &str,
        schema: &Value,
        value: &Value,
        strict: bool,
    ) -> Result<(), String> {
        let schema = self.to_json_schema(schema, strict, 0);
        let validator = jsonschema::draft4::new(&schema)
            .map_err(|e| format!("{context}: the description's schema for the {what}: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{} at {:?}", e, e.instance_path().to_string()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{context}: the {what} {value} does not match the description: {}",
                errors.join("; ")
            ))
        }
    }

    /// Follows a local `$ref` (`#/components/...`).
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        let mut value = value;
        for _ in 0..16 {
            match value.get("$ref").and_then(Value::as_str) {
                Some(reference) => match reference
                    .strip_prefix('#')
                    .and_then(|p| self.document.pointer(p))
                {
                    Some(target) => value = target,
                    None => return value,
                },
                None => return value,
            }
        }
        value
    }

    /// An OpenAPI 3.0 schema object as a draft-4 JSON schema: references inlined, `nullable`
    /// as a union with null, and, when `strict`, objects closed to undeclared properties.
    fn to_json_schema(&self, schema: &Value, strict: bool, depth: usize) -> Value {
        let schema = self.resolve(schema);
        let Some(object) = schema.as_object() else {
            return schema.clone();
        };
        if depth > 12 {
            return json!({});
        }
        let mut out = Map::new();
        for (key, value) in object {
            let converted = match key.as_str() {
                "properties" => Value::Object(
                    value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), self.to_json_schema(v, strict, depth + 1)))
                        .collect(),
                ),
                "items" | "additionalProperties" | "not" if value.is_object() => {
                    self.to_json_schema(value, strict, depth + 1)
                }
                "allOf" | "anyOf" | "oneOf" => Value::Array(
                    value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| self.to_json_schema(v, false, depth + 1))
                        .collect(),
                ),
                "nullable" | "example" | "examples" | "discriminator" | "readOnly"
                | "writeOnly" | "deprecated" | "externalDocs" | "xml" => continue,
                k if k.starts_with("x-") => continue,
                _ => value.clone(),
            };
            out.insert(key.clone(), converted);
        }
        if strict && out.contains_key("properties") && !out.contains_key("additionalProperties") {
            out.insert("additionalProperties".into(), Value::Bool(false));
        }
        let out = Value::Object(out);
        if object.get("nullable") == Some(&Value::Bool(true)) {
            json!({"anyOf": [out, {"type": "null"}]})
        } else {
            out
        }
    }

    /// The example of a response (`operationId`, status), references followed: the stand-in
    /// answers with GitHub's own examples, changed where its state says otherwise.
    pub fn response_example(&self, operation_id: &str, status: &str) -> Option<Value> {
        for item in self.document["paths"].as_object()?.values() {
            for operation in item.as_object()?.values() {
                if operation["operationId"] != operation_id {
                    continue;
                }
                let response = self.resolve(operation.pointer(&format!("/responses/{status}"))?);
                let examples = response.pointer("/content/application~1json/examples")?;
                let first = examples.as_object()?.values().next()?;
                return Some(self.resolve(first)["value"].clone());
            }
        }
        None
    }
}

/// Percent-decodes one URL component (`+` stays itself: GitHub and GitLab take `%20`).
pub fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
