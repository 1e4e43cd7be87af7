//! Built-in kinds: cells exactly as upstream's v1.33 server prints them.

use chrono::{DateTime, Utc};
use minato_printers::{cells, columns, has_printer, row_conditions};
use serde_json::{json, Value};

fn now() -> DateTime<Utc> {
    "2026-11-22T12:16:05Z".parse().unwrap()
}

/// An RFC 3339 time `secs` seconds before now().
fn ago(secs: i64) -> String {
    (now() - chrono::TimeDelta::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn check(group: &str, kind: &str, obj: &Value, want: Value) {
    let got = cells(group, kind, obj, now());
    assert_eq!(Value::Array(got.clone()), want, "{group}/{kind}");
    assert_eq!(
        got.len(),
        columns(group, kind).len(),
        "cell count of {kind}"
    );
}

fn names(group: &str, kind: &str) -> Vec<(String, i32)> {
    columns(group, kind)
        .into_iter()
        .map(|c| (c.name, c.priority))
        .collect()
}

fn col_names(group: &str, kind: &str, priority: i32) -> Vec<String> {
    names(group, kind)
        .into_iter()
        .filter(|(_, p)| *p == priority)
        .map(|(n, _)| n)
        .collect()
}

// ---------------------------------------------------------------- Pod

/// The Pod from upstream-reference/pod-web-app.json (trimmed to the fields
/// the printer reads).
fn reference_pod() -> Value {
    serde_json::from_str(REFERENCE_POD).unwrap()
}

const REFERENCE_POD: &str = r#"{
 "apiVersion": "v1",
 "kind": "Pod",
 "metadata": {
  "annotations": {
   "prometheus.io/path": "/metrics",
   "prometheus.io/port": "9090",
   "prometheus.io/scrape": "true"
  },
  "creationTimestamp": "2026-11-22T12:15:47Z",
  "generateName": "web-app-666b84bc99-",
  "labels": {
   "app": "web",
   "pod-template-hash": "666b84bc99",
   "version": "v1"
  },
  "name": "web-app-666b84bc99-4fsdc",
  "namespace": "parallel-poc",
  "ownerReferences": [
   {
    "apiVersion": "apps/v1",
    "blockOwnerDeletion": true,
    "controller": true,
    "kind": "ReplicaSet",
    "name": "web-app-666b84bc99",
    "uid": "a660d06e-f1ec-4bb3-9f81-198f6f7a6993"
   }
  ],
  "resourceVersion": "609",
  "uid": "e77b4684-2a67-4d60-923a-4ba945cbaac0"
 },
 "spec": {
  "containers": [
   {
    "image": "webapp:v1.0",
    "name": "web",
    "ports": [
     {
      "containerPort": 8080,
      "name": "http",
      "protocol": "TCP"
     },
     {
      "containerPort": 9090,
      "name": "metrics",
      "protocol": "TCP"
     }
    ]
   }
  ],
  "priority": 0,
  "schedulerName": "default-scheduler"
 },
 "status": {
  "conditions": [
   {
    "lastProbeTime": null,
    "lastTransitionTime": "2026-11-22T12:15:47Z",
    "message": "no nodes available to schedule pods",
    "reason": "Unschedulable",
    "status": "False",
    "type": "PodScheduled"
   }
  ],
  "phase": "Pending",
  "qosClass": "Burstable"
 }
}"#;

#[test]
fn pod_columns_match_upstream() {
    assert_eq!(
        col_names("", "Pod", 0),
        ["Name", "Ready", "Status", "Restarts", "Age"]
    );
    assert_eq!(
        col_names("", "Pod", 1),
        ["IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    let cols = columns("", "Pod");
    assert_eq!(cols[0].format, "name");
    assert_eq!(cols[3].type_, "string");
}

#[test]
fn pending_pod_from_reference() {
    // get-all-and-events.txt: web-app pods, Pending, 18s after creation.
    check(
        "",
        "Pod",
        &reference_pod(),
        json!([
            "web-app-666b84bc99-4fsdc",
            "0/1",
            "Pending",
            "0",
            "18s",
            "<none>",
            "<none>",
            "<none>",
            "<none>"
        ]),
    );
}

fn pod(spec: Value, status: Value) -> Value {
    json!({"metadata": {"name": "p", "creationTimestamp": ago(3600)},
           "spec": spec, "status": status})
}

fn one_container() -> Value {
    json!({"containers": [{"name": "app", "image": "nginx"}]})
}

fn status_of(spec: Value, status: Value) -> (String, String, String) {
    let c = cells("", "Pod", &pod(spec, status), now());
    (
        c[1].as_str().unwrap().to_string(),
        c[2].as_str().unwrap().to_string(),
        c[3].as_str().unwrap().to_string(),
    )
}

#[test]
fn running_pod_with_restarts_and_wide_fields() {
    let p = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(3 * 3600 + 125)},
        "spec": {"nodeName": "node-1",
                 "containers": [{"name": "a"}, {"name": "b"}],
                 "readinessGates": [{"conditionType": "example.com/ready"}, {"conditionType": "other"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.244.1.7",
            "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00::7"}],
            "nominatedNodeName": "node-2",
            "conditions": [{"type": "Ready", "status": "True"},
                           {"type": "example.com/ready", "status": "True"}],
            "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(300)}}},
                {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
            ]
        }
    });
    check(
        "",
        "Pod",
        &p,
        json!([
            "web",
            "2/2",
            "Running",
            "2 (5m ago)",
            "3h2m",
            "10.244.1.7",
            "node-1",
            "node-2",
            "1/2"
        ]),
    );
}

#[test]
fn pod_ip_falls_back_to_pod_ip_field() {
    let p = pod(
        one_container(),
        json!({"phase": "Running", "podIP": "10.0.0.9"}),
    );
    assert_eq!(cells("", "Pod", &p, now())[5], json!("10.0.0.9"));
}

#[test]
fn pod_status_reasons() {
    let init = json!({"initContainers": [{"name": "init"}],
                      "containers": [{"name": "app"}]});
    let cases: Vec<(Value, Value, &str, &str)> = vec![
        // Scheduling gate overrides Pending.
        (
            one_container(),
            json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
            "0/1",
            "SchedulingGated",
        ),
        // Init container still running.
        (
            init.clone(),
            json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "init", "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
            "0/1",
            "Init:0/1",
        ),
        // Init container failed with a reason.
        (
            init.clone(),
            json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
            "0/1",
            "Init:Error",
        ),
        // Init container failed without a reason.
        (
            init.clone(),
            json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 3}}}]}),
            "0/1",
            "Init:ExitCode:3",
        ),
        (
            init.clone(),
            json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 1, "signal": 9}}}]}),
            "0/1",
            "Init:Signal:9",
        ),
        (
            init.clone(),
            json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "init", "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
            "0/1",
            "Init:CrashLoopBackOff",
        ),
        // Init done; the app container's waiting reason shows.
        (
            init.clone(),
            json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
            "0/1",
            "ContainerCreating",
        ),
        (
            one_container(),
            json!({"phase": "Pending",
            "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ErrImagePull"}}}]}),
            "0/1",
            "ErrImagePull",
        ),
        (
            one_container(),
            json!({"phase": "Running",
            "containerStatuses": [{"name": "app", "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
            "0/1",
            "CrashLoopBackOff",
        ),
        (
            one_container(),
            json!({"phase": "Succeeded",
            "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
            "0/1",
            "Completed",
        ),
        (
            one_container(),
            json!({"phase": "Failed",
            "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 137}}}]}),
            "0/1",
            "ExitCode:137",
        ),
        (
            one_container(),
            json!({"phase": "Failed",
            "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0, "signal": 15}}}]}),
            "0/1",
            "Signal:15",
        ),
        (
            one_container(),
            json!({"phase": "Failed", "reason": "Evicted"}),
            "0/1",
            "Evicted",
        ),
        (
            one_container(),
            json!({"phase": "Running", "reason": "NodeLost"}),
            "0/1",
            "NodeLost",
        ),
    ];
    for (spec, status, ready, want) in cases {
        let (r, s, _) = status_of(spec, status.clone());
        assert_eq!((r.as_str(), s.as_str()), (ready, want), "status {status}");
    }
}

#[test]
fn pod_completed_container_while_others_run() {
    let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
    let statuses = json!([
        {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "b", "ready": true, "state": {"running": {}}}
    ]);
    let ready = json!({"phase": "Running", "containerStatuses": statuses,
                       "conditions": [{"type": "Ready", "status": "True"}]});
    assert_eq!(status_of(spec.clone(), ready).1, "Running");
    let not_ready = json!({"phase": "Running", "containerStatuses": statuses});
    assert_eq!(status_of(spec, not_ready).1, "NotReady");
}

#[test]
fn pod_sidecars_count_as_containers() {
    let spec = json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
                      "containers": [{"name": "app"}]});
    let status = json!({"phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}],
        "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1,
            "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(90)}}}],
        "containerStatuses": [{"name": "app", "ready": true, "restartCount": 2, "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 2, "finishedAt": ago(600)}}}]});
    let (ready, reason, restarts) = status_of(spec, status);
    assert_eq!(
        (ready.as_str(), reason.as_str(), restarts.as_str()),
        ("2/2", "Running", "3 (90s ago)")
    );
}

#[test]
fn pod_deletion() {
    let mut p = pod(
        one_container(),
        json!({"phase": "Running",
        "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {}}}]}),
    );
    p["metadata"]["deletionTimestamp"] = json!(ago(5));
    assert_eq!(cells("", "Pod", &p, now())[2], json!("Terminating"));
    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(cells("", "Pod", &p, now())[2], json!("Unknown"));
    // A finished pod being deleted keeps its final status.
    let mut done = pod(
        one_container(),
        json!({"phase": "Succeeded",
        "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    done["metadata"]["deletionTimestamp"] = json!(ago(5));
    assert_eq!(cells("", "Pod", &done, now())[2], json!("Completed"));
    assert_eq!(
        row_conditions("", "Pod", &done)[0]["reason"],
        json!("Succeeded")
    );
    assert!(row_conditions("", "Pod", &p).is_empty());
}

#[test]
fn pod_restarts_without_termination_time() {
    let (_, _, restarts) = status_of(
        one_container(),
        json!({"phase": "Running",
        "containerStatuses": [{"name": "app", "restartCount": 7, "state": {"running": {}}}]}),
    );
    assert_eq!(restarts, "7");
}

// ---------------------------------------------------------------- Workloads

fn pod_template(container: &str, image: &str) -> Value {
    json!({"metadata": {"labels": {"app": container}},
           "spec": {"containers": [{"name": container, "image": image}]}})
}

#[test]
fn deployment_from_reference() {
    assert_eq!(
        col_names("apps", "Deployment", 0),
        ["Name", "Ready", "Up-to-date", "Available", "Age"]
    );
    assert_eq!(
        col_names("apps", "Deployment", 1),
        ["Containers", "Images", "Selector"]
    );
    let d = json!({
        "metadata": {"name": "background-worker", "namespace": "default", "creationTimestamp": ago(21)},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "background-worker"}},
                 "template": pod_template("worker", "python:3.11-slim")},
        "status": {"replicas": 2, "updatedReplicas": 2, "unavailableReplicas": 2}
    });
    check(
        "apps",
        "Deployment",
        &d,
        json!([
            "background-worker",
            "0/2",
            2,
            0,
            "21s",
            "worker",
            "python:3.11-slim",
            "app=background-worker"
        ]),
    );
    // Two containers, expressions, and an omitted replica count (defaults to 1).
    let d = json!({
        "metadata": {"name": "multi", "creationTimestamp": ago(3 * 86400)},
        "spec": {"selector": {"matchLabels": {"app": "m"},
                              "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]},
                 "template": {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}]}}},
        "status": {"readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    });
    check(
        "apps",
        "Deployment",
        &d,
        json!([
            "multi",
            "1/1",
            1,
            1,
            "3d",
            "a,b",
            "x:1,y:2",
            "app=m,tier in (api,web)"
        ]),
    );
}

#[test]
fn replica_set_from_reference() {
    let rs = json!({
        "metadata": {"name": "myapp-8f58c576", "creationTimestamp": ago(16)},
        "spec": {"replicas": 3,
                 "selector": {"matchLabels": {"app": "myapp", "pod-template-hash": "8f58c576"}},
                 "template": pod_template("app", "ghcr.io/myorg/myapp:abc1234")},
        "status": {"replicas": 0}
    });
    check(
        "apps",
        "ReplicaSet",
        &rs,
        json!([
            "myapp-8f58c576",
            3,
            0,
            0,
            "16s",
            "app",
            "ghcr.io/myorg/myapp:abc1234",
            "app=myapp,pod-template-hash=8f58c576"
        ]),
    );
}

#[test]
fn stateful_set_and_daemon_set() {
    let sts = json!({"metadata": {"name": "db", "creationTimestamp": ago(600)},
        "spec": {"replicas": 3, "template": pod_template("pg", "postgres:15")},
        "status": {"readyReplicas": 2}});
    check(
        "apps",
        "StatefulSet",
        &sts,
        json!(["db", "2/3", "10m", "pg", "postgres:15"]),
    );

    let ds = json!({"metadata": {"name": "proxy", "creationTimestamp": ago(8 * 86400)},
        "spec": {"selector": {"matchLabels": {"k8s-app": "proxy"}},
                 "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                                       "containers": [{"name": "p", "image": "proxy:1"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                   "updatedNumberScheduled": 3, "numberAvailable": 2}});
    check(
        "apps",
        "DaemonSet",
        &ds,
        json!([
            "proxy",
            3,
            3,
            2,
            3,
            2,
            "kubernetes.io/os=linux",
            "8d",
            "p",
            "proxy:1",
            "k8s-app=proxy"
        ]),
    );
}

#[test]
fn jobs() {
    assert_eq!(
        col_names("batch", "Job", 0),
        ["Name", "Status", "Completions", "Duration", "Age"]
    );
    let done = json!({"metadata": {"name": "pi", "creationTimestamp": ago(400)},
        "spec": {"completions": 1, "parallelism": 1,
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
                 "template": pod_template("pi", "perl:5.34")},
        "status": {"succeeded": 1, "startTime": ago(400), "completionTime": ago(362),
                   "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                  {"type": "Complete", "status": "True"}]}});
    check(
        "batch",
        "Job",
        &done,
        json!([
            "pi",
            "Complete",
            "1/1",
            "38s",
            "6m40s",
            "pi",
            "perl:5.34",
            "batch.kubernetes.io/controller-uid=abc"
        ]),
    );

    let running = json!({"metadata": {"name": "work", "creationTimestamp": ago(200)},
        "spec": {"parallelism": 3, "template": pod_template("w", "busybox")},
        "status": {"startTime": ago(130), "active": 3}});
    let c = cells("batch", "Job", &running, now());
    assert_eq!(
        &c[1..5],
        &[
            json!("Running"),
            json!("0/1 of 3"),
            json!("2m10s"),
            json!("3m20s")
        ]
    );

    let status = |conds: Value| {
        let j = json!({"metadata": {"name": "j"}, "status": {"conditions": conds}});
        cells("batch", "Job", &j, now())[1].clone()
    };
    assert_eq!(
        status(json!([{"type": "Failed", "status": "True"}])),
        json!("Failed")
    );
    assert_eq!(
        status(json!([{"type": "Suspended", "status": "True"}])),
        json!("Suspended")
    );
    assert_eq!(
        status(json!([{"type": "FailureTarget", "status": "True"}])),
        json!("FailureTarget")
    );
    assert_eq!(
        status(json!([{"type": "Complete", "status": "False"}])),
        json!("Running")
    );
    let not_started = json!({"metadata": {"name": "j"}, "spec": {"completions": 5}});
    assert_eq!(
        &cells("batch", "Job", &not_started, now())[2..4],
        &[json!("0/5"), json!("")]
    );
}

#[test]
fn cron_job_from_reference() {
    assert_eq!(
        col_names("batch", "CronJob", 0),
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age"
        ]
    );
    let cj = json!({"metadata": {"name": "data-processor", "creationTimestamp": ago(21)},
        "spec": {"schedule": "*/5 * * * *", "suspend": false,
                 "jobTemplate": {"spec": {"template": pod_template("processor", "python:3.11-slim")}}}});
    check(
        "batch",
        "CronJob",
        &cj,
        json!([
            "data-processor",
            "*/5 * * * *",
            "<none>",
            "False",
            0,
            "<none>",
            "21s",
            "processor",
            "python:3.11-slim",
            "<none>"
        ]),
    );
    let cj = json!({"metadata": {"name": "nightly", "creationTimestamp": ago(86400 * 30)},
        "spec": {"schedule": "0 2 * * *", "timeZone": "Europe/Paris", "suspend": true,
                 "jobTemplate": {"spec": {"template": pod_template("n", "n:1")}}},
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(3600 * 10)}});
    let c = cells("batch", "CronJob", &cj, now());
    assert_eq!(
        &c[1..7],
        &[
            json!("0 2 * * *"),
            json!("Europe/Paris"),
            json!("True"),
            json!(1),
            json!("10h"),
            json!("30d")
        ]
    );
}

#[test]
fn hpa_targets() {
    let hpa = |metrics: Value, current: Value| {
        json!({
            "metadata": {"name": "h", "creationTimestamp": ago(16)},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "myapp", "apiVersion": "apps/v1"},
                     "minReplicas": 3, "maxReplicas": 10, "metrics": metrics},
            "status": {"currentReplicas": 3, "currentMetrics": current}
        })
    };
    let cpu = json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 70}}});
    let mem = json!({"type": "Resource", "resource": {"name": "memory",
        "target": {"type": "Utilization", "averageUtilization": 80}}});
    check(
        "autoscaling",
        "HorizontalPodAutoscaler",
        &hpa(json!([cpu, mem]), Value::Null),
        json!([
            "h",
            "Deployment/myapp",
            "cpu: <unknown>/70%, memory: <unknown>/80%",
            "3",
            10,
            3,
            "16s"
        ]),
    );

    let pods = json!({"type": "Pods", "pods": {"metric": {"name": "rps"},
        "target": {"type": "AverageValue", "averageValue": "1000m"}}});
    let c = cells(
        "autoscaling",
        "HorizontalPodAutoscaler",
        &hpa(json!([cpu, mem, pods]), Value::Null),
        now(),
    );
    assert_eq!(
        c[2],
        json!("cpu: <unknown>/70%, memory: <unknown>/80% + 1 more...")
    );

    let current = json!([{"type": "Resource", "resource": {"name": "cpu",
        "current": {"averageUtilization": 45, "averageValue": "120m"}}},
        {"type": "Pods", "pods": {"current": {"averageValue": "1500m"}}}]);
    let c = cells(
        "autoscaling",
        "HorizontalPodAutoscaler",
        &hpa(json!([cpu, pods]), current),
        now(),
    );
    assert_eq!(c[2], json!("cpu: 45%/70%, 1500m/1"));

    let value_metrics = json!([
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1024Mi"}}},
        {"type": "External", "external": {"target": {"type": "Value", "value": "10"}}}]);
    let c = cells(
        "autoscaling",
        "HorizontalPodAutoscaler",
        &hpa(value_metrics, Value::Null),
        now(),
    );
    assert_eq!(c[2], json!("memory: <unknown>/1Gi, <unknown>/10"));

    let c = cells(
        "autoscaling",
        "HorizontalPodAutoscaler",
        &hpa(json!([]), Value::Null),
        now(),
    );
    assert_eq!(c[2], json!("<none>"));

    // autoscaling/v1 shape.
    let v1 = json!({"metadata": {"name": "old"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
                 "targetCPUUtilizationPercentage": 50},
        "status": {"currentReplicas": 1, "currentCPUUtilizationPercentage": 12}});
    let c = cells("autoscaling", "HorizontalPodAutoscaler", &v1, now());
    assert_eq!(
        &c[2..6],
        &[json!("cpu: 12%/50%"), json!("1"), json!(5), json!(1)]
    );
}

#[test]
fn pdb() {
    let p = json!({"metadata": {"name": "myapp", "creationTimestamp": ago(17)},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "myapp"}}},
        "status": {"disruptionsAllowed": 0}});
    check(
        "policy",
        "PodDisruptionBudget",
        &p,
        json!(["myapp", "2", "N/A", 0, "17s"]),
    );
    let p = json!({"metadata": {"name": "pct"}, "spec": {"maxUnavailable": "25%"},
        "status": {"disruptionsAllowed": 1}});
    assert_eq!(
        &cells("policy", "PodDisruptionBudget", &p, now())[1..4],
        &[json!("N/A"), json!("25%"), json!(1)]
    );
}

#[test]
fn controller_revision() {
    let cr = json!({"metadata": {"name": "web-7d9c", "creationTimestamp": ago(60),
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]},
        "revision": 3});
    check(
        "apps",
        "ControllerRevision",
        &cr,
        json!(["web-7d9c", "statefulset.apps/web", 3, "60s"]),
    );
}

// ---------------------------------------------------------------- Core

#[test]
fn services_from_reference() {
    let svc = |name: &str, spec: Value, status: Value| {
        json!({
        "metadata": {"name": name, "creationTimestamp": ago(22)}, "spec": spec, "status": status})
    };
    check(
        "",
        "Service",
        &svc(
            "flask-service",
            json!({"type": "LoadBalancer", "clusterIP": "10.105.27.18",
            "clusterIPs": ["10.105.27.18"], "selector": {"app": "flask-app"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 5000, "nodePort": 31133}]}),
            json!({"loadBalancer": {}}),
        ),
        json!([
            "flask-service",
            "LoadBalancer",
            "10.105.27.18",
            "<pending>",
            "80:31133/TCP",
            "22s",
            "app=flask-app"
        ]),
    );
    check(
        "",
        "Service",
        &svc(
            "kubernetes",
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}),
            json!({}),
        ),
        json!([
            "kubernetes",
            "ClusterIP",
            "10.96.0.1",
            "<none>",
            "443/TCP",
            "22s",
            "<none>"
        ]),
    );
    check(
        "",
        "Service",
        &svc(
            "nginx-proxy-service",
            json!({"type": "LoadBalancer", "clusterIPs": ["10.108.201.135"],
            "selector": {"app": "nginx-proxy"},
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30671},
                      {"port": 443, "protocol": "TCP", "nodePort": 31338}]}),
            json!({}),
        ),
        json!([
            "nginx-proxy-service",
            "LoadBalancer",
            "10.108.201.135",
            "<pending>",
            "80:30671/TCP,443:31338/TCP",
            "22s",
            "app=nginx-proxy"
        ]),
    );
    check(
        "",
        "Service",
        &svc(
            "web-app-headless",
            json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
            "selector": {"app": "web"}, "ports": [{"port": 8080, "protocol": "TCP"}]}),
            json!({}),
        ),
        json!([
            "web-app-headless",
            "ClusterIP",
            "None",
            "<none>",
            "8080/TCP",
            "22s",
            "app=web"
        ]),
    );
    // External name, LB with ingress, external IPs, no ports.
    let ext = svc(
        "db",
        json!({"type": "ExternalName", "externalName": "db.example.com"}),
        json!({}),
    );
    assert_eq!(
        &cells("", "Service", &ext, now())[1..5],
        &[
            json!("ExternalName"),
            json!("<none>"),
            json!("db.example.com"),
            json!("<none>")
        ]
    );
    let lb = svc(
        "lb",
        json!({"type": "LoadBalancer", "clusterIPs": ["10.0.0.5"], "externalIPs": ["1.2.3.4"],
        "ports": [{"port": 53, "protocol": "UDP", "nodePort": 30053}]}),
        json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.9"}]}}),
    );
    assert_eq!(
        &cells("", "Service", &lb, now())[3..5],
        &[
            json!("203.0.113.9,lb.example.com,1.2.3.4"),
            json!("53:30053/UDP")
        ]
    );
    let np = svc(
        "np",
        json!({"type": "NodePort", "clusterIPs": ["10.0.0.6"], "externalIPs": ["5.6.7.8", "9.9.9.9"],
        "ports": [{"port": 80, "nodePort": 30080}]}),
        json!({}),
    );
    assert_eq!(
        &cells("", "Service", &np, now())[3..5],
        &[json!("5.6.7.8,9.9.9.9"), json!("80:30080/TCP")]
    );
}

#[test]
fn nodes() {
    assert_eq!(
        col_names("", "Node", 0),
        ["Name", "Status", "Roles", "Age", "Version"]
    );
    let n = json!({
        "metadata": {"name": "node-1", "creationTimestamp": ago(9 * 86400),
                     "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "",
                                "kubernetes.io/hostname": "node-1"}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "node-1"}],
                   "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.6.20"}}
    });
    check(
        "",
        "Node",
        &n,
        json!([
            "node-1",
            "Ready,SchedulingDisabled",
            "control-plane,etcd",
            "9d",
            "v1.33.1",
            "192.168.1.10",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.1.0-18-amd64",
            "containerd://1.6.20"
        ]),
    );
    let n = json!({"metadata": {"name": "w", "labels": {"kubernetes.io/role": "worker"}},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}],
                   "addresses": [{"type": "ExternalIP", "address": "203.0.113.4"}]}});
    let c = cells("", "Node", &n, now());
    assert_eq!(
        &c[1..10],
        &[
            json!("NotReady"),
            json!("worker"),
            json!("<unknown>"),
            json!(""),
            json!("<none>"),
            json!("203.0.113.4"),
            json!("<unknown>"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );
    let n = json!({"metadata": {"name": "new"}});
    assert_eq!(
        &cells("", "Node", &n, now())[1..3],
        &[json!("Unknown"), json!("<none>")]
    );
}

#[test]
fn events_from_reference() {
    assert_eq!(
        col_names("", "Event", 0),
        ["Last Seen", "Type", "Reason", "Object", "Message"]
    );
    assert_eq!(
        col_names("", "Event", 1),
        ["Subobject", "Source", "First Seen", "Count", "Name"]
    );
    let ev = json!({
        "metadata": {"name": "postgres-pvc.17f9", "namespace": "default"},
        "involvedObject": {"kind": "PersistentVolumeClaim", "name": "postgres-pvc", "namespace": "default"},
        "reason": "ProvisioningFailed", "type": "Warning",
        "message": "storageclass.storage.k8s.io \"standard\" not found\n",
        "source": {"component": "persistentvolume-controller"},
        "firstTimestamp": ago(20), "lastTimestamp": ago(5), "count": 2
    });
    check(
        "",
        "Event",
        &ev,
        json!([
            "5s",
            "Warning",
            "ProvisioningFailed",
            "persistentvolumeclaim/postgres-pvc",
            "",
            "persistentvolume-controller",
            "storageclass.storage.k8s.io \"standard\" not found",
            "20s",
            2,
            "postgres-pvc.17f9"
        ]),
    );
    // A scheduler event: eventTime only, reporting fields, no count.
    let ev = json!({
        "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Pod", "name": "web-app-666b84bc99-4fsdc", "fieldPath": "spec.containers{web}"},
        "reason": "FailedScheduling", "type": "Warning", "message": "no nodes available to schedule pods",
        "eventTime": "2026-11-22T12:15:46.512345Z", "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-vm", "firstTimestamp": null, "lastTimestamp": null
    });
    check(
        "",
        "Event",
        &ev,
        json!([
            "18s",
            "Warning",
            "FailedScheduling",
            "pod/web-app-666b84bc99-4fsdc",
            "spec.containers{web}",
            "default-scheduler, default-scheduler-vm",
            "no nodes available to schedule pods",
            "18s",
            1,
            "web.1"
        ]),
    );
    // Series, and an event about a kind without a name.
    let ev = json!({"metadata": {"name": "s"}, "involvedObject": {"kind": "Node"},
        "eventTime": ago(600), "series": {"count": 12, "lastObservedTime": ago(30)}, "type": "Normal"});
    let c = cells("", "Event", &ev, now());
    assert_eq!(
        (&c[0], &c[3], &c[7], &c[8]),
        (&json!("30s"), &json!("node"), &json!("10m"), &json!(12))
    );
    // No timestamps at all.
    let c = cells("", "Event", &json!({"metadata": {"name": "x"}}), now());
    assert_eq!((&c[0], &c[7]), (&json!("<unknown>"), &json!("<unknown>")));
}

#[test]
fn events_api_group() {
    assert!(has_printer("events.k8s.io", "Event"));
    let ev = json!({
        "metadata": {"name": "web.2"},
        "regarding": {"kind": "Deployment", "name": "web"},
        "note": "Scaled up replica set web-7d9 to 3", "reason": "ScalingReplicaSet", "type": "Normal",
        "reportingController": "deployment-controller", "eventTime": ago(45),
        "deprecatedFirstTimestamp": ago(50), "deprecatedLastTimestamp": ago(20), "deprecatedCount": 4
    });
    check(
        "events.k8s.io",
        "Event",
        &ev,
        json!([
            "20s",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "",
            "deployment-controller",
            "Scaled up replica set web-7d9 to 3",
            "50s",
            4,
            "web.2"
        ]),
    );
}

#[test]
fn namespaces_secrets_configmaps_serviceaccounts() {
    let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": ago(24)}, "status": {"phase": "Active"}});
    check(
        "",
        "Namespace",
        &ns,
        json!(["kube-system", "Active", "24s"]),
    );
    let ns = json!({"metadata": {"name": "old", "deletionTimestamp": ago(1)}, "status": {"phase": "Terminating"}});
    assert_eq!(cells("", "Namespace", &ns, now())[1], json!("Terminating"));

    let s = json!({"metadata": {"name": "tls", "creationTimestamp": ago(7200)}, "type": "kubernetes.io/tls",
                   "data": {"tls.crt": "YQ==", "tls.key": "Yg=="}});
    check(
        "",
        "Secret",
        &s,
        json!(["tls", "kubernetes.io/tls", 2, "120m"]),
    );
    let cm = json!({"metadata": {"name": "kube-root-ca.crt", "creationTimestamp": ago(3 * 3600)},
                    "data": {"ca.crt": "x"}, "binaryData": {"b": "AA=="}});
    check("", "ConfigMap", &cm, json!(["kube-root-ca.crt", 2, "3h"]));
    let cm = json!({"metadata": {"name": "empty", "creationTimestamp": ago(1)}});
    check("", "ConfigMap", &cm, json!(["empty", 0, "1s"]));
    let sa = json!({"metadata": {"name": "default", "creationTimestamp": ago(60)}});
    check("", "ServiceAccount", &sa, json!(["default", 0, "60s"]));
}

#[test]
fn volumes() {
    let pvc = json!({"metadata": {"name": "postgres-pvc", "creationTimestamp": ago(5)},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                 "storageClassName": "standard", "volumeMode": "Filesystem"},
        "status": {"phase": "Pending"}});
    check(
        "",
        "PersistentVolumeClaim",
        &pvc,
        json!([
            "postgres-pvc",
            "Pending",
            "",
            "",
            "",
            "standard",
            "<unset>",
            "5s",
            "Filesystem"
        ]),
    );
    let bound = json!({"metadata": {"name": "data", "creationTimestamp": ago(600),
            "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
        "spec": {"volumeName": "pv-1", "storageClassName": "standard"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "capacity": {"storage": "1024Mi"}}});
    check(
        "",
        "PersistentVolumeClaim",
        &bound,
        json!([
            "data",
            "Bound",
            "pv-1",
            "1Gi",
            "RWO,RWX",
            "legacy",
            "<unset>",
            "10m",
            "Filesystem"
        ]),
    );

    let pv = json!({"metadata": {"name": "pv-1", "creationTimestamp": ago(3600)},
        "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                 "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local",
                 "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Block",
                 "volumeAttributesClassName": "gold"},
        "status": {"phase": "Bound"}});
    check(
        "",
        "PersistentVolume",
        &pv,
        json!([
            "pv-1",
            "5Gi",
            "RWO,ROX",
            "Delete",
            "Bound",
            "default/data",
            "local",
            "gold",
            "",
            "60m",
            "Block"
        ]),
    );
    let mut released = pv.clone();
    released["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(
        cells("", "PersistentVolume", &released, now())[4],
        json!("Terminating")
    );
}

#[test]
fn endpoints_and_slices() {
    let ep = json!({"metadata": {"name": "web", "creationTimestamp": ago(30)},
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                     "ports": [{"port": 80}, {"port": 443}]}]});
    check(
        "",
        "Endpoints",
        &ep,
        json!([
            "web",
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
            "30s"
        ]),
    );
    let ep = json!({"metadata": {"name": "v6"}, "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]}]});
    assert_eq!(cells("", "Endpoints", &ep, now())[1], json!("[fd00::1]:53"));
    let ep = json!({"metadata": {"name": "none"}});
    assert_eq!(cells("", "Endpoints", &ep, now())[1], json!("<none>"));

    let es = json!({"metadata": {"name": "web-abc", "creationTimestamp": ago(30)}, "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}, {"name": "named"}, {}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}]});
    check(
        "discovery.k8s.io",
        "EndpointSlice",
        &es,
        json!([
            "web-abc",
            "IPv4",
            "80,named,*",
            "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
            "30s"
        ]),
    );
    let es = json!({"metadata": {"name": "empty"}, "addressType": "IPv4"});
    assert_eq!(
        &cells("discovery.k8s.io", "EndpointSlice", &es, now())[2..4],
        &[json!("<unset>"), json!("<unset>")]
    );
}

#[test]
fn resource_quota_and_templates() {
    let rq = json!({"metadata": {"name": "q", "creationTimestamp": ago(90)},
        "status": {"hard": {"limits.cpu": "2", "requests.memory": "1Gi", "pods": "10", "limits.memory": "2048Mi"},
                   "used": {"limits.cpu": "500m", "pods": "3"}}});
    check(
        "",
        "ResourceQuota",
        &rq,
        json!([
            "q",
            "pods: 3/10, requests.memory: 0/1Gi",
            "limits.cpu: 500m/2, limits.memory: 0/2Gi",
            "90s"
        ]),
    );
    let pt = json!({"metadata": {"name": "t"}, "template": {"metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}});
    check("", "PodTemplate", &pt, json!(["t", "c", "i", "a=b"]));
    let rc = json!({"metadata": {"name": "rc", "creationTimestamp": ago(10)},
        "spec": {"replicas": 2, "selector": {"app": "x"}, "template": pod_template("c", "i")},
        "status": {"replicas": 2, "readyReplicas": 1}});
    check(
        "",
        "ReplicationController",
        &rc,
        json!(["rc", 2, 2, 1, "10s", "c", "i", "app=x"]),
    );
    let cs = json!({"metadata": {"name": "etcd-0"}, "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}]});
    check(
        "",
        "ComponentStatus",
        &cs,
        json!(["etcd-0", "Healthy", "ok", ""]),
    );
}

// ---------------------------------------------------------------- Other groups

#[test]
fn ingress_and_network_policy() {
    let ing = json!({"metadata": {"name": "web", "creationTimestamp": ago(100)},
        "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                 "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "c.example.com"},
                           {"host": "d.example.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}});
    check(
        "networking.k8s.io",
        "Ingress",
        &ing,
        json!([
            "web",
            "nginx",
            "a.example.com,b.example.com,c.example.com + 2 more...",
            "192.0.2.10",
            "80, 443",
            "100s"
        ]),
    );
    let ing = json!({"metadata": {"name": "any"}, "spec": {"defaultBackend": {}}});
    assert_eq!(
        &cells("networking.k8s.io", "Ingress", &ing, now())[1..5],
        &[json!("<none>"), json!("*"), json!(""), json!("80")]
    );

    let np = json!({"metadata": {"name": "deny", "creationTimestamp": ago(5)}, "spec": {"podSelector": {}}});
    check(
        "networking.k8s.io",
        "NetworkPolicy",
        &np,
        json!(["deny", "<none>", "5s"]),
    );
    let np = json!({"metadata": {"name": "db"}, "spec": {"podSelector": {"matchLabels": {"role": "db"}}}});
    assert_eq!(
        cells("networking.k8s.io", "NetworkPolicy", &np, now())[1],
        json!("role=db")
    );

    let ic = json!({"metadata": {"name": "nginx", "creationTimestamp": ago(5)},
        "spec": {"controller": "k8s.io/ingress-nginx",
                 "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}});
    check(
        "networking.k8s.io",
        "IngressClass",
        &ic,
        json!([
            "nginx",
            "k8s.io/ingress-nginx",
            "IngressParameters.k8s.example.com/p",
            "5s"
        ]),
    );
}

#[test]
fn rbac_bindings() {
    assert_eq!(
        col_names("rbac.authorization.k8s.io", "RoleBinding", 1),
        ["Users", "Groups", "ServiceAccounts"]
    );
    let rb = json!({"metadata": {"name": "admins", "creationTimestamp": ago(5)},
        "roleRef": {"kind": "ClusterRole", "name": "admin", "apiGroup": "rbac.authorization.k8s.io"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                     {"kind": "Group", "name": "devs"},
                     {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]});
    check(
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        &rb,
        json!([
            "admins",
            "ClusterRole/admin",
            "5s",
            "alice, bob",
            "devs",
            "tools/ci"
        ]),
    );
    // Roles have no printer upstream: default table.
    assert!(!has_printer("rbac.authorization.k8s.io", "Role"));
}

#[test]
fn storage_and_scheduling_kinds() {
    let sc = json!({"metadata": {"name": "standard", "creationTimestamp": ago(50),
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
    check(
        "storage.k8s.io",
        "StorageClass",
        &sc,
        json!([
            "standard (default)",
            "rancher.io/local-path",
            "Delete",
            "WaitForFirstConsumer",
            false,
            "50s"
        ]),
    );
    let pc = json!({"metadata": {"name": "system-cluster-critical", "creationTimestamp": ago(50)},
        "value": 2000000000, "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority"});
    check(
        "scheduling.k8s.io",
        "PriorityClass",
        &pc,
        json!([
            "system-cluster-critical",
            2000000000,
            false,
            "50s",
            "PreemptLowerPriority"
        ]),
    );
    let lease = json!({"metadata": {"name": "kube-scheduler", "creationTimestamp": ago(24)},
        "spec": {"holderIdentity": "vm_86be3291"}});
    check(
        "coordination.k8s.io",
        "Lease",
        &lease,
        json!(["kube-scheduler", "vm_86be3291", "24s"]),
    );
    let csr = json!({"metadata": {"name": "csr-1", "creationTimestamp": ago(10)},
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice", "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}});
    check(
        "certificates.k8s.io",
        "CertificateSigningRequest",
        &csr,
        json!([
            "csr-1",
            "10s",
            "kubernetes.io/kube-apiserver-client",
            "alice",
            "24h",
            "Approved,Issued"
        ]),
    );
    let drv = json!({"metadata": {"name": "csi.example.com", "creationTimestamp": ago(10)},
        "spec": {"podInfoOnMount": true, "volumeLifecycleModes": ["Persistent", "Ephemeral"],
                 "tokenRequests": [{"audience": "a"}, {"audience": "b"}]}});
    check(
        "storage.k8s.io",
        "CSIDriver",
        &drv,
        json!([
            "csi.example.com",
            true,
            true,
            false,
            "a,b",
            false,
            "Persistent,Ephemeral",
            "10s"
        ]),
    );
    let va = json!({"metadata": {"name": "csi-1"}, "spec": {"attacher": "csi.example.com",
        "source": {"persistentVolumeName": "pv-1"}, "nodeName": "node-1"}, "status": {"attached": true}});
    check(
        "storage.k8s.io",
        "VolumeAttachment",
        &va,
        json!([
            "csi-1",
            "csi.example.com",
            "pv-1",
            "node-1",
            true,
            "<unknown>"
        ]),
    );
    let fs = json!({"metadata": {"name": "exempt", "creationTimestamp": ago(5)},
        "spec": {"priorityLevelConfiguration": {"name": "exempt"}, "matchingPrecedence": 1},
        "status": {"conditions": [{"type": "Dangling", "status": "False"}]}});
    check(
        "flowcontrol.apiserver.k8s.io",
        "FlowSchema",
        &fs,
        json!(["exempt", "exempt", 1, "<none>", "5s", "False"]),
    );
    let pl = json!({"metadata": {"name": "workload-low", "creationTimestamp": ago(5)},
        "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 100,
            "limitResponse": {"type": "Queue", "queuing": {"queues": 128, "handSize": 6, "queueLengthLimit": 50}}}}});
    check(
        "flowcontrol.apiserver.k8s.io",
        "PriorityLevelConfiguration",
        &pl,
        json!(["workload-low", "Limited", 100, 128, 6, 50, "5s"]),
    );
    let wh =
        json!({"metadata": {"name": "hooks", "creationTimestamp": ago(5)}, "webhooks": [{}, {}]});
    check(
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        &wh,
        json!(["hooks", 2, "5s"]),
    );
    let api = json!({"metadata": {"name": "v1beta1.metrics.k8s.io", "creationTimestamp": ago(5)},
        "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
        "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}});
    check(
        "apiregistration.k8s.io",
        "APIService",
        &api,
        json!([
            "v1beta1.metrics.k8s.io",
            "kube-system/metrics-server",
            "False (MissingEndpoints)",
            "5s"
        ]),
    );
    let api = json!({"metadata": {"name": "v1.apps"},
        "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}});
    assert_eq!(
        &cells("apiregistration.k8s.io", "APIService", &api, now())[1..3],
        &[json!("Local"), json!("True")]
    );
}

#[test]
fn default_table_for_kinds_without_printer() {
    for (g, k) in [
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("", "LimitRange"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("example.com", "Pod"),
    ] {
        let cols = columns(g, k);
        assert_eq!(
            cols.iter()
                .map(|c| (c.name.as_str(), c.type_.as_str(), c.format.as_str()))
                .collect::<Vec<_>>(),
            [("Name", "string", "name"), ("Created At", "date", "")],
            "{g}/{k}"
        );
    }
    let obj =
        json!({"metadata": {"name": "view", "creationTimestamp": "2026-11-22T13:15:47+01:00"}});
    assert_eq!(
        cells("rbac.authorization.k8s.io", "ClusterRole", &obj, now()),
        vec![json!("view"), json!("2026-11-22T12:15:47Z")]
    );
    assert_eq!(
        cells("", "LimitRange", &json!({}), now()),
        vec![json!(""), json!("0001-01-01T00:00:00Z")]
    );
}

/// Every printer copes with any object shape, and returns one cell per
/// column (IPAddress excepted: upstream prints an extra age cell there).
#[test]
fn odd_shapes_never_panic() {
    let kinds = [
        ("", "Pod"),
        ("", "PodTemplate"),
        ("", "ReplicationController"),
        ("", "Service"),
        ("", "Endpoints"),
        ("", "Node"),
        ("", "Event"),
        ("events.k8s.io", "Event"),
        ("", "Namespace"),
        ("", "Secret"),
        ("", "ConfigMap"),
        ("", "ServiceAccount"),
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
        ("", "ComponentStatus"),
        ("", "ResourceQuota"),
        ("", "Status"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "DaemonSet"),
        ("apps", "StatefulSet"),
        ("apps", "ControllerRevision"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("autoscaling", "Scale"),
        ("policy", "PodDisruptionBudget"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("coordination.k8s.io", "Lease"),
        ("coordination.k8s.io", "LeaseCandidate"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSIStorageCapacity"),
        ("storagemigration.k8s.io", "StorageVersionMigration"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("discovery.k8s.io", "EndpointSlice"),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
        ),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
        ),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("internal.apiserver.k8s.io", "StorageVersion"),
        ("resource.k8s.io", "DeviceClass"),
        ("resource.k8s.io", "ResourceClaim"),
        ("resource.k8s.io", "ResourceClaimTemplate"),
        ("resource.k8s.io", "ResourceSlice"),
        ("apiregistration.k8s.io", "APIService"),
    ];
    let odd = [
        json!(null),
        json!(42),
        json!("pod"),
        json!([1, 2]),
        json!({}),
        json!({"metadata": "x", "spec": [], "status": 7}),
        json!({"metadata": {"name": 5, "creationTimestamp": "yesterday", "labels": [1]},
               "spec": {"containers": "c", "replicas": "three", "ports": {"a": 1}, "selector": "app=x",
                        "metrics": [1, {"type": "Resource"}], "rules": [null], "template": null},
               "status": {"conditions": [null, 3, {"type": 1}], "containerStatuses": [{"state": "weird"}],
                          "initContainerStatuses": [{"state": {"terminated": "x"}}], "phase": 3}}),
    ];
    for (g, k) in kinds {
        assert!(has_printer(g, k), "{g}/{k}");
        let cols = columns(g, k).len();
        for o in &odd {
            assert_eq!(cells(g, k, o, now()).len(), cols, "{g}/{k} on {o}");
        }
    }
    // IPAddress: two columns, three cells, as upstream.
    assert_eq!(columns("networking.k8s.io", "IPAddress").len(), 2);
    assert_eq!(
        cells("networking.k8s.io", "IPAddress", &json!({}), now()).len(),
        3
    );
}
