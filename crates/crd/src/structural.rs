//! Checks of a CRD version's OpenAPI schema: the OpenAPI keywords CRDs allow and the
//! structural-schema rules upstream requires for pruning and defaulting
//! (`ValidateCustomResourceDefinitionOpenAPISchema`, `ValidateStructural`).

use minato_resources::{ErrorType, FieldError, FieldPath};
use serde_json::{Map, Value};

use crate::schema::{compile_pattern, Schema, MAX_DEPTH};
use crate::validate;

const TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

const ROOT_ALLOWED_WITH_STATUS: &[&str] = &[
    "description",
    "type",
    "format",
    "title",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "required",
    "items",
    "properties",
    "externalDocs",
    "example",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Validates `spec.versions[*].schema.openAPIV3Schema`.
pub fn validate_crd_schema(
    schema: &Value,
    path: &FieldPath,
    status_enabled: bool,
    out: &mut Vec<FieldError>,
) {
    let Some(m) = schema.as_object() else {
        out.push(FieldError::invalid(
            path,
            schema.clone(),
            "must be an object",
        ));
        return;
    };
    let start = out.len();
    if status_enabled {
        if let Some(t) = m.get("type").and_then(Value::as_str) {
            if t != "object" {
                out.push(FieldError::invalid(
                    &FieldPath::new(&format!("{path}.type")),
                    t,
                    r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#,
                ));
            }
        }
        if m.iter()
            .any(|(k, v)| !ROOT_ALLOWED_WITH_STATUS.contains(&k.as_str()) && !is_unset(k, v))
        {
            out.push(FieldError::invalid(
                path,
                schema.clone(),
                "only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled",
            ));
        }
    }
    if m.get("nullable").and_then(Value::as_bool) == Some(true) {
        out.push(FieldError::forbidden(
            &FieldPath::new(&format!("{path}.nullable")),
            "nullable cannot be true at the root",
        ));
    }
    // Upstream sorts the structural errors by their text.
    let mut structural = Vec::new();
    structural_node(schema, Level::Root, path, 0, &mut structural);
    structural.sort_by_key(|e| e.to_string());
    out.extend(structural);
    openapi_node(schema, path, 0, false, out);
    if out.len() == start {
        defaults_node(schema, path, 0, out);
    }
}

/// Whether a root keyword counts as unset: upstream compares Go zero values, and pointer
/// fields (additionalProperties, nullable's siblings like default) count once present.
fn is_unset(k: &str, v: &Value) -> bool {
    match k {
        "additionalProperties"
        | "default"
        | "not"
        | "enum"
        | "x-kubernetes-list-type"
        | "x-kubernetes-map-type" => v.is_null(),
        _ => is_zero(v),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

fn s<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

fn b(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn too_deep(path: &FieldPath, out: &mut Vec<FieldError>) {
    out.push(FieldError::new(
        ErrorType::Forbidden,
        path,
        None,
        format!("must not be nested more than {MAX_DEPTH} levels"),
    ));
}

/// The children of a schema node that are themselves schemas, with their path segments.
fn children<'a>(m: &'a Map<String, Value>, path: &FieldPath) -> Vec<(FieldPath, &'a Value)> {
    let mut v = Vec::new();
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (k, x) in props {
            v.push((path.child("properties").key(k), x));
        }
    }
    if let Some(x @ Value::Object(_)) = m.get("additionalProperties") {
        v.push((path.child("additionalProperties"), x));
    }
    if let Some(x @ Value::Object(_)) = m.get("items") {
        v.push((path.child("items"), x));
    }
    for k in ["allOf", "oneOf", "anyOf"] {
        if let Some(a) = m.get(k).and_then(Value::as_array) {
            for (i, x) in a.iter().enumerate() {
                v.push((path.child(k).index(i), x));
            }
        }
    }
    if let Some(x @ Value::Object(_)) = m.get("not") {
        v.push((path.child("not"), x));
    }
    v
}

/// The OpenAPI keyword checks (`specStandardValidatorV3` and the list/map extensions).
fn openapi_node(
    v: &Value,
    path: &FieldPath,
    depth: usize,
    inside_meta: bool,
    out: &mut Vec<FieldError>,
) {
    let Some(m) = v.as_object() else {
        return;
    };
    if depth > MAX_DEPTH {
        too_deep(path, out);
        return;
    }
    let ty = s(m, "type");
    if !ty.is_empty() && ty != "null" && !TYPES.contains(&ty) {
        out.push(FieldError::not_supported(&path.child("type"), ty, TYPES));
    }
    for (k, word) in [
        ("id", "id"),
        ("additionalItems", "additionalItems"),
        ("patternProperties", "patternProperties"),
        ("definitions", "definitions"),
        ("dependencies", "dependencies"),
        ("$ref", "$ref"),
    ] {
        if m.get(k).is_some_and(|x| !is_zero(x)) {
            out.push(FieldError::forbidden(
                &path.child(k),
                format!("{word} is not supported"),
            ));
        }
    }
    if ty == "null" {
        out.push(FieldError::forbidden(
            &path.child("type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if m.get("items").is_some_and(Value::is_array) {
        out.push(FieldError::forbidden(
            &path.child("items"),
            "items must be a schema object and not an array",
        ));
    }
    if inside_meta && b(m, "x-kubernetes-embedded-resource") {
        out.push(FieldError::forbidden(
            &path.child("x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
    if b(m, "uniqueItems") {
        out.push(FieldError::forbidden(
            &path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    let has_props = m
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    match m.get("additionalProperties") {
        Some(Value::Bool(false)) | Some(Value::Object(_)) if has_props => {
            out.push(FieldError::forbidden(
                &path.child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        _ => {}
    }
    if m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        out.push(FieldError::invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            false,
            "must be true or undefined",
        ));
    }
    if let Some(mt) = m.get("x-kubernetes-map-type").and_then(Value::as_str) {
        if ty.is_empty() {
            out.push(FieldError::required(
                &path.child("type"),
                "must be object if x-kubernetes-map-type is specified",
            ));
        } else if ty != "object" {
            out.push(FieldError::invalid(
                &path.child("type"),
                ty,
                "must be object if x-kubernetes-map-type is specified",
            ));
        }
        if mt != "atomic" && mt != "granular" {
            out.push(FieldError::not_supported(
                &path.child("x-kubernetes-map-type"),
                mt,
                &["atomic", "granular"],
            ));
        }
    }
    list_extensions(m, ty, path, out);

    // Embedded resources and the root hold ObjectMeta; everything below `metadata` is
    // "inside resource meta".
    for (cp, x) in children(m, path) {
        let meta = inside_meta || cp.as_str().ends_with(".properties[metadata]");
        openapi_node(x, &cp, depth + 1, meta, out);
    }
}

fn list_extensions(m: &Map<String, Value>, ty: &str, path: &FieldPath, out: &mut Vec<FieldError>) {
    let lt = m.get("x-kubernetes-list-type").and_then(Value::as_str);
    let keys: Vec<&str> = m
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(lt) = lt {
        if ty.is_empty() {
            out.push(FieldError::required(
                &path.child("type"),
                "must be array if x-kubernetes-list-type is specified",
            ));
        } else if ty != "array" {
            out.push(FieldError::invalid(
                &path.child("type"),
                ty,
                "must be array if x-kubernetes-list-type is specified",
            ));
        }
        if !matches!(lt, "atomic" | "set" | "map") {
            out.push(FieldError::not_supported(
                &path.child("x-kubernetes-list-type"),
                lt,
                &["atomic", "set", "map"],
            ));
        }
    }
    if !keys.is_empty() && lt != Some("map") {
        match lt {
            None => out.push(FieldError::required(
                &path.child("x-kubernetes-list-type"),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some(lt) => out.push(FieldError::invalid(
                &path.child("x-kubernetes-list-type"),
                lt,
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
        }
    }
    if lt == Some("map") {
        if keys.is_empty() {
            out.push(FieldError::required(
                &path.child("x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match m.get("items") {
            None => out.push(FieldError::required(
                &path.child("items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(Value::Object(items)) => {
                let it = s(items, "type");
                if it != "object" {
                    out.push(FieldError::invalid(
                        &path.child("items").child("type"),
                        it,
                        "must be object if parent array's x-kubernetes-list-type is map",
                    ));
                } else {
                    let props = items.get("properties").and_then(Value::as_object);
                    if keys
                        .iter()
                        .any(|k| props.is_none_or(|p| !p.contains_key(*k)))
                    {
                        out.push(FieldError::invalid(
                            &path.child("x-kubernetes-list-map-keys"),
                            Value::from(keys.clone()),
                            "entries must all be names of item properties",
                        ));
                    }
                    let mut seen = std::collections::HashSet::new();
                    if keys.iter().any(|k| !seen.insert(*k)) {
                        out.push(FieldError::invalid(
                            &path.child("x-kubernetes-list-map-keys"),
                            Value::from(keys.clone()),
                            "must not contain duplicate entries",
                        ));
                    }
                }
            }
            Some(_) => {}
        }
    }
}

/// Structural-schema invariants (`validateStructuralInvariants` and the value-validation
/// rules for `allOf`/`anyOf`/`oneOf`/`not`).
fn structural_node(
    v: &Value,
    lvl: Level,
    path: &FieldPath,
    depth: usize,
    out: &mut Vec<FieldError>,
) {
    let Some(m) = v.as_object() else {
        return;
    };
    if depth > MAX_DEPTH {
        too_deep(path, out);
        return;
    }
    let ty = s(m, "type");
    let preserve = b(m, "x-kubernetes-preserve-unknown-fields");
    let embedded = b(m, "x-kubernetes-embedded-resource");
    let int_or_string = b(m, "x-kubernetes-int-or-string");
    if ty == "array" && !m.get("items").is_some_and(Value::is_object) {
        out.push(FieldError::required(
            &path.child("items"),
            "must be specified",
        ));
    }
    if let Some(items) = m.get("items") {
        structural_node(items, Level::Item, &path.child("items"), depth + 1, out);
    }
    let props = m.get("properties").and_then(Value::as_object);
    for (k, x) in props.into_iter().flatten() {
        let cp = path.child("properties").key(k);
        structural_node(x, Level::Field, &cp, depth + 1, out);
    }
    if let Some(ap) = m.get("additionalProperties") {
        if lvl == Level::Root {
            out.push(FieldError::forbidden(
                &path.child("additionalProperties"),
                "must not be used at the root",
            ));
        }
        if ap.is_object() {
            structural_node(
                ap,
                Level::Field,
                &path.child("additionalProperties"),
                depth + 1,
                out,
            );
        }
    }
    if int_or_string && preserve {
        out.push(FieldError::invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        out.push(FieldError::invalid(
            &path.child("x-kubernetes-embedded-resource"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    // The two int-or-string shapes may carry `type` under anyOf.
    let skip_any_of = int_or_string_any_of(m.get("anyOf"));
    let skip_first_all_of = m
        .get("allOf")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .is_some_and(|f| int_or_string_any_of(f.get("anyOf")));
    value_validation(m, skip_any_of, skip_first_all_of, path, depth, out);

    let check_metadata = lvl == Level::Root || embedded;
    if embedded && ty != "object" {
        if ty.is_empty() {
            out.push(FieldError::required(
                &path.child("type"),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        } else {
            out.push(FieldError::invalid(
                &path.child("type"),
                ty,
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
    } else if ty.is_empty() && !int_or_string && !preserve {
        let msg = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        out.push(FieldError::required(&path.child("type"), msg));
    }
    if embedded && m.contains_key("additionalProperties") {
        out.push(FieldError::forbidden(
            &path.child("additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        out.push(FieldError::invalid(
            &path.child("type"),
            ty,
            "must be object at the root",
        ));
    }
    if check_metadata {
        for k in ["kind", "apiVersion"] {
            if let Some(p) = props.and_then(|p| p.get(k)) {
                let t = p.get("type").and_then(Value::as_str).unwrap_or("");
                if t != "string" {
                    out.push(FieldError::invalid(
                        &path.child("properties").key(k).child("type"),
                        t,
                        "must be string",
                    ));
                }
            }
        }
    }
    if let Some(meta) = props
        .and_then(|p| p.get("metadata"))
        .and_then(Value::as_object)
    {
        let mp = path.child("properties").key("metadata");
        if check_metadata && s(meta, "type") != "object" {
            out.push(FieldError::invalid(
                &mp.child("type"),
                s(meta, "type"),
                "must be object",
            ));
        }
        if lvl == Level::Root && !root_metadata_ok(meta) {
            out.push(FieldError::forbidden(
                &mp,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if embedded && !preserve && props.is_none_or(|p| p.is_empty()) {
        out.push(FieldError::required(
            &path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// Root `metadata` may only restrict `name` and `generateName` (plus type and description).
fn root_metadata_ok(meta: &Map<String, Value>) -> bool {
    meta.iter().all(|(k, v)| match k.as_str() {
        "type" | "description" | "default" => true,
        "properties" => v
            .as_object()
            .is_some_and(|p| p.keys().all(|k| k == "name" || k == "generateName")),
        _ => is_zero(v),
    })
}

fn int_or_string_any_of(v: Option<&Value>) -> bool {
    let Some(a) = v.and_then(Value::as_array) else {
        return false;
    };
    a.len() == 2
        && a[0]
            .as_object()
            .is_some_and(|o| o.len() == 1 && s(o, "type") == "integer")
        && a[1]
            .as_object()
            .is_some_and(|o| o.len() == 1 && s(o, "type") == "string")
}

fn value_validation(
    m: &Map<String, Value>,
    skip_any_of: bool,
    skip_first_all_of: bool,
    path: &FieldPath,
    depth: usize,
    out: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, x) in m
            .get("anyOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            nested(x, false, &path.child("anyOf").index(i), depth + 1, out);
        }
    }
    for (i, x) in m
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        nested(
            x,
            skip_first_all_of && i == 0,
            &path.child("allOf").index(i),
            depth + 1,
            out,
        );
    }
    for (i, x) in m
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        nested(x, false, &path.child("oneOf").index(i), depth + 1, out);
    }
    if let Some(x) = m.get("not") {
        nested(x, false, &path.child("not"), depth + 1, out);
    }
    if let Some(p) = m.get("pattern").and_then(Value::as_str) {
        if compile_pattern(p).is_none() {
            let err = regex::Regex::new(p)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            out.push(FieldError::invalid(
                &path.child("pattern"),
                p,
                format!("must be a valid regular expression, but isn't: {err}"),
            ));
        }
    }
}

/// A schema under a logic junctor: no type, default, title, description, nullable or
/// Kubernetes extensions; nested properties/items follow the same rule.
fn nested(v: &Value, skip_any_of: bool, path: &FieldPath, depth: usize, out: &mut Vec<FieldError>) {
    let Some(m) = v.as_object() else {
        return;
    };
    if depth > MAX_DEPTH {
        too_deep(path, out);
        return;
    }
    value_validation(m, skip_any_of, false, path, depth, out);
    if let Some(x) = m.get("items") {
        nested(x, false, &path.child("items"), depth + 1, out);
    }
    for (k, x) in m
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        nested(x, false, &path.child("properties").key(k), depth + 1, out);
    }
    let forbidden: &[(&str, &str)] = &[
        ("type", "must be empty to be structural"),
        ("additionalProperties", "must be undefined to be structural"),
        ("default", "must be undefined to be structural"),
        ("title", "must be empty to be structural"),
        ("description", "must be empty to be structural"),
        ("nullable", "must be false to be structural"),
        (
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        ),
        (
            "x-kubernetes-list-type",
            "must be undefined to be structural",
        ),
        (
            "x-kubernetes-map-type",
            "must be undefined to be structural",
        ),
        ("x-kubernetes-validations", "must be empty to be structural"),
    ];
    for (k, msg) in forbidden {
        let set = match m.get(*k) {
            None => false,
            Some(Value::Null) => false,
            // `default` and the list/map types count when present at all.
            Some(x)
                if matches!(
                    *k,
                    "default" | "x-kubernetes-list-type" | "x-kubernetes-map-type"
                ) =>
            {
                !x.is_null()
            }
            Some(x) => !is_zero(x),
        };
        if set {
            out.push(FieldError::forbidden(&path.child(k), *msg));
        }
    }
    if m.get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key("metadata"))
    {
        out.push(FieldError::forbidden(
            &path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Defaults must validate against their own schema (upstream's `ValidateDefaults`, without
/// the pruning check).
fn defaults_node(v: &Value, path: &FieldPath, depth: usize, out: &mut Vec<FieldError>) {
    let Some(m) = v.as_object() else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(d) = m.get("default") {
        let schema = Schema::parse(v);
        let mut errs = Vec::new();
        validate::validate("", d, &schema, &mut errs);
        let dp = path.child("default");
        for mut e in errs {
            e.field = if e.field.is_empty() {
                dp.to_string()
            } else if e.field.starts_with('[') {
                format!("{dp}{}", e.field)
            } else {
                format!("{dp}.{}", e.field)
            };
            out.push(e);
        }
    }
    for (cp, x) in children(m, path) {
        defaults_node(x, &cp, depth + 1, out);
    }
}
