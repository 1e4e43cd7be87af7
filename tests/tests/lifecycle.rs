//! Deletion and durability: namespaces, cascading deletes, finalizers, kill -9 and restart.

use std::time::{Duration, Instant};

use minato_e2e::{stderr, Server};

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn namespace_deletion_removes_contents_then_the_namespace() {
    let s = Server::start();
    s.ok(&["create", "namespace", "doomed"]);
    s.ok(&[
        "create",
        "configmap",
        "c1",
        "-n",
        "doomed",
        "--from-literal=a=b",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "s1",
        "-n",
        "doomed",
        "--from-literal=a=b",
    ]);
    s.ok(&[
        "create",
        "deployment",
        "d1",
        "-n",
        "doomed",
        "--image=nginx:1.25",
    ]);
    let ns = s.get_json(&["namespace", "doomed"]);
    assert_eq!(ns["spec"]["finalizers"][0], "kubernetes");
    // kubectl waits until the namespace is gone.
    let out = s.ok(&["delete", "namespace", "doomed", "--timeout=60s"]);
    assert!(out.contains("namespace \"doomed\" deleted"), "{out}");
    let err = s.fails(&["get", "namespace", "doomed"]);
    assert!(err.contains("NotFound"), "{err}");
    let left = s.ok(&[
        "get",
        "configmaps,secrets,deployments",
        "-n",
        "doomed",
        "-o",
        "name",
    ]);
    assert!(left.trim().is_empty(), "{left}");
}

#[test]
fn terminating_namespace_refuses_new_content() {
    let s = Server::start();
    s.ok(&["create", "namespace", "held"]);
    // A finalizer nobody removes keeps the namespace Terminating.
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stuck\n  namespace: held\n  finalizers: [example.com/hold]\n");
    s.ok(&["delete", "namespace", "held", "--wait=false"]);
    wait_until("Terminating", Duration::from_secs(20), || {
        s.get_json(&["namespace", "held"])["status"]["phase"] == "Terminating"
    });
    let out = s.kubectl(&["create", "configmap", "late", "-n", "held"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("because it is being terminated"),
        "{}",
        stderr(&out)
    );
    s.ok(&[
        "patch",
        "configmap",
        "stuck",
        "-n",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    wait_until("namespace gone", Duration::from_secs(30), || {
        !s.kubectl(&["get", "namespace", "held"]).status.success()
    });
}

fn owned_pair(s: &Server, owner: &str, dependent: &str) {
    s.ok(&["create", "configmap", owner]);
    let uid = s.get_json(&["configmap", owner])["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    s.apply(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {dependent}\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {uid}\n    blockOwnerDeletion: true\n"
    ));
}

#[test]
fn cascading_delete_in_all_three_modes() {
    let s = Server::start();
    owned_pair(&s, "bg-owner", "bg-dep");
    s.ok(&["delete", "configmap", "bg-owner"]);
    wait_until("background cascade", Duration::from_secs(20), || {
        !s.kubectl(&["get", "configmap", "bg-dep"]).status.success()
    });

    owned_pair(&s, "or-owner", "or-dep");
    s.ok(&["delete", "configmap", "or-owner", "--cascade=orphan"]);
    assert!(!s
        .kubectl(&["get", "configmap", "or-owner"])
        .status
        .success());
    let dep = s.get_json(&["configmap", "or-dep"]);
    assert!(
        dep["metadata"].get("ownerReferences").is_none(),
        "{}",
        dep["metadata"]
    );

    owned_pair(&s, "fg-owner", "fg-dep");
    s.ok(&[
        "delete",
        "configmap",
        "fg-owner",
        "--cascade=foreground",
        "--timeout=30s",
    ]);
    assert!(!s
        .kubectl(&["get", "configmap", "fg-owner"])
        .status
        .success());
    assert!(!s.kubectl(&["get", "configmap", "fg-dep"]).status.success());
}

#[test]
fn finalizers_hold_deletion_until_removed() {
    let s = Server::start();
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fin\n  finalizers: [example.com/wait]\n");
    s.ok(&["delete", "configmap", "fin", "--wait=false"]);
    let cm = s.get_json(&["configmap", "fin"]);
    assert!(
        cm["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        cm["metadata"]
    );
    s.ok(&[
        "patch",
        "configmap",
        "fin",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    assert!(!s.kubectl(&["get", "configmap", "fin"]).status.success());
}

#[test]
fn unscheduled_pod_deletes_at_once_and_run_creates_pods() {
    let s = Server::start();
    s.ok(&["run", "p1", "--image=busybox:1.36", "--", "sleep", "3600"]);
    let pod = s.get_json(&["pod", "p1"]);
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["spec"]["containers"][0]["args"][0], "sleep");
    let out = s.ok(&["delete", "pod", "p1", "--timeout=20s"]);
    assert!(out.contains("pod \"p1\" deleted"), "{out}");
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let s = Server::start();
    let mut acknowledged = Vec::new();
    for i in 0..40 {
        let name = format!("k{i}");
        let out = s.kubectl(&["create", "configmap", &name, "--from-literal=i=x"]);
        if out.status.success() {
            acknowledged.push(name);
        }
    }
    let pid = s.pid();
    let dir = s.kill9();
    assert!(
        std::fs::metadata(format!("/proc/{pid}")).is_err(),
        "server process gone"
    );
    let s = Server::start_in(dir, &[]);
    let names = s.ok(&["get", "configmaps", "-o", "name"]);
    for n in &acknowledged {
        assert!(
            names.contains(&format!("configmap/{n}\n")),
            "{n} lost after kill -9:\n{names}"
        );
    }
    // The same certificates and kubeconfig keep working after a restart.
    assert!(s.ok(&["get", "namespaces"]).contains("default"));
}

/// Pods of a ReplicaSet, by the controller uid in their ownerReferences.
fn pods_owned_by(s: &Server, uid: &str) -> Vec<String> {
    let list = s.get_json(&["pods", "-l", "app=adopt"]);
    let mut names: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["uid"] == uid && r["controller"] == true)
        })
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn replicaset_adopts_orphans_and_releases_relabelled_pods() {
    let s = Server::start();
    // An orphan that the ReplicaSet's selector matches, created before the ReplicaSet.
    s.ok(&["run", "stray", "--image=nginx:1.25", "--labels=app=adopt"]);
    s.apply(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: adopter\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: adopt}\n  template:\n    metadata:\n      labels: {app: adopt}\n    spec:\n      containers:\n      - name: c\n        image: nginx:1.25\n",
    );
    let rs = s.get_json(&["replicaset", "adopter"]);
    let uid = rs["metadata"]["uid"].as_str().expect("uid").to_string();
    wait_until(
        "the orphan adopted and one pod created",
        Duration::from_secs(20),
        || {
            let owned = pods_owned_by(&s, &uid);
            owned.len() == 2 && owned.contains(&"stray".to_string())
        },
    );
    // Adoption counts the orphan: only one pod was created.
    let all = s.get_json(&["pods", "-l", "app=adopt"]);
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2), "{all}");

    // A pod whose labels no longer match is released and replaced.
    s.ok(&["label", "pod", "stray", "app=gone", "--overwrite"]);
    wait_until(
        "the relabelled pod released",
        Duration::from_secs(20),
        || {
            let stray = s.get_json(&["pod", "stray"]);
            stray["metadata"].get("ownerReferences").is_none()
                || stray["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|r| r.is_empty())
        },
    );
    wait_until("a replacement created", Duration::from_secs(20), || {
        let owned = pods_owned_by(&s, &uid);
        owned.len() == 2 && !owned.contains(&"stray".to_string())
    });
}
