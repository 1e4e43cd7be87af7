//! Kinds that are answered, not stored: access reviews, self-subject reviews, bindings.

use std::sync::Arc;

use http::{HeaderMap, Method};
use serde_json::{json, Value};

use crate::auth::{Attributes, UserInfo};
use crate::error::{ApiError, ApiResult};
use crate::http::Response;
use crate::request::decode_body;
use crate::resource::{respond, Route, Warnings};
use crate::server::State;

pub async fn handle(
    state: &Arc<State>,
    route: &Route,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    user: &UserInfo,
) -> ApiResult<Response> {
    let info = &route.entry.info;
    if *method != Method::POST || route.name.is_some() {
        if info.kind == "ComponentStatus" && *method == Method::GET {
            return Ok(respond(
                200,
                &json!({"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": []}),
                &Warnings::default(),
            ));
        }
        return Err(ApiError::method_not_allowed(format!(
            "{} only supports create",
            info.plural
        )));
    }
    let mut obj = decode_body(headers, body)?;
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(info.api_version()));
        m.insert("kind".into(), json!(info.kind));
        m.entry("metadata").or_insert_with(|| json!({}));
    }
    match info.kind.as_str() {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let ra = obj
                .pointer("/spec/resourceAttributes")
                .cloned()
                .unwrap_or(Value::Null);
            let s = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let attrs = Attributes {
                verb: s("verb"),
                group: s("group"),
                resource: s("resource"),
                subresource: s("subresource"),
                namespace: s("namespace"),
                name: s("name"),
                path: obj
                    .pointer("/spec/nonResourceAttributes/path")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            };
            let subject = if info.kind == "SelfSubjectAccessReview" {
                user.clone()
            } else {
                UserInfo {
                    name: obj
                        .pointer("/spec/user")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    groups: obj
                        .pointer("/spec/groups")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|g| g.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            };
            let status = match state.authorizer.authorize(&subject, &attrs) {
                Ok(()) => {
                    json!({"allowed": true, "reason": "allowed: the user is a cluster administrator (RBAC is not enforced yet)"})
                }
                Err(why) => json!({"allowed": false, "reason": why}),
            };
            obj["status"] = status;
        }
        "SelfSubjectRulesReview" => {
            obj["status"] = json!({
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": false,
            });
        }
        "SelfSubjectReview" => {
            obj["status"] = json!({"userInfo": {"username": user.name, "groups": user.groups}});
        }
        "TokenReview" => {
            obj["status"] = json!({"authenticated": false, "error": "token authentication is not enabled on this server yet"});
        }
        "Binding" => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let pod_entry = state
                .registry
                .lookup("", "v1", "pods")
                .ok_or_else(|| ApiError::internal("pods are not registered"))?;
            let pod_route = Route {
                entry: pod_entry,
                namespace: route.namespace.clone(),
                name: Some(name),
                subresource: Some("binding".into()),
            };
            let bytes = serde_json::to_vec(&obj).unwrap_or_default();
            let mut h = HeaderMap::new();
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return crate::subresource::post(
                state,
                &pod_route,
                "binding",
                &h,
                &bytes,
                &crate::request::Query::default(),
            )
            .await;
        }
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "{} is not served by this server yet",
                info.plural
            )))
        }
    }
    Ok(respond(201, &obj, &Warnings::default()))
}
