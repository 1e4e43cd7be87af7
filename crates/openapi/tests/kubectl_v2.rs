//! The protobuf `/openapi/v2` document as the real kubectl reads it (from a loopback server):
//! `explain --output=plaintext-openapiv2`, client-side apply with `KUBECTL_OPENAPIV3_PATCH=false`
//! (strategic merge metadata from v2), and an unknown kind. Skipped when kubectl is not on PATH.

mod common;

use common::{kubectl_available, lock, text, Kubectl, Server};
use minato_openapi::{CustomSchemas, Gvk, OpenApi};
use minato_resources::{Registry, ResourceInfo};
use serde_json::{json, Value};

const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
const V2_PATCH: (&str, &str) = ("KUBECTL_OPENAPIV3_PATCH", "false");

/// The documents for everything the registry serves, plus a Widget kind that kubectl's own
/// scheme does not know but whose PATCH operation lists strategic merge patch (as built-in
/// kinds do). Only the v2 document can tell kubectl how Widget lists merge.
fn server(serve_v2: bool) -> std::sync::Arc<Server> {
    let registry = Registry::new();
    let mut resources: Vec<ResourceInfo> =
        registry.all().iter().map(|e| (*e.info).clone()).collect();
    resources.push(widget_info());
    let mut custom = CustomSchemas::new();
    custom.insert(
        Gvk::new("probe.example.com", "v1", "Widget"),
        widget_schema(),
    );
    let api = OpenApi::build(&resources, &custom).expect("documents");
    Server::new(api, resources, serve_v2)
}

fn widget_info() -> ResourceInfo {
    ResourceInfo {
        group: "probe.example.com".into(),
        version: "v1".into(),
        kind: "Widget".into(),
        list_kind: "WidgetList".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        namespaced: true,
        short_names: vec![],
        categories: vec![],
        verbs: [
            "create", "delete", "get", "list", "patch", "update", "watch",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        subresources: vec![],
        has_status: false,
        scale: None,
        storage_version: true,
        persisted: true,
        // Served like a built-in kind: strategic merge patch is accepted.
        custom: false,
    }
}

fn widget_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"parts": {
            "type": "array",
            "x-kubernetes-patch-merge-key": "id",
            "x-kubernetes-patch-strategy": "merge",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "size": {"type": "integer"}},
            },
        }}}},
    })
}

const WIDGET_PATH: &str = "/apis/probe.example.com/v1/namespaces/default/widgets/w1";

fn widget(parts: Value) -> Value {
    json!({"apiVersion": "probe.example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default"}, "spec": {"parts": parts}})
}

/// Client-side apply (v3 patching off) of a Widget that drops a part and resizes another;
/// returns the PATCH request.
fn apply_widget(server: &Server, kubectl: &Kubectl) -> common::Request {
    let old = widget(json!([{"id": "a", "size": 1}, {"id": "b", "size": 2}]));
    let new = widget(json!([{"id": "a", "size": 3}]));
    let manifest = stage(server, kubectl, WIDGET_PATH, &old, &new);
    let out = kubectl.run(&[V2_PATCH], &["apply", "-f", &manifest]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout.contains("widget.probe.example.com/w1 configured"),
        "stdout: {stdout}\nstderr: {stderr}\nrequests:\n{}",
        server.log_text()
    );
    let patches = server.requests("PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");
    patches[0].clone()
}

const DEPLOYMENT_PATH: &str = "/apis/apps/v1/namespaces/default/deployments/web";

fn deployment(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers}}}})
}

/// Places `old` (as last applied) at `path` and writes `new` to a manifest; returns its path.
fn stage(server: &Server, kubectl: &Kubectl, path: &str, old: &Value, new: &Value) -> String {
    let mut live = old.clone();
    live["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": old.to_string()});
    live["metadata"]["uid"] = json!("0b3c1b9e-0000-4000-8000-000000000002");
    live["metadata"]["resourceVersion"] = json!("3");
    lock(&server.objects).push((path.to_string(), live));
    let file = kubectl.path("manifest.json");
    std::fs::write(&file, new.to_string()).expect("write manifest");
    file.display().to_string()
}

#[test]
fn kubectl_reads_the_protobuf_v2_document() {
    assert!(
        kubectl_available(),
        "these tests drive the real kubectl: put kubectl on PATH"
    );
    let server = server(true);
    let kubectl = Kubectl::new(server.start());
    let ok = |env: &[(&str, &str)], args: &[&str]| {
        let out = kubectl.run(env, args);
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed\nstdout: {stdout}\nstderr: {stderr}\nrequests:\n{}",
            server.log_text()
        );
        stdout
    };

    // explain from v2 parses every definition (one bad schema fails the whole document).
    let out = ok(
        &[],
        &[
            "explain",
            "--output=plaintext-openapiv2",
            "deployment.spec.strategy",
        ],
    );
    assert!(out.contains("KIND:     Deployment"), "{out}");
    assert!(out.contains("RESOURCE: strategy <Object>"), "{out}");
    assert!(out.contains("The deployment strategy to use"), "{out}");
    assert!(out.contains("rollingUpdate\t<Object>"), "{out}");
    let v2 = server.requests("GET");
    let v2: Vec<_> = v2
        .iter()
        .filter(|r| r.target.split('?').next() == Some("/openapi/v2"))
        .collect();
    assert!(!v2.is_empty(), "{}", server.log_text());
    assert!(v2.iter().all(|r| r.accept.starts_with(PROTOBUF)), "{v2:?}");

    // With v3 patching off, kubectl takes the strategic merge metadata from v2.
    let old = deployment(json!([{"name": "web", "image": "nginx"},
        {"name": "sidecar", "image": "busybox"}]));
    let new = deployment(json!([{"name": "web", "image": "nginx:2"}]));
    let manifest = stage(&server, &kubectl, DEPLOYMENT_PATH, &old, &new);
    let out = ok(&[V2_PATCH], &["apply", "-f", &manifest]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let patches = server.requests("PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");
    let body: Value = serde_json::from_str(&patches[0].body).expect("patch JSON");
    let spec = &body["spec"]["template"]["spec"];
    assert_eq!(
        spec["$setElementOrder/containers"],
        json!([{"name": "web"}]),
        "{body}"
    );
    assert!(
        spec["containers"]
            .as_array()
            .is_some_and(|c| c.contains(&json!({"$patch": "delete", "name": "sidecar"}))),
        "{body}"
    );
    let v2_reads = server
        .requests("GET")
        .iter()
        .filter(|r| r.target.split('?').next() == Some("/openapi/v2"))
        .count();
    assert!(v2_reads > 0, "{}", server.log_text());

    // A kind nobody serves: validation finds no definition in v2 either, and the REST mapping
    // reports it as upstream does.
    let manifest = kubectl.path("gadget.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: default\n",
    )
    .expect("write manifest");
    let out = kubectl.run(&[], &["apply", "-f", &manifest.display().to_string()]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("no matches for kind \"Gadget\" in version \"example.com/v1\""),
        "{stderr}"
    );
}

/// kubectl makes a strategic merge patch for Widget keyed on `id` only from the v2 document.
#[test]
fn apply_takes_merge_keys_from_the_v2_document() {
    assert!(
        kubectl_available(),
        "these tests drive the real kubectl: put kubectl on PATH"
    );
    let server = server(true);
    let kubectl = Kubectl::new(server.start());
    let patch = apply_widget(&server, &kubectl);
    assert_eq!(
        patch.content_type, "application/strategic-merge-patch+json",
        "{patch:?}"
    );
    let body: Value = serde_json::from_str(&patch.body).expect("patch JSON");
    assert_eq!(
        body["spec"]["$setElementOrder/parts"],
        json!([{"id": "a"}]),
        "{body}"
    );
    let parts = body["spec"]["parts"].as_array().expect("parts");
    assert!(
        parts.contains(&json!({"$patch": "delete", "id": "b"})),
        "{body}"
    );
    assert!(parts.contains(&json!({"id": "a", "size": 3})), "{body}");

    // The control: with no v2 document kubectl knows nothing of Widget and merges JSON.
    let server = self::server(false);
    let kubectl = Kubectl::new(server.start());
    let patch = apply_widget(&server, &kubectl);
    assert_eq!(
        patch.content_type, "application/merge-patch+json",
        "{patch:?}"
    );
    assert!(!patch.body.contains("$setElementOrder"), "{patch:?}");
}
