//! End-to-end: the controllers against a real minato API server.
//!
//! The server binary comes from `MINATO_BIN` (default `target/debug/minato` of this workspace); a
//! missing binary fails the tests rather than skipping them.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use minato_testkit::TestServer as Server;

async fn start() -> Server {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "minato_controllers=info".into()),
        )
        .with_test_writer()
        .try_init();
    let server = Server::start(&["--no-controllers", "--no-scheduler"]).await;
    let c = server.client.clone();
    tokio::spawn(async move {
        if let Err(e) = minato_controllers::run_all(c).await {
            panic!("controllers ended: {e}");
        }
    });
    server
}

async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn cm(name: &str, owner: Option<(&ConfigMap, bool)>, finalizers: &[&str]) -> ConfigMap {
    let mut v = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"k": "v"},
    });
    if let Some((o, block)) = owner {
        v["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "ConfigMap",
            "name": o.metadata.name, "uid": o.metadata.uid,
            "blockOwnerDeletion": block,
        }]);
    }
    if !finalizers.is_empty() {
        v["metadata"]["finalizers"] = json!(finalizers);
    }
    serde_json::from_value(v).expect("configmap")
}

async fn drop_finalizers(api: &Api<ConfigMap>, name: &str) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove finalizers");
}

#[tokio::test]
async fn namespace_deletion_removes_content_then_namespace() {
    let s = start().await;
    let nss: Api<Namespace> = Api::all(s.client.clone());
    let ns: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "doomed"},
        "spec": {"finalizers": ["kubernetes"]},
    }))
    .expect("namespace");
    nss.create(&PostParams::default(), &ns)
        .await
        .expect("create ns");

    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "doomed");
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), "doomed");
    let deploys: Api<Deployment> = Api::namespaced(s.client.clone(), "doomed");
    let pp = PostParams::default();
    cms.create(&pp, &cm("plain", None, &[])).await.expect("cm");
    // Held by a foreign finalizer: the namespace must wait for it.
    cms.create(&pp, &cm("held", None, &["example.com/hold"]))
        .await
        .expect("held cm");
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s"}, "stringData": {"a": "b"},
    }))
    .expect("secret");
    secrets.create(&pp, &secret).await.expect("secret");
    let deploy: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }))
    .expect("deployment");
    deploys.create(&pp, &deploy).await.expect("deployment");

    nss.delete("doomed", &DeleteParams::default())
        .await
        .expect("delete ns");

    // Everything without a finalizer goes; the held configmap stays, and so does the
    // namespace, Terminating, naming what holds it.
    wait_for("namespace condition naming the remaining finalizer", || async {
        let Ok(Some(n)) = nss.get_opt("doomed").await else {
            return false;
        };
        let status = n.status.unwrap_or_default();
        status.phase.as_deref() == Some("Terminating")
            && status.conditions.unwrap_or_default().iter().any(|c| {
                c.type_ == "NamespaceFinalizersRemaining"
                    && c.status == "True"
                    && c.message.as_deref()
                        == Some("Some finalizers are remaining: example.com/hold in 1 resource instances")
            })
    })
    .await;
    wait_for("unheld content to be deleted", || async {
        cms.get_opt("plain").await.ok() == Some(None)
            && secrets.get_opt("s").await.ok() == Some(None)
            && deploys.get_opt("web").await.ok() == Some(None)
    })
    .await;
    let held = cms.get("held").await.expect("held configmap remains");
    assert!(held.metadata.deletion_timestamp.is_some());
    let n = nss.get("doomed").await.expect("namespace still there");
    assert!(n.metadata.deletion_timestamp.is_some());
    assert_eq!(
        n.spec.and_then(|s| s.finalizers),
        Some(vec!["kubernetes".to_string()])
    );

    drop_finalizers(&cms, "held").await;
    wait_for("namespace to disappear", || async {
        matches!(nss.get_opt("doomed").await, Ok(None))
    })
    .await;
    assert!(matches!(cms.get_opt("held").await, Ok(None)));
}

#[tokio::test]
async fn dependent_is_collected_after_owner_deletion() {
    let s = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    let pp = PostParams::default();
    let owner = cms
        .create(&pp, &cm("owner", None, &[]))
        .await
        .expect("owner");
    cms.create(&pp, &cm("dep", Some((&owner, false)), &[]))
        .await
        .expect("dependent");
    // An unrelated object with a live owner must survive.
    let other = cms
        .create(&pp, &cm("other-owner", None, &[]))
        .await
        .expect("other");
    cms.create(&pp, &cm("other-dep", Some((&other, false)), &[]))
        .await
        .expect("other dependent");

    // Give the collector time to see both; nothing may be collected yet.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(cms.get_opt("dep").await.expect("get").is_some());

    cms.delete("owner", &DeleteParams::background())
        .await
        .expect("delete owner");
    wait_for("dependent to be garbage collected", || async {
        matches!(cms.get_opt("dep").await, Ok(None))
    })
    .await;
    assert!(cms.get_opt("other-dep").await.expect("get").is_some());
}

#[tokio::test]
async fn orphan_cascade_keeps_dependent_without_owner_reference() {
    let s = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    let pp = PostParams::default();
    let owner = cms
        .create(&pp, &cm("owner", None, &[]))
        .await
        .expect("owner");
    cms.create(&pp, &cm("dep", Some((&owner, true)), &[]))
        .await
        .expect("dependent");

    // What `kubectl delete --cascade=orphan` sends.
    cms.delete("owner", &DeleteParams::orphan())
        .await
        .expect("delete owner");
    wait_for("owner to be deleted", || async {
        matches!(cms.get_opt("owner").await, Ok(None))
    })
    .await;
    let dep = cms.get("dep").await.expect("dependent survives");
    assert!(
        dep.metadata.owner_references.unwrap_or_default().is_empty(),
        "ownerReference to the orphaning owner must be removed"
    );
    // And it stays: the collector must not delete it later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(cms.get_opt("dep").await.expect("get").is_some());
}

#[tokio::test]
async fn foreground_cascade_deletes_dependent_before_owner() {
    let s = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    let pp = PostParams::default();
    let owner = cms
        .create(&pp, &cm("owner", None, &[]))
        .await
        .expect("owner");
    // The dependent blocks its owner and holds a finalizer so the in-between state is visible.
    cms.create(&pp, &cm("dep", Some((&owner, true)), &["example.com/hold"]))
        .await
        .expect("dependent");

    // What `kubectl delete --cascade=foreground` sends.
    cms.delete("owner", &DeleteParams::foreground())
        .await
        .expect("delete owner");
    wait_for("dependent to be deleted by the collector", || async {
        matches!(cms.get_opt("dep").await, Ok(Some(d)) if d.metadata.deletion_timestamp.is_some())
    })
    .await;
    // The owner waits for its blocking dependent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let o = cms.get("owner").await.expect("owner still present");
    assert!(o.metadata.deletion_timestamp.is_some());
    assert!(o
        .metadata
        .finalizers
        .unwrap_or_default()
        .contains(&"foregroundDeletion".to_string()));

    drop_finalizers(&cms, "dep").await;
    wait_for("dependent to disappear", || async {
        matches!(cms.get_opt("dep").await, Ok(None))
    })
    .await;
    wait_for("owner to disappear after its dependent", || async {
        matches!(cms.get_opt("owner").await, Ok(None))
    })
    .await;
}
