//! The eviction subresource's PodDisruptionBudget check.

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resource::{from_stored, Route};
use crate::server::State;

/// Allows an eviction when the pod's PodDisruptionBudget has a disruption to spare, and takes
/// that disruption from the budget's status (its controller recomputes it); 429 otherwise.
pub async fn check(state: &State, route: &Route, name: &str) -> ApiResult<()> {
    let Some(ns) = route.namespace.as_deref() else {
        return Ok(());
    };
    let pod_key = route.entry.info.key(Some(ns), name);
    let pod_kv = state
        .store
        .get(&pod_key)
        .await?
        .ok_or_else(|| ApiError::not_found(&route.entry.info, name))?;
    let pod = from_stored(&pod_kv)?;
    // Terminal or already-terminating pods can always go.
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" || meta::is_deleting(&pod) {
        return Ok(());
    }
    let prefix = format!("/registry/policy/poddisruptionbudgets/{ns}/");
    let pdbs = state.store.range(&prefix, Default::default()).await?;
    let labels = meta::labels(&pod);
    let mut matching = Vec::new();
    for kv in &pdbs.kvs {
        let pdb = from_stored(kv)?;
        let Some(sel) = pdb.pointer("/spec/selector") else {
            continue;
        };
        let Ok(selector) = minato_selectors::LabelSelector::from_label_selector_object(sel) else {
            continue;
        };
        if selector.is_empty() {
            continue;
        }
        if selector.matches(&labels) {
            matching.push((kv.clone(), pdb));
        }
    }
    match matching.len() {
        0 => Ok(()),
        1 => {
            let (kv, mut pdb) = matching.remove(0);
            let allowed = pdb.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0);
            let pdb_name = meta::name(&pdb).unwrap_or("").to_string();
            let observed = pdb.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(0);
            let generation = meta::meta(&pdb).and_then(|m| m.get("generation")).and_then(Value::as_i64).unwrap_or(0);
            if allowed <= 0 || observed < generation {
                let healthy = pdb.pointer("/status/currentHealthy").and_then(Value::as_i64).unwrap_or(0);
                let desired = pdb.pointer("/status/desiredHealthy").and_then(Value::as_i64).unwrap_or(0);
                return Err(ApiError::too_many_requests(
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                )
                .with_details(json!({"causes": [{"reason": "DisruptionBudget", "message": format!("The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently")}]})));
            }
            meta::strip_resource_version(&mut pdb);
            if let Some(status) = pdb.get_mut("status").and_then(Value::as_object_mut) {
                status.insert("disruptionsAllowed".into(), json!(allowed - 1));
                let disrupted = status.entry("disruptedPods").or_insert_with(|| json!({}));
                if let Some(d) = disrupted.as_object_mut() {
                    d.insert(name.to_string(), json!(meta::now_rfc3339()));
                }
            }
            let bytes = serde_json::to_vec(&pdb).map_err(|e| ApiError::internal(e.to_string()))?;
            state
                .store
                .update(&kv.key, bytes, kv.mod_revision)
                .await
                .map_err(|_| ApiError::too_many_requests("the disruption budget changed during the eviction; try again"))?;
            Ok(())
        }
        _ => Err(ApiError::internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        )),
    }
}
