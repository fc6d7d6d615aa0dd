//! A deterministic value that validates against a JSON schema: the arguments of
//! the mock's tool calls and the body of its structured-output replies.
//!
//! Handles what the three providers accept: JSON Schema (OpenAI `parameters` and
//! `json_schema.schema`, Anthropic `input_schema` and `output_config.format.schema`,
//! Gemini `parametersJsonSchema` and `responseJsonSchema`) and Gemini's OpenAPI
//! subset (`parameters`, `responseSchema`: upper-case `type`, `nullable`, integers
//! written as strings).

use serde_json::{json, Map, Value};

/// Deeper than any schema a test writes; stops a `$ref` cycle.
const MAX_DEPTH: usize = 32;

/// The value the mock sends for `schema`:
///
/// | schema | value |
/// |---|---|
/// | `const` / `enum` | the constant / the first value |
/// | `anyOf` / `oneOf` | the first alternative that is not `null` |
/// | `allOf` | the members merged |
/// | `$ref` (`#/$defs/…`, `#/definitions/…`) | the referenced schema |
/// | `string` | `"x"` (repeated to `minLength`); formats `date-time`, `date`, `time`, `email`, `uri`, `uuid` get a valid example |
/// | `number` / `integer` | `1`, moved into `minimum`…`maximum` |
/// | `boolean` | `true` |
/// | `array` | `minItems` items of `items` (so `[]` by default) |
/// | `object` | every `required` property, in the order listed; optional ones are left out |
/// | `null`, or no type at all | `null` |
pub(crate) fn example(schema: &Value) -> Value {
    generate(schema, schema, 0)
}

/// [`example`] for where an object is required (tool arguments): anything else becomes `{}`.
pub(crate) fn example_object(schema: &Value) -> Value {
    match example(schema) {
        object @ Value::Object(_) => object,
        _ => json!({}),
    }
}

fn generate(schema: &Value, root: &Value, depth: usize) -> Value {
    let Some(s) = schema.as_object() else {
        return Value::Null;
    };
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(target) = s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        return generate(target, root, depth + 1);
    }
    if let Some(constant) = s.get("const") {
        return constant.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alternatives) = s.get(key).and_then(Value::as_array) {
            let chosen = alternatives
                .iter()
                .find(|a| type_name(a).as_deref() != Some("null"))
                .or(alternatives.first());
            if let Some(chosen) = chosen {
                return generate(chosen, root, depth + 1);
            }
        }
    }
    if let Some(members) = s.get("allOf").and_then(Value::as_array) {
        let mut merged = s.clone();
        merged.remove("allOf");
        for member in members {
            merge(&mut merged, resolve(member, root));
        }
        return generate(&Value::Object(merged), root, depth + 1);
    }
    let kind = type_name(schema).or_else(|| {
        if s.contains_key("properties") {
            Some("object".into())
        } else if s.contains_key("items") {
            Some("array".into())
        } else {
            None
        }
    });
    match kind.as_deref() {
        Some("string") => string(s),
        Some("integer") => json!(clamp(s, 1.0).round() as i64),
        Some("number") => {
            let n = clamp(s, 1.0);
            if n.fract() == 0.0 {
                json!(n as i64)
            } else {
                json!(n)
            }
        }
        Some("boolean") => json!(true),
        Some("array") => {
            let count = number(s.get("minItems")).unwrap_or(0.0) as usize;
            let item = s
                .get("items")
                .map_or(Value::Null, |items| generate(items, root, depth + 1));
            Value::Array(vec![item; count.min(MAX_DEPTH)])
        }
        Some("object") => {
            let properties = s.get("properties").and_then(Value::as_object);
            let required = s.get("required").and_then(Value::as_array);
            let object: Map<String, Value> = required
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|name| {
                    let value = properties
                        .and_then(|p| p.get(name))
                        .map_or(Value::Null, |p| generate(p, root, depth + 1));
                    (name.to_owned(), value)
                })
                .collect();
            Value::Object(object)
        }
        _ => Value::Null,
    }
}

/// The schema's type in lower case: Gemini writes `"OBJECT"`, and JSON Schema
/// allows a list such as `["string", "null"]`, of which the first non-null counts.
fn type_name(schema: &Value) -> Option<String> {
    match schema.get("type")? {
        Value::String(t) => Some(t.to_ascii_lowercase()),
        Value::Array(types) => {
            let names: Vec<String> = types
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect();
            names
                .iter()
                .find(|t| *t != "null")
                .or(names.first())
                .cloned()
        }
        _ => None,
    }
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
        .unwrap_or(schema)
}

/// `allOf`: properties and `required` are united; other keywords fill gaps.
fn merge(into: &mut Map<String, Value>, member: &Value) {
    let Some(member) = member.as_object() else {
        return;
    };
    for (key, value) in member {
        match (key.as_str(), into.get_mut(key)) {
            ("properties", Some(Value::Object(existing))) => {
                if let Some(more) = value.as_object() {
                    existing.extend(more.clone());
                }
            }
            ("required", Some(Value::Array(existing))) => {
                if let Some(more) = value.as_array() {
                    existing.extend(
                        more.iter()
                            .filter(|v| !existing.contains(v))
                            .cloned()
                            .collect::<Vec<_>>(),
                    );
                }
            }
            (_, Some(_)) => {}
            (_, None) => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

fn string(s: &Map<String, Value>) -> Value {
    let format = s.get("format").and_then(Value::as_str).unwrap_or_default();
    let example = match format {
        "date-time" => "2025-01-01T00:00:00Z",
        "date" => "2025-01-01",
        "time" => "00:00:00",
        "email" => "x@example.com",
        "uri" | "url" => "https://example.com/",
        "uuid" => "00000000-0000-4000-8000-000000000000",
        _ => {
            let length = number(s.get("minLength")).unwrap_or(1.0).max(1.0) as usize;
            return json!("x".repeat(length.min(1024)));
        }
    };
    json!(example)
}

/// 1 unless `minimum`/`maximum` (or their exclusive forms) rule it out.
fn clamp(s: &Map<String, Value>, preferred: f64) -> f64 {
    let mut n = preferred;
    if let Some(min) = number(s.get("minimum")) {
        n = n.max(min);
    }
    if let Some(min) = number(s.get("exclusiveMinimum")) {
        if n <= min {
            n = min.floor() + 1.0;
        }
    }
    if let Some(max) = number(s.get("maximum")) {
        n = n.min(max);
    }
    if let Some(max) = number(s.get("exclusiveMaximum")) {
        if n >= max {
            n = max.ceil() - 1.0;
        }
    }
    n
}

/// A number, or Gemini's int64-as-string form of one.
fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_properties_get_one_value_of_their_type_and_optional_ones_are_left_out() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 3},
                "temp": {"type": "number"},
                "metric": {"type": "boolean"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
                "note": {"type": "string"}
            },
            "required": ["city", "days", "temp", "metric", "unit", "tags", "where"]
        });
        assert_eq!(
            example(&schema),
            json!({"city": "x", "days": 3, "temp": 1, "metric": true, "unit": "celsius", "tags": [], "where": {"lat": 1}})
        );
    }

    #[test]
    fn gemini_openapi_schemas_and_refs_are_understood() {
        let gemini = json!({
            "type": "OBJECT",
            "properties": {"names": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "2"}, "n": {"type": "INTEGER", "nullable": true}},
            "required": ["names", "n"]
        });
        assert_eq!(example(&gemini), json!({"names": ["x", "x"], "n": 1}));

        let pydantic = json!({
            "$defs": {"Step": {"type": "object", "properties": {"say": {"type": "string"}}, "required": ["say"]}},
            "type": "object",
            "properties": {"step": {"$ref": "#/$defs/Step"}, "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]}},
            "required": ["step", "maybe"]
        });
        assert_eq!(
            example(&pydantic),
            json!({"step": {"say": "x"}, "maybe": 1})
        );
    }

    #[test]
    fn a_missing_or_non_object_schema_gives_empty_arguments() {
        assert_eq!(example_object(&Value::Null), json!({}));
        assert_eq!(example_object(&json!({"type": "string"})), json!({}));
        assert_eq!(example(&json!({"$ref": "#/nowhere"})), Value::Null);
    }
}
