//! A throwaway loopback API server for driving the real kubectl against our documents: it
//! answers `/version`, legacy discovery, `/openapi/v3`, optionally `/openapi/v2` (protobuf),
//! and GET/PATCH of objects placed at their item path.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, MutexGuard};

use minato_openapi::OpenApi;
use minato_resources::ResourceInfo;
use serde_json::{json, Value};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub accept: String,
    pub content_type: String,
    pub body: String,
}

pub struct Server {
    pub api: OpenApi,
    /// Served in discovery.
    pub resources: Vec<ResourceInfo>,
    /// Whether `/openapi/v2` answers (protobuf) or is a 404.
    pub serve_v2: bool,
    /// Requests seen, with the status answered.
    pub log: Mutex<Vec<(Request, u16)>>,
    /// Objects served at their item path.
    pub objects: Mutex<Vec<(String, Value)>>,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Server {
    pub fn new(api: OpenApi, resources: Vec<ResourceInfo>, serve_v2: bool) -> Arc<Server> {
        Arc::new(Server {
            api,
            resources,
            serve_v2,
            log: Mutex::new(Vec::new()),
            objects: Mutex::new(Vec::new()),
        })
    }

    /// Listens on a loopback port and serves until the process ends; returns `host:port`.
    pub fn start(self: &Arc<Self>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        addr.to_string()
    }

    /// The request lines seen, for failure messages.
    pub fn log_text(&self) -> String {
        lock(&self.log)
            .iter()
            .map(|(r, code)| format!("{} {} -> {code}", r.method, r.target))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn requests(&self, method: &str) -> Vec<Request> {
        lock(&self.log)
            .iter()
            .filter(|(r, _)| r.method == method)
            .map(|(r, _)| r.clone())
            .collect()
    }

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
                let mut groups: Vec<(String, Vec<String>)> = Vec::new();
                for r in self.resources.iter().filter(|r| !r.group.is_empty()) {
                    match groups.iter_mut().find(|(g, _)| *g == r.group) {
                        Some((_, vs)) if !vs.contains(&r.version) => vs.push(r.version.clone()),
                        Some(_) => {}
                        None => groups.push((r.group.clone(), vec![r.version.clone()])),
                    }
                }
                let groups: Vec<Value> = groups
                    .into_iter()
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
                let mut resources = Vec::new();
                for i in self
                    .resources
                    .iter()
                    .filter(|r| r.group == group && r.version == version)
                {
                    resources.push(json!({"name": i.plural, "singularName": i.singular,
                        "namespaced": i.namespaced, "kind": i.kind, "verbs": i.verbs,
                        "shortNames": i.short_names, "categories": i.categories}));
                    for s in &i.subresources {
                        resources.push(json!({"name": format!("{}/{}", i.plural, s.name),
                            "singularName": "", "namespaced": i.namespaced, "group": s.group,
                            "version": s.version, "kind": s.kind, "verbs": s.verbs}));
                    }
                }
                if resources.is_empty() {
                    return None;
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

    /// Status, content type and body.
    fn respond(&self, target: &str) -> (u16, &'static str, Vec<u8>) {
        const JSON: &str = "application/json";
        let path = target.split('?').next().unwrap_or("");
        let object = lock(&self.objects)
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.clone());
        if let Some(object) = object {
            return (200, JSON, object.to_string().into_bytes());
        }
        if path == "/openapi/v3" {
            return (200, JSON, self.api.v3_index_bytes().to_vec());
        }
        if let Some(gv) = path.strip_prefix("/openapi/v3/") {
            if let Some((bytes, _)) = self.api.v3_document(gv) {
                return (200, JSON, bytes.to_vec());
            }
        }
        if path == "/openapi/v2" && self.serve_v2 {
            let (bytes, _) = self.api.v2_protobuf().expect("v2 protobuf");
            return (
                200,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                bytes.to_vec(),
            );
        }
        match self.discovery(path) {
            Some(v) => (200, JSON, v.to_string().into_bytes()),
            None => (
                404,
                JSON,
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
        let (mut accept, mut content_type) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {
                    if let Some((name, value)) = line.split_once(':') {
                        let value = value.trim();
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.parse().unwrap_or(0);
                        } else if name.eq_ignore_ascii_case("accept") {
                            accept = value.to_string();
                        } else if name.eq_ignore_ascii_case("content-type") {
                            content_type = value.to_string();
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
        let (code, ty, response) = self.respond(&target);
        let request = Request {
            method,
            target,
            accept,
            content_type,
            body: String::from_utf8_lossy(&body).to_string(),
        };
        lock(&self.log).push((request, code));
        let head = format!(
            "HTTP/1.1 {code} {}\r\nContent-Type: {ty}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            if code == 200 { "OK" } else { "Not Found" },
            response.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&response);
    }
}

pub fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs kubectl against a server with its own empty config and cache.
pub struct Kubectl {
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(addr: String) -> Kubectl {
        Kubectl {
            addr,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        Command::new("kubectl")
            .env("KUBECONFIG", self.dir.path().join("none"))
            .env("HOME", self.dir.path())
            .envs(env.iter().copied())
            .arg(format!("--server=http://{}", self.addr))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("cache").display()
            ))
            .args(args)
            .output()
            .expect("run kubectl")
    }
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}
