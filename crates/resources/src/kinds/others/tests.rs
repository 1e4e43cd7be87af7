//! Seeds, defaults and the main validation rules of the non-workload kinds.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::builtin;
use crate::strategy::Strategy;

fn strategy(api_version: &str, kind: &str) -> Arc<dyn Strategy> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    builtin::entries()
        .into_iter()
        .find(|e| e.info.group == group && e.info.version == version && e.info.kind == kind)
        .map(|e| e.strategy)
        .unwrap_or_else(|| panic!("no entry for {api_version} {kind}"))
}

/// Decode, default, prepare and validate as a create would; the messages on failure.
fn create(obj: Value) -> Result<Value, Vec<String>> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    let st = strategy(&api_version, &kind);
    let mut o = st.decode(obj).map_err(|e| vec![e.0])?.object;
    st.apply_defaults(&mut o);
    st.prepare_for_create(&mut o);
    let errs = st.validate(&o);
    if errs.is_empty() {
        Ok(o)
    } else {
        Err(errs.iter().map(ToString::to_string).collect())
    }
}

fn create_err(obj: Value) -> Vec<String> {
    match create(obj) {
        Ok(o) => panic!("accepted: {o}"),
        Err(e) => e,
    }
}

fn mine(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let workload = matches!(
        (group, kind),
        ("", "Pod" | "PodTemplate" | "ReplicationController")
    ) || group == "apps"
        || group == "batch";
    !workload
        && builtin::entries()
            .iter()
            .any(|e| e.info.api_version() == api_version && e.info.kind == kind)
}

#[test]
fn seed_manifests_of_these_kinds() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/seeds/manifests"
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("no seeds at {dir}; skipping");
        return;
    };
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read seed");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let Ok(v) = <serde_yaml::Value as serde::Deserialize>::deserialize(doc) else {
                continue;
            };
            let Ok(mut obj) = serde_json::to_value(v) else {
                continue;
            };
            let (Some(av), Some(kind)) = (
                obj["apiVersion"].as_str().map(String::from),
                obj["kind"].as_str().map(String::from),
            ) else {
                continue;
            };
            if !mine(&av, &kind) {
                continue;
            }
            let namespaced = builtin::entries()
                .iter()
                .any(|e| e.info.kind == kind && e.info.namespaced);
            if namespaced && obj["metadata"]["namespace"].is_null() {
                obj["metadata"]["namespace"] = json!("default");
            }
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            let result = create(obj);
            checked += 1;
            match (kind.as_str(), name.as_str()) {
                ("ConfigMap", "cluster-config") => assert_eq!(
                    result.err(),
                    Some(vec!["ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal array into Go struct field ConfigMap.data of type string".to_string()])
                ),
                ("PodDisruptionBudget", "web-app-pdb") => {
                    let errs = result.expect_err("both set");
                    assert_eq!(errs.len(), 1, "{errs:?}");
                    assert!(errs[0].starts_with("spec: Invalid value: "), "{errs:?}");
                    assert!(errs[0].ends_with(": minAvailable and maxUnavailable cannot be both set"), "{errs:?}");
                }
                _ => {
                    if let Err(e) = result {
                        panic!("{} {kind}/{name}: {e:?}", f.display());
                    }
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} seed objects checked");
}

#[test]
fn service_defaults_match_upstream() {
    let o = create(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "d"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .expect("valid");
    assert_eq!(
        o["spec"],
        json!({"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
            "sessionAffinity": "None", "type": "ClusterIP", "internalTrafficPolicy": "Cluster",
            "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]})
    );
    assert_eq!(o["status"], json!({"loadBalancer": {}}));
    let o = create(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb", "namespace": "d"},
        "spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80, "targetPort": "http"}]}}))
    .expect("valid");
    assert_eq!(o["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(o["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(
        o["spec"]["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
    assert_eq!(o["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn service_validation_messages() {
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "Web", "namespace": "d"},
        "spec": {"type": "Bogus", "ports": [{"port": 80}, {"port": 70000, "name": "b", "protocol": "ICMP"}, {"name": "b", "port": 81}]}}),
    );
    assert_eq!(
        errs,
        vec![
            "metadata.name: Invalid value: \"Web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            "spec.ports[0].name: Required value",
            "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.ports[1].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.ports[2].name: Duplicate value: \"b\"",
            "spec.type: Unsupported value: \"Bogus\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        ]
    );
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "d"},
        "spec": {"ports": [{"port": 80, "nodePort": 30080}]}}),
    );
    assert_eq!(
        errs,
        vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
}

#[test]
fn service_cluster_ip_is_immutable_and_kept() {
    let st = strategy("v1", "Service");
    let old = create(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "d"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}}),
    )
    .expect("valid");
    assert_eq!(old["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    // Left out: carried over from the stored object.
    let mut new = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "d"}, "spec": {"ports": [{"port": 80}]}});
    st.apply_defaults(&mut new);
    st.prepare_for_update(&mut new, &old);
    assert_eq!(new["spec"]["clusterIP"], "10.96.0.10");
    assert!(st.validate_update(&new, &old).is_empty());
    // Changed: rejected.
    let mut changed = old.clone();
    changed["spec"]["clusterIP"] = json!("10.96.0.11");
    changed["spec"]["clusterIPs"] = json!(["10.96.0.11"]);
    let errs: Vec<String> = st
        .validate_update(&changed, &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        vec![
            "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set"
        ]
    );
}

#[test]
fn secret_string_data_and_types() {
    let o = create(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
        "data": {"a": "eA=="}, "stringData": {"a": "hello", "b": "world"}}),
    )
    .expect("valid");
    assert_eq!(o["type"], "Opaque");
    assert_eq!(o["data"], json!({"a": "aGVsbG8=", "b": "d29ybGQ="}));
    assert!(o.get("stringData").is_none());
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls", "data": {"tls.crt": ""}}),
    );
    assert_eq!(errs, vec!["data[tls.key]: Required value"]);
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": "{x"}}),
    );
    assert_eq!(errs, vec!["data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'x' looking for beginning of object key string".to_string()].into_iter().map(|_| errs[0].clone()).collect::<Vec<_>>());
    assert!(errs[0].starts_with(
        "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character"
    ));
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/service-account-token"}),
    );
    assert_eq!(
        errs,
        vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
    );
}

#[test]
fn immutable_config_map_and_secret_type() {
    let st = strategy("v1", "ConfigMap");
    let old = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": {"a": "1"}, "immutable": true});
    let new = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": {"a": "2"}});
    let errs: Vec<String> = st
        .validate_update(&new, &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        vec![
            "immutable: Forbidden: field is immutable when `immutable` is set",
            "data: Forbidden: field is immutable when `immutable` is set"
        ]
    );
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": {"a b": "1"}}),
    );
    assert_eq!(errs, vec!["data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]);
    let st = strategy("v1", "Secret");
    let old = json!({"metadata": {"name": "s"}, "type": "Opaque"});
    let new = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
    let errs: Vec<String> = st
        .validate_update(&new, &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        errs.contains(
            &"type: Invalid value: \"kubernetes.io/tls\": field is immutable".to_string()
        ),
        "{errs:?}"
    );
}

#[test]
fn namespace_defaults_and_name_rule() {
    let o = create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}))
        .expect("valid");
    assert_eq!(
        o["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": "prod"})
    );
    assert_eq!(o["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(o["status"], json!({"phase": "Active"}));
    let errs =
        create_err(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}));
    assert_eq!(
        errs,
        vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
    );
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "namespace": "x"}}),
    );
    assert_eq!(
        errs,
        vec!["metadata.namespace: Forbidden: not allowed on this type"]
    );
}

#[test]
fn pvc_rules() {
    let o = create(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p", "namespace": "d"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
    .expect("valid");
    assert_eq!(o["spec"]["volumeMode"], "Filesystem");
    assert_eq!(o["status"], json!({"phase": "Pending"}));
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p", "namespace": "d"}, "spec": {}}),
    );
    assert_eq!(
        errs,
        vec![
            "spec.accessModes: Required value: at least 1 access mode is required",
            "spec.resources[storage]: Required value"
        ]
    );
    let st = strategy("v1", "PersistentVolumeClaim");
    let mut new = o.clone();
    new["spec"]["accessModes"] = json!(["ReadWriteMany"]);
    let errs: Vec<String> = st
        .validate_update(&new, &o)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));
}

#[test]
fn storage_class_defaults_and_immutable_parameters() {
    let o = create(json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"}, "provisioner": "rancher.io/local-path", "parameters": {"a": "1"}})).expect("valid");
    assert_eq!(o["reclaimPolicy"], "Delete");
    assert_eq!(o["volumeBindingMode"], "Immediate");
    let errs = create_err(
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "x"}}),
    );
    assert_eq!(errs, vec!["provisioner: Required value"]);
    let st = strategy("storage.k8s.io/v1", "StorageClass");
    let mut new = o.clone();
    new["parameters"]["a"] = json!("2");
    let errs: Vec<String> = st
        .validate_update(&new, &o)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        vec!["parameters: Forbidden: updates to parameters are forbidden."]
    );
}

#[test]
fn network_policy_defaults_and_peers() {
    let o = create(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "n", "namespace": "d"},
        "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}}))
    .expect("valid");
    assert_eq!(o["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(o["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    let errs = create_err(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "n", "namespace": "d"},
        "spec": {"podSelector": {}, "ingress": [{"from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16", "10.0.0.0/33"]}}], "ports": [{"protocol": "ICMP", "port": 80, "endPort": 79}]}]}}),
    );
    assert_eq!(
        errs,
        vec![
            "spec.ingress[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"TCP\", \"UDP\", \"SCTP\"",
            "spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`",
            "spec.ingress[0].from[0]: Required value: must specify a peer",
            "spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: \"11.0.0.0/16\": must be a strict subset of `cidr`",
            "spec.ingress[0].from[1].ipBlock.except[1]: Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ]
    );
}

#[test]
fn ingress_rules_and_class_warning() {
    let st = strategy("networking.k8s.io/v1", "Ingress");
    let obj = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "d", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
        "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
    assert_eq!(st.warnings(&obj), vec!["annotation \"kubernetes.io/ingress.class\" is deprecated, please use 'spec.ingressClassName' instead"]);
    let errs = create_err(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "d"},
        "spec": {"rules": [{"host": "1.2.3.4", "http": {"paths": [{"path": "/"}, {"path": "x", "pathType": "Exact", "backend": {"service": {"name": "web"}}}]}}]}}),
    );
    assert_eq!(
        errs,
        vec![
            "spec.rules[0].host: Invalid value: \"1.2.3.4\": must be a DNS name, not an IP address",
            "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
            "spec.rules[0].http.paths[1].path: Invalid value: \"x\": must be an absolute path",
            "spec.rules[0].http.paths[1].backend: Required value: port name or number is required",
        ]
    );
}

#[test]
fn hpa_defaults_validation_and_conversion() {
    let o = create(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "d"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5,
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}}}}))
    .expect("valid");
    assert_eq!(o["spec"]["minReplicas"], 1);
    assert_eq!(
        o["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}])
    );
    assert_eq!(
        o["spec"]["behavior"],
        json!({"scaleDown": {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}], "stabilizationWindowSeconds": 300},
               "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}})
    );
    let errs = create_err(
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "d"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 0, "maxReplicas": 0}}),
    );
    assert_eq!(
        errs,
        vec![
            "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
            "spec.maxReplicas: Invalid value: 0: must be greater than 0",
            "spec.metrics: Forbidden: must specify at least one Object or External metric to support scaling to zero replicas",
        ]
    );
    let errs = create_err(
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "d"},
        "spec": {"scaleTargetRef": {"kind": "Deployment"}, "minReplicas": 3, "maxReplicas": 2}}),
    );
    assert_eq!(
        errs,
        vec![
            "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
            "spec.scaleTargetRef.name: Required value",
        ]
    );

    // v1 in: decoded with the v1 type, stored as v2.
    let st = strategy("autoscaling/v1", "HorizontalPodAutoscaler");
    let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "d"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60}});
    let mut v2 = st.decode(v1).expect("decodes").object;
    st.apply_defaults(&mut v2);
    assert_eq!(v2["apiVersion"], "autoscaling/v2");
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        60
    );
    assert!(st.validate(&v2).is_empty());

    // Round trip of a v2 object with several metrics and a behavior through v1.
    let mut full = o.clone();
    full["spec"]["metrics"] = json!([
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}}},
        {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
    ]);
    let as_v1 = st.convert(full.clone(), "autoscaling/v1");
    assert_eq!(as_v1["apiVersion"], "autoscaling/v1");
    assert_eq!(as_v1["spec"]["targetCPUUtilizationPercentage"], 50);
    assert!(
        as_v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/metrics"].is_string()
    );
    let back = st.convert(as_v1, "autoscaling/v2");
    assert_eq!(back["spec"], full["spec"]);
    assert_eq!(back["metadata"], full["metadata"]);
}

#[test]
fn pdb_rules() {
    let errs = create_err(
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "d"},
        "spec": {"minAvailable": "150%", "selector": {"matchLabels": {"a": "b"}}}}),
    );
    assert_eq!(
        errs,
        vec!["spec.minAvailable: Invalid value: \"150%\": must not be greater than 100%"]
    );
    let errs = create_err(
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "d"},
        "spec": {"maxUnavailable": "x", "selector": {}}}),
    );
    assert_eq!(errs, vec!["spec.maxUnavailable: Invalid value: \"x\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"]);
}

#[test]
fn priority_class_and_rbac() {
    let o = create(json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"}, "value": 1000})).expect("valid");
    assert_eq!(o["preemptionPolicy"], "PreemptLowerPriority");
    let errs = create_err(
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "huge"}, "value": 2000000000}),
    );
    assert_eq!(
        errs,
        vec!["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
    );
    let st = strategy("scheduling.k8s.io/v1", "PriorityClass");
    let mut new = o.clone();
    new["value"] = json!(5);
    let errs: Vec<String> = st
        .validate_update(&new, &o)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        vec!["value: Forbidden: may not be changed in an update."]
    );

    let errs = create_err(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "d"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}),
    );
    assert_eq!(
        errs,
        vec!["rules[0].verbs: Required value: verbs must contain at least one value"]
    );
    let rb = create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "d"},
        "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "alice"}]}))
    .expect("valid");
    assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
    let st = strategy("rbac.authorization.k8s.io/v1", "RoleBinding");
    let mut new = rb.clone();
    new["roleRef"]["name"] = json!("other");
    let errs: Vec<String> = st
        .validate_update(&new, &rb)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("roleRef: Invalid value: ")
            && errs[0].ends_with(": cannot change roleRef"),
        "{errs:?}"
    );
}

#[test]
fn resource_quota_and_limit_range() {
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "d"}, "spec": {"hard": {"gpus": "1", "cpu": "-1"}}}),
    );
    assert_eq!(
        errs,
        vec![
            "spec.hard[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
            "spec.hard[gpus]: Invalid value: \"gpus\": must be a standard resource for quota",
        ]
    );
    let o = create(json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "d"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "1Mi"}}]}})).expect("valid");
    assert_eq!(o["spec"]["limits"][0]["default"], json!({"cpu": "1"}));
    assert_eq!(
        o["spec"]["limits"][0]["defaultRequest"],
        json!({"cpu": "1", "memory": "1Mi"})
    );
    let errs = create_err(
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "d"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "2"}}]}}),
    );
    assert!(errs.contains(&"spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1".to_string()), "{errs:?}");
}

/// A core/v1 Event with every field set, as the store holds it.
fn full_core_event() -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "d", "uid": "u-1", "resourceVersion": "7",
            "labels": {"a": "b"}, "annotations": {"x": "y"}},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "d",
            "uid": "p-1", "resourceVersion": "5", "fieldPath": "spec.containers{c}"},
        "related": {"apiVersion": "v1", "kind": "Node", "name": "n1"},
        "reason": "Pulled", "message": "pulled the image", "type": "Normal", "action": "Pull",
        "eventTime": "2024-01-01T00:00:00.123456Z",
        "series": {"count": 3, "lastObservedTime": "2024-01-01T00:01:00.000000Z"},
        "reportingComponent": "kubelet", "reportingInstance": "n1",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:01:00Z",
        "count": 3})
}

#[test]
fn events_convert_between_core_and_events_k8s_io() {
    let core = full_core_event();
    for api_version in ["v1", "events.k8s.io/v1"] {
        let st = strategy(api_version, "Event");
        let ev = st.convert(core.clone(), "events.k8s.io/v1");
        assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
        assert_eq!(ev["kind"], "Event");
        assert_eq!(ev["metadata"], core["metadata"]);
        assert_eq!(ev["regarding"], core["involvedObject"]);
        assert_eq!(ev["related"], core["related"]);
        assert_eq!(ev["note"], "pulled the image");
        for same in [
            "reason",
            "type",
            "action",
            "eventTime",
            "series",
            "reportingInstance",
        ] {
            assert_eq!(ev[same], core[same], "{same}");
        }
        assert_eq!(ev["reportingController"], "kubelet");
        assert_eq!(ev["deprecatedSource"], core["source"]);
        assert_eq!(ev["deprecatedFirstTimestamp"], core["firstTimestamp"]);
        assert_eq!(ev["deprecatedLastTimestamp"], core["lastTimestamp"]);
        assert_eq!(ev["deprecatedCount"], 3);
        for gone in [
            "involvedObject",
            "message",
            "reportingComponent",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
        ] {
            assert!(ev.get(gone).is_none(), "{gone} left in {ev}");
        }
        // The events.k8s.io object decodes as its own kind, with nothing unknown.
        let decoded = strategy("events.k8s.io/v1", "Event")
            .decode(ev.clone())
            .expect("decodes");
        assert!(
            decoded.unknown_fields.is_empty(),
            "{:?}",
            decoded.unknown_fields
        );
        // And back: the very same object.
        assert_eq!(st.convert(ev, "v1"), core);
    }
    // A sparse events.k8s.io Event round-trips without gaining fields.
    let sparse = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "e", "namespace": "d"}, "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "c", "reportingInstance": "i", "action": "A", "reason": "R",
        "type": "Normal", "regarding": {"kind": "Pod", "name": "p", "namespace": "d"}});
    let st = strategy("events.k8s.io/v1", "Event");
    let core = st.convert(sparse.clone(), "v1");
    assert_eq!(
        core,
        json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "e", "namespace": "d"}, "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingComponent": "c", "reportingInstance": "i", "action": "A", "reason": "R",
        "type": "Normal", "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d"}})
    );
    assert_eq!(st.convert(core, "events.k8s.io/v1"), sparse);
}

#[test]
fn events_validate_per_request_version() {
    let new_style = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "e", "namespace": "d"}, "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "c", "reportingInstance": "i", "action": "A", "reason": "R",
        "type": "Normal", "regarding": {"kind": "Pod", "name": "p", "namespace": "d"}});
    let stored = create(new_style.clone()).expect("valid events.k8s.io Event");

    // events.k8s.io/v1 needs the reporting fields, eventTime and no deprecated fields.
    let mut bad = new_style.clone();
    for k in ["eventTime", "reportingController", "action"] {
        bad.as_object_mut().unwrap().remove(k);
    }
    bad["deprecatedCount"] = json!(2);
    bad["deprecatedSource"] = json!({"component": "kubelet"});
    let errs = create_err(bad).join("\n");
    for want in [
        "eventTime: Required value",
        "count: Invalid value: \"\": needs to be unset",
        "source: Invalid value: \"\": needs to be unset",
    ] {
        assert!(errs.contains(want), "{want} missing in {errs}");
    }
    let mut bad = new_style.clone();
    bad["reportingController"] = json!("");
    let errs = create_err(bad).join("\n");
    assert!(
        errs.contains("reportingController: Required value"),
        "{errs}"
    );
    let mut bad = new_style.clone();
    bad["series"] = json!({"count": 1, "lastObservedTime": "2024-01-01T00:01:00.000000Z"});
    assert_eq!(
        create_err(bad),
        vec!["series.count: Invalid value: \"\": should be at least 2"]
    );
    let mut bad = new_style.clone();
    bad["regarding"]["namespace"] = json!("other");
    bad["regarding"]["name"] = json!("p");
    // With eventTime set only an empty regarding namespace outside default/kube-system fails.
    assert!(create(bad).is_ok());

    // The same object written as core/v1 passes the legacy rules only.
    let legacy = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "old", "namespace": "d"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d"},
        "reason": "R", "message": "m", "source": {"component": "kubelet"},
        "firstTimestamp": "2024-01-01T00:00:00Z", "count": 1, "type": "Normal"});
    create(legacy.clone()).expect("valid core Event");
    let mut bad = legacy.clone();
    bad["involvedObject"]["namespace"] = json!("other");
    assert_eq!(
        create_err(bad),
        vec!["involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"]
    );

    // Updates through events.k8s.io/v1 see the stored (core) object: the legacy fields of a
    // core Event are fine as long as they do not change; the event fields are immutable.
    let st = strategy("events.k8s.io/v1", "Event");
    let old_core = st.convert(stored, "v1");
    let mut relabelled = old_core.clone();
    relabelled["metadata"]["labels"] = json!({"x": "y"});
    assert!(st.validate_update(&relabelled, &old_core).is_empty());
    let mut changed = old_core.clone();
    changed["message"] = json!("new note");
    let errs: Vec<String> = st
        .validate_update(&changed, &old_core)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        vec!["message: Invalid value: \"new note\": field is immutable"]
    );
    let legacy_core = create(legacy).expect("valid");
    let mut relabelled = legacy_core.clone();
    relabelled["metadata"]["labels"] = json!({"x": "y"});
    assert!(st.validate_update(&relabelled, &legacy_core).is_empty());
    // core/v1 updates may change anything the legacy rules allow.
    let core_st = strategy("v1", "Event");
    assert!(core_st.validate_update(&changed, &old_core).is_empty());
}
