//! core/v1 Events and events.k8s.io/v1 Events are one resource, as upstream: an Event written
//! through either group is read, listed, watched, patched and deleted through the other,
//! converted between the two versions.

use std::time::Duration;

use minato_e2e::{stderr, Server};
use serde_json::Value;

const NEW_STYLE: &str = r#"
apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: new-style
  namespace: default
eventTime: "2024-05-01T10:00:00.123456Z"
reportingController: example.com/tester
reportingInstance: tester-1
action: Testing
reason: NewStyleReason
type: Warning
note: written through events.k8s.io
regarding:
  apiVersion: v1
  kind: ConfigMap
  name: target
  namespace: default
related:
  apiVersion: v1
  kind: Node
  name: node-a
"#;

const OLD_STYLE: &str = r#"
apiVersion: v1
kind: Event
metadata:
  name: old-style
  namespace: default
involvedObject:
  apiVersion: v1
  kind: ConfigMap
  name: target
  namespace: default
reason: OldStyleReason
message: written through core v1
type: Normal
count: 4
source:
  component: legacy-recorder
  host: node-a
firstTimestamp: "2024-05-01T09:00:00Z"
lastTimestamp: "2024-05-01T09:30:00Z"
"#;

fn create(s: &Server, manifest: &str) {
    let out = s.kubectl_stdin(&["create", "-f", "-"], Some(manifest));
    assert!(out.status.success(), "create failed: {}", stderr(&out));
}

fn raw(s: &Server, path: &str) -> Value {
    let out = s.ok(&["get", "--raw", path]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The events of a raw watch that ends by itself (`timeoutSeconds` in `path`).
fn watch_lines(s: &Server, path: &str) -> Vec<Value> {
    let out = s.kubectl(&["get", "--raw", path, "--request-timeout=30s"]);
    assert!(out.status.success(), "watch {path}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn summary(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            let o = &e["object"];
            (
                e["type"].as_str().unwrap_or("").to_string(),
                o["apiVersion"].as_str().unwrap_or("").to_string(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn triple(t: &str, v: &str, n: &str) -> (String, String, String) {
    (t.to_string(), v.to_string(), n.to_string())
}

#[test]
fn an_event_written_through_one_group_is_read_through_the_other() {
    let s = Server::start_with(&["--no-controllers"]);
    // `kubectl describe` finds events by the object's uid too.
    s.ok(&["create", "configmap", "target", "--from-literal=k=v"]);
    let uid = s.get_json(&["configmap", "target"])["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    let with_uid = |m: &str| {
        m.replace(
            "  name: target\n",
            &format!("  name: target\n  uid: {uid}\n"),
        )
    };
    create(&s, &with_uid(NEW_STYLE));
    create(&s, &with_uid(OLD_STYLE));

    // events.k8s.io → core: `kubectl get events` is the core group.
    let core = s.get_json(&["events", "new-style"]);
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["kind"], "Event");
    assert_eq!(core["involvedObject"]["kind"], "ConfigMap");
    assert_eq!(core["involvedObject"]["name"], "target");
    assert_eq!(core["related"]["name"], "node-a");
    assert_eq!(core["message"], "written through events.k8s.io");
    assert_eq!(core["reportingComponent"], "example.com/tester");
    assert_eq!(core["reportingInstance"], "tester-1");
    assert_eq!(core["action"], "Testing");
    assert_eq!(core["reason"], "NewStyleReason");
    assert_eq!(core["type"], "Warning");
    assert_eq!(core["eventTime"], "2024-05-01T10:00:00.123456Z");
    assert!(core.get("note").is_none() && core.get("regarding").is_none());

    // core → events.k8s.io.
    let ev = s.get_json(&["events.v1.events.k8s.io", "old-style"]);
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["regarding"]["name"], "target");
    assert_eq!(ev["note"], "written through core v1");
    assert_eq!(ev["deprecatedCount"], 4);
    assert_eq!(ev["deprecatedSource"]["component"], "legacy-recorder");
    assert_eq!(ev["deprecatedSource"]["host"], "node-a");
    assert_eq!(ev["deprecatedFirstTimestamp"], "2024-05-01T09:00:00Z");
    assert_eq!(ev["deprecatedLastTimestamp"], "2024-05-01T09:30:00Z");
    assert!(ev.get("message").is_none() && ev.get("involvedObject").is_none());

    // One object: same uid and resourceVersion through both groups.
    for name in ["new-style", "old-style"] {
        let a = raw(&s, &format!("/api/v1/namespaces/default/events/{name}"));
        let b = raw(
            &s,
            &format!("/apis/events.k8s.io/v1/namespaces/default/events/{name}"),
        );
        assert_eq!(a["metadata"], b["metadata"], "{name}");
    }

    // Lists: both groups list both events, across namespaces too.
    let both = vec!["new-style".to_string(), "old-style".to_string()];
    assert_eq!(names(&raw(&s, "/api/v1/namespaces/default/events")), both);
    assert_eq!(names(&raw(&s, "/api/v1/events")), both);
    assert_eq!(
        names(&raw(&s, "/apis/events.k8s.io/v1/namespaces/default/events")),
        both
    );
    assert_eq!(names(&raw(&s, "/apis/events.k8s.io/v1/events")), both);

    // Field selectors, each group by its own field names.
    let by_reason = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=NewStyleReason,involvedObject.kind=ConfigMap",
        "-o",
        "name",
    ]);
    assert_eq!(by_reason.trim(), "event/new-style");
    let by_component = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "reportingComponent=example.com/tester",
        "-o",
        "name",
    ]);
    assert_eq!(by_component.trim(), "event/new-style");
    let by_source = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "source=legacy-recorder,type=Normal",
        "-o",
        "name",
    ]);
    assert_eq!(by_source.trim(), "event/old-style");
    assert_eq!(
        names(&raw(
            &s,
            "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=reportingController%3Dexample.com%2Ftester",
        )),
        vec!["new-style".to_string()]
    );
    assert_eq!(
        names(&raw(
            &s,
            "/apis/events.k8s.io/v1/events?fieldSelector=regarding.name%3Dtarget,reason%3DOldStyleReason",
        )),
        vec!["old-style".to_string()]
    );
    assert_eq!(
        names(&raw(
            &s,
            "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=metadata.name%3Dnew-style",
        )),
        vec!["new-style".to_string()]
    );

    // kubectl's views of events show both.
    let table = s.ok(&["get", "events"]);
    assert!(
        table.contains("NewStyleReason") && table.contains("OldStyleReason"),
        "{table}"
    );
    let table = s.ok(&["get", "events.events.k8s.io"]);
    assert!(
        table.contains("NewStyleReason") && table.contains("OldStyleReason"),
        "{table}"
    );
    let kevents = s.ok(&["events", "--for", "configmap/target"]);
    assert!(
        kevents.contains("written through events.k8s.io")
            && kevents.contains("written through core v1"),
        "{kevents}"
    );
    let described = s.ok(&["describe", "configmap", "target"]);
    assert!(
        described.contains("NewStyleReason") && described.contains("OldStyleReason"),
        "{described}"
    );

    // Patches through the other group.
    s.ok(&[
        "patch",
        "events.events.k8s.io",
        "old-style",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"patched":"via-events-k8s-io"}}}"#,
    ]);
    let core = s.get_json(&["events", "old-style"]);
    assert_eq!(core["metadata"]["labels"]["patched"], "via-events-k8s-io");
    assert_eq!(core["count"], 4, "the legacy fields survive: {core}");
    s.ok(&[
        "patch",
        "events",
        "new-style",
        "--type=merge",
        "-p",
        r#"{"message":"changed through core"}"#,
    ]);
    let ev = s.get_json(&["events.events.k8s.io", "new-style"]);
    assert_eq!(ev["note"], "changed through core");
    // events.k8s.io/v1 updates may not change the event itself (upstream's rule).
    let err = s.fails(&[
        "patch",
        "events.events.k8s.io",
        "new-style",
        "--type=merge",
        "-p",
        r#"{"note":"changed again"}"#,
    ]);
    assert!(err.contains("field is immutable"), "{err}");

    // Deletes through the other group.
    s.ok(&["delete", "events.events.k8s.io", "old-style"]);
    let err = s.fails(&["get", "events", "old-style"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    s.ok(&["delete", "events", "new-style"]);
    let err = s.fails(&["get", "events.events.k8s.io", "new-style"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

#[test]
fn events_k8s_io_keeps_its_own_validation() {
    let s = Server::start_with(&["--no-controllers"]);
    // The strict rules apply to events.k8s.io/v1 writes only.
    let missing = NEW_STYLE
        .replace("reportingController: example.com/tester\n", "")
        .replace("action: Testing\n", "");
    let out = s.kubectl_stdin(&["create", "-f", "-"], Some(&missing));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("reportingController: Required value")
            && err.contains("action: Required value"),
        "{err}"
    );
    let deprecated = NEW_STYLE.replace("type: Warning\n", "type: Warning\ndeprecatedCount: 3\n");
    let out = s.kubectl_stdin(&["create", "-f", "-"], Some(&deprecated));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("count: Invalid value"),
        "{}",
        stderr(&out)
    );
    // An old-style Event is fine through core/v1.
    create(&s, OLD_STYLE);
}

#[test]
fn a_watch_on_one_group_sees_writes_through_the_other() {
    let s = Server::start_with(&["--no-controllers"]);
    let rv = raw(&s, "/api/v1/namespaces/default/events")["metadata"]["resourceVersion"]
        .as_str()
        .expect("list resourceVersion")
        .to_string();
    let core_watch = format!(
        "/api/v1/namespaces/default/events?watch=true&resourceVersion={rv}&timeoutSeconds=5"
    );
    let events_watch = format!(
        "/apis/events.k8s.io/v1/namespaces/default/events?watch=true&resourceVersion={rv}&timeoutSeconds=5"
    );
    let (core_events, new_events) = std::thread::scope(|scope| {
        // Live watches, started before the writes (from `rv`, so a late start loses nothing).
        let a = scope.spawn(|| watch_lines(&s, &core_watch));
        let b = scope.spawn(|| watch_lines(&s, &events_watch));
        std::thread::sleep(Duration::from_millis(1500));
        create(&s, NEW_STYLE);
        create(&s, OLD_STYLE);
        s.ok(&["label", "events.events.k8s.io", "old-style", "seen=yes"]);
        s.ok(&["delete", "events", "new-style"]);
        (
            a.join().expect("core watch"),
            b.join().expect("events.k8s.io watch"),
        )
    });
    assert_eq!(
        summary(&core_events),
        vec![
            triple("ADDED", "v1", "new-style"),
            triple("ADDED", "v1", "old-style"),
            triple("MODIFIED", "v1", "old-style"),
            triple("DELETED", "v1", "new-style"),
        ]
    );
    assert_eq!(
        summary(&new_events),
        vec![
            triple("ADDED", "events.k8s.io/v1", "new-style"),
            triple("ADDED", "events.k8s.io/v1", "old-style"),
            triple("MODIFIED", "events.k8s.io/v1", "old-style"),
            triple("DELETED", "events.k8s.io/v1", "new-style"),
        ]
    );
    // Each side sees its own field names for the same objects.
    assert_eq!(
        core_events[0]["object"]["message"],
        "written through events.k8s.io"
    );
    assert_eq!(new_events[1]["object"]["note"], "written through core v1");
    assert_eq!(new_events[2]["object"]["metadata"]["labels"]["seen"], "yes");
    for (a, b) in core_events.iter().zip(&new_events) {
        assert_eq!(
            a["object"]["metadata"]["resourceVersion"],
            b["object"]["metadata"]["resourceVersion"]
        );
    }

    // A watch resumed later replays the same history, and field selectors apply per group.
    let replay = watch_lines(
        &s,
        &format!(
            "/apis/events.k8s.io/v1/namespaces/default/events?watch=true&resourceVersion={rv}&timeoutSeconds=1&fieldSelector=regarding.name%3Dtarget,reason%3DOldStyleReason"
        ),
    );
    assert_eq!(
        summary(&replay),
        vec![
            triple("ADDED", "events.k8s.io/v1", "old-style"),
            triple("MODIFIED", "events.k8s.io/v1", "old-style"),
        ]
    );
}

fn plain_event(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Event
metadata:
  name: {name}
  namespace: default
involvedObject:
  apiVersion: v1
  kind: ConfigMap
  name: target
  namespace: default
reason: Testing
message: expires
type: Normal
source:
  component: tester
"#
    )
}

fn event_exists(s: &Server, name: &str) -> bool {
    let out = s.kubectl(&["get", "event", name, "-o", "name"]);
    if out.status.success() {
        return true;
    }
    let err = stderr(&out);
    assert!(err.contains("NotFound"), "{err}");
    false
}

/// `--event-ttl` (upstream's, 1 h by default): an Event is deleted once its last write is
/// older than the TTL, and a later write starts the count again.
#[test]
fn events_expire_after_the_ttl_from_their_last_write() {
    let s = Server::start_with(&["--event-ttl", "5s"]);
    s.ok(&["create", "configmap", "target", "--from-literal=k=v"]);
    s.apply(&plain_event("early"));
    s.apply(&plain_event("rewritten"));
    assert!(event_exists(&s, "early") && event_exists(&s, "rewritten"));
    // Far enough apart that slow kubectl calls on a loaded machine cannot blur them: the
    // first expires 5-6.25 s after its write, the second not before 9 s.
    std::thread::sleep(Duration::from_secs(4));
    s.ok(&["annotate", "event", "rewritten", "touched=yes"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while event_exists(&s, "early") {
        assert!(
            std::time::Instant::now() < deadline,
            "the early Event never expired"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Written 4 s after the first: it still has time left.
    assert!(event_exists(&s, "rewritten"));
    while event_exists(&s, "rewritten") {
        assert!(
            std::time::Instant::now() < deadline,
            "the rewritten Event never expired"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Other kinds are not touched.
    assert!(s
        .ok(&["get", "configmap", "target", "-o", "name"])
        .contains("target"));
}
