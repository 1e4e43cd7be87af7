//! Runs the real kubectl against a loopback stub apiserver, captures the
//! protobuf bodies it POSTs, and checks that they decode to exactly the JSON
//! kubectl itself prints for `--dry-run=client -o json`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct Captured {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

struct Stub {
    port: u16,
    captured: Arc<Mutex<Vec<Captured>>>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn resource(name: &str, kind: &str, namespaced: bool) -> Value {
    json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
           "verbs": ["create", "get", "list", "delete"]})
}

type Resources = &'static [(&'static str, &'static str, bool)];

const GROUPS: &[(&str, Resources)] = &[
    ("apps", &[("deployments", "Deployment", true)]),
    (
        "batch",
        &[("jobs", "Job", true), ("cronjobs", "CronJob", true)],
    ),
    (
        "policy",
        &[("poddisruptionbudgets", "PodDisruptionBudget", true)],
    ),
    ("networking.k8s.io", &[("ingresses", "Ingress", true)]),
    (
        "scheduling.k8s.io",
        &[("priorityclasses", "PriorityClass", false)],
    ),
    (
        "rbac.authorization.k8s.io",
        &[
            ("roles", "Role", true),
            ("rolebindings", "RoleBinding", true),
            ("clusterroles", "ClusterRole", false),
            ("clusterrolebindings", "ClusterRoleBinding", false),
        ],
    ),
    (
        "authorization.k8s.io",
        &[
            ("selfsubjectaccessreviews", "SelfSubjectAccessReview", false),
            ("selfsubjectrulesreviews", "SelfSubjectRulesReview", false),
        ],
    ),
];

fn discovery(path: &str, port: u16) -> Option<Value> {
    Some(match path {
        "/version" => json!({"major": "1", "minor": "32", "gitVersion": "v1.32.4",
                             "gitCommit": "0000000000000000000000000000000000000000",
                             "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                             "goVersion": "go1.23.0", "compiler": "gc", "platform": "linux/amd64"}),
        "/api" => json!({"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                         "serverAddress": format!("127.0.0.1:{port}")}]}),
        "/apis" => {
            let group = |name: &str| {
                let gv = format!("{name}/v1");
                json!({"name": name, "versions": [{"groupVersion": gv, "version": "v1"}],
                       "preferredVersion": {"groupVersion": gv, "version": "v1"}})
            };
            let groups: Vec<Value> = GROUPS.iter().map(|(g, _)| group(g)).collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        "/api/v1" => json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            resource("namespaces", "Namespace", false),
            resource("secrets", "Secret", true),
            resource("configmaps", "ConfigMap", true),
            resource("services", "Service", true),
            resource("serviceaccounts", "ServiceAccount", true),
            resource("resourcequotas", "ResourceQuota", true),
            resource("pods", "Pod", true),
        ]}),
        _ => {
            let (group, resources) = GROUPS
                .iter()
                .find(|(g, _)| path == format!("/apis/{g}/v1"))?;
            let resources: Vec<Value> = resources
                .iter()
                .map(|&(r, k, ns)| resource(r, k, ns))
                .collect();
            json!({"kind": "APIResourceList", "apiVersion": "v1",
                   "groupVersion": format!("{group}/v1"), "resources": resources})
        }
    })
}

fn serve(mut stream: TcpStream, port: u16, captured: &Mutex<Vec<Captured>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let path = target.split('?').next().unwrap_or_default().to_string();
    let (mut len, mut content_type) = (0usize, String::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "content-type" => content_type = v.trim().to_string(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let (status, reply) = if method == "POST" {
        captured.lock().unwrap().push(Captured {
            path,
            content_type,
            body: body.clone(),
        });
        // Echo the object back as JSON, as the server will.
        match minato_protobuf::decode(&body) {
            Ok(mut obj) => {
                match obj["kind"].as_str() {
                    Some("SelfSubjectAccessReview") => obj["status"] = json!({"allowed": true}),
                    Some("SelfSubjectRulesReview") => {
                        obj["status"] = json!({"resourceRules": [{"verbs": ["get"], "apiGroups": [""],
                                                                  "resources": ["pods"]}],
                                               "nonResourceRules": [], "incomplete": false})
                    }
                    Some("TokenRequest") => {
                        obj["status"] =
                            json!({"token": "tok", "expirationTimestamp": "2030-01-01T00:00:00Z"})
                    }
                    _ => {}
                }
                ("201 Created", obj)
            }
            Err(e) => (
                "415 Unsupported Media Type",
                json!({"kind": "Status", "apiVersion": "v1",
                "status": "Failure", "message": e.to_string(), "reason": "UnsupportedMediaType", "code": 415}),
            ),
        }
    } else {
        match discovery(&path, port) {
            Some(v) => ("200 OK", v),
            None => (
                "404 Not Found",
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                             "reason": "NotFound", "code": 404}),
            ),
        }
    };
    let reply = serde_json::to_vec(&reply)?;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    )?;
    stream.write_all(&reply)?;
    stream.flush()
}

fn start_stub() -> Stub {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let captured = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (c, s) = (captured.clone(), stop.clone());
    let accept = thread::spawn(move || {
        for stream in listener.incoming() {
            if s.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let c = c.clone();
            thread::spawn(move || {
                let _ = serve(stream, port, &c);
            });
        }
    });
    Stub {
        port,
        captured,
        stop,
        accept: Some(accept),
    }
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn real_kubectl_protobuf_bodies_decode_like_kubectl_json() {
    assert!(
        kubectl_available(),
        "these tests drive the real kubectl: put kubectl on PATH"
    );
    let stub = start_stub();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\n").unwrap();
    let server = format!("http://127.0.0.1:{}", stub.port);
    let kubectl = |args: &[&str]| {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", dir.path())
            .args(["--server", &server, "--cache-dir"])
            .arg(dir.path().join("cache"))
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };

    let creates: &[&[&str]] = &[
        &["create", "namespace", "x"],
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=2",
            "--port=80",
        ],
        &["create", "secret", "generic", "s", "--from-literal=a=b"],
        &[
            "create",
            "secret",
            "docker-registry",
            "d",
            "--docker-server=r.io",
            "--docker-username=u",
            "--docker-password=p",
        ],
        &["create", "configmap", "c", "--from-literal=k=v"],
        &["create", "service", "clusterip", "svc", "--tcp=80:8080"],
        &[
            "create",
            "service",
            "nodeport",
            "np",
            "--tcp=443:https",
            "--node-port=30080",
        ],
        &["create", "serviceaccount", "sa"],
        &["create", "quota", "q", "--hard=cpu=1,memory=1G,pods=2"],
        &["create", "job", "j", "--image=busybox", "--", "date"],
        &[
            "create",
            "cronjob",
            "cj",
            "--image=busybox",
            "--schedule=*/1 * * * *",
            "--",
            "date",
        ],
        &[
            "create",
            "pdb",
            "pdb",
            "--selector=app=web",
            "--min-available=50%",
        ],
        &[
            "create",
            "pdb",
            "pdb2",
            "--selector=app=web",
            "--max-unavailable=1",
        ],
        &[
            "create",
            "priorityclass",
            "high",
            "--value=1000",
            "--description=d",
        ],
        &[
            "create",
            "ingress",
            "ing",
            "--class=nginx",
            "--rule=foo.com/bar*=svc:8080,tls=secret",
        ],
        &["create", "role", "r", "--verb=get,list", "--resource=pods"],
        &[
            "create",
            "rolebinding",
            "rb",
            "--role=r",
            "--user=alice",
            "--serviceaccount=default:sa",
        ],
        &[
            "create",
            "clusterrole",
            "cr",
            "--verb=get",
            "--non-resource-url=/healthz",
        ],
        &[
            "create",
            "clusterrolebinding",
            "crb",
            "--clusterrole=cr",
            "--group=devs",
        ],
    ];
    for &args in creates {
        let before = stub.captured.lock().unwrap().len();
        kubectl(args);
        let got = stub.captured.lock().unwrap()[before..].to_vec();
        assert_eq!(got.len(), 1, "{args:?}: {got:?}");
        assert_eq!(
            got[0].content_type, "application/vnd.kubernetes.protobuf",
            "{args:?}"
        );
        let decoded = minato_protobuf::decode(&got[0].body).unwrap();
        eprintln!("{args:?} -> {decoded}");
        let mut dry: Vec<&str> = args.to_vec();
        dry.insert(
            dry.iter().position(|a| *a == "--").unwrap_or(dry.len()),
            "--dry-run=client",
        );
        dry.insert(
            dry.iter().position(|a| *a == "--").unwrap_or(dry.len()),
            "-o=json",
        );
        let expected: Value = serde_json::from_str(&kubectl(&dry)).unwrap();
        assert_eq!(decoded, expected, "{args:?}");
    }

    let before = stub.captured.lock().unwrap().len();
    assert_eq!(
        kubectl(&["auth", "can-i", "create", "deployments"]).trim(),
        "yes"
    );
    let got = stub.captured.lock().unwrap()[before..].to_vec();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].path,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    );
    assert_eq!(
        minato_protobuf::decode(&got[0].body).unwrap(),
        json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
               "metadata": {"creationTimestamp": null},
               "spec": {"resourceAttributes": {"namespace": "default", "verb": "create",
                                               "group": "apps", "resource": "deployments"}},
               "status": {"allowed": false}})
    );

    let before = stub.captured.lock().unwrap().len();
    assert!(kubectl(&["auth", "can-i", "--list"]).contains("pods"));
    let got = stub.captured.lock().unwrap()[before..].to_vec();
    assert_eq!(got.len(), 1);
    assert_eq!(
        minato_protobuf::decode(&got[0].body).unwrap(),
        json!({"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
               "metadata": {"creationTimestamp": null}, "spec": {"namespace": "default"},
               "status": {"resourceRules": null, "nonResourceRules": null, "incomplete": false}})
    );

    let before = stub.captured.lock().unwrap().len();
    assert_eq!(
        kubectl(&["create", "token", "sa", "--duration=1h"]).trim(),
        "tok"
    );
    let got = stub.captured.lock().unwrap()[before..].to_vec();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].path,
        "/api/v1/namespaces/default/serviceaccounts/sa/token"
    );
    let token = minato_protobuf::decode(&got[0].body).unwrap();
    assert_eq!(token["kind"], "TokenRequest");
    assert_eq!(token["spec"]["expirationSeconds"], 3600);
}
