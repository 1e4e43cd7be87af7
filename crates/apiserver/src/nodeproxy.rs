//! Pod subresources served by the node agent: `log`, `exec`, `attach`, `portforward`.
//!
//! The API server validates the request (the pod exists, has a node, names a valid container),
//! finds the node's agent (`status.addresses`, `status.daemonEndpoints.kubeletEndpoint.Port`)
//! and proxies to its kubelet-style endpoints (`/containerLogs`, `/exec`, `/attach`,
//! `/portForward`). Logs are relayed chunk by chunk; upgrade requests are forwarded with their
//! headers, the agent's 101 is relayed, and the two upgraded connections are spliced byte for
//! byte, so the agent speaks the client's protocol (WebSocket or SPDY) itself. A refused upgrade
//! is relayed as is, which is what makes kubectl fall back from WebSocket to SPDY.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::DigitallySignedStruct;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::{ApiError, ApiResult};
use crate::http::Response;
use crate::resource::Route;
use crate::server::State;

/// The subresources this module serves.
pub fn handles(route: &Route) -> bool {
    route.entry.info.group.is_empty()
        && route.entry.info.plural == "pods"
        && matches!(
            route.subresource.as_deref(),
            Some("log" | "exec" | "attach" | "portforward")
        )
}

/// The default kubelet port, used when a Node does not publish one.
const DEFAULT_KUBELET_PORT: u16 = 10250;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The client certificate's identity, as kubeadm names the API server's kubelet client.
const CLIENT_CN: &str = "kube-apiserver-kubelet-client";
const CLIENT_ORG: &str = "system:masters";

/// TLS client for node agents: authenticates with a client certificate signed by the cluster CA.
#[derive(Clone)]
pub struct KubeletClient {
    connector: TlsConnector,
}

#[derive(Debug, thiserror::Error)]
pub enum KubeletClientError {
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error("cannot set up the kubelet client TLS configuration: {0}")]
    Tls(String),
}

impl KubeletClient {
    /// Loads (or makes, on first start) `apiserver-kubelet-client.{crt,key}` in the TLS dir.
    pub fn load_or_create(tls_dir: &Path) -> Result<Self, KubeletClientError> {
        let (cert_pem, key_pem) = crate::pki::issue_cert(
            (&tls_dir.join("ca.crt"), &tls_dir.join("ca.key")),
            (
                &tls_dir.join("apiserver-kubelet-client.crt"),
                &tls_dir.join("apiserver-kubelet-client.key"),
            ),
            CLIENT_CN,
            &[CLIENT_ORG],
            &[],
            &[],
        )?;
        let tls = |e: &dyn std::fmt::Display| KubeletClientError::Tls(e.to_string());
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| tls(&e))?;
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .map_err(|e| tls(&e))?
            .ok_or_else(|| {
                KubeletClientError::Tls("no private key in the client key file".into())
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
            .with_client_auth_cert(certs, key)
            .map_err(|e| tls(&e))?;
        // Upgrades (exec, attach, port-forward) need HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(KubeletClient {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    pub(crate) async fn connect(
        &self,
        host: &str,
        port: u16,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "i/o timeout"))??;
        let _ = tcp.set_nodelay(true);
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_string())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        };
        self.connector.connect(name, tcp).await
    }
}

/// Accepts any serving certificate from a node agent. This is upstream's behaviour when
/// kube-apiserver runs without `--kubelet-certificate-authority`: the connection is encrypted
/// and the API server authenticates itself, but the agent is not authenticated.
#[derive(Debug)]
pub(crate) struct AnyServerCert(pub(crate) Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Serves `pods/{log,exec,attach,portforward}`.
pub async fn handle(state: &Arc<State>, route: &Route, mut parts: Parts) -> ApiResult<Response> {
    let sub = route.subresource.clone().unwrap_or_default();
    let name = route.name.clone().unwrap_or_default();
    let ns = route.namespace.clone().unwrap_or_default();
    let info = &route.entry.info;
    let kv = state
        .store
        .get(&info.key(route.namespace.as_deref(), &name))
        .await?
        .ok_or_else(|| ApiError::not_found(info, &name))?;
    let pod = crate::resource::from_stored(&kv)?;
    let query = parts.uri.query().unwrap_or("").to_string();
    let container = if sub == "portforward" {
        None
    } else {
        let asked = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "container")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        Some(validate_container(&pod, &name, &asked)?)
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        if sub == "log" {
            // Upstream answers an unscheduled pod's log with an empty stream.
            return Ok(http::Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "text/plain")
                .body(crate::http::empty())
                .unwrap_or_else(|_| http::Response::new(crate::http::empty())));
        }
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let (host, port) = node_endpoint(state, node).await?;
    let tail = match &container {
        Some(c) => format!("{ns}/{name}/{c}"),
        None => format!("{ns}/{name}"),
    };
    let path = match sub.as_str() {
        "log" => format!("/containerLogs/{tail}"),
        "exec" => format!("/exec/{tail}"),
        "attach" => format!("/attach/{tail}"),
        _ => format!("/portForward/{tail}"),
    };
    let path_and_query = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };

    let dial_error = |e: &dyn std::fmt::Display| {
        ApiError::internal(format!("error dialing backend: dial tcp {authority}: {e}"))
    };
    let tls = state
        .kubelet
        .connect(&host, port)
        .await
        .map_err(|e| dial_error(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| dial_error(&e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "node agent connection ended with an error");
        }
    });

    let upgrade = sub != "log";
    let method = if upgrade {
        parts.method.clone()
    } else {
        Method::GET
    };
    let mut req = http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .body(Empty::<Bytes>::new())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    for (k, v) in parts.headers.iter() {
        // Hop-by-hop framing is ours to set; Upgrade/Connection travel so the agent upgrades.
        if matches!(
            k.as_str(),
            "host" | "content-length" | "transfer-encoding" | "authorization" | "expect"
        ) {
            continue;
        }
        req.headers_mut().append(k.clone(), v.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&authority) {
        req.headers_mut().insert(http::header::HOST, v);
    }
    let client_upgrade = upgrade
        .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
        .flatten();
    let mut resp = sender
        .send_request(req)
        .await
        .map_err(|e| ApiError::internal(format!("error proxying to the node agent: {e}")))?;

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return Err(ApiError::bad_request(
                "the node agent switched protocols but this request cannot be upgraded (use HTTP/1.1 with Connection: Upgrade)",
            ));
        };
        let agent_upgrade = hyper::upgrade::on(&mut resp);
        let mut out = http::Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
        for (k, v) in resp.headers() {
            out = out.header(k, v);
        }
        tokio::spawn(async move {
            let (client, agent) = tokio::join!(client_upgrade, agent_upgrade);
            match (client, agent) {
                (Ok(client), Ok(agent)) => {
                    let mut client = TokioIo::new(client);
                    let mut agent = TokioIo::new(agent);
                    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut agent).await {
                        tracing::debug!(error = %e, "stream to the node agent ended");
                    }
                }
                (c, a) => tracing::debug!(
                    client_ok = c.is_ok(),
                    agent_ok = a.is_ok(),
                    "upgrade to the node agent failed"
                ),
            }
        });
        return out
            .body(crate::http::empty())
            .map_err(|e| ApiError::internal(e.to_string()));
    }

    // Anything else (logs, or a refused upgrade) is relayed as the agent sent it, streamed.
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().map_err(std::io::Error::other).boxed();
    let mut out = http::Response::new(body);
    *out.status_mut() = status;
    for k in [http::header::CONTENT_TYPE, http::header::CACHE_CONTROL] {
        if let Some(v) = headers.get(&k) {
            out.headers_mut().insert(k, v.clone());
        }
    }
    if status.is_success() && !out.headers().contains_key(http::header::CONTENT_TYPE) {
        out.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
    }
    Ok(out)
}

/// Resolves the container a request means, with upstream's messages.
fn validate_container(pod: &Value, pod_name: &str, asked: &str) -> ApiResult<String> {
    let names = |field: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("containers");
    let init = names("initContainers");
    let ephemeral = names("ephemeralContainers");
    if asked.is_empty() {
        return match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "pod {pod_name} does not have a container"
            ))),
            _ => {
                let mut msg = format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    containers.join(" ")
                );
                if !init.is_empty() {
                    msg.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(msg))
            }
        };
    }
    if containers
        .iter()
        .chain(&init)
        .chain(&ephemeral)
        .any(|c| c == asked)
    {
        Ok(asked.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "container {asked} is not valid for pod {pod_name}"
        )))
    }
}

/// The agent's address and port, from the Node object.
pub(crate) async fn node_endpoint(state: &Arc<State>, node: &str) -> ApiResult<(String, u16)> {
    let entry = state
        .registry
        .lookup("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("the nodes resource is not registered"))?;
    let kv = state
        .store
        .get(&entry.info.key(None, node))
        .await?
        .ok_or_else(|| ApiError::not_found(&entry.info, node))?;
    let obj = crate::resource::from_stored(&kv)?;
    let addresses = obj
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let of_type = |t: &str| {
        addresses
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) == Some(t))
            .find_map(|a| a.get("address").and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let host = of_type("InternalIP")
        .or_else(|| of_type("Hostname"))
        .or_else(|| of_type("ExternalIP"))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "node {node} has no address in status.addresses (InternalIP or Hostname); is its agent running?"
            ))
        })?;
    let port = obj
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_defaults_and_errors_match_upstream() {
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(validate_container(&one, "p", "").expect("default"), "a");
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}],
            "initContainers": [{"name": "i"}]}});
        let e = validate_container(&two, "p", "").expect_err("ambiguous");
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(validate_container(&two, "p", "i").expect("init"), "i");
        let e = validate_container(&two, "p", "c").expect_err("unknown");
        assert_eq!(e.message, "container c is not valid for pod p");
    }
}
