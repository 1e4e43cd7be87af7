use super::*;
use k8s_openapi::api::core::v1::PodStatus;
use serde_json::json;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

fn pod(extra: Value) -> Pod {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-1"},
        "spec": {
            "nodeName": "sim-node-0",
            "restartPolicy": "Always",
            "containers": [
                {"name": "app", "image": "nginx:1.25",
                 "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true}],
                 "resources": {"requests": {"cpu": "100m"}}},
                {"name": "side", "image": "registry.example.com/team/side@sha256:abc"},
            ],
        },
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True",
                            "lastTransitionTime": "2023-11-14T22:13:00Z"}],
            "qosClass": "Burstable",
        },
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn ctx<'a>(now: Timestamp, since_seen: Duration) -> PodContext<'a> {
    PodContext {
        now,
        host_ip: "198.18.0.1",
        pod_ip: Some("10.244.0.2"),
        since_seen,
        since_deletion_seen: None,
        start_delay: Duration::from_secs(1),
        shutdown_delay: Duration::from_millis(500),
    }
}

/// Applies a status patch the way the server would for these tests (our fields replace).
fn apply(p: &Pod, patch: &Value) -> Pod {
    let mut v = serde_json::to_value(p).unwrap();
    let mut st = patch["status"].clone();
    st.as_object_mut()
        .unwrap()
        .remove("$setElementOrder/conditions");
    merge(&mut v["status"], st);
    serde_json::from_value(v).unwrap()
}

fn status_of(action: &PodAction) -> PodStatus {
    match action {
        PodAction::WriteStatus { patch, .. } => {
            serde_json::from_value(patch["status"].clone()).unwrap()
        }
        other => panic!("expected a status write, got {other:?}"),
    }
}

fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
    s.conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == t)
        .unwrap()
}

#[test]
fn waits_for_the_start_delay_then_runs() {
    let p = pod(json!({}));
    assert_eq!(
        next_action(&p, &ctx(ts(1_700_000_000), Duration::from_millis(300))),
        PodAction::Wait(Duration::from_millis(700))
    );
    let a = next_action(&p, &ctx(ts(1_700_000_000), Duration::from_secs(1)));
    let PodAction::WriteStatus {
        transition,
        patch,
        recheck,
    } = &a
    else {
        panic!("{a:?}")
    };
    assert_eq!(*transition, Transition::Started);
    assert_eq!(*recheck, None);
    assert_eq!(patch["metadata"]["uid"], "uid-1");
    let s = status_of(&a);
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.2"));
    assert_eq!(s.pod_ips.as_ref().unwrap()[0].ip, "10.244.0.2");
    assert_eq!(s.host_ip.as_deref(), Some("198.18.0.1"));
    assert_eq!(s.host_ips.as_ref().unwrap()[0].ip, "198.18.0.1");
    assert_eq!(s.start_time, Some(Time(ts(1_700_000_000))));
    // The kubelet's conditions, in its order, all True.
    let types: Vec<_> = s
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("PodReadyToStartContainers", "True"),
            ("Initialized", "True"),
            ("Ready", "True"),
            ("ContainersReady", "True"),
            ("PodScheduled", "True"),
        ]
    );
    // PodScheduled keeps the binding's time; the new ones transition now.
    assert_eq!(
        cond(&s, "PodScheduled").last_transition_time,
        Some(Time(ts(1_699_999_980)))
    );
    assert_eq!(
        cond(&s, "Ready").last_transition_time,
        Some(Time(ts(1_700_000_000)))
    );
    let order: Vec<_> = patch["status"]["$setElementOrder/conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(order[0], "PodReadyToStartContainers");

    let cs = s.container_statuses.as_ref().unwrap();
    assert_eq!(cs.len(), 2);
    let app = &cs[0];
    assert_eq!(app.name, "app");
    assert!(app.ready);
    assert_eq!(app.started, Some(true));
    assert_eq!(app.restart_count, 0);
    assert_eq!(app.image, "docker.io/library/nginx:1.25");
    assert!(app.image_id.starts_with("docker.io/library/nginx@sha256:"));
    assert!(app
        .container_id
        .as_deref()
        .unwrap()
        .starts_with("simulated://"));
    assert_eq!(
        app.state
            .as_ref()
            .unwrap()
            .running
            .as_ref()
            .unwrap()
            .started_at,
        Some(Time(ts(1_700_000_000)))
    );
    let vm = &app.volume_mounts.as_ref().unwrap()[0];
    assert_eq!(
        (
            vm.mount_path.as_str(),
            vm.read_only,
            vm.recursive_read_only.as_deref()
        ),
        ("/etc/cfg", Some(true), Some("Disabled"))
    );
    assert_eq!(
        app.resources.as_ref().unwrap().requests.as_ref().unwrap()["cpu"].0,
        "100m"
    );
    assert_eq!(cs[1].image, "registry.example.com/team/side@sha256:abc");
    assert_ne!(cs[0].container_id, cs[1].container_id);
}

#[test]
fn running_pod_needs_no_write_later() {
    let p = pod(json!({}));
    let a = next_action(&p, &ctx(ts(1_700_000_000), Duration::from_secs(2)));
    let PodAction::WriteStatus { patch, .. } = &a else {
        panic!()
    };
    let running = apply(&p, patch);
    // Much later, with the same world: nothing to write (times are kept).
    assert_eq!(
        next_action(&running, &ctx(ts(1_700_000_500), Duration::from_secs(502))),
        PodAction::Nothing
    );
    // A stale copy asks for the same write again, which the fingerprint recognizes.
    let again = next_action(&p, &ctx(ts(1_700_000_007), Duration::from_secs(9)));
    let PodAction::WriteStatus { patch: p2, .. } = &again else {
        panic!()
    };
    assert_ne!(patch, p2);
    assert_eq!(fingerprint(patch), fingerprint(p2));
}

#[test]
fn readiness_gates_hold_ready_until_true() {
    let p = pod(json!({"spec": {"readinessGates": [{"conditionType": "example.com/lb"}]}}));
    let a = next_action(&p, &ctx(ts(1_700_000_000), Duration::from_secs(2)));
    let s = status_of(&a);
    let ready = cond(&s, "Ready");
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason.as_deref(), Some("ReadinessGatesNotReady"));
    assert_eq!(
        ready.message.as_deref(),
        Some("corresponding condition of pod readiness gate \"example.com/lb\" does not exist.")
    );
    assert_eq!(cond(&s, "ContainersReady").status, "True");
    let PodAction::WriteStatus { patch, .. } = &a else {
        panic!()
    };
    let running = apply(&p, patch);

    // Someone sets the gate False: message changes.
    let mut v = serde_json::to_value(&running).unwrap();
    v["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "example.com/lb", "status": "False"}));
    let gated: Pod = serde_json::from_value(v.clone()).unwrap();
    let s = status_of(&next_action(
        &gated,
        &ctx(ts(1_700_000_010), Duration::from_secs(12)),
    ));
    assert_eq!(
        cond(&s, "Ready").message.as_deref(),
        Some("the status of pod readiness gate \"example.com/lb\" is not \"True\", but False")
    );
    // The foreign condition comes first and is kept.
    assert_eq!(s.conditions.as_ref().unwrap()[0].type_, "example.com/lb");

    // Gate True: Ready flips True with a new transition time.
    let conds = v["status"]["conditions"].as_array_mut().unwrap();
    conds.last_mut().unwrap()["status"] = json!("True");
    let open: Pod = serde_json::from_value(v).unwrap();
    let s = status_of(&next_action(
        &open,
        &ctx(ts(1_700_000_020), Duration::from_secs(22)),
    ));
    let ready = cond(&s, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("True", None)
    );
    assert_eq!(ready.last_transition_time, Some(Time(ts(1_700_000_020))));
    assert_eq!(
        cond(&s, "ContainersReady").last_transition_time,
        Some(Time(ts(1_700_000_000)))
    );
}

#[test]
fn init_containers_complete_and_sidecars_run() {
    let p = pod(json!({"spec": {"initContainers": [
        {"name": "setup", "image": "busybox"},
        {"name": "proxy", "image": "envoy", "restartPolicy": "Always"},
    ]}}));
    let s = status_of(&next_action(
        &p,
        &ctx(ts(1_700_000_000), Duration::from_secs(2)),
    ));
    let init = s.init_container_statuses.as_ref().unwrap();
    let setup = &init[0];
    let t = setup.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert!(setup.ready);
    assert_eq!(setup.started, Some(false));
    let proxy = &init[1];
    assert!(proxy.state.as_ref().unwrap().running.is_some());
    assert!(proxy.ready);
    assert_eq!(cond(&s, "Initialized").status, "True");
}

#[test]
fn host_network_pods_use_the_node_address() {
    let p = pod(json!({"spec": {"hostNetwork": true}}));
    let mut c = ctx(ts(1_700_000_000), Duration::from_secs(2));
    c.pod_ip = None;
    let s = status_of(&next_action(&p, &c));
    assert_eq!(s.pod_ip.as_deref(), Some("198.18.0.1"));
    // Without an address a normal pod cannot start.
    let q = pod(json!({}));
    assert_eq!(next_action(&q, &c), PodAction::NoAddress);
}

#[test]
fn simulated_failure_and_pending() {
    let p = pod(json!({"metadata": {"annotations": {"minato.dev/simulate-phase": "Failed"}}}));
    let a = next_action(&p, &ctx(ts(1_700_000_000), Duration::from_secs(2)));
    let PodAction::WriteStatus { transition, .. } = &a else {
        panic!()
    };
    assert_eq!(*transition, Transition::Completed);
    let s = status_of(&a);
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    let t = s.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (1, Some("Error")));
    assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodFailed"));
    assert_eq!(
        cond(&s, "ContainersReady").reason.as_deref(),
        Some("PodFailed")
    );
    assert_eq!(cond(&s, "PodReadyToStartContainers").status, "False");
    // Once terminal, nothing more.
    let PodAction::WriteStatus { patch, .. } = &a else {
        panic!()
    };
    assert_eq!(
        next_action(
            &apply(&p, patch),
            &ctx(ts(1_700_000_100), Duration::from_secs(100))
        ),
        PodAction::Nothing
    );

    let pending =
        pod(json!({"metadata": {"annotations": {"minato.dev/simulate-phase": "Pending"}}}));
    assert_eq!(
        next_action(&pending, &ctx(ts(1_700_000_000), Duration::from_secs(60))),
        PodAction::Nothing
    );
}

#[test]
fn exit_after_completes_never_pods() {
    let p = pod(json!({
        "metadata": {"annotations": {"minato.dev/simulate-exit-after": "5s"}},
        "spec": {"restartPolicy": "Never"},
    }));
    let a = next_action(&p, &ctx(ts(1_700_000_000), Duration::from_secs(2)));
    let PodAction::WriteStatus {
        patch,
        recheck,
        transition,
    } = &a
    else {
        panic!()
    };
    assert_eq!(*transition, Transition::Started);
    assert_eq!(*recheck, Some(Duration::from_secs(5)));
    let running = apply(&p, patch);
    assert_eq!(
        next_action(&running, &ctx(ts(1_700_000_003), Duration::from_secs(5))),
        PodAction::Wait(Duration::from_secs(2))
    );
    let done = next_action(&running, &ctx(ts(1_700_000_006), Duration::from_secs(8)));
    let s = status_of(&done);
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    let t = s.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(t.started_at, Some(Time(ts(1_700_000_000))));
    assert_eq!(t.finished_at, Some(Time(ts(1_700_000_006))));
    assert_eq!(
        cond(&s, "Initialized").reason.as_deref(),
        Some("PodCompleted")
    );
    assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodCompleted"));

    // Non-zero exit code: Failed.
    let mut v = serde_json::to_value(&running).unwrap();
    v["metadata"]["annotations"]["minato.dev/simulate-exit-code"] = json!("3");
    let failing: Pod = serde_json::from_value(v).unwrap();
    let s = status_of(&next_action(
        &failing,
        &ctx(ts(1_700_000_006), Duration::from_secs(8)),
    ));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(
        s.container_statuses.as_ref().unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        3
    );

    // restartPolicy Always ignores it.
    let always =
        pod(json!({"metadata": {"annotations": {"minato.dev/simulate-exit-after": "5s"}}}));
    let PodAction::WriteStatus { patch, recheck, .. } =
        next_action(&always, &ctx(ts(1_700_000_000), Duration::from_secs(2)))
    else {
        panic!()
    };
    assert_eq!(recheck, None);
    assert_eq!(
        next_action(
            &apply(&always, &patch),
            &ctx(ts(1_700_000_100), Duration::from_secs(100))
        ),
        PodAction::Nothing
    );
}

#[test]
fn deletion_waits_for_shutdown_then_deletes() {
    let p = pod(json!({}));
    let PodAction::WriteStatus { patch, .. } =
        next_action(&p, &ctx(ts(1_700_000_000), Duration::from_secs(2)))
    else {
        panic!()
    };
    let mut v = serde_json::to_value(apply(&p, &patch)).unwrap();
    v["metadata"]["deletionTimestamp"] = json!("2023-11-14T22:14:00Z");
    v["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    let deleting: Pod = serde_json::from_value(v.clone()).unwrap();
    let mut c = ctx(ts(1_700_000_030), Duration::from_secs(32));
    c.since_deletion_seen = Some(Duration::from_millis(200));
    assert_eq!(
        next_action(&deleting, &c),
        PodAction::Wait(Duration::from_millis(300))
    );
    c.since_deletion_seen = Some(Duration::from_millis(500));
    let PodAction::Delete {
        final_status: Some(fs),
    } = next_action(&deleting, &c)
    else {
        panic!()
    };
    let s: PodStatus = serde_json::from_value(fs["status"].clone()).unwrap();
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    assert!(s.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .terminated
        .is_some());

    // Grace 0 (force): no wait at all. A pod that never started is just deleted.
    v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    let forced: Pod = serde_json::from_value(v).unwrap();
    c.since_deletion_seen = Some(Duration::ZERO);
    assert!(matches!(next_action(&forced, &c), PodAction::Delete { .. }));
    let mut pending = serde_json::to_value(pod(json!({}))).unwrap();
    pending["metadata"]["deletionTimestamp"] = json!("2023-11-14T22:14:00Z");
    pending["metadata"]["deletionGracePeriodSeconds"] = json!(1);
    let pending: Pod = serde_json::from_value(pending).unwrap();
    c.since_deletion_seen = Some(Duration::from_secs(1));
    assert_eq!(
        next_action(&pending, &c),
        PodAction::Delete { final_status: None }
    );
}

#[test]
fn images_and_durations() {
    assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
    assert_eq!(
        normalize_image("nginx:1.25"),
        "docker.io/library/nginx:1.25"
    );
    assert_eq!(
        normalize_image("bitnami/redis"),
        "docker.io/bitnami/redis:latest"
    );
    assert_eq!(
        normalize_image("localhost:5000/x"),
        "localhost:5000/x:latest"
    );
    assert_eq!(normalize_image("quay.io/a/b:v1"), "quay.io/a/b:v1");
    assert_eq!(
        image_id("nginx:1.25").split('@').next(),
        Some("docker.io/library/nginx")
    );
    assert_eq!(
        image_id("localhost:5000/x").split('@').next(),
        Some("localhost:5000/x")
    );
    assert_eq!(
        image_id("nginx"),
        image_id("docker.io/library/nginx:latest")
    );
    assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("0"), Some(Duration::ZERO));
    assert_eq!(parse_duration("5"), None);
    assert_eq!(parse_duration("s"), None);
    assert_eq!(parse_duration(""), None);
}
