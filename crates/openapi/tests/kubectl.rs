//! The documents as the real kubectl reads them: a throwaway loopback server answers
//! `/version`, legacy discovery and `/openapi/v3`, and kubectl runs `explain` and a
//! client-side dry-run `create` (which needs the v3 field-validation check to pass, since
//! there is no protobuf `/openapi/v2` to fall back to). Skipped when kubectl is not on PATH.

mod common;

use common::{kubectl_available, lock, text, Kubectl, Server};
use minato_openapi::{CustomSchemas, OpenApi};
use minato_resources::Registry;
use serde_json::{json, Value};

#[test]
fn kubectl_explains_and_validates_against_our_documents() {
    assert!(
        kubectl_available(),
        "these tests drive the real kubectl: put kubectl on PATH"
    );
    let registry = Registry::new();
    let api = OpenApi::from_registry(&registry, &CustomSchemas::new()).expect("documents");
    let resources = registry.all().iter().map(|e| (*e.info).clone()).collect();
    let server = Server::new(api, resources, false);
    let kubectl = Kubectl::new(server.start());
    let run = |args: &[&str]| {
        let out = kubectl.run(&[], args);
        let (stdout, stderr) = text(&out);
        let log = server.log_text();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed\nstdout: {stdout}\nstderr: {stderr}\nrequests:\n{log}"
        );
        stdout
    };

    let out = run(&["explain", "deployment.spec.strategy"]);
    assert!(out.contains("GROUP:      apps"), "{out}");
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(
        out.contains("FIELD: strategy <DeploymentStrategy>"),
        "{out}"
    );
    assert!(out.contains("The deployment strategy to use"), "{out}");
    assert!(
        out.contains("rollingUpdate\t<RollingUpdateDeployment>"),
        "{out}"
    );
    let out = run(&["explain", "pods.spec.containers.ports"]);
    assert!(out.contains("containerPort\t<integer> -required-"), "{out}");
    let out = run(&["explain", "deployment.spec.strategy.rollingUpdate.maxSurge"]);
    assert!(out.contains("FIELD: maxSurge <IntOrString>"), "{out}");
    let out = run(&["explain", "selfsubjectaccessreviews"]);
    assert!(out.contains("KIND:       SelfSubjectAccessReview"), "{out}");

    // A client-side dry run still checks server-side validation support; without a PATCH
    // operation that has fieldValidation it would fall back to /openapi/v2 (404 here) and fail.
    let manifest = kubectl.path("deploy.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n",
    )
    .expect("write manifest");
    let manifest = manifest.display().to_string();
    let out = run(&[
        "create",
        "--dry-run=client",
        "--validate=strict",
        "-o",
        "name",
        "-f",
        &manifest,
    ]);
    assert_eq!(out.trim(), "deployment.apps/web");
    let log = server.log_text();
    assert!(log.contains("GET /openapi/v3/apis/apps/v1?hash="), "{log}");
    assert!(!log.contains("/openapi/v2"), "{log}");

    // Client-side apply of a changed manifest: kubectl computes the strategic merge patch from
    // the merge keys in our Deployment schema (the PATCH operation lists strategic merge
    // patch). Deleting list members by key and `$setElementOrder` only appear when it found
    // `name` as the merge key of containers and env.
    let old = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "web", "image": "nginx",
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "sidecar", "image": "busybox"}]}}}});
    let mut live = old.clone();
    live["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": old.to_string()});
    live["metadata"]["uid"] = json!("0b3c1b9e-0000-4000-8000-000000000001");
    live["metadata"]["resourceVersion"] = json!("7");
    lock(&server.objects).push((
        "/apis/apps/v1/namespaces/default/deployments/web".into(),
        live,
    ));
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "web", "image": "nginx:2", "env": [{"name": "A", "value": "1"}]}]);
    let manifest = kubectl.path("apply.json");
    std::fs::write(&manifest, new.to_string()).expect("write manifest");
    let manifest = manifest.display().to_string();
    let out = run(&["apply", "-f", &manifest]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let patches = server.requests("PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");
    let patch: Value = serde_json::from_str(&patches[0].body).expect("patch JSON");
    let spec = &patch["spec"]["template"]["spec"];
    assert_eq!(
        spec["$setElementOrder/containers"],
        json!([{"name": "web"}]),
        "{patch}"
    );
    let containers = spec["containers"].as_array().expect("containers");
    assert!(
        containers.contains(&json!({"$patch": "delete", "name": "sidecar"})),
        "{patch}"
    );
    let web = containers
        .iter()
        .find(|c| c["name"] == "web")
        .expect("web container");
    assert_eq!(web["image"], "nginx:2");
    assert_eq!(
        web["$setElementOrder/env"],
        json!([{"name": "A"}]),
        "{patch}"
    );
    assert_eq!(
        web["env"],
        json!([{"$patch": "delete", "name": "B"}]),
        "{patch}"
    );
}
