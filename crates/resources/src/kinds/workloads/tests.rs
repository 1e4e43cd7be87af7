//! Workload strategies against the seed manifests, upstream's recorded Pod, and the rules'
//! exact messages.

use serde_json::{json, Value};

use super::{Kind, WorkloadStrategy};
use crate::strategy::Strategy;

const SEEDS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/seeds/manifests"
);
const REFERENCE_POD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/docs/upstream-reference/pod-web-app.json"
);

fn kind_of(doc: &Value) -> Option<Kind> {
    let api = doc.get("apiVersion")?.as_str()?;
    let kind = doc.get("kind")?.as_str()?;
    Some(match (api, kind) {
        ("v1", "Pod") => Kind::Pod,
        ("v1", "PodTemplate") => Kind::PodTemplate,
        ("v1", "ReplicationController") => Kind::ReplicationController,
        ("apps/v1", "Deployment") => Kind::Deployment,
        ("apps/v1", "ReplicaSet") => Kind::ReplicaSet,
        ("apps/v1", "StatefulSet") => Kind::StatefulSet,
        ("apps/v1", "DaemonSet") => Kind::DaemonSet,
        ("apps/v1", "ControllerRevision") => Kind::ControllerRevision,
        ("batch/v1", "Job") => Kind::Job,
        ("batch/v1", "CronJob") => Kind::CronJob,
        _ => return None,
    })
}

/// What the generic create path does before validation: decode, default, namespace and uid,
/// prepare.
fn created(kind: Kind, obj: Value) -> Value {
    let s = WorkloadStrategy::new(kind);
    let mut obj = match s.decode(obj) {
        Ok(d) => d.object,
        Err(e) => panic!("decode failed: {e}"),
    };
    s.apply_defaults(&mut obj);
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.entry("namespace").or_insert(json!("default"));
        meta.insert("uid".into(), json!("0f6c3b7e-1111-2222-3333-444455556666"));
    }
    s.prepare_for_create(&mut obj);
    obj
}

fn create_errors(kind: Kind, obj: Value) -> Vec<String> {
    let obj = created(kind, obj);
    WorkloadStrategy::new(kind)
        .validate(&obj)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn update_errors(kind: Kind, old: Value, new: Value) -> Vec<String> {
    let s = WorkloadStrategy::new(kind);
    let old = created(kind, old);
    let mut new = match s.decode(new) {
        Ok(d) => d.object,
        Err(e) => panic!("decode failed: {e}"),
    };
    s.apply_defaults(&mut new);
    if let (Some(n), Some(o)) = (
        new.get_mut("metadata").and_then(Value::as_object_mut),
        old.get("metadata").and_then(Value::as_object),
    ) {
        for k in ["namespace", "uid"] {
            if let Some(v) = o.get(k) {
                n.insert(k.into(), v.clone());
            }
        }
    }
    s.prepare_for_update(&mut new, &old);
    s.validate_update(&new, &old)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn seed_docs() -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(SEEDS)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let Ok(v) = <Value as serde::Deserialize>::deserialize(doc) else {
                continue;
            };
            if !v.is_null() {
                docs.push((path.display().to_string(), v));
            }
        }
    }
    docs
}

#[test]
fn every_valid_seed_workload_passes() {
    let docs = seed_docs();
    let mut checked = 0;
    for (file, doc) in docs {
        let Some(kind) = kind_of(&doc) else { continue };
        let errs = create_errors(kind, doc);
        if file.contains("deployment-patch") {
            // A kustomize patch, not a whole Deployment: upstream rejects it too.
            assert!(
                errs.contains(&"spec.selector: Required value".to_string()),
                "{errs:?}"
            );
            assert!(
                errs.contains(
                    &"spec.template.spec.containers[0].image: Required value".to_string()
                ),
                "{errs:?}"
            );
            continue;
        }
        assert!(errs.is_empty(), "{file}: {errs:?}");
        checked += 1;
    }
    assert!(checked >= 18, "only {checked} workload documents found");
}

/// The Pod a ReplicaSet would create from seed 004's Deployment, defaulted as a Pod.
fn pod_from_seed_004() -> Value {
    let docs = seed_docs();
    let Some((_, deploy)) = docs
        .into_iter()
        .find(|(f, d)| f.contains("004-02") && d["kind"] == "Deployment")
    else {
        panic!("seed 004 deployment missing");
    };
    let deploy = created(Kind::Deployment, deploy);
    let template = &deploy["spec"]["template"];
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-app-666b84bc99-4fsdc", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    });
    created(Kind::Pod, pod)
}

#[test]
fn seed_004_pod_matches_upstream_defaults() {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(REFERENCE_POD).unwrap_or_default())
            .unwrap_or(Value::Null);
    assert!(reference.is_object(), "reference pod missing");
    let pod = pod_from_seed_004();
    // Admission and the scheduler add these; they are not defaults.
    let admission = [
        "serviceAccount",
        "serviceAccountName",
        "tolerations",
        "priority",
        "preemptionPolicy",
    ];
    let mut want = reference["spec"].clone();
    if let Some(m) = want.as_object_mut() {
        for k in admission {
            m.remove(k);
        }
    }
    // The token volume and its mount come from the ServiceAccount admission plugin.
    if let Some(v) = want["volumes"].as_array_mut() {
        v.retain(|x| x["projected"].is_null());
    }
    if let Some(v) = want["containers"][0]["volumeMounts"].as_array_mut() {
        v.retain(|x| x["name"] != "kube-api-access-mdfzb");
    }
    assert_eq!(pod["spec"], want);
    assert_eq!(
        pod["status"],
        json!({"phase": "Pending", "qosClass": "Burstable"})
    );
}

#[test]
fn deployment_defaults() {
    let d = created(
        Kind::Deployment,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "x"}},
                "template": {"metadata": {"labels": {"app": "x"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx",
                        "resources": {"limits": {"cpu": "1"}}}]}}}}),
    );
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(d["status"], json!({}));
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always");
    // Templates keep requests as written; only Pods copy limits into requests.
    assert_eq!(c["resources"], json!({"limits": {"cpu": "1"}}));
    assert!(d["spec"]["template"]["spec"]["enableServiceLinks"].is_null());
}

#[test]
fn pod_defaults_and_qos() {
    let p = created(
        Kind::Pod,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox@sha256:abc",
                "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}},
                "ports": [{"containerPort": 80}],
                "readinessProbe": {"grpc": {"port": 9000}},
                "env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}],
                "volumes": [{"name": "v"}, {"name": "h", "hostPath": {"path": "/tmp"}}]}}),
    );
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "500m", "memory": "1Gi"})
    );
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(
        c["readinessProbe"],
        json!({"grpc": {"port": 9000, "service": ""}, "timeoutSeconds": 1, "periodSeconds": 10,
            "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(c["env"][0]["valueFrom"]["resourceFieldRef"]["divisor"], "0");
    assert_eq!(p["spec"]["volumes"][0]["emptyDir"], json!({}));
    assert_eq!(p["spec"]["volumes"][1]["hostPath"]["type"], "");
    assert_eq!(p["spec"]["enableServiceLinks"], true);
    assert_eq!(p["status"]["qosClass"], "Guaranteed");
    let best = created(
        Kind::Pod,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "nginx:latest"}]}}),
    );
    assert_eq!(best["status"]["qosClass"], "BestEffort");
    assert_eq!(best["spec"]["containers"][0]["imagePullPolicy"], "Always");
}

fn deployment(spec_patch: Value) -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}});
    merge(&mut d["spec"], spec_patch);
    d
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

fn assert_errors(got: Vec<String>, want: &[&str]) {
    assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<Vec<_>>());
}

#[test]
fn deployment_validation_messages() {
    assert_errors(create_errors(Kind::Deployment, deployment(json!({}))), &[]);
    assert_errors(
        create_errors(
            Kind::Deployment,
            deployment(json!({"template": {"metadata": {"labels": {"app": "y"}}}})),
        ),
        &["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"y\"}: `selector` does not match template `labels`"],
    );
    assert_errors(
        create_errors(
            Kind::Deployment,
            deployment(json!({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}})),
        ),
        &["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"],
    );
    assert_errors(
        create_errors(
            Kind::Deployment,
            deployment(json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}})),
        ),
        &["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"],
    );
    assert_errors(
        create_errors(
            Kind::Deployment,
            deployment(json!({"replicas": -1, "minReadySeconds": 700})),
        ),
        &[
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds",
        ],
    );
    assert_errors(
        create_errors(
            Kind::Deployment,
            deployment(json!({"strategy": {"rollingUpdate": {"maxUnavailable": "150%"}}})),
        ),
        &["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be greater than 100%"],
    );
    assert_errors(
        create_errors(
            Kind::Deployment,
            deployment(json!({"template": {"spec": {"restartPolicy": "OnFailure"}}})),
        ),
        &["spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\""],
    );
    assert_errors(
        create_errors(Kind::Deployment, deployment(json!({"selector": null}))),
        &[
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`",
        ],
    );
}

#[test]
fn pod_spec_validation_messages() {
    let c = |patch: Value| {
        let mut d = deployment(json!({}));
        merge(&mut d["spec"]["template"]["spec"], patch);
        create_errors(Kind::Deployment, d)
    };
    assert_errors(
        c(json!({"containers": []})),
        &["spec.template.spec.containers: Required value"],
    );
    assert_errors(
        c(
            json!({"containers": [{"name": "a", "image": "x"}], "initContainers": [{"name": "a", "image": "x"}]}),
        ),
        &["spec.template.spec.initContainers[0].name: Duplicate value: \"a\""],
    );
    assert_errors(
        c(json!({"containers": [{"name": "Bad_Name", "image": ""}]})),
        &[
            "spec.template.spec.containers[0].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "spec.template.spec.containers[0].image: Required value",
        ],
    );
    assert_errors(
        c(json!({"containers": [{"name": "a", "image": "x",
            "ports": [{"containerPort": 70000, "protocol": "ICMP"}]}]})),
        &[
            "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.template.spec.containers[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ],
    );
    assert_errors(
        c(json!({"containers": [{"name": "a", "image": "x",
            "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]})),
        &["spec.template.spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"],
    );
    assert_errors(
        c(json!({"containers": [{"name": "a", "image": "x",
            "volumeMounts": [{"name": "x", "mountPath": "/a"}]}]})),
        &["spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"x\""],
    );
    assert_errors(
        c(json!({"containers": [{"name": "a", "image": "x",
            "env": [{"name": "A=B"}, {"name": "C", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]})),
        &[
            "spec.template.spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.template.spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
        ],
    );
    assert_errors(
        c(json!({"containers": [{"name": "a", "image": "x",
            "livenessProbe": {"successThreshold": 2, "exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}}]})),
        &[
            "spec.template.spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
            "spec.template.spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        ],
    );
    assert_errors(
        c(json!({"volumes": [{"name": "v", "emptyDir": {}, "configMap": {"name": "c"}},
            {"name": "w", "emptyDir": {}}, {"name": "w", "secret": {"secretName": "s"}}]})),
        &[
            "spec.template.spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type",
            "spec.template.spec.volumes[2].name: Duplicate value: \"w\"",
        ],
    );
    assert_errors(
        c(json!({"dnsPolicy": "Foo", "tolerations": [{"key": "k", "operator": "Bogus"}]})),
        &[
            "spec.template.spec.dnsPolicy: Unsupported value: \"Foo\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            "spec.template.spec.tolerations[0].operator: Unsupported value: \"Bogus\": supported values: \"Equal\", \"Exists\"",
        ],
    );
    assert_errors(
        c(json!({"shareProcessNamespace": true, "hostPID": true})),
        &["spec.template.spec.securityContext.shareProcessNamespace: Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled"],
    );
    assert_errors(c(json!({"shareProcessNamespace": true})), &[]);
}

#[test]
fn selector_is_immutable() {
    let old = deployment(json!({}));
    let new = deployment(json!({"selector": {"matchLabels": {"app": "x", "v": "1"}},
        "template": {"metadata": {"labels": {"app": "x", "v": "1"}}}}));
    assert_errors(
        update_errors(Kind::Deployment, old, new),
        &["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\", \"v\":\"1\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"],
    );
}

fn pod(spec_patch: Value) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}});
    merge(&mut p["spec"], spec_patch);
    p
}

#[test]
fn pod_updates_only_change_allowed_fields() {
    let image = pod(json!({"containers": [{"name": "c", "image": "nginx:1.28"}]}));
    assert_errors(update_errors(Kind::Pod, pod(json!({})), image), &[]);
    let tol = pod(json!({"tolerations": [{"key": "k", "operator": "Exists"}]}));
    assert_errors(update_errors(Kind::Pod, pod(json!({})), tol), &[]);
    let node = pod(json!({"nodeName": "n1"}));
    assert_errors(
        update_errors(Kind::Pod, pod(json!({})), node),
        &["spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"],
    );
    let ads = pod(json!({"activeDeadlineSeconds": 20}));
    assert_errors(
        update_errors(Kind::Pod, pod(json!({"activeDeadlineSeconds": 10})), ads),
        &["spec.activeDeadlineSeconds: Invalid value: 20: must be less than or equal to previous value"],
    );
}

#[test]
fn statefulset_defaults_and_update() {
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "postgres:16",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}});
    let s = created(Kind::StatefulSet, sts.clone());
    assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        s["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(
        s["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(
        s["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
        "Filesystem"
    );
    assert_eq!(
        s["spec"]["volumeClaimTemplates"][0]["status"],
        json!({"phase": "Pending"})
    );
    assert_errors(
        WorkloadStrategy::new(Kind::StatefulSet)
            .validate(&s)
            .iter()
            .map(ToString::to_string)
            .collect(),
        &[],
    );
    let mut changed = sts.clone();
    changed["spec"]["serviceName"] = json!("other");
    assert_errors(
        update_errors(Kind::StatefulSet, sts.clone(), changed),
        &["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"],
    );
    let mut scaled = sts.clone();
    scaled["spec"]["replicas"] = json!(3);
    assert_errors(update_errors(Kind::StatefulSet, sts, scaled), &[]);
}

#[test]
fn daemonset_defaults() {
    let ds = created(
        Kind::DaemonSet,
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
    );
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
    assert!(WorkloadStrategy::new(Kind::DaemonSet)
        .validate(&ds)
        .is_empty());
}

fn job() -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}],
            "restartPolicy": "Never"}}}})
}

#[test]
fn job_defaults_and_generated_selector() {
    let j = created(Kind::Job, job());
    let uid = "0f6c3b7e-1111-2222-3333-444455556666";
    assert_eq!(j["spec"]["completions"], 1);
    assert_eq!(j["spec"]["parallelism"], 1);
    assert_eq!(j["spec"]["backoffLimit"], 6);
    assert_eq!(j["spec"]["completionMode"], "NonIndexed");
    assert_eq!(j["spec"]["suspend"], false);
    assert_eq!(j["spec"]["manualSelector"], false);
    assert_eq!(j["spec"]["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(
        j["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    let labels = json!({"job-name": "pi", "batch.kubernetes.io/job-name": "pi",
        "controller-uid": uid, "batch.kubernetes.io/controller-uid": uid});
    assert_eq!(j["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(j["metadata"]["labels"], labels);
    assert!(WorkloadStrategy::new(Kind::Job).validate(&j).is_empty());

    let mut bad = job();
    bad["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    assert_errors(
        create_errors(Kind::Job, bad),
        &["spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""],
    );
    // Clients send back what they read: the generated selector and labels included.
    let mut changed = j.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:5");
    let errs = update_errors(Kind::Job, j.clone(), changed);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("spec.template: Invalid value: "),
        "{errs:?}"
    );
    assert!(errs[0].ends_with(": field is immutable"), "{errs:?}");
}

#[test]
fn cronjob_defaults_and_schedule() {
    let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}}});
    let c = created(Kind::CronJob, cj.clone());
    assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(c["spec"]["suspend"], false);
    assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
    // SetDefaults_Job is for Jobs, not job templates.
    assert!(c["spec"]["jobTemplate"]["spec"]["backoffLimit"].is_null());
    assert!(WorkloadStrategy::new(Kind::CronJob).validate(&c).is_empty());
    let mut tz = cj.clone();
    tz["spec"]["schedule"] = json!("TZ=UTC 0 * * * *");
    assert_errors(
        create_errors(Kind::CronJob, tz),
        &["spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"],
    );
    let mut bad = cj;
    bad["spec"]["schedule"] = json!("61 * * * *");
    assert_errors(
        create_errors(Kind::CronJob, bad),
        &["spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"],
    );
}

#[test]
fn replication_controller_takes_selector_from_template() {
    let rc = created(
        Kind::ReplicationController,
        json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
            "spec": {"template": {"metadata": {"labels": {"app": "r"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
    );
    assert_eq!(rc["spec"]["selector"], json!({"app": "r"}));
    assert_eq!(rc["metadata"]["labels"], json!({"app": "r"}));
    assert_eq!(rc["spec"]["replicas"], 1);
    assert_eq!(rc["status"], json!({"replicas": 0}));
    assert!(WorkloadStrategy::new(Kind::ReplicationController)
        .validate(&rc)
        .is_empty());
}

#[test]
fn status_is_kept_on_update() {
    let s = WorkloadStrategy::new(Kind::Deployment);
    let mut old = created(Kind::Deployment, deployment(json!({})));
    old["status"] = json!({"replicas": 1});
    let mut new = deployment(json!({"replicas": 2}));
    new["status"] = json!({"replicas": 7});
    s.prepare_for_update(&mut new, &old);
    assert_eq!(new["status"], json!({"replicas": 1}));
}
