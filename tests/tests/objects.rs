//! Object semantics: patches, scale, optimistic concurrency, selectors, paging, dry-run,
//! generation, deletion.

use minato_e2e::{stderr, stdout, Server};
use serde_json::Value;

const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
        ports:
        - containerPort: 80
        - containerPort: 443
"#;

fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn three_way_apply_removes_what_the_manifest_drops() {
    let s = Server::start_with(&["--no-controllers"]);
    s.apply(DEPLOY);
    let edited = DEPLOY
        .replace("        - {name: A, value: \"1\"}\n", "")
        .replace("        - containerPort: 443\n", "")
        .replace("labels: {app: web, tier: front}", "labels: {app: web}")
        .replace("nginx:1.25", "nginx:1.26");
    assert!(s.apply(&edited).contains("deployment.apps/web configured"));
    let d = s.get_json(&["deployment", "web"]);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx:1.26");
    assert_eq!(c["env"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c["env"][0]["name"], "B");
    assert_eq!(c["ports"].as_array().unwrap().len(), 1, "{c}");
    assert!(
        d["metadata"]["labels"].get("tier").is_none(),
        "{}",
        d["metadata"]
    );
    assert_eq!(d["metadata"]["generation"], 2);
    assert!(s.apply(&edited).contains("unchanged"));
}

#[test]
fn patch_types_and_noop() {
    let s = Server::start_with(&["--no-controllers"]);
    s.apply(DEPLOY);
    s.ok(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}"#,
    ]);
    let d = s.get_json(&["deployment", "web"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    s.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"patched":"yes"}}}"#,
    ]);
    s.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
    ]);
    let d = s.get_json(&["deployment", "web"]);
    assert_eq!(d["metadata"]["labels"]["patched"], "yes");
    assert_eq!(d["spec"]["replicas"], 4);
    let before = rv(&d);
    let out = s.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":4}}"#,
    ]);
    assert!(out.contains("patched (no change)"), "{out}");
    assert_eq!(rv(&s.get_json(&["deployment", "web"])), before);
    let err = s.fails(&[
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
    ]);
    assert!(err.contains("The request is invalid"), "{err}");
}

#[test]
fn scale_set_image_label_annotate() {
    let s = Server::start_with(&["--no-controllers"]);
    s.apply(DEPLOY);
    assert!(s
        .ok(&["scale", "deployment", "web", "--replicas=5"])
        .contains("scaled"));
    assert_eq!(s.get_json(&["deployment", "web"])["spec"]["replicas"], 5);
    let err = s.fails(&[
        "scale",
        "deployment",
        "web",
        "--current-replicas=3",
        "--replicas=1",
    ]);
    assert!(err.contains("Expected replicas to be 3, was 5"), "{err}");
    s.ok(&[
        "scale",
        "deployment",
        "web",
        "--current-replicas=5",
        "--replicas=1",
    ]);
    let scale: Value = serde_json::from_str(&s.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
    ]))
    .unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 1);
    assert_eq!(scale["status"]["selector"], "app=web");
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"]);
    s.ok(&["set", "env", "deployment/web", "C=3"]);
    s.ok(&["label", "deployment", "web", "team=blue"]);
    s.ok(&["annotate", "deployment", "web", "note=hello"]);
    let d = s.get_json(&["deployment", "web"]);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx:1.28");
    assert!(c["env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "C"));
    assert_eq!(d["metadata"]["labels"]["team"], "blue");
    assert_eq!(d["metadata"]["annotations"]["note"], "hello");
    s.ok(&["label", "deployment", "web", "team-"]);
    assert!(s.get_json(&["deployment", "web"])["metadata"]["labels"]
        .get("team")
        .is_none());
}

#[test]
fn stale_resource_version_conflicts() {
    let s = Server::start_with(&["--no-controllers"]);
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cc\ndata:\n  a: b\n");
    let mut cm = s.get_json(&["configmap", "cc"]);
    cm["data"]["a"] = "c".into();
    let body = cm.to_string();
    s.kubectl_stdin(&["replace", "-f", "-"], Some(&body));
    // The same (now stale) resourceVersion again.
    cm["data"]["a"] = "d".into();
    let out = s.kubectl_stdin(&["replace", "-f", "-"], Some(&cm.to_string()));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the object has been modified; please apply your changes to the latest version and try again"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn label_and_field_selectors_and_chunking() {
    let s = Server::start_with(&["--no-controllers"]);
    for (name, app) in [("a1", "web"), ("a2", "web"), ("a3", "db"), ("a4", "cache")] {
        s.apply(&format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{app: {app}}}\n"));
    }
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["get", "configmaps", "-o", "name"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = s
            .ok(&a)
            .lines()
            .filter(|l| !l.contains("kube-root-ca"))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&["-l", "app=web"]),
        vec!["configmap/a1", "configmap/a2"]
    );
    assert_eq!(
        names(&["-l", "app in (db,cache)"]),
        vec!["configmap/a3", "configmap/a4"]
    );
    assert_eq!(
        names(&["-l", "app!=web,app"]),
        vec!["configmap/a3", "configmap/a4"]
    );
    assert_eq!(
        names(&["--field-selector", "metadata.name=a3"]),
        vec!["configmap/a3"]
    );
    assert_eq!(names(&["--chunk-size=1", "-l", "app"]).len(), 4);
    let err = s.fails(&["get", "configmaps", "--field-selector", "spec.nope=1"]);
    assert!(
        err.contains("field label not supported: spec.nope"),
        "{err}"
    );
    let table = s.ok(&["get", "configmaps", "--show-labels", "-l", "app=db"]);
    assert!(
        table.contains("LABELS") && table.contains("app=db"),
        "{table}"
    );
}

#[test]
fn dry_run_and_generate_name() {
    let s = Server::start_with(&["--no-controllers"]);
    let out = s.kubectl_stdin(
        &["apply", "--dry-run=server", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dry\n"),
    );
    assert!(
        stdout(&out).contains("(server dry run)"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(!s.kubectl(&["get", "configmap", "dry"]).status.success());
    let created = s.kubectl_stdin(
        &["create", "-f", "-", "-o", "name"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\n"),
    );
    let name = stdout(&created);
    assert!(
        name.trim().starts_with("configmap/gen-")
            && name.trim().len() == "configmap/gen-".len() + 5,
        "{name}"
    );
}

#[test]
fn watch_streams_changes() {
    let s = Server::start_with(&["--no-controllers"]);
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w\ndata:\n  a: b\n");
    let kubeconfig = s.kubeconfig.clone();
    let mut child = std::process::Command::new("kubectl")
        .args(["--kubeconfig"])
        .arg(&kubeconfig)
        .args([
            "get",
            "configmap",
            "w",
            "-w",
            "-o",
            "jsonpath={.data.a}{\"\\n\"}",
            "--request-timeout=20s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    s.ok(&[
        "patch",
        "configmap",
        "w",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"c"}}"#,
    ]);
    s.ok(&[
        "patch",
        "configmap",
        "w",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"d"}}"#,
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, vec!["b", "c", "d"], "{text}");
}

#[test]
fn namespaced_create_needs_a_namespace() {
    let s = Server::start_with(&["--no-controllers"]);
    let out = s.kubectl(&["create", "configmap", "x", "-n", "nowhere"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("namespaces \"nowhere\" not found"),
        "{}",
        stderr(&out)
    );
}
