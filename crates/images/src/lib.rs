//! minato's image store: gets OCI images onto the node the way containerd and the kubelet do.
//!
//! - [`ImageStore::pull`] speaks the distribution API (Basic and Bearer auth, k3s-style
//!   mirrors in [`RegistriesConfig`], plain HTTP for loopback registries) and verifies every
//!   digest;
//! - [`ImageStore::import`] loads `docker save` archives and OCI image layouts;
//! - [`ImageStore::layers`] hands out unpacked layer directories ready for overlayfs;
//! - [`ImageStore::garbage_collect`] is the kubelet's image GC.
//!
//! Errors carry containerd's wording, because they end up in pod status.

mod archive;
pub mod cli;
mod config;
mod error;
mod manifest;
mod reference;
mod registry;
mod store;
mod unpack;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use config::{
    credentials_from_docker_config, AuthConfig, Credential, Mirror, RegistriesConfig,
    RegistryConfig, TlsConfig,
};
pub use error::ImageError;
pub use reference::{normalize_reference, Reference};
pub use store::ImageStore;

/// Progress callback for pulls; called from the pulling task, keep it cheap.
pub type ProgressFn = Arc<dyn Fn(PullProgress) + Send + Sync>;

/// Download progress of one layer.
#[derive(Clone, Debug)]
pub struct PullProgress {
    /// The layer's blob digest ("sha256:...").
    pub layer: String,
    pub downloaded: u64,
    pub total: u64,
    /// The layer is in the store (downloaded now, or already present).
    pub done: bool,
}

/// An image as the node agent sees it (what CRI's `Image` carries).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Image {
    /// "sha256:<config digest>".
    pub id: String,
    /// Normalized "name:tag" references.
    pub repo_tags: Vec<String>,
    /// "name@sha256:<manifest digest>", the digest the registry served (an index's if any).
    pub repo_digests: Vec<String>,
    /// Bytes of config plus layer blobs (compressed), as `crictl images` shows.
    pub size: u64,
    pub config: ImageConfig,
}

/// The runtime-relevant part of the image config.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// "80/tcp" style keys.
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
}

/// Thresholds for [`ImageStore::garbage_collect_with`].
#[derive(Clone, Debug)]
pub struct GcPolicy {
    pub high_percent: u8,
    pub low_percent: u8,
    /// Images used more recently than this are kept (kubelet: `ImageMinimumGCAge`, 2m).
    pub min_age: Duration,
}

/// What an image GC run did.
#[derive(Clone, Debug, Default)]
pub struct GcReport {
    /// Ids of removed images.
    pub removed: Vec<String>,
    /// Bytes actually deleted from the store.
    pub bytes_freed: u64,
    /// What the kubelet's formula asked to free (0 when usage was below the high threshold).
    pub bytes_to_free: u64,
    pub usage_percent_before: u8,
    pub usage_percent_after: u8,
}
