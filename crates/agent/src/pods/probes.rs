//! Container probes (startup, liveness, readiness) as the kubelet's prober runs them: one
//! task per probe, on its period, counting consecutive results against the thresholds.
//! httpGet (HTTP and HTTPS without verification, as upstream), tcpSocket, exec and grpc.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// One probe's outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Success,
    Failure(String),
}

/// The shared verdicts of one container's probes.
#[derive(Debug)]
pub struct Verdicts {
    pub started: bool,
    pub ready: bool,
    /// Set when liveness (or startup) failed past its threshold: restart the container.
    pub restart: Option<String>,
}

/// Where a probe connects and how it runs commands.
#[derive(Clone)]
pub struct Target {
    pub pod_ip: IpAddr,
    pub container: Container,
    pub exec: crate::pods::ExecFn,
}

fn port_of(port: &IntOrString, c: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).map_err(|_| format!("invalid port {p}")),
        IntOrString::String(name) => {
            if let Ok(p) = name.parse::<u16>() {
                return Ok(p);
            }
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("couldn't find port {name:?} in container"))
        }
    }
}

/// Runs one probe attempt.
pub async fn run_once(p: &Probe, t: &Target) -> Outcome {
    let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(exec) = &p.exec {
        let cmd = exec.command.clone().unwrap_or_default();
        return match (t.exec)(cmd, timeout).await {
            Ok((0, _)) => Outcome::Success,
            Ok((code, out)) => Outcome::Failure(if out.trim().is_empty() {
                format!("command exited with status {code}")
            } else {
                out
            }),
            Err(e) => Outcome::Failure(e),
        };
    }
    if let Some(tcp) = &p.tcp_socket {
        let port = match port_of(&tcp.port, &t.container) {
            Ok(p) => p,
            Err(e) => return Outcome::Failure(e),
        };
        let host: IpAddr = tcp
            .host
            .as_deref()
            .and_then(|h| h.parse().ok())
            .unwrap_or(t.pod_ip);
        let addr = SocketAddr::new(host, port);
        return match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Outcome::Success,
            Ok(Err(e)) => Outcome::Failure(format!("dial tcp {addr}: connect: {e}")),
            Err(_) => Outcome::Failure(format!("dial tcp {addr}: i/o timeout")),
        };
    }
    if let Some(h) = &p.http_get {
        let port = match port_of(&h.port, &t.container) {
            Ok(p) => p,
            Err(e) => return Outcome::Failure(e),
        };
        let host: IpAddr = h
            .host
            .as_deref()
            .and_then(|h| h.parse().ok())
            .unwrap_or(t.pod_ip);
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let headers: Vec<(String, String)> = h
            .http_headers
            .iter()
            .flatten()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        let https = h.scheme.as_deref() == Some("HTTPS");
        let url = format!(
            "{}://{host}:{port}{path}",
            if https { "https" } else { "http" }
        );
        return match tokio::time::timeout(timeout, http_get(SocketAddr::new(host, port), &path, &headers, https)).await {
            Ok(Ok(code)) if (200..400).contains(&code) => Outcome::Success,
            Ok(Ok(code)) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
            Ok(Err(e)) => Outcome::Failure(format!("Get \"{url}\": {e}")),
            Err(_) => Outcome::Failure(format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )),
        };
    }
    if let Some(g) = &p.grpc {
        let Ok(port) = u16::try_from(g.port) else {
            return Outcome::Failure(format!("invalid port {}", g.port));
        };
        let addr = SocketAddr::new(t.pod_ip, port);
        return match tokio::time::timeout(
            timeout,
            grpc_health(addr, g.service.as_deref().unwrap_or("")),
        )
        .await
        {
            Ok(Ok(())) => Outcome::Success,
            Ok(Err(e)) => Outcome::Failure(e),
            Err(_) => Outcome::Failure(format!(
                "timeout: health rpc did not complete within {}s",
                timeout.as_secs()
            )),
        };
    }
    Outcome::Failure("probe has no handler".into())
}

async fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(String, String)],
    https: bool,
) -> Result<u16, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: connect: {e}"))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("user-agent") {
        req.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !has("accept") {
        req.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut head = Vec::new();
    if https {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        read_head(&mut tls, &mut head).await?;
    } else {
        let mut tcp = tcp;
        tcp.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        read_head(&mut tcp, &mut head).await?;
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "malformed HTTP response".to_string())
}

async fn read_head<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    let mut chunk = [0u8; 512];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = r.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("EOF".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 16 * 1024 {
            break;
        }
    }
    Ok(())
}

/// gRPC health checking protocol (grpc.health.v1.Health/Check) over h2c.
async fn grpc_health(addr: SocketAddr, service: &str) -> Result<(), String> {
    use http_body_util::{BodyExt, Full};
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("failed to connect service {addr:?} within 1s: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    // HealthCheckRequest { service = 1 (string) }, length-prefixed gRPC message.
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a);
        msg.push(service.len() as u8);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut body = vec![0u8];
    body.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    body.extend_from_slice(&msg);
    let req = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let collected = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(trailers) = collected.trailers() {
        if let Some(status) = trailers.get("grpc-status").and_then(|v| v.to_str().ok()) {
            if status != "0" {
                return Err(format!("rpc error: code = {status}"));
            }
        }
    }
    let data = collected.to_bytes();
    // HealthCheckResponse { status = 1 (enum) }: SERVING is 1.
    let payload = data.get(5..).unwrap_or_default();
    if payload.windows(2).any(|w| w == [0x08, 0x01]) {
        Ok(())
    } else {
        Err("service unhealthy (responded with \"NOT_SERVING\")".into())
    }
}

#[derive(Debug)]
struct NoVerify;

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Called with each result that crosses a threshold (for events and restarts).
pub type Report = Arc<dyn Fn(Kind, &Outcome) + Send + Sync>;

/// Runs a container's probes until `stop` is notified, updating `verdicts` and waking the
/// pod worker through `wake` when a verdict changes.
pub async fn run(
    container: Container,
    target: Target,
    verdicts: Arc<Mutex<Verdicts>>,
    wake: Arc<Notify>,
    report: Report,
    stop: Arc<Notify>,
) {
    let startup = container.startup_probe.clone();
    let liveness = container.liveness_probe.clone();
    let readiness = container.readiness_probe.clone();
    let run = async {
        if let Some(p) = startup {
            if !probe_loop(Kind::Startup, &p, &target, &verdicts, &wake, &report).await {
                return;
            }
        }
        let l = async {
            if let Some(p) = &liveness {
                probe_loop(Kind::Liveness, p, &target, &verdicts, &wake, &report).await;
            }
        };
        let r = async {
            if let Some(p) = &readiness {
                probe_loop(Kind::Readiness, p, &target, &verdicts, &wake, &report).await;
            }
        };
        tokio::join!(l, r);
    };
    tokio::select! {
        _ = run => {}
        _ = stop.notified() => {}
    }
}

/// One probe's loop. Returns false when the container is to be restarted (startup failed);
/// a startup probe returns true once it succeeded.
async fn probe_loop(
    kind: Kind,
    p: &Probe,
    target: &Target,
    verdicts: &Arc<Mutex<Verdicts>>,
    wake: &Arc<Notify>,
    report: &Report,
) -> bool {
    let period = Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64);
    let success_threshold = p.success_threshold.unwrap_or(1).max(1);
    let failure_threshold = p.failure_threshold.unwrap_or(3).max(1);
    tokio::time::sleep(Duration::from_secs(
        p.initial_delay_seconds.unwrap_or(0).max(0) as u64,
    ))
    .await;
    let mut successes = 0;
    let mut failures = 0;
    loop {
        let outcome = run_once(p, target).await;
        match &outcome {
            Outcome::Success => {
                successes += 1;
                failures = 0;
                if successes >= success_threshold {
                    let mut v = verdicts.lock().unwrap_or_else(|e| e.into_inner());
                    match kind {
                        Kind::Startup => {
                            v.started = true;
                            drop(v);
                            wake.notify_one();
                            return true;
                        }
                        Kind::Readiness if !v.ready => {
                            v.ready = true;
                            drop(v);
                            wake.notify_one();
                        }
                        _ => {}
                    }
                }
            }
            Outcome::Failure(_) => {
                failures += 1;
                successes = 0;
                report(kind, &outcome);
                if failures >= failure_threshold {
                    let mut v = verdicts.lock().unwrap_or_else(|e| e.into_inner());
                    match kind {
                        Kind::Startup | Kind::Liveness => {
                            v.restart = Some(format!(
                                "Container {} failed {} probe, will be restarted",
                                target.container.name,
                                kind.name().to_lowercase()
                            ));
                            drop(v);
                            wake.notify_one();
                            return false;
                        }
                        Kind::Readiness if v.ready => {
                            v.ready = false;
                            drop(v);
                            wake.notify_one();
                        }
                        _ => {}
                    }
                }
            }
        }
        tokio::time::sleep(period).await;
    }
}
