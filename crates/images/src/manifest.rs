//! The OCI / Docker v2 JSON documents we read: descriptors, manifests, indexes, image configs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ImageError;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Every manifest type we understand, for the Accept header. Debian's docker-registry answers
/// 404 for OCI manifests unless their type is listed, so all of them always are.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Manifests larger than this are refused (containerd uses the same limit).
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// The union of an image manifest and an index: which one it is shows in `kind()`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Descriptor>,
}

pub enum ManifestKind {
    Index,
    Image,
}

impl Manifest {
    /// Parses a manifest or index; `content_type` is the HTTP Content-Type if any.
    pub fn parse(
        bytes: &[u8],
        content_type: Option<&str>,
    ) -> Result<(Manifest, ManifestKind), ImageError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| ImageError::Registry {
            message: format!("invalid manifest: {e}"),
        })?;
        let ct = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
            .filter(|c| c.starts_with("application/vnd."));
        let media = m.media_type.clone().or(ct).unwrap_or_default();
        if m.schema_version == 1 || media == DOCKER_SCHEMA1 {
            return Err(ImageError::Unsupported {
                message: "Docker Image manifest v2 schema 1 is not supported: push the image again with a current client".into(),
            });
        }
        let kind = if media == OCI_INDEX || media == DOCKER_LIST {
            ManifestKind::Index
        } else if media == OCI_MANIFEST || media == DOCKER_MANIFEST || m.config.is_some() {
            ManifestKind::Image
        } else if !m.manifests.is_empty() {
            ManifestKind::Index
        } else {
            return Err(ImageError::Unsupported {
                message: format!("unsupported manifest media type {media:?}"),
            });
        };
        if matches!(kind, ManifestKind::Image) && m.config.is_none() {
            return Err(ImageError::Registry {
                message: "invalid manifest: no config descriptor".into(),
            });
        }
        Ok((m, kind))
    }
}

/// The image config blob (only what the store and runtime need).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub config: Option<ContainerConfig>,
    #[serde(default)]
    pub rootfs: RootFs,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub stop_signal: Option<String>,
}

impl ConfigFile {
    pub fn parse(bytes: &[u8]) -> Result<ConfigFile, ImageError> {
        serde_json::from_slice(bytes).map_err(|e| ImageError::Registry {
            message: format!("invalid image config: {e}"),
        })
    }

    pub fn image_config(&self) -> crate::ImageConfig {
        let c = self.config.clone().unwrap_or_default();
        crate::ImageConfig {
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: c.working_dir.filter(|s| !s.is_empty()),
            user: c.user.filter(|s| !s.is_empty()),
            exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
            labels: c.labels.unwrap_or_default(),
            stop_signal: c.stop_signal.filter(|s| !s.is_empty()),
        }
    }
}

/// The host's platform in OCI terms.
pub fn host_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        "s390x" => ("s390x", None),
        "riscv64" => ("riscv64", None),
        other => (other, None),
    };
    Platform {
        architecture: architecture.into(),
        os: "linux".into(),
        variant: variant.map(String::from),
    }
}

/// Picks the host platform's manifest from an index (exact variant first, then any variant of
/// the architecture). Entries without a platform (attestations carry "unknown") are skipped.
pub fn select_platform(index: &Manifest) -> Option<&Descriptor> {
    let host = host_platform();
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == host.os && p.architecture == host.architecture)
        })
        .collect();
    candidates
        .iter()
        .find(|d| {
            let v = d.platform.as_ref().and_then(|p| p.variant.clone());
            v.is_none() || v == host.variant
        })
        .or(candidates.first())
        .copied()
}
