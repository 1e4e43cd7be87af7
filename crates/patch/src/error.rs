//! Patch errors, worded as upstream's, and the HTTP status the API server answers them with.

use serde_json::Value;

/// Why a patch could not be applied.
///
/// The `Display` text is the upstream error text. Upstream does not always put that text on the
/// wire: [`PatchError::status_code`], [`PatchError::reason`] and [`PatchError::status_message`]
/// give what its API server answers (see `interpretStrategicMergePatchError` and the JSON patch
/// handler in k8s.io/apiserver `handlers/patch.go`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The original or the patch is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// A `$deleteFromPrimitiveList` key without a field name after the `/`.
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    /// A `$retainKeys` that is not a list, or a patch key missing from it.
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    /// A `$setElementOrder` key or value of the wrong shape.
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    /// A list whose elements are lists.
    #[error("lists of lists are not supported")]
    NoListOfLists,
    /// Any other strategic-merge-patch failure (missing merge key, unknown `$patch` directive,
    /// mixed element types, ...). Upstream returns these unwrapped, so they become a 500 whose
    /// message is this text (kubectl prints `Error from server: <text>`).
    #[error("{0}")]
    Strategic(String),
    /// A JSON patch body that does not decode as a list of operations (400).
    #[error("{0}")]
    JsonPatchDecode(String),
    /// A JSON patch operation that failed (a `test` that did not match, a missing path, ...).
    #[error("{0}")]
    JsonPatchApply(String),
    /// More operations than upstream's `maxJSONPatchOperations`.
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations { max: usize, got: usize },
}

/// The 422 message upstream's `NewGenericServerResponse` uses; it drops the inner error text.
const GENERIC_UNPROCESSABLE: &str =
    "the server rejected our request due to an error in our request";

impl PatchError {
    /// The HTTP status code of the API server's answer.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::BadJsonDoc
            | PatchError::BadPatchFormatForPrimitiveList
            | PatchError::BadPatchFormatForRetainKeys
            | PatchError::BadPatchFormatForSetElementOrderList
            | PatchError::JsonPatchDecode(_) => 400,
            PatchError::NoListOfLists | PatchError::JsonPatchApply(_) => 422,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::Strategic(_) => 500,
        }
    }

    /// The `reason` of the `Status` (empty for upstream's `StatusReasonUnknown`).
    pub fn reason(&self) -> &'static str {
        match self.status_code() {
            400 => "BadRequest",
            413 => "RequestEntityTooLarge",
            422 => "Invalid",
            _ => "",
        }
    }

    /// The `message` of the `Status` the API server answers with.
    pub fn status_message(&self) -> String {
        match self {
            PatchError::NoListOfLists | PatchError::JsonPatchApply(_) => {
                GENERIC_UNPROCESSABLE.to_string()
            }
            PatchError::TooManyOperations { .. } => format!("Request entity too large: {self}"),
            _ => self.to_string(),
        }
    }

    pub(crate) fn no_merge_key(map: &serde_json::Map<String, Value>, key: &str) -> Self {
        PatchError::Strategic(format!(
            "map: {} does not contain declared merge key: {key}",
            go_map(map)
        ))
    }

    pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> Self {
        PatchError::Strategic(format!(
            "expected a {expected}, but received a {}",
            go_type(actual)
        ))
    }

    pub(crate) fn bad_patch_type(directive: &Value, map: &serde_json::Map<String, Value>) -> Self {
        PatchError::Strategic(format!(
            "unknown patch type: {} in map: {}",
            go_fmt(directive),
            go_map(map)
        ))
    }
}

/// The Go type name a decoded JSON value has upstream (`reflect.TypeOf(v).String()`).
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Formats a value as Go's `%v` does for decoded JSON, so error texts match upstream's.
pub(crate) fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => go_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_fmt).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => go_map(map),
    }
}

fn go_map(map: &serde_json::Map<String, Value>) -> String {
    // Go prints map keys sorted.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .into_iter()
        .map(|k| format!("{k}:{}", go_fmt(&map[k.as_str()])))
        .collect();
    format!("map[{}]", parts.join(" "))
}

/// Go's `%v` for a float64 (`strconv` 'g', shortest): exponent form below 1e-4 or from 1e6 on.
fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return f.to_string();
    }
    let exp = f.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        return f.to_string();
    }
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((mantissa, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_formatting() {
        assert_eq!(
            go_fmt(&json!({"targetPort": 8080, "port": 80, "name": "x"})),
            "map[name:x port:80 targetPort:8080]"
        );
        assert_eq!(go_fmt(&json!([1, "a", null, true])), "[1 a <nil> true]");
        assert_eq!(go_fmt(&json!(80.5)), "80.5");
        assert_eq!(go_fmt(&json!(1e6)), "1e+06");
        assert_eq!(go_fmt(&json!(123456.0)), "123456");
        assert_eq!(go_fmt(&json!(0.00001)), "1e-05");
    }

    #[test]
    fn statuses() {
        assert_eq!(PatchError::BadPatchFormatForRetainKeys.status_code(), 400);
        assert_eq!(
            PatchError::JsonPatchApply("x".into()).status_message(),
            GENERIC_UNPROCESSABLE
        );
        assert_eq!(PatchError::JsonPatchApply("x".into()).reason(), "Invalid");
        assert_eq!(PatchError::Strategic("boom".into()).reason(), "");
        assert_eq!(
            PatchError::TooManyOperations { max: 10000, got: 10001 }.status_message(),
            "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
        );
    }
}
