//! The documents as kubectl reads them.

use std::collections::HashSet;

use minato_openapi::{CustomSchemas, Gvk, OpenApi};
use minato_resources::{Registry, ResourceInfo, SubresourceInfo};
use serde_json::{json, Value};
use sha2::{Digest, Sha512};

fn builtin() -> OpenApi {
    match OpenApi::from_registry(&Registry::new(), &CustomSchemas::new()) {
        Ok(o) => o,
        Err(e) => panic!("building documents: {e}"),
    }
}

fn doc(api: &OpenApi, gv: &str) -> Value {
    let Some((bytes, _)) = api.v3_document(gv) else {
        panic!("no document for {gv}");
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => panic!("{gv} is not JSON: {e}"),
    }
}

fn schema<'a>(d: &'a Value, name: &str) -> &'a Value {
    let s = &d["components"]["schemas"][name];
    assert!(s.is_object(), "no schema {name}");
    s
}

/// What cli-runtime's query_param_verifier_v3 does: the first PATCH operation (in any path)
/// with the kind's GVK decides, so every one of them must carry the parameter.
fn patch_supports(d: &Value, gvk: &Value, param: &str) -> Option<bool> {
    let mut found = None;
    for item in d["paths"].as_object()?.values() {
        let Some(op) = item.get("patch") else {
            continue;
        };
        if op.get("x-kubernetes-group-version-kind") != Some(gvk) {
            continue;
        }
        let ok = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == param && p["in"] == "query"));
        if found == Some(true) || found.is_none() {
            found = Some(ok);
        }
        if !ok {
            return Some(false);
        }
    }
    found
}

/// A shared parameter or response, followed from its `$ref` (inline ones as they are).
fn shared<'a>(d: &'a Value, v: &'a Value) -> &'a Value {
    let Some(r) = v["$ref"].as_str() else {
        return v;
    };
    let (kind, name) = r
        .strip_prefix("#/components/")
        .and_then(|r| r.split_once('/'))
        .unwrap_or_else(|| panic!("foreign ref {r}"));
    let target = &d["components"][kind][name];
    assert!(target.is_object(), "{r} does not resolve");
    target
}

/// The names of an operation's (or path item's) parameters, shared ones resolved.
fn param_names<'a>(d: &'a Value, params: &'a Value) -> Vec<&'a str> {
    params
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| shared(d, p)["name"].as_str())
        .collect()
}

/// Follows `allOf: [{$ref}]` and `$ref` to the component.
fn resolve<'a>(d: &'a Value, s: &'a Value) -> &'a Value {
    let r = s["$ref"]
        .as_str()
        .or_else(|| s["allOf"][0]["$ref"].as_str());
    match r.and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => schema(d, name),
        None => s,
    }
}

fn field<'a>(d: &'a Value, s: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = s;
    for (i, f) in path.iter().enumerate() {
        let mut obj = resolve(d, cur);
        if obj.get("properties").is_none() && obj.get("items").is_some() {
            obj = resolve(d, &obj["items"]);
        }
        cur = &obj["properties"][*f];
        assert!(cur.is_object(), "no field {}", path[..=i].join("."));
    }
    cur
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

#[test]
fn index_lists_every_served_group_version() {
    let api = builtin();
    let index = api.v3_index();
    let paths = index["paths"].as_object().expect("paths object");
    for (group, versions) in Registry::new().groups() {
        for v in versions {
            let key = if group.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{group}/{v}")
            };
            let url = paths[&key]["serverRelativeURL"]
                .as_str()
                .unwrap_or_else(|| panic!("{key} missing from the index"));
            let (bytes, hash) = api.v3_document(&key).expect("document");
            assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
            assert_eq!(hash, hex::encode_upper(Sha512::digest(&*bytes)));
            assert_eq!(hash.len(), 128);
        }
    }
    assert!(api.v3_document("apis/nothing/v1").is_none());
    assert!(api.v3_document("/apis/apps/v1").is_some());
}

#[test]
fn deployment_patch_has_field_validation() {
    let api = builtin();
    let d = doc(&api, "apis/apps/v1");
    assert_eq!(d["openapi"], "3.0.0");
    let gvk = json!({"group": "apps", "kind": "Deployment", "version": "v1"});
    assert_eq!(patch_supports(&d, &gvk, "fieldValidation"), Some(true));
    let op = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(op["x-kubernetes-group-version-kind"], gvk);
    assert_eq!(op["x-kubernetes-action"], "patch");
    assert_eq!(op["operationId"], "patchAppsV1NamespacedDeployment");
    let content = op["requestBody"]["content"].as_object().expect("content");
    for t in [
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ] {
        assert!(content.contains_key(t), "{t}");
    }
    let names: HashSet<&str> = param_names(&d, &op["parameters"]).into_iter().collect();
    assert_eq!(
        names,
        HashSet::from(["dryRun", "fieldManager", "fieldValidation", "force"])
    );
    // Scale's PATCH is found under its own GVK.
    let scale = json!({"group": "autoscaling", "kind": "Scale", "version": "v1"});
    assert_eq!(patch_supports(&d, &scale, "fieldValidation"), Some(true));
    // Every kind the registry serves with patch can be validated server side.
    for e in Registry::new().all() {
        if !e.info.has_verb("patch") {
            continue;
        }
        let d = doc(&api, &minato_key(&e.info));
        let gvk = json!({"group": e.info.group, "kind": e.info.kind, "version": e.info.version});
        assert_eq!(
            patch_supports(&d, &gvk, "fieldValidation"),
            Some(true),
            "{}",
            e.info.kind
        );
    }
}

fn minato_key(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        format!("api/{}", info.version)
    } else {
        format!("apis/{}/{}", info.group, info.version)
    }
}

#[test]
fn operations_per_scope_and_verb() {
    let api = builtin();
    let d = doc(&api, "api/v1");
    let p = &d["paths"];
    let pods = &p["/api/v1/namespaces/{namespace}/pods"];
    assert_eq!(pods["get"]["x-kubernetes-action"], "list");
    assert_eq!(pods["post"]["x-kubernetes-action"], "post");
    assert_eq!(pods["delete"]["x-kubernetes-action"], "deletecollection");
    let list_params = param_names(&d, &pods["get"]["parameters"]);
    for q in [
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "timeoutSeconds",
        "watch",
        "allowWatchBookmarks",
    ] {
        assert!(list_params.contains(&q), "{q}");
    }
    assert_eq!(
        shared(&d, &pods["get"]["responses"]["200"])["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.PodList"
    );
    let item = &p["/api/v1/namespaces/{namespace}/pods/{name}"];
    for m in ["get", "put", "patch", "delete"] {
        assert!(item[m].is_object(), "{m}");
    }
    let path_params = param_names(&d, &item["parameters"]);
    assert_eq!(path_params, ["name", "namespace", "pretty"]);
    assert_eq!(
        p["/api/v1/pods"]["get"]["operationId"],
        "listCoreV1PodForAllNamespaces"
    );
    assert_eq!(
        p["/api/v1/namespaces/{namespace}/pods/{name}/status"]["patch"]
            ["x-kubernetes-group-version-kind"]["kind"],
        "Pod"
    );
    assert_eq!(
        p["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]["operationId"],
        "readCoreV1NamespacedPodLog"
    );
    assert_eq!(
        p["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
            ["x-kubernetes-group-version-kind"]["kind"],
        "Eviction"
    );
    // Cluster scoped.
    assert!(p["/api/v1/nodes/{name}"]["patch"].is_object());
    assert!(p["/api/v1/namespaces/{name}"]["get"].is_object());
    assert!(p["/api/v1/namespaces/{namespace}/namespaces"].is_null());

    // Virtual kinds: only create.
    let d = doc(&api, "apis/authorization.k8s.io/v1");
    let ssar = d["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
        .as_object()
        .expect("ssar path");
    let methods: Vec<&str> = ssar
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "parameters")
        .collect();
    assert_eq!(methods, ["post"]);
    assert!(d["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/{name}"].is_null());
    assert!(d["paths"]
        ["/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews"]["post"]
        .is_object());
}

#[test]
fn deployment_schema_has_merge_metadata_and_descriptions() {
    let api = builtin();
    let d = doc(&api, "apis/apps/v1");
    let dep = schema(&d, "io.k8s.api.apps.v1.Deployment");
    assert_eq!(
        dep["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert!(dep["description"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(dep.get("required").is_none(), "metadata is not required");
    let containers = field(&d, dep, &["spec", "template", "spec", "containers"]);
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert!(containers["description"]
        .as_str()
        .is_some_and(|s| s.contains("containers")));
    let c = &["spec", "template", "spec", "containers"];
    let sub = |f: &str| {
        let mut p = c.to_vec();
        p.push(f);
        field(&d, dep, &p).clone()
    };
    assert_eq!(
        sub("ports")["x-kubernetes-patch-merge-key"],
        "containerPort"
    );
    assert_eq!(
        sub("ports")["x-kubernetes-list-map-keys"],
        json!(["containerPort", "protocol"])
    );
    assert_eq!(sub("env")["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(
        sub("volumeMounts")["x-kubernetes-patch-merge-key"],
        "mountPath"
    );
    assert!(sub("args").get("x-kubernetes-patch-strategy").is_none());
    let volumes = field(&d, dep, &["spec", "template", "spec", "volumes"]);
    assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    let strategy = field(&d, dep, &["spec", "strategy"]);
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    assert!(strategy["description"].is_string());
    assert_eq!(
        strategy["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"
    );
    let finalizers = field(&d, dep, &["metadata", "finalizers"]);
    assert_eq!(finalizers["x-kubernetes-patch-strategy"], "merge");
    let owners = field(&d, dep, &["metadata", "ownerReferences"]);
    assert_eq!(owners["x-kubernetes-patch-merge-key"], "uid");
    let conditions = field(&d, dep, &["status", "conditions"]);
    assert_eq!(conditions["x-kubernetes-patch-merge-key"], "type");

    let ios = schema(&d, "io.k8s.apimachinery.pkg.util.intstr.IntOrString");
    assert_eq!(ios["format"], "int-or-string");
    let time = schema(&d, "io.k8s.apimachinery.pkg.apis.meta.v1.Time");
    assert_eq!(time["format"], "date-time");
    assert_eq!(time["type"], "string");
    let list = schema(&d, "io.k8s.api.apps.v1.DeploymentList");
    assert_eq!(
        list["x-kubernetes-group-version-kind"][0]["kind"],
        "DeploymentList"
    );
}

#[test]
fn service_ports_merge_on_port() {
    let api = builtin();
    let d = doc(&api, "api/v1");
    let svc = schema(&d, "io.k8s.api.core.v1.Service");
    let ports = field(&d, svc, &["spec", "ports"]);
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        json!(["port", "protocol"])
    );
    let pod = schema(&d, "io.k8s.api.core.v1.Pod");
    assert_eq!(
        field(&d, pod, &["spec", "containers"])["x-kubernetes-patch-merge-key"],
        "name"
    );
    // Tolerations replace as a whole.
    assert!(field(&d, pod, &["spec", "tolerations"])
        .get("x-kubernetes-patch-strategy")
        .is_none());
}

#[test]
fn every_reference_resolves() {
    let api = builtin();
    for gv in api.group_versions() {
        let d = doc(&api, &gv);
        let schemas = d["components"]["schemas"].as_object().expect("schemas");
        let mut refs = Vec::new();
        collect_refs(&d, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            if r.starts_with("#/components/parameters/") || r.starts_with("#/components/responses/")
            {
                shared(&d, &json!({ "$ref": r }));
                continue;
            }
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{gv}: foreign ref {r}"));
            assert!(schemas.contains_key(name), "{gv}: {r} does not resolve");
        }
    }
    let (bytes, hash) = api.v2_document().expect("v2");
    assert_eq!(hash, hex::encode_upper(Sha512::digest(&*bytes)));
    let v2: Value = serde_json::from_slice(&bytes).expect("v2 JSON");
    assert_eq!(v2["swagger"], "2.0");
    let defs = v2["definitions"].as_object().expect("definitions");
    let mut refs = Vec::new();
    collect_refs(&v2["paths"], &mut refs);
    collect_refs(&v2["definitions"], &mut refs);
    for r in refs {
        let name = r
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("v2: foreign ref {r}"));
        assert!(defs.contains_key(name), "v2: {r} does not resolve");
    }
    let patch = &v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert!(patch["consumes"]
        .as_array()
        .is_some_and(|c| c.contains(&json!("application/strategic-merge-patch+json"))));
    assert_eq!(patch["parameters"][0]["in"], "body");
    assert_eq!(
        defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"]
            ["x-kubernetes-patch-merge-key"],
        "port"
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"],
        "string"
    );
}

fn crontab_info() -> ResourceInfo {
    ResourceInfo {
        group: "stable.example.com".into(),
        version: "v1".into(),
        kind: "CronTab".into(),
        list_kind: "CronTabList".into(),
        plural: "crontabs".into(),
        singular: "crontab".into(),
        namespaced: true,
        short_names: vec!["ct".into()],
        categories: vec![],
        verbs: [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        subresources: vec![SubresourceInfo {
            name: "status".into(),
            group: "stable.example.com".into(),
            version: "v1".into(),
            kind: "CronTab".into(),
            verbs: vec!["get".into(), "patch".into(), "update".into()],
        }],
        has_status: true,
        scale: None,
        storage_version: true,
        persisted: true,
        custom: true,
    }
}

#[test]
fn custom_resources_get_a_document() {
    let registry = Registry::new();
    let mut resources: Vec<ResourceInfo> =
        registry.all().iter().map(|e| (*e.info).clone()).collect();
    resources.push(crontab_info());
    let mut custom = CustomSchemas::new();
    custom.insert(
        Gvk::new("stable.example.com", "v1", "CronTab"),
        json!({
            "type": "object",
            "description": "A cron tab.",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "cronSpec": {"type": "string", "description": "When to run."},
                        "ports": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["port"],
                            "items": {"type": "object", "properties": {"port": {"type": "integer"}}},
                        },
                        "choice": {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
                    },
                },
                "metadata": {"type": "object"},
            },
        }),
    );
    let api = OpenApi::build(&resources, &custom).expect("build");
    let d = doc(&api, "apis/stable.example.com/v1");
    let gvk = json!({"group": "stable.example.com", "kind": "CronTab", "version": "v1"});
    assert_eq!(patch_supports(&d, &gvk, "fieldValidation"), Some(true));
    let op =
        &d["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"];
    let content = op["requestBody"]["content"].as_object().expect("content");
    assert!(content.contains_key("application/merge-patch+json"));
    assert!(!content.contains_key("application/strategic-merge-patch+json"));
    assert!(d["paths"]
        ["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/status"]["patch"]
        .is_object());

    let s = schema(&d, "com.example.stable.v1.CronTab");
    assert_eq!(s["x-kubernetes-group-version-kind"], json!([gvk]));
    assert_eq!(s["description"], "A cron tab.");
    assert_eq!(
        s["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(s["properties"]["apiVersion"]["type"], "string");
    assert_eq!(
        s["properties"]["spec"]["properties"]["ports"]["x-kubernetes-list-type"],
        "map"
    );
    schema(&d, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    schema(&d, "com.example.stable.v1.CronTabList");
    let mut refs = Vec::new();
    collect_refs(&d, &mut refs);
    for r in refs {
        match r.strip_prefix("#/components/schemas/") {
            Some(name) => drop(schema(&d, name)),
            None => drop(shared(&d, &json!({ "$ref": r }))),
        }
    }
    // The built-in documents are unaffected and the index lists the new group-version.
    assert!(api.v3_index()["paths"]["apis/stable.example.com/v1"].is_object());
    let v2: Value = serde_json::from_slice(&api.v2_document().expect("v2").0).expect("v2 JSON");
    let choice = &v2["definitions"]["com.example.stable.v1.CronTab"]["properties"]["spec"]
        ["properties"]["choice"];
    assert!(choice.get("oneOf").is_none());

    // A custom resource without a schema still gets one.
    let api = OpenApi::build(&resources, &CustomSchemas::new()).expect("build");
    let d = doc(&api, "apis/stable.example.com/v1");
    let s = schema(&d, "com.example.stable.v1.CronTab");
    assert_eq!(s["x-kubernetes-preserve-unknown-fields"], true);
}

#[test]
fn documents_are_deterministic() {
    let a = builtin();
    let b = builtin();
    assert_eq!(a.v3_index(), b.v3_index());
    assert_eq!(
        a.v2_document().expect("v2").1,
        b.v2_document().expect("v2").1
    );
}
