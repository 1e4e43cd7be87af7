//! Seed 004's rolling update on three simulated nodes: never fewer than 3 ready pods, all pods
//! end on v2, two revisions, and `rollout undo` returns to v1 as revision 3.

use std::time::{Duration, Instant};

use minato_e2e::{seeds_dir, Server};
use serde_json::Value;

fn ready_pods(s: &Server) -> (usize, Vec<String>) {
    let pods = s.get_json(&["pods", "-n", "parallel-poc", "-l", "app=web"]);
    let mut ready = 0;
    let mut images = Vec::new();
    for p in pods["items"].as_array().cloned().unwrap_or_default() {
        let is_ready = p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        if is_ready && p["metadata"].get("deletionTimestamp").is_none() {
            ready += 1;
        }
        if let Some(i) = p["spec"]["containers"][0]["image"].as_str() {
            images.push(i.to_string());
        }
    }
    (ready, images)
}

fn wait_rollout(s: &Server, min_ready_seen: &mut usize, target_image: &str) {
    let start = Instant::now();
    loop {
        let (ready, images) = ready_pods(s);
        *min_ready_seen = (*min_ready_seen).min(ready);
        let d: Value = s.get_json(&["deployment", "web-app", "-n", "parallel-poc"]);
        let done = d["status"]["updatedReplicas"] == 3
            && d["status"]["availableReplicas"] == 3
            && d["status"]["replicas"] == 3
            && images.len() == 3
            && images.iter().all(|i| i == target_image);
        if done {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "rollout to {target_image} did not finish: {}",
            d["status"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn zero_downtime_rolling_update_and_undo() {
    let s = Server::start_with(&["--simulated-nodes", "3"]);
    let seeds = seeds_dir();
    for f in [
        "004-01-k8s-manifests__namespace.yaml",
        "004-02-k8s-manifests__deployment.yaml",
    ] {
        s.ok(&["apply", "-f", seeds.join(f).to_str().unwrap()]);
    }
    s.ok(&[
        "rollout",
        "status",
        "deployment/web-app",
        "-n",
        "parallel-poc",
        "--timeout=90s",
    ]);
    let pods = s.get_json(&["pods", "-n", "parallel-poc", "-l", "app=web"]);
    let mut nodes: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap_or("").to_string())
        .collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(
        nodes.len(),
        3,
        "preferred anti-affinity spreads 3 replicas over 3 nodes"
    );

    let mut min_ready = 3;
    s.ok(&[
        "set",
        "image",
        "deployment/web-app",
        "-n",
        "parallel-poc",
        "web=webapp:v2.0",
    ]);
    wait_rollout(&s, &mut min_ready, "webapp:v2.0");
    assert!(
        min_ready >= 3,
        "ready pods dropped to {min_ready} during the rollout"
    );
    let history = s.ok(&[
        "rollout",
        "history",
        "deployment/web-app",
        "-n",
        "parallel-poc",
    ]);
    let revisions: Vec<&str> = history
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(revisions.len(), 2, "{history}");

    s.ok(&[
        "rollout",
        "undo",
        "deployment/web-app",
        "-n",
        "parallel-poc",
    ]);
    wait_rollout(&s, &mut min_ready, "webapp:v1.0");
    assert!(
        min_ready >= 3,
        "ready pods dropped to {min_ready} during the undo"
    );
    let d = s.get_json(&["deployment", "web-app", "-n", "parallel-poc"]);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    let history = s.ok(&[
        "rollout",
        "history",
        "deployment/web-app",
        "-n",
        "parallel-poc",
    ]);
    assert!(
        history.contains("\n2 ") && history.contains("\n3 "),
        "{history}"
    );
}

/// Images of the pods that exist now (terminating ones included: Recreate waits for them).
fn recreate_pod_images(s: &Server) -> Vec<String> {
    let pods = s.get_json(&["pods", "-l", "app=rc"]);
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Failed" | "Succeeded")))
        .filter_map(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn recreate_stops_old_pods_before_starting_new_ones() {
    let s = Server::start_with(&["--simulated-nodes", "3"]);
    s.apply(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: rc\nspec:\n  replicas: 2\n  strategy: {type: Recreate}\n  selector:\n    matchLabels: {app: rc}\n  template:\n    metadata:\n      labels: {app: rc}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: c\n        image: example.com/app:v1\n",
    );
    s.ok(&["rollout", "status", "deployment/rc", "--timeout=60s"]);
    s.ok(&["set", "image", "deployment/rc", "c=example.com/app:v2"]);
    let start = Instant::now();
    loop {
        let images = recreate_pod_images(&s);
        let old = images.iter().filter(|i| i.ends_with(":v1")).count();
        let new = images.iter().filter(|i| i.ends_with(":v2")).count();
        assert!(
            old == 0 || new == 0,
            "Recreate ran old and new pods together: {images:?}"
        );
        if old == 0 && new == 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Recreate did not finish: {images:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s.ok(&["rollout", "status", "deployment/rc", "--timeout=60s"]);
}
