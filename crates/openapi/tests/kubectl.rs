//! The documents as the real kubectl reads them: a throwaway loopback server answers
//! `/version`, legacy discovery and `/openapi/v3`, and kubectl runs `explain` and a
//! client-side dry-run `create` (which needs the v3 field-validation check to pass, since
//! there is no protobuf `/openapi/v2` to fall back to). Skipped when kubectl is not on PATH.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

use minato_openapi::{CustomSchemas, OpenApi};
use minato_resources::Registry;
use serde_json::{json, Value};

struct Server {
    api: OpenApi,
    registry: Registry,
    /// Request lines seen, for failure messages.
    log: Mutex<Vec<String>>,
    /// Objects served at their item path.
    objects: Mutex<Vec<(String, Value)>>,
    /// Bodies of PATCH requests.
    patches: Mutex<Vec<String>>,
}

impl Server {
    fn discovery(&self, path: &str) -> Option<Value> {
        match path {
            "/version" => Some(json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "test",
                "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
            })),
            "/api" => Some(json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
            "/apis" => {
                let groups: Vec<Value> = self
                    .registry
                    .groups()
                    .into_iter()
                    .filter(|(g, _)| !g.is_empty())
                    .map(|(g, vs)| {
                        let versions: Vec<Value> = vs
                            .iter()
                            .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                            .collect();
                        json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
                    })
                    .collect();
                Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
            }
            _ => {
                let (group, version) = match path.trim_matches('/').split('/').collect::<Vec<_>>()[..]
                {
                    ["api", v] => ("", v),
                    ["apis", g, v] => (g, v),
                    _ => return None,
                };
                let entries = self.registry.resources_in(group, version);
                if entries.is_empty() {
                    return None;
                }
                let mut resources = Vec::new();
                for e in entries {
                    let i = &e.info;
                    resources.push(json!({"name": i.plural, "singularName": i.singular,
                        "namespaced": i.namespaced, "kind": i.kind, "verbs": i.verbs,
                        "shortNames": i.short_names, "categories": i.categories}));
                    for s in &i.subresources {
                        resources.push(json!({"name": format!("{}/{}", i.plural, s.name),
                            "singularName": "", "namespaced": i.namespaced, "group": s.group,
                            "version": s.version, "kind": s.kind, "verbs": s.verbs}));
                    }
                }
                let gv = if group.is_empty() {
                    version.to_string()
                } else {
                    format!("{group}/{version}")
                };
                Some(
                    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                    "resources": resources}),
                )
            }
        }
    }

    fn respond(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let path = target.split('?').next().unwrap_or("");
        let object = lock(&self.objects)
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.clone());
        if let Some(object) = object {
            if method == "PATCH" {
                lock(&self.patches).push(String::from_utf8_lossy(body).to_string());
            }
            return (200, object.to_string().into_bytes());
        }
        if path == "/openapi/v3" {
            return (200, self.api.v3_index_bytes().to_vec());
        }
        if let Some(gv) = path.strip_prefix("/openapi/v3/") {
            if let Some((bytes, _)) = self.api.v3_document(gv) {
                return (200, bytes.to_vec());
            }
        }
        match self.discovery(path) {
            Some(v) => (200, v.to_string().into_bytes()),
            None => (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource"})
                .to_string()
                .into_bytes(),
            ),
        }
    }

    fn serve(self: Arc<Self>, mut stream: TcpStream) {
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut words = request_line.split_whitespace();
        let method = words.next().unwrap_or("GET").to_string();
        let target = words.next().unwrap_or("/").to_string();
        let (code, body) = self.respond(&method, &target, &body);
        lock(&self.log).push(format!("{} -> {code}", request_line.trim()));
        let head = format!(
            "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            if code == 200 { "OK" } else { "Not Found" },
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn kubectl_explains_and_validates_against_our_documents() {
    if !kubectl_available() {
        eprintln!("kubectl not on PATH; skipping");
        return;
    }
    let registry = Registry::new();
    let api = OpenApi::from_registry(&registry, &CustomSchemas::new()).expect("documents");
    let server = Arc::new(Server {
        api,
        registry,
        log: Mutex::new(Vec::new()),
        objects: Mutex::new(Vec::new()),
        patches: Mutex::new(Vec::new()),
    });
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    {
        let server = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", dir.path().join("none"))
            .env("HOME", dir.path())
            .arg(format!("--server=http://{addr}"))
            .arg(format!(
                "--cache-dir={}",
                dir.path().join("cache").display()
            ))
            .args(args)
            .output()
            .expect("run kubectl");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let log = lock(&server.log).join("\n");
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
    let manifest = dir.path().join("deploy.yaml");
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
    let log = lock(&server.log).join("\n");
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
    let manifest = dir.path().join("apply.json");
    std::fs::write(&manifest, new.to_string()).expect("write manifest");
    let manifest = manifest.display().to_string();
    let out = run(&["apply", "-f", &manifest]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let patches = lock(&server.patches).clone();
    assert_eq!(patches.len(), 1, "{patches:?}");
    let patch: Value = serde_json::from_str(&patches[0]).expect("patch JSON");
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
