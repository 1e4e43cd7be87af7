//! The `scale` subresource: an autoscaling/v1 Scale view of a workload's replicas.

use minato_resources::ResourceInfo;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::meta;

fn selector_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(obj @ Value::Object(_)) => minato_selectors::format_label_selector(obj),
        _ => String::new(),
    }
}

/// The Scale object for a workload.
pub fn to_scale(info: &ResourceInfo, obj: &Value) -> ApiResult<Value> {
    let scale = info.scale.as_ref().ok_or_else(ApiError::path_not_found)?;
    let spec_replicas = obj
        .pointer(&scale.spec_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status_replicas = obj
        .pointer(&scale.status_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = scale
        .label_selector
        .as_ref()
        .map(|p| selector_string(obj.pointer(p)))
        .unwrap_or_default();
    let md = meta::meta(obj).cloned().unwrap_or_default();
    let mut out_meta = json!({});
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = md.get(k) {
            out_meta[k] = v.clone();
        }
    }
    let mut status = json!({"replicas": status_replicas});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": out_meta,
        "spec": {"replicas": spec_replicas},
        "status": status,
    }))
}

/// Applies a written Scale back onto the parent object.
pub fn from_scale(info: &ResourceInfo, parent: &Value, scale_obj: &Value) -> ApiResult<Value> {
    let scale = info.scale.as_ref().ok_or_else(ApiError::path_not_found)?;
    let replicas = match scale_obj.pointer("/spec/replicas") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiError::bad_request("Scale in version \"v1\" cannot be handled as a Scale: spec.replicas must be an integer")
        })?,
    };
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            meta::name(parent).unwrap_or(""),
            &[minato_resources::FieldError::invalid(
                &minato_resources::FieldPath::new("spec.replicas"),
                replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut out = parent.clone();
    meta::strip_resource_version(&mut out);
    let segments: Vec<&str> = scale
        .spec_replicas
        .trim_start_matches('/')
        .split('/')
        .collect();
    let mut cur = &mut out;
    for (i, s) in segments.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let m = cur
            .as_object_mut()
            .ok_or_else(|| ApiError::internal("scale path"))?;
        if i == segments.len() - 1 {
            m.insert(s.to_string(), json!(replicas));
            break;
        }
        cur = m.entry(s.to_string()).or_insert_with(|| json!({}));
    }
    Ok(out)
}
