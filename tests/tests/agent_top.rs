//! `kubectl top` against the built-in metrics.k8s.io API: the node agent samples cgroup CPU
//! counters every 10 s and the API server turns its /stats/summary into NodeMetrics and
//! PodMetrics. Runs real containers (needs root; CI runs as root).

use std::time::Duration;

use minato_e2e::{busybox_image, stderr, stdout, wait_for, AgentServer, Server};
use serde_json::Value;

/// The millicores of a `kubectl top` CPU cell ("199m").
fn millis(cell: &str) -> u64 {
    cell.strip_suffix('m')
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("CPU cell {cell:?} is not <n>m"))
}

/// The row of `kubectl top` output whose first cells are `keys`, split on whitespace.
fn row(out: &str, keys: &[&str]) -> Option<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells.len() >= keys.len() && cells.iter().zip(keys).all(|(c, k)| c == k))
}

fn raw(s: &Server, path: &str) -> Value {
    let out = s.ok(&["get", "--raw", path]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{path}: {e}: {out}"))
}

/// Seconds of a metrics `window` ("10.003s").
fn window_secs(v: &Value) -> f64 {
    v["window"]
        .as_str()
        .and_then(|w| w.strip_suffix('s'))
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("bad window in {v}"))
}

#[test]
fn top_nodes_and_pods_report_cgroup_usage() {
    let work = tempfile::tempdir().expect("temp dir");
    let (_, archive) = busybox_image(work.path());
    let agent = AgentServer::start(&[&archive], None);
    let s = agent.s();
    let node = s.ok(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    assert!(!node.is_empty(), "no node registered");

    // Discovery lists the group, so `kubectl top` finds it.
    let resources = s.ok(&[
        "api-resources",
        "--api-group=metrics.k8s.io",
        "--no-headers",
    ]);
    assert!(
        resources.lines().any(|l| l.starts_with("nodes ")
            && l.contains("metrics.k8s.io/v1beta1")
            && l.contains("false")
            && l.contains("NodeMetrics")),
        "{resources}"
    );
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("pods ") && l.contains("true") && l.contains("PodMetrics")),
        "{resources}"
    );
    let groups = raw(s, "/apis");
    assert!(
        groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .any(|g| g["name"] == "metrics.k8s.io"
                && g["preferredVersion"]["groupVersion"] == "metrics.k8s.io/v1beta1"),
        "{groups}"
    );
    let list = raw(s, "/apis/metrics.k8s.io/v1beta1");
    assert_eq!(list["kind"], "APIResourceList", "{list}");
    assert_eq!(raw(s, "/apis/metrics.k8s.io")["kind"], "APIGroup");

    s.apply(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Pod
metadata: {name: busy, labels: {app: busy}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: spin
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sh", "-c", "while true; do :; done"]
    resources: {limits: {cpu: 200m, memory: 64Mi}}
  - name: sidecar
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sleep", "100000"]
---
apiVersion: v1
kind: Pod
metadata: {name: idle, namespace: other, labels: {app: idle}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: localhost/busybox:1.0
    imagePullPolicy: Never
    command: ["sleep", "100000"]
---
# Bound to a node that does not exist: it never runs, so it never has metrics.
apiVersion: v1
kind: Pod
metadata: {name: ghost, labels: {app: ghost}}
spec:
  nodeName: no-such-node
  containers:
  - name: main
    image: localhost/busybox:1.0
"#,
    );

    // A pod without metrics, and a selector matching nothing: kubectl's two empty cases.
    let err = s.fails(&["top", "pod", "-l", "app=ghost"]);
    assert!(err.contains("metrics not available yet"), "{err}");
    let out = s.kubectl(&["top", "pod", "-l", "app=nothing"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No resources found"),
        "{}",
        stderr(&out)
    );

    // Wait until the busy pod's rate is over a full sampling window (two agent samples).
    let metrics = wait_for(
        Duration::from_secs(120),
        "PodMetrics for busy over a 10 s window",
        || {
            let out = s.kubectl(&[
                "get",
                "--raw",
                "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy",
            ]);
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            (window_secs(&v) >= 9.0).then_some(v)
        },
    );
    assert_eq!(metrics["kind"], "PodMetrics", "{metrics}");
    assert_eq!(metrics["apiVersion"], "metrics.k8s.io/v1beta1");
    assert_eq!(metrics["metadata"]["namespace"], "default");
    assert_eq!(metrics["metadata"]["labels"]["app"], "busy");
    assert!(metrics["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let containers = metrics["containers"].as_array().expect("containers");
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["sidecar", "spin"], "{metrics}");
    for c in containers {
        let mem = c["usage"]["memory"].as_str().expect("memory");
        assert!(mem != "0" && !mem.is_empty(), "no memory usage: {metrics}");
    }

    // kubectl top pod: the spinning container is capped at 200m by its CFS quota.
    let out = s.ok(&["top", "pod"]);
    let busy = row(&out, &["busy"]).unwrap_or_else(|| panic!("no busy row:\n{out}"));
    let cpu = millis(&busy[1]);
    assert!((100..=300).contains(&cpu), "busy CPU {cpu}m:\n{out}");
    assert!(busy[2].ends_with("Mi"), "{out}");
    assert!(
        row(&out, &["idle"]).is_none(),
        "idle is in another namespace:\n{out}"
    );

    let out = s.ok(&["top", "pod", "busy", "--containers"]);
    eprintln!("kubectl top pod busy --containers:\n{out}");
    let spin = row(&out, &["busy", "spin"]).unwrap_or_else(|| panic!("no spin row:\n{out}"));
    let spin_cpu = millis(&spin[2]);
    assert!(
        (100..=300).contains(&spin_cpu),
        "spin CPU {spin_cpu}m:\n{out}"
    );
    let sidecar = row(&out, &["busy", "sidecar"]).unwrap_or_else(|| panic!("{out}"));
    assert!(millis(&sidecar[2]) < 50, "sleeping sidecar busy?\n{out}");

    // All namespaces and label selectors.
    let out = wait_for(Duration::from_secs(60), "idle in top pod -A", || {
        let out = stdout(&s.kubectl(&["top", "pod", "-A"]));
        row(&out, &["other", "idle"]).map(|_| out)
    });
    assert!(row(&out, &["default", "busy"]).is_some(), "{out}");
    assert!(
        out.lines()
            .next()
            .is_some_and(|h| h.starts_with("NAMESPACE")),
        "{out}"
    );
    let idle = row(&out, &["other", "idle"]).expect("idle row");
    assert!(millis(&idle[2]) < 50, "{out}");
    let out = s.ok(&["top", "pod", "-A", "-l", "app=idle"]);
    assert!(row(&out, &["other", "idle"]).is_some(), "{out}");
    assert!(row(&out, &["default", "busy"]).is_none(), "{out}");
    let out = s.ok(&["top", "pod", "-l", "app=busy", "--containers"]);
    assert!(row(&out, &["busy", "spin"]).is_some(), "{out}");

    // A pod that does not exist.
    let err = s.fails(&["top", "pod", "nosuch"]);
    assert!(err.contains("not found"), "{err}");

    // kubectl top node: usage and percentages of allocatable.
    let out = s.ok(&["top", "node"]);
    eprintln!("kubectl top node:\n{out}");
    let r = row(&out, &[node.as_str()]).unwrap_or_else(|| panic!("no row for {node}:\n{out}"));
    assert_eq!(r.len(), 5, "{out}");
    let node_cpu = millis(&r[1]);
    assert!(
        node_cpu >= 100,
        "the node runs a busy loop, yet {node_cpu}m:\n{out}"
    );
    assert!(r[2].ends_with('%') && r[4].ends_with('%'), "{out}");
    assert!(r[3].ends_with("Mi") && r[3] != "0Mi", "{out}");
    let out = s.ok(&["top", "node", &node]);
    assert!(row(&out, &[node.as_str()]).is_some(), "{out}");

    // The raw NodeMetricsList.
    let list = raw(s, "/apis/metrics.k8s.io/v1beta1/nodes");
    assert_eq!(list["kind"], "NodeMetricsList", "{list}");
    assert_eq!(list["apiVersion"], "metrics.k8s.io/v1beta1");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    let n = &items[0];
    assert_eq!(n["kind"], "NodeMetrics");
    assert_eq!(n["metadata"]["name"], node.as_str());
    assert!(
        n["metadata"]["labels"]["kubernetes.io/hostname"].is_string(),
        "{n}"
    );
    assert!(window_secs(n) > 0.0, "{n}");
    assert!(
        n["timestamp"].as_str().is_some_and(|t| !t.is_empty()),
        "{n}"
    );
    let cpu = n["usage"]["cpu"].as_str().expect("cpu");
    assert!(
        cpu.ends_with('n') || cpu.ends_with('u') || cpu.ends_with('m'),
        "{n}"
    );
    assert!(
        n["usage"]["memory"]
            .as_str()
            .is_some_and(|m| m.ends_with("Ki") || m.ends_with("Mi")),
        "{n}"
    );
    let none = raw(
        s,
        "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=absent%3Dyes",
    );
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0), "{none}");
    let one = raw(s, &format!("/apis/metrics.k8s.io/v1beta1/nodes/{node}"));
    assert_eq!(one["kind"], "NodeMetrics", "{one}");
    // `-A` without a selector as a raw list.
    let all = raw(s, "/apis/metrics.k8s.io/v1beta1/pods");
    assert_eq!(all["kind"], "PodMetricsList");
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2), "{all}");
    // Only get and list.
    let out = s.kubectl(&[
        "delete",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy",
    ]);
    assert!(!out.status.success(), "delete of PodMetrics succeeded");
}
