//! Small accessors over JSON objects that never panic on odd shapes.

use serde_json::{Map, Value};

use crate::field::{FieldError, FieldPath};
use crate::kinds::meta::{is_valid_port_name, is_valid_port_num};

/// The value at a JSON pointer (`/spec/type`), if any and not null.
pub fn get<'a>(v: &'a Value, ptr: &str) -> Option<&'a Value> {
    v.pointer(ptr).filter(|x| !x.is_null())
}

/// The string at a pointer, or "".
pub fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The list at a pointer, or an empty slice.
pub fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The map at a pointer, if any.
pub fn map<'a>(v: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(ptr).and_then(Value::as_object)
}

/// The integer at a pointer.
pub fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

/// The object at `ptr`, created (with its parents) when missing; `None` if something in the
/// way is not an object.
pub fn obj_mut<'a>(v: &'a mut Value, ptr: &str) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for part in ptr.split('/').skip(1) {
        let m = cur.as_object_mut()?;
        let next = m
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() {
            *next = Value::Object(Map::new());
        }
        cur = next;
    }
    cur.as_object_mut()
}

/// Sets `key` in the object at `ptr` when it is missing or null.
pub fn default_field(v: &mut Value, ptr: &str, key: &str, value: Value) {
    if let Some(m) = obj_mut(v, ptr) {
        if m.get(key).is_none_or(Value::is_null) {
            m.insert(key.to_string(), value);
        }
    }
}

/// Objects of the list at `ptr`, mutably.
pub fn each_obj_mut<'a>(
    v: &'a mut Value,
    ptr: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    v.pointer_mut(ptr)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|a| a.iter_mut().filter_map(Value::as_object_mut))
}

/// `Invalid value: <new>: field is immutable` when the values at `ptr` differ.
pub fn immutable(new: &Value, old: &Value, ptr: &str, path: &FieldPath) -> Vec<FieldError> {
    let n = new.pointer(ptr).cloned().unwrap_or(Value::Null);
    let o = old.pointer(ptr).cloned().unwrap_or(Value::Null);
    crate::kinds::meta::validate_immutable_field(&n, &o, path)
}

/// `ValidatePortNumOrName` for an IntOrString port.
pub fn port_num_or_name(v: &Value, path: &FieldPath) -> Vec<FieldError> {
    match v {
        Value::Number(n) => {
            let p = n.as_i64().unwrap_or(0);
            is_valid_port_num(p)
                .into_iter()
                .map(|m| FieldError::invalid(path, p, m))
                .collect()
        }
        Value::String(s) => is_valid_port_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, s.as_str(), m))
            .collect(),
        _ => Vec::new(),
    }
}

/// Errors `msgs` as `Invalid value` at `path` with `value`.
pub fn invalid_all(path: &FieldPath, value: &str, msgs: Vec<String>) -> Vec<FieldError> {
    msgs.into_iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}

/// Strings of a list value.
pub fn strings(v: &[Value]) -> Vec<&str> {
    v.iter().filter_map(Value::as_str).collect()
}
