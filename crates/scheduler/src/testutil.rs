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

/// A seeded, messy cluster for comparing indexed lookups against brute force: two namespaces,
/// overlapping labels, controllers, terminating pods, pod (anti-)affinity of every kind, pods
/// moved and deleted, and nodes deleted while pods remain on them.
pub fn random_cluster(seed: u64) -> Cluster {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut c = Cluster::new();
    c.namespaces.insert(
        "default".into(),
        [("team".to_string(), "x".to_string())].into(),
    );
    c.namespaces.insert(
        "other".into(),
        [("team".to_string(), "y".to_string())].into(),
    );
    let nodes: Vec<String> = (0..24).map(|i| format!("n{i}")).collect();
    for (i, n) in nodes.iter().enumerate() {
        let mut labels = serde_json::Map::new();
        if i % 5 != 4 {
            labels.insert("zone".into(), json!(format!("z{}", i % 3)));
            labels.insert(
                "topology.kubernetes.io/zone".into(),
                json!(format!("z{}", i % 3)),
            );
        }
        if i % 2 == 0 {
            labels.insert("disk".into(), json!("ssd"));
        }
        let mut n = node(n, "64", "256Gi", Value::Object(labels));
        if i % 6 == 1 {
            n.spec = serde_json::from_value(
                json!({"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]}),
            )
            .ok();
        }
        c.upsert_node(n);
    }
    for i in 0..400 {
        let mut spec = json!({});
        if rng.random_bool(0.15) {
            let kind = ["podAffinity", "podAntiAffinity"][rng.random_range(0..2)];
            spec["affinity"] = if rng.random_bool(0.5) {
                json!({kind: {"requiredDuringSchedulingIgnoredDuringExecution": [random_term(&mut rng)]}})
            } else {
                json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": rng.random_range(1..100), "podAffinityTerm": random_term(&mut rng)}]}})
            };
        }
        let mut p = pod(&format!("p{i}"), "10m", "10Mi", spec);
        let mut labels = json!({"app": random_app(&mut rng)});
        if rng.random_bool(0.5) {
            labels["tier"] = json!(["web", "db"][rng.random_range(0..2)]);
        }
        p = labeled(p, labels);
        if rng.random_bool(0.3) {
            p.metadata.namespace = Some("other".into());
        }
        if rng.random_bool(0.7) {
            let kind = ["ReplicaSet", "StatefulSet", "Job"][rng.random_range(0..3)];
            p.metadata.owner_references = serde_json::from_value(json!([{
                "apiVersion": "apps/v1", "kind": kind, "name": "o",
                "uid": format!("owner-{}", rng.random_range(0..4)), "controller": true}]))
            .ok();
        }
        if rng.random_bool(0.05) {
            p.metadata.deletion_timestamp =
                serde_json::from_value(json!("2024-01-01T00:00:00Z")).ok();
        }
        let n = &nodes[rng.random_range(0..nodes.len())];
        c.upsert_pod(Arc::new(info(p)), n);
    }
    // churn: moves, deletions, a pod on a node that never existed, deleted nodes
    for i in (0..400).step_by(7) {
        let uid = format!("uid-p{i}");
        if let Some(p) = c.remove_pod(&uid) {
            if i % 2 == 0 {
                let n = &nodes[rng.random_range(0..nodes.len())];
                c.upsert_pod(p, n);
            }
        }
    }
    if let Some(p) = c.remove_pod("uid-p1") {
        c.upsert_pod(p, "ghost");
    }
    c.remove_node("n3");
    c.remove_node("n7");
    c.upsert_node(node("n7", "64", "256Gi", json!({"zone": "z9"})));
    c
}

fn random_app(rng: &mut rand::rngs::StdRng) -> &'static str {
    use rand::Rng;
    ["a", "b", "c", "d"][rng.random_range(0..4)]
}

/// A pod affinity term over `app`/`tier` labels and zone/hostname/disk topologies, in the
/// pod's namespace, a listed one, or by namespace selector.
pub fn random_term(rng: &mut rand::rngs::StdRng) -> Value {
    use rand::Rng;
    let key = ["zone", "kubernetes.io/hostname", "disk"][rng.random_range(0..3)];
    let sel = match rng.random_range(0..5) {
        0 => json!({"matchLabels": {"app": random_app(rng)}}),
        1 => json!({"matchExpressions": [{"key": "app", "operator": "In",
            "values": [random_app(rng), random_app(rng)]}]}),
        2 => json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
        3 => json!({"matchLabels": {"app": random_app(rng), "tier": "web"}}),
        _ => json!({}),
    };
    let mut t = json!({"labelSelector": sel, "topologyKey": key});
    match rng.random_range(0..4) {
        0 => t["namespaces"] = json!(["other"]),
        1 => t["namespaceSelector"] = json!({}),
        2 => t["namespaceSelector"] = json!({"matchLabels": {"team": "y"}}),
        _ => {}
    }
    t
}
