//! Core/v1 Events as the kubelet records them (source component `kubelet`, host = node).

use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Unique per process even when many events share a nanosecond.
fn event_name(object: &str, now: Timestamp) -> String {
    let n = now.as_nanosecond() as u64 + SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{object}.{n:x}")
}

fn event(
    namespace: &str,
    involved: ObjectReference,
    node: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> Event {
    let t = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
    Event {
        metadata: ObjectMeta {
            name: Some(event_name(
                involved.name.as_deref().unwrap_or("object"),
                now,
            )),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        involved_object: involved,
        reason: Some(reason.into()),
        message: Some(message),
        source: Some(EventSource {
            component: Some("kubelet".into()),
            host: Some(node.into()),
        }),
        first_timestamp: Some(t.clone()),
        last_timestamp: Some(t),
        count: Some(1),
        type_: Some("Normal".into()),
        reporting_component: Some("kubelet".into()),
        reporting_instance: Some(node.into()),
        ..Default::default()
    }
}

/// An event about a node (the kubelet names the node by its name as UID, in `default`).
pub fn node_event(node: &str, reason: &str, message: String, now: Timestamp) -> Event {
    let involved = ObjectReference {
        kind: Some("Node".into()),
        name: Some(node.into()),
        uid: Some(node.into()),
        ..Default::default()
    };
    event("default", involved, node, reason, message, now)
}

/// An event about one container of a pod (`spec.containers{name}` or `spec.initContainers{name}`).
pub fn container_event(
    pod: &Pod,
    field_path: String,
    node: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> Event {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let involved = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(ns.clone()),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        field_path: Some(field_path),
        ..Default::default()
    };
    event(&ns, involved, node, reason, message, now)
}

/// The events the kubelet records when it starts a pod's containers (image already present).
pub fn pod_started_events(pod: &Pod, node: &str, now: Timestamp) -> Vec<Event> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let lists = [
        (
            "initContainers",
            spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("containers", spec.containers.as_slice()),
    ];
    for (field, containers) in lists {
        for c in containers {
            let path = format!("spec.{field}{{{}}}", c.name);
            let image = c.image.clone().unwrap_or_default();
            out.push(container_event(
                pod,
                path.clone(),
                node,
                "Pulled",
                format!("Container image {image:?} already present on machine"),
                now,
            ));
            out.push(container_event(
                pod,
                path.clone(),
                node,
                "Created",
                format!("Created container: {}", c.name),
                now,
            ));
            out.push(container_event(
                pod,
                path,
                node,
                "Started",
                format!("Started container {}", c.name),
                now,
            ));
        }
    }
    out
}

/// The events the kubelet records when it stops a pod's running containers.
pub fn pod_killing_events(pod: &Pod, node: &str, now: Timestamp) -> Vec<Event> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .map(|c| {
            container_event(
                pod,
                format!("spec.containers{{{}}}", c.name),
                node,
                "Killing",
                format!("Stopping container {}", c.name),
                now,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn started_events_name_each_container_in_order() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [{"name": "web", "image": "nginx:1.25"}],
            },
        }))
        .unwrap();
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let evs = pod_started_events(&pod, "sim-node-0", now);
        let got: Vec<(String, String, String)> = evs
            .iter()
            .map(|e| {
                (
                    e.involved_object.field_path.clone().unwrap(),
                    e.reason.clone().unwrap(),
                    e.message.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(got[0].0, "spec.initContainers{init}");
        assert_eq!(got[3].1, "Pulled");
        assert_eq!(
            got[3].2,
            "Container image \"nginx:1.25\" already present on machine"
        );
        assert_eq!(got[4].2, "Created container: web");
        assert_eq!(got[5].2, "Started container web");
        assert_eq!(evs[0].metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(evs[0].involved_object.uid.as_deref(), Some("u1"));
        assert_eq!(
            evs[0].source.as_ref().unwrap().host.as_deref(),
            Some("sim-node-0")
        );
        // Names are unique even at the same instant.
        let names: std::collections::HashSet<_> =
            evs.iter().map(|e| e.metadata.name.clone()).collect();
        assert_eq!(names.len(), evs.len());

        let kill = pod_killing_events(&pod, "sim-node-0", now);
        assert_eq!(kill.len(), 1);
        assert_eq!(kill[0].message.as_deref(), Some("Stopping container web"));
        let n = node_event("sim-node-0", "Starting", "Starting kubelet.".into(), now);
        assert_eq!(n.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(n.involved_object.uid.as_deref(), Some("sim-node-0"));
    }
}
