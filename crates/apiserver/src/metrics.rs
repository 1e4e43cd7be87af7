//! The resource metrics API (`metrics.k8s.io/v1beta1`, what metrics-server serves), built in:
//! `NodeMetrics` and `PodMetrics` for `kubectl top`, made on request from each node agent's
//! `/stats/summary` (reached like logs and exec, with the kubelet client certificate).
//!
//! The agents sample CPU counters every 10 seconds, so usage is a rate over that window. A node
//! or pod the agent has no CPU rate for yet is left out of lists (as metrics-server does), which
//! kubectl reports as "metrics not available yet". Replies are JSON whatever the Accept header
//! asks (kubectl asks for protobuf first and takes JSON).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use minato_resources::ResourceInfo;
use minato_store::RangeOptions;
use serde_json::{json, Value};

use crate::auth::{Attributes, UserInfo};
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::http::Response;
use crate::request::Query;
use crate::server::{json_response, State};

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
const GROUP_VERSION: &str = "metrics.k8s.io/v1beta1";
/// How long one node agent may take to answer /stats/summary.
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest summary accepted from an agent.
const SUMMARY_LIMIT: usize = 32 * 1024 * 1024;

/// (plural, kind, namespaced) of the served resources.
const RESOURCES: [(&str, &str, bool); 2] = [
    ("nodes", "NodeMetrics", false),
    ("pods", "PodMetrics", true),
];

/// The group's entry in the legacy `/apis` list (an `APIGroup` without kind).
pub fn api_group() -> Value {
    let v = json!({"groupVersion": GROUP_VERSION, "version": VERSION});
    json!({"name": GROUP, "versions": [v.clone()], "preferredVersion": v})
}

/// `GET /apis/metrics.k8s.io`.
pub fn api_group_doc() -> Value {
    let mut g = api_group();
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

/// `GET /apis/metrics.k8s.io/v1beta1`, as metrics-server answers it.
pub fn api_resource_list() -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .map(|(plural, kind, namespaced)| {
            json!({"name": plural, "singularName": "", "namespaced": namespaced,
                   "kind": kind, "verbs": ["get", "list"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
           "resources": resources})
}

/// The group's item in the aggregated `/apis` document.
pub fn aggregated_group() -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .map(|(plural, kind, namespaced)| {
            json!({"resource": plural,
                   "responseKind": {"group": GROUP, "version": VERSION, "kind": kind},
                   "scope": if *namespaced { "Namespaced" } else { "Cluster" },
                   "singularResource": "", "verbs": ["get", "list"]})
        })
        .collect();
    json!({"metadata": {"name": GROUP, "creationTimestamp": null},
           "versions": [{"version": VERSION, "resources": resources, "freshness": "Current"}]})
}

/// Serves `/apis/metrics.k8s.io/<rest>`.
pub async fn handle(
    state: &Arc<State>,
    user: &UserInfo,
    method: &Method,
    rest: &[&str],
    query: &Query,
    path: &str,
) -> ApiResult<Response> {
    match rest {
        [] => return Ok(json_response(200, &api_group_doc())),
        [VERSION] => return Ok(json_response(200, &api_resource_list())),
        _ => {}
    }
    let (namespace, plural, name) = match rest {
        [VERSION, "nodes"] => (None, "nodes", None),
        [VERSION, "nodes", name] => (None, "nodes", Some(*name)),
        [VERSION, "pods"] => (None, "pods", None),
        [VERSION, "namespaces", ns, "pods"] => (Some(*ns), "pods", None),
        [VERSION, "namespaces", ns, "pods", name] => (Some(*ns), "pods", Some(*name)),
        _ => return Err(ApiError::path_not_found()),
    };
    let verb = if name.is_some() { "get" } else { "list" };
    let attrs = Attributes {
        verb: verb.into(),
        group: GROUP.into(),
        resource: plural.into(),
        subresource: String::new(),
        namespace: namespace.unwrap_or_default().into(),
        name: name.unwrap_or_default().into(),
        path: path.into(),
    };
    state.authorizer.authorize(user, &attrs).map_err(|why| {
        ApiError::forbidden(format!(
            "{plural}.{GROUP} \"{}\" is forbidden: User \"{}\" cannot {verb} resource \"{plural}\" in API group \"{GROUP}\": {why}",
            attrs.name, user.name
        ))
    })?;
    if !matches!(*method, Method::GET | Method::HEAD) || query.flag("watch") {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method}{})",
            if query.flag("watch") { " watch" } else { "" }
        )));
    }
    let body = match (plural, name) {
        ("nodes", None) => node_list(state, query).await?,
        ("nodes", Some(n)) => node_get(state, n).await?,
        (_, None) => pod_list(state, namespace, query).await?,
        (_, Some(n)) => pod_get(state, namespace.unwrap_or("default"), n).await?,
    };
    Ok(json_response(200, &body))
}

fn not_found(plural: &str, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("{plural}.{GROUP} \"{name}\" not found"),
    )
    .with_details(json!({"name": name, "group": GROUP, "kind": plural}))
}

fn core_info(state: &State, plural: &str) -> ApiResult<Arc<ResourceInfo>> {
    state
        .registry
        .lookup("", "v1", plural)
        .map(|e| e.info.clone())
        .ok_or_else(|| ApiError::internal(format!("the {plural} resource is not registered")))
}

async fn list_objects(state: &State, prefix: &str) -> ApiResult<Vec<Value>> {
    let r = state.store.range(prefix, RangeOptions::default()).await?;
    r.kvs.iter().map(crate::resource::from_stored).collect()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn node_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// One agent's /stats/summary.
async fn fetch_summary(state: &Arc<State>, node: &str) -> Result<Value, String> {
    let (host, port) = crate::nodeproxy::node_endpoint(state, node)
        .await
        .map_err(|e| e.message)?;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let fetch = async {
        let tls = state
            .kubelet
            .connect(&host, port)
            .await
            .map_err(|e| format!("dial {authority}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "node agent connection ended with an error");
            }
        });
        let req = http::Request::get("/stats/summary")
            .header(http::header::HOST, &authority)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = http_body_util::Limited::new(resp.into_body(), SUMMARY_LIMIT)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        }
        serde_json::from_slice::<Value>(&body).map_err(|e| format!("bad summary: {e}"))
    };
    tokio::time::timeout(SUMMARY_TIMEOUT, fetch)
        .await
        .map_err(|_| format!("no answer from {authority} in {SUMMARY_TIMEOUT:?}"))?
}

/// Summaries of the given nodes, fetched side by side; nodes that fail are left out.
async fn summaries(state: &Arc<State>, nodes: &BTreeSet<String>) -> BTreeMap<String, Value> {
    let fetched = futures::future::join_all(nodes.iter().map(|n| async move {
        let r = fetch_summary(state, n).await;
        (n.clone(), r)
    }))
    .await;
    let mut out = BTreeMap::new();
    for (node, r) in fetched {
        match r {
            Ok(v) => {
                out.insert(node, v);
            }
            Err(e) => tracing::debug!(%node, error = %e, "no stats from node agent"),
        }
    }
    out
}

/// A CPU rate in nanocores as a canonical decimal quantity ("449281344n", "200m", "1").
pub fn cpu_quantity(nano_cores: u64) -> String {
    let mut v = nano_cores;
    if v == 0 {
        return "0".into();
    }
    for suffix in ["n", "u", "m", "", "k", "M", "G", "T", "P"] {
        if !v.is_multiple_of(1000) {
            return format!("{v}{suffix}");
        }
        v /= 1000;
    }
    format!("{v}E")
}

/// A byte count as a canonical binary quantity ("1881448Ki", "2Mi", "1000").
pub fn memory_quantity(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    let mut v = bytes;
    let mut suffix = "";
    for next in ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"] {
        if !v.is_multiple_of(1024) {
            break;
        }
        v /= 1024;
        suffix = next;
    }
    format!("{v}{suffix}")
}

/// `(timestamp, window, usage)` from a summary entry with `cpu` and `memory`, if it has a rate.
fn usage(stats: &Value) -> Option<(String, String, Value)> {
    let nano = stats.pointer("/cpu/usageNanoCores")?.as_u64()?;
    let mem = stats
        .pointer("/memory/workingSetBytes")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let time = str_at(stats, "/cpu/time").to_string();
    let window = match str_at(stats, "/cpu/window") {
        "" => "10s".to_string(),
        w => w.to_string(),
    };
    Some((
        time,
        window,
        json!({"cpu": cpu_quantity(nano), "memory": memory_quantity(mem)}),
    ))
}

fn object_meta(obj: &Value, now: &str) -> Value {
    let mut m = json!({"name": crate::meta::name(obj).unwrap_or(""), "creationTimestamp": now});
    if let Some(ns) = crate::meta::namespace(obj) {
        m["namespace"] = json!(ns);
    }
    let labels = crate::meta::labels(obj);
    if !labels.is_empty() {
        m["labels"] = json!(labels);
    }
    m
}

fn node_metrics(node: &Value, summary: &Value, now: &str) -> Option<Value> {
    let (timestamp, window, usage) = usage(summary.get("node")?)?;
    Some(json!({
        "kind": "NodeMetrics", "apiVersion": GROUP_VERSION,
        "metadata": object_meta(node, now),
        "timestamp": timestamp, "window": window, "usage": usage,
    }))
}

/// A pod's metrics from its node's summary; `None` unless every running container has a rate.
fn pod_metrics(pod: &Value, summary: &Value, now: &str) -> Option<Value> {
    let uid = str_at(pod, "/metadata/uid");
    let entry = summary
        .get("pods")?
        .as_array()?
        .iter()
        .find(|p| str_at(p, "/podRef/uid") == uid && !uid.is_empty())?;
    let mut containers = Vec::new();
    let mut timestamp = String::new();
    let mut window = String::new();
    for c in entry.get("containers")?.as_array()? {
        let (t, w, u) = usage(c)?;
        // RFC 3339 UTC strings of one format order as times do.
        if t > timestamp {
            timestamp = t;
        }
        if window.is_empty() {
            window = w;
        }
        containers.push(json!({"name": str_at(c, "/name"), "usage": u}));
    }
    if containers.is_empty() {
        return None;
    }
    containers.sort_by(|a, b| str_at(a, "/name").cmp(str_at(b, "/name")));
    Some(json!({
        "kind": "PodMetrics", "apiVersion": GROUP_VERSION,
        "metadata": object_meta(pod, now),
        "timestamp": timestamp, "window": window, "containers": containers,
    }))
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": GROUP_VERSION, "metadata": {}, "items": items})
}

async fn node_list(state: &Arc<State>, query: &Query) -> ApiResult<Value> {
    let info = core_info(state, "nodes")?;
    let filter = Filter::parse(
        query.get("labelSelector"),
        query.get("fieldSelector"),
        "",
        "Node",
    )?;
    let nodes: Vec<Value> = list_objects(state, &info.key_prefix())
        .await?
        .into_iter()
        .filter(|n| filter.matches(n) && node_ready(n))
        .collect();
    let names: BTreeSet<String> = nodes
        .iter()
        .filter_map(|n| crate::meta::name(n).map(str::to_string))
        .collect();
    let stats = summaries(state, &names).await;
    let now = crate::meta::now_rfc3339();
    let items = nodes
        .iter()
        .filter_map(|n| node_metrics(n, stats.get(crate::meta::name(n)?)?, &now))
        .collect();
    Ok(list("NodeMetricsList", items))
}

async fn node_get(state: &Arc<State>, name: &str) -> ApiResult<Value> {
    let info = core_info(state, "nodes")?;
    let kv = state
        .store
        .get(&info.key(None, name))
        .await?
        .ok_or_else(|| not_found("nodes", name))?;
    let node = crate::resource::from_stored(&kv)?;
    let stats = summaries(state, &BTreeSet::from([name.to_string()])).await;
    let now = crate::meta::now_rfc3339();
    stats
        .get(name)
        .and_then(|s| node_metrics(&node, s, &now))
        .ok_or_else(|| not_found("nodes", name))
}

async fn pod_list(state: &Arc<State>, namespace: Option<&str>, query: &Query) -> ApiResult<Value> {
    let info = core_info(state, "pods")?;
    let filter = Filter::parse(
        query.get("labelSelector"),
        query.get("fieldSelector"),
        "",
        "Pod",
    )?;
    let prefix = match namespace {
        Some(ns) => info.namespace_prefix(ns),
        None => info.key_prefix(),
    };
    let pods: Vec<Value> = list_objects(state, &prefix)
        .await?
        .into_iter()
        .filter(|p| filter.matches(p) && !str_at(p, "/spec/nodeName").is_empty())
        .collect();
    let nodes: BTreeSet<String> = pods
        .iter()
        .map(|p| str_at(p, "/spec/nodeName").to_string())
        .collect();
    let stats = summaries(state, &nodes).await;
    let now = crate::meta::now_rfc3339();
    let items = pods
        .iter()
        .filter_map(|p| pod_metrics(p, stats.get(str_at(p, "/spec/nodeName"))?, &now))
        .collect();
    Ok(list("PodMetricsList", items))
}

async fn pod_get(state: &Arc<State>, namespace: &str, name: &str) -> ApiResult<Value> {
    let info = core_info(state, "pods")?;
    let missing = || not_found("pods", &format!("{namespace}/{name}"));
    let kv = state
        .store
        .get(&info.key(Some(namespace), name))
        .await?
        .ok_or_else(missing)?;
    let pod = crate::resource::from_stored(&kv)?;
    let node = str_at(&pod, "/spec/nodeName").to_string();
    if node.is_empty() {
        return Err(missing());
    }
    let stats = summaries(state, &BTreeSet::from([node.clone()])).await;
    let now = crate::meta::now_rfc3339();
    stats
        .get(&node)
        .and_then(|s| pod_metrics(&pod, s, &now))
        .ok_or_else(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_canonical() {
        assert_eq!(cpu_quantity(0), "0");
        assert_eq!(cpu_quantity(449_281_344), "449281344n");
        assert_eq!(cpu_quantity(200_000_000), "200m");
        assert_eq!(cpu_quantity(1_500_000), "1500u");
        assert_eq!(cpu_quantity(2_000_000_000), "2");
        assert_eq!(memory_quantity(0), "0");
        assert_eq!(memory_quantity(1000), "1000");
        assert_eq!(memory_quantity(1_926_602_752), "1881448Ki");
        assert_eq!(memory_quantity(2 * 1024 * 1024), "2Mi");
    }

    #[test]
    fn pod_metrics_need_a_rate_for_every_container() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "uid": "u1",
                         "labels": {"app": "web"}}});
        let summary = json!({"pods": [{"podRef": {"name": "p", "namespace": "default", "uid": "u1"},
            "containers": [
              {"name": "b", "cpu": {"time": "2026-01-01T00:00:10Z", "usageNanoCores": 200000000u64, "window": "10.001s"},
               "memory": {"workingSetBytes": 1048576}},
              {"name": "a", "cpu": {"time": "2026-01-01T00:00:11Z", "usageNanoCores": 5u64, "window": "10.002s"},
               "memory": {"workingSetBytes": 4096}}]}]});
        let m = pod_metrics(&pod, &summary, "2026-01-01T00:00:12Z").expect("metrics");
        assert_eq!(m["kind"], "PodMetrics");
        assert_eq!(m["metadata"]["labels"]["app"], "web");
        assert_eq!(m["timestamp"], "2026-01-01T00:00:11Z");
        assert_eq!(m["window"], "10.001s");
        assert_eq!(m["containers"][0]["name"], "a");
        assert_eq!(m["containers"][1]["usage"]["cpu"], "200m");
        assert_eq!(m["containers"][1]["usage"]["memory"], "1Mi");
        // A container without a rate yet: no metrics for the pod.
        let mut partial = summary.clone();
        partial["pods"][0]["containers"][0]["cpu"] = json!({"time": "2026-01-01T00:00:10Z"});
        assert!(pod_metrics(&pod, &partial, "now").is_none());
        // Another pod with the same name (a different uid) does not match.
        let other = json!({"metadata": {"name": "p", "namespace": "default", "uid": "u2"}});
        assert!(pod_metrics(&other, &summary, "now").is_none());
    }

    #[test]
    fn discovery_documents() {
        let l = api_resource_list();
        assert_eq!(l["groupVersion"], "metrics.k8s.io/v1beta1");
        assert_eq!(l["resources"][0]["name"], "nodes");
        assert_eq!(l["resources"][0]["namespaced"], false);
        assert_eq!(l["resources"][1]["kind"], "PodMetrics");
        let a = aggregated_group();
        assert_eq!(a["versions"][0]["resources"][1]["scope"], "Namespaced");
        assert_eq!(api_group()["preferredVersion"]["version"], "v1beta1");
    }
}
