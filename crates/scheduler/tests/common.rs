//! A real minato server for integration tests, and helpers to make nodes and pods.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use minato_scheduler::{run, SchedulerConfig};
use serde_json::{json, Value};

/// A real server from the shared test kit: no scheduler (the test runs its own) and no
/// controllers (the node lifecycle one would taint the test's lease-less nodes); the kit also
/// creates the `default` ServiceAccount the admission then requires.
pub type Server = minato_testkit::TestServer;

/// Starts `minato server` (MINATO_BIN, default target/debug/minato of this workspace) on a free port.
pub async fn start() -> Server {
    minato_testkit::TestServer::start(&["--no-scheduler", "--no-controllers"]).await
}

/// Runs the scheduler in this process.
pub fn spawn_scheduler(client: &Client, config: SchedulerConfig) -> tokio::task::JoinHandle<()> {
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(e) = run(client, config).await {
            panic!("scheduler stopped: {e}");
        }
    })
}

/// Creates a Ready node with allocatable cpu/memory/pods, labels and taints.
pub async fn create_node(client: &Client, name: &str, cpu: &str, labels: Value, taints: Value) {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut l = labels.as_object().cloned().unwrap_or_default();
    l.insert("kubernetes.io/hostname".into(), json!(name));
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": l},
        "spec": {"taints": taints}
    }))
    .expect("node");
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create node");
    let status = json!({"status": {
        "capacity": {"cpu": cpu, "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
        "allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "ready", "lastHeartbeatTime": "2025-01-01T00:00:00Z",
            "lastTransitionTime": "2025-01-01T00:00:00Z"}]
    }});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("node status");
}

pub async fn create_namespace(client: &Client, name: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    minato_testkit::create_default_service_account(client, name).await;
}

pub async fn create_pod(client: &Client, ns: &str, pod: Value) -> Pod {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(pod).expect("pod json");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("create pod")
}

/// A plain pod requesting `cpu`.
pub fn simple_pod(name: &str, cpu: &str, extra_spec: Value) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox",
        "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]});
    for (k, v) in extra_spec.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

/// Polls until `check` returns Some, or fails after `secs`.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn node_of(client: &Client, ns: &str, name: &str) -> Option<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.get(name)
        .await
        .ok()?
        .spec?
        .node_name
        .filter(|n| !n.is_empty())
}

/// Messages of FailedScheduling events about a pod.
pub async fn failed_scheduling(client: &Client, ns: &str, pod: &str) -> Vec<(String, i32)> {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("FailedScheduling")
                && e.involved_object.name.as_deref() == Some(pod)
        })
        .map(|e| (e.message.unwrap_or_default(), e.count.unwrap_or(0)))
        .collect()
}
