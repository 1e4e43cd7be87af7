//! JSON patch (RFC 6902), as `application/json-patch+json` applies it.

use json_patch::{PatchErrorKind, PatchOperation};
use serde_json::Value;

use crate::error::PatchError;

/// Upstream's limit on the number of operations in one JSON patch.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10000;

/// Applies a JSON patch. A body that is not a list of operation objects is a decode error
/// (400 upstream); an operation that fails, including an invalid or unknown one, is an apply
/// error (422 upstream). Messages follow the evanphx/json-patch wording upstream uses.
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        // Go decodes `null` into an empty patch.
        Value::Null => return Ok(original.clone()),
        Value::Array(ops) => ops,
        other => {
            return Err(PatchError::JsonPatchDecode(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                json_kind(other)
            )))
        }
    };
    if let Some(bad) = ops.iter().find(|op| !op.is_object()) {
        return Err(PatchError::JsonPatchDecode(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            json_kind(bad)
        )));
    }
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            max: MAX_JSON_PATCH_OPERATIONS,
            got: ops.len(),
        });
    }

    let mut doc = original.clone();
    for op in ops {
        let parsed: PatchOperation = serde_json::from_value(op.clone()).map_err(|e| {
            let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
            PatchError::JsonPatchApply(format!("Unexpected kind: {kind}: {e}"))
        })?;
        json_patch::patch(&mut doc, std::slice::from_ref(&parsed))
            .map_err(|e| PatchError::JsonPatchApply(describe(&parsed, &e.kind)))?;
    }
    Ok(doc)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// evanphx/json-patch style text for a failed operation.
fn describe(op: &PatchOperation, kind: &PatchErrorKind) -> String {
    let path = op.path();
    match (op, kind) {
        (PatchOperation::Test(_), PatchErrorKind::TestFailed) => {
            format!("testing value {path} failed: test failed")
        }
        (PatchOperation::Move(m), PatchErrorKind::InvalidFromPointer) => format!(
            "move operation does not apply: doc is missing from path: \"{}\": missing value",
            m.from
        ),
        (PatchOperation::Copy(c), PatchErrorKind::InvalidFromPointer) => format!(
            "copy operation does not apply: doc is missing from path: \"{}\": missing value",
            c.from
        ),
        (PatchOperation::Move(m), PatchErrorKind::CannotMoveInsideItself) => format!(
            "move operation does not apply: cannot move \"{}\" into its own child \"{path}\"",
            m.from
        ),
        (PatchOperation::Replace(_), _) => {
            format!("replace operation does not apply: doc is missing key: {path}: missing value")
        }
        (PatchOperation::Test(_), _) => {
            format!("testing value {path} failed: test failed")
        }
        (op, _) => {
            let name = match op {
                PatchOperation::Add(_) => "add",
                PatchOperation::Remove(_) => "remove",
                PatchOperation::Move(_) => "move",
                PatchOperation::Copy(_) => "copy",
                PatchOperation::Replace(_) => "replace",
                PatchOperation::Test(_) => "test",
            };
            format!(
                "{name} operation does not apply: doc is missing path: \"{path}\": missing value"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rollout_undo_replaces_template_and_annotations() {
        let original = json!({"metadata": {"name": "web", "annotations": {"a": "b",
            "deployment.kubernetes.io/revision": "3"}},
            "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}]}}}});
        let patch = json!([
            {"op": "replace", "path": "/spec/template", "value": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}},
            {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "2"}}
        ]);
        assert_eq!(
            json_patch(&original, &patch).unwrap(),
            json!({"metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "2"}},
                "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}}})
        );
    }

    #[test]
    fn failed_test_is_a_422_with_upstreams_generic_message() {
        let original = json!({"spec": {"replicas": 2}});
        let err = json_patch(
            &original,
            &json!([{"op": "test", "path": "/spec/replicas", "value": 3},
                    {"op": "replace", "path": "/spec/replicas", "value": 5}]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "testing value /spec/replicas failed: test failed"
        );
        assert_eq!(err.status_code(), 422);
        assert_eq!(
            err.status_message(),
            "the server rejected our request due to an error in our request"
        );
    }

    #[test]
    fn missing_paths_and_bad_bodies() {
        let original = json!({"metadata": {"name": "x"}});
        let err = json_patch(&original, &json!([{"op": "remove", "path": "/spec"}])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "remove operation does not apply: doc is missing path: \"/spec\": missing value"
        );
        let err = json_patch(&original, &json!([{"op": "frobnicate", "path": "/a"}])).unwrap_err();
        assert_eq!(err.status_code(), 422);
        assert!(err.to_string().starts_with("Unexpected kind: frobnicate"));
        let err = json_patch(&original, &json!({"op": "add"})).unwrap_err();
        assert_eq!(err.status_code(), 400);
        assert_eq!(
            err.to_string(),
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        );
        assert_eq!(json_patch(&original, &Value::Null).unwrap(), original);
    }

    #[test]
    fn add_copy_move() {
        let original = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2]}});
        let patch = json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "copy", "from": "/metadata/labels/a", "path": "/metadata/labels/c"},
            {"op": "move", "from": "/spec/list/0", "path": "/spec/first"}
        ]);
        assert_eq!(
            json_patch(&original, &patch).unwrap(),
            json!({"metadata": {"labels": {"a": "1", "b": "2", "c": "1"}},
                "spec": {"list": [2, 3], "first": 1}})
        );
    }

    #[test]
    fn too_many_operations() {
        let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "", "value": {}}))
            .collect();
        let err = json_patch(&json!({}), &Value::Array(ops)).unwrap_err();
        assert_eq!(err.status_code(), 413);
    }
}
