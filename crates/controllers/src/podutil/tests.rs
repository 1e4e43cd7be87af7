use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

fn pod(name: &str, node: &str, phase: &str, ready_at: Option<i64>, created: i64) -> Pod {
    let mut v = json!({
        "metadata": {"name": name, "uid": name,
                     "creationTimestamp": Timestamp::from_second(created).unwrap().to_string()},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": phase}
    });
    if !node.is_empty() {
        v["spec"]["nodeName"] = json!(node);
    }
    if let Some(t) = ready_at {
        v["status"]["conditions"] = json!([{"type": "Ready", "status": "True",
            "lastTransitionTime": Timestamp::from_second(t).unwrap().to_string()}]);
    }
    serde_json::from_value(v).unwrap()
}

const NOW: i64 = 1_000_000;

fn order(pods: &[Pod]) -> Vec<String> {
    let refs: Vec<&Pod> = pods.iter().collect();
    pods_to_delete(
        &refs,
        &refs,
        pods.len() - 1,
        Timestamp::from_second(NOW).unwrap(),
    )
    .iter()
    .map(|p| p.metadata.name.clone().unwrap())
    .collect()
}

#[test]
fn deletion_prefers_unscheduled_then_pending_then_not_ready() {
    let pods = vec![
        pod("running-ready", "n1", "Running", Some(NOW - 100), NOW - 200),
        pod("unscheduled", "", "Pending", None, NOW - 200),
        pod("pending", "n2", "Pending", None, NOW - 200),
        pod("running-not-ready", "n3", "Running", None, NOW - 200),
    ];
    assert_eq!(
        order(&pods),
        vec!["unscheduled", "pending", "running-not-ready"]
    );
}

#[test]
fn deletion_prefers_doubled_up_then_recently_ready_then_newer() {
    let pods = vec![
        pod("alone", "n1", "Running", Some(NOW - 1000), NOW - 5000),
        pod("pair-a", "n2", "Running", Some(NOW - 1000), NOW - 5000),
        pod("pair-b", "n2", "Running", Some(NOW - 1000), NOW - 5000),
    ];
    let picked = order(&pods);
    assert!(picked.iter().all(|n| n.starts_with("pair")), "{picked:?}");

    // Same node count: the one ready for less time (by log2 rank) goes first.
    let pods = vec![
        pod("old", "n1", "Running", Some(NOW - 100_000), NOW - 200_000),
        pod("fresh", "n2", "Running", Some(NOW - 10), NOW - 200_000),
    ];
    assert_eq!(order(&pods), vec!["fresh"]);
}

#[test]
fn deletion_cost_annotation_wins_over_age() {
    let mut cheap = pod("cheap", "n1", "Running", Some(NOW - 100_000), NOW - 200_000);
    cheap.metadata.annotations = Some([(POD_DELETION_COST.to_string(), "-10".to_string())].into());
    let pods = vec![
        pod("fresh", "n2", "Running", Some(NOW - 10), NOW - 20),
        cheap,
    ];
    assert_eq!(order(&pods), vec!["cheap"]);
}

#[test]
fn availability_needs_min_ready_seconds() {
    let p = pod("p", "n", "Running", Some(NOW - 5), NOW - 10);
    let now = Timestamp::from_second(NOW).unwrap();
    assert!(is_pod_ready(&p));
    assert!(is_pod_available(&p, 0, now));
    assert!(is_pod_available(&p, 4, now));
    assert!(!is_pod_available(&p, 5, now));
    assert!(!is_pod_available(
        &pod("q", "n", "Running", None, NOW),
        0,
        now
    ));
}

#[test]
fn active_excludes_terminal_and_deleting() {
    assert!(is_pod_active(&pod("a", "n", "Running", None, NOW)));
    assert!(!is_pod_active(&pod("b", "n", "Succeeded", None, NOW)));
    assert!(!is_pod_active(&pod("c", "n", "Failed", None, NOW)));
    let mut d = pod("d", "n", "Running", None, NOW);
    d.metadata.deletion_timestamp = Some(Time(Timestamp::from_second(NOW).unwrap()));
    assert!(!is_pod_active(&d));
}

#[test]
fn pods_from_templates_carry_labels_annotations_and_owner() {
    let t: PodTemplateSpec = serde_json::from_value(json!({
        "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}, "finalizers": ["x/y"]},
        "spec": {"containers": [{"name": "c", "image": "i"}]}
    }))
    .unwrap();
    let owner = ObjectMeta {
        name: Some("web-abc".into()),
        uid: Some("u".into()),
        ..Default::default()
    };
    let p = pod_from_template(
        &t,
        "web-abc",
        new_controller_ref("apps/v1", "ReplicaSet", &owner),
    );
    assert_eq!(p.metadata.generate_name.as_deref(), Some("web-abc-"));
    assert_eq!(p.metadata.labels.unwrap()["app"], "web");
    assert_eq!(p.metadata.annotations.unwrap()["a"], "b");
    assert_eq!(p.metadata.finalizers, Some(vec!["x/y".to_string()]));
    let r = &p.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (
            r.kind.as_str(),
            r.name.as_str(),
            r.controller,
            r.block_owner_deletion
        ),
        ("ReplicaSet", "web-abc", Some(true), Some(true))
    );
}

#[test]
fn deployment_cache_keeps_owner_and_phase_only() {
    let mut pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7",
            "labels": {"app": "x"}, "annotations": {"a": "b"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                "uid": "rs-uid", "controller": true}],
            "managedFields": [{"manager": "m"}]},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1"}
    }))
    .expect("pod");
    keep_owner_and_phase(&mut pod);
    assert_eq!(
        serde_json::to_value(&pod).expect("json"),
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "rs", "uid": "rs-uid", "controller": true}]},
            "status": {"phase": "Running"}
        })
    );
    assert_eq!(
        controller_ref(&pod.metadata).map(|r| r.uid.as_str()),
        Some("rs-uid")
    );
}

#[test]
fn replicaset_cache_keeps_what_ranking_and_status_read() {
    let full: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u",
            "labels": {"app": "x"},
            "annotations": {"controller.kubernetes.io/pod-deletion-cost": "5"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "m"}]},
        "spec": {"nodeName": "n1",
            "initContainers": [{"name": "side", "image": "i", "restartPolicy": "Always"}],
            "containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "b"}]}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:05Z"}],
            "containerStatuses": [{"name": "c", "image": "i", "imageID": "sha", "ready": true,
                "restartCount": 3, "state": {"running": {"startedAt": "2026-01-01T00:00:04Z"}}}],
            "initContainerStatuses": [{"name": "side", "image": "i", "imageID": "sha",
                "ready": true, "restartCount": 7}]}
    }))
    .expect("pod");
    let mut kept = full.clone();
    keep_for_replicaset(&mut kept);
    let now = Timestamp::from_second(1_800_000_000).expect("time");
    // Everything the controller decides on reads the same from the trimmed pod.
    assert_eq!(max_restarts(&kept), max_restarts(&full));
    assert_eq!(max_restarts(&kept), (3, 7));
    assert_eq!(deletion_cost(&kept), 5);
    assert_eq!(pod_ready_time(&kept), pod_ready_time(&full));
    assert!(is_pod_active(&kept) && is_pod_available(&kept, 0, now));
    assert_eq!(kept.metadata.labels, full.metadata.labels);
    assert_eq!(
        kept.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("n1")
    );
    // and the bulk is gone
    assert!(kept.metadata.managed_fields.is_none());
    assert!(kept.spec.as_ref().is_some_and(|s| s.containers.is_empty()));
    let st = kept.status.as_ref().expect("status");
    assert!(st.pod_ip.is_none());
    assert!(st.container_statuses.as_ref().expect("statuses")[0]
        .state
        .is_none());
}
