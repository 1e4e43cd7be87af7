//! End-to-end: the node lifecycle controller against a real minato API server, with a Node
//! and its Lease driven by the test in place of a kubelet.
//!
//! The server binary comes from `MINATO_BIN` (default `target/debug/minato` of this workspace); a
//! missing binary fails the test rather than skipping it.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Event, Node, NodeCondition, NodeSpec, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use minato_controllers::nodelifecycle::{
    run_node_lifecycle_controller_with, NodeLifecycleConfig, LEASE_NAMESPACE, MESSAGE_UNKNOWN,
    NO_EXECUTE, NO_SCHEDULE, REASON_UNKNOWN, TAINT_NOT_READY, TAINT_UNREACHABLE,
};
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
    let server = Server::start(&["--no-controllers", "--simulated-nodes", "0"]).await;
    server
}

/// Polls `f` every 100 ms for at most 30 s.
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

fn ready(status: &str, reason: &str) -> NodeCondition {
    NodeCondition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some("test kubelet".into()),
        last_heartbeat_time: Some(Time(Timestamp::now())),
        last_transition_time: Some(Time(Timestamp::now())),
    }
}

/// Creates a node and posts its Ready condition, as a kubelet registering would.
async fn register_node(nodes: &Api<Node>, name: &str, cond: NodeCondition, taints: Vec<Taint>) {
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            taints: (!taints.is_empty()).then_some(taints),
            ..Default::default()
        }),
        ..Default::default()
    };
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create node");
    post_condition(nodes, name, cond).await;
}

async fn post_condition(nodes: &Api<Node>, name: &str, cond: NodeCondition) {
    nodes
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [cond]}})),
        )
        .await
        .expect("post node status");
}

async fn renew(leases: &Api<Lease>, name: &str) {
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name.into()),
            lease_duration_seconds: Some(40),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..Default::default()
        }),
    };
    match leases.get_opt(name).await.expect("get lease") {
        None => {
            leases
                .create(&PostParams::default(), &lease)
                .await
                .expect("create lease");
        }
        Some(_) => {
            leases
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"renewTime": MicroTime(Timestamp::now())}})),
                )
                .await
                .expect("renew lease");
        }
    }
}

fn pod(name: &str, node: &str, tolerations: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "image": "nginx:1.25"}],
            "tolerations": tolerations,
        }
    }))
    .expect("pod")
}

fn default_tolerations(secs: i64) -> serde_json::Value {
    json!([
        {"key": TAINT_NOT_READY, "operator": "Exists", "effect": NO_EXECUTE, "tolerationSeconds": secs},
        {"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": NO_EXECUTE, "tolerationSeconds": secs},
    ])
}

fn taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
}

fn has_taint(node: &Node, key: &str, effect: &str) -> bool {
    taints(node)
        .iter()
        .any(|t| t.key == key && t.effect == effect)
}

fn ready_of(node: &Node) -> Option<NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .cloned()
}

async fn deleting(pods: &Api<Pod>, name: &str) -> bool {
    pods.get_opt(name)
        .await
        .expect("get pod")
        .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_node_is_tainted_and_its_pods_evicted_by_toleration() {
    let server = start().await;
    let client = server.client.clone();
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    register_node(&nodes, "n1", ready("True", "KubeletReady"), vec![]).await;
    renew(&leases, "n1").await;
    // A second node whose kubelet reports NotReady while its lease stays fresh, carrying a
    // NoExecute taint of its own (set by an operator; the controller must keep it).
    let maintenance = Taint {
        key: "example.com/maintenance".into(),
        effect: NO_EXECUTE.into(),
        value: None,
        time_added: None,
    };
    register_node(
        &nodes,
        "n2",
        ready("False", "KubeletNotReady"),
        vec![maintenance.clone()],
    )
    .await;
    renew(&leases, "n2").await;
    // A third node that stays healthy throughout: with every node down at once the controller
    // would enter master disruption mode and taint nothing NoExecute (tested apart).
    register_node(&nodes, "n3", ready("True", "KubeletReady"), vec![]).await;
    let keep_n3 = {
        let leases = leases.clone();
        tokio::spawn(async move {
            loop {
                renew(&leases, "n3").await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    // The server's DefaultTolerationSeconds admission gives every pod 300 s tolerations for
    // not-ready/unreachable, as upstream; "untolerated" does not tolerate the maintenance
    // taint, so it must go at once.
    for (name, node, tol) in [
        ("tolerates-300", "n1", default_tolerations(300)),
        ("tolerates-2", "n1", default_tolerations(2)),
        ("tolerates-0", "n1", default_tolerations(0)),
        ("untolerated", "n2", json!([])),
    ] {
        pods.create(&PostParams::default(), &pod(name, node, tol))
            .await
            .expect("create pod");
    }
    let admitted = pods.get("untolerated").await.unwrap();
    assert!(
        admitted
            .spec
            .unwrap()
            .tolerations
            .unwrap_or_default()
            .iter()
            .all(|t| t.key.as_deref() != Some("example.com/maintenance")),
        "untolerated pod unexpectedly tolerates the maintenance taint"
    );

    let cfg = NodeLifecycleConfig {
        monitor_period: Duration::from_millis(500),
        grace_period: Duration::from_secs(3),
        startup_grace_period: Duration::from_secs(3),
        ..Default::default()
    };
    let controller = tokio::spawn(run_node_lifecycle_controller_with(client.clone(), cfg));

    // Not-ready node: not-ready taints, and Ready=False is left as the kubelet posted it.
    wait_for("n2 not-ready taints", || async {
        let n = nodes.get("n2").await.unwrap();
        has_taint(&n, TAINT_NOT_READY, NO_EXECUTE) && has_taint(&n, TAINT_NOT_READY, NO_SCHEDULE)
    })
    .await;
    assert!(
        taints(&nodes.get("n2").await.unwrap()).contains(&maintenance),
        "operator taint lost"
    );
    wait_for("untolerated pod deleted", || deleting(&pods, "untolerated")).await;

    // Keep n1's lease fresh for longer than the grace period (its Ready heartbeat goes
    // stale meanwhile): it must stay Ready and untainted, its pods untouched.
    let healthy_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < healthy_until {
        renew(&leases, "n1").await;
        renew(&leases, "n2").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let n1 = nodes.get("n1").await.unwrap();
    assert_eq!(
        ready_of(&n1).unwrap().status,
        "True",
        "lease keeps n1 Ready"
    );
    assert!(
        taints(&n1).is_empty(),
        "healthy n1 tainted: {:?}",
        taints(&n1)
    );
    for name in ["tolerates-300", "tolerates-2", "tolerates-0"] {
        assert!(
            !deleting(&pods, name).await,
            "{name} deleted on a healthy node"
        );
    }
    let n2 = nodes.get("n2").await.unwrap();
    assert_eq!(ready_of(&n2).unwrap().status, "False");
    assert!(!has_taint(&n2, TAINT_UNREACHABLE, NO_EXECUTE));

    // n1's lease stops: Ready → Unknown and the unreachable taints.
    wait_for("n1 Ready=Unknown with unreachable taints", || async {
        let n = nodes.get("n1").await.unwrap();
        ready_of(&n).is_some_and(|c| c.status == "Unknown")
            && has_taint(&n, TAINT_UNREACHABLE, NO_EXECUTE)
            && has_taint(&n, TAINT_UNREACHABLE, NO_SCHEDULE)
    })
    .await;
    let n1 = nodes.get("n1").await.unwrap();
    let cond = ready_of(&n1).unwrap();
    assert_eq!(cond.reason.as_deref(), Some(REASON_UNKNOWN));
    assert_eq!(cond.message.as_deref(), Some(MESSAGE_UNKNOWN));
    let taint = taints(&n1)
        .into_iter()
        .find(|t| t.key == TAINT_UNREACHABLE && t.effect == NO_EXECUTE)
        .unwrap();
    let added = taint.time_added.expect("NoExecute taint has timeAdded").0;

    wait_for("0 s pod deleted", || deleting(&pods, "tolerates-0")).await;
    wait_for("2 s pod deleted", || deleting(&pods, "tolerates-2")).await;
    // It was deleted no earlier than two seconds after the taint (timestamps are whole
    // seconds: allow one second of truncation).
    let p2 = pods
        .get("tolerates-2")
        .await
        .expect("pod stays Terminating");
    let grace = p2.metadata.deletion_grace_period_seconds.unwrap_or(0);
    let deleted_at = p2.metadata.deletion_timestamp.unwrap().0 - SignedDuration::from_secs(grace);
    assert!(
        deleted_at >= added + SignedDuration::from_secs(1),
        "tolerates-2 deleted at {deleted_at}, taint added at {added}"
    );
    // Graceful: with no kubelet to confirm, the pods stay Terminating.
    assert!(pods.get_opt("tolerates-0").await.unwrap().is_some());
    assert!(pods.get_opt("untolerated").await.unwrap().is_some());
    assert!(
        !deleting(&pods, "tolerates-300").await,
        "a pod tolerating 300 s was deleted"
    );

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    wait_for("TaintManagerEviction and NodeNotReady events", || async {
        let evs = events.list(&ListParams::default()).await.unwrap().items;
        let eviction = evs.iter().any(|e| {
            e.reason.as_deref() == Some("TaintManagerEviction")
                && e.message.as_deref() == Some("Marking for deletion Pod default/untolerated")
        });
        let not_ready = evs.iter().any(|e| {
            e.reason.as_deref() == Some("NodeNotReady")
                && e.involved_object.name.as_deref() == Some("n1")
                && e.message.as_deref() == Some("Node n1 status is now: NodeNotReady")
        });
        eviction && not_ready
    })
    .await;

    // The kubelet comes back: the taints go, the 300 s pod stays.
    renew(&leases, "n1").await;
    post_condition(&nodes, "n1", ready("True", "KubeletReady")).await;
    let back_until = Instant::now() + Duration::from_secs(30);
    loop {
        renew(&leases, "n1").await;
        let n = nodes.get("n1").await.unwrap();
        if !has_taint(&n, TAINT_UNREACHABLE, NO_EXECUTE)
            && !has_taint(&n, TAINT_UNREACHABLE, NO_SCHEDULE)
        {
            assert_eq!(ready_of(&n).unwrap().status, "True");
            break;
        }
        assert!(
            Instant::now() < back_until,
            "unreachable taints not removed after recovery: {:?}",
            taints(&n)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!deleting(&pods, "tolerates-300").await);
    assert!(!controller.is_finished(), "controller ended early");
    controller.abort();
    keep_n3.abort();
}

fn no_execute_added(node: &Node) -> Option<Timestamp> {
    taints(node)
        .into_iter()
        .find(|t| t.key == TAINT_UNREACHABLE && t.effect == NO_EXECUTE)
        .and_then(|t| t.time_added.map(|t| t.0))
}

/// NoExecute taints go on at the zone's rate, and a small zone with more than two nodes and
/// over 55% of them down stops tainting NoExecute (its pods stay) until it recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_taint_at_their_rate_and_stop_when_partially_disrupted() {
    let server = start().await;
    let client = server.client.clone();
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let names = ["z1", "z2", "z3", "z4", "z5"];
    for n in names {
        register_node(&nodes, n, ready("True", "KubeletReady"), vec![]).await;
        renew(&leases, n).await;
    }
    // The test plays the kubelets: the nodes in `alive` renew their leases.
    let alive = std::sync::Arc::new(std::sync::Mutex::new(names.to_vec()));
    let heartbeats = {
        let (leases, alive) = (leases.clone(), alive.clone());
        tokio::spawn(async move {
            loop {
                let now: Vec<&str> = alive.lock().unwrap().clone();
                for n in now {
                    renew(&leases, n).await;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    let cfg = NodeLifecycleConfig {
        monitor_period: Duration::from_millis(300),
        grace_period: Duration::from_secs(3),
        startup_grace_period: Duration::from_secs(3),
        eviction_rate: 0.5,
        ..Default::default()
    };
    let controller = tokio::spawn(run_node_lifecycle_controller_with(client.clone(), cfg));
    let stop = |n: &str| alive.lock().unwrap().retain(|a| *a != n);

    // Two of five down: a normal zone, tainted one node per 2 s.
    stop("z1");
    stop("z2");
    wait_for("z1 and z2 NoExecute", || async {
        let (a, b) = (
            nodes.get("z1").await.unwrap(),
            nodes.get("z2").await.unwrap(),
        );
        no_execute_added(&a).is_some() && no_execute_added(&b).is_some()
    })
    .await;
    let a = no_execute_added(&nodes.get("z1").await.unwrap()).unwrap();
    let b = no_execute_added(&nodes.get("z2").await.unwrap()).unwrap();
    let apart = a.duration_since(b).abs();
    assert!(
        apart >= SignedDuration::from_secs(1),
        "tainted {apart:?} apart, not one per 2 s"
    );

    // Three of five down: partial disruption in a small zone, no more NoExecute taints.
    stop("z3");
    wait_for("z3 unreachable (NoSchedule)", || async {
        has_taint(
            &nodes.get("z3").await.unwrap(),
            TAINT_UNREACHABLE,
            NO_SCHEDULE,
        )
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !has_taint(
            &nodes.get("z3").await.unwrap(),
            TAINT_UNREACHABLE,
            NO_EXECUTE
        ),
        "a partially disrupted small zone tainted NoExecute"
    );

    // z1 is back: two of five down again, and z3 gets its NoExecute taint.
    alive.lock().unwrap().push("z1");
    post_condition(&nodes, "z1", ready("True", "KubeletReady")).await;
    wait_for("z3 NoExecute once the zone recovered", || async {
        has_taint(
            &nodes.get("z3").await.unwrap(),
            TAINT_UNREACHABLE,
            NO_EXECUTE,
        )
    })
    .await;
    controller.abort();
    heartbeats.abort();
}
