use serde_json::{json, Value};

use super::*;

const T1: &str = "2025-01-01T00:00:00Z";
const T2: &str = "2025-01-01T00:01:00Z";
const T3: &str = "2025-01-01T00:02:00Z";
const T4: &str = "2025-01-01T00:03:00Z";

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "default", "labels": {"app": "app"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {"containers": [{
                    "name": "nginx",
                    "image": image,
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "MODE", "value": "prod"}],
                    "args": ["--a", "--b"]
                }]}
            }
        }
    })
}

/// What the store adds to an object (server-set metadata and defaults).
fn stored(mut obj: Value) -> Value {
    let meta = obj["metadata"].as_object_mut().expect("metadata");
    meta.insert("uid".into(), json!("1234"));
    meta.insert("resourceVersion".into(), json!("1"));
    meta.insert("creationTimestamp".into(), json!(T1));
    obj
}

fn entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(obj: &'a Value, manager: &str) -> &'a Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["manager"] == manager))
        .unwrap_or(&Value::Null)
}

fn ssa(live: Option<&Value>, applied: &Value, manager: &str, force: bool, now: &str) -> Value {
    let out = apply("Deployment", live, applied, manager, force, "apps/v1", now);
    stored(out.unwrap_or_else(|e| panic!("apply failed: {e}")))
}

fn conflict_of(r: Result<Value, ApplyError>) -> (String, Vec<ConflictCause>) {
    match r {
        Err(ApplyError::Conflicts { message, causes }) => (message, causes),
        other => panic!("expected conflicts, got {other:?}"),
    }
}

#[test]
fn apply_create_encodes_fields_v1_as_upstream() {
    let obj = ssa(None, &deployment(2, "nginx:1.27"), "kubectl", false, T1);
    assert_eq!(obj["spec"]["replicas"], 2);
    let e = entries(&obj);
    assert_eq!(e.len(), 1);
    assert_eq!(
        serde_json::to_string(&e[0]).unwrap(),
        serde_json::to_string(&json!({
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {},
                            "f:args": {},
                            "f:env": {"k:{\"name\":\"MODE\"}": {".": {}, "f:name": {}, "f:value": {}}},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                ".": {}, "f:containerPort": {}
                            }}
                        }}}
                    }
                }
            }
        }))
        .unwrap()
    );
}

#[test]
fn reapply_unchanged_is_a_no_op() {
    let live = ssa(None, &deployment(2, "nginx:1.27"), "kubectl", false, T1);
    let again = apply(
        "Deployment",
        Some(&live),
        &deployment(2, "nginx:1.27"),
        "kubectl",
        false,
        "apps/v1",
        T2,
    )
    .expect("apply");
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&live).unwrap()
    );
}

#[test]
fn reapply_with_a_new_value_updates_and_bumps_time() {
    let live = ssa(None, &deployment(2, "nginx:1.27"), "kubectl", false, T1);
    let out = ssa(
        Some(&live),
        &deployment(2, "nginx:1.28"),
        "kubectl",
        false,
        T2,
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    assert_eq!(entry(&out, "kubectl")["time"], T2);
    assert_eq!(out["metadata"]["uid"], "1234");
}

#[test]
fn fields_dropped_from_the_manifest_are_removed() {
    let live = ssa(None, &deployment(2, "nginx:1.27"), "kubectl", false, T1);
    let mut manifest = deployment(2, "nginx:1.27");
    manifest["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("env");
    manifest["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    let out = ssa(Some(&live), &manifest, "kubectl", false, T2);
    let c = &out["spec"]["template"]["spec"]["containers"][0];
    assert!(c.get("env").is_none(), "{c}");
    assert!(out["metadata"].get("labels").is_none());
    assert!(entry(&out, "kubectl")["fieldsV1"]["f:metadata"].is_null());
    // A field another manager still owns stays.
    let mut live2 = out.clone();
    live2["metadata"]["labels"] = json!({"team": "a"});
    let mut live2 = live2;
    update_managed_fields(
        "Deployment",
        Some(&out),
        &mut live2,
        "kubectl-label",
        "apps/v1",
        None,
        T3,
    );
    let mut m2 = manifest.clone();
    m2["metadata"]["labels"] = json!({"team": "a"});
    let owned_by_both = ssa(Some(&live2), &m2, "kubectl", false, T3);
    let dropped = ssa(Some(&owned_by_both), &manifest, "kubectl", false, T4);
    assert_eq!(dropped["metadata"]["labels"], json!({"team": "a"}));
}

#[test]
fn scale_then_apply_conflicts_and_force_takes_ownership() {
    let live = ssa(None, &deployment(2, "nginx:1.27"), "kubectl", false, T1);
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    update_managed_fields(
        "Deployment",
        Some(&live),
        &mut scaled,
        "kubectl",
        "apps/v1",
        Some("scale"),
        T2,
    );
    let s = entry(&scaled, "kubectl");
    let scale_entry = entries(&scaled)
        .into_iter()
        .find(|e| e["subresource"] == "scale")
        .expect("scale entry");
    assert_eq!(scale_entry["operation"], "Update");
    assert_eq!(
        scale_entry["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert!(s["fieldsV1"]["f:spec"].get("f:replicas").is_none());

    let (message, causes) = conflict_of(apply(
        "Deployment",
        Some(&scaled),
        &deployment(3, "nginx:1.27"),
        "kubectl",
        false,
        "apps/v1",
        T3,
    ));
    assert_eq!(
        message,
        "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"
    );
    assert_eq!(
        causes,
        vec![ConflictCause {
            manager: "kubectl".into(),
            field: ".spec.replicas".into(),
            message: "conflict with \"kubectl\" with subresource \"scale\" using apps/v1".into(),
        }]
    );

    // Re-applying the value the scale set is shared ownership, not a conflict.
    let shared = ssa(
        Some(&scaled),
        &deployment(5, "nginx:1.27"),
        "kubectl",
        false,
        T3,
    );
    assert_eq!(entries(&shared).len(), 2);

    let forced = ssa(
        Some(&scaled),
        &deployment(3, "nginx:1.27"),
        "kubectl",
        true,
        T3,
    );
    assert_eq!(forced["spec"]["replicas"], 3);
    let e = entries(&forced);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0]["operation"], "Apply");
    assert_eq!(e[0]["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
}

#[test]
fn client_side_apply_fields_conflict_when_applied_server_side() {
    // kubectl create/apply (client side): an Update on create.
    let mut created = stored(deployment(2, "nginx:1.27"));
    update_managed_fields(
        "Deployment",
        None,
        &mut created,
        "kubectl-client-side-apply",
        "apps/v1",
        None,
        T1,
    );
    let csa = entry(&created, "kubectl-client-side-apply");
    assert_eq!(csa["operation"], "Update");
    // Fields added on create mark maps and list items with ".", as upstream.
    assert_eq!(
        csa["fieldsV1"]["f:metadata"],
        json!({"f:labels": {".": {}, "f:app": {}}})
    );
    assert_eq!(
        csa["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]
            ["f:ports"],
        json!({".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}})
    );

    let (message, causes) = conflict_of(apply(
        "Deployment",
        Some(&created),
        &deployment(3, "nginx:1.28"),
        "ci",
        false,
        "apps/v1",
        T2,
    ));
    assert_eq!(
        message,
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
    );
    assert_eq!(causes.len(), 2);
    assert_eq!(
        causes[1].field,
        ".spec.template.spec.containers[name=\"nginx\"].image"
    );
    assert_eq!(
        causes[1].message,
        "conflict with \"kubectl-client-side-apply\" using apps/v1"
    );
}

#[test]
fn kubectl_may_take_over_fields_matching_last_applied() {
    let mut manifest = deployment(2, "nginx:1.27");
    let last = format!("{}\n", json::go_json(&manifest));
    manifest["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: last});
    let mut created = stored(manifest);
    update_managed_fields(
        "Deployment",
        None,
        &mut created,
        "kubectl-client-side-apply",
        "apps/v1",
        None,
        T1,
    );
    // Same values: the conflicts on the last-applied fields are overridden for "kubectl".
    let out = ssa(
        Some(&created),
        &deployment(3, "nginx:1.27"),
        "kubectl",
        false,
        T2,
    );
    assert_eq!(out["spec"]["replicas"], 3);
    let ann = out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(
        ann.contains("\"replicas\":3") && ann.ends_with('\n'),
        "{ann}"
    );
    // Another manager gets no such allowance.
    conflict_of(apply(
        "Deployment",
        Some(&created),
        &deployment(3, "nginx:1.27"),
        "helm",
        false,
        "apps/v1",
        T2,
    ));
}

#[test]
fn finalizers_are_a_set_and_args_atomic() {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "finalizers": ["a.io/x", "b.io/y"]},
        "data": {"k": "v"}
    });
    let out = apply("ConfigMap", None, &cm, "kubectl", false, "v1", T1).unwrap();
    assert_eq!(
        entry(&out, "kubectl")["fieldsV1"],
        json!({"f:data": {"f:k": {}}, "f:metadata": {"f:finalizers": {"v:\"a.io/x\"": {}, "v:\"b.io/y\"": {}}}})
    );
    // Another applier adds a finalizer: sets merge by value.
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "finalizers": ["c.io/z"]}});
    let out2 = apply("ConfigMap", Some(&out), &other, "ctrl", false, "v1", T2).unwrap();
    assert_eq!(
        out2["metadata"]["finalizers"],
        json!(["a.io/x", "b.io/y", "c.io/z"])
    );
    // Atomic args: a different list from another manager is one conflict on the whole list.
    let live = ssa(None, &deployment(2, "nginx:1.27"), "kubectl", false, T1);
    let mut m = deployment(2, "nginx:1.27");
    m["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--c"]);
    let (message, _) = conflict_of(apply(
        "Deployment",
        Some(&live),
        &m,
        "other",
        false,
        "apps/v1",
        T2,
    ));
    assert_eq!(
        message,
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.template.spec.containers[name=\"nginx\"].args"
    );
}

#[test]
fn service_ports_by_port_and_protocol() {
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"selector": {"app": "app"}, "ports": [{"port": 80, "targetPort": 8080}, {"port": 53, "protocol": "UDP"}]}
    });
    let out = apply("Service", None, &svc, "kubectl", false, "v1", T1).unwrap();
    assert_eq!(
        entry(&out, "kubectl")["fieldsV1"],
        json!({"f:spec": {
            "f:ports": {
                "k:{\"port\":53,\"protocol\":\"UDP\"}": {".": {}, "f:port": {}, "f:protocol": {}},
                "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}
            },
            "f:selector": {}
        }})
    );
}

#[test]
fn noop_update_keeps_bytes_and_changes_move_ownership() {
    let live = ssa(None, &deployment(2, "nginx:1.27"), "kubectl", false, T1);
    let mut same = live.clone();
    update_managed_fields(
        "Deployment",
        Some(&live),
        &mut same,
        "kube-controller-manager",
        "apps/v1",
        None,
        T2,
    );
    assert_eq!(
        serde_json::to_string(&same).unwrap(),
        serde_json::to_string(&live).unwrap()
    );

    let mut edited = live.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:edit");
    edited["status"] = json!({"replicas": 2});
    update_managed_fields(
        "Deployment",
        Some(&live),
        &mut edited,
        "kubectl-edit",
        "apps/v1",
        None,
        T2,
    );
    let e = entries(&edited);
    assert_eq!(e[1]["manager"], "kubectl-edit");
    assert_eq!(e[1]["time"], T2);
    // status is not owned through the main resource.
    assert_eq!(
        e[1]["fieldsV1"],
        json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {"f:image": {}}}}}}})
    );
    let kubectl = &e[0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
        ["k:{\"name\":\"nginx\"}"];
    assert!(kubectl.get("f:image").is_none());
}

#[test]
fn entries_that_own_no_changed_field_are_written_back_unchanged() {
    let live = ssa(None, &deployment(2, "nginx:1.27"), "kubectl", false, T1);
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(3);
    update_managed_fields(
        "Deployment",
        Some(&live),
        &mut scaled,
        "scaler",
        "apps/v1",
        None,
        T2,
    );
    let mut edited = scaled.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:edit");
    update_managed_fields(
        "Deployment",
        Some(&scaled),
        &mut edited,
        "editor",
        "apps/v1",
        None,
        T3,
    );
    // The scaler owns nothing the edit changed: same entry, same time.
    assert_eq!(entry(&edited, "scaler"), entry(&scaled, "scaler"));
    assert_eq!(entry(&edited, "scaler")["time"], T2);
    // The applier lost the image; its re-encoded set is what decoding and encoding give.
    let kubectl = &entry(&edited, "kubectl")["fieldsV1"];
    let containers = &kubectl["f:spec"]["f:template"]["f:spec"]["f:containers"];
    assert!(containers["k:{\"name\":\"nginx\"}"]
        .get("f:image")
        .is_none());
    let reencoded = Set::from_fields_v1(kubectl).expect("decode").to_fields_v1();
    assert_eq!(&reencoded, kubectl);
    assert_eq!(entry(&edited, "editor")["time"], T3);
}

#[test]
fn client_sent_managed_fields_are_honoured_and_empty_list_resets() {
    let live = ssa(None, &deployment(2, "nginx:1.27"), "kubectl", false, T1);
    // csaupgrade-style rewrite: same object, different managedFields.
    let mut patched = live.clone();
    patched["metadata"]["managedFields"][0]["manager"] = json!("renamed");
    update_managed_fields(
        "Deployment",
        Some(&live),
        &mut patched,
        "kubectl",
        "apps/v1",
        None,
        T2,
    );
    assert_eq!(entries(&patched)[0]["manager"], "renamed");
    assert_eq!(entries(&patched)[0]["time"], T1);

    let mut reset = live.clone();
    reset["metadata"]["managedFields"] = json!([]);
    update_managed_fields(
        "Deployment",
        Some(&live),
        &mut reset,
        "kubectl",
        "apps/v1",
        None,
        T2,
    );
    assert!(reset["metadata"].get("managedFields").is_none());
    // Untracked objects stay untracked on updates...
    let mut next = reset.clone();
    next["spec"]["replicas"] = json!(4);
    update_managed_fields(
        "Deployment",
        Some(&reset),
        &mut next,
        "kubectl",
        "apps/v1",
        None,
        T3,
    );
    assert!(next["metadata"].get("managedFields").is_none());
    // ...and the first apply hands the existing fields to "before-first-apply".
    let (message, _) = conflict_of(apply(
        "Deployment",
        Some(&next),
        &deployment(2, "nginx:1.27"),
        "ci",
        false,
        "apps/v1",
        T4,
    ));
    assert_eq!(
        message,
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );

    // Invalid managedFields from the client fall back to the stored ones.
    let mut bad = live.clone();
    bad["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Bogus"}]);
    bad["spec"]["replicas"] = json!(9);
    update_managed_fields(
        "Deployment",
        Some(&live),
        &mut bad,
        "kubectl",
        "apps/v1",
        None,
        T2,
    );
    assert_eq!(entries(&bad).len(), 2);
}

#[test]
fn invalid_apply_bodies() {
    let mut with_mf = deployment(1, "x");
    with_mf["metadata"]["managedFields"] = json!([]);
    for (body, want) in [
        (with_mf, "metadata.managedFields must be nil"),
        (json!({"apiVersion": "apps/v1beta1", "kind": "Deployment"}), "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1"),
        (json!([1]), "apply patch must be an object"),
    ] {
        match apply("Deployment", None, &body, "kubectl", false, "apps/v1", T1) {
            Err(ApplyError::Invalid(m)) => assert_eq!(m, want),
            other => panic!("{other:?}"),
        }
    }
    let mut dup = deployment(1, "x");
    dup["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]);
    match apply("Deployment", None, &dup, "kubectl", false, "apps/v1", T1) {
        Err(ApplyError::Invalid(m)) => {
            assert!(m.contains("duplicate entries for key [name=\"a\"]"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn update_managers_are_capped() {
    let mut obj = stored(deployment(1, "x"));
    update_managed_fields("Deployment", None, &mut obj, "creator", "apps/v1", None, T1);
    for i in 0..11 {
        let mut next = obj.clone();
        next["metadata"]["labels"][format!("l{i}")] = json!("v");
        let now = format!("2025-01-02T00:00:{i:02}Z");
        update_managed_fields(
            "Deployment",
            Some(&obj),
            &mut next,
            &format!("m{i}"),
            "apps/v1",
            None,
            &now,
        );
        obj = next;
    }
    let e = entries(&obj);
    assert_eq!(e.len(), 10);
    assert!(e.iter().any(|e| e["manager"] == "ancient-changes"));
}

#[test]
fn user_agent_prefix() {
    assert_eq!(
        manager_from_user_agent("kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07"),
        "kubectl"
    );
    assert_eq!(
        manager_from_user_agent("kube-controller-manager/v1.33.0"),
        "kube-controller-manager"
    );
    assert_eq!(manager_from_user_agent(""), "");
    assert_eq!(manager_from_user_agent(&"a".repeat(300)).len(), 128);
}

#[test]
fn fields_v1_round_trips() {
    let v = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}});
    let s = set::Set::from_fields_v1(&v).unwrap();
    assert_eq!(s.to_fields_v1(), v);
    assert!(set::Set::from_fields_v1(&json!({"k:notjson": {}})).is_err());
}

#[test]
fn csaupgrade_patch_then_server_side_apply() {
    let mut manifest = deployment(2, "nginx:1.27");
    let last = format!("{}\n", json::go_json(&manifest));
    manifest["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: last});
    let mut live = stored(manifest);
    update_managed_fields(
        "Deployment",
        None,
        &mut live,
        "kubectl-client-side-apply",
        "apps/v1",
        None,
        T1,
    );
    // kubectl's JSON patch turns the client-side entry into kubectl's Apply entry.
    let mut patched = live.clone();
    patched["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
    patched["metadata"]["managedFields"][0]["operation"] = json!("Apply");
    update_managed_fields(
        "Deployment",
        Some(&live),
        &mut patched,
        "kubectl",
        "apps/v1",
        None,
        T2,
    );
    let e = entries(&patched);
    assert_eq!(
        (e.len(), &e[0]["operation"], &e[0]["time"]),
        (1, &json!("Apply"), &json!(T1))
    );
    // The server-side apply now owns everything: no conflict, and the annotation it no
    // longer applies is pruned, as upstream does.
    let out = ssa(
        Some(&patched),
        &deployment(4, "nginx:1.27"),
        "kubectl",
        false,
        T3,
    );
    assert_eq!(out["spec"]["replicas"], 4);
    assert!(
        out["metadata"].get("annotations").is_none(),
        "{}",
        out["metadata"]
    );
    assert_eq!(entries(&out).len(), 1);
}

#[test]
fn in_place_removal_matches_the_copying_differences() {
    let f = |n: &str| PathElement::Field(n.to_string());
    let mut a = Set::new();
    for p in [
        vec![f("spec")],
        vec![f("spec"), f("replicas")],
        vec![f("spec"), f("template"), f("spec"), f("containers")],
        vec![f("metadata"), f("labels"), f("app")],
        vec![f("status"), f("replicas")],
    ] {
        a.insert(&p);
    }
    let mut b = Set::new();
    for p in [
        vec![f("spec")],
        vec![f("metadata"), f("labels"), f("app")],
        vec![f("status"), f("other")],
    ] {
        b.insert(&p);
    }
    let mut exact = a.clone();
    exact.remove(&b);
    assert_eq!(exact, a.difference(&b));
    assert!(exact.has(&[f("spec"), f("replicas")]));
    let mut recursive = a.clone();
    recursive.remove_recursive(&b);
    assert_eq!(recursive, a.recursive_difference(&b));
    assert!(!recursive.has(&[f("spec"), f("replicas")]));
    assert!(recursive.has(&[f("status"), f("replicas")]));
    assert!(!recursive.has(&[f("metadata"), f("labels"), f("app")]));
}

#[test]
fn schema_paths_name_keyed_items_by_their_keys() {
    let d = serde_json::json!({"spec": {"template": {"spec": {
        "containers": [{"name": "a"}, {"name": "c", "ports": [{"containerPort": 80}]}],
        "args": ["x"]}}},
        "metadata": {"labels": {"app.kubernetes.io/name": "x"}}});
    let p = |dotted: &str| crate::schema_path("Deployment", &d, dotted);
    assert_eq!(
        p("spec.template.spec.containers[1].foo"),
        ".spec.template.spec.containers[name=\"c\"].foo"
    );
    assert_eq!(
        p("spec.template.spec.containers[1].ports[0].bar"),
        ".spec.template.spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"].bar"
    );
    assert_eq!(p("bogus"), ".bogus");
    assert_eq!(p("spec.unknown1"), ".spec.unknown1");
    assert_eq!(
        p("metadata.labels.app.kubernetes.io/name.x"),
        ".metadata.labels.app.kubernetes.io/name.x"
    );
}
