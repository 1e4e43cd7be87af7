//! OpenAPI v3 validation of custom objects, worded as upstream's kube-openapi validator and
//! turned into field errors the way apiextensions-apiserver does
//! (`kubeOpenAPIResultToFieldErrors`): the offending path is the field, the kube-openapi
//! sentence (`spec.replicas in body must be of type integer: "string"`) the detail.

use minato_resources::{ErrorType, FieldError, FieldPath};
use serde_json::{Number, Value};

use crate::formats;
use crate::schema::{Additional, Schema};

const IN: &str = "body";

/// Validates `v` against `s`; `path` is the kube-openapi path (`""` at the root,
/// `spec.replicas`, `spec.items[0]`).
pub fn validate(path: &str, v: &Value, s: &Schema, out: &mut Vec<FieldError>) {
    if s.truncated {
        return;
    }
    type_check(path, v, s, out);
    if v.is_null() {
        enum_check(path, v, s, out);
        return;
    }
    // Type errors do not stop the other checks upstream; we keep that.
    combinators(path, v, s, out);
    match v {
        Value::String(st) => {
            string_checks(path, st, s, out);
            format_check(path, st, s, out);
        }
        Value::Number(n) => number_checks(path, n, s, out),
        Value::Array(a) => array_checks(path, a, s, out),
        _ => {}
    }
    enum_check(path, v, s, out);
    if let Value::Object(m) = v {
        object_checks(path, m, s, out);
    }
}

fn fpath(path: &str) -> FieldPath {
    FieldPath::new(path.trim_start_matches('.'))
}

fn child(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn invalid(path: &str, value: Value, detail: String) -> FieldError {
    FieldError::new(ErrorType::Invalid, &fpath(path), Some(value), detail)
}

fn type_invalid(path: &str, type_name: &str, value: &str) -> FieldError {
    FieldError::new(
        ErrorType::TypeInvalid,
        &fpath(path),
        Some(Value::String(value.to_string())),
        format!("{path} in {IN} must be of type {type_name}: {value:?}"),
    )
}

/// The JSON type name kube-openapi gives a decoded value.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The format kube-openapi infers for a decoded value (int64/float64 for numbers).
fn format_of(v: &Value) -> &'static str {
    match v {
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        _ => "",
    }
}

fn types_of(s: &Schema) -> Vec<&str> {
    if s.int_or_string {
        vec!["integer", "string"]
    } else {
        s.type_.as_deref().into_iter().collect()
    }
}

fn is_integral(n: &Number) -> bool {
    n.as_f64()
        .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
}

fn type_check(path: &str, v: &Value, s: &Schema, out: &mut Vec<FieldError>) {
    let types = types_of(s);
    let format = s.format.as_deref().unwrap_or("");
    if types.is_empty() && format.is_empty() {
        return;
    }
    if v.is_null() {
        if !types.is_empty() && !s.nullable {
            out.push(type_invalid(path, &types.join(","), "null"));
        }
        return;
    }
    let t = type_of(v);
    let has = |x: &str| types.contains(&x);
    let float_int = matches!(v, Value::Number(n) if n.is_f64() && is_integral(n)) && has("integer");
    let int_float = t == "integer" && has("number");
    let data_format = format_of(v);
    let lower_int = format == "int64" && data_format == "int32";
    let lower_float = format == "double" && data_format == "float32";
    let string_or_array = matches!(v, Value::String(_) | Value::Array(_));
    if !string_or_array
        && !format.is_empty()
        && !(has(t) || format == data_format || float_int || int_float || lower_int || lower_float)
    {
        out.push(type_invalid(path, format, data_format));
        return;
    }
    // A string or array against a non-numeric type with a format is left to the format check.
    let numeric = has("number") || has("integer");
    if string_or_array && !numeric && !format.is_empty() {
        return;
    }
    if !(has(t) || float_int || int_float) {
        out.push(type_invalid(path, &types.join(","), t));
    }
}

fn combinators(path: &str, v: &Value, s: &Schema, out: &mut Vec<FieldError>) {
    let composite = |msg: String| invalid("", Value::String(String::new()), msg);
    if !s.any_of.is_empty() {
        let mut best: Option<Vec<FieldError>> = None;
        let mut ok = false;
        for sub in &s.any_of {
            let mut errs = Vec::new();
            validate(path, v, sub, &mut errs);
            if errs.is_empty() {
                ok = true;
                break;
            }
            if best.as_ref().is_none_or(|b| errs.len() < b.len()) {
                best = Some(errs);
            }
        }
        if !ok {
            out.push(composite(format!(
                "{path:?} must validate at least one schema (anyOf)"
            )));
            out.extend(best.unwrap_or_default());
        }
    }
    if !s.one_of.is_empty() {
        let mut best: Option<Vec<FieldError>> = None;
        let mut valid = 0usize;
        for sub in &s.one_of {
            let mut errs = Vec::new();
            validate(path, v, sub, &mut errs);
            if errs.is_empty() {
                valid += 1;
            } else if valid == 0 && best.as_ref().is_none_or(|b| errs.len() < b.len()) {
                best = Some(errs);
            }
        }
        if valid != 1 {
            let extra = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            out.push(composite(format!(
                "{path:?} must validate one and only one schema (oneOf). {extra}"
            )));
            if valid == 0 {
                out.extend(best.unwrap_or_default());
            }
        }
    }
    if !s.all_of.is_empty() {
        let mut valid = 0usize;
        for sub in &s.all_of {
            let mut errs = Vec::new();
            validate(path, v, sub, &mut errs);
            if errs.is_empty() {
                valid += 1;
            }
            out.extend(errs);
        }
        if valid != s.all_of.len() {
            let extra = if valid == 0 { ". None validated" } else { "" };
            out.push(composite(format!(
                "{path:?} must validate all the schemas (allOf){extra}"
            )));
        }
    }
    if let Some(not) = &s.not {
        let mut errs = Vec::new();
        validate(path, v, not, &mut errs);
        if errs.is_empty() {
            out.push(composite(format!(
                "{path:?} must not validate the schema (not)"
            )));
        }
    }
}

fn string_checks(path: &str, st: &str, s: &Schema, out: &mut Vec<FieldError>) {
    let chars = st.chars().count() as u64;
    // Upstream stops at the first failing string check.
    if let Some(max) = s.max_length {
        if chars > max {
            let unit = if max == 1 { "byte" } else { "bytes" };
            out.push(FieldError::new(
                ErrorType::TooLong,
                &fpath(path),
                None,
                format!("may not be more than {max} {unit}"),
            ));
            return;
        }
    }
    if let Some(min) = s.min_length {
        if chars < min {
            out.push(invalid(
                path,
                Value::String(st.to_string()),
                format!("{path} in {IN} should be at least {min} chars long"),
            ));
            return;
        }
    }
    if let Some((p, re)) = &s.pattern {
        // A pattern that does not compile was rejected with the CRD; never match it.
        if !re.as_ref().is_some_and(|re| re.is_match(st)) {
            out.push(invalid(
                path,
                Value::String(st.to_string()),
                format!("{path} in {IN} should match '{p}'"),
            ));
        }
    }
}

fn format_check(path: &str, st: &str, s: &Schema, out: &mut Vec<FieldError>) {
    let Some(format) = s.format.as_deref() else {
        return;
    };
    if formats::check(format, st) == Some(false) {
        out.push(type_invalid(path, format, st));
    }
}

/// Go's `%v` of a float64 (`%g`, shortest): exponent form when the exponent is < -4 or >= 6.
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// A bound as upstream prints it: as an integer when the value is an integer and the bound is
/// integral (`MinimumNativeType`), else as a float.
fn bound(n: &Number, b: f64) -> String {
    if !n.is_f64() && b.fract() == 0.0 && b.abs() < 9.2e18 {
        format!("{}", b as i64)
    } else {
        go_float(b)
    }
}

fn number_checks(path: &str, n: &Number, s: &Schema, out: &mut Vec<FieldError>) {
    let f = n.as_f64().unwrap_or(0.0);
    let val = Value::Number(n.clone());
    if let Some(m) = s.multiple_of {
        if m > 0.0 {
            let q = f / m;
            if q.fract() != 0.0 {
                out.push(invalid(
                    path,
                    val.clone(),
                    format!("{path} in {IN} should be a multiple of {}", bound(n, m)),
                ));
            }
        }
    }
    if let Some(min) = s.minimum {
        let bad = if s.exclusive_minimum {
            f <= min
        } else {
            f < min
        };
        if bad {
            let word = if s.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            out.push(invalid(
                path,
                val.clone(),
                format!("{path} in {IN} should be {word} {}", bound(n, min)),
            ));
        }
    }
    if let Some(max) = s.maximum {
        let bad = if s.exclusive_maximum {
            f >= max
        } else {
            f > max
        };
        if bad {
            let word = if s.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            out.push(invalid(
                path,
                val,
                format!("{path} in {IN} should be {word} {}", bound(n, max)),
            ));
        }
    }
}

fn array_checks(path: &str, a: &[Value], s: &Schema, out: &mut Vec<FieldError>) {
    if let Some(items) = &s.items {
        for (i, x) in a.iter().enumerate() {
            validate(&format!("{path}[{i}]"), x, items, out);
        }
    }
    let size = a.len() as u64;
    if let Some(min) = s.min_items {
        if size < min {
            out.push(invalid(
                path,
                Value::from(size),
                format!("{path} in {IN} should have at least {min} items"),
            ));
        }
    }
    if let Some(max) = s.max_items {
        if size > max {
            out.push(too_many(path, size, max));
        }
    }
    if s.unique_items && has_duplicates(a) {
        out.push(invalid(
            path,
            Value::String(String::new()),
            format!("{path} in {IN} shouldn't contain duplicates"),
        ));
    }
}

fn too_many(path: &str, actual: u64, max: u64) -> FieldError {
    let unit = if max == 1 { "item" } else { "items" };
    FieldError::new(
        ErrorType::TooMany,
        &fpath(path),
        Some(Value::from(actual)),
        format!("must have at most {max} {unit}"),
    )
}

fn has_duplicates(a: &[Value]) -> bool {
    let mut seen = std::collections::HashSet::new();
    a.iter().any(|x| !seen.insert(x.to_string()))
}

fn enum_check(path: &str, v: &Value, s: &Schema, out: &mut Vec<FieldError>) {
    let Some(values) = &s.enum_values else {
        return;
    };
    if values.is_empty() || values.iter().any(|e| enum_eq(e, v)) {
        return;
    }
    let supported: Vec<String> = values
        .iter()
        .map(|e| match e {
            Value::String(x) => x.clone(),
            other => other.to_string(),
        })
        .collect();
    let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
    out.push(FieldError::not_supported(&fpath(path), v.clone(), &refs));
}

/// Enum membership as kube-openapi checks it: numbers compare by value, the rest exactly.
fn enum_eq(e: &Value, v: &Value) -> bool {
    match (e, v) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Null, _) => false,
        _ => e == v,
    }
}

fn object_checks(
    path: &str,
    m: &serde_json::Map<String, Value>,
    s: &Schema,
    out: &mut Vec<FieldError>,
) {
    let size = m.len() as u64;
    if let Some(min) = s.min_properties {
        if size < min {
            out.push(invalid(
                path,
                Value::from(size),
                format!("{path} in {IN} should have at least {min} properties"),
            ));
        }
    }
    if let Some(max) = s.max_properties {
        if size > max {
            out.push(too_many(path, size, max));
        }
    }
    match &s.additional {
        Some(Additional::Bool(false)) => {
            for k in m.keys().filter(|k| !s.properties.contains_key(*k)) {
                out.push(invalid(
                    path,
                    Value::String(k.clone()),
                    format!("{path}.{k} in {IN} is a forbidden property"),
                ));
            }
        }
        Some(Additional::Schema(sub)) => {
            for (k, x) in m.iter().filter(|(k, _)| !s.properties.contains_key(*k)) {
                validate(&child(path, k), x, sub, out);
            }
        }
        _ => {}
    }
    for (k, sub) in &s.properties {
        if let Some(x) = m.get(k) {
            validate(&child(path, k), x, sub, out);
        }
    }
    for k in &s.required {
        if !m.contains_key(k) {
            out.push(FieldError::required(&fpath(&child(path, k)), ""));
        }
    }
}

/// `x-kubernetes-list-type: set|map` uniqueness (upstream's listtype validation), walking
/// only the structural part of the schema.
pub fn list_types(path: &FieldPath, v: &Value, s: &Schema, out: &mut Vec<FieldError>) {
    if s.truncated {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let Some(sub) = s.properties.get(k) {
                    list_types(&path.child(k), x, sub, out);
                } else if let Some(sub) = s.additional_schema() {
                    list_types(&path.key(k), x, sub, out);
                }
            }
        }
        Value::Array(a) => {
            match s.list_type.as_deref() {
                Some("set") => {
                    let mut seen = std::collections::HashMap::new();
                    for (i, x) in a.iter().enumerate() {
                        let n = seen.entry(x.to_string()).or_insert(0usize);
                        *n += 1;
                        if *n == 2 {
                            out.push(FieldError::duplicate(&path.index(i), x.clone()));
                        }
                    }
                }
                Some("map") => list_map(path, a, s, out),
                _ => {}
            }
            if let Some(items) = &s.items {
                for (i, x) in a.iter().enumerate() {
                    list_types(&path.index(i), x, items, out);
                }
            }
        }
        _ => {}
    }
}

fn list_map(path: &FieldPath, a: &[Value], s: &Schema, out: &mut Vec<FieldError>) {
    for (i, x) in a.iter().enumerate() {
        if !x.is_object() && !x.is_null() {
            out.push(FieldError::invalid(
                &path.index(i),
                x.clone(),
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    let mut seen = std::collections::HashMap::new();
    for (i, x) in a.iter().enumerate() {
        let mut key = serde_json::Map::new();
        if let Some(m) = x.as_object() {
            for k in &s.list_map_keys {
                if let Some(kv) = m.get(k) {
                    key.insert(k.clone(), kv.clone());
                }
            }
        }
        let id = Value::Object(key.clone()).to_string();
        let n = seen.entry(id).or_insert(0usize);
        *n += 1;
        if *n == 2 {
            out.push(FieldError::duplicate(&path.index(i), Value::Object(key)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::go_float;

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.25), "-2.25");
    }
}
