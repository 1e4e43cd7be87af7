//! Registry configuration (k3s `registries.yaml` shape) and pull credentials
//! (`kubernetes.io/dockerconfigjson` secrets).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde::Deserialize;

use crate::ImageError;

/// `registries.yaml` as k3s reads it:
///
/// ```yaml
/// mirrors:
///   docker.io:
///     endpoint: ["http://127.0.0.1:5000"]
///     rewrite: {"^library/(.*)": "mirrored/$1"}
/// configs:
///   "myreg:5000":
///     auth: {username: u, password: p}
///     tls: {insecure_skip_verify: true}
/// ```
/// A `"*"` mirror applies to every registry without a mirror entry of its own.
#[derive(Clone, Debug, Default)]
pub struct RegistriesConfig {
    pub mirrors: BTreeMap<String, Mirror>,
    pub configs: BTreeMap<String, RegistryConfig>,
}

#[derive(Clone, Debug, Default)]
pub struct Mirror {
    /// Endpoint URLs tried in order before the registry itself ("http://host:port", "host").
    pub endpoints: Vec<String>,
    /// Repository rewrites (regex -> replacement, `$1` style), first match wins, file order.
    pub rewrites: Vec<(regex::Regex, String)>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegistryConfig {
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthConfig {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// base64("user:password")
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub identity_token: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct TlsConfig {
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    mirrors: BTreeMap<String, RawMirror>,
    #[serde(default)]
    configs: BTreeMap<String, RegistryConfig>,
}

#[derive(Deserialize)]
struct RawMirror {
    #[serde(default)]
    endpoint: Vec<String>,
    /// A YAML mapping; kept as a Mapping to preserve file order.
    #[serde(default)]
    rewrite: Option<serde_yaml::Mapping>,
}

impl RegistriesConfig {
    /// Reads `path`; a missing file means "no mirrors, no configs".
    pub fn load(path: &Path) -> Result<RegistriesConfig, ImageError> {
        match std::fs::read(path) {
            Ok(bytes) => RegistriesConfig::parse(&bytes).map_err(|e| match e {
                ImageError::Config { message } => ImageError::Config {
                    message: format!("{}: {message}", path.display()),
                },
                other => other,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RegistriesConfig::default()),
            Err(e) => Err(crate::error::io_at(path, "reading", e)),
        }
    }

    pub fn parse(yaml: &[u8]) -> Result<RegistriesConfig, ImageError> {
        if yaml.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(RegistriesConfig::default());
        }
        let raw: RawFile = serde_yaml::from_slice(yaml).map_err(|e| ImageError::Config {
            message: e.to_string(),
        })?;
        let mut mirrors = BTreeMap::new();
        for (host, m) in raw.mirrors {
            let mut rewrites = Vec::new();
            for (k, v) in m.rewrite.unwrap_or_default() {
                let (Some(pattern), Some(replacement)) = (k.as_str(), v.as_str()) else {
                    return Err(ImageError::Config {
                        message: format!("mirrors.{host}.rewrite: keys and values must be strings"),
                    });
                };
                let re = regex::Regex::new(pattern).map_err(|e| ImageError::Config {
                    message: format!("mirrors.{host}.rewrite: {pattern:?}: {e}"),
                })?;
                rewrites.push((re, replacement.to_string()));
            }
            mirrors.insert(
                host.to_ascii_lowercase(),
                Mirror {
                    endpoints: m.endpoint,
                    rewrites,
                },
            );
        }
        let configs = raw
            .configs
            .into_iter()
            .map(|(k, v)| (host_key(&k), v))
            .collect();
        Ok(RegistriesConfig { mirrors, configs })
    }

    /// The mirror entry for a registry, falling back to `"*"`.
    pub(crate) fn mirror_for(&self, registry: &str) -> Option<&Mirror> {
        self.mirrors.get(registry).or_else(|| self.mirrors.get("*"))
    }

    /// The `configs` entry for an endpoint host ("host[:port]").
    pub(crate) fn config_for(&self, host: &str) -> Option<&RegistryConfig> {
        self.configs
            .get(&host_key(host))
            .or_else(|| self.configs.get("*"))
    }
}

impl AuthConfig {
    pub(crate) fn to_basic(&self) -> Option<(String, String)> {
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            return Some((u.clone(), p.clone()));
        }
        self.auth.as_deref().and_then(decode_auth)
    }
}

/// Credentials for one registry, e.g. from an image pull secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// As a dockerconfigjson key: "host[:port]" or a URL ("https://index.docker.io/v1/").
    pub registry: String,
    pub username: String,
    pub password: String,
}

impl Credential {
    /// Whether these credentials are meant for `host` ("host[:port]"). Matches like the kubelet:
    /// scheme and path are ignored, Docker Hub aliases are one registry, `*.example.com` globs.
    pub fn matches_host(&self, host: &str) -> bool {
        let mine = host_key(&self.registry);
        let theirs = host_key(host);
        if mine == theirs {
            return true;
        }
        if let Some(suffix) = mine.strip_prefix("*.") {
            // "*.example.com" matches exactly one more label, same port.
            let (suffix_host, suffix_port) = split_port(suffix);
            let (h, port) = split_port(&theirs);
            if suffix_port != port {
                return false;
            }
            return match h
                .strip_suffix(suffix_host)
                .and_then(|p| p.strip_suffix('.'))
            {
                Some(label) => !label.is_empty() && !label.contains('.'),
                None => false,
            };
        }
        false
    }
}

fn split_port(h: &str) -> (&str, Option<&str>) {
    match h.rsplit_once(':') {
        Some((a, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (a, Some(p)),
        _ => (h, None),
    }
}

/// "https://index.docker.io/v1/" -> "docker.io"; "http://myreg:5000/v2" -> "myreg:5000".
pub(crate) fn host_key(s: &str) -> String {
    let s = s.trim();
    let s = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s).to_ascii_lowercase();
    match s.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            crate::reference::DOCKER_HUB.to_string()
        }
        _ => s,
    }
}

fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let s = String::from_utf8(bytes).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[derive(Deserialize)]
struct DockerAuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Parses a `kubernetes.io/dockerconfigjson` secret's `.dockerconfigjson`
/// (`{"auths": {host: {auth | username/password}}}`) or a legacy `.dockercfg`
/// (`{host: {auth, email}}`).
pub fn credentials_from_docker_config(json: &[u8]) -> Result<Vec<Credential>, ImageError> {
    let bad = |m: String| ImageError::Config {
        message: format!("docker config json: {m}"),
    };
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| bad("expected a JSON object".into()))?;
    let auths = match obj.get("auths") {
        Some(a) => a
            .as_object()
            .ok_or_else(|| bad("\"auths\" must be an object".into()))?,
        None => obj,
    };
    let mut out = Vec::new();
    for (registry, entry) in auths {
        let entry: DockerAuthEntry =
            serde_json::from_value(entry.clone()).map_err(|e| bad(format!("{registry}: {e}")))?;
        let pair = match (entry.username, entry.password) {
            (Some(u), Some(p)) if !u.is_empty() => Some((u, p)),
            _ => entry.auth.as_deref().and_then(decode_auth),
        };
        match pair {
            Some((username, password)) => out.push(Credential {
                registry: registry.clone(),
                username,
                password,
            }),
            None => tracing::debug!(registry, "docker config entry without usable credentials"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_config() {
        let json = br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"myreg:5000":{"username":"a","password":"b"}}}"#;
        let c = credentials_from_docker_config(json).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[0].matches_host("docker.io"));
        assert_eq!((c[0].username.as_str(), c[0].password.as_str()), ("u", "p"));
        assert!(c[1].matches_host("myreg:5000"));
        assert!(!c[1].matches_host("myreg"));
        let legacy = br#"{"quay.io":{"auth":"dTpw","email":"x@y"}}"#;
        let c = credentials_from_docker_config(legacy).unwrap();
        assert!(c[0].matches_host("quay.io"));
        let glob = Credential {
            registry: "*.example.com".into(),
            username: String::new(),
            password: String::new(),
        };
        assert!(glob.matches_host("a.example.com"));
        assert!(!glob.matches_host("a.b.example.com"));
        assert!(!glob.matches_host("example.com"));
    }

    #[test]
    fn parses_registries_yaml() {
        let y = br#"
mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000"]
    rewrite:
      "^library/(.*)": "mirrored/$1"
configs:
  "myreg:5000":
    auth: {username: u, password: p}
    tls: {insecure_skip_verify: true}
"#;
        let c = RegistriesConfig::parse(y).unwrap();
        let m = c.mirror_for("docker.io").unwrap();
        assert_eq!(m.endpoints, vec!["http://127.0.0.1:5000"]);
        assert_eq!(
            m.rewrites[0].0.replace("library/busybox", &m.rewrites[0].1),
            "mirrored/busybox"
        );
        let rc = c.config_for("myreg:5000").unwrap();
        assert!(rc.tls.as_ref().unwrap().insecure_skip_verify);
        assert_eq!(
            rc.auth.as_ref().unwrap().to_basic(),
            Some(("u".into(), "p".into()))
        );
        assert!(RegistriesConfig::load(Path::new("/nonexistent/registries.yaml")).is_ok());
    }
}
