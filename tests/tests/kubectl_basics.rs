//! The basics a kubectl user meets first: version, discovery, namespaces, CRUD, apply.

use minato_e2e::{stderr, stdout, Server};

#[test]
fn version_and_health() {
    let s = Server::start();
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.33.0");
    assert_eq!(v["serverVersion"]["minor"], "33");
    assert_eq!(s.ok(&["get", "--raw", "/readyz"]), "ok");
    assert_eq!(s.ok(&["get", "--raw", "/livez"]), "ok");
    let info = s.ok(&["cluster-info"]);
    assert!(
        info.contains("Kubernetes control plane is running at"),
        "{info}"
    );
}

#[test]
fn discovery_lists_builtin_resources() {
    let s = Server::start();
    let out = s.ok(&["api-resources"]);
    for needle in [
        "deployments",
        "deploy",
        "apps/v1",
        "horizontalpodautoscalers",
        "poddisruptionbudgets",
        "networkpolicies",
        "customresourcedefinitions",
        "cronjobs",
        "leases",
    ] {
        assert!(out.contains(needle), "api-resources lacks {needle}:\n{out}");
    }
    let versions = s.ok(&["api-versions"]);
    assert!(
        versions.contains("autoscaling/v2") && versions.contains("autoscaling/v1"),
        "{versions}"
    );
    // drain and can-i read the per-group-version lists directly.
    let v1: serde_json::Value = serde_json::from_str(&s.ok(&["get", "--raw", "/api/v1"])).unwrap();
    let eviction = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/eviction")
        .expect("pods/eviction listed");
    assert_eq!(eviction["group"], "policy");
    assert_eq!(eviction["kind"], "Eviction");
}

#[test]
fn system_namespaces_and_kubernetes_service() {
    let s = Server::start();
    let ns = s.ok(&["get", "namespaces"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(n), "{ns}");
    }
    assert!(ns.contains("Active"), "{ns}");
    let svc = s.get_json(&["service", "kubernetes", "-n", "default"]);
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
}

#[test]
fn configmap_crud_apply_and_unchanged() {
    let s = Server::start();
    let cm =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  key: value\n";
    assert!(s.apply(cm).contains("configmap/app-config created"));
    assert!(s.apply(cm).contains("configmap/app-config unchanged"));
    let before = s.get_json(&["configmap", "app-config"]);
    let changed = cm.replace("value", "value2");
    assert!(s
        .apply(&changed)
        .contains("configmap/app-config configured"));
    let after = s.get_json(&["configmap", "app-config"]);
    assert_eq!(after["data"]["key"], "value2");
    assert_ne!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    assert_eq!(before["metadata"]["uid"], after["metadata"]["uid"]);
    let del = s.ok(&["delete", "configmap", "app-config"]);
    assert!(del.contains("configmap \"app-config\" deleted"), "{del}");
    let err = s.fails(&["get", "configmap", "app-config"]);
    assert!(
        err.contains("Error from server (NotFound): configmaps \"app-config\" not found"),
        "{err}"
    );
}

#[test]
fn create_subcommands_send_protobuf() {
    let s = Server::start();
    assert!(s
        .ok(&["create", "namespace", "demo"])
        .contains("namespace/demo created"));
    assert!(s
        .ok(&[
            "create",
            "configmap",
            "c1",
            "-n",
            "demo",
            "--from-literal=a=b"
        ])
        .contains("configmap/c1 created"));
    assert!(s
        .ok(&[
            "create",
            "deployment",
            "web",
            "-n",
            "demo",
            "--image=nginx:1.25",
            "--replicas=2"
        ])
        .contains("deployment.apps/web created"));
    let d = s.get_json(&["deployment", "web", "-n", "demo"]);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    assert_eq!(
        s.ok(&["auth", "can-i", "create", "deployments"]).trim(),
        "yes"
    );
}

#[test]
fn already_exists_and_invalid() {
    let s = Server::start();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\n";
    let out = s.kubectl_stdin(&["create", "-f", "-"], Some(cm));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = s.kubectl_stdin(&["create", "-f", "-"], Some(cm));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("configmaps \"dup\" already exists"),
        "{}",
        stderr(&out)
    );
    let out = s.kubectl_stdin(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is invalid"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}
