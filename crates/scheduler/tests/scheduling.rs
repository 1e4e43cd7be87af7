//! The scheduler against a real minato API server.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use minato_scheduler::SchedulerConfig;
use serde_json::json;

/// Seed 004's pod template (labels, preferred anti-affinity on hostname, requests).
fn seed_004_pod(name: &str) -> serde_json::Value {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/seeds/manifests/004-02-k8s-manifests__deployment.yaml"
    ))
    .ok();
    let template = manifest
        .as_deref()
        .and_then(serde_yaml_template)
        .unwrap_or_else(|| {
            json!({
                "metadata": {"labels": {"app": "web", "version": "v1"}},
                "spec": {
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 100, "podAffinityTerm": {
                            "labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
                            "topologyKey": "kubernetes.io/hostname"}}]}},
                    "containers": [{"name": "web", "image": "webapp:v1.0",
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"cpu": "500m", "memory": "512Mi"}}}]
                }
            })
        });
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": template["metadata"].clone(),
        "spec": template["spec"].clone()});
    pod["metadata"]["name"] = json!(name);
    // no volumes' sources exist in this test namespace; they don't affect scheduling
    if let Some(spec) = pod["spec"].as_object_mut() {
        spec.remove("volumes");
        if let Some(cs) = spec.get_mut("containers").and_then(|c| c.as_array_mut()) {
            for c in cs {
                if let Some(c) = c.as_object_mut() {
                    c.remove("volumeMounts");
                }
            }
        }
    }
    pod
}

/// The pod template of the seed Deployment, if the file parses.
fn serde_yaml_template(manifest: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_yaml::from_str(manifest).ok()?;
    let t = v.get("spec")?.get("template")?.clone();
    t.get("spec")?.get("affinity")?;
    Some(t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_004_replicas_spread_over_three_nodes() {
    let server = start().await;
    let c = &server.client;
    for n in ["node-a", "node-b", "node-c"] {
        create_node(c, n, "4", json!({}), json!([])).await;
    }
    create_namespace(c, "parallel-poc").await;
    let _sched = spawn_scheduler(c, SchedulerConfig::default());
    for i in 0..3 {
        create_pod(c, "parallel-poc", seed_004_pod(&format!("web-app-{i}"))).await;
        // replicas arrive one after another, as from a ReplicaSet
        let name = format!("web-app-{i}");
        wait_for(30, "web pod bound", || node_of(c, "parallel-poc", &name)).await;
    }
    let mut nodes = HashSet::new();
    for i in 0..3 {
        nodes.insert(
            node_of(c, "parallel-poc", &format!("web-app-{i}"))
                .await
                .expect("bound"),
        );
    }
    assert_eq!(nodes.len(), 3, "3 replicas on 3 different nodes: {nodes:?}");
    // PodScheduled=True set by the binding, and a Scheduled event
    let pods: Api<Pod> = Api::namespaced(c.clone(), "parallel-poc");
    let p = pods.get("web-app-0").await.expect("pod");
    let cond = p.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(cond
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.status == "True"));
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(c.clone(), "parallel-poc");
    let msg = format!(
        "Successfully assigned parallel-poc/web-app-0 to {}",
        node_of(c, "parallel-poc", "web-app-0")
            .await
            .unwrap_or_default()
    );
    wait_for(10, "Scheduled event", || {
        let events = events.clone();
        let msg = msg.clone();
        async move {
            let l = events.list(&ListParams::default()).await.ok()?;
            l.items
                .iter()
                .find(|e| {
                    e.reason.as_deref() == Some("Scheduled")
                        && e.message.as_deref() == Some(msg.as_str())
                        && e.type_.as_deref() == Some("Normal")
                        && e.source.as_ref().and_then(|s| s.component.as_deref())
                            == Some("default-scheduler")
                })
                .map(|_| ())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_are_avoided_unless_tolerated_and_failures_are_reported() {
    let server = start().await;
    let c = &server.client;
    let cp_taint =
        json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    create_node(c, "cp-1", "8", json!({}), cp_taint.clone()).await;
    create_node(c, "cp-2", "8", json!({}), cp_taint).await;
    create_node(c, "worker", "2", json!({}), json!([])).await;
    let _sched = spawn_scheduler(c, SchedulerConfig::default());

    for i in 0..4 {
        create_pod(
            c,
            "default",
            simple_pod(&format!("plain-{i}"), "100m", json!({})),
        )
        .await;
    }
    for i in 0..4 {
        let name = format!("plain-{i}");
        let node = wait_for(30, "plain pod bound", || node_of(c, "default", &name)).await;
        assert_eq!(node, "worker", "untolerated taints avoided");
    }
    let tolerating = json!({"tolerations": [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]});
    create_pod(c, "default", simple_pod("tolerant", "3", tolerating)).await;
    let node = wait_for(30, "tolerant pod bound", || {
        node_of(c, "default", "tolerant")
    })
    .await;
    assert!(
        node.starts_with("cp-"),
        "tolerating pod may use tainted nodes: {node}"
    );

    // too much cpu for the worker, and the others are tainted
    create_pod(c, "default", simple_pod("greedy", "3", json!({}))).await;
    let want = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint \
                {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: \
                3 Preemption is not helpful for scheduling.";
    let events = wait_for(30, "FailedScheduling event", || async {
        let ev = failed_scheduling(c, "default", "greedy").await;
        (!ev.is_empty()).then_some(ev)
    })
    .await;
    assert_eq!(events[0].0, want);
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let cond = wait_for(10, "PodScheduled=False", || async {
        let p = pods.get("greedy").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(cond.message.as_deref(), Some(want));
    assert_eq!(node_of(c, "default", "greedy").await, None, "stays Pending");
    // a node event retries it: still failing, the same event is counted, not duplicated
    create_node(c, "small", "1", json!({}), json!([])).await;
    let events = wait_for(30, "aggregated FailedScheduling", || async {
        let ev = failed_scheduling(c, "default", "greedy").await;
        ev.iter()
            .any(|(m, _)| m.starts_with("0/4 nodes are available: 2 Insufficient cpu"))
            .then_some(ev)
    })
    .await;
    assert!(
        events.iter().all(|(m, _)| m.contains("preemption:")),
        "{events:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ev = failed_scheduling(c, "default", "greedy").await;
    let distinct: HashSet<&String> = ev.iter().map(|(m, _)| m).collect();
    assert_eq!(
        ev.len(),
        distinct.len(),
        "one event per distinct message: {ev:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_priority_pod_preempts_low_priority_one() {
    let server = start().await;
    let c = &server.client;
    create_node(c, "only", "2", json!({}), json!([])).await;
    // priority comes from PriorityClasses through the server's priority admission
    let classes: Api<k8s_openapi::api::scheduling::v1::PriorityClass> = Api::all(c.clone());
    for (name, value) in [("low", 10), ("high", 1000)] {
        let pc = serde_json::from_value(json!({"metadata": {"name": name}, "value": value}))
            .expect("priority class");
        classes
            .create(&kube::api::PostParams::default(), &pc)
            .await
            .expect("create priority class");
    }
    let _sched = spawn_scheduler(c, SchedulerConfig::default());
    create_pod(
        c,
        "default",
        simple_pod("low", "1500m", json!({"priorityClassName": "low"})),
    )
    .await;
    wait_for(30, "low pod bound", || node_of(c, "default", "low")).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let low = pods.get("low").await.expect("low");
    assert_eq!(
        low.spec.and_then(|s| s.priority),
        Some(10),
        "admission resolved the class"
    );
    // preemptionPolicy Never: waits without evicting
    create_pod(
        c,
        "default",
        simple_pod(
            "polite",
            "1500m",
            json!({"priorityClassName": "high", "preemptionPolicy": "Never"}),
        ),
    )
    .await;
    let ev = wait_for(30, "polite FailedScheduling", || async {
        let ev = failed_scheduling(c, "default", "polite").await;
        (!ev.is_empty()).then_some(ev)
    })
    .await;
    assert_eq!(
        ev[0].0,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
    pods.delete("polite", &DeleteParams::default())
        .await
        .expect("delete polite");

    create_pod(
        c,
        "default",
        simple_pod("high", "1500m", json!({"priorityClassName": "high"})),
    )
    .await;
    // the victim is deleted gracefully; play the kubelet and finish the deletion
    wait_for(30, "victim terminating", || async {
        match pods.get("low").await {
            Ok(p) if p.metadata.deletion_timestamp.is_some() => {
                let cond = p.status.and_then(|s| s.conditions).unwrap_or_default();
                assert!(cond.iter().any(|c| c.type_ == "DisruptionTarget"
                    && c.reason.as_deref() == Some("PreemptionByScheduler")));
                pods.delete("low", &DeleteParams::default().grace_period(0))
                    .await
                    .ok()?;
                Some(())
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Some(()),
            _ => None,
        }
    })
    .await;
    let high = pods.get("high").await.expect("high");
    let nominated = high.status.and_then(|s| s.nominated_node_name);
    let node = wait_for(30, "high pod bound", || node_of(c, "default", "high")).await;
    assert_eq!(node, "only");
    assert!(nominated.is_none() || nominated.as_deref() == Some("only"));
    assert!(matches!(pods.get("low").await, Err(kube::Error::Api(e)) if e.code == 404));
}
