//! Node join tokens, in k3s's format: `K10<sha256 of the CA bundle, hex>::node:<secret>`.
//!
//! `minato server` makes one on first start (`<data dir>/node-token`, owner-only) and accepts it
//! as a bearer token from node agents. An agent given only the server's URL and the token
//! fetches the CA bundle from the public `/cacerts` path, checks it against the hash in the
//! token (so a man in the middle cannot pose as the server), then talks TLS with that CA.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The prefix of a full token; `10` is the format's version in k3s.
const PREFIX: &str = "K10";
/// The user of the token, between `::` and `:` in the token.
const USER: &str = "node";

#[derive(Debug, thiserror::Error)]
pub enum JoinTokenError {
    #[error("the join token is not in the form K10<CA hash>::node:<secret> (copy it whole from the server's <data dir>/node-token)")]
    Malformed,
    #[error("cannot fetch the cluster CA from {url}: {why}")]
    Fetch { url: String, why: String },
    #[error("cannot read or write the node join token {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A parsed join token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinToken {
    /// Hex SHA-256 of the CA bundle exactly as `/cacerts` serves it.
    pub ca_hash: String,
    pub secret: String,
}

impl JoinToken {
    /// A new token for `ca_pem` with a random 128-bit secret.
    pub fn generate(ca_pem: &str) -> JoinToken {
        JoinToken {
            ca_hash: ca_hash(ca_pem.as_bytes()),
            secret: hex::encode(rand::random::<[u8; 16]>()),
        }
    }

    pub fn parse(s: &str) -> Result<JoinToken, JoinTokenError> {
        let rest = s
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(JoinTokenError::Malformed)?;
        let (hash, cred) = rest.split_once("::").ok_or(JoinTokenError::Malformed)?;
        let (user, secret) = cred.split_once(':').ok_or(JoinTokenError::Malformed)?;
        let hex_ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex_ok || user != USER || secret.is_empty() || secret.contains(char::is_whitespace) {
            return Err(JoinTokenError::Malformed);
        }
        Ok(JoinToken {
            ca_hash: hash.to_ascii_lowercase(),
            secret: secret.to_string(),
        })
    }

    /// Whether `ca_bundle` (the bytes `/cacerts` returned) is the CA this token names.
    pub fn ca_matches(&self, ca_bundle: &[u8]) -> bool {
        ca_hash(ca_bundle) == self.ca_hash
    }
}

impl std::fmt::Display for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}{}::{USER}:{}", self.ca_hash, self.secret)
    }
}

fn ca_hash(bundle: &[u8]) -> String {
    hex::encode(Sha256::digest(bundle))
}

/// Where a server keeps its join token.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("node-token")
}

/// Reads the server's join token, making it on first start. A token whose CA hash no longer
/// matches (the CA was replaced) keeps its secret and gets the new hash.
pub fn load_or_create(data_dir: &Path, ca_pem: &str) -> Result<JoinToken, JoinTokenError> {
    let path = token_path(data_dir);
    let io = |source| JoinTokenError::Io {
        path: path.clone(),
        source,
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(s) => Some(JoinToken::parse(&s)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let want_hash = ca_hash(ca_pem.as_bytes());
    let token = match existing {
        Some(t) if t.ca_hash == want_hash => return Ok(t),
        Some(t) => JoinToken {
            ca_hash: want_hash,
            secret: t.secret,
        },
        None => JoinToken::generate(ca_pem),
    };
    crate::pki::write_secret_file(&path, &format!("{token}\n")).map_err(|e| match e {
        crate::pki::PkiError::Io { source, .. } => io(source),
        other => io(std::io::Error::other(other.to_string())),
    })?;
    Ok(token)
}

/// Fetches the CA bundle a server publishes at `/cacerts`, over TLS that trusts any server
/// certificate: the caller must check what it gets with [`JoinToken::ca_matches`] before
/// trusting it.
pub async fn fetch_ca_bundle(server: &http::Uri) -> Result<Vec<u8>, JoinTokenError> {
    use http_body_util::BodyExt;
    let err = |why: &dyn std::fmt::Display| JoinTokenError::Fetch {
        url: format!("{server}"),
        why: why.to_string(),
    };
    let host = server.host().ok_or_else(|| err(&"the URL names no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = server.port_u16().unwrap_or(443);
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&e))?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(crate::nodeproxy::AnyServerCert(
            provider,
        )))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
        Err(_) => rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| err(&e))?,
    };
    let fetch = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| err(&e))?;
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| err(&e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| err(&e))?;
        tokio::spawn(conn);
        let req = http::Request::get("/cacerts")
            .header(http::header::HOST, host)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| err(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| err(&e))?;
        if resp.status() != http::StatusCode::OK {
            return Err(err(&format!(
                "it answered {} (is it a minato server?)",
                resp.status()
            )));
        }
        let body = resp.into_body().collect().await.map_err(|e| err(&e))?;
        Ok(body.to_bytes().to_vec())
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), fetch)
        .await
        .map_err(|_| err(&"no answer within 30 s"))?
}

/// Who a request bearing the join token is: the node agents' shared identity, in upstream's
/// `system:nodes` group.
pub fn node_agent_user() -> crate::auth::UserInfo {
    crate::auth::UserInfo {
        name: "system:node-agent".into(),
        groups: vec!["system:nodes".into(), "system:authenticated".into()],
    }
}

/// Checks a bearer token against the server's join token without an early exit on the first
/// differing byte (both sides are hashed first, so lengths do not leak either).
pub fn bearer_matches(token: &JoinToken, bearer: &str) -> bool {
    let a = Sha256::digest(token.to_string().as_bytes());
    let b = Sha256::digest(bearer.trim().as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn round_trip_and_ca_check() {
        let t = JoinToken::generate(CA);
        let s = t.to_string();
        assert!(s.starts_with("K10"), "{s}");
        assert!(s.contains("::node:"), "{s}");
        let back = JoinToken::parse(&format!("  {s}\n")).expect("parse");
        assert_eq!(back, t);
        assert!(back.ca_matches(CA.as_bytes()));
        assert!(!back.ca_matches(b"another CA"));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let hash = "a".repeat(64);
        for bad in [
            "".to_string(),
            "secret".to_string(),
            format!("K10{hash}:node:s"),
            format!("K10{hash}::admin:s"),
            format!("K10{hash}::node:"),
            format!("K10{}::node:s", "a".repeat(63)),
            format!("K10{}::node:s", "g".repeat(64)),
            format!("K11{hash}::node:s"),
        ] {
            assert!(JoinToken::parse(&bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn load_or_create_keeps_the_secret_and_follows_the_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path(), CA).expect("create");
        assert_eq!(load_or_create(dir.path(), CA).expect("reload"), first);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(token_path(dir.path()))
                .expect("stat")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let other = load_or_create(dir.path(), "other CA").expect("new CA");
        assert_eq!(other.secret, first.secret);
        assert!(other.ca_matches(b"other CA"));
    }

    #[test]
    fn bearer_must_be_the_whole_token() {
        let t = JoinToken::generate(CA);
        assert!(bearer_matches(&t, &t.to_string()));
        assert!(!bearer_matches(&t, &t.secret));
        assert!(!bearer_matches(&t, &format!("{t}x")));
    }
}
