//! Archive import (docker save, OCI layout), whiteout conversion checked through a real
//! overlay mount, hostile layers, image GC.

mod common;

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use minato_images::{GcPolicy, ImageError, ImageStore, RegistriesConfig};

fn new_store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path().join("images"), RegistriesConfig::default()).unwrap();
    (dir, s)
}

#[test]
fn import_docker_save_archive_plain_and_gzip() {
    need("skopeo");
    let layout = tempfile::tempdir().unwrap();
    let built = oci_layout(layout.path(), "1.0", &[busybox_layer()]);
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("busybox.tar");
    let status = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q"])
        .arg(format!("oci:{}:1.0", layout.path().display()))
        .arg(format!(
            "docker-archive:{}:example.com/imported/busybox:1.0",
            archive.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());

    let (_d, store) = new_store();
    let images = store.import(&archive).unwrap();
    assert_eq!(images.len(), 1);
    let img = &images[0];
    assert_eq!(img.repo_tags, vec!["example.com/imported/busybox:1.0"]);
    // skopeo keeps the config, so the id is the one we built.
    assert_eq!(img.id, built.config_digest);
    let layers = store.layers(img).unwrap();
    assert!(is_executable(&layers[0].join("bin/busybox")));
    assert_eq!(
        store
            .get("example.com/imported/busybox:1.0")
            .unwrap()
            .unwrap()
            .id,
        img.id
    );

    // The same archive gzip-compressed, into a fresh store.
    let gz = out.path().join("busybox.tar.gz");
    std::fs::write(&gz, gzip(&std::fs::read(&archive).unwrap())).unwrap();
    let (d2, store2) = new_store();
    let images = store2.import(&gz).unwrap();
    assert_eq!(images[0].id, built.config_digest);
    assert!(is_executable(
        &store2.layers(&images[0]).unwrap()[0].join("bin/busybox")
    ));
    // Archive bookkeeping files (manifest.json, repositories, ...) are not kept as blobs:
    // config, layer and the recorded manifest only.
    assert_eq!(count(&d2.path().join("images"), "blobs/sha256"), 3);
    assert_eq!(count(&d2.path().join("images"), "tmp"), 0);
}

#[test]
fn import_oci_layout_archive() {
    let layout = tempfile::tempdir().unwrap();
    let built = oci_layout(
        layout.path(),
        "example.com/oci/busybox:2.0",
        &[busybox_layer()],
    );
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("oci.tar");
    tar_dir(layout.path(), &archive);
    let (_d, store) = new_store();
    let images = store.import(&archive).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].id, built.config_digest);
    assert_eq!(images[0].repo_tags, vec!["example.com/oci/busybox:2.0"]);
    assert_eq!(
        images[0].repo_digests,
        vec![format!("example.com/oci/busybox@{}", built.manifest_digest)]
    );
    assert!(is_executable(
        &store.layers(&images[0]).unwrap()[0].join("bin/busybox")
    ));

    // A multi-platform layout: the host's platform is imported.
    let multi = tempfile::tempdir().unwrap();
    let (amd, _, _) = oci_multiarch_layout(multi.path(), "example.com/multi:1");
    let archive = out.path().join("multi.tar");
    tar_dir(multi.path(), &archive);
    let images = store.import(&archive).unwrap();
    assert_eq!(images[0].id, amd.config_digest);
    assert_eq!(store.list().unwrap().len(), 2);
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 64];
    // SAFETY: valid C strings, buffer of the given length.
    let r = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let lower = LayerBuilder::new()
        .dir("etc")
        .file("etc/a", 0o644, b"a")
        .file("etc/b", 0o644, b"b")
        .dir("d")
        .file("d/x", 0o644, b"x")
        .finish();
    let upper = LayerBuilder::new()
        .dir("etc")
        .file("etc/.wh.a", 0o644, b"")
        .dir("d")
        .file("d/.wh..wh..opq", 0o644, b"")
        .file("d/y", 0o600, b"y")
        .finish();
    let layout = tempfile::tempdir().unwrap();
    oci_layout(layout.path(), "example.com/wh:1", &[lower, upper]);
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("wh.tar");
    tar_dir(layout.path(), &archive);
    let (_d, store) = new_store();
    let img = store.import(&archive).unwrap().remove(0);
    let layers = store.layers(&img).unwrap();
    assert_eq!(layers.len(), 2);
    let wh = std::fs::symlink_metadata(layers[1].join("etc/a")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "etc/a is not a 0:0 char device"
    );
    assert!(!layers[1].join("etc/.wh.a").exists());
    assert_eq!(
        xattr(&layers[1].join("d"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert!(!layers[1].join("d/.wh..wh..opq").exists());
    assert_eq!(
        std::fs::metadata(layers[1].join("d/y")).unwrap().mode() & 0o777,
        0o600
    );

    // What a container would see: mount the layers as overlay lowerdirs (highest first).
    let mnt = tempfile::tempdir().unwrap();
    let lowerdir = format!("{}:{}", layers[1].display(), layers[0].display());
    let status = Command::new("mount")
        .args([
            "-t",
            "overlay",
            "overlay",
            "-o",
            &format!("lowerdir={lowerdir}"),
        ])
        .arg(mnt.path())
        .status()
        .unwrap();
    assert!(status.success(), "overlay mount failed (needs root)");
    let _m = Mount(mnt.path().to_path_buf());
    assert!(
        !mnt.path().join("etc/a").exists(),
        "whited-out file visible"
    );
    assert_eq!(std::fs::read(mnt.path().join("etc/b")).unwrap(), b"b");
    assert!(
        !mnt.path().join("d/x").exists(),
        "opaque dir shows lower content"
    );
    assert_eq!(std::fs::read(mnt.path().join("d/y")).unwrap(), b"y");
}

#[test]
fn layer_escaping_its_directory_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("evil");
    let mut rel = String::new();
    for _ in 0..20 {
        rel.push_str("../");
    }
    let name = format!(
        "{rel}{}",
        victim.display().to_string().trim_start_matches('/')
    );
    let hostile = LayerBuilder::new().raw_file(&name, b"pwned").finish();
    let layout = tempfile::tempdir().unwrap();
    oci_layout(layout.path(), "example.com/evil:1", &[hostile]);
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("evil.tar");
    tar_dir(layout.path(), &archive);
    let (d, store) = new_store();
    let err = store.import(&archive).unwrap_err();
    assert!(matches!(err, ImageError::Unpack { .. }), "{err:?}");
    assert!(
        err.to_string().contains("escapes the layer directory"),
        "{err}"
    );
    assert!(!victim.exists());
    assert_eq!(count(&d.path().join("images"), "layers/sha256"), 0);

    // A symlink in the layer must not be followed by a later entry.
    let sneaky = LayerBuilder::new()
        .symlink("link", outside.path().to_str().unwrap())
        .file("link/evil2", 0o644, b"pwned")
        .finish();
    let layout = tempfile::tempdir().unwrap();
    oci_layout(layout.path(), "example.com/evil:2", &[sneaky]);
    let archive = out.path().join("evil2.tar");
    tar_dir(layout.path(), &archive);
    assert!(store.import(&archive).is_err());
    assert!(!outside.path().join("evil2").exists());
}

#[test]
fn image_gc_removes_unused_images_least_recently_used_first() {
    let (d, store) = new_store();
    let out = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let layout = tempfile::tempdir().unwrap();
        let layer = LayerBuilder::new()
            .file(name, 0o644, name.as_bytes())
            .finish();
        oci_layout(layout.path(), &format!("example.com/{name}:1"), &[layer]);
        let archive = out.path().join(format!("{name}.tar"));
        tar_dir(layout.path(), &archive);
        ids.push(store.import(&archive).unwrap().remove(0).id);
    }
    // Below the high threshold: nothing happens.
    let none = store.garbage_collect(&HashSet::new(), 100, 99).unwrap();
    assert!(none.removed.is_empty());
    // The default minimum age protects freshly pulled images.
    let young = store.garbage_collect(&HashSet::new(), 0, 0).unwrap();
    assert!(young.removed.is_empty());

    let in_use: HashSet<String> = [ids[1].clone()].into();
    let policy = GcPolicy {
        high_percent: 0,
        low_percent: 0,
        min_age: Duration::ZERO,
    };
    let report = store.garbage_collect_with(&in_use, &policy).unwrap();
    let removed: HashSet<String> = report.removed.iter().cloned().collect();
    assert_eq!(removed, [ids[0].clone(), ids[2].clone()].into());
    assert!(report.bytes_freed > 0);
    assert_eq!(store.list().unwrap().len(), 1);
    assert!(store.get("example.com/b:1").unwrap().is_some());
    assert_eq!(count(&d.path().join("images"), "layers/sha256"), 1);
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: minato_images::cli::ImagesArgs,
}

#[tokio::test]
async fn cli_import_ls_rm() {
    use clap::Parser;
    let layout = tempfile::tempdir().unwrap();
    oci_layout(layout.path(), "example.com/cli:1", &[busybox_layer()]);
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("cli.tar");
    tar_dir(layout.path(), &archive);
    let root = out.path().join("store");
    let run = |argv: Vec<&str>| {
        let cli = Cli::try_parse_from(std::iter::once("images").chain(argv)).unwrap();
        minato_images::cli::run(cli.args, root.clone(), RegistriesConfig::default())
    };
    run(vec!["import", archive.to_str().unwrap()])
        .await
        .unwrap();
    run(vec!["ls"]).await.unwrap();
    let store = ImageStore::open(&root, RegistriesConfig::default()).unwrap();
    assert!(store.get("example.com/cli:1").unwrap().is_some());
    run(vec!["rm", "example.com/cli:1"]).await.unwrap();
    assert!(store.get("example.com/cli:1").unwrap().is_none());
    assert!(run(vec!["rm", "example.com/cli:1"]).await.is_err());
}
