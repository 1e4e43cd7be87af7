//! A parsed OpenAPI v3 schema of a CRD version (`spec.versions[].schema.openAPIV3Schema`).
//!
//! The schema is user input: parsing never fails on odd shapes (a wrong-typed keyword is
//! ignored, as upstream's decoder would reject it earlier), and nesting is bounded so a
//! hostile schema cannot exhaust the stack.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

/// Deepest schema nesting we follow. Real CRDs stay far below; deeper levels are treated as
/// "anything goes" (preserve unknown fields, no validation).
pub const MAX_DEPTH: usize = 64;

/// `additionalProperties`: either a boolean or a schema.
#[derive(Clone, Debug)]
pub enum Additional {
    Bool(bool),
    Schema(Box<Schema>),
}

/// One schema node with the keywords the API server acts on.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    pub type_: Option<String>,
    pub format: Option<String>,
    pub nullable: bool,
    pub properties: BTreeMap<String, Schema>,
    pub additional: Option<Additional>,
    pub items: Option<Box<Schema>>,
    pub required: Vec<String>,
    pub enum_values: Option<Vec<Value>>,
    pub default: Option<Value>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    /// The pattern as written and its compiled form (`None` if it does not compile).
    pub pattern: Option<(String, Option<Regex>)>,
    pub unique_items: bool,
    pub all_of: Vec<Schema>,
    pub any_of: Vec<Schema>,
    pub one_of: Vec<Schema>,
    pub not: Option<Box<Schema>>,
    pub preserve_unknown: bool,
    pub embedded_resource: bool,
    pub int_or_string: bool,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    /// Set when parsing stopped at [`MAX_DEPTH`].
    pub truncated: bool,
}

impl Schema {
    /// Parses a schema object; anything that is not an object gives the empty schema.
    pub fn parse(v: &Value) -> Schema {
        parse(v, 0)
    }

    /// A schema that keeps and accepts everything (used when a version has no schema).
    pub fn permissive() -> Schema {
        Schema {
            type_: Some("object".into()),
            preserve_unknown: true,
            ..Schema::default()
        }
    }

    /// The schema for a map value: `additionalProperties` as a schema, if any.
    pub fn additional_schema(&self) -> Option<&Schema> {
        match &self.additional {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        }
    }

    /// The schema of field `k` of an object: its property, else the map value schema.
    pub fn field(&self, k: &str) -> Option<&Schema> {
        self.properties.get(k).or_else(|| self.additional_schema())
    }

    pub fn is_type(&self, t: &str) -> bool {
        self.type_.as_deref() == Some(t)
    }
}

fn parse(v: &Value, depth: usize) -> Schema {
    let Some(m) = v.as_object() else {
        return Schema::default();
    };
    if depth >= MAX_DEPTH {
        return Schema {
            preserve_unknown: true,
            truncated: true,
            ..Schema::default()
        };
    }
    let sub = |x: &Value| parse(x, depth + 1);
    let list = |k: &str| -> Vec<Schema> {
        m.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(sub).collect())
            .unwrap_or_default()
    };
    let string = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    let boolean = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    let float = |k: &str| m.get(k).and_then(Value::as_f64);
    let uint = |k: &str| m.get(k).and_then(Value::as_u64);

    let properties = m
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.clone(), sub(v))).collect())
        .unwrap_or_default();
    let additional = match m.get("additionalProperties") {
        Some(Value::Bool(b)) => Some(Additional::Bool(*b)),
        Some(s @ Value::Object(_)) => Some(Additional::Schema(Box::new(sub(s)))),
        _ => None,
    };
    // `items` may be a schema or (forbidden by CRD validation) an array of schemas.
    let items = match m.get("items") {
        Some(s @ Value::Object(_)) => Some(Box::new(sub(s))),
        Some(Value::Array(a)) => a.first().map(|s| Box::new(sub(s))),
        _ => None,
    };
    let pattern = string("pattern").map(|p| {
        let re = compile_pattern(&p);
        (p, re)
    });
    Schema {
        type_: string("type"),
        format: string("format"),
        nullable: boolean("nullable"),
        properties,
        additional,
        items,
        required: m
            .get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        enum_values: m.get("enum").and_then(Value::as_array).cloned(),
        default: m.get("default").cloned(),
        minimum: float("minimum"),
        maximum: float("maximum"),
        exclusive_minimum: boolean("exclusiveMinimum"),
        exclusive_maximum: boolean("exclusiveMaximum"),
        multiple_of: float("multipleOf"),
        min_length: uint("minLength"),
        max_length: uint("maxLength"),
        min_items: uint("minItems"),
        max_items: uint("maxItems"),
        min_properties: uint("minProperties"),
        max_properties: uint("maxProperties"),
        pattern,
        unique_items: boolean("uniqueItems"),
        all_of: list("allOf"),
        any_of: list("anyOf"),
        one_of: list("oneOf"),
        not: m
            .get("not")
            .filter(|n| n.is_object())
            .map(|n| Box::new(sub(n))),
        preserve_unknown: boolean("x-kubernetes-preserve-unknown-fields"),
        embedded_resource: boolean("x-kubernetes-embedded-resource"),
        int_or_string: boolean("x-kubernetes-int-or-string"),
        list_type: string("x-kubernetes-list-type"),
        list_map_keys: m
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        truncated: false,
    }
}

/// Compiles an ECMA/Go-style pattern with the `regex` crate (RE2 syntax, like Go's regexp).
/// Patterns are searched, not anchored, as in JSON Schema. The size limit keeps a hostile
/// pattern from using unbounded memory.
pub fn compile_pattern(p: &str) -> Option<Regex> {
    regex::RegexBuilder::new(p).size_limit(1 << 20).build().ok()
}
