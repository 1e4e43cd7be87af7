//! Pulls from a real `docker-registry` on loopback, images pushed with skopeo.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use minato_images::{credentials_from_docker_config, ImageError, ImageStore, RegistriesConfig};

fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = ImageStore::open(dir.path().join("images"), RegistriesConfig::default()).unwrap();
    (dir, s)
}

fn busybox_oci() -> (tempfile::TempDir, Built) {
    let d = tempfile::tempdir().unwrap();
    let built = oci_layout(d.path(), "1.0", &[busybox_layer()]);
    (d, built)
}

fn check_busybox_rootfs(store: &ImageStore, image: &minato_images::Image) {
    let layers = store.layers(image).unwrap();
    assert_eq!(layers.len(), 1);
    assert!(
        is_executable(&layers[0].join("bin/busybox")),
        "bin/busybox missing or not executable"
    );
    assert_eq!(
        std::fs::read_link(layers[0].join("bin/sh"))
            .unwrap()
            .to_str(),
        Some("busybox")
    );
}

#[tokio::test]
async fn pull_by_tag_and_by_digest() {
    let reg = Registry::start(None);
    let (layout, built) = busybox_oci();
    reg.push(layout.path(), "1.0", "test/busybox:1.0", &[]);
    let (dir, store) = store();
    let reference = format!("{}/test/busybox:1.0", reg.host());

    let saw_done = Arc::new(AtomicBool::new(false));
    let flag = saw_done.clone();
    let progress: minato_images::ProgressFn = Arc::new(move |p| {
        if p.done && p.downloaded == p.total {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let image = store.pull(&reference, &[], Some(progress)).await.unwrap();
    assert!(
        saw_done.load(Ordering::SeqCst),
        "progress never reported a finished layer"
    );
    assert_eq!(image.id, built.config_digest);
    assert_eq!(image.repo_tags, vec![reference.clone()]);
    let by_digest = format!("{}/test/busybox@{}", reg.host(), built.manifest_digest);
    assert_eq!(image.repo_digests, vec![by_digest.clone()]);
    assert_eq!(image.config.cmd, vec!["sh"]);
    assert_eq!(image.config.exposed_ports, vec!["8080/tcp"]);
    check_busybox_rootfs(&store, &image);
    assert_eq!(store.blob_downloads(), 2, "config + one layer");

    // Local lookups: by tag, digest, id, id prefix.
    for q in [
        reference.as_str(),
        by_digest.as_str(),
        image.id.as_str(),
        &image.id[7..19],
    ] {
        assert_eq!(
            store.get(q).unwrap().map(|i| i.id),
            Some(image.id.clone()),
            "get({q})"
        );
    }
    assert!(store
        .get("docker.io/library/busybox:1.0")
        .unwrap()
        .is_none());

    // By digest: verified, nothing downloaded again (content is shared).
    let again = store.pull(&by_digest, &[], None).await.unwrap();
    assert_eq!(again.id, image.id);
    assert_eq!(store.blob_downloads(), 2);

    // Survives a restart.
    drop(store);
    let reopened =
        ImageStore::open(dir.path().join("images"), RegistriesConfig::default()).unwrap();
    let img = reopened
        .get(&reference)
        .unwrap()
        .expect("image after reopen");
    check_busybox_rootfs(&reopened, &img);
    assert_eq!(reopened.list().unwrap().len(), 1);
    assert!(reopened.disk_usage().unwrap() > 500_000);
}

#[tokio::test]
async fn pull_docker_v2s2_manifest() {
    let reg = Registry::start(None);
    let (layout, built) = busybox_oci();
    reg.push(layout.path(), "1.0", "test/v2s2:1.0", &["--format", "v2s2"]);
    let (_dir, store) = store();
    let image = store
        .pull(&format!("{}/test/v2s2:1.0", reg.host()), &[], None)
        .await
        .unwrap();
    // skopeo rewrites the config for v2s2, so only check that it is a real, unpacked image.
    assert!(image.repo_digests[0].contains("@sha256:"));
    assert_ne!(
        image.repo_digests[0],
        format!("{}/test/v2s2@{}", reg.host(), built.manifest_digest)
    );
    check_busybox_rootfs(&store, &image);
}

#[tokio::test]
async fn pull_oci_index_picks_host_platform() {
    let reg = Registry::start(None);
    let layout = tempfile::tempdir().unwrap();
    let (amd, _arm, index_digest) = oci_multiarch_layout(layout.path(), "multi");
    reg.push(layout.path(), "multi", "test/multi:1", &["--all"]);
    let (_dir, store) = store();
    let image = store
        .pull(&format!("{}/test/multi:1", reg.host()), &[], None)
        .await
        .unwrap();
    assert_eq!(image.id, amd.config_digest);
    assert_eq!(
        image.config.labels.get("arch").map(String::as_str),
        Some("amd64")
    );
    assert_eq!(
        image.repo_digests,
        vec![format!("{}/test/multi@{index_digest}", reg.host())]
    );
    check_busybox_rootfs(&store, &image);
}

#[tokio::test]
async fn missing_tag_is_not_found_with_containerd_message() {
    let reg = Registry::start(None);
    let (layout, _) = busybox_oci();
    reg.push(layout.path(), "1.0", "test/busybox:1.0", &[]);
    let (_dir, store) = store();
    for name in ["test/busybox:nope", "test/nope:1"] {
        let r = format!("{}/{name}", reg.host());
        let err = store.pull(&r, &[], None).await.unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("failed to pull and unpack image \"{r}\": failed to resolve reference \"{r}\": {r}: not found")
        );
    }
}

#[tokio::test]
async fn htpasswd_registry_needs_credentials() {
    let reg = Registry::start(Some(("alice", "s3cret")));
    let (layout, built) = busybox_oci();
    reg.push(
        layout.path(),
        "1.0",
        "private/busybox:1.0",
        &["--dest-creds", "alice:s3cret"],
    );
    let (_dir, store) = store();
    let r = format!("{}/private/busybox:1.0", reg.host());

    let err = store.pull(&r, &[], None).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("failed to pull and unpack image \"{r}\": failed to resolve reference \"{r}\": failed to authorize: ")), "{msg}");
    assert!(msg.ends_with("401 Unauthorized"), "{msg}");

    let wrong = credentials_from_docker_config(
        format!(
            r#"{{"auths":{{"{}":{{"username":"alice","password":"nope"}}}}}}"#,
            reg.host()
        )
        .as_bytes(),
    )
    .unwrap();
    let err = store.pull(&r, &wrong, None).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");

    // A pull secret as the kubelet gets it (auth = base64(user:password), URL-style key).
    let auth = base64_encode("alice:s3cret");
    let secret = format!(
        r#"{{"auths":{{"http://{}/v2/":{{"auth":"{auth}"}}}}}}"#,
        reg.host()
    );
    let creds = credentials_from_docker_config(secret.as_bytes()).unwrap();
    let image = store.pull(&r, &creds, None).await.unwrap();
    assert_eq!(image.id, built.config_digest);
    check_busybox_rootfs(&store, &image);
}

fn base64_encode(s: &str) -> String {
    // Small local encoder: keeps base64 out of the dev-dependencies.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn mirror_with_rewrite_serves_docker_hub_names() {
    let reg = Registry::start(None);
    let (layout, built) = busybox_oci();
    reg.push(layout.path(), "1.0", "mirrored/busybox:1.0", &[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("registries.yaml");
    std::fs::write(
        &cfg_path,
        format!(
            "mirrors:\n  docker.io:\n    endpoint: [\"http://{}\"]\n    rewrite:\n      \"^library/(.*)\": \"mirrored/$1\"\n",
            reg.host()
        ),
    )
    .unwrap();
    let cfg = RegistriesConfig::load(&cfg_path).unwrap();
    let store = ImageStore::open(dir.path().join("images"), cfg).unwrap();
    let image = store.pull("busybox:1.0", &[], None).await.unwrap();
    assert_eq!(image.id, built.config_digest);
    assert_eq!(image.repo_tags, vec!["docker.io/library/busybox:1.0"]);
    assert_eq!(
        image.repo_digests,
        vec![format!(
            "docker.io/library/busybox@{}",
            built.manifest_digest
        )]
    );
    assert!(store.get("busybox:1.0").unwrap().is_some());
    check_busybox_rootfs(&store, &image);
}

#[tokio::test]
async fn concurrent_pulls_share_one_download() {
    let reg = Registry::start(None);
    let (layout, built) = busybox_oci();
    reg.push(layout.path(), "1.0", "test/busybox:1.0", &[]);
    let (_dir, store) = store();
    let r = format!("{}/test/busybox:1.0", reg.host());
    let (a, b) = tokio::join!(store.pull(&r, &[], None), store.pull(&r, &[], None));
    assert_eq!(a.unwrap().id, built.config_digest);
    assert_eq!(b.unwrap().id, built.config_digest);
    assert_eq!(
        store.blob_downloads(),
        2,
        "config + layer downloaded once each"
    );
}

#[tokio::test]
async fn remove_deletes_unused_content() {
    let reg = Registry::start(None);
    let (layout, built) = busybox_oci();
    reg.push(layout.path(), "1.0", "test/busybox:1.0", &[]);
    reg.push(layout.path(), "1.0", "test/busybox:other", &[]);
    let (dir, store) = store();
    let root = dir.path().join("images");
    let r1 = format!("{}/test/busybox:1.0", reg.host());
    let r2 = format!("{}/test/busybox:other", reg.host());
    store.pull(&r1, &[], None).await.unwrap();
    let img = store.pull(&r2, &[], None).await.unwrap();
    assert_eq!(img.repo_tags, vec![r1.clone(), r2.clone()]);
    assert_eq!(count(&root, "layers/sha256"), 1);

    // Untagging one of two tags keeps the image and its content.
    store.remove(&r1).unwrap();
    assert!(store.get(&r1).unwrap().is_none());
    assert_eq!(store.get(&r2).unwrap().unwrap().repo_tags, vec![r2.clone()]);
    assert_eq!(count(&root, "layers/sha256"), 1);

    // The last tag takes the image and, with it, every blob and layer.
    store.remove(&r2).unwrap();
    assert!(store.get(&built.config_digest).unwrap().is_none());
    assert_eq!(count(&root, "blobs/sha256"), 0);
    assert_eq!(count(&root, "layers/sha256"), 0);
    let err = store.remove(&r2).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");

    // Removal by id.
    let img = store.pull(&r1, &[], None).await.unwrap();
    store.remove(&img.id).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert_eq!(count(&root, "layers/sha256"), 0);
}

#[tokio::test]
async fn tampered_blob_fails_verification() {
    let reg = Registry::start(None);
    let (layout, built) = busybox_oci();
    reg.push(layout.path(), "1.0", "test/busybox:1.0", &[]);
    let data = reg.blob_data(&built.layer_digests[0]);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let (dir, store) = store();
    let r = format!("{}/test/busybox:1.0", reg.host());
    let err = store.pull(&r, &[], None).await.unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("failed to pull and unpack image \"{r}\": ")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("expected {}", built.layer_digests[0])),
        "{msg}"
    );
    assert!(store.get(&r).unwrap().is_none());
    let root = dir.path().join("images");
    let hex = built.layer_digests[0].strip_prefix("sha256:").unwrap();
    assert!(
        !root.join("blobs/sha256").join(hex).exists(),
        "corrupt blob was kept"
    );
    assert_eq!(count(&root, "layers/sha256"), 0);
    assert_eq!(count(&root, "tmp"), 0, "temp download left behind");
}
