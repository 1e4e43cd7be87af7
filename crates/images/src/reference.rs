//! Image references, normalized the way Docker and containerd do it
//! ("busybox" -> "docker.io/library/busybox:latest").

use crate::ImageError;

pub(crate) const DOCKER_HUB: &str = "docker.io";

/// A parsed, normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host[:port], "docker.io" for Docker Hub.
    pub registry: String,
    /// Repository path inside the registry, e.g. "library/busybox".
    pub repository: String,
    /// Tag; `None` when the reference is by digest.
    pub tag: Option<String>,
    /// "sha256:<hex>" when the reference pins a digest.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalizes. Like containerd's `ParseDockerRef`: no tag and no digest means
    /// `:latest`; a reference with both a tag and a digest keeps only the digest.
    pub fn parse(input: &str) -> Result<Reference, ImageError> {
        let bad = |reason: &str| ImageError::InvalidReference {
            reference: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(bad("empty reference"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (s, None),
        };
        if let Some(d) = digest {
            validate_digest(d).map_err(|e| bad(&e))?;
        }
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad("invalid tag"));
            }
        }
        let (mut registry, mut repository) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            registry = DOCKER_HUB.to_string();
        }
        if registry.chars().any(|c| c.is_ascii_uppercase()) {
            // Hostnames are case-insensitive; Docker keeps them, we lower-case for matching.
            registry = registry.to_ascii_lowercase();
        }
        if registry == DOCKER_HUB && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        if repository.is_empty() {
            return Err(bad("empty repository name"));
        }
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        for component in repository.split('/') {
            if !valid_component(component) {
                return Err(bad("invalid repository name"));
            }
        }
        if repository.len() + registry.len() + 1 > 255 {
            return Err(bad("repository name must not be more than 255 characters"));
        }
        let (tag, digest) = match (tag, digest) {
            (_, Some(d)) => (None, Some(d.to_string())),
            (Some(t), None) => (Some(t.to_string()), None),
            (None, None) => (Some("latest".to_string()), None),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// "docker.io/library/busybox".
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag or digest as used in a manifest URL.
    pub fn object(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// "name@digest" for a given digest.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{}", self.name(), digest)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Normalizes a reference: "busybox" -> "docker.io/library/busybox:latest".
pub fn normalize_reference(reference: &str) -> Result<String, ImageError> {
    Ok(Reference::parse(reference)?.to_string())
}

/// Only sha256 is supported (as by every registry in practice).
pub(crate) fn validate_digest(d: &str) -> Result<(), String> {
    match d.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && is_lower_hex(hex) => Ok(()),
        Some(("sha256", _)) => Err("invalid sha256 digest".into()),
        Some((alg, _)) => Err(format!("unsupported digest algorithm {alg:?}")),
        None => Err("invalid digest".into()),
    }
}

pub(crate) fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let n = |s: &str| normalize_reference(s).unwrap();
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(n("foo/bar"), "docker.io/foo/bar:latest");
        assert_eq!(n("index.docker.io/foo/bar:1"), "docker.io/foo/bar:1");
        assert_eq!(n("localhost/x"), "localhost/x:latest");
        assert_eq!(n("127.0.0.1:5000/a/b:t"), "127.0.0.1:5000/a/b:t");
        assert_eq!(n("quay.io/x/y-z__w.v:1.0-rc"), "quay.io/x/y-z__w.v:1.0-rc");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            n(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert!(normalize_reference("Busybox").is_err());
        assert!(normalize_reference("busybox:").is_err());
        assert!(normalize_reference("a//b").is_err());
        assert!(normalize_reference("busybox@sha256:abc").is_err());
        assert!(normalize_reference("").is_err());
    }
}
