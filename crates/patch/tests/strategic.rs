//! Strategic merge patch against the bodies kubectl sends (kubectl-wire-spec §10, §12, §15,
//! §23) and upstream's ordering and directive rules.

use minato_patch::{strategic_merge, PatchError};
use serde_json::{json, Value};

fn smp(kind: &str, original: Value, patch: Value) -> Value {
    strategic_merge(kind, &original, &patch).expect("patch applies")
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|c| c["name"].as_str().expect("a name"))
        .collect()
}

fn live_app_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "app", "namespace": "default", "generation": 1,
            "labels": {"app": "app"},
            "annotations": {
                "deployment.kubernetes.io/revision": "1",
                "kubectl.kubernetes.io/last-applied-configuration": "old\n"
            }
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "app"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {
                    "containers": [
                        {"name": "main", "image": "nginx:1.25",
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "imagePullPolicy": "IfNotPresent"},
                        {"name": "side", "image": "busybox:1.36",
                         "command": ["sleep", "infinity"], "imagePullPolicy": "IfNotPresent"}
                    ],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst"
                }
            }
        },
        "status": {"replicas": 2}
    })
}

#[test]
fn client_side_apply_deployment_update() {
    let last_applied = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"app\",\"tier\":\"web\"},\"name\":\"app\",\"namespace\":\"default\"},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"app\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"app\"}},\"spec\":{\"containers\":[{\"env\":[{\"name\":\"B\",\"value\":\"2\"},{\"name\":\"C\",\"value\":\"3\"}],\"image\":\"nginx:1.26\",\"name\":\"main\",\"ports\":[{\"containerPort\":80},{\"containerPort\":443}]}]}}}}\n";
    // The body exactly as kubectl sent it (§10.2).
    let patch: Value = serde_json::from_str(r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"app\",\"tier\":\"web\"},\"name\":\"app\",\"namespace\":\"default\"},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"app\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"app\"}},\"spec\":{\"containers\":[{\"env\":[{\"name\":\"B\",\"value\":\"2\"},{\"name\":\"C\",\"value\":\"3\"}],\"image\":\"nginx:1.26\",\"name\":\"main\",\"ports\":[{\"containerPort\":80},{\"containerPort\":443}]}]}}}}\n"},"labels":{"tier":"web"}},"spec":{"replicas":3,"template":{"spec":{"$setElementOrder/containers":[{"name":"main"}],"containers":[{"$setElementOrder/env":[{"name":"B"},{"name":"C"}],"$setElementOrder/ports":[{"containerPort":80},{"containerPort":443}],"env":[{"name":"C","value":"3"},{"$patch":"delete","name":"A"}],"image":"nginx:1.26","name":"main","ports":[{"containerPort":443}]},{"$patch":"delete","name":"side"}]}}}}"#).unwrap();
    let result = smp("Deployment", live_app_deployment(), patch);
    assert_eq!(
        result,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "app", "namespace": "default", "generation": 1,
                "labels": {"app": "app", "tier": "web"},
                "annotations": {
                    "deployment.kubernetes.io/revision": "1",
                    "kubectl.kubernetes.io/last-applied-configuration": last_applied
                }
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "app"}},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "app"}},
                    "spec": {
                        "containers": [
                            {"name": "main", "image": "nginx:1.26",
                             "env": [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
                             "ports": [{"containerPort": 80, "protocol": "TCP"},
                                       {"containerPort": 443}],
                             "imagePullPolicy": "IfNotPresent"}
                        ],
                        "restartPolicy": "Always",
                        "dnsPolicy": "ClusterFirst"
                    }
                }
            },
            "status": {"replicas": 2}
        })
    );
    // Lists keep the order $setElementOrder gives, not just the same elements.
    let main = &result["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(names(&main["env"]), ["B", "C"]);
    assert_eq!(main["ports"][1]["containerPort"], 443);
}

#[test]
fn client_side_apply_service_ports_merge_by_port() {
    let live = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "app", "namespace": "default",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old\n"}},
        "spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                 "selector": {"app": "app"}, "clusterIP": "10.43.0.10", "type": "ClusterIP"}
    });
    let patch: Value = serde_json::from_str(r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"annotations\":{},\"name\":\"app\",\"namespace\":\"default\"},\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080}],\"selector\":{\"app\":\"app\"}}}\n"}},"spec":{"$setElementOrder/ports":[{"port":80}],"ports":[{"port":80,"targetPort":8080}]}}"#).unwrap();
    let result = smp("Service", live, patch);
    assert_eq!(
        result["spec"],
        json!({"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
               "selector": {"app": "app"}, "clusterIP": "10.43.0.10", "type": "ClusterIP"})
    );
    assert!(
        result["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap()
            .contains("8080")
    );
}

#[test]
fn client_side_apply_configmap_data() {
    let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "app-config", "namespace": "default", "resourceVersion": "7",
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old\n"}},
        "data": {"key": "value", "other": "x"}});
    let patch: Value = serde_json::from_str(r#"{"data":{"key":"value2"},"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"data\":{\"key\":\"value2\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"app-config\",\"namespace\":\"default\"}}\n"}}}"#).unwrap();
    assert_eq!(
        smp("ConfigMap", live, patch),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app-config", "namespace": "default", "resourceVersion": "7",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                    "{\"apiVersion\":\"v1\",\"data\":{\"key\":\"value2\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"app-config\",\"namespace\":\"default\"}}\n"}},
            "data": {"key": "value2", "other": "x"}})
    );
}

fn web_deployment() -> Value {
    json!({"kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "containers": [{"name": "nginx", "image": "nginx:1.25",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {}, "terminationMessagePath": "/dev/termination-log"}]}}}})
}

#[test]
fn set_image_and_edit_bodies() {
    let result = smp(
        "Deployment",
        web_deployment(),
        json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"image":"nginx:1.27","name":"nginx"}]}}}}),
    );
    let mut expected = web_deployment();
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    assert_eq!(result, expected);

    let result = smp(
        "Deployment",
        web_deployment(),
        json!({"metadata":{"labels":{"edited":"yes"}},"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"image":"nginx:1.28","name":"nginx"}]}}}}),
    );
    assert_eq!(
        result["metadata"]["labels"],
        json!({"app": "web", "edited": "yes"})
    );
    assert_eq!(
        result["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
}

#[test]
fn rollout_pause_resume_restart() {
    let paused = smp(
        "Deployment",
        web_deployment(),
        json!({"spec": {"paused": true}}),
    );
    assert_eq!(paused["spec"]["paused"], true);
    let resumed = smp("Deployment", paused, json!({"spec": {"paused": null}}));
    assert_eq!(resumed, web_deployment());
    // Resuming a deployment that is not paused is a no-op, not an error.
    assert_eq!(
        smp(
            "Deployment",
            web_deployment(),
            json!({"spec": {"paused": null}})
        ),
        web_deployment()
    );

    let restarted = smp(
        "Deployment",
        web_deployment(),
        json!({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}}),
    );
    assert_eq!(
        restarted["spec"]["template"]["metadata"],
        json!({"labels": {"app": "web"},
               "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}})
    );
}

#[test]
fn cordon_uncordon() {
    let node = json!({"kind": "Node", "metadata": {"name": "node-1"},
        "spec": {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]}});
    let cordoned = smp(
        "Node",
        node.clone(),
        json!({"spec": {"unschedulable": true}}),
    );
    assert_eq!(cordoned["spec"]["unschedulable"], true);
    assert_eq!(
        smp("Node", cordoned, json!({"spec": {"unschedulable": null}})),
        node
    );
}

#[test]
fn retain_keys_switches_deployment_strategy() {
    // kubectl apply when the last applied config named rollingUpdate.
    let result = smp(
        "Deployment",
        live_app_deployment(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}}),
    );
    assert_eq!(result["spec"]["strategy"], json!({"type": "Recreate"}));
    // ...and when rollingUpdate was only defaulted by the server.
    let result = smp(
        "Deployment",
        live_app_deployment(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
    );
    assert_eq!(result["spec"]["strategy"], json!({"type": "Recreate"}));
    // Without the directive the old key stays (plain map merge).
    let result = smp(
        "Deployment",
        live_app_deployment(),
        json!({"spec": {"strategy": {"type": "Recreate"}}}),
    );
    assert_eq!(
        result["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
        "25%"
    );
}

#[test]
fn retain_keys_rejects_unlisted_patch_keys() {
    let err = strategic_merge(
        "Deployment",
        &live_app_deployment(),
        &json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}, "type": "Recreate"}}}),
    )
    .unwrap_err();
    assert_eq!(err, PatchError::BadPatchFormatForRetainKeys);
    assert_eq!(err.status_code(), 400);
    assert_eq!(err.to_string(), "invalid patch format of retainKeys");
    let err = strategic_merge(
        "Deployment",
        &live_app_deployment(),
        &json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
    )
    .unwrap_err();
    assert_eq!(err, PatchError::BadPatchFormatForRetainKeys);
}

#[test]
fn volume_source_switch_with_retain_keys() {
    let live = json!({"kind": "Deployment", "spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "x"}],
        "volumes": [{"name": "data", "emptyDir": {}},
                    {"name": "cfg", "configMap": {"name": "x", "defaultMode": 420}}]}}}});
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/volumes": [{"name": "data"}, {"name": "cfg"}],
        "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "y"},
                     "emptyDir": null, "name": "data"}]}}}});
    let result = smp("Deployment", live, patch);
    assert_eq!(
        result["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "configMap": {"name": "y"}},
               {"name": "cfg", "configMap": {"name": "x", "defaultMode": 420}}])
    );
}

#[test]
fn finalizers_are_a_set() {
    let pod = |finalizers: Value| json!({"kind": "Pod", "metadata": {"name": "p", "finalizers": finalizers}});
    assert_eq!(
        smp(
            "Pod",
            pod(json!(["a", "b", "c"])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}})
        ),
        pod(json!(["a", "c"]))
    );
    // What kubectl apply sends when a finalizer is dropped and another added.
    assert_eq!(
        smp(
            "Pod",
            pod(json!(["a", "b", "c"])),
            json!({"metadata": {"$setElementOrder/finalizers": ["a", "c", "d"],
                                "$deleteFromPrimitiveList/finalizers": ["b"],
                                "finalizers": ["d"]}})
        ),
        pod(json!(["a", "c", "d"]))
    );
    // Without an order directive upstream puts new values before the existing ones.
    assert_eq!(
        smp(
            "Pod",
            pod(json!(["a", "b"])),
            json!({"metadata": {"finalizers": ["b", "x"]}})
        ),
        pod(json!(["a", "b", "x"]))
    );
    assert_eq!(
        smp(
            "Pod",
            pod(json!(["a", "b"])),
            json!({"metadata": {"finalizers": ["x"]}})
        ),
        pod(json!(["x", "a", "b"]))
    );
    // Deleting from a list that is not there changes nothing.
    assert_eq!(
        smp(
            "Pod",
            json!({"metadata": {"name": "p"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}})
        ),
        json!({"metadata": {"name": "p"}})
    );
    let err = strategic_merge(
        "Pod",
        &pod(json!(["a"])),
        &json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}),
    )
    .unwrap_err();
    assert_eq!(err, PatchError::BadPatchFormatForPrimitiveList);
}

#[test]
fn cronjob_job_template_containers_merge_by_name() {
    let live = json!({"kind": "CronJob", "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "OnFailure",
        "containers": [
            {"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}], "args": ["1", "2"]},
            {"name": "b", "image": "y"}]}}}}}});
    let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "x2", "env": [{"name": "F", "value": "2"}], "args": ["3"]}]}}}}}});
    let result = smp("CronJob", live, patch);
    assert_eq!(
        result["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        // env merges by name (new entries first without $setElementOrder); args is atomic.
        json!([{"name": "a", "image": "x2",
                "env": [{"name": "F", "value": "2"}, {"name": "E", "value": "1"}], "args": ["3"]},
               {"name": "b", "image": "y"}])
    );
}

#[test]
fn new_list_elements_without_order_directive_go_first() {
    // The kubernetes.io "kubectl patch" task shows this result for the same patch.
    let live = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "patch-demo-ctr", "image": "nginx"}]}}}});
    let result = smp(
        "Deployment",
        live,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}}}}),
    );
    assert_eq!(
        names(&result["spec"]["template"]["spec"]["containers"]),
        ["patch-demo-ctr-2", "patch-demo-ctr"]
    );
}

#[test]
fn patched_elements_keep_their_place_relative_to_server_elements() {
    let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
    let result = smp(
        "Pod",
        live,
        json!({"spec": {"containers": [{"name": "c", "image": "z"}, {"name": "a", "image": "x"}]}}),
    );
    // Patch order wins among patch items; the server-only item b is placed before c because
    // it precedes c in the live list.
    assert_eq!(names(&result["spec"]["containers"]), ["b", "c", "a"]);
}

#[test]
fn set_element_order_with_server_only_elements() {
    // An injected sidecar the user's config never mentions stays where the live list had it.
    let live = json!({"spec": {"containers": [{"name": "main"}, {"name": "proxy"}]}});
    let result = smp(
        "Pod",
        live.clone(),
        json!({"spec": {"$setElementOrder/containers": [{"name": "main"}, {"name": "web"}],
                        "containers": [{"name": "web", "image": "w"}]}}),
    );
    assert_eq!(
        names(&result["spec"]["containers"]),
        ["main", "web", "proxy"]
    );
    // Reordering only.
    let result = smp(
        "Pod",
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
    );
    assert_eq!(names(&result["spec"]["containers"]), ["b", "a"]);
}

#[test]
fn set_element_order_after_delete_and_add_matches_upstream_slice_reuse() {
    // Upstream deletes in place in the live Go slice and appends into the freed slot, so the
    // added element ranks after the server-only one here (unlike the case above).
    let live =
        json!({"spec": {"containers": [{"name": "main"}, {"name": "side"}, {"name": "proxy"}]}});
    let result = smp(
        "Pod",
        live,
        json!({"spec": {"$setElementOrder/containers": [{"name": "main"}, {"name": "web"}],
                        "containers": [{"name": "web", "image": "w"},
                                       {"$patch": "delete", "name": "side"}]}}),
    );
    assert_eq!(
        names(&result["spec"]["containers"]),
        ["main", "proxy", "web"]
    );
}

#[test]
fn set_element_order_for_primitive_and_new_lists() {
    // A list missing from the live object is taken from the patch, directives removed.
    let result = smp(
        "Pod",
        json!({"spec": {}}),
        json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                        "containers": [{"name": "b"}, {"name": "a"}, {"$patch": "delete", "name": "z"}]}}),
    );
    assert_eq!(
        result,
        json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}]}})
    );

    let err = strategic_merge(
        "Pod",
        &json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        &json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                         "containers": [{"name": "b"}, {"name": "a"}]}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "The order in patch list:\n[map[name:b] map[name:a]]\n doesn't match $setElementOrder list:\n[map[name:a] map[name:b]]\n"
    );
    let err = strategic_merge(
        "Pod",
        &json!({"spec": {}}),
        &json!({"spec": {"$setElementOrderX": []}}),
    )
    .unwrap_err();
    assert_eq!(err, PatchError::BadPatchFormatForSetElementOrderList);
}

#[test]
fn patch_replace_and_delete_directives() {
    let live = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}}});
    // $patch: replace in a list replaces it whole.
    let result = smp(
        "Deployment",
        live.clone(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}}}}),
    );
    assert_eq!(
        result["spec"]["template"]["spec"]["containers"],
        json!([{"name": "c"}])
    );
    // $patch: replace on a map replaces that map.
    let result = smp(
        "Deployment",
        live_app_deployment(),
        json!({"spec": {"selector": {"$patch": "replace", "matchLabels": {"x": "y"}}}}),
    );
    assert_eq!(
        result["spec"]["selector"],
        json!({"matchLabels": {"x": "y"}})
    );
    // $patch: delete on a map empties it.
    let result = smp(
        "Deployment",
        live_app_deployment(),
        json!({"metadata": {"labels": {"$patch": "delete"}}}),
    );
    assert_eq!(result["metadata"]["labels"], json!({}));
    // Deleting an element that is not there is fine.
    let result = smp(
        "Deployment",
        live.clone(),
        json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "zz"}]}}}}),
    );
    assert_eq!(result, live);
}

#[test]
fn unknown_and_unsupported_directives_fail_like_upstream() {
    let live = live_app_deployment();
    let err = strategic_merge(
        "Deployment",
        &live,
        &json!({"spec": {"selector": {"$patch": "frob"}}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown patch type: frob in map: map[$patch:frob]"
    );
    assert_eq!(err.status_code(), 500);

    let err = strategic_merge(
        "Deployment",
        &live,
        &json!({"spec": {"template": {"spec": {"containers": [{"$patch": "merge", "name": "main"}]}}}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "merging lists cannot yet be specified in the patch"
    );

    let err = strategic_merge(
        "Deployment",
        &live,
        &json!({"spec": {"template": {"spec": {"containers": [{"$patch": "nope", "name": "main"}]}}}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown patch type: nope in map: map[$patch:nope name:main]"
    );
}

#[test]
fn merge_key_is_required() {
    // What the wire spec saw go wrong when Service ports were keyed by containerPort.
    let err = strategic_merge(
        "Deployment",
        &live_app_deployment(),
        &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "map: map[image:x] does not contain declared merge key: name"
    );
    let err = strategic_merge(
        "Deployment",
        &live_app_deployment(),
        &json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "map: map[$patch:delete] does not contain declared merge key: name"
    );
}

#[test]
fn atomic_lists_are_replaced() {
    let live = json!({"spec": {"tolerations": [{"key": "a", "operator": "Exists"}],
                               "containers": [{"name": "c", "command": ["a", "b"]}]}});
    let result = smp(
        "Pod",
        live,
        json!({"spec": {"tolerations": [{"key": "b", "operator": "Exists"}],
                        "containers": [{"name": "c", "command": ["z"]}]}}),
    );
    assert_eq!(
        result,
        json!({"spec": {"tolerations": [{"key": "b", "operator": "Exists"}],
                        "containers": [{"name": "c", "command": ["z"]}]}})
    );
}

#[test]
fn values_new_to_the_object_lose_nulls_and_directives() {
    let result = smp(
        "Deployment",
        json!({"spec": {}}),
        json!({"spec": {"template": {"metadata": {"labels": {"a": "b", "gone": null}},
                                     "spec": {"containers": [{"name": "c", "x": null},
                                                             {"$patch": "delete", "name": "d"}]}}}}),
    );
    assert_eq!(
        result,
        json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}},
                                     "spec": {"containers": [{"name": "c"}]}}}})
    );
    // A type change replaces the value.
    let result = smp(
        "ConfigMap",
        json!({"data": {"a": "b"}}),
        json!({"data": "x"}),
    );
    assert_eq!(result, json!({"data": "x"}));
}

#[test]
fn service_ports_merge_with_multiple_entries() {
    let live = json!({"spec": {"ports": [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80},
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]}});
    let result = smp(
        "Service",
        live,
        json!({"spec": {"$setElementOrder/ports": [{"port": 443}, {"port": 8080}],
                        "ports": [{"name": "alt", "port": 8080, "targetPort": 8080},
                                  {"$patch": "delete", "port": 80}]}}),
    );
    assert_eq!(
        result["spec"]["ports"],
        json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443},
               {"name": "alt", "port": 8080, "targetPort": 8080}])
    );
}

#[test]
fn status_conditions_merge_by_type() {
    let live = json!({"status": {"conditions": [
        {"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}});
    let result = smp(
        "Pod",
        live,
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    );
    assert_eq!(
        result["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}])
    );
}

#[test]
fn structural_errors() {
    assert_eq!(
        strategic_merge("Pod", &json!([]), &json!({})).unwrap_err(),
        PatchError::BadJsonDoc
    );
    assert_eq!(
        strategic_merge("Pod", &json!({}), &json!("x")).unwrap_err(),
        PatchError::BadJsonDoc
    );
    let err = strategic_merge(
        "Pod",
        &json!({"metadata": {"finalizers": []}}),
        &json!({"metadata": {"finalizers": [["b"]]}}),
    )
    .unwrap_err();
    assert_eq!(err, PatchError::NoListOfLists);
    assert_eq!(err.status_code(), 422);
    let err = strategic_merge(
        "Pod",
        &json!({"metadata": {"finalizers": ["a"]}}),
        &json!({"metadata": {"finalizers": [1]}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "list element types are not identical: [[a] [1]]"
    );
    // The whole object can be deleted or replaced by a root directive.
    assert_eq!(
        smp("Pod", json!({"a": 1}), json!({"$patch": "delete"})),
        json!({})
    );
}
