//! JSON merge patch (RFC 7386), as `application/merge-patch+json` applies it.

use serde_json::Value;

/// Applies a JSON merge patch: objects merge recursively, `null` deletes a key, anything else
/// (lists included) replaces the original value.
pub fn merge_patch(original: &Value, patch: &Value) -> Value {
    let mut doc = original.clone();
    json_patch::merge(&mut doc, patch);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_semantics() {
        let original = json!({"spec": {"replicas": 2, "paused": true, "template": {"spec": {
            "containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}}});
        let patch = json!({"spec": {"paused": null, "replicas": 3, "template": {"spec": {
            "containers": [{"name": "a", "image": "y"}]}}}, "status": {"x": null, "y": 1}});
        assert_eq!(
            merge_patch(&original, &patch),
            json!({"spec": {"replicas": 3, "template": {"spec": {
                "containers": [{"name": "a", "image": "y"}]}}}, "status": {"y": 1}})
        );
    }

    #[test]
    fn non_object_patch_replaces() {
        assert_eq!(merge_patch(&json!({"a": 1}), &json!([1])), json!([1]));
        assert_eq!(merge_patch(&json!({"a": 1}), &json!({})), json!({"a": 1}));
    }
}
