//! Builders for unit tests: nodes and pods from JSON.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

use crate::cache::{Cluster, NodeInfo, PodInfo};

/// A Ready node with allocatable cpu/memory/pods and labels (hostname label added).
pub fn node(name: &str, cpu: &str, mem: &str, labels: Value) -> Node {
    let mut l = labels.as_object().cloned().unwrap_or_default();
    l.insert("kubernetes.io/hostname".into(), json!(name));
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": l},
        "spec": {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": mem, "pods": "110"},
            "capacity": {"cpu": cpu, "memory": mem, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    }))
    .expect("node json")
}

/// Node with extra fields merged into spec.
pub fn node_with_spec(name: &str, spec: Value) -> Node {
    let mut n = node(name, "4", "8Gi", json!({}));
    n.spec = Some(serde_json::from_value(spec).expect("node spec"));
    n
}

/// A pod in namespace `default` with one container requesting cpu/memory; `spec` is merged.
pub fn pod(name: &str, cpu: &str, mem: &str, spec: Value) -> Pod {
    let mut s = json!({
        "schedulerName": "default-scheduler",
        "containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": cpu, "memory": mem}}}]
    });
    if let (Some(base), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": s
    }))
    .expect("pod json")
}

pub fn labeled(mut p: Pod, labels: Value) -> Pod {
    p.metadata.labels = serde_json::from_value(labels).expect("labels");
    p
}

pub fn info(p: Pod) -> PodInfo {
    PodInfo::new(Arc::new(p))
}

pub fn cluster(nodes: Vec<Node>, pods: Vec<(Pod, &str)>) -> Cluster {
    let mut c = Cluster::new();
    for n in nodes {
        c.upsert_node(n);
    }
    for (p, n) in pods {
        c.upsert_pod(Arc::new(info(p)), n);
    }
    c
}

pub fn node_info(c: &Cluster, name: &str) -> NodeInfo {
    c.node(name).expect("node").clone()
}
