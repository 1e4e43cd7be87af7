//! Acceptance tests (issue 2): the watch protocol on the wire, read with `kubectl get --raw`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use minato_e2e::{stderr, Server};
use serde_json::Value;

/// Runs a raw watch that ends by itself (timeoutSeconds) and returns its events.
fn watch(s: &Server, query: &str) -> Vec<Value> {
    let path = format!("/api/v1/namespaces/default/configmaps?watch=true&{query}");
    let start = Instant::now();
    let out = s.kubectl(&["get", "--raw", &path, "--request-timeout=30s"]);
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "watch {query} did not end on time"
    );
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

fn rv_of(s: &Server, name: &str) -> String {
    s.get_json(&["configmap", name])["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

fn pair(t: &str, n: &str) -> (String, String) {
    (t.to_string(), n.to_string())
}

#[test]
fn initial_state_resumption_and_timeout() {
    let s = Server::start();
    s.ok(&["create", "configmap", "a", "--from-literal=k=1"]);
    s.ok(&["create", "configmap", "b", "--from-literal=k=1"]);
    // RV unset and RV=0: synthetic ADDED for what exists, then the stream ends at the timeout.
    for q in ["timeoutSeconds=1", "timeoutSeconds=1&resourceVersion=0"] {
        let start = Instant::now();
        let ev = watch(&s, q);
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "{q} ended early"
        );
        let mut names = summary(&ev);
        names.retain(|(_, n)| n != "kube-root-ca.crt");
        names.sort();
        assert_eq!(names, [pair("ADDED", "a"), pair("ADDED", "b")], "{q}");
    }
    // From a retained RV: only what happened after it, in order.
    let rv = rv_of(&s, "b");
    s.ok(&[
        "patch",
        "configmap",
        "a",
        "--type=merge",
        "-p",
        r#"{"data":{"k":"2"}}"#,
    ]);
    s.ok(&["create", "configmap", "c"]);
    s.ok(&["delete", "configmap", "b"]);
    let ev = watch(&s, &format!("timeoutSeconds=1&resourceVersion={rv}"));
    assert_eq!(
        summary(&ev),
        [
            pair("MODIFIED", "a"),
            pair("ADDED", "c"),
            pair("DELETED", "b")
        ]
    );
    assert_eq!(ev[0]["object"]["data"]["k"], "2");
    assert_eq!(ev[0]["object"]["kind"], "ConfigMap");
    assert_eq!(ev[0]["object"]["apiVersion"], "v1");
    // Each event's RV is the object's new RV, increasing.
    let rvs: Vec<u64> = ev
        .iter()
        .map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");
    assert!(rvs[0] > rv.parse::<u64>().unwrap());
}

#[test]
fn selectors_filter_and_label_changes_become_added_and_deleted() {
    let s = Server::start();
    s.ok(&["create", "configmap", "x"]);
    s.ok(&["create", "configmap", "y"]);
    let rv = rv_of(&s, "y");
    s.ok(&["label", "configmap", "x", "app=web"]);
    s.ok(&["label", "configmap", "y", "app=db"]);
    s.ok(&["label", "configmap", "x", "app=other", "--overwrite"]);
    let ev = watch(
        &s,
        &format!("timeoutSeconds=1&resourceVersion={rv}&labelSelector=app%3Dweb"),
    );
    // Entering the selection is ADDED, leaving it is DELETED (upstream's watch cache semantics).
    assert_eq!(summary(&ev), [pair("ADDED", "x"), pair("DELETED", "x")]);
    let ev = watch(&s, "timeoutSeconds=1&fieldSelector=metadata.name%3Dy");
    assert_eq!(summary(&ev), [pair("ADDED", "y")]);
    let ev = watch(&s, "timeoutSeconds=1&labelSelector=app%20in%20(db,other)");
    let mut names = summary(&ev);
    names.sort();
    assert_eq!(names, [pair("ADDED", "x"), pair("ADDED", "y")]);
}

#[test]
fn send_initial_events_ends_with_an_annotated_bookmark() {
    let s = Server::start();
    s.ok(&["create", "configmap", "i1"]);
    s.ok(&["create", "configmap", "i2"]);
    let ev = watch(
        &s,
        "timeoutSeconds=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
    );
    let last = ev.last().expect("events");
    assert_eq!(last["type"], "BOOKMARK", "{ev:?}");
    assert_eq!(
        last["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(last["object"]["kind"], "ConfigMap");
    let bm_rv: u64 = last["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(bm_rv >= rv_of(&s, "i2").parse::<u64>().unwrap());
    let added: Vec<_> = summary(&ev[..ev.len() - 1])
        .into_iter()
        .filter(|(_, n)| n != "kube-root-ca.crt")
        .collect();
    assert_eq!(added.len(), 2, "{ev:?}");
    assert!(added.iter().all(|(t, _)| t == "ADDED"));
    // sendInitialEvents without allowWatchBookmarks is refused by upstream's validation.
    let out = s.kubectl(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true"),
        "{}",
        stderr(&out)
    );
    // A list (not watch) with sendInitialEvents is refused too.
    let out = s.kubectl(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
    ]);
    assert!(
        !out.status.success(),
        "list with sendInitialEvents accepted"
    );
}

#[test]
fn rv_too_old_or_in_the_future() {
    let s = Server::start();
    s.ok(&["create", "configmap", "f"]);
    let rv: u64 = rv_of(&s, "f").parse().unwrap();
    // A resourceVersion far in the future: upstream waits, then answers 504 "Too large resource
    // version"; a list with it fails at once with the same reason.
    let out = s.kubectl(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/default/configmaps?resourceVersion={}&resourceVersionMatch=NotOlderThan", rv + 100000),
        "--request-timeout=10s",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Too large resource version"),
        "{}",
        stderr(&out)
    );
    // An unparsable RV is a 400.
    let out = s.kubectl(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("BadRequest") || stderr(&out).contains("invalid resource version"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn kubectl_get_watch_only_and_output_watch_events() {
    let s = Server::start();
    s.ok(&["create", "configmap", "old"]);
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args([
            "get",
            "configmaps",
            "--watch-only",
            "--output-watch-events",
            "--request-timeout=15s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    s.ok(&["create", "configmap", "new"]);
    s.ok(&["delete", "configmap", "new"]);
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().take(3).collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["EVENT", "NAME", "DATA"],
            vec!["ADDED", "new", "0"],
            vec!["DELETED", "new", "0"]
        ],
        "{text}"
    );
}
