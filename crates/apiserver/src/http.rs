//! HTTPS serving: TLS with optional client certificates, HTTP/1.1 and HTTP/2 on one port.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::auth::UserInfo;

pub type Body = BoxBody<Bytes, std::io::Error>;
pub type Response = http::Response<Body>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A body fed by a stream of chunks (watch events, followed logs).
pub fn streaming<S>(stream: S) -> Body
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
{
    use futures::StreamExt;
    BodyExt::boxed(StreamBody::new(stream.map(|r| r.map(Frame::data))))
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("bad PEM material: {0}")]
    Pem(String),
    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The TLS acceptor: our serving certificate; client certificates signed by the cluster CA are
/// verified when offered but not required (health checks and discovery by token clients work
/// without one).
pub fn tls_acceptor(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<TlsAcceptor, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsSetupError::Pem(e.to_string()))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| TlsSetupError::Pem(e.to_string()))?
        .ok_or_else(|| TlsSetupError::Pem("no private key found".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        let ca = ca.map_err(|e| TlsSetupError::Pem(e.to_string()))?;
        roots
            .add(ca)
            .map_err(|e| TlsSetupError::Pem(e.to_string()))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| TlsSetupError::Pem(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The user named by a verified client certificate: CN is the user, O the groups.
fn user_from_cert(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(UserInfo { name, groups })
}

/// Per-connection facts handed to the request handler.
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub cert_user: Option<UserInfo>,
}

/// Accepts connections until the listener fails; each connection is served on its own task.
pub async fn serve<H, F>(listener: TcpListener, acceptor: TlsAcceptor, handler: H)
where
    H: Fn(http::Request<hyper::body::Incoming>, Peer) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Response> + Send + 'static,
{
    loop {
        let (tcp, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| user_from_cert(c.as_ref()));
            let peer = Peer { addr, cert_user };
            let service = hyper::service::service_fn(move |req| {
                let handler = handler.clone();
                let peer = peer.clone();
                async move { Ok::<_, Infallible>(handler(req, peer).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%addr, error = %e, "connection ended with an error");
            }
        });
    }
}
