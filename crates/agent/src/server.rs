//! The agent's HTTPS server, what the API server calls for a pod's logs, exec, attach and
//! port-forward (the kubelet's paths: /containerLogs, /exec, /attach, /portForward), plus
//! /healthz and /stats/summary. Only clients with a certificate signed by the cluster CA
//! may call it (the API server presents one).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::FutureExt;
use http::{Method, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use minato_runtime::{ContainerRecord, ContainerState};
use minato_streams::{ExecOptions, ExecResult, ExecStreams};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::{Ctx, Error};

pub(crate) type Body = BoxBody<Bytes, std::io::Error>;
pub(crate) type Response = http::Response<Body>;

/// A response with a small, complete body, in the server's streaming body type.
pub(crate) fn boxed(resp: http::Response<Full<Bytes>>) -> Response {
    resp.map(|b| b.map_err(|never| match never {}).boxed())
}

/// A complete response with `content_type` and `body`.
pub(crate) fn complete(status: StatusCode, content_type: &str, body: Bytes) -> Response {
    boxed(
        http::Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(body))
            .unwrap_or_else(|_| http::Response::new(Full::new(Bytes::new()))),
    )
}

fn full(status: StatusCode, text: impl Into<String>) -> Response {
    complete(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(text.into()),
    )
}

/// A serving certificate for the agent: signed by the cluster CA when its key is at hand
/// (the embedded agent), self-signed otherwise (the API server does not verify kubelet
/// serving certificates by default, as upstream).
pub fn serving_cert(
    ca_pem: &str,
    ca_key_pem: Option<&str>,
    node_name: &str,
    ip: IpAddr,
) -> Result<(String, String), rcgen::Error> {
    let mut params =
        rcgen::CertificateParams::new(vec![node_name.to_string(), "localhost".to_string()])?;
    params.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        format!("{node_name}@minato-agent"),
    );
    params.distinguished_name = dn;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate()?;
    let cert = match ca_key_pem {
        Some(ca_key) => {
            let ca_key = rcgen::KeyPair::from_pem(ca_key)?;
            let issuer = rcgen::Issuer::from_ca_cert_pem(ca_pem, ca_key)?;
            params.signed_by(&key, &issuer)?
        }
        None => params.self_signed(&key)?,
    };
    Ok((cert.pem(), key.serialize_pem()))
}

fn tls_acceptor(ctx: &crate::AgentConfig) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let bad = |e: String| Error::Server(format!("TLS setup: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut ctx.serving_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
    let key: PrivateKeyDer<'static> =
        rustls_pemfile::private_key(&mut ctx.serving_key_pem.as_bytes())
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| bad("no private key".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut ctx.client_ca_pem.as_bytes()) {
        roots
            .add(ca.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| bad(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| bad(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Binds the server's port (before the Node is registered, so the Node names the real port).
pub async fn bind(config: &crate::AgentConfig) -> Result<TcpListener, Error> {
    let addr = SocketAddr::new(config.node_ip, config.kubelet_port);
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Server(format!("cannot listen on {addr}: {e} (is another node agent or kubelet running? choose another --kubelet-port)")))
}

/// Serves until the listener fails.
pub async fn serve(ctx: Arc<Ctx>, listener: TcpListener) -> Result<(), Error> {
    let acceptor = tls_acceptor(&ctx.config)?;
    loop {
        let (tcp, peer) = listener
            .accept()
            .await
            .map_err(|e| Error::Server(e.to_string()))?;
        let acceptor = acceptor.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(handle(ctx, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}

fn query_map(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn flag(q: &[(String, String)], key: &str) -> bool {
    q.iter()
        .any(|(k, v)| k == key && matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

async fn handle(ctx: Arc<Ctx>, req: http::Request<hyper::body::Incoming>) -> Response {
    let path = req.uri().path().to_string();
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method().clone(), segs.as_slice()) {
        (Method::GET, ["healthz"]) => full(StatusCode::OK, "ok"),
        (Method::GET, ["containerLogs", ns, pod, container]) => {
            logs(&ctx, ns, pod, container, req.uri().query()).await
        }
        (_, ["exec", ns, pod, container]) => {
            exec(ctx.clone(), ns, pod, container, req, false).await
        }
        (_, ["attach", ns, pod, container]) => {
            exec(ctx.clone(), ns, pod, container, req, true).await
        }
        (_, ["portForward", ns, pod]) => port_forward(ctx.clone(), ns, pod, req).await,
        (Method::GET, ["stats", "summary"]) => crate::stats::summary(&ctx).await,
        _ => full(StatusCode::NOT_FOUND, format!("404 page not found: {path}")),
    }
}

/// The newest record of a container (or the one before it, for `previous`); the error is the
/// response to send.
#[allow(clippy::result_large_err)]
fn find_container(
    ctx: &Ctx,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<ContainerRecord, Response> {
    let Some(entry) = ctx.find_pod(ns, pod) else {
        return Err(full(
            StatusCode::NOT_FOUND,
            format!("pod {ns}/{pod} is not running on this node"),
        ));
    };
    let records = ctx
        .runtime
        .containers()
        .map_err(|e| full(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut mine: Vec<ContainerRecord> = records
        .into_iter()
        .filter(|r| r.pod_uid == entry.uid && r.container_name == container)
        .collect();
    mine.sort_by_key(|r| std::cmp::Reverse(r.attempt));
    let pick = if previous { mine.get(1) } else { mine.first() };
    pick.cloned().ok_or_else(|| {
        if previous {
            full(StatusCode::BAD_REQUEST, format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"))
        } else {
            full(StatusCode::BAD_REQUEST, format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"))
        }
    })
}

async fn logs(ctx: &Ctx, ns: &str, pod: &str, container: &str, query: Option<&str>) -> Response {
    let q = query_map(query);
    let previous = flag(&q, "previous");
    let record = match find_container(ctx, ns, pod, container, previous) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let since = param(&q, "sinceSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| SystemTime::now() - Duration::from_secs(s))
        .or_else(|| {
            param(&q, "sinceTime")
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map(SystemTime::from)
        });
    let opts = minato_runtime::logs::LogOptions {
        follow: flag(&q, "follow") && !previous,
        tail_lines: param(&q, "tailLines").and_then(|s| s.parse().ok()),
        since,
        timestamps: flag(&q, "timestamps"),
        limit_bytes: param(&q, "limitBytes").and_then(|s| s.parse().ok()),
    };
    let runtime = ctx.runtime.clone();
    let id = record.id.clone();
    let stop = async move {
        let _ = runtime.wait_exited(&id).await;
    };
    let rx = minato_runtime::logs::read(&record.log_path, opts, stop);
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(|r| r.map(Frame::data));
    http::Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap_or_else(|_| {
            full(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot build the response",
            )
        })
}

use futures::StreamExt;

async fn exec(
    ctx: Arc<Ctx>,
    ns: &str,
    pod: &str,
    container: &str,
    req: http::Request<hyper::body::Incoming>,
    attach: bool,
) -> Response {
    let record = match find_container(&ctx, ns, pod, container, false) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if !matches!(record.state, ContainerState::Running { .. }) {
        return full(
            StatusCode::BAD_REQUEST,
            format!("container {container} is not running"),
        );
    }
    let (parts, body) = req.into_parts();
    let negotiated = match minato_streams::negotiate_exec(&parts) {
        Ok(n) => n,
        Err(resp) => return boxed(resp),
    };
    let opts = ExecOptions::from_query(parts.uri.query());
    let argv = minato_streams::command_from_query(parts.uri.query());
    if !attach && argv.is_empty() {
        return full(
            StatusCode::BAD_REQUEST,
            "you must specify at least 1 command",
        );
    }
    let response = boxed(negotiated.response());
    let req = http::Request::from_parts(parts, body);
    let runtime = ctx.runtime.clone();
    let id = record.id.clone();
    let log_path = record.log_path.clone();
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => {
                warn!(error = %e, "exec upgrade failed");
                return;
            }
        };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        minato_streams::serve_exec(io, negotiated, opts, move |streams| {
            if attach {
                attach_session(runtime, id, log_path, streams).boxed()
            } else {
                exec_session(runtime, id, argv, opts, streams).boxed()
            }
        })
        .await;
    });
    response
}

/// Runs `argv` in the container and relays its streams.
async fn exec_session(
    runtime: minato_runtime::Runtime,
    id: String,
    argv: Vec<String>,
    opts: ExecOptions,
    streams: ExecStreams,
) -> ExecResult {
    let ExecStreams {
        stdin,
        stdout,
        stderr,
        mut resize,
    } = streams;
    // kubectl sends the terminal size first: apply it as soon as the process exists, so a
    // program asking for its size at once sees the real one.
    let mut first_size = None;
    if opts.tty {
        if let Some(rx) = resize.as_mut() {
            first_size = tokio::time::timeout(Duration::from_millis(500), rx.recv())
                .await
                .ok()
                .flatten();
        }
    }
    let spec = minato_runtime::ExecSpec {
        argv: argv.clone(),
        env: Vec::new(),
        tty: opts.tty,
        stdin: opts.stdin,
        cwd: None,
    };
    let mut proc = match runtime.exec(&id, spec).await {
        Ok(p) => p,
        Err(e) => return ExecResult::Error(format!("failed to exec in container: {e}")),
    };
    if let Some(size) = first_size {
        let _ = proc.resize(size.width, size.height);
    }
    if let (Some(mut rx), Some(mut w)) = (stdin, proc.stdin.take()) {
        tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                if w.write_all(&chunk).await.is_err() {
                    break;
                }
                let _ = w.flush().await;
            }
            // Client EOF: close the process's stdin so e.g. `cat` ends.
            let _ = w.shutdown().await;
        });
    }
    let pump = |reader: Option<minato_runtime::exec::BoxRead>,
                tx: Option<tokio::sync::mpsc::Sender<Bytes>>| async move {
        let (Some(mut r), Some(tx)) = (reader, tx) else {
            return;
        };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let out = pump(proc.stdout.take(), stdout);
    let err = pump(proc.stderr.take(), stderr);
    let proc_ref = &mut proc;
    let resize_task = async move {
        if let Some(mut rx) = resize {
            while let Some(size) = rx.recv().await {
                let _ = proc_ref.resize(size.width, size.height);
            }
        }
        // No more resizes: keep waiting for the output to end.
        std::future::pending::<()>().await
    };
    // Output ends when the process's side closes; resizes until then.
    tokio::select! {
        _ = async { tokio::join!(out, err) } => {}
        _ = resize_task => {}
    }
    match proc.wait().await {
        Ok(code) => ExecResult::Exited(code),
        Err(e) => ExecResult::Error(e.to_string()),
    }
}

/// Attach: the container's output from now on (its log) until it exits, and, for containers
/// with `stdin: true`, the client's input into the container's stdin (the shim's fifo).
async fn attach_session(
    runtime: minato_runtime::Runtime,
    id: String,
    log_path: std::path::PathBuf,
    streams: ExecStreams,
) -> ExecResult {
    // Output from this moment on, whenever the log reader below gets to open the file: input
    // is forwarded at once, and a quick answer to it must not be missed.
    let attached_at = std::time::SystemTime::now();
    if let (Some(mut rx), Some(fifo)) = (streams.stdin, runtime.stdin_path(&id)) {
        tokio::spawn(async move {
            // Opening a fifo for writing waits for its reader: the shim holds it open.
            let Ok(mut w) = tokio::fs::OpenOptions::new().write(true).open(&fifo).await else {
                return;
            };
            while let Some(chunk) = rx.recv().await {
                if w.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        });
    }
    let opts = minato_runtime::logs::LogOptions {
        follow: true,
        tail_lines: None,
        since: Some(attached_at),
        timestamps: false,
        limit_bytes: None,
    };
    let rt = runtime.clone();
    let id2 = id.clone();
    let mut rx = minato_runtime::logs::read(&log_path, opts, async move {
        let _ = rt.wait_exited(&id2).await;
    });
    let out = streams.stdout;
    while let Some(chunk) = rx.recv().await {
        let Ok(chunk) = chunk else { break };
        if let Some(tx) = &out {
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    }
    match runtime.container(&id) {
        Ok(Some(r)) => match r.state {
            ContainerState::Exited { exit_code, .. } => ExecResult::Exited(exit_code),
            _ => ExecResult::Exited(0),
        },
        _ => ExecResult::Exited(0),
    }
}

async fn port_forward(
    ctx: Arc<Ctx>,
    ns: &str,
    pod: &str,
    req: http::Request<hyper::body::Incoming>,
) -> Response {
    let Some(entry) = ctx.find_pod(ns, pod) else {
        return full(
            StatusCode::NOT_FOUND,
            format!("pod {ns}/{pod} is not running on this node"),
        );
    };
    let host_network = entry.pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
    let netns = if host_network {
        None
    } else {
        match ctx.network.sandboxes() {
            Ok(list) => list
                .into_iter()
                .find(|s| s.pod_uid == entry.uid)
                .and_then(|s| s.netns),
            Err(e) => return full(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    };
    if !host_network && netns.is_none() {
        return full(
            StatusCode::BAD_REQUEST,
            format!("pod {pod} has no network sandbox yet"),
        );
    }
    let (parts, body) = req.into_parts();
    let negotiated = match minato_streams::negotiate_portforward(&parts) {
        Ok(n) => n,
        Err(resp) => return boxed(resp),
    };
    let response = boxed(negotiated.response());
    let req = http::Request::from_parts(parts, body);
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => {
                warn!(error = %e, "port-forward upgrade failed");
                return;
            }
        };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        minato_streams::serve_portforward(io, negotiated, move |port| {
            let netns = netns.clone();
            async move { crate::netns::connect_in(netns.as_deref(), port).await }
        })
        .await;
    });
    response
}
