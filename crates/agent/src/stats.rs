//! Resource usage from cgroups: the kubelet's /stats/summary shape (node and pods, CPU in
//! nanocores over the last interval, memory working set), which the API server turns into
//! metrics.k8s.io NodeMetrics/PodMetrics for `kubectl top`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::json;

use crate::Ctx;

/// Previous cumulative CPU readings, to turn counters into rates.
static LAST: Mutex<Option<HashMap<String, (Instant, u64)>>> = Mutex::new(None);

fn rate(key: &str, cpu_ns: u64) -> u64 {
    let now = Instant::now();
    let mut guard = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    let out = match map.get(key) {
        Some((t, prev)) if cpu_ns >= *prev => {
            let secs = now.duration_since(*t).as_secs_f64();
            if secs > 0.0 {
                ((cpu_ns - prev) as f64 / secs) as u64
            } else {
                0
            }
        }
        _ => 0,
    };
    map.insert(key.to_string(), (now, cpu_ns));
    out
}

/// Usage of the node and of each running container, as JSON.
pub async fn summary(
    ctx: &Ctx,
) -> http::Response<http_body_util::combinators::BoxBody<Bytes, std::io::Error>> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let node = ctx.runtime.node_usage().ok();
    let node_json = json!({
        "nodeName": ctx.config.node_name,
        "cpu": { "time": now, "usageNanoCores": node.as_ref().map(|u| rate("node", u.cpu_usage_ns)).unwrap_or(0), "usageCoreNanoSeconds": node.as_ref().map(|u| u.cpu_usage_ns).unwrap_or(0) },
        "memory": { "time": now, "workingSetBytes": node.as_ref().map(|u| u.memory_working_set_bytes).unwrap_or(0) },
    });
    let mut pods: HashMap<String, serde_json::Value> = HashMap::new();
    if let Ok(records) = ctx.runtime.containers() {
        for r in records
            .into_iter()
            .filter(|r| matches!(r.state, minato_runtime::ContainerState::Running { .. }))
        {
            let Ok(u) = ctx.runtime.cgroup_usage(&r.cgroup_path) else {
                continue;
            };
            let ns = r
                .labels
                .get("io.kubernetes.pod.namespace")
                .cloned()
                .unwrap_or_default();
            let name = r
                .labels
                .get("io.kubernetes.pod.name")
                .cloned()
                .unwrap_or_default();
            let entry = pods.entry(r.pod_uid.clone()).or_insert_with(|| {
                json!({
                    "podRef": { "name": name, "namespace": ns, "uid": r.pod_uid },
                    "containers": [],
                })
            });
            if let Some(list) = entry["containers"].as_array_mut() {
                list.push(json!({
                    "name": r.container_name,
                    "startTime": now,
                    "cpu": { "time": now, "usageNanoCores": rate(&r.id, u.cpu_usage_ns), "usageCoreNanoSeconds": u.cpu_usage_ns },
                    "memory": { "time": now, "workingSetBytes": u.memory_working_set_bytes, "usageBytes": u.memory_usage_bytes },
                }));
            }
        }
    }
    let body = json!({ "node": node_json, "pods": pods.into_values().collect::<Vec<_>>() });
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(body.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap_or_else(|_| {
            http::Response::new(
                Full::new(Bytes::new())
                    .map_err(|never| match never {})
                    .boxed(),
            )
        })
}
