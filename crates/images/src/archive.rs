//! `import`: `docker save` archives (manifest.json + layer tars) and OCI image layouts
//! (index.json + blobs/), as tar files, optionally gzip-compressed.
//!
//! One pass over the archive: every regular file is hashed while it is copied into the blob
//! store (so nothing is trusted by name), small ones are also kept in memory; then the
//! manifests are interpreted and layers unpacked from the blobs. Files the images do not
//! reference are removed by the sweep at the end.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::io_at;
use crate::manifest::{self, ConfigFile, Descriptor, Manifest, ManifestKind};
use crate::reference::Reference;
use crate::store::{sha256_hex, LayerRecord, NewImage};
use crate::{Image, ImageError, ImageStore};

const KEEP_IN_MEMORY: u64 = 4 << 20;

struct ArchiveFile {
    digest: String,
    size: u64,
    bytes: Option<Vec<u8>>,
}

#[derive(Default)]
struct Contents {
    files: HashMap<String, ArchiveFile>,
    /// Symlinks and hard links: path -> target path (both archive-relative).
    links: HashMap<String, String>,
}

impl Contents {
    fn get(&self, path: &str) -> Option<&ArchiveFile> {
        let mut p = normalize(path)?;
        for _ in 0..16 {
            if let Some(f) = self.files.get(&p) {
                return Some(f);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

/// Normalizes an archive path ("./a/../b" -> "b"); None if it climbs out.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn invalid(m: impl Into<String>) -> ImageError {
    ImageError::InvalidArchive { message: m.into() }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl ImageStore {
    /// Imports a `docker save` archive or an OCI image-layout archive (tar, optionally gzip).
    /// Returns the images it recorded (tagged ones carry their tags).
    pub fn import(&self, archive: &Path) -> Result<Vec<Image>, ImageError> {
        let lease = self.content_lease()?;
        let result = self.import_locked(archive);
        drop(lease);
        // Drop archive files no image references (repositories, per-layer json, ...).
        if let Err(e) = self.sweep() {
            tracing::warn!(error = %e, "sweep after import failed");
        }
        result.map_err(|e| e.context(format!("importing {}", archive.display())))
    }

    fn import_locked(&self, archive: &Path) -> Result<Vec<Image>, ImageError> {
        let f = fs::File::open(archive).map_err(|e| io_at(archive, "opening", e))?;
        let mut r = BufReader::with_capacity(256 * 1024, f);
        let head = r.fill_buf()?;
        let reader: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(r))
        } else {
            Box::new(r)
        };
        let contents = self.ingest(reader)?;
        if contents.get("manifest.json").is_some() {
            self.import_docker(&contents)
        } else if contents.get("index.json").is_some() {
            self.import_oci(&contents)
        } else {
            Err(invalid(
                "neither manifest.json (docker save) nor index.json (OCI image layout) found",
            ))
        }
    }

    fn ingest(&self, reader: Box<dyn Read>) -> Result<Contents, ImageError> {
        let mut contents = Contents::default();
        let mut tar = tar::Archive::new(reader);
        for entry in tar
            .entries()
            .map_err(|e| invalid(format!("reading tar: {e}")))?
        {
            let mut entry = entry.map_err(|e| invalid(format!("reading tar: {e}")))?;
            let raw = entry
                .path()
                .map_err(|e| invalid(format!("bad path: {e}")))?
                .to_string_lossy()
                .into_owned();
            let Some(path) = normalize(&raw) else {
                return Err(invalid(format!("path {raw:?} escapes the archive")));
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let file = self.ingest_file(&mut entry)?;
                    contents.files.insert(path, file);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name()
                        .ok()
                        .flatten()
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let resolved = if entry.header().entry_type() == tar::EntryType::Symlink {
                        // Relative to the link's directory.
                        let dir = Path::new(&path)
                            .parent()
                            .map(|p| p.to_string_lossy().into_owned());
                        normalize(&format!("{}/{}", dir.unwrap_or_default(), target))
                    } else {
                        normalize(&target)
                    };
                    if let Some(t) = resolved {
                        contents.links.insert(path, t);
                    }
                }
                _ => {}
            }
        }
        Ok(contents)
    }

    fn ingest_file(&self, entry: &mut impl Read) -> Result<ArchiveFile, ImageError> {
        let tmp_dir = self.tmp_dir();
        let mut tmp = tempfile::Builder::new()
            .prefix("import-")
            .tempfile_in(&tmp_dir)
            .map_err(|e| io_at(&tmp_dir, "creating temp file in", e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut mem: Option<Vec<u8>> = Some(Vec::new());
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(invalid(format!("reading tar: {e}"))),
            };
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])?;
            size += n as u64;
            if size > KEEP_IN_MEMORY {
                mem = None;
            } else if let Some(m) = &mut mem {
                m.extend_from_slice(&buf[..n]);
            }
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        let dest = self.blob_path(&digest)?;
        if !dest.exists() {
            tmp.as_file().sync_all()?;
            tmp.persist(&dest)
                .map_err(|e| io_at(&dest, "renaming blob to", e.error))?;
        }
        Ok(ArchiveFile {
            digest,
            size,
            bytes: mem,
        })
    }

    fn read_small(&self, f: &ArchiveFile) -> Result<Vec<u8>, ImageError> {
        match &f.bytes {
            Some(b) => Ok(b.clone()),
            None => {
                let p = self.blob_path(&f.digest)?;
                fs::read(&p).map_err(|e| io_at(&p, "reading", e))
            }
        }
    }

    fn blob_bytes(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let p = self.blob_path(digest)?;
        match fs::read(&p) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(invalid(format!(
                "blob {digest} is missing from the archive"
            ))),
            Err(e) => Err(io_at(&p, "reading", e)),
        }
    }

    fn import_docker(&self, contents: &Contents) -> Result<Vec<Image>, ImageError> {
        let mf = contents
            .get("manifest.json")
            .ok_or_else(|| invalid("manifest.json missing"))?;
        let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&self.read_small(mf)?)
            .map_err(|e| invalid(format!("manifest.json: {e}")))?;
        let mut out = Vec::new();
        for entry in entries {
            let cf = contents
                .get(&entry.config)
                .ok_or_else(|| invalid(format!("config {} missing", entry.config)))?;
            let config_bytes = self.read_small(cf)?;
            let config = ConfigFile::parse(&config_bytes)?;
            if config.rootfs.diff_ids.len() != entry.layers.len() {
                return Err(invalid(format!(
                    "{}: {} layers but {} diff ids in the config",
                    entry.config,
                    entry.layers.len(),
                    config.rootfs.diff_ids.len()
                )));
            }
            let mut layers = Vec::new();
            let mut descriptors = Vec::new();
            for (path, diff_id) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
                let lf = contents
                    .get(path)
                    .ok_or_else(|| invalid(format!("layer {path} missing")))?;
                let blob = self.blob_path(&lf.digest)?;
                self.unpack_sync(&blob, diff_id)
                    .map_err(|e| e.context(format!("failed to extract layer {diff_id}")))?;
                let media_type = layer_media_type(&blob)?;
                descriptors.push(serde_json::json!({
                    "mediaType": media_type, "digest": lf.digest, "size": lf.size,
                }));
                layers.push(LayerRecord {
                    digest: lf.digest.clone(),
                    diff_id: diff_id.clone(),
                    media_type: media_type.to_string(),
                    size: lf.size,
                });
            }
            // docker save has no manifest; record an OCI one so the image is self-describing.
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": manifest::OCI_MANIFEST,
                "config": {"mediaType": manifest::OCI_CONFIG, "digest": cf.digest, "size": cf.size},
                "layers": descriptors,
            }))
            .map_err(|e| invalid(e.to_string()))?;
            let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
            self.put_blob(&manifest_digest, &manifest)?;
            let mut tags = Vec::new();
            for t in entry.repo_tags.unwrap_or_default() {
                match Reference::parse(&t) {
                    Ok(r) if r.tag.is_some() => tags.push(r.to_string()),
                    _ => tracing::warn!(tag = %t, "ignoring invalid tag in docker archive"),
                }
            }
            out.push(self.commit(NewImage {
                config_digest: cf.digest.clone(),
                config,
                config_size: cf.size,
                manifest_digest,
                extra_blobs: Vec::new(),
                layers,
                tags,
                repo_digests: Vec::new(),
            })?);
        }
        Ok(out)
    }

    fn import_oci(&self, contents: &Contents) -> Result<Vec<Image>, ImageError> {
        let idx = contents
            .get("index.json")
            .ok_or_else(|| invalid("index.json missing"))?;
        let index_bytes = self.read_small(idx)?;
        let (index, _) = Manifest::parse(&index_bytes, Some(manifest::OCI_INDEX))
            .map_err(|e| invalid(format!("index.json: {e}")))?;
        let mut out = Vec::new();
        for desc in &index.manifests {
            let names = oci_names(desc);
            let (manifest_digest, m, extra) = self.resolve_local(desc)?;
            let config_desc = m
                .config
                .clone()
                .ok_or_else(|| invalid("manifest without config"))?;
            let config_bytes = self.blob_bytes(&config_desc.digest)?;
            let config = ConfigFile::parse(&config_bytes)?;
            if config.rootfs.diff_ids.len() != m.layers.len() {
                return Err(invalid(format!(
                    "{manifest_digest}: {} layers but {} diff ids in the config",
                    m.layers.len(),
                    config.rootfs.diff_ids.len()
                )));
            }
            let mut layers = Vec::new();
            for (l, diff_id) in m.layers.iter().zip(&config.rootfs.diff_ids) {
                let blob = self.blob_path(&l.digest)?;
                if !blob.exists() {
                    return Err(invalid(format!("layer blob {} is missing", l.digest)));
                }
                self.unpack_sync(&blob, diff_id)
                    .map_err(|e| e.context(format!("failed to extract layer {diff_id}")))?;
                let size = fs::metadata(&blob).map(|m| m.len()).unwrap_or(l.size);
                layers.push(LayerRecord {
                    digest: l.digest.clone(),
                    diff_id: diff_id.clone(),
                    media_type: l.media_type.clone(),
                    size,
                });
            }
            let repo_digests = names
                .iter()
                .filter_map(|n| Reference::parse(n).ok())
                .map(|r| r.with_digest(&desc.digest))
                .collect();
            out.push(self.commit(NewImage {
                config_digest: config_desc.digest.clone(),
                config,
                config_size: config_bytes.len() as u64,
                manifest_digest,
                extra_blobs: extra,
                layers,
                tags: names,
                repo_digests,
            })?);
        }
        Ok(out)
    }

    /// Follows an index entry to the host platform's image manifest in the local blobs.
    /// Returns (manifest digest, manifest, index blobs passed through).
    fn resolve_local(
        &self,
        desc: &Descriptor,
    ) -> Result<(String, Manifest, Vec<String>), ImageError> {
        let mut extra = Vec::new();
        let mut d = desc.clone();
        for _ in 0..4 {
            let bytes = self.blob_bytes(&d.digest)?;
            let media = (!d.media_type.is_empty()).then_some(d.media_type.as_str());
            let (m, kind) = Manifest::parse(&bytes, media)
                .map_err(|e| invalid(format!("{}: {e}", d.digest)))?;
            match kind {
                ManifestKind::Image => return Ok((d.digest.clone(), m, extra)),
                ManifestKind::Index => {
                    extra.push(d.digest.clone());
                    let host = manifest::host_platform();
                    let next = manifest::select_platform(&m)
                        .or_else(|| {
                            (m.manifests.len() == 1 && m.manifests[0].platform.is_none())
                                .then(|| &m.manifests[0])
                        })
                        .ok_or_else(|| {
                            invalid(format!(
                                "no image for {}/{} in {}",
                                host.os, host.architecture, d.digest
                            ))
                        })?;
                    d = next.clone();
                }
            }
        }
        Err(invalid("image indexes nested too deeply"))
    }
}

/// Tags of an OCI layout entry: containerd's full name annotation, or a ref.name that is a
/// full reference ("busybox:1.36", "registry/x:tag"). A bare ref.name ("1.36") names no
/// repository, so the image is imported untagged (reachable by id).
fn oci_names(desc: &Descriptor) -> Vec<String> {
    let candidates = [
        desc.annotations.get("io.containerd.image.name"),
        desc.annotations.get("org.opencontainers.image.ref.name"),
    ];
    for c in candidates.into_iter().flatten() {
        if c.contains(':') || c.contains('/') {
            match Reference::parse(c) {
                Ok(r) if r.tag.is_some() => return vec![r.to_string()],
                _ => tracing::warn!(name = %c, "ignoring unusable image name in OCI layout"),
            }
        }
    }
    if let Some(n) = desc.annotations.get("org.opencontainers.image.ref.name") {
        tracing::warn!(name = %n, "OCI layout ref.name has no repository; importing untagged");
    }
    Vec::new()
}

fn layer_media_type(blob: &PathBuf) -> Result<&'static str, ImageError> {
    let mut f = fs::File::open(blob).map_err(|e| io_at(blob, "opening", e))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic)?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        manifest::OCI_LAYER_GZIP
    } else {
        manifest::OCI_LAYER
    })
}
