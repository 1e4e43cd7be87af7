//! End-to-end: the ReplicaSet and Deployment controllers against a real minato API server.
//!
//! The server runs with `--no-controllers`; the test runs `run_all` itself and plays the
//! node: a fake kubelet marks pods Running and Ready through pods/status and finishes
//! graceful deletions. The server binary comes from `MINATO_BIN` (default
//! `target/debug/minato` of this workspace); a missing binary fails the tests.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use kube::ResourceExt;
use serde_json::{json, Value};

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

async fn create_ns(client: &Client, name: &str) {
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    nss.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

/// Plays the node for one namespace: pods become Running and Ready (after `delay`, while
/// `ready` is set); pods being deleted go away at once.
fn fake_kubelet(client: Client, ns: &str, delay: Duration, ready: Arc<AtomicBool>) {
    let pods: Api<Pod> = Api::namespaced(client, ns);
    tokio::spawn(async move {
        loop {
            if let Ok(list) = pods.list(&ListParams::default()).await {
                for pod in list.items {
                    let name = pod.name_any();
                    if pod.metadata.deletion_timestamp.is_some() {
                        let _ = pods
                            .delete(&name, &DeleteParams::default().grace_period(0))
                            .await;
                        continue;
                    }
                    let is_ready = pod
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    let created = pod
                        .metadata
                        .creation_timestamp
                        .as_ref()
                        .map(|t| t.0)
                        .unwrap_or(k8s_openapi::jiff::Timestamp::now());
                    let age = k8s_openapi::jiff::Timestamp::now().duration_since(created);
                    if is_ready
                        || !ready.load(Ordering::SeqCst)
                        || age.as_millis() < delay.as_millis() as i128
                    {
                        continue;
                    }
                    let now = k8s_openapi::jiff::Timestamp::now().to_string();
                    let containers: Vec<Value> = pod
                        .spec
                        .iter()
                        .flat_map(|s| s.containers.iter())
                        .map(|c| {
                            json!({"name": c.name, "image": c.image, "imageID": "", "ready": true,
                                   "restartCount": 0, "started": true,
                                   "state": {"running": {"startedAt": now}}})
                        })
                        .collect();
                    let status = json!({"status": {
                        "phase": "Running",
                        "conditions": [
                            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                            {"type": "Ready", "status": "True", "lastTransitionTime": now},
                            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                        ],
                        "containerStatuses": containers,
                        "startTime": now,
                    }});
                    let _ = pods
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "nginx", "image": image,
                                         "ports": [{"containerPort": 80}]}]}
            }
        }
    }))
    .expect("deployment")
}

fn ann(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    k: &str,
) -> Option<String> {
    meta.annotations.as_ref().and_then(|a| a.get(k).cloned())
}

fn label(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    k: &str,
) -> Option<String> {
    meta.labels.as_ref().and_then(|a| a.get(k).cloned())
}

fn cond(d: &Deployment, t: &str) -> Option<(String, String, String)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

/// Deployment rolled out: all counters at `n`, generation observed.
fn rolled_out(d: &Deployment, n: i32) -> bool {
    let Some(s) = &d.status else { return false };
    s.observed_generation == d.metadata.generation
        && s.replicas.unwrap_or(0) == n
        && s.updated_replicas.unwrap_or(0) == n
        && s.ready_replicas.unwrap_or(0) == n
        && s.available_replicas.unwrap_or(0) == n
        && cond(d, "Progressing").is_some_and(|c| c.1 == "NewReplicaSetAvailable")
}

async fn live_pods(pods: &Api<Pod>, app: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

async fn owned_rs(rss: &Api<ReplicaSet>, d: &Deployment) -> Vec<ReplicaSet> {
    let uid = d.metadata.uid.clone();
    rss.list(&ListParams::default())
        .await
        .expect("list rs")
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| Some(&r.uid) == uid.as_ref() && r.controller == Some(true))
        })
        .collect()
}

async fn events_for(client: &Client, ns: &str, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect()
}

/// A JSON patch (`application/json-patch+json`), as `kubectl rollout undo` sends it.
async fn json_patch(client: &Client, path: &str, ops: &Value) {
    let req = http::Request::patch(path)
        .header("content-type", "application/json-patch+json")
        .body(serde_json::to_vec(ops).unwrap())
        .unwrap();
    let _: Deployment = client.request(req).await.expect("json patch");
}

#[tokio::test]
async fn deployment_rollout_scale_rollback_pause() {
    let s = start().await;
    let ns = "web";
    create_ns(&s.client, ns).await;
    fake_kubelet(
        s.client.clone(),
        ns,
        Duration::from_millis(400),
        Arc::new(AtomicBool::new(true)),
    );
    let deps: Api<Deployment> = Api::namespaced(s.client.clone(), ns);
    let rss: Api<ReplicaSet> = Api::namespaced(s.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), ns);
    deps.create(&PostParams::default(), &deployment("web", 3, "nginx:1.25"))
        .await
        .expect("create deployment");

    // 1. Three pods come up under one ReplicaSet named web-<hash>.
    let d = wait_for("web rolled out with 3", 60, || async {
        deps.get("web").await.ok().filter(|d| rolled_out(d, 3))
    })
    .await;
    assert_eq!(
        cond(&d, "Available").map(|c| (c.0, c.1)),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    assert_eq!(
        ann(&d.metadata, "deployment.kubernetes.io/revision").as_deref(),
        Some("1")
    );
    let first = owned_rs(&rss, &d).await;
    assert_eq!(first.len(), 1, "one replica set");
    let rs1 = first[0].clone();
    let hash1 = label(&rs1.metadata, "pod-template-hash").expect("hash label");
    assert_eq!(rs1.name_any(), format!("web-{hash1}"));
    assert!(hash1
        .chars()
        .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    let sel = rs1
        .spec
        .as_ref()
        .unwrap()
        .selector
        .match_labels
        .clone()
        .unwrap();
    assert_eq!(sel.get("pod-template-hash"), Some(&hash1));
    assert_eq!(sel.get("app").map(String::as_str), Some("web"));
    assert_eq!(
        ann(&rs1.metadata, "deployment.kubernetes.io/revision").as_deref(),
        Some("1")
    );
    assert_eq!(
        ann(&rs1.metadata, "deployment.kubernetes.io/desired-replicas").as_deref(),
        Some("3")
    );
    assert_eq!(
        ann(&rs1.metadata, "deployment.kubernetes.io/max-replicas").as_deref(),
        Some("4")
    );
    let oref = &rs1.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            oref.kind.as_str(),
            oref.controller,
            oref.block_owner_deletion
        ),
        ("Deployment", Some(true), Some(true))
    );
    let rs_status = rs1.status.clone().unwrap();
    assert_eq!(rs_status.replicas, 3);
    let running = live_pods(&pods, "web").await;
    assert_eq!(running.len(), 3);
    for p in &running {
        assert!(p.name_any().starts_with(&format!("web-{hash1}-")));
        assert_eq!(
            p.metadata.generate_name.as_deref(),
            Some(format!("web-{hash1}-").as_str())
        );
        let r = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                r.kind.as_str(),
                r.name.as_str(),
                r.controller,
                r.block_owner_deletion
            ),
            (
                "ReplicaSet",
                rs1.name_any().as_str(),
                Some(true),
                Some(true)
            )
        );
    }
    let devents = events_for(&s.client, ns, "web").await;
    assert!(
        devents
            .iter()
            .any(|e| e.reason.as_deref() == Some("ScalingReplicaSet")
                && e.message.as_deref()
                    == Some(format!("Scaled up replica set web-{hash1} from 0 to 3").as_str())
                && e.source.as_ref().and_then(|s| s.component.as_deref())
                    == Some("deployment-controller")),
        "scaling event: {devents:?}"
    );
    let rsevents = events_for(&s.client, ns, &rs1.name_any()).await;
    assert!(rsevents
        .iter()
        .any(|e| e.reason.as_deref() == Some("SuccessfulCreate")
            && e.message
                .as_deref()
                .is_some_and(|m| m.starts_with(&format!("Created pod: web-{hash1}-")))
            && e.involved_object.kind.as_deref() == Some("ReplicaSet")
            && e.source.as_ref().and_then(|s| s.component.as_deref())
                == Some("replicaset-controller")));

    // 2. Scale to 5 and back to 2.
    let scale = |n: i32| json!({"spec": {"replicas": n}});
    deps.patch("web", &PatchParams::default(), &Patch::Merge(scale(5)))
        .await
        .unwrap();
    wait_for("scaled to 5", 60, || async {
        deps.get("web").await.ok().filter(|d| rolled_out(d, 5))
    })
    .await;
    assert_eq!(live_pods(&pods, "web").await.len(), 5);
    deps.patch("web", &PatchParams::default(), &Patch::Merge(scale(2)))
        .await
        .unwrap();
    wait_for("scaled to 2", 60, || async {
        let d = deps.get("web").await.ok().filter(|d| rolled_out(d, 2))?;
        (live_pods(&pods, "web").await.len() == 2).then_some(d)
    })
    .await;
    deps.patch("web", &PatchParams::default(), &Patch::Merge(scale(3)))
        .await
        .unwrap();
    wait_for("scaled to 3", 60, || async {
        let d = deps.get("web").await.ok().filter(|d| rolled_out(d, 3))?;
        (live_pods(&pods, "web").await.len() == 3).then_some(d)
    })
    .await;

    // 3. New image: a second ReplicaSet; never fewer than 3 ready pods (maxUnavailable 0).
    let image = |img: &str| json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": img}]}}}});
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(image("nginx:1.26")),
    )
    .await
    .unwrap();
    let gen = deps.get("web").await.unwrap().metadata.generation;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut min_ready = usize::MAX;
    let mut max_total = 0;
    let d2 = loop {
        assert!(
            Instant::now() < deadline,
            "rollout to nginx:1.26 did not finish"
        );
        let live = live_pods(&pods, "web").await;
        let ready = live
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        min_ready = min_ready.min(ready);
        max_total = max_total.max(live.len());
        let d = deps.get("web").await.unwrap();
        if d.status.as_ref().and_then(|s| s.observed_generation) == gen
            && rolled_out(&d, 3)
            && live.len() == 3
            && live.iter().all(|p| {
                p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("nginx:1.26")
            })
        {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        min_ready >= 3,
        "ready pods dropped to {min_ready} during the rollout"
    );
    assert!(
        max_total <= 4,
        "more than replicas+maxSurge pods: {max_total}"
    );
    assert_eq!(
        ann(&d2.metadata, "deployment.kubernetes.io/revision").as_deref(),
        Some("2")
    );
    let both = owned_rs(&rss, &d2).await;
    assert_eq!(both.len(), 2, "two revisions");
    let rs2 = both
        .iter()
        .find(|r| r.name_any() != rs1.name_any())
        .unwrap()
        .clone();
    let hash2 = label(&rs2.metadata, "pod-template-hash").unwrap();
    assert_ne!(hash1, hash2);
    assert_eq!(
        ann(&rs2.metadata, "deployment.kubernetes.io/revision").as_deref(),
        Some("2")
    );
    let old = both
        .iter()
        .find(|r| r.name_any() == rs1.name_any())
        .unwrap();
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(0));
    let devents = events_for(&s.client, ns, "web").await;
    let msgs: BTreeSet<String> = devents.iter().filter_map(|e| e.message.clone()).collect();
    assert!(
        msgs.contains(&format!("Scaled up replica set web-{hash2} from 0 to 1")),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(&format!("Scaled down replica set web-{hash1} from 3 to 2")),
        "{msgs:?}"
    );

    // 4. Rollback as `kubectl rollout undo` sends it: revision 3 reuses the first RS.
    let mut template =
        serde_json::to_value(rs1.spec.as_ref().unwrap().template.as_ref().unwrap()).unwrap();
    template["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("pod-template-hash");
    let undo = json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "2"}},
    ]);
    json_patch(
        &s.client,
        &format!("/apis/apps/v1/namespaces/{ns}/deployments/web"),
        &undo,
    )
    .await;
    let d3 = wait_for("rollback to revision 3", 90, || async {
        let d = deps.get("web").await.ok()?;
        let live = live_pods(&pods, "web").await;
        (rolled_out(&d, 3)
            && ann(&d.metadata, "deployment.kubernetes.io/revision").as_deref() == Some("3")
            && live.len() == 3
            && live.iter().all(|p| {
                label(&p.metadata, "pod-template-hash").as_deref() == Some(hash1.as_str())
            }))
        .then_some(d)
    })
    .await;
    let after = owned_rs(&rss, &d3).await;
    assert_eq!(after.len(), 2, "rollback reuses the first replica set");
    let reused = after
        .iter()
        .find(|r| r.name_any() == rs1.name_any())
        .unwrap();
    assert_eq!(
        ann(&reused.metadata, "deployment.kubernetes.io/revision").as_deref(),
        Some("3")
    );
    assert_eq!(
        ann(
            &reused.metadata,
            "deployment.kubernetes.io/revision-history"
        )
        .as_deref(),
        Some("1")
    );

    // 5. Pause: template changes wait, scaling still happens; resume rolls out.
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true}})),
    )
    .await
    .unwrap();
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(image("nginx:1.27")),
    )
    .await
    .unwrap();
    deps.patch("web", &PatchParams::default(), &Patch::Merge(scale(4)))
        .await
        .unwrap();
    let paused = wait_for("paused deployment scaled to 4", 60, || async {
        let d = deps.get("web").await.ok()?;
        let st = d.status.as_ref()?;
        (st.observed_generation == d.metadata.generation
            && st.replicas == Some(4)
            && st.available_replicas == Some(4))
        .then_some(d)
    })
    .await;
    assert_eq!(
        cond(&paused, "Progressing").map(|c| (c.0, c.1)),
        Some(("Unknown".into(), "DeploymentPaused".into()))
    );
    assert_eq!(
        owned_rs(&rss, &paused).await.len(),
        2,
        "no new replica set while paused"
    );
    assert_eq!(
        paused
            .status
            .as_ref()
            .unwrap()
            .updated_replicas
            .unwrap_or(0),
        0
    );
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": null}})),
    )
    .await
    .unwrap();
    let resumed = wait_for("resumed rollout", 90, || async {
        let d = deps.get("web").await.ok()?;
        let live = live_pods(&pods, "web").await;
        (rolled_out(&d, 4)
            && live.len() == 4
            && live.iter().all(|p| {
                p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("nginx:1.27")
            }))
        .then_some(d)
    })
    .await;
    assert_eq!(
        ann(&resumed.metadata, "deployment.kubernetes.io/revision").as_deref(),
        Some("4")
    );
    assert_eq!(owned_rs(&rss, &resumed).await.len(), 3);

    // 6. A deleted pod is replaced by its ReplicaSet.
    let victim = live_pods(&pods, "web").await[0].name_any();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    wait_for("replacement pod", 60, || async {
        let live = live_pods(&pods, "web").await;
        (live.len() == 4 && live.iter().all(|p| p.name_any() != victim)).then_some(())
    })
    .await;
    wait_for("back to 4 available", 60, || async {
        deps.get("web").await.ok().filter(|d| rolled_out(d, 4))
    })
    .await;
}

fn replicaset(name: &str, replicas: i32, finalizers: Option<&str>) -> ReplicaSet {
    let mut v = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"note": "kept"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    });
    if let Some(f) = finalizers {
        v["spec"]["template"]["metadata"]["finalizers"] = json!([f]);
    }
    serde_json::from_value(v).expect("replicaset")
}

#[tokio::test]
async fn replicaset_adopts_releases_heals_and_reports_failures() {
    let s = start().await;
    let ns = "rs";
    create_ns(&s.client, ns).await;
    let rss: Api<ReplicaSet> = Api::namespaced(s.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), ns);

    // An orphan that matches is adopted: only two more pods get created.
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"app": "db"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    rss.create(&PostParams::default(), &replicaset("db", 3, None))
        .await
        .unwrap();
    let rs = wait_for("3 replicas", 60, || async {
        let rs = rss.get("db").await.ok()?;
        let st = rs.status.as_ref()?;
        (st.replicas == 3 && st.observed_generation == rs.metadata.generation).then_some(rs)
    })
    .await;
    let live = live_pods(&pods, "db").await;
    assert_eq!(live.len(), 3);
    let adopted = pods.get("orphan").await.unwrap();
    let r = &adopted.metadata.owner_references.as_ref().expect("adopted")[0];
    assert_eq!(
        (r.kind.as_str(), r.name.as_str(), r.controller),
        ("ReplicaSet", "db", Some(true))
    );
    assert_eq!(Some(&r.uid), rs.metadata.uid.as_ref());
    let created: Vec<&Pod> = live.iter().filter(|p| p.name_any() != "orphan").collect();
    for p in &created {
        assert_eq!(ann(&p.metadata, "note").as_deref(), Some("kept"));
        assert_eq!(p.metadata.generate_name.as_deref(), Some("db-"));
    }
    // Nothing is ready yet: counters say so.
    let st = rs.status.clone().unwrap();
    assert_eq!(
        (
            st.ready_replicas.unwrap_or(0),
            st.available_replicas.unwrap_or(0)
        ),
        (0, 0)
    );
    assert_eq!(st.fully_labeled_replicas, Some(3));

    // Readiness shows up in the counters.
    fake_kubelet(
        s.client.clone(),
        ns,
        Duration::ZERO,
        Arc::new(AtomicBool::new(true)),
    );
    wait_for("3 available", 60, || async {
        let rs = rss.get("db").await.ok()?;
        (rs.status.as_ref()?.available_replicas == Some(3)).then_some(())
    })
    .await;

    // A pod relabelled out of the selector is released and replaced.
    let leaver = created[0].name_any();
    pods.patch(
        &leaver,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "gone"}}})),
    )
    .await
    .unwrap();
    wait_for("release and replacement", 60, || async {
        let p = pods.get(&leaver).await.ok()?;
        let released = p
            .metadata
            .owner_references
            .as_ref()
            .is_none_or(|o| o.is_empty());
        (released && live_pods(&pods, "db").await.len() == 3).then_some(())
    })
    .await;

    // Scale down deletes the newest/not-ready first and records it.
    rss.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    wait_for("scaled to 1", 60, || async {
        (live_pods(&pods, "db").await.len() == 1).then_some(())
    })
    .await;
    let events = wait_for("SuccessfulDelete events", 30, || async {
        let events = events_for(&s.client, ns, "db").await;
        let deletes = events
            .iter()
            .filter(|e| {
                e.reason.as_deref() == Some("SuccessfulDelete")
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("Deleted pod: "))
            })
            .count();
        (deletes == 2).then_some(events)
    })
    .await;
    let creates: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("SuccessfulCreate"))
        .collect();
    assert!(!creates.is_empty());
    for e in &creates {
        assert!(e
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("db.")));
        assert_eq!(e.count, Some(1));
        assert!(e.first_timestamp.is_some() && e.last_timestamp.is_some());
        assert_eq!(
            e.reporting_component.as_deref(),
            Some("replicaset-controller")
        );
        assert_eq!(e.involved_object.api_version.as_deref(), Some("apps/v1"));
        assert!(e.involved_object.uid.is_some());
    }

    // A template the pod API refuses: FailedCreate event and ReplicaFailure condition.
    rss.create(
        &PostParams::default(),
        &replicaset("bad", 2, Some("not a valid/finalizer!")),
    )
    .await
    .expect("template finalizers are not validated on the replica set");
    let bad = wait_for("ReplicaFailure", 60, || async {
        let rs = rss.get("bad").await.ok()?;
        let c = rs
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "ReplicaFailure")?
            .clone();
        Some(c)
    })
    .await;
    assert_eq!(
        (bad.status.as_str(), bad.reason.as_deref()),
        ("True", Some("FailedCreate"))
    );
    assert!(
        bad.message
            .as_deref()
            .is_some_and(|m| m.contains("finalizers")),
        "{bad:?}"
    );
    let failed = wait_for("FailedCreate event", 30, || async {
        let evs = events_for(&s.client, ns, "bad").await;
        evs.into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedCreate"))
    })
    .await;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert!(failed
        .message
        .as_deref()
        .is_some_and(|m| m.starts_with("Error creating: ")));
    assert_eq!(live_pods(&pods, "bad").await.len(), 0);
}

#[tokio::test]
async fn event_recorder_aggregates_repeats() {
    let s = start().await;
    let ns = "ev";
    create_ns(&s.client, ns).await;
    let deps: Api<Deployment> = Api::namespaced(s.client.clone(), ns);
    // Paused with no controllers acting on it: only the recorder writes events here.
    let d = deps
        .create(&PostParams::default(), &deployment("quiet", 0, "x"))
        .await
        .unwrap();
    let rec = minato_controllers::events::EventRecorder::with_instance(
        s.client.clone(),
        "test-component",
        "node-a",
    );
    rec.normal(&d, "Tested", "same message");
    rec.normal(&d, "Tested", "same message");
    rec.warning(&d, "Tested", "other message");
    let evs = wait_for("recorded events", 30, || async {
        let evs: Vec<Event> = events_for(&s.client, ns, "quiet")
            .await
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("Tested"))
            .collect();
        (evs.len() == 2 && evs.iter().any(|e| e.count == Some(2))).then_some(evs)
    })
    .await;
    let same = evs
        .iter()
        .find(|e| e.message.as_deref() == Some("same message"))
        .unwrap();
    assert_eq!(same.count, Some(2));
    assert_eq!(same.type_.as_deref(), Some("Normal"));
    assert_eq!(
        same.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("test-component")
    );
    assert_eq!(same.reporting_instance.as_deref(), Some("node-a"));
    assert_eq!(same.involved_object.kind.as_deref(), Some("Deployment"));
    assert_eq!(same.involved_object.uid, d.metadata.uid);
    assert!(same
        .metadata
        .name
        .as_deref()
        .is_some_and(|n| n.starts_with("quiet.")));
    let other = evs
        .iter()
        .find(|e| e.message.as_deref() == Some("other message"))
        .unwrap();
    assert_eq!(
        (other.type_.as_deref(), other.count),
        (Some("Warning"), Some(1))
    );
}

#[tokio::test]
async fn recreate_deployment_replaces_all_pods_at_once() {
    let s = start().await;
    let ns = "rc";
    create_ns(&s.client, ns).await;
    fake_kubelet(
        s.client.clone(),
        ns,
        Duration::from_millis(200),
        Arc::new(AtomicBool::new(true)),
    );
    let deps: Api<Deployment> = Api::namespaced(s.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), ns);
    let mut d = deployment("api", 3, "app:v1");
    d.spec.as_mut().unwrap().strategy =
        Some(serde_json::from_value(json!({"type": "Recreate"})).unwrap());
    deps.create(&PostParams::default(), &d).await.unwrap();
    wait_for("api rolled out", 60, || async {
        deps.get("api").await.ok().filter(|d| rolled_out(d, 3))
    })
    .await;
    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "app:v2"}]}}}});
    deps.patch("api", &PatchParams::default(), &Patch::Strategic(image))
        .await
        .unwrap();
    // Never old and new pods side by side.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "recreate rollout did not finish");
        let all = pods.list(&ListParams::default()).await.unwrap().items;
        let images: BTreeSet<String> = all
            .iter()
            .filter_map(|p| p.spec.as_ref()?.containers[0].image.clone())
            .collect();
        assert!(images.len() <= 1, "old and new pods together: {images:?}");
        let d = deps.get("api").await.unwrap();
        if rolled_out(&d, 3) && images.contains("app:v2") && all.len() == 3 {
            assert_eq!(
                ann(&d.metadata, "deployment.kubernetes.io/revision").as_deref(),
                Some("2")
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
