//! A node whose lease stops looks dead to the control plane: it turns Unknown and tainted, its
//! pods turn not Ready, are evicted after their tolerationSeconds, and their ReplicaSet replaces
//! them on the live nodes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use minato_e2e::{minato_bin, Server};
use serde_json::Value;

const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {matchLabels: {app: web}}
      containers:
      - {name: web, image: "webapp:v1"}
"#;

fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// (node, ready, terminating) of each pod of the Deployment.
fn pods(s: &Server) -> Vec<(String, bool, bool)> {
    let list = s.get_json(&["pods", "-l", "app=web"]);
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p: &Value| {
            let ready = p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            (
                p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                ready,
                p["metadata"].get("deletionTimestamp").is_some(),
            )
        })
        .collect()
}

#[test]
fn pods_of_a_dead_node_are_replaced_on_live_nodes() {
    // Simulated nodes renew their leases every 10 s: a 15 s grace period keeps live nodes Ready.
    let s = Server::start_with(&[
        "--simulated-nodes",
        "2",
        "--node-monitor-grace-period",
        "15",
    ]);
    // A third node in its own process, so the test can kill it.
    let mut extra = Command::new(minato_bin())
        .args(["simulate", "--kubeconfig"])
        .arg(&s.kubeconfig)
        .args([
            "--nodes",
            "1",
            "--node-name-prefix",
            "extra-",
            "--pod-cidr",
            "10.245.0.0/16",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start minato simulate");
    wait("three Ready nodes", Duration::from_secs(30), || {
        s.ok(&["get", "nodes", "--no-headers"])
            .matches(" Ready ")
            .count()
            == 3
    });
    s.apply(DEPLOY);
    wait(
        "three Ready pods, one per node",
        Duration::from_secs(60),
        || {
            let p = pods(&s);
            let mut nodes: Vec<&String> =
                p.iter().filter(|(_, r, _)| *r).map(|(n, _, _)| n).collect();
            nodes.sort();
            nodes.dedup();
            p.len() == 3 && nodes.len() == 3
        },
    );
    assert!(pods(&s).iter().any(|(n, _, _)| n == "extra-0"));

    // The node dies: its process is killed (ours, by PID).
    let _ = extra.kill();
    let _ = extra.wait();
    wait(
        "extra-0 Unknown and tainted",
        Duration::from_secs(60),
        || {
            let n = s.get_json(&["node", "extra-0"]);
            let unknown = n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "Unknown")
            });
            let tainted = n["spec"]["taints"].as_array().is_some_and(|t| {
                t.iter().any(|t| {
                    t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoExecute"
                })
            });
            unknown && tainted
        },
    );
    wait(
        "three Ready pods on the live nodes",
        Duration::from_secs(60),
        || {
            let live: Vec<_> = pods(&s)
                .into_iter()
                .filter(|(n, r, t)| *r && !*t && n != "extra-0")
                .collect();
            live.len() == 3
        },
    );
    // The dead node's pod was evicted (it stays Terminating until its node confirms, as upstream).
    assert!(pods(&s).iter().all(|(n, _, t)| n != "extra-0" || *t));
    // When the node went Unknown its pod went not Ready with it (upstream's MarkPodsNotReady),
    // with a NodeNotReady warning on the pod.
    assert!(pods(&s).iter().all(|(n, r, _)| n != "extra-0" || !*r));
    wait(
        "a NodeNotReady event on the pod",
        Duration::from_secs(10),
        || {
            let events = s.get_json(&["events"]);
            events["items"].as_array().is_some_and(|items| {
                items.iter().any(|e| {
                    e["reason"] == "NodeNotReady"
                        && e["type"] == "Warning"
                        && e["involvedObject"]["kind"] == "Pod"
                        && e["message"] == "Node is not ready"
                })
            })
        },
    );
}

#[test]
fn when_every_node_is_lost_at_once_no_pod_is_evicted() {
    let s = Server::start_with(&["--node-monitor-grace-period", "15"]);
    // Every node lives in one simulator process, so killing it loses them all at once: from
    // the control plane this looks like its own network failing (upstream's master disruption).
    let mut sim = Command::new(minato_bin())
        .args(["simulate", "--kubeconfig"])
        .arg(&s.kubeconfig)
        .args(["--nodes", "2", "--node-name-prefix", "lost-"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start minato simulate");
    wait("two Ready nodes", Duration::from_secs(30), || {
        s.ok(&["get", "nodes", "--no-headers"])
            .matches(" Ready ")
            .count()
            == 2
    });
    s.apply(DEPLOY);
    wait("three Ready pods", Duration::from_secs(60), || {
        pods(&s).iter().filter(|(_, r, _)| *r).count() == 3
    });

    let _ = sim.kill();
    let _ = sim.wait();
    let taints = |name: &str| -> Vec<(String, String)> {
        let n = s.get_json(&["node", name]);
        n["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap_or("").to_string(),
                    t["effect"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    wait(
        "both nodes Unknown, tainted unreachable:NoSchedule",
        Duration::from_secs(60),
        || {
            ["lost-0", "lost-1"].iter().all(|n| {
                let node = s.get_json(&["node", n]);
                let unknown = node["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "Unknown")
                });
                unknown
                    && taints(n).contains(&(
                        "node.kubernetes.io/unreachable".to_string(),
                        "NoSchedule".to_string(),
                    ))
            })
        },
    );
    // Well past the pods' 2 s tolerationSeconds: no NoExecute taint, nothing evicted, and
    // the pods are not Ready (their nodes are not).
    std::thread::sleep(Duration::from_secs(6));
    for n in ["lost-0", "lost-1"] {
        assert!(
            taints(n).iter().all(|(_, effect)| effect != "NoExecute"),
            "{n}: {:?}",
            taints(n)
        );
    }
    let p = pods(&s);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p.iter()
            .all(|(_, ready, terminating)| !ready && !terminating),
        "{p:?}"
    );
}
