//! Acceptance tests (issue 2): server-side apply with kubectl.

use minato_e2e::{stderr, stdout, Server};
use serde_json::{json, Value};

const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
  labels: {app: ssa}
spec:
  replicas: 2
  selector:
    matchLabels: {app: ssa}
  template:
    metadata:
      labels: {app: ssa}
    spec:
      containers:
      - name: c
        image: nginx:1.25
"#;

fn ssa(s: &Server, manifest: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--server-side", "-f", "-"];
    args.extend_from_slice(extra);
    s.kubectl_stdin(&args, Some(manifest))
}

fn managers(v: &Value) -> Vec<(String, String, String)> {
    v["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap().to_string(),
                m["operation"].as_str().unwrap().to_string(),
                m["subresource"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn apply_reapply_conflict_and_force() {
    let s = Server::start_with(&["--no-controllers"]);
    let out = ssa(&s, DEPLOY, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "deployment.apps/ssa serverside-applied"
    );
    let d1 = s.get_json(&["deployment", "ssa"]);
    // Re-applying the same manifest writes nothing.
    let out = ssa(&s, DEPLOY, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d2 = s.get_json(&["deployment", "ssa"]);
    assert_eq!(
        d1["metadata"]["resourceVersion"],
        d2["metadata"]["resourceVersion"]
    );
    // kubectl get hides managedFields unless asked.
    assert!(d2["metadata"].get("managedFields").is_none());
    let full = s.get_json(&["deployment", "ssa", "--show-managed-fields"]);
    assert_eq!(
        managers(&full),
        [("kubectl".to_string(), "Apply".to_string(), String::new())]
    );
    let fields = &full["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(fields["f:spec"]["f:replicas"], json!({}));
    assert!(
        fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["f:image"]
            .is_object(),
        "{fields}"
    );
    assert_eq!(
        full["metadata"]["managedFields"][0]["fieldsType"],
        "FieldsV1"
    );
    // Another manager takes replicas via the scale subresource.
    s.ok(&["scale", "deployment", "ssa", "--replicas=5"]);
    let out = ssa(&s, DEPLOY, &[]);
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error: Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"),
        "{err}"
    );
    assert!(err.contains("--force-conflicts"), "{err}");
    assert_eq!(s.get_json(&["deployment", "ssa"])["spec"]["replicas"], 5);
    let out = ssa(&s, DEPLOY, &["--force-conflicts"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d = s.get_json(&["deployment", "ssa", "--show-managed-fields"]);
    assert_eq!(d["spec"]["replicas"], 2);
    // The scaler lost its only field, so its entry is gone.
    assert_eq!(
        managers(&d),
        [("kubectl".to_string(), "Apply".to_string(), String::new())],
        "{}",
        d["metadata"]["managedFields"]
    );
}

#[test]
fn apply_removes_fields_the_manager_dropped_and_shares_co_owned_ones() {
    let s = Server::start_with(&["--no-controllers"]);
    let cm =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\ndata:\n  a: \"1\"\n  b: \"2\"\n";
    assert!(ssa(&s, cm, &["--field-manager=one"]).status.success());
    // A second manager co-owns a with the same value and adds c.
    let two =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\ndata:\n  a: \"1\"\n  c: \"3\"\n";
    let out = ssa(&s, two, &["--field-manager=two"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Manager one drops a and b: b goes (only one owned it), a stays (two still owns it).
    let one2 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\ndata: {}\n";
    let out = ssa(&s, one2, &["--field-manager=one"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let m = s.get_json(&["configmap", "m"]);
    assert_eq!(m["data"], json!({"a":"1","c":"3"}));
    // A conflicting value from a third manager names both owners.
    let three = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\ndata:\n  c: \"9\"\n";
    let out = ssa(&s, three, &["--field-manager=three"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Apply failed with 1 conflict: conflict with \"two\": .data.c"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ssa_over_the_raw_api() {
    let s = Server::start_with(&["--no-controllers"]);
    let tls = s.dir.path().join("tls");
    let run = |query: &str, body: &str| -> (u16, Value) {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-X", "PATCH", "-w", "\n%{http_code}", "--cacert"])
            .arg(tls.join("ca.crt"))
            .arg("--cert")
            .arg(tls.join("admin.crt"))
            .arg("--key")
            .arg(tls.join("admin.key"))
            .args([
                "-H",
                "Content-Type: application/apply-patch+yaml",
                "--data-binary",
                body,
            ])
            .arg(format!(
                "{}/api/v1/namespaces/default/configmaps/raw{query}",
                s.url
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (
            code.trim().parse().unwrap(),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    };
    let body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw\ndata:\n  a: b\n";
    // fieldManager is required for apply.
    let (code, st) = run("", body);
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap_or("")
            .contains("fieldManager: Required value: is required for apply patch"),
        "{st}"
    );
    let (code, obj) = run("?fieldManager=me", body);
    assert_eq!(code, 201, "{obj}");
    let (code, obj2) = run("?fieldManager=me", body);
    assert_eq!(code, 200, "{obj2}");
    assert_eq!(
        obj["metadata"]["resourceVersion"],
        obj2["metadata"]["resourceVersion"]
    );
    // force=true is only valid for apply; a conflicting apply without force is a 409.
    let (code, st) = run("?fieldManager=other", &body.replace("a: b", "a: c"));
    assert_eq!(code, 409, "{st}");
    assert_eq!(st["reason"], "Conflict");
    assert_eq!(st["details"]["causes"][0]["field"], ".data.a");
    assert_eq!(st["details"]["causes"][0]["reason"], "FieldManagerConflict");
    let (code, obj) = run(
        "?fieldManager=other&force=true",
        &body.replace("a: b", "a: c"),
    );
    assert_eq!(code, 200, "{obj}");
    assert_eq!(obj["data"]["a"], "c");
    // Mismatched name in the body is refused.
    let (code, st) = run(
        "?fieldManager=me",
        &body.replace("name: raw", "name: other"),
    );
    assert_eq!(code, 400, "{st}");
}

#[test]
fn client_side_apply_then_server_side_migrates_ownership() {
    let s = Server::start_with(&["--no-controllers"]);
    let cm =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mig\ndata:\n  a: \"1\"\n  b: \"2\"\n";
    s.apply(cm);
    let out = ssa(&s, cm, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Dropping b in a server-side apply removes it: ownership moved from the client-side
    // apply manager ("kubectl-client-side-apply") to "kubectl".
    let out = ssa(
        &s,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mig\ndata:\n  a: \"1\"\n",
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let m = s.get_json(&["configmap", "mig", "--show-managed-fields"]);
    assert_eq!(
        m["data"],
        json!({"a":"1"}),
        "{}",
        m["metadata"]["managedFields"]
    );
}

/// A field the schema does not declare fails an apply whatever `--validate` says, worded as
/// upstream's field manager words it, on create and on update.
#[test]
fn apply_refuses_undeclared_fields_as_upstream() {
    let s = Server::start_with(&["--no-controllers"]);
    let cm =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\nbogus: 1\ndata:\n  a: \"1\"\n";
    for validate in ["--validate=strict", "--validate=false"] {
        let out = ssa(&s, cm, &[validate]);
        assert!(!out.status.success(), "{validate}");
        assert_eq!(
            stderr(&out).trim(),
            "Error from server: failed to create typed patch object (default/typo; /v1, Kind=ConfigMap): .bogus: field not declared in schema",
            "{validate}"
        );
    }
    let out = ssa(&s, DEPLOY, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let typo = DEPLOY
        .replace("  replicas: 2\n", "  replicas: 2\n  bogus1: 1\n")
        .replace("image: nginx:1.25\n", "image: nginx:1.25\n        foo: 1\n");
    let out = ssa(&s, &typo, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.starts_with("Error from server: failed to create typed patch object (default/ssa; apps/v1, Kind=Deployment): errors:\n"),
        "{err}"
    );
    assert!(
        err.contains(
            "\n  .spec.template.spec.containers[name=\"c\"].foo: field not declared in schema"
        ) && err.contains("\n  .spec.bogus1: field not declared in schema"),
        "{err}"
    );
    // Nothing of it was stored.
    let d = s.get_json(&["deployment", "ssa"]);
    assert!(d["spec"].get("bogus1").is_none(), "{}", d["spec"]);
}
