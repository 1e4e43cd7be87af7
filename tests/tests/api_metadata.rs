//! Metadata-only requests (`Accept: application/json;as=PartialObjectMetadata[List];
//! g=meta.k8s.io;v=v1`), as metadata informers and the garbage collector make them: through
//! the kube crate, and raw to check the exact shapes and the 406 answers.

use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, PartialObjectMeta, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::GroupVersionKind;
use kube::runtime::watcher;
use minato_e2e::{stderr, stdout, Server};
use serde_json::{json, Value};

const META: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
const META_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

async fn client(s: &Server) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(&s.kubeconfig).expect("read kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("client config");
    kube::Client::try_from(config).expect("client")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": "meta"},
            "annotations": {"note": "kept in metadata"},
        },
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }))
    .expect("pod")
}

/// A raw GET with this Accept header: the body, or the error Status.
async fn raw_get(
    c: &kube::Client,
    path: &str,
    accept: &str,
) -> Result<Value, Box<kube::core::Status>> {
    let req = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .expect("request");
    match c.request_text(req).await {
        Ok(text) => Ok(serde_json::from_str(&text).expect("JSON body")),
        Err(kube::Error::Api(s)) => Err(s),
        Err(e) => panic!("GET {path} with Accept {accept}: {e}"),
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[test]
fn kube_metadata_get_list_and_watch() {
    let s = Server::start_with(&["--no-controllers", "--no-scheduler"]);
    runtime().block_on(async {
        let c = client(&s).await;
        let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
        let created = pods
            .create(&PostParams::default(), &pod("m1"))
            .await
            .expect("create m1");
        pods.create(&PostParams::default(), &pod("m2"))
            .await
            .expect("create m2");

        // get_metadata: the metadata of the pod, typed PartialObjectMetadata
        let m = pods.get_metadata("m1").await.expect("get_metadata");
        let types = m.types.clone().expect("types");
        assert_eq!(types.kind, "PartialObjectMetadata");
        assert_eq!(types.api_version, "meta.k8s.io/v1");
        assert_eq!(m.metadata.uid, created.metadata.uid);
        assert_eq!(m.metadata.labels, created.metadata.labels);
        assert_eq!(m.metadata.annotations, created.metadata.annotations);

        // list_metadata, whole and in pages
        let list = pods
            .list_metadata(&ListParams::default())
            .await
            .expect("list_metadata");
        let mut names: Vec<String> = list
            .items
            .iter()
            .filter_map(|i| i.metadata.name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["m1", "m2"]);
        assert!(list.metadata.resource_version.is_some());
        let page = pods
            .list_metadata(&ListParams::default().limit(1))
            .await
            .expect("list_metadata page");
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.metadata.remaining_item_count, Some(1));
        let token = page.metadata.continue_.clone().expect("continue token");
        let rest = pods
            .list_metadata(&ListParams::default().limit(1).continue_token(&token))
            .await
            .expect("list_metadata next page");
        assert_eq!(rest.items.len(), 1);
        assert_ne!(rest.items[0].metadata.name, page.items[0].metadata.name);

        // watch_metadata: ADDED for what exists, then MODIFIED and DELETED, all metadata only
        let wp = WatchParams::default().timeout(20);
        let mut events = pods
            .watch_metadata(&wp, "0")
            .await
            .expect("watch_metadata")
            .boxed();
        let mut added = Vec::new();
        while added.len() < 2 {
            match events.try_next().await.expect("watch event") {
                Some(WatchEvent::Added(o)) => {
                    added.push(o.metadata.name.clone().unwrap_or_default())
                }
                Some(WatchEvent::Bookmark(_)) => {}
                other => panic!("expected ADDED, got {other:?}"),
            }
        }
        added.sort();
        assert_eq!(added, ["m1", "m2"]);
        pods.patch(
            "m1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"step": "two"}}})),
        )
        .await
        .expect("patch m1");
        pods.delete("m2", &DeleteParams::default().grace_period(0))
            .await
            .expect("delete m2");
        let (mut modified, mut deleted) = (false, false);
        while !(modified && deleted) {
            let ev = tokio::time::timeout(Duration::from_secs(15), events.try_next())
                .await
                .expect("watch events in time")
                .expect("watch event")
                .expect("watch still open");
            match ev {
                WatchEvent::Modified(o) if o.metadata.name.as_deref() == Some("m1") => {
                    let labels = o.metadata.labels.clone().unwrap_or_default();
                    assert_eq!(labels.get("step").map(String::as_str), Some("two"));
                    assert_eq!(
                        o.types.map(|t| t.kind).as_deref(),
                        Some("PartialObjectMetadata")
                    );
                    modified = true;
                }
                WatchEvent::Deleted(o) if o.metadata.name.as_deref() == Some("m2") => {
                    deleted = true
                }
                WatchEvent::Modified(_) | WatchEvent::Bookmark(_) => {}
                other => panic!("unexpected event {other:?}"),
            }
        }
        drop(events);

        // The runtime watcher over metadata (what `metadata_watcher` was): an initial list then
        // live changes, as the garbage collector consumes it.
        let meta_pods: Api<PartialObjectMeta<Pod>> = Api::namespaced(c.clone(), "default");
        let mut w = watcher(meta_pods, watcher::Config::default()).boxed();
        let mut listed = Vec::new();
        loop {
            match w.try_next().await.expect("watcher").expect("watcher open") {
                watcher::Event::Init => {}
                watcher::Event::InitApply(o) => listed.push(o.metadata.name.unwrap_or_default()),
                watcher::Event::InitDone => break,
                other => panic!("unexpected {other:?} during the initial list"),
            }
        }
        assert_eq!(listed, ["m1"]);
        pods.create(&PostParams::default(), &pod("m3"))
            .await
            .expect("create m3");
        pods.delete("m1", &DeleteParams::default().grace_period(0))
            .await
            .expect("delete m1");
        let (mut applied, mut removed) = (false, false);
        while !(applied && removed) {
            let ev = tokio::time::timeout(Duration::from_secs(15), w.try_next())
                .await
                .expect("watcher events in time")
                .expect("watcher")
                .expect("watcher open");
            match ev {
                watcher::Event::Apply(o) if o.metadata.name.as_deref() == Some("m3") => {
                    applied = true
                }
                watcher::Event::Delete(o) if o.metadata.name.as_deref() == Some("m1") => {
                    removed = true
                }
                _ => {}
            }
        }
    });
}

#[test]
fn raw_shapes_fallbacks_and_not_acceptable() {
    // Nothing may write the pod during the test: the shapes are compared with one GET (the
    // scheduler would mark it unschedulable, there being no node).
    let s = Server::start_with(&["--no-controllers", "--no-scheduler"]);
    runtime().block_on(async {
        let c = client(&s).await;
        let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
        pods.create(&PostParams::default(), &pod("r1"))
            .await
            .expect("create r1");
        let one = "/api/v1/namespaces/default/pods/r1";
        let all = "/api/v1/namespaces/default/pods";
        let full = raw_get(&c, one, "application/json").await.expect("full pod");

        // get: exactly kind, apiVersion and the whole ObjectMeta
        let m = raw_get(&c, one, META).await.expect("metadata get");
        assert_eq!(
            m,
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": full["metadata"]})
        );
        let beta = raw_get(
            &c,
            one,
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1",
        )
        .await
        .expect("v1beta1 metadata get");
        assert_eq!(beta["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(beta["metadata"], full["metadata"]);

        // list: list metadata and items reduced to PartialObjectMetadata
        let l = raw_get(&c, all, META_LIST).await.expect("metadata list");
        assert_eq!(keys(&l), ["apiVersion", "items", "kind", "metadata"]);
        assert_eq!(l["kind"], "PartialObjectMetadataList");
        assert_eq!(l["apiVersion"], "meta.k8s.io/v1");
        assert!(l["metadata"]["resourceVersion"].is_string(), "{l}");
        assert_eq!(l["items"].as_array().map(Vec::len), Some(1), "{l}");
        assert_eq!(
            l["items"][0],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": full["metadata"]})
        );
        // client-go's metadata client lists protobuf first, then JSON: JSON metadata it is
        let client_go = format!(
            "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,{META_LIST},application/json"
        );
        let l = raw_get(&c, all, &client_go).await.expect("client-go list");
        assert_eq!(l["kind"], "PartialObjectMetadataList");

        // an unsupported conversion followed by plain JSON falls back to the full list
        let l = raw_get(
            &c,
            all,
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v9,application/json",
        )
        .await
        .expect("fallback list");
        assert_eq!(l["kind"], "PodList");
        assert_eq!(l["items"][0]["spec"], full["spec"]);

        // only unsupported conversions, or the wrong shape for the endpoint: 406
        for (path, accept) in [
            (all, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v9"),
            (all, "application/json;as=Unknown;g=meta.k8s.io;v=v1"),
            (all, META),
            (one, META_LIST),
            (one, "application/json;as=PartialObjectMetadata;g=example.com;v=v1"),
        ] {
            let st = raw_get(&c, path, accept)
                .await
                .expect_err(&format!("GET {path} with {accept} must fail"));
            assert_eq!(st.code, 406, "{path} {accept}: {st:?}");
            assert_eq!(st.reason, "NotAcceptable", "{path} {accept}");
        }
        let watch_list = format!("{all}?watch=true&timeoutSeconds=1");
        let st = raw_get(&c, &watch_list, META_LIST)
            .await
            .expect_err("a watch of PartialObjectMetadataList");
        assert_eq!(st.code, 406);

        // raw watch: initial ADDED, the initial-events-end bookmark, both as metadata
        let path = format!(
            "{all}?watch=true&timeoutSeconds=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        );
        let req = http::Request::get(&path)
            .header(http::header::ACCEPT, META)
            .body(Vec::new())
            .expect("request");
        let lines: Vec<String> = c
            .request_stream(req)
            .await
            .expect("watch")
            .lines()
            .try_collect()
            .await
            .expect("watch lines");
        let events: Vec<Value> = lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("event JSON"))
            .collect();
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(
            events[0],
            json!({"type": "ADDED", "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": full["metadata"]}})
        );
        assert_eq!(events[1]["type"], "BOOKMARK");
        assert_eq!(events[1]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(events[1]["object"]["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
    });

    // kubectl's Tables are unchanged
    let names = s.ok(&["get", "pods", "-o", "name"]);
    assert_eq!(names.trim(), "pod/r1");
    let table = s.kubectl(&["get", "pods"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let out = stdout(&table);
    assert!(out.contains("NAME") && out.contains("r1"), "{out}");
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gizmos, singular: gizmo, kind: Gizmo, listKind: GizmoList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

#[test]
fn custom_resources_serve_metadata() {
    let s = Server::start_with(&["--no-controllers", "--no-scheduler"]);
    s.apply(CRD);
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/gizmos.example.com",
        "--timeout=30s",
    ]);
    s.apply(
        "apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g1\n  labels: {size: big}\nspec:\n  teeth: 12\n",
    );
    runtime().block_on(async {
        let c = client(&s).await;
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Gizmo"),
            "gizmos",
        );
        let gizmos: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &ar);
        let m = gizmos.get_metadata("g1").await.expect("get_metadata");
        assert_eq!(
            m.types.map(|t| t.kind).as_deref(),
            Some("PartialObjectMetadata")
        );
        let labels = m.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("size").map(String::as_str), Some("big"));
        let list = gizmos
            .list_metadata(&ListParams::default())
            .await
            .expect("list_metadata");
        assert_eq!(list.items.len(), 1);
        assert_eq!(list.items[0].metadata.name.as_deref(), Some("g1"));
        let raw = raw_get(
            &c,
            "/apis/example.com/v1/namespaces/default/gizmos/g1",
            META,
        )
        .await
        .expect("raw metadata get");
        assert_eq!(keys(&raw), ["apiVersion", "kind", "metadata"]);
        assert!(raw.get("spec").is_none());
    });
}
