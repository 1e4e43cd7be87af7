//! Distribution API client: endpoint selection (mirrors, plain HTTP for loopback), auth
//! (Basic and Bearer token challenges), manifest and blob fetches with digest verification.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::config::{Credential, RegistriesConfig};
use crate::manifest::{MANIFEST_ACCEPT, MAX_MANIFEST_SIZE};
use crate::reference::{Reference, DOCKER_HUB};
use crate::ImageError;

/// One place an image can be fetched from: a mirror or the registry itself.
pub(crate) struct Endpoint {
    /// "scheme://host[:port]<prefix>" where prefix ends in "/v2".
    api: String,
    /// host[:port], for credential and config matching.
    pub host: String,
    /// Repository path at this endpoint (after mirror rewrites).
    pub repository: String,
    client: reqwest::Client,
    basic: Option<(String, String)>,
    /// The Authorization header that last worked (or was issued) for this repository.
    auth: Mutex<Option<HeaderValue>>,
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    let h = host_without_port(host);
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// Builds the ordered endpoint list for a reference: mirrors first (k3s `mirrors`), then the
/// registry itself. Loopback registries are spoken to over plain HTTP, like Docker does.
pub(crate) fn endpoints(
    config: &RegistriesConfig,
    clients: &ClientCache,
    reference: &Reference,
    credentials: &[Credential],
) -> Result<Vec<Endpoint>, ImageError> {
    let mut out = Vec::new();
    let upstream = if reference.registry == DOCKER_HUB {
        "https://registry-1.docker.io".to_string()
    } else {
        reference.registry.clone()
    };
    let mut upstream_listed = false;
    if let Some(mirror) = config.mirror_for(&reference.registry) {
        for ep in &mirror.endpoints {
            let url = endpoint_url(ep)?;
            let host = url_host(&url);
            let is_upstream =
                crate::config::host_key(&host) == crate::config::host_key(&reference.registry);
            let repository = if is_upstream {
                reference.repository.clone()
            } else {
                rewrite(&mirror.rewrites, &reference.repository)
            };
            upstream_listed |= is_upstream;
            out.push(make_endpoint(
                config,
                clients,
                &url,
                repository,
                credentials,
                &reference.registry,
                is_upstream,
            )?);
        }
    }
    if !upstream_listed {
        let url = endpoint_url(&upstream)?;
        out.push(make_endpoint(
            config,
            clients,
            &url,
            reference.repository.clone(),
            credentials,
            &reference.registry,
            true,
        )?);
    }
    Ok(out)
}

fn rewrite(rules: &[(regex::Regex, String)], repository: &str) -> String {
    for (re, replacement) in rules {
        if re.is_match(repository) {
            return re.replace(repository, replacement.as_str()).into_owned();
        }
    }
    repository.to_string()
}

fn endpoint_url(s: &str) -> Result<Url, ImageError> {
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        let host = s.split('/').next().unwrap_or(s);
        let scheme = if is_loopback_host(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{s}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| ImageError::Config {
        message: format!("invalid registry endpoint {s:?}: {e}"),
    })?;
    if url.host_str().is_none() || !matches!(url.scheme(), "http" | "https") {
        return Err(ImageError::Config {
            message: format!("invalid registry endpoint {s:?}: want http(s)://host[:port]"),
        });
    }
    Ok(url)
}

fn url_host(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn make_endpoint(
    config: &RegistriesConfig,
    clients: &ClientCache,
    url: &Url,
    repository: String,
    credentials: &[Credential],
    registry: &str,
    is_upstream: bool,
) -> Result<Endpoint, ImageError> {
    let host = url_host(url);
    let path = url.path().trim_end_matches('/');
    let prefix = if path.ends_with("/v2") {
        path.to_string()
    } else {
        format!("{path}/v2")
    };
    let api = format!("{}://{}{}", url.scheme(), host, prefix);
    // Pull-secret credentials go to the registry they name; a mirror gets them only when the
    // secret names the mirror itself. registries.yaml `configs.<host>.auth` comes last.
    let basic = credentials
        .iter()
        .find(|c| c.matches_host(&host) || (is_upstream && c.matches_host(registry)))
        .map(|c| (c.username.clone(), c.password.clone()))
        .or_else(|| {
            config
                .config_for(&host)
                .and_then(|c| c.auth.as_ref())
                .and_then(|a| a.to_basic())
        });
    let client = clients.client(config, &host)?;
    Ok(Endpoint {
        api,
        host,
        repository,
        client,
        basic,
        auth: Mutex::new(None),
    })
}

/// One reqwest client per endpoint host (connection pools and TLS settings are per host).
#[derive(Default)]
pub(crate) struct ClientCache {
    clients: Mutex<std::collections::HashMap<String, reqwest::Client>>,
}

impl ClientCache {
    fn client(&self, config: &RegistriesConfig, host: &str) -> Result<reqwest::Client, ImageError> {
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(host) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("minato/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::limited(10));
        if is_loopback_host(host) {
            b = b.no_proxy();
        }
        if let Some(tls) = config.config_for(host).and_then(|c| c.tls.as_ref()) {
            if tls.insecure_skip_verify {
                b = b.danger_accept_invalid_certs(true);
            }
            if let Some(ca) = &tls.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| crate::error::io_at(Path::new(ca), "reading CA file", e))?;
                for cert in
                    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ImageError::Config {
                        message: format!("{ca}: {e}"),
                    })?
                {
                    b = b.add_root_certificate(cert);
                }
            }
            if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                let mut pem = std::fs::read(cert).map_err(|e| {
                    crate::error::io_at(Path::new(cert), "reading client certificate", e)
                })?;
                pem.push(b'\n');
                pem.extend(
                    std::fs::read(key).map_err(|e| {
                        crate::error::io_at(Path::new(key), "reading client key", e)
                    })?,
                );
                let id = reqwest::Identity::from_pem(&pem).map_err(|e| ImageError::Config {
                    message: format!("{cert}: {e}"),
                })?;
                b = b.identity(id);
            }
        }
        let client = b.build().map_err(|e| ImageError::Config {
            message: format!("building HTTP client for {host}: {e}"),
        })?;
        map.insert(host.to_string(), client.clone());
        Ok(client)
    }
}

/// Containerd-style "failed to do request" text for transport errors.
fn request_error(url: &str, e: &reqwest::Error) -> ImageError {
    let mut msg = format!("failed to do request: Get {url:?}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    ImageError::Registry { message: msg }
}

fn status_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_string()
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    // key="value" pairs; values may contain commas (scope lists), so parse quotes properly.
    let mut params = std::collections::HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n)
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl Endpoint {
    fn repo_url(&self, kind: &str, object: &str) -> String {
        format!("{}/{}/{}/{}", self.api, self.repository, kind, object)
    }

    /// GET with auth: on 401 answer the challenge once and retry.
    async fn get(&self, url: &str, accept: Option<&str>) -> Result<reqwest::Response, ImageError> {
        for attempt in 0..2 {
            let mut req = self.client.get(url);
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            let current = self.auth.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(h) = current.clone() {
                req = req.header(AUTHORIZATION, h);
            }
            let resp = req.send().await.map_err(|e| request_error(url, &e))?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let denied = |why: &str| ImageError::Unauthorized {
                reference: String::new(),
                message: format!(
                    "failed to authorize: {why}unexpected status from GET request to {url}: {}",
                    status_text(StatusCode::UNAUTHORIZED)
                ),
            };
            if attempt == 1 {
                return Err(denied(if self.basic.is_some() {
                    "credentials rejected: "
                } else {
                    ""
                }));
            }
            let challenge = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(parse_challenge)
                .next();
            let header = match challenge {
                Some(Challenge::Basic) => match &self.basic {
                    Some((u, p)) => basic_header(u, p),
                    None => {
                        return Err(denied(&format!("no credentials for {}: ", self.host)));
                    }
                },
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }) => {
                    self.fetch_token(&realm, service.as_deref(), scope.as_deref())
                        .await?
                }
                None => return Err(denied("")),
            };
            *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = Some(header);
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<HeaderValue, ImageError> {
        let mut url = Url::parse(realm).map_err(|e| ImageError::Registry {
            message: format!("failed to authorize: invalid token realm {realm:?}: {e}"),
        })?;
        let default_scope = format!("repository:{}:pull", self.repository);
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scope.unwrap_or(&default_scope).split(' ') {
                q.append_pair("scope", s);
            }
        }
        let mut req = self.client.get(url.clone());
        if let Some((u, p)) = &self.basic {
            req = req.basic_auth(u, Some(p));
        }
        let what = if self.basic.is_some() {
            "failed to fetch oauth token"
        } else {
            "failed to fetch anonymous token"
        };
        let resp = req.send().await.map_err(|e| {
            request_error(url.as_str(), &e).context(format!("failed to authorize: {what}"))
        })?;
        let status = resp.status();
        if !status.is_success() {
            let message = format!(
                "failed to authorize: {what}: unexpected status from GET request to {url}: {}",
                status_text(status)
            );
            return Err(
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    ImageError::Unauthorized {
                        reference: String::new(),
                        message,
                    }
                } else {
                    ImageError::Registry { message }
                },
            );
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| request_error(url.as_str(), &e))?;
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| ImageError::Registry {
            message: format!("failed to authorize: {what}: invalid token response: {e}"),
        })?;
        let token = t
            .token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ImageError::Registry {
                message: format!("failed to authorize: {what}: token response has no token"),
            })?;
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| ImageError::Registry {
            message: "failed to authorize: token contains invalid characters".into(),
        })
    }

    /// Fetches a manifest by tag or digest. Returns the bytes and the Content-Type.
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
        object: &str,
    ) -> Result<(Vec<u8>, Option<String>), ImageError> {
        let url = self.repo_url("manifests", object);
        let resp = self.get(&url, Some(MANIFEST_ACCEPT)).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(ImageError::NotFound {
                reference: reference.to_string(),
                message: format!("{reference}: not found"),
            });
        }
        check_status(&url, status)?;
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        if resp
            .content_length()
            .is_some_and(|l| l as usize > MAX_MANIFEST_SIZE)
        {
            return Err(ImageError::Registry {
                message: format!("manifest at {url} exceeds {MAX_MANIFEST_SIZE} bytes"),
            });
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| request_error(&url, &e))?;
            body.extend_from_slice(&chunk);
            if body.len() > MAX_MANIFEST_SIZE {
                return Err(ImageError::Registry {
                    message: format!("manifest at {url} exceeds {MAX_MANIFEST_SIZE} bytes"),
                });
            }
        }
        Ok((body, ct))
    }

    /// Streams a blob into `dest`, checking size and sha256. `on_progress(downloaded)` is called
    /// as data arrives. Returns the number of bytes written.
    pub async fn fetch_blob(
        &self,
        digest: &str,
        expected_size: Option<u64>,
        dest: &Path,
        counter: &AtomicU64,
        on_progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, ImageError> {
        let url = self.repo_url("blobs", digest);
        let resp = self.get(&url, None).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(ImageError::NotFound {
                reference: String::new(),
                message: format!("failed to copy: {digest}: not found"),
            });
        }
        check_status(&url, status)?;
        counter.fetch_add(1, Ordering::Relaxed);
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| crate::error::io_at(dest, "creating", e))?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let mut last_report = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                request_error(&url, &e).context("failed to copy: httpReadSeeker: failed read")
            })?;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| crate::error::io_at(dest, "writing", e))?;
            written += chunk.len() as u64;
            if let Some(max) = expected_size {
                if written > max {
                    return Err(ImageError::DigestMismatch {
                        message: format!(
                            "failed to copy: {digest}: registry sent more than the {max} bytes the manifest declares"
                        ),
                    });
                }
            }
            if written - last_report >= 256 * 1024 {
                last_report = written;
                on_progress(written);
            }
        }
        file.flush().await?;
        file.sync_all().await?;
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != digest {
            return Err(ImageError::DigestMismatch {
                message: format!(
                    "failed to copy: unexpected commit digest {actual}, expected {digest}: failed precondition"
                ),
            });
        }
        if let Some(size) = expected_size {
            if size != written && size != 0 {
                return Err(ImageError::DigestMismatch {
                    message: format!(
                        "failed to copy: {digest}: unexpected size {written}, expected {size}"
                    ),
                });
            }
        }
        on_progress(written);
        Ok(written)
    }
}

fn check_status(url: &str, status: StatusCode) -> Result<(), ImageError> {
    if status.is_success() {
        return Ok(());
    }
    let message = format!(
        "unexpected status from GET request to {url}: {}",
        status_text(status)
    );
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ImageError::Unauthorized {
            reference: String::new(),
            message: format!("failed to authorize: {message}"),
        },
        _ => ImageError::Registry { message },
    })
}

fn basic_header(user: &str, password: &str) -> HeaderValue {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    HeaderValue::from_str(&format!("Basic {enc}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(parse_challenge("Basic realm=\"x\""), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
    }

    #[test]
    fn loopback_detection() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["example.com", "10.0.0.1:5000", "docker.io"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
