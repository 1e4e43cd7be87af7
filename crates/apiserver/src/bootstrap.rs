//! The objects every cluster starts with: system namespaces, the `kubernetes` Service and its
//! endpoints, the system priority classes. Runs at every start; existing objects are kept.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderMap;
use serde_json::{json, Value};

use crate::auth::UserInfo;
use crate::error::ApiResult;
use crate::request::Query;
use crate::resource::{list_objects, Route};
use crate::server::State;

pub(crate) async fn ensure(
    state: &Arc<State>,
    group: &str,
    version: &str,
    plural: &str,
    obj: Value,
) -> ApiResult<()> {
    let Some(entry) = state.registry.lookup(group, version, plural) else {
        return Ok(());
    };
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    // Existing objects stay as they are (and keep what they were allocated).
    if state
        .store
        .get(&entry.info.key(namespace.as_deref(), name))
        .await?
        .is_some()
    {
        return Ok(());
    }
    let route = Route {
        entry,
        namespace,
        name: None,
        subresource: None,
    };
    let body = serde_json::to_vec(&obj).unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static("kube-apiserver"),
    );
    let user = UserInfo {
        name: "system:apiserver".into(),
        groups: vec!["system:masters".into()],
    };
    match crate::resource::create(state, &route, &headers, &body, &Query::default(), &user).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn run(state: &Arc<State>, addr: SocketAddr) -> ApiResult<()> {
    // Rebuild allocator state from the Services already stored.
    if let Some(svc) = state.registry.lookup("", "v1", "services") {
        let (items, _, _) = list_objects(
            state,
            &svc,
            &svc.info.key_prefix(),
            &Default::default(),
            None,
            None,
        )
        .await?;
        for s in &items {
            state.allocators.mark_service(s);
        }
    }
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(
            state,
            "",
            "v1",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    let ip = crate::alloc::first_service_ip(&state.config.service_cidr)
        .map(|i| i.to_string())
        .unwrap_or_default();
    let port = addr.port();
    ensure(state, "", "v1", "services", json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}], "sessionAffinity": "None"}
    })).await?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    ensure(state, "", "v1", "endpoints", json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": host}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
    })).await?;
    ensure(state, "discovery.k8s.io", "v1", "endpointslices", json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [host], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}]
    })).await?;
    for (name, value, desc) in [
        ("system-cluster-critical", 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
        ("system-node-critical", 2000001000, "Used for system critical pods that must not be moved from their current node."),
    ] {
        ensure(state, "scheduling.k8s.io", "v1", "priorityclasses", json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "description": desc, "preemptionPolicy": "PreemptLowerPriority"
        })).await?;
    }
    Ok(())
}
