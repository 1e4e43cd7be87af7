//! Tolerant accessors: objects may have any shape, so a missing or oddly typed
//! field reads as Go's zero value instead of failing.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::duration::human_duration;

/// The value at `path`, or None when absent or JSON null (Go's nil).
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    if cur.is_null() {
        None
    } else {
        Some(cur)
    }
}

pub(crate) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    opt_str(v, path).unwrap_or("")
}

/// Integers may arrive as floats (e.g. after a YAML round trip); Go would
/// have decoded them into an int32/int64 field, so truncate.
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .or_else(|| v.as_f64().map(|f| f as i64))
}

pub(crate) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(as_int)
}

pub(crate) fn int_at(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

pub(crate) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    at(v, path).and_then(Value::as_bool)
}

pub(crate) fn bool_at(v: &Value, path: &[&str]) -> bool {
    opt_bool(v, path).unwrap_or(false)
}

pub(crate) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// len() of a Go slice or map field.
pub(crate) fn len_at(v: &Value, path: &[&str]) -> i64 {
    let n = match at(v, path) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(o)) => o.len(),
        _ => 0,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A Go pointer-to-struct field: present unless absent or null.
pub(crate) fn present(v: &Value, path: &[&str]) -> bool {
    at(v, path).is_some()
}

pub(crate) fn name(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"])
}

pub(crate) fn is_deleting(obj: &Value) -> bool {
    present(obj, &["metadata", "deletionTimestamp"])
}

/// metav1.Time / MicroTime: RFC 3339 with optional fraction. Anything
/// unparseable reads as the zero time, as an unset field would.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn time_at(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    opt_str(v, path).and_then(parse_time)
}

/// Upstream translateTimestampSince: "<unknown>" for the zero time.
pub(crate) fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration(now.signed_duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

pub(crate) fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    Value::String(since(time_at(obj, &["metadata", "creationTimestamp"]), now))
}

pub(crate) fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

/// Names and images of a container list, comma joined (layoutContainerCells).
pub(crate) fn containers_cells(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (
        Value::String(names.join(",")),
        Value::String(images.join(",")),
    )
}

/// An IntOrString rendered like intstr.String().
pub(crate) fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => as_int(other).map(|i| i.to_string()).unwrap_or_default(),
    }
}
