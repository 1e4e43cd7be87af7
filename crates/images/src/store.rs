//! The on-disk store and its operations.
//!
//! Layout under the root:
//! - `blobs/sha256/<hex>`: content-addressed manifests, configs and layer blobs as fetched;
//! - `layers/sha256/<diff-id hex>/`: unpacked layers (extracted in `tmp/`, then renamed);
//! - `index.json`: images, their tags and repo digests (written to a temp file, then renamed);
//! - `tmp/`: downloads and extractions in progress (emptied on open);
//! - `index.lock`, `gc.lock`: flock(2) files so that a CLI (`minato images import`) and the
//!   agent can share a store. Pulls and imports hold `gc.lock` shared; sweeping unreferenced
//!   content needs it exclusively and is skipped (left for the next sweep) while content is
//!   being added.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Credential, RegistriesConfig};
use crate::error::io_at;
use crate::manifest::{self, ConfigFile, Descriptor, Manifest, ManifestKind};
use crate::reference::{is_lower_hex, Reference};
use crate::registry::{self, ClientCache, Endpoint};
use crate::{GcPolicy, GcReport, Image, ImageError, ProgressFn, PullProgress};

const INDEX_FILE: &str = "index.json";
/// Layers downloaded at once per pull (containerd's default).
const MAX_CONCURRENT_DOWNLOADS: usize = 3;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LayerRecord {
    pub digest: String,
    pub diff_id: String,
    #[serde(default)]
    pub media_type: String,
    pub size: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub image: Image,
    /// Digest of the image manifest (platform-specific).
    pub manifest_digest: String,
    /// Other blobs this image keeps alive: indexes it was pulled through, alternative manifests.
    #[serde(default)]
    pub extra_blobs: BTreeSet<String>,
    pub layers: Vec<LayerRecord>,
    /// Seconds since the epoch.
    pub created: u64,
    pub last_used: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Index {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    images: BTreeMap<String, ImageRecord>,
}

#[derive(Default)]
struct IndexCache {
    stamp: Option<(u64, u64, i64, i64)>,
    index: Index,
}

type PullResult = Result<Image, Arc<ImageError>>;

struct InFlight {
    subscribers: Arc<Mutex<Vec<ProgressFn>>>,
    result: Shared<BoxFuture<'static, PullResult>>,
}

pub(crate) struct Inner {
    root: PathBuf,
    registries: RegistriesConfig,
    clients: ClientCache,
    index: Mutex<IndexCache>,
    inflight: Mutex<HashMap<String, Arc<InFlight>>>,
    key_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    blob_downloads: AtomicU64,
}

/// The node's image store. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct ImageStore {
    inner: Arc<Inner>,
}

/// An image that is about to be recorded in the index.
pub(crate) struct NewImage {
    pub config_digest: String,
    pub config: ConfigFile,
    pub config_size: u64,
    pub manifest_digest: String,
    pub extra_blobs: Vec<String>,
    pub layers: Vec<LayerRecord>,
    pub tags: Vec<String>,
    pub repo_digests: Vec<String>,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn digest_hex(digest: &str) -> Result<&str, ImageError> {
    crate::reference::validate_digest(digest).map_err(|e| ImageError::Registry {
        message: format!("{digest:?}: {e}"),
    })?;
    Ok(&digest["sha256:".len()..])
}

/// An flock(2) held until dropped.
pub(crate) struct FileLock(#[allow(dead_code)] fs::File);

impl FileLock {
    fn open(path: &Path) -> Result<fs::File, ImageError> {
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| io_at(path, "opening lock", e))
    }

    fn lock(path: &Path, op: libc::c_int) -> Result<Option<FileLock>, ImageError> {
        let f = FileLock::open(path)?;
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
                return Ok(Some(FileLock(f)));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) => return Ok(None),
                _ => return Err(io_at(path, "locking", e)),
            }
        }
    }

    pub fn exclusive(path: &Path) -> Result<FileLock, ImageError> {
        FileLock::lock(path, libc::LOCK_EX)?
            .ok_or_else(|| io_at(path, "locking", io::ErrorKind::WouldBlock.into()))
    }

    pub fn shared(path: &Path) -> Result<FileLock, ImageError> {
        FileLock::lock(path, libc::LOCK_SH)?
            .ok_or_else(|| io_at(path, "locking", io::ErrorKind::WouldBlock.into()))
    }

    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>, ImageError> {
        FileLock::lock(path, libc::LOCK_EX | libc::LOCK_NB)
    }
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| io_at(dir, "creating temp file in", e))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| io_at(path, "renaming into place", e.error))?;
    Ok(())
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root`, e.g. `<data-dir>/agent/images`.
    pub fn open(
        root: impl Into<PathBuf>,
        registries: RegistriesConfig,
    ) -> Result<ImageStore, ImageError> {
        let root = root.into();
        for d in ["blobs/sha256", "layers/sha256", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| io_at(&p, "creating", e))?;
        }
        let store = ImageStore {
            inner: Arc::new(Inner {
                root,
                registries,
                clients: ClientCache::default(),
                index: Mutex::new(IndexCache::default()),
                inflight: Mutex::new(HashMap::new()),
                key_locks: Mutex::new(HashMap::new()),
                blob_downloads: AtomicU64::new(0),
            }),
        };
        // Leftovers of a crash: only safe when nobody else (another process) is adding content.
        if let Some(_gc) = FileLock::try_exclusive(&store.gc_lock_path())? {
            store.clean_tmp();
        }
        store.read_index()?;
        Ok(store)
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Directory holding unpacked layers (`<root>/layers/sha256`). Overlay mount options are
    /// limited to one page: with many layers, mount with paths relative to this directory.
    pub fn layers_dir(&self) -> PathBuf {
        self.inner.root.join("layers/sha256")
    }

    /// Number of blobs downloaded from registries since `open` (for tests and metrics).
    pub fn blob_downloads(&self) -> u64 {
        self.inner.blob_downloads.load(Ordering::Relaxed)
    }

    fn gc_lock_path(&self) -> PathBuf {
        self.inner.root.join("gc.lock")
    }

    pub(crate) fn blob_path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        Ok(self
            .inner
            .root
            .join("blobs/sha256")
            .join(digest_hex(digest)?))
    }

    pub(crate) fn layer_path(&self, diff_id: &str) -> Result<PathBuf, ImageError> {
        Ok(self
            .inner
            .root
            .join("layers/sha256")
            .join(digest_hex(diff_id)?))
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.inner.root.join("tmp")
    }

    fn clean_tmp(&self) {
        if let Ok(rd) = fs::read_dir(self.tmp_dir()) {
            for e in rd.flatten() {
                let p = e.path();
                let r = if p.is_dir() && !p.is_symlink() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
                if let Err(err) = r {
                    tracing::warn!(path = %p.display(), error = %err, "could not remove leftover temp entry");
                }
            }
        }
    }

    /// Holds `gc.lock` shared while content is added, so no sweep deletes it half-recorded.
    pub(crate) fn content_lease(&self) -> Result<FileLock, ImageError> {
        FileLock::shared(&self.gc_lock_path())
    }

    // ---- index -------------------------------------------------------------------------

    fn read_index(&self) -> Result<Index, ImageError> {
        let path = self.inner.root.join(INDEX_FILE);
        let mut cache = self.inner.index.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = match fs::metadata(&path) {
            Ok(m) => Some((m.dev(), m.ino(), m.mtime(), m.mtime_nsec())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_at(&path, "reading", e)),
        };
        if stamp.is_some() && stamp == cache.stamp {
            return Ok(cache.index.clone());
        }
        let index = load_index(&path)?;
        cache.stamp = stamp;
        cache.index = index.clone();
        Ok(index)
    }

    /// Read-modify-write of the index under the process mutex and the cross-process lock.
    fn update_index<T>(
        &self,
        f: impl FnOnce(&mut Index) -> Result<T, ImageError>,
    ) -> Result<T, ImageError> {
        let path = self.inner.root.join(INDEX_FILE);
        let mut cache = self.inner.index.lock().unwrap_or_else(|e| e.into_inner());
        let _lock = FileLock::exclusive(&self.inner.root.join("index.lock"))?;
        let mut index = load_index(&path)?;
        let out = f(&mut index)?;
        index.version = 1;
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| ImageError::Corrupt {
            message: format!("serializing index: {e}"),
        })?;
        write_atomic(&path, &bytes)?;
        let m = fs::metadata(&path).map_err(|e| io_at(&path, "reading", e))?;
        cache.stamp = Some((m.dev(), m.ino(), m.mtime(), m.mtime_nsec()));
        cache.index = index;
        Ok(out)
    }

    // ---- lookups -----------------------------------------------------------------------

    /// Local lookup by reference ("nginx:1.25"), by `name@sha256:<manifest digest>`, or by
    /// image id (`sha256:<config digest>` or a unique prefix of it, with or without `sha256:`).
    pub fn get(&self, reference: &str) -> Result<Option<Image>, ImageError> {
        let index = self.read_index()?;
        Ok(find(&index, reference)?.map(|id| index.images[&id].image.clone()))
    }

    /// All images, sorted by their first tag (untagged ones by id, last).
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        let index = self.read_index()?;
        let mut images: Vec<Image> = index.images.into_values().map(|r| r.image).collect();
        images.sort_by(|a, b| {
            (a.repo_tags.is_empty(), a.repo_tags.first(), &a.id).cmp(&(
                b.repo_tags.is_empty(),
                b.repo_tags.first(),
                &b.id,
            ))
        });
        Ok(images)
    }

    /// Untags a reference, or removes an image by id. An image whose last tag goes is removed
    /// (with its repo digests), as `docker rmi` does. Content no image uses any more is deleted.
    pub fn remove(&self, reference: &str) -> Result<(), ImageError> {
        self.update_index(|index| {
            let Some(id) = find(index, reference)? else {
                return Err(ImageError::NotFound {
                    reference: reference.to_string(),
                    message: format!("image \"{reference}\": not found"),
                });
            };
            let rec = index
                .images
                .get_mut(&id)
                .ok_or_else(|| ImageError::Corrupt {
                    message: "index changed during removal".into(),
                })?;
            let parsed = Reference::parse(reference).ok();
            let mut by_name = false;
            if let Some(r) = &parsed {
                let tag = r.to_string();
                if rec.image.repo_tags.contains(&tag) {
                    rec.image.repo_tags.retain(|t| t != &tag);
                    by_name = true;
                    if rec.image.repo_tags.is_empty() {
                        rec.image.repo_digests.clear();
                    }
                } else if r.digest.is_some() && rec.image.repo_digests.contains(&tag) {
                    rec.image.repo_digests.retain(|t| t != &tag);
                    by_name = true;
                }
            }
            if !by_name || (rec.image.repo_tags.is_empty() && rec.image.repo_digests.is_empty()) {
                index.images.remove(&id);
            }
            Ok(())
        })?;
        self.sweep()?;
        Ok(())
    }

    /// Unpacked layer directories of `image`, lowest first, for overlayfs `lowerdir`
    /// (which lists them highest first). A layer repeated in an image is listed once, at its
    /// highest position, which overlays to the same tree. Also marks the image as used now.
    pub fn layers(&self, image: &Image) -> Result<Vec<PathBuf>, ImageError> {
        let index = self.read_index()?;
        let rec = index
            .images
            .get(&image.id)
            .ok_or_else(|| ImageError::NotFound {
                reference: image.id.clone(),
                message: format!("image \"{}\": not found", image.id),
            })?;
        let mut out: Vec<PathBuf> = Vec::new();
        for layer in &rec.layers {
            let dir = self.layer_path(&layer.diff_id)?;
            if !dir.is_dir() {
                // Repair from the blob (e.g. after someone deleted the directory).
                let blob = self.blob_path(&layer.digest)?;
                if !blob.exists() {
                    return Err(ImageError::NotFound {
                        reference: image.id.clone(),
                        message: format!(
                            "layer {} of image {} is missing from the store: pull the image again",
                            layer.diff_id, image.id
                        ),
                    });
                }
                let _lease = self.content_lease()?;
                self.unpack_sync(&blob, &layer.diff_id)?;
            }
            out.retain(|d| d != &dir);
            out.push(dir);
        }
        if now_secs().saturating_sub(rec.last_used) >= 60 {
            let id = image.id.clone();
            self.update_index(|idx| {
                if let Some(r) = idx.images.get_mut(&id) {
                    r.last_used = now_secs();
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// Bytes used by the store on disk (blobs, unpacked layers, index), hard links counted once.
    pub fn disk_usage(&self) -> Result<u64, ImageError> {
        let mut seen = HashSet::new();
        let mut total = 0u64;
        du(&self.inner.root, &mut seen, &mut total)?;
        Ok(total)
    }

    // ---- adding content ----------------------------------------------------------------

    /// Stores `bytes` as a blob (whose digest the caller computed or verified).
    pub(crate) fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), ImageError> {
        let path = self.blob_path(digest)?;
        if !path.exists() {
            write_atomic(&path, bytes)?;
        }
        Ok(())
    }

    /// Extracts a layer blob into `layers/sha256/<diff id>` unless it is already there.
    /// Returns the diff id (computed when `diff_id` is empty).
    pub(crate) fn unpack_sync(&self, blob: &Path, diff_id: &str) -> Result<String, ImageError> {
        if !diff_id.is_empty() && self.layer_path(diff_id)?.is_dir() {
            return Ok(diff_id.to_string());
        }
        let tmp = tempfile::Builder::new()
            .prefix("extract-")
            .tempdir_in(self.tmp_dir())
            .map_err(|e| io_at(&self.tmp_dir(), "creating temp dir in", e))?;
        let expected = (!diff_id.is_empty()).then_some(diff_id);
        let (actual, _) = crate::unpack::unpack_layer(blob, expected, tmp.path())?;
        let dest = self.layer_path(&actual)?;
        let tmp_path = tmp.keep();
        if let Err(e) = fs::rename(&tmp_path, &dest) {
            // Someone else unpacked the same layer meanwhile: theirs is as good as ours.
            let _ = fs::remove_dir_all(&tmp_path);
            if !dest.is_dir() {
                return Err(io_at(&dest, "renaming unpacked layer to", e));
            }
        }
        Ok(actual)
    }

    /// Records an image: moves its tags here from any other image, adds repo digests. Images
    /// left with no tag and no digest are dropped (their content goes at the next sweep).
    pub(crate) fn commit(&self, new: NewImage) -> Result<Image, ImageError> {
        let id = new.config_digest.clone();
        let size = new.config_size + new.layers.iter().map(|l| l.size).sum::<u64>();
        let config = new.config.image_config();
        self.update_index(move |index| {
            let mut lost_tags = HashSet::new();
            for tag in &new.tags {
                for (other_id, rec) in index.images.iter_mut() {
                    if other_id != &id && rec.image.repo_tags.contains(tag) {
                        rec.image.repo_tags.retain(|t| t != tag);
                        lost_tags.insert(other_id.clone());
                    }
                }
            }
            index.images.retain(|k, r| {
                !lost_tags.contains(k)
                    || !r.image.repo_tags.is_empty()
                    || !r.image.repo_digests.is_empty()
            });
            let now = now_secs();
            let rec = index
                .images
                .entry(id.clone())
                .or_insert_with(|| ImageRecord {
                    image: Image {
                        id: id.clone(),
                        repo_tags: Vec::new(),
                        repo_digests: Vec::new(),
                        size,
                        config: config.clone(),
                    },
                    manifest_digest: new.manifest_digest.clone(),
                    extra_blobs: BTreeSet::new(),
                    layers: new.layers.clone(),
                    created: now,
                    last_used: now,
                });
            if rec.manifest_digest != new.manifest_digest {
                rec.extra_blobs.insert(new.manifest_digest.clone());
            }
            rec.extra_blobs.extend(new.extra_blobs.iter().cloned());
            for t in &new.tags {
                if !rec.image.repo_tags.contains(t) {
                    rec.image.repo_tags.push(t.clone());
                }
            }
            for d in &new.repo_digests {
                if !rec.image.repo_digests.contains(d) {
                    rec.image.repo_digests.push(d.clone());
                }
            }
            rec.last_used = now;
            Ok(rec.image.clone())
        })
    }

    // ---- pulling -------------------------------------------------------------------------

    /// Pulls `reference` from its registry (or configured mirrors) and unpacks it. Concurrent
    /// pulls of the same reference share one download (and the first caller's credentials).
    pub async fn pull(
        &self,
        reference: &str,
        credentials: &[Credential],
        progress: Option<ProgressFn>,
    ) -> Result<Image, ImageError> {
        let r = Reference::parse(reference)?;
        let key = r.to_string();
        let flight = {
            let mut map = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(f) = map.get(&key) {
                if let Some(p) = progress {
                    f.subscribers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(p);
                }
                f.clone()
            } else {
                let subscribers = Arc::new(Mutex::new(progress.into_iter().collect::<Vec<_>>()));
                let store = self.clone();
                let subs = subscribers.clone();
                let creds = credentials.to_vec();
                let key2 = key.clone();
                // A task of its own, so a caller giving up does not cancel the others' pull.
                let handle = tokio::spawn(async move {
                    let result = store
                        .pull_uncached(&r, &creds, subs)
                        .await
                        .map_err(Arc::new);
                    store
                        .inner
                        .inflight
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&key2);
                    result
                });
                let result = async move {
                    match handle.await {
                        Ok(r) => r,
                        Err(e) => Err(Arc::new(ImageError::Registry {
                            message: format!("pull task failed: {e}"),
                        })),
                    }
                }
                .boxed()
                .shared();
                let f = Arc::new(InFlight {
                    subscribers,
                    result,
                });
                map.insert(key.clone(), f.clone());
                f
            }
        };
        flight.result.clone().await.map_err(|e| e.duplicate())
    }

    async fn pull_uncached(
        &self,
        r: &Reference,
        credentials: &[Credential],
        subscribers: Arc<Mutex<Vec<ProgressFn>>>,
    ) -> Result<Image, ImageError> {
        let outer = format!("failed to pull and unpack image \"{r}\"");
        let set_ref = |e: ImageError| match e {
            ImageError::NotFound { message, .. } => ImageError::NotFound {
                reference: r.to_string(),
                message,
            },
            ImageError::Unauthorized { message, .. } => ImageError::Unauthorized {
                reference: r.to_string(),
                message,
            },
            other => other,
        };
        let endpoints =
            registry::endpoints(&self.inner.registries, &self.inner.clients, r, credentials)
                .map_err(|e| set_ref(e.context(&outer)))?;
        let mut last_err = None;
        for ep in &endpoints {
            match self.resolve(r, ep).await {
                Ok(resolved) => {
                    tracing::debug!(reference = %r, endpoint = %ep.host, "resolved");
                    let report = move |p: PullProgress| {
                        let subs = subscribers
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone();
                        for s in subs {
                            s(p.clone());
                        }
                    };
                    return self
                        .fetch_and_unpack(r, ep, resolved, &report)
                        .await
                        .map_err(|e| set_ref(e.context(&outer)));
                }
                Err(e) => {
                    tracing::info!(reference = %r, endpoint = %ep.host, error = %e, "endpoint failed to resolve the image");
                    last_err = Some(e);
                }
            }
        }
        let e = last_err.unwrap_or_else(|| ImageError::Registry {
            message: "no registry endpoints".into(),
        });
        Err(set_ref(
            e.context(format!("failed to resolve reference \"{r}\""))
                .context(&outer),
        ))
    }

    async fn resolve(&self, r: &Reference, ep: &Endpoint) -> Result<Resolved, ImageError> {
        let (bytes, ct) = ep.fetch_manifest(r, r.object()).await?;
        let top_digest = format!("sha256:{}", sha256_hex(&bytes));
        if let Some(d) = &r.digest {
            if &top_digest != d {
                return Err(ImageError::DigestMismatch {
                    message: format!(
                        "manifest digest {top_digest} does not match the requested {d}"
                    ),
                });
            }
        }
        let (m, kind) = Manifest::parse(&bytes, ct.as_deref())?;
        match kind {
            ManifestKind::Image => Ok(Resolved {
                top_digest: top_digest.clone(),
                index: None,
                manifest_digest: top_digest,
                manifest_bytes: bytes,
                manifest: m,
            }),
            ManifestKind::Index => {
                let host = manifest::host_platform();
                let desc = manifest::select_platform(&m).ok_or_else(|| ImageError::NotFound {
                    reference: r.to_string(),
                    message: format!(
                        "no match for platform {}/{} in manifest {top_digest}: not found",
                        host.os, host.architecture
                    ),
                })?;
                let (child, child_ct) = ep.fetch_manifest(r, &desc.digest).await?;
                let child_digest = format!("sha256:{}", sha256_hex(&child));
                if child_digest != desc.digest {
                    return Err(ImageError::DigestMismatch {
                        message: format!(
                            "manifest digest {child_digest} does not match {} listed in the index",
                            desc.digest
                        ),
                    });
                }
                let (cm, ckind) = Manifest::parse(&child, child_ct.as_deref())?;
                if !matches!(ckind, ManifestKind::Image) {
                    return Err(ImageError::Unsupported {
                        message: "nested image indexes are not supported".into(),
                    });
                }
                Ok(Resolved {
                    top_digest: top_digest.clone(),
                    index: Some((top_digest, bytes)),
                    manifest_digest: child_digest,
                    manifest_bytes: child,
                    manifest: cm,
                })
            }
        }
    }

    /// Serializes work on one key (a blob digest, a diff id) across concurrent pulls.
    async fn key_lock(&self, key: &str) -> KeyGuard {
        let m = {
            let mut map = self
                .inner
                .key_locks
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            map.entry(key.to_string())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        let guard = m.clone().lock_owned().await;
        KeyGuard {
            store: self.clone(),
            key: key.to_string(),
            lock: Some(m),
            _guard: Some(guard),
        }
    }

    async fn ensure_blob(
        &self,
        ep: &Endpoint,
        desc: &Descriptor,
        report: Option<&(dyn Fn(PullProgress) + Send + Sync)>,
    ) -> Result<PathBuf, ImageError> {
        let path = self.blob_path(&desc.digest)?;
        let _g = self.key_lock(&desc.digest).await;
        if path.exists() {
            if let Some(rep) = report {
                rep(PullProgress {
                    layer: desc.digest.clone(),
                    downloaded: desc.size,
                    total: desc.size,
                    done: true,
                });
            }
            return Ok(path);
        }
        let tmp = tempfile::Builder::new()
            .prefix("download-")
            .tempfile_in(self.tmp_dir())
            .map_err(|e| io_at(&self.tmp_dir(), "creating temp file in", e))?
            .into_temp_path();
        let digest = desc.digest.clone();
        let total = desc.size;
        let on_progress = |downloaded: u64| {
            if let Some(rep) = report {
                rep(PullProgress {
                    layer: digest.clone(),
                    downloaded,
                    total,
                    done: false,
                });
            }
        };
        let size = (desc.size > 0).then_some(desc.size);
        ep.fetch_blob(
            &desc.digest,
            size,
            &tmp,
            &self.inner.blob_downloads,
            &on_progress,
        )
        .await?;
        tmp.persist(&path)
            .map_err(|e| io_at(&path, "renaming blob to", e.error))?;
        if let Some(rep) = report {
            rep(PullProgress {
                layer: desc.digest.clone(),
                downloaded: desc.size,
                total: desc.size,
                done: true,
            });
        }
        Ok(path)
    }

    async fn fetch_and_unpack(
        &self,
        r: &Reference,
        ep: &Endpoint,
        res: Resolved,
        report: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<Image, ImageError> {
        let lease = {
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.content_lease())
                .await
                .map_err(|e| ImageError::Registry {
                    message: format!("lock task failed: {e}"),
                })??
        };
        let mut extra = Vec::new();
        if let Some((d, bytes)) = &res.index {
            self.put_blob(d, bytes)?;
            extra.push(d.clone());
        }
        self.put_blob(&res.manifest_digest, &res.manifest_bytes)?;
        let config_desc = res
            .manifest
            .config
            .clone()
            .ok_or_else(|| ImageError::Registry {
                message: "invalid manifest: no config".into(),
            })?;
        let config_path = self.ensure_blob(ep, &config_desc, None).await?;
        let config_bytes = fs::read(&config_path).map_err(|e| io_at(&config_path, "reading", e))?;
        let config = ConfigFile::parse(&config_bytes)?;
        let layers = &res.manifest.layers;
        if config.rootfs.diff_ids.len() != layers.len() {
            return Err(ImageError::Registry {
                message: format!(
                    "invalid image: manifest lists {} layers but the config has {} diff ids",
                    layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        let mut jobs = Vec::new();
        for (desc, diff_id) in layers.iter().zip(&config.rootfs.diff_ids) {
            jobs.push(self.fetch_layer(ep, desc, diff_id, report));
        }
        let records: Vec<LayerRecord> = futures::stream::iter(jobs)
            .buffered(MAX_CONCURRENT_DOWNLOADS)
            .try_collect()
            .await?;
        let image = self.commit(NewImage {
            config_digest: config_desc.digest.clone(),
            config,
            config_size: config_bytes.len() as u64,
            manifest_digest: res.manifest_digest.clone(),
            extra_blobs: extra,
            layers: records,
            tags: r
                .tag
                .as_ref()
                .map(|_| vec![r.to_string()])
                .unwrap_or_default(),
            repo_digests: vec![r.with_digest(&res.top_digest)],
        })?;
        drop(lease);
        Ok(image)
    }

    async fn fetch_layer(
        &self,
        ep: &Endpoint,
        desc: &Descriptor,
        diff_id: &str,
        report: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<LayerRecord, ImageError> {
        let blob = self.ensure_blob(ep, desc, Some(report)).await?;
        let _g = self.key_lock(&format!("layer:{diff_id}")).await;
        if !self.layer_path(diff_id)?.is_dir() {
            let store = self.clone();
            let diff = diff_id.to_string();
            tokio::task::spawn_blocking(move || store.unpack_sync(&blob, &diff))
                .await
                .map_err(|e| ImageError::Unpack {
                    message: format!("unpack task failed: {e}"),
                })?
                .map_err(|e| e.context(format!("failed to extract layer {diff_id}")))?;
        }
        Ok(LayerRecord {
            digest: desc.digest.clone(),
            diff_id: diff_id.to_string(),
            media_type: desc.media_type.clone(),
            size: desc.size,
        })
    }

    // ---- garbage collection ------------------------------------------------------------

    /// Deletes blobs and layer directories no image references. Skipped (returns 0) while
    /// another pull or import is adding content; the next sweep catches up.
    pub(crate) fn sweep(&self) -> Result<u64, ImageError> {
        let Some(_gc) = FileLock::try_exclusive(&self.gc_lock_path())? else {
            tracing::debug!("content being added; sweep postponed");
            return Ok(0);
        };
        let index = self.read_index()?;
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for rec in index.images.values() {
            blobs.insert(rec.image.id.clone());
            blobs.insert(rec.manifest_digest.clone());
            blobs.extend(rec.extra_blobs.iter().cloned());
            for l in &rec.layers {
                blobs.insert(l.digest.clone());
                layers.insert(l.diff_id.clone());
            }
        }
        let mut freed = 0u64;
        for (dir, keep) in [("blobs/sha256", &blobs), ("layers/sha256", &layers)] {
            let d = self.inner.root.join(dir);
            for e in fs::read_dir(&d)
                .map_err(|e| io_at(&d, "reading", e))?
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                if keep.contains(&format!("sha256:{name}")) {
                    continue;
                }
                let p = e.path();
                let mut seen = HashSet::new();
                let mut size = 0;
                let _ = du(&p, &mut seen, &mut size);
                let r = if p.is_dir() && !p.is_symlink() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
                match r {
                    Ok(()) => {
                        freed += size;
                        tracing::debug!(path = %p.display(), "removed unreferenced content");
                    }
                    Err(err) => {
                        tracing::warn!(path = %p.display(), error = %err, "could not remove unreferenced content")
                    }
                }
            }
        }
        self.clean_tmp();
        Ok(freed)
    }

    /// kubelet-style image GC with its default minimum image age (2 minutes).
    pub fn garbage_collect(
        &self,
        in_use: &HashSet<String>,
        high_percent: u8,
        low_percent: u8,
    ) -> Result<GcReport, ImageError> {
        self.garbage_collect_with(
            in_use,
            &GcPolicy {
                high_percent,
                low_percent,
                min_age: Duration::from_secs(120),
            },
        )
    }

    /// Image GC: when usage of the filesystem holding the store is at or above
    /// `high_percent`, deletes images not in `in_use` (ids), least recently used first, until
    /// the kubelet's target (usage at `low_percent`) is met. Images used within `min_age` stay.
    pub fn garbage_collect_with(
        &self,
        in_use: &HashSet<String>,
        policy: &GcPolicy,
    ) -> Result<GcReport, ImageError> {
        let (capacity, available) = fs_stats(&self.inner.root)?;
        let usage = usage_percent(capacity, available);
        let mut report = GcReport {
            usage_percent_before: usage,
            usage_percent_after: usage,
            ..Default::default()
        };
        if usage < policy.high_percent {
            return Ok(report);
        }
        let target_available =
            capacity.saturating_mul(100 - policy.low_percent.min(100) as u64) / 100;
        let to_free = target_available.saturating_sub(available);
        report.bytes_to_free = to_free;
        let in_use: HashSet<String> = in_use
            .iter()
            .map(|s| {
                if s.starts_with("sha256:") {
                    s.clone()
                } else {
                    format!("sha256:{s}")
                }
            })
            .collect();
        let index = self.read_index()?;
        let now = now_secs();
        let mut candidates: Vec<&ImageRecord> = index
            .images
            .values()
            .filter(|r| !in_use.contains(&r.image.id))
            .filter(|r| now.saturating_sub(r.last_used) >= policy.min_age.as_secs())
            .collect();
        candidates.sort_by_key(|r| (r.last_used, std::cmp::Reverse(r.image.size)));
        for rec in candidates {
            if report.bytes_freed >= to_free && to_free > 0 {
                break;
            }
            let id = rec.image.id.clone();
            self.update_index(|idx| {
                idx.images.remove(&id);
                Ok(())
            })?;
            report.bytes_freed += self.sweep()?;
            tracing::info!(image = %id, "image garbage collected");
            report.removed.push(id);
        }
        let (capacity, available) = fs_stats(&self.inner.root)?;
        report.usage_percent_after = usage_percent(capacity, available);
        Ok(report)
    }
}

struct Resolved {
    top_digest: String,
    index: Option<(String, Vec<u8>)>,
    manifest_digest: String,
    manifest_bytes: Vec<u8>,
    manifest: Manifest,
}

struct KeyGuard {
    store: ImageStore,
    key: String,
    lock: Option<Arc<tokio::sync::Mutex<()>>>,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        self._guard.take();
        if let Some(lock) = self.lock.take() {
            let mut map = self
                .store
                .inner
                .key_locks
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // Only the map and we hold it: nobody waits, so forget it.
            if Arc::strong_count(&lock) == 2 {
                map.remove(&self.key);
            }
        }
    }
}

fn load_index(path: &Path) -> Result<Index, ImageError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ImageError::Corrupt {
            message: format!("{}: {e}", path.display()),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
        Err(e) => Err(io_at(path, "reading", e)),
    }
}

/// Resolves a user-given string to an image id in `index`.
fn find(index: &Index, s: &str) -> Result<Option<String>, ImageError> {
    if let Ok(r) = Reference::parse(s) {
        let full = r.to_string();
        let hit = index.images.values().find(|rec| {
            if r.digest.is_some() {
                rec.image.repo_digests.contains(&full)
            } else {
                rec.image.repo_tags.contains(&full)
            }
        });
        if let Some(rec) = hit {
            return Ok(Some(rec.image.id.clone()));
        }
    }
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    if is_lower_hex(hex) && hex.len() <= 64 {
        let matches: Vec<&String> = index
            .images
            .keys()
            .filter(|id| {
                id.strip_prefix("sha256:")
                    .is_some_and(|h| h.starts_with(hex))
            })
            .collect();
        return match matches.len() {
            0 => Ok(None),
            1 => Ok(Some(matches[0].clone())),
            _ => Err(ImageError::InvalidReference {
                reference: s.to_string(),
                reason: "ambiguous image id prefix: give more characters".into(),
            }),
        };
    }
    Ok(None)
}

fn du(p: &Path, seen: &mut HashSet<(u64, u64)>, total: &mut u64) -> Result<(), ImageError> {
    let m = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_at(p, "reading", e)),
    };
    if seen.insert((m.dev(), m.ino())) {
        *total += m.blocks() * 512;
    }
    if m.is_dir() {
        for e in fs::read_dir(p)
            .map_err(|e| io_at(p, "reading", e))?
            .flatten()
        {
            du(&e.path(), seen, total)?;
        }
    }
    Ok(())
}

/// (capacity, available to unprivileged users) of the filesystem holding `p`, like cAdvisor.
fn fs_stats(p: &Path) -> Result<(u64, u64), ImageError> {
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
        .map_err(|_| io_at(p, "statfs", io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: statvfs fills the zeroed struct; c is a valid path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(io_at(p, "statfs", io::Error::last_os_error()));
    }
    let frsize = s.f_frsize as u64;
    Ok((s.f_blocks as u64 * frsize, s.f_bavail as u64 * frsize))
}

fn usage_percent(capacity: u64, available: u64) -> u8 {
    if capacity == 0 {
        return 0;
    }
    (100 - (available.saturating_mul(100) / capacity).min(100)) as u8
}
