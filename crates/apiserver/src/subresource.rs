//! POST subresources of pods: `binding` (the scheduler's) and `eviction` (drain's).

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::http::Response;
use crate::request::{decode_body, Query};
use crate::resource::{delete_object, respond, DeleteOptions, Route, Warnings};
use crate::server::State;

pub async fn post(
    state: &Arc<State>,
    route: &Route,
    sub: &str,
    headers: &HeaderMap,
    body: &[u8],
    query: &Query,
) -> ApiResult<Response> {
    let name = route.name.clone().unwrap_or_default();
    let body = decode_body(headers, body)?;
    match sub {
        "binding" => {
            let node = body
                .pointer("/target/name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Binding",
                        "",
                        &name,
                        &[minato_resources::FieldError::required(
                            &minato_resources::FieldPath::new("target.name"),
                            "",
                        )],
                    )
                })?
                .to_string();
            bind(state, route, &name, &node, query).await
        }
        "eviction" => {
            let grace = body
                .pointer("/deleteOptions/gracePeriodSeconds")
                .and_then(Value::as_i64);
            let opts = DeleteOptions {
                grace_period: grace,
                ..Default::default()
            };
            crate::eviction::check(state, route, &name).await?;
            delete_object(state, route, &name, &opts, query.dry_run()?).await?;
            Ok(respond(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                &Warnings::default(),
            ))
        }
        _ => Err(ApiError::path_not_found()),
    }
}

/// Sets `spec.nodeName` once, with the PodScheduled condition; a pod already bound elsewhere is
/// a conflict, as upstream. Binding bypasses the pod update rules (spec is otherwise immutable).
async fn bind(
    state: &Arc<State>,
    route: &Route,
    name: &str,
    node: &str,
    query: &Query,
) -> ApiResult<Response> {
    let info = &route.entry.info;
    let key = info.key(route.namespace.as_deref(), name);
    for _ in 0..16 {
        let kv = state
            .store
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::not_found(info, name))?;
        let mut pod = crate::resource::from_stored(&kv)?;
        if crate::meta::is_deleting(&pod) {
            return Err(ApiError::conflict_message(
                info,
                name,
                "pod is being deleted, cannot be assigned to a host",
            ));
        }
        if let Some(existing) = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return Err(ApiError::conflict_message(
                info,
                name,
                &format!("pod {name} is already assigned to node \"{existing}\""),
            ));
        }
        crate::meta::strip_resource_version(&mut pod);
        if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(node));
        }
        let status = pod
            .as_object_mut()
            .map(|m| m.entry("status").or_insert_with(|| json!({})));
        if let Some(status) = status {
            if !status.is_object() {
                *status = json!({});
            }
            let conds = status
                .as_object_mut()
                .map(|m| m.entry("conditions").or_insert_with(|| json!([])));
            if let Some(Value::Array(conds)) = conds {
                conds.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
                conds.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": crate::meta::now_rfc3339()}));
            }
        }
        if query.dry_run()? {
            break;
        }
        let bytes = serde_json::to_vec(&pod).map_err(|e| ApiError::internal(e.to_string()))?;
        match state.store.update(&key, bytes, kv.mod_revision).await {
            Ok(_) => break,
            Err(minato_store::StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(respond(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        &Warnings::default(),
    ))
}
