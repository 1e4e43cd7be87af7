//! The hand-written CRD fixtures against the seed manifests that use them.

use std::path::PathBuf;

use minato_crd::{crd_defaults, served_resources, validate_crd};
use minato_resources::registry::Entry;
use minato_resources::FieldError;
use serde::Deserialize;
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/crds")
}

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| {
            let v = serde_yaml::Value::deserialize(d).expect("yaml");
            serde_json::to_value(v).expect("json")
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn load_dir(dir: PathBuf) -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(&p).expect("read");
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            yaml_docs(&text).into_iter().map(move |d| (name.clone(), d))
        })
        .collect()
}

fn crds() -> Vec<Value> {
    load_dir(fixtures()).into_iter().map(|(_, v)| v).collect()
}

fn entries() -> Vec<Entry> {
    crds().iter().flat_map(served_resources).collect()
}

fn entry(entries: &[Entry], api_version: &str, kind: &str) -> Entry {
    entries
        .iter()
        .find(|e| e.info.api_version() == api_version && e.info.kind == kind)
        .unwrap_or_else(|| panic!("no entry for {api_version} {kind}"))
        .clone()
}

/// decode → prepare → defaults → validate, as the API server's create path runs them.
fn create(entries: &[Entry], obj: Value) -> (Value, Vec<String>, Vec<FieldError>) {
    let api_version = obj["apiVersion"].as_str().unwrap().to_string();
    let kind = obj["kind"].as_str().unwrap().to_string();
    let e = entry(entries, &api_version, &kind);
    let decoded = e.strategy.decode(obj).expect("decode");
    let mut o = decoded.object;
    e.strategy.prepare_for_create(&mut o);
    e.strategy.apply_defaults(&mut o);
    let errs = e.strategy.validate(&o);
    (o, decoded.unknown_fields, errs)
}

fn seed(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join("objects").join(file)).expect("seed");
    yaml_docs(&text)
}

fn strings(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

#[test]
fn every_fixture_crd_is_valid() {
    let all = crds();
    assert_eq!(all.len(), 8);
    for mut crd in all {
        crd_defaults(&mut crd);
        let errs = validate_crd(&crd);
        assert!(
            errs.is_empty(),
            "{}: {:?}",
            crd["metadata"]["name"],
            strings(&errs)
        );
    }
}

#[test]
fn every_seed_custom_resource_is_accepted() {
    let entries = entries();
    let objects = load_dir(fixtures().join("objects"));
    assert_eq!(objects.len(), 9);
    for (file, obj) in objects {
        let (_, unknown, errs) = create(&entries, obj);
        assert!(errs.is_empty(), "{file}: {:?}", strings(&errs));
        assert!(unknown.is_empty(), "{file}: unknown {unknown:?}");
    }
}

#[test]
fn seeds_get_schema_defaults() {
    let entries = entries();
    let es = seed("003-12-block-externalsecret.yaml").remove(0);
    let (o, _, _) = create(&entries, es);
    assert_eq!(o["spec"]["target"]["creationPolicy"], "Owner");
    assert_eq!(o["spec"]["target"]["deletionPolicy"], "Retain");
    assert_eq!(
        o["spec"]["data"][0]["remoteRef"]["conversionStrategy"],
        "Default"
    );
    assert_eq!(
        o["spec"]["data"][0]["remoteRef"]["decodingStrategy"],
        "None"
    );
    let rollout = seed("003-08-k8s__base__rollout.yaml").remove(0);
    let (o, _, _) = create(&entries, rollout);
    assert_eq!(o["spec"]["revisionHistoryLimit"], 10);
    // The preserved pod template is left alone.
    assert_eq!(
        o["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        3000
    );
}

fn mutate(mut obj: Value, pointer: &str, v: Value) -> Value {
    *obj.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}")) = v;
    obj
}

fn remove(mut obj: Value, pointer: &str, key: &str) -> Value {
    obj.pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .expect("object")
        .remove(key);
    obj
}

#[test]
fn broken_seed_variants_fail_with_upstream_messages() {
    let entries = entries();
    let rollout = seed("003-08-k8s__base__rollout.yaml");
    let app = seed("003-06-argocd__application.yaml").remove(0);
    let vpa = seed("002-13-vpa.yaml").remove(0);
    let vs = seed("003-09-istio__virtual-service.yaml");
    let es = seed("002-11-external-secrets.yaml").remove(0);

    let cases: Vec<(Value, &str)> = vec![
        (
            mutate(rollout[0].clone(), "/spec/replicas", json!("five")),
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
        ),
        (
            mutate(rollout[0].clone(), "/spec/replicas", json!(-1)),
            "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        ),
        (
            mutate(rollout[0].clone(), "/spec/strategy/canary/steps/0/setWeight", json!(150)),
            "spec.strategy.canary.steps[0].setWeight: Invalid value: 150: spec.strategy.canary.steps[0].setWeight in body should be less than or equal to 100",
        ),
        (
            mutate(rollout[0].clone(), "/spec/strategy/canary/steps/1/pause/duration", json!(true)),
            r#"spec.strategy.canary.steps[1].pause.duration: Invalid value: "boolean": spec.strategy.canary.steps[1].pause.duration in body must be of type integer,string: "boolean""#,
        ),
        (
            remove(rollout[1].clone(), "/spec/metrics/0", "provider"),
            "spec.metrics[0].provider: Required value",
        ),
        (
            mutate(rollout[1].clone(), "/spec/metrics", json!([])),
            "spec.metrics: Invalid value: 0: spec.metrics in body should have at least 1 items",
        ),
        (
            remove(app.clone(), "/spec", "project"),
            "spec.project: Required value",
        ),
        (
            mutate(app.clone(), "/spec/syncPolicy/automated/prune", json!("yes")),
            r#"spec.syncPolicy.automated.prune: Invalid value: "string": spec.syncPolicy.automated.prune in body must be of type boolean: "string""#,
        ),
        (
            mutate(vpa.clone(), "/spec/updatePolicy/updateMode", json!("Sometimes")),
            r#"spec.updatePolicy.updateMode: Unsupported value: "Sometimes": supported values: "Off", "Initial", "Recreate", "Auto", "InPlaceOrRecreate""#,
        ),
        (
            mutate(vpa.clone(), "/spec/resourcePolicy/containerPolicies/0/maxAllowed/memory", json!("4 GB")),
            r#"spec.resourcePolicy.containerPolicies[0].maxAllowed.memory: Invalid value: "4 GB": spec.resourcePolicy.containerPolicies[0].maxAllowed.memory in body should match '^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$'"#,
        ),
        (
            remove(vpa.clone(), "/spec/targetRef", "name"),
            "spec.targetRef.name: Required value",
        ),
        (
            remove(vs[0].clone(), "/spec/http/0/route/0/destination", "host"),
            "spec.http[0].route[0].destination.host: Required value",
        ),
        (
            mutate(vs[1].clone(), "/spec/trafficPolicy/connectionPool/http/h2UpgradePolicy", json!("ALWAYS")),
            r#"spec.trafficPolicy.connectionPool.http.h2UpgradePolicy: Unsupported value: "ALWAYS": supported values: "DEFAULT", "DO_NOT_UPGRADE", "UPGRADE""#,
        ),
        (
            mutate(es.clone(), "/spec/secretStoreRef/kind", json!("Vault")),
            r#"spec.secretStoreRef.kind: Unsupported value: "Vault": supported values: "SecretStore", "ClusterSecretStore""#,
        ),
        (
            mutate(es.clone(), "/metadata/name", json!("Database_Secret")),
            r#"metadata.name: Invalid value: "Database_Secret": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
        ),
    ];
    for (obj, want) in cases {
        let (_, _, errs) = create(&entries, obj);
        let got = strings(&errs);
        assert!(got.iter().any(|g| g == want), "want {want}\n got {got:?}");
    }

    // Duplicate keys of a list-type map.
    let mut at = rollout[1].clone();
    let metric = at["spec"]["metrics"][0].clone();
    at["spec"]["metrics"].as_array_mut().unwrap().push(metric);
    let (_, _, errs) = create(&entries, at);
    assert!(
        errs.iter().any(|e| e.field == "spec.metrics[1]"
            && e.kind == minato_resources::ErrorType::Duplicate
            && e.bad_value == Some(json!({"name": "success-rate"}))),
        "{:?}",
        strings(&errs)
    );
}

#[test]
fn seed_unknown_fields_are_pruned_and_reported() {
    let entries = entries();
    let mut app = seed("003-06-argocd__application.yaml").remove(0);
    app["spec"]["destination"]["cluster"] = json!("in-cluster");
    app["spec"]["ignoreDifferences"][0]["typo"] = json!(1);
    app["spec"]["source"]["helm"]["anything"] = json!({"goes": true});
    let (o, unknown, errs) = create(&entries, app);
    assert!(errs.is_empty(), "{:?}", strings(&errs));
    assert_eq!(
        unknown,
        vec![
            "spec.destination.cluster".to_string(),
            "spec.ignoreDifferences[0].typo".to_string()
        ]
    );
    assert!(o["spec"]["destination"].get("cluster").is_none());
    assert_eq!(o["spec"]["source"]["helm"]["anything"]["goes"], true);
    // Root metadata is the server's business and is kept whole.
    assert_eq!(
        o["metadata"]["finalizers"][0],
        "resources-finalizer.argocd.argoproj.io"
    );
}
