//! End-to-end: simulated nodes against a real minato API server.
//!
//! The server binary comes from `MINATO_BIN` (default `target/debug/minato` of this workspace); a
//! missing binary fails the tests rather than skipping them.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use minato_simulator::{start, Ipv4Cidr, SimConfig, SimHandle};
use serde_json::{json, Value};

use minato_testkit::TestServer as Server;

async fn server() -> Server {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "minato_simulator=info".into()),
        )
        .with_test_writer()
        .try_init();
    let server = Server::start(&["--no-scheduler", "--no-controllers"]).await;
    server
}

fn config(nodes: u32) -> SimConfig {
    SimConfig {
        nodes,
        start_delay: Duration::from_millis(300),
        renew_interval: Duration::from_millis(500),
        ..SimConfig::default()
    }
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
    panic!("timed out after {secs}s waiting for {what}");
}

async fn renew_time(leases: &Api<Lease>, name: &str) -> String {
    let l = leases.get(name).await.expect("lease");
    serde_json::to_value(l.spec.and_then(|s| s.renew_time))
        .expect("renewTime")
        .as_str()
        .expect("renewTime string")
        .to_string()
}

#[tokio::test]
async fn three_nodes_register_with_renewing_leases() {
    let s = server().await;
    let sim: SimHandle = start(s.client.clone(), config(3)).await.expect("simulator");
    assert_eq!(sim.node_names(), ["sim-node-0", "sim-node-1", "sim-node-2"]);
    assert_eq!(sim.stats().nodes_registered, 3);

    let nodes: Api<Node> = Api::all(s.client.clone());
    let list = nodes
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    assert_eq!(list.items.len(), 3);
    for (i, n) in ["sim-node-0", "sim-node-1", "sim-node-2"]
        .iter()
        .enumerate()
    {
        let node = nodes.get(n).await.expect("node");
        let labels = node.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("kubernetes.io/hostname").map(String::as_str),
            Some(*n)
        );
        assert_eq!(labels.get("type").map(String::as_str), Some("simulated"));
        let spec = node.spec.clone().unwrap_or_default();
        assert_eq!(spec.pod_cidr, Some(format!("10.244.{i}.0/24")));
        let st = node.status.clone().expect("node status");
        let conds = st.conditions.clone().unwrap_or_default();
        let ready = conds.iter().find(|c| c.type_ == "Ready").expect("Ready");
        assert_eq!(ready.status, "True");
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert!(ready.last_heartbeat_time.is_some());
        let types: Vec<_> = conds.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        assert_eq!(
            st.capacity.as_ref().map(|c| c["pods"].0.clone()).as_deref(),
            Some("110")
        );
        assert_eq!(
            st.node_info.as_ref().map(|i| i.kubelet_version.as_str()),
            Some("v1.33.0")
        );
        let addr = &st.addresses.as_ref().expect("addresses")[0];
        assert_eq!(addr.type_, "InternalIP");
        assert_eq!(addr.address, format!("198.18.0.{}", i + 1));
    }

    let leases: Api<Lease> = Api::namespaced(s.client.clone(), "kube-node-lease");
    let lease = leases.get("sim-node-1").await.expect("lease");
    let spec = lease.spec.clone().expect("lease spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("sim-node-1"));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    let owner = &lease.metadata.owner_references.expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Node", "sim-node-1")
    );

    let mut first = Vec::new();
    for n in sim.node_names() {
        first.push(renew_time(&leases, &n).await);
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    for (n, before) in sim.node_names().iter().zip(first) {
        let after = renew_time(&leases, n).await;
        assert!(
            after > before,
            "{n}: lease not renewed ({before} → {after})"
        );
    }
    assert!(sim.stats().lease_renewals >= 6, "{:?}", sim.stats());

    // The kubelet's start-up events are recorded against the node.
    let events: Api<Event> = Api::namespaced(s.client.clone(), "default");
    wait_for("node Starting event", 10, || async {
        let evs = events.list(&ListParams::default()).await.ok()?;
        evs.items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("Starting")
                    && e.involved_object.name.as_deref() == Some("sim-node-2")
            })
            .then_some(())
    })
    .await;
}

fn pod(name: &str, extra: Value) -> Pod {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
    });
    if let (Some(a), Value::Object(b)) = (v.as_object_mut(), extra) {
        for (k, val) in b {
            match (a.get_mut(&k), val) {
                (Some(Value::Object(x)), Value::Object(y)) => x.extend(y),
                (_, val) => {
                    a.insert(k, val);
                }
            }
        }
    }
    serde_json::from_value(v).expect("pod")
}

async fn bind(pods: &Api<Pod>, name: &str, node: &str) {
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let _: Value = pods
        .create_subresource("binding", name, &PostParams::default(), &binding)
        .await
        .expect("bind pod");
}

fn condition(p: &Pod, t: &str) -> Option<String> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| c.status.clone())
}

#[tokio::test]
async fn bound_pod_runs_then_deletion_removes_it() {
    let s = server().await;
    let sim = start(s.client.clone(), config(2)).await.expect("simulator");
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), "default");
    pods.create(&PostParams::default(), &pod("web", json!({})))
        .await
        .expect("create pod");
    bind(&pods, "web", "sim-node-1").await;

    let running = wait_for("pod Running and Ready", 15, || async {
        let p = pods.get("web").await.ok()?;
        (p.status.as_ref()?.phase.as_deref() == Some("Running")
            && condition(&p, "Ready").as_deref() == Some("True"))
        .then_some(p)
    })
    .await;
    let st = running.status.clone().expect("status");
    let ip: Ipv4Addr = st.pod_ip.as_deref().expect("podIP").parse().expect("IPv4");
    let cidr: Ipv4Cidr = "10.244.1.0/24".parse().expect("cidr");
    assert!(cidr.contains(ip), "{ip} not in the node's range");
    assert_eq!(st.pod_ips.as_ref().expect("podIPs")[0].ip, ip.to_string());
    assert_eq!(st.host_ip.as_deref(), Some("198.18.0.2"));
    assert!(st.start_time.is_some());
    for t in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodScheduled",
    ] {
        assert_eq!(condition(&running, t).as_deref(), Some("True"), "{t}");
    }
    let cs = &st.container_statuses.as_ref().expect("containerStatuses")[0];
    assert!(cs.ready && cs.started == Some(true));
    assert!(cs.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
    assert!(cs
        .container_id
        .as_deref()
        .unwrap_or_default()
        .starts_with("simulated://"));
    assert_eq!(
        running.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("sim-node-1")
    );

    // Nothing changes afterwards, so nothing more is written.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sim.stats().pod_status_writes, 1, "{:?}", sim.stats());
    assert_eq!(sim.stats().pods_started, 1);

    // `kubectl get pods -o wide`'s IP and NODE columns come from these fields, via the Table.
    let table: Value = s
        .client
        .request(
            http::Request::get("/api/v1/namespaces/default/pods/web")
                .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
                .body(Vec::new())
                .expect("request"),
        )
        .await
        .expect("table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let cells = table["rows"][0]["cells"].as_array().expect("cells");
    let cell = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .map(|i| cells[i].clone())
    };
    assert_eq!(cell("IP"), Some(json!(ip.to_string())));
    assert_eq!(cell("Node"), Some(json!("sim-node-1")));
    assert_eq!(cell("Status"), Some(json!("Running")));

    // Graceful deletion: the DELETE answers with the pod marked, the node confirms it.
    let deleted = pods
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    let marked = deleted
        .left()
        .expect("DELETE returns the pod while it terminates");
    assert!(marked.metadata.deletion_timestamp.is_some());
    wait_for("pod removed", 10, || async {
        matches!(pods.get_opt("web").await, Ok(None)).then_some(())
    })
    .await;
    assert_eq!(sim.stats().pods_deleted, 1);

    // The address goes back to the range: a new pod can take it again eventually, and two
    // live pods never share one.
    for n in ["a", "b"] {
        pods.create(&PostParams::default(), &pod(n, json!({"spec": {"nodeName": "sim-node-1", "containers": [{"name": "c", "image": "busybox"}]}})))
            .await
            .expect("create");
    }
    let ips = wait_for("both pods running", 15, || async {
        let mut ips = Vec::new();
        for n in ["a", "b"] {
            let p = pods.get(n).await.ok()?;
            ips.push(p.status?.pod_ip?);
        }
        Some(ips)
    })
    .await;
    assert_ne!(ips[0], ips[1]);
}

#[tokio::test]
async fn readiness_gates_failure_and_completion() {
    let s = server().await;
    let _sim = start(s.client.clone(), config(1)).await.expect("simulator");
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), "default");
    let pp = PostParams::default();
    pods.create(&pp, &pod("gated", json!({"spec": {"nodeName": "sim-node-0", "readinessGates": [{"conditionType": "example.com/lb"}], "containers": [{"name": "c", "image": "nginx"}]}})))
        .await
        .expect("gated");
    pods.create(&pp, &pod("broken", json!({"metadata": {"name": "broken", "annotations": {"minato.dev/simulate-phase": "Failed"}}, "spec": {"nodeName": "sim-node-0", "containers": [{"name": "c", "image": "nginx"}]}})))
        .await
        .expect("broken");
    pods.create(&pp, &pod("job", json!({"metadata": {"name": "job", "annotations": {"minato.dev/simulate-exit-after": "1s"}}, "spec": {"nodeName": "sim-node-0", "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}})))
        .await
        .expect("job");

    let gated = wait_for("gated pod running", 15, || async {
        let p = pods.get("gated").await.ok()?;
        (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(p)
    })
    .await;
    assert_eq!(
        condition(&gated, "ContainersReady").as_deref(),
        Some("True")
    );
    assert_eq!(condition(&gated, "Ready").as_deref(), Some("False"));
    // Open the gate as a load-balancer controller would: the node then reports Ready.
    pods.patch_status(
        "gated",
        &PatchParams::default(),
        &Patch::Strategic(
            json!({"status": {"conditions": [{"type": "example.com/lb", "status": "True"}]}}),
        ),
    )
    .await
    .expect("set gate");
    wait_for("gated pod Ready", 10, || async {
        let p = pods.get("gated").await.ok()?;
        (condition(&p, "Ready").as_deref() == Some("True")).then_some(())
    })
    .await;
    let p = pods.get("gated").await.expect("gated");
    let types: Vec<String> = p
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.type_)
        .collect();
    assert_eq!(
        types[0], "example.com/lb",
        "others' conditions first: {types:?}"
    );

    wait_for("broken pod Failed", 15, || async {
        let p = pods.get("broken").await.ok()?;
        (p.status?.phase.as_deref() == Some("Failed")).then_some(())
    })
    .await;
    wait_for("job pod Succeeded", 15, || async {
        let p = pods.get("job").await.ok()?;
        (p.status?.phase.as_deref() == Some("Succeeded")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn stopped_node_stops_renewing_and_handling_pods() {
    let s = server().await;
    let sim = start(s.client.clone(), config(2)).await.expect("simulator");
    let leases: Api<Lease> = Api::namespaced(s.client.clone(), "kube-node-lease");
    // Let both renew at least once.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(sim.stop_node("sim-node-0"));
    assert!(!sim.stop_node("not-ours"));
    // A renewal already in flight may still land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dead_before = renew_time(&leases, "sim-node-0").await;
    let live_before = renew_time(&leases, "sim-node-1").await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        renew_time(&leases, "sim-node-0").await,
        dead_before,
        "stopped node renewed its lease"
    );
    assert!(
        renew_time(&leases, "sim-node-1").await > live_before,
        "live node stopped renewing"
    );

    // Pods bound to the dead node stay Pending; the live node still serves its own.
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), "default");
    let pp = PostParams::default();
    pods.create(&pp, &pod("orphan", json!({"spec": {"nodeName": "sim-node-0", "containers": [{"name": "c", "image": "nginx"}]}})))
        .await
        .expect("orphan");
    pods.create(&pp, &pod("served", json!({"spec": {"nodeName": "sim-node-1", "containers": [{"name": "c", "image": "nginx"}]}})))
        .await
        .expect("served");
    wait_for("served pod running", 15, || async {
        let p = pods.get("served").await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let orphan = pods.get("orphan").await.expect("orphan");
    assert_eq!(
        orphan.status.and_then(|s| s.phase).as_deref(),
        Some("Pending")
    );

    // Dropping the handle kills every node: no more renewals.
    drop(sim);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let last = renew_time(&leases, "sim-node-1").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(renew_time(&leases, "sim-node-1").await, last);
}
