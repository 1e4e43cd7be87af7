//! Test fixtures: OCI layouts built offline from /bin/busybox, a real `docker-registry`
//! on loopback, skopeo to push.
#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub fn need(bin: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{bin} is required for this test (apt-get install {bin})"
    );
}

/// A `docker-registry serve` on 127.0.0.1:<free port>, killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(htpasswd: Option<(&str, &str)>) -> Registry {
        need("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = htpasswd {
            let hash = bcrypt::hash_with_result(password, 5)
                .unwrap()
                .format_for_version(bcrypt::Version::TwoA);
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: minato-test\n    path: {}\n",
                file.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let reg = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps a blob's bytes.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// skopeo copy oci:LAYOUT:TAG docker://HOST/NAME
    pub fn push(&self, layout: &Path, tag: &str, dest: &str, extra: &[&str]) {
        need("skopeo");
        let status = Command::new("skopeo")
            .args(["--insecure-policy", "copy", "-q", "--dest-tls-verify=false"])
            .args(extra)
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{dest}", self.host()))
            .status()
            .unwrap();
        assert!(status.success(), "skopeo push failed");
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An in-memory layer: entries appended with the tar builder.
pub struct LayerBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    }

    pub fn dir(mut self, path: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.b.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    pub fn file(mut self, path: &str, mode: u32, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        self.b.append_data(&mut h, path, data).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }

    /// A raw entry whose name is written byte for byte (to build hostile archives).
    pub fn raw_file(mut self, name: &str, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, 0o644, data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

/// The busybox rootfs layer: bin/busybox plus a few applet links.
pub fn busybox_layer() -> Vec<u8> {
    let bb = std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    LayerBuilder::new()
        .dir("bin")
        .file("bin/busybox", 0o755, &bb)
        .symlink("bin/sh", "busybox")
        .symlink("bin/ls", "busybox")
        .symlink("bin/echo", "busybox")
        .finish()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = sha(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(d.strip_prefix("sha256:").unwrap()), bytes).unwrap();
    d
}

pub struct Built {
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
}

/// Writes an image manifest (+ config, gzip layers) into an OCI layout; returns digests.
pub fn write_image(
    layout: &Path,
    layers: &[Vec<u8>],
    arch: &str,
    labels: &[(&str, &str)],
) -> (Built, usize) {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_digests = Vec::new();
    for l in layers {
        diff_ids.push(sha(l));
        let gz = gzip(l);
        let d = put_blob(layout, &gz);
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": gz.len()}));
        layer_digests.push(d);
    }
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/", "Labels": labels, "ExposedPorts": {"8080/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config_digest = put_blob(layout, &config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let size = manifest.len();
    let manifest_digest = put_blob(layout, &manifest);
    (
        Built {
            manifest_digest,
            config_digest,
            layer_digests,
        },
        size,
    )
}

/// A complete single-image OCI layout whose index names it `ref_name`.
pub fn oci_layout(layout: &Path, ref_name: &str, layers: &[Vec<u8>]) -> Built {
    let (built, size) = write_image(layout, layers, "amd64", &[]);
    write_index(
        layout,
        &[(
            "application/vnd.oci.image.manifest.v1+json",
            &built.manifest_digest,
            size,
            ref_name,
        )],
    );
    built
}

pub fn write_index(layout: &Path, entries: &[(&str, &str, usize, &str)]) {
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(mt, d, size, name)| serde_json::json!({"mediaType": mt, "digest": d, "size": size, "annotations": {"org.opencontainers.image.ref.name": name}}))
        .collect();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": manifests}))
            .unwrap(),
    )
    .unwrap();
}

/// A layout whose tag points at a two-platform image index (amd64 + arm64).
pub fn oci_multiarch_layout(layout: &Path, tag: &str) -> (Built, Built, String) {
    let (amd, amd_size) = write_image(layout, &[busybox_layer()], "amd64", &[("arch", "amd64")]);
    let other = LayerBuilder::new()
        .file("arm64-marker", 0o644, b"arm")
        .finish();
    let (arm, arm_size) = write_image(layout, &[other], "arm64", &[("arch", "arm64")]);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm.manifest_digest, "size": arm_size, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd.manifest_digest, "size": amd_size, "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    }))
    .unwrap();
    let size = index.len();
    let index_digest = put_blob(layout, &index);
    write_index(
        layout,
        &[(
            "application/vnd.oci.image.index.v1+json",
            &index_digest,
            size,
            tag,
        )],
    );
    (amd, arm, index_digest)
}

/// tar of a directory tree (an "OCI archive").
pub fn tar_dir(dir: &Path, out: &Path) {
    let f = std::fs::File::create(out).unwrap();
    let mut b = tar::Builder::new(f);
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Entries in a store subdirectory ("blobs/sha256", "layers/sha256").
pub fn count(root: &Path, sub: &str) -> usize {
    std::fs::read_dir(root.join(sub))
        .map(|d| d.count())
        .unwrap_or(0)
}
