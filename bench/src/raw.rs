//! A small HTTPS client built straight from a kubeconfig, for what kube's client does not do:
//! HTTP/2 (many watches over few connections) and polling `/readyz` while a server starts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

/// Where a kubeconfig points and how to authenticate there.
pub struct RawTarget {
    pub host: String,
    pub port: u16,
    tls: Arc<rustls::ClientConfig>,
    token: Option<String>,
}

/// One connection; HTTP/2 when the server offers it through ALPN.
pub enum Conn {
    H2(http2::SendRequest<Full<Bytes>>),
    H1(http1::SendRequest<Full<Bytes>>),
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The named entry of a kubeconfig list (`clusters`, `users`, `contexts`).
fn named<'a>(doc: &'a Value, list: &str, name: &str, inner: &str) -> Result<&'a Value> {
    doc.get(list)
        .and_then(Value::as_array)
        .and_then(|l| l.iter().find(|e| str_at(e, "name") == Some(name)))
        .and_then(|e| e.get(inner))
        .with_context(|| format!("kubeconfig has no {list} entry named {name:?}"))
}

/// Inline `<key>-data` (base64) or the file `<key>` (relative to the kubeconfig).
fn data_or_file(v: &Value, key: &str, dir: &Path) -> Result<Option<Vec<u8>>> {
    if let Some(d) = str_at(v, &format!("{key}-data")) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .with_context(|| format!("kubeconfig {key}-data is not base64"))?;
        return Ok(Some(bytes));
    }
    if let Some(f) = str_at(v, key) {
        let p = dir.join(f);
        return Ok(Some(
            std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?,
        ));
    }
    Ok(None)
}

/// Splits `https://host:port` into host and port.
pub fn parse_server(server: &str) -> Result<(String, u16)> {
    let rest = server
        .strip_prefix("https://")
        .with_context(|| format!("only https servers are supported, not {server:?}"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, p.parse().context("bad port in server URL")?),
        _ => (hostport, 443),
    };
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl RawTarget {
    pub fn from_kubeconfig(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
        let doc: Value = serde_yaml::from_str(&text)
            .with_context(|| format!("cannot parse kubeconfig {}", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let ctx_name =
            str_at(&doc, "current-context").context("kubeconfig has no current-context")?;
        let ctx = named(&doc, "contexts", ctx_name, "context")?;
        let cluster = named(
            &doc,
            "clusters",
            str_at(ctx, "cluster").context("context has no cluster")?,
            "cluster",
        )?;
        let user = match str_at(ctx, "user") {
            Some(u) => named(&doc, "users", u, "user")?.clone(),
            None => Value::Null,
        };
        let server = str_at(cluster, "server").context("cluster has no server")?;
        let (host, port) = parse_server(server)?;
        if cluster
            .get("insecure-skip-tls-verify")
            .and_then(Value::as_bool)
            == Some(true)
        {
            bail!("insecure-skip-tls-verify kubeconfigs are not supported by the benchmark's raw client");
        }
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = data_or_file(cluster, "certificate-authority", &dir)? {
            for c in rustls_pemfile::certs(&mut ca.as_slice()) {
                roots.add(c.context("bad CA certificate")?)?;
            }
        }
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let cert = data_or_file(&user, "client-certificate", &dir)?;
        let key = data_or_file(&user, "client-key", &dir)?;
        let mut tls = match (cert, key) {
            (Some(cert), Some(key)) => {
                let certs: Vec<CertificateDer<'static>> =
                    rustls_pemfile::certs(&mut cert.as_slice())
                        .collect::<Result<_, _>>()
                        .context("bad client certificate")?;
                let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key.as_slice())
                    .context("bad client key")?
                    .context("no private key in client-key")?;
                builder.with_client_auth_cert(certs, key)?
            }
            _ => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let token = match (str_at(&user, "token"), str_at(&user, "tokenFile")) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(f)) => Some(std::fs::read_to_string(dir.join(f))?.trim().to_string()),
            _ => None,
        };
        Ok(RawTarget {
            host,
            port,
            tls: Arc::new(tls),
            token,
        })
    }

    /// Opens a TLS connection and does the HTTP handshake (HTTP/2 if negotiated).
    pub async fn connect(&self) -> Result<Conn> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(self.host.clone())?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(conn);
            Ok(Conn::H2(sender))
        } else {
            let (sender, conn) = http1::handshake(io).await?;
            tokio::spawn(conn);
            Ok(Conn::H1(sender))
        }
    }

    fn request(&self, h2: bool, path: &str) -> Result<http::Request<Full<Bytes>>> {
        let authority = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        // HTTP/2 wants an absolute URI (:scheme, :authority); HTTP/1.1 a path and Host.
        let uri = if h2 {
            format!("https://{authority}{path}")
        } else {
            path.to_string()
        };
        let mut b = http::Request::get(uri).header("accept", "application/json");
        if !h2 {
            b = b.header("host", authority);
        }
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        Ok(b.body(Full::new(Bytes::new()))?)
    }

    /// GET `path` on `conn`; returns the response with its body unread.
    pub async fn get(&self, conn: &mut Conn, path: &str) -> Result<http::Response<Incoming>> {
        match conn {
            Conn::H2(s) => {
                let req = self.request(true, path)?;
                s.ready().await?;
                Ok(s.send_request(req).await?)
            }
            Conn::H1(s) => {
                let req = self.request(false, path)?;
                s.ready().await?;
                Ok(s.send_request(req).await?)
            }
        }
    }

    /// GET `path` and read the whole body, within `timeout`.
    pub async fn get_text(
        &self,
        conn: &mut Conn,
        path: &str,
        timeout: Duration,
    ) -> Result<(http::StatusCode, String)> {
        tokio::time::timeout(timeout, async {
            let resp = self.get(conn, path).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        })
        .await
        .context("request timed out")?
    }
}

impl Conn {
    pub fn is_h2(&self) -> bool {
        matches!(self, Conn::H2(_))
    }

    /// Another handle on the same connection (HTTP/2 only).
    pub fn share(&self) -> Option<Conn> {
        match self {
            Conn::H2(s) => Some(Conn::H2(s.clone())),
            Conn::H1(_) => None,
        }
    }
}
