//! Real kubectl, through a real `minato server`, to a test-only node endpoint built on this
//! crate: exec (WebSocket and SPDY), port-forward (WebSocket tunnel and SPDY), logs, and the API
//! server's validation errors.
//!
//! The node endpoint serves the kubelet paths over HTTPS, runs commands as host processes and
//! forwards ports to 127.0.0.1. It requires the API server's client certificate, signed by the
//! cluster CA, so the test also checks how the API server authenticates to agents.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use minato_streams::{
    command_from_query, negotiate_exec, negotiate_portforward, serve_exec, serve_portforward,
    ExecOptions, ExecResult, ExecStreams,
};
use minato_testkit::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, std::io::Error>;

const LOG_TEXT: &str = "line 1\nline 2\nline 3\n";

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|n: Infallible| match n {})
        .boxed()
}

/// Requests the fake node saw, and the client certificate's subject CN.
#[derive(Default)]
struct Seen {
    paths: Vec<String>,
}

/// The test-only node endpoint.
struct FakeNode {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_fake_node(ca_pem_path: &Path) -> FakeNode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    let certs = vec![ck.cert.der().clone()];
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).expect("key");
    // Only clients with a certificate from the cluster CA (the API server's kubelet client).
    let mut roots = rustls::RootCertStore::empty();
    let ca_pem = std::fs::read(ca_pem_path).expect("read cluster CA");
    for c in rustls_pemfile::certs(&mut ca_pem.as_slice()) {
        roots.add(c.expect("ca pem")).expect("add ca");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .expect("verifier");
    let mut config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let seen2 = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let cn_ok = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| {
                        // The subject is DER; the CN text appears in it verbatim.
                        let der = c.as_ref();
                        der.windows(29)
                            .any(|w| w == b"kube-apiserver-kubelet-client")
                    })
                    .unwrap_or(false);
                let service = hyper::service::service_fn(move |req| {
                    let seen = seen.clone();
                    async move { Ok::<_, Infallible>(kubelet(req, seen, cn_ok).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    FakeNode { addr, seen, task }
}

async fn kubelet(
    req: http::Request<Incoming>,
    seen: Arc<Mutex<Seen>>,
    cn_ok: bool,
) -> http::Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    if let Ok(mut s) = seen.lock() {
        s.paths.push(format!(
            "{} {}{}",
            req.method(),
            path,
            query.as_ref().map(|q| format!("?{q}")).unwrap_or_default()
        ));
    }
    if !cn_ok {
        return http::Response::builder()
            .status(403)
            .body(full("client is not the API server"))
            .expect("response");
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.first().copied() {
        Some("containerLogs") => logs(query.as_deref()),
        Some("exec") | Some("attach") => {
            let (mut parts, _) = req.into_parts();
            let negotiated = match negotiate_exec(&parts) {
                Ok(n) => n,
                Err(resp) => return resp.map(|b| b.map_err(|n| match n {}).boxed()),
            };
            let opts = ExecOptions::from_query(query.as_deref());
            let command = if segs[0] == "attach" {
                vec!["cat".to_string()]
            } else {
                command_from_query(query.as_deref())
            };
            let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
            let resp = negotiated.response();
            tokio::spawn(async move {
                let Some(Ok(io)) = (match on_upgrade {
                    Some(u) => Some(u.await),
                    None => None,
                }) else {
                    return;
                };
                serve_exec(TokioIo::new(io), negotiated, opts, move |s| {
                    run_host(command, s)
                })
                .await;
            });
            resp.map(|b| b.map_err(|n| match n {}).boxed())
        }
        Some("portForward") => {
            let (mut parts, _) = req.into_parts();
            let negotiated = match negotiate_portforward(&parts) {
                Ok(n) => n,
                Err(resp) => return resp.map(|b| b.map_err(|n| match n {}).boxed()),
            };
            let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
            let resp = negotiated.response();
            tokio::spawn(async move {
                let Some(u) = on_upgrade else { return };
                let Ok(io) = u.await else { return };
                serve_portforward(TokioIo::new(io), negotiated, |port| async move {
                    tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                })
                .await;
            });
            resp.map(|b| b.map_err(|n| match n {}).boxed())
        }
        _ => http::Response::builder()
            .status(404)
            .body(full("not found"))
            .expect("response"),
    }
}

/// A fixed log; `tailLines` and `follow` are honoured (follow streams slowly, then ends).
fn logs(query: Option<&str>) -> http::Response<Body> {
    let q: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let mut lines: Vec<String> = LOG_TEXT.lines().map(|l| format!("{l}\n")).collect();
    if let Some(n) = get("tailLines").and_then(|v| v.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let body = if get("follow").as_deref() == Some("true") {
        let stream = futures::stream::unfold(lines.into_iter(), |mut it| async move {
            let line = it.next()?;
            tokio::time::sleep(Duration::from_millis(150)).await;
            Some((Ok::<_, std::io::Error>(Frame::data(Bytes::from(line))), it))
        });
        BodyExt::boxed(StreamBody::new(stream))
    } else {
        full(lines.concat())
    };
    http::Response::builder()
        .header("content-type", "text/plain")
        .body(body)
        .expect("response")
}

/// Runs the command as a host process, wiring the exec streams to its stdio.
fn run_host(command: Vec<String>, s: ExecStreams) -> BoxFuture<'static, ExecResult> {
    Box::pin(async move {
        let Some((prog, args)) = command.split_first() else {
            return ExecResult::Error("no command given".into());
        };
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(args)
            .kill_on_drop(true)
            .stdin(if s.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(if s.stdout.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(if s.stderr.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return ExecResult::Error(format!("cannot run {prog}: {e}")),
        };
        if let (Some(mut rx), Some(mut stdin)) = (s.stdin, child.stdin.take()) {
            tokio::spawn(async move {
                while let Some(b) = rx.recv().await {
                    if stdin.write_all(&b).await.is_err() {
                        break;
                    }
                }
            });
        }
        async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, tx: mpsc::Sender<Bytes>) {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    break;
                }
            }
        }
        let out = match (child.stdout.take(), s.stdout) {
            (Some(r), Some(tx)) => Some(tokio::spawn(pump(r, tx))),
            _ => None,
        };
        let err = match (child.stderr.take(), s.stderr) {
            (Some(r), Some(tx)) => Some(tokio::spawn(pump(r, tx))),
            _ => None,
        };
        let status = child.wait().await;
        for t in [out, err].into_iter().flatten() {
            let _ = t.await;
        }
        match status {
            Ok(st) => ExecResult::Exited(st.code().unwrap_or(128)),
            Err(e) => ExecResult::Error(e.to_string()),
        }
    })
}

/// A cluster with one node pointing at the fake node endpoint and a few pods.
struct Cluster {
    server: TestServer,
    node: FakeNode,
}

async fn cluster() -> Cluster {
    let server = TestServer::start(&["--no-controllers", "--no-scheduler", "--no-agent"]).await;
    let ca = server.dir().join("data/tls/ca.crt");
    assert!(ca.is_file(), "cluster CA not at {}", ca.display());
    let node = start_fake_node(&ca).await;

    let nodes: Api<Node> = Api::all(server.client.clone());
    let n: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "fake-node"}
    }))
    .expect("node");
    nodes
        .create(&PostParams::default(), &n)
        .await
        .expect("create node");
    let status = serde_json::json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "fake-node"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": node.addr.port()}},
    }});
    nodes
        .patch_status("fake-node", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("node status");

    // Without controllers nobody makes the namespace's default service account, which pod
    // admission wants.
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(server.client.clone(), "default");
    let sa = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}
    }))
    .expect("service account");
    if let Err(e) = sas.create(&PostParams::default(), &sa).await {
        // Already there when the server (or its admission) makes it.
        assert!(
            matches!(&e, kube::Error::Api(s) if s.code == 409),
            "create service account: {e}"
        );
    }

    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    for (name, node_name, containers) in [
        ("p", Some("fake-node"), vec!["main"]),
        ("multi", Some("fake-node"), vec!["a", "b"]),
        ("unscheduled", None, vec!["main"]),
    ] {
        let mut spec = serde_json::json!({"containers": containers.iter().map(|c| serde_json::json!({"name": c, "image": "busybox"})).collect::<Vec<_>>()});
        if let Some(n) = node_name {
            spec["nodeName"] = serde_json::json!(n);
        }
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec,
        }))
        .expect("pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("create pod");
        if node_name.is_some() {
            // kubectl port-forward wants a Running pod; no agent runs here to say so.
            let st = serde_json::json!({"status": {"phase": "Running"}});
            pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&st))
                .await
                .expect("pod status");
        }
    }
    Cluster { server, node }
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs kubectl against the test server, feeding `stdin`, with a time limit.
async fn kubectl(
    kubeconfig: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("kubectl on PATH");
    if let Some(input) = stdin {
        let mut w = child.stdin.take().expect("stdin");
        w.write_all(input.as_bytes()).await.expect("write stdin");
        drop(w);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within 60s"))
        .expect("kubectl output");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn kubeconfig(c: &Cluster) -> PathBuf {
    c.server.kubeconfig.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_over_websocket_and_spdy() {
    let c = cluster().await;
    let kc = kubeconfig(&c);
    for env in [vec![], vec![("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")]] {
        let o = kubectl(&kc, &["exec", "p", "--", "echo", "hi"], &env, None).await;
        assert_eq!(o.code, Some(0), "{env:?}: {}", o.stderr);
        assert_eq!(o.stdout, "hi\n", "{env:?}");

        let o = kubectl(
            &kc,
            &[
                "exec",
                "p",
                "--",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
            &env,
            None,
        )
        .await;
        assert_eq!(o.code, Some(3), "{env:?}: {}", o.stderr);
        assert_eq!(o.stdout, "out\n", "{env:?}");
        assert!(o.stderr.contains("err\n"), "{env:?}: {}", o.stderr);
        assert!(
            o.stderr.contains("command terminated with exit code 3"),
            "{env:?}: {}",
            o.stderr
        );

        let o = kubectl(
            &kc,
            &["exec", "-i", "p", "--", "cat"],
            &env,
            Some("hello\nworld\n"),
        )
        .await;
        assert_eq!(o.code, Some(0), "{env:?}: {}", o.stderr);
        assert_eq!(o.stdout, "hello\nworld\n", "{env:?}");

        // Larger than one message/frame in both directions.
        let big: String = (0..20000).map(|i| format!("{i:07}\n")).collect();
        let o = kubectl(&kc, &["exec", "-i", "p", "--", "cat"], &env, Some(&big)).await;
        assert_eq!(o.code, Some(0), "{env:?}: {}", o.stderr);
        assert!(
            o.stdout == big,
            "{env:?}: {} bytes back of {}",
            o.stdout.len(),
            big.len()
        );

        // A command that cannot be run: the handler's error message reaches the user.
        let o = kubectl(&kc, &["exec", "p", "--", "/no/such/binary"], &env, None).await;
        assert_ne!(o.code, Some(0));
        assert!(
            o.stderr.contains("cannot run /no/such/binary"),
            "{env:?}: {}",
            o.stderr
        );
    }
    // attach goes to /attach (the fake runs cat there).
    let o = kubectl(&kc, &["attach", "-i", "p"], &[], Some("attached\n")).await;
    assert!(
        o.stdout.contains("attached"),
        "attach: {} / {}",
        o.stdout,
        o.stderr
    );

    let seen = c.node.seen.lock().expect("seen").paths.clone();
    assert!(
        seen.iter()
            .any(|p| p.starts_with("GET /exec/default/p/main?")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|p| p.starts_with("POST /exec/default/p/main?")),
        "SPDY exec is a POST: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|p| p.starts_with("GET /attach/default/p/main")),
        "{seen:?}"
    );
}

/// A one-shot TCP server on 127.0.0.1 that greets each connection, then echoes.
async fn greeter() -> (u16, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(b"hello from the pod\n").await;
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, task)
}

/// A kubectl process killed (by its own handle) when dropped.
struct Running(tokio::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn port_forward_once(kc: &Path, target: u16, env: &[(&str, &str)]) {
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kc)
        .args(["port-forward", "p", &format!("0:{target}")])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = Running(cmd.spawn().expect("kubectl"));
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let local: Option<u16> = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            // "Forwarding from 127.0.0.1:40123 -> 8080"
            if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
                if let Some(p) = rest.split(' ').next().and_then(|p| p.parse().ok()) {
                    return Some(p);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(local) = local else {
        let _ = child.0.start_kill();
        let mut err = String::new();
        if let Some(mut e) = child.0.stderr.take() {
            let _ = e.read_to_string(&mut err).await;
        }
        panic!("port-forward {env:?} printed no local port; stderr: {err}");
    };
    // Two connections one after another (requestid 0 and 1), each greeted and echoed.
    for round in 0..2 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", local))
            .await
            .expect("connect to the forwarded port");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        let want = b"hello from the pod\n";
        tokio::time::timeout(Duration::from_secs(20), async {
            while got.len() < want.len() {
                let n = s.read(&mut buf).await.expect("read");
                assert!(n > 0, "connection closed early");
                got.extend_from_slice(&buf[..n]);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{env:?} round {round}: no greeting, got {got:?}"));
        assert_eq!(&got, want);
        s.write_all(b"ping\n").await.expect("write");
        let mut echo = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut echo))
            .await
            .expect("echo in time")
            .expect("echo");
        assert_eq!(&echo, b"ping\n");
    }
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_over_websocket_tunnel_and_spdy() {
    let c = cluster().await;
    let kc = kubeconfig(&c);
    let (port, greeter_task) = greeter().await;
    port_forward_once(&kc, port, &[]).await;
    port_forward_once(&kc, port, &[("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")]).await;
    greeter_task.abort();
    let seen = c.node.seen.lock().expect("seen").paths.clone();
    assert!(
        seen.iter().any(|p| p == "GET /portForward/default/p"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|p| p == "POST /portForward/default/p"),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_validation_errors() {
    let c = cluster().await;
    let kc = kubeconfig(&c);
    let o = kubectl(&kc, &["logs", "p"], &[], None).await;
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(o.stdout, LOG_TEXT);

    let o = kubectl(&kc, &["logs", "p", "--tail=1"], &[], None).await;
    assert_eq!(o.stdout, "line 3\n", "{}", o.stderr);

    let started = std::time::Instant::now();
    let o = kubectl(&kc, &["logs", "-f", "p"], &[], None).await;
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(o.stdout, LOG_TEXT);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "follow streamed"
    );

    let o = kubectl(&kc, &["logs", "multi", "-c", "b"], &[], None).await;
    assert_eq!(o.stdout, LOG_TEXT, "{}", o.stderr);
    let seen = c.node.seen.lock().expect("seen").paths.clone();
    assert!(
        seen.iter()
            .any(|p| p.starts_with("GET /containerLogs/default/p/main?")
                && p.contains("follow=true")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|p| p.starts_with("GET /containerLogs/default/multi/b?")),
        "{seen:?}"
    );

    // Server-side checks, straight through the API.
    let client = c.server.client.clone();
    let api_error = |path: &'static str, method: &'static str| {
        let client = client.clone();
        async move {
            let req = http::Request::builder()
                .method(method)
                .uri(path)
                .body(Vec::new())
                .expect("request");
            match client.request_text(req).await {
                Err(kube::Error::Api(e)) => (e.code, e.message),
                other => panic!("{path}: expected an API error, got {other:?}"),
            }
        }
    };
    let (code, msg) = api_error("/api/v1/namespaces/default/pods/multi/log", "GET").await;
    assert_eq!(code, 400);
    assert_eq!(
        msg,
        "a container name must be specified for pod multi, choose one of: [a b]"
    );
    let (code, msg) = api_error(
        "/api/v1/namespaces/default/pods/p/log?container=nope",
        "GET",
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(msg, "container nope is not valid for pod p");
    let (code, msg) = api_error(
        "/api/v1/namespaces/default/pods/unscheduled/exec?command=true&stdout=true",
        "POST",
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(msg, "pod unscheduled does not have a host assigned");
    let (code, _) = api_error(
        "/api/v1/namespaces/default/pods/ghost/exec?command=true",
        "POST",
    )
    .await;
    assert_eq!(code, 404);

    // And as kubectl shows them.
    let o = kubectl(&kc, &["exec", "unscheduled", "--", "echo", "hi"], &[], None).await;
    assert_ne!(o.code, Some(0));
    assert!(
        o.stderr
            .contains("pod unscheduled does not have a host assigned"),
        "{}",
        o.stderr
    );
    let o = kubectl(
        &kc,
        &["exec", "p", "-c", "nope", "--", "echo", "hi"],
        &[],
        None,
    )
    .await;
    assert_ne!(o.code, Some(0));
    assert!(
        o.stderr.contains("container nope is not valid for pod p")
            || o.stderr.contains("container nope not found"),
        "{}",
        o.stderr
    );
}
