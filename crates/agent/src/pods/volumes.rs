//! Pod volumes on the node: emptyDir (disk or memory), configMap, secret, downwardAPI and
//! projected volumes written with the kubelet's atomic writer (a `..data` symlink swapped to a
//! fresh timestamped directory, so readers never see a half-written update), hostPath with
//! its type checks, and persistentVolumeClaims bound to local or hostPath volumes.

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{
    ConfigMap, KeyToPath, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume,
};
use kube::api::Api;

use crate::pods::env::{field_value, format_map, resource_value};

/// One file a volume holds: its bytes and mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// A prepared volume: where it is on the host.
#[derive(Clone, Debug)]
pub struct HostVolume {
    pub path: PathBuf,
    /// Refreshed periodically (configMap, secret, downwardAPI, projected).
    pub refreshable: bool,
}

/// Why a volume could not be set up (reported as a FailedMount event).
#[derive(Debug, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
pub struct MountError {
    pub volume: String,
    pub message: String,
}

fn safe_relative(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Writes `files` into `dir` atomically (the kubelet's AtomicWriter): a new timestamped
/// directory, then the `..data` symlink swapped to it by rename, then per-entry symlinks.
/// Does nothing when the content is unchanged.
pub fn write_atomic(dir: &Path, files: &BTreeMap<String, Payload>) -> std::io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let data_link = dir.join("..data");
    if let Ok(current) = std::fs::read_link(&data_link) {
        let current_dir = dir.join(&current);
        if same_content(&current_dir, files) {
            return Ok(false);
        }
    }
    let stamp = chrono::Utc::now()
        .format("..%Y_%m_%d_%H_%M_%S.%f")
        .to_string();
    let new_dir = dir.join(&stamp);
    std::fs::create_dir_all(&new_dir)?;
    for (rel, p) in files {
        let target = new_dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &p.data)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(p.mode))?;
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&stamp, &tmp)?;
    let old = std::fs::read_link(&data_link).ok();
    std::fs::rename(&tmp, &data_link)?;
    // Top-level names point through ..data so they follow each swap.
    let mut tops: Vec<String> = files
        .keys()
        .filter_map(|k| k.split('/').next().map(str::to_string))
        .collect();
    tops.sort();
    tops.dedup();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{top}"), &link)?;
        }
    }
    // Names no longer present go away.
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") {
            continue;
        }
        if !tops.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old {
        if old != Path::new(&stamp) {
            let _ = std::fs::remove_dir_all(dir.join(old));
        }
    }
    Ok(true)
}

fn same_content(dir: &Path, files: &BTreeMap<String, Payload>) -> bool {
    let mut count = 0;
    for (rel, p) in files {
        let path = dir.join(rel);
        match (std::fs::read(&path), std::fs::metadata(&path)) {
            (Ok(d), Ok(m)) if d == p.data && m.permissions().mode() & 0o7777 == p.mode => {
                count += 1
            }
            _ => return false,
        }
    }
    let on_disk = walk_files(dir);
    on_disk == count
}

fn walk_files(dir: &Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => n += walk_files(&e.path()),
                Ok(_) => n += 1,
                Err(_) => {}
            }
        }
    }
    n
}

/// Files for a configMap/secret source: every key, or only `items` (each must exist unless optional).
fn key_files(
    kind: &str,
    name: &str,
    data: Option<BTreeMap<String, Vec<u8>>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: i32,
    optional: bool,
    out: &mut BTreeMap<String, Payload>,
) -> Result<(), String> {
    let Some(data) = data else {
        if optional {
            return Ok(());
        }
        return Err(format!("{kind} \"{name}\" not found"));
    };
    match items {
        Some(items) if !items.is_empty() => {
            for it in items {
                let Some(v) = data.get(&it.key) else {
                    if optional {
                        continue;
                    }
                    return Err(format!(
                        "configmap references non-existent config key: {}",
                        it.key
                    )
                    .replace(
                        "configmap",
                        if kind == "secret" {
                            "secret"
                        } else {
                            "configmap"
                        },
                    ));
                };
                if !safe_relative(&it.path) {
                    return Err(format!("invalid path {:?}", it.path));
                }
                out.insert(
                    it.path.clone(),
                    Payload {
                        data: v.clone(),
                        mode: it.mode.unwrap_or(default_mode) as u32,
                    },
                );
            }
        }
        _ => {
            for (k, v) in data {
                out.insert(
                    k,
                    Payload {
                        data: v,
                        mode: default_mode as u32,
                    },
                );
            }
        }
    }
    Ok(())
}

/// The data of a ConfigMap (text and binary), or None when it does not exist.
pub async fn config_map_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(cm)) => {
            let mut out: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (k, v) in cm.binary_data.unwrap_or_default() {
                out.insert(k, v.0);
            }
            Ok(Some(out))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot get configmap \"{name}\": {e}")),
    }
}

/// The decoded data of a Secret, or None when it does not exist.
pub async fn secret_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(s)) => {
            let mut out: BTreeMap<String, Vec<u8>> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            for (k, v) in s.string_data.unwrap_or_default() {
                out.insert(k, v.into_bytes());
            }
            Ok(Some(out))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot get secret \"{name}\": {e}")),
    }
}

/// What volume preparation needs to know beyond the pod.
pub struct VolumeContext<'a> {
    pub client: &'a kube::Client,
    pub pod_dir: &'a Path,
    pub pod_ip: Option<&'a str>,
    pub host_ip: &'a str,
    pub node_cpu_milli: i64,
    pub node_memory: i64,
}

fn downward_files(
    pod: &Pod,
    items: &[k8s_openapi::api::core::v1::DownwardAPIVolumeFile],
    default_mode: i32,
    ctx: &VolumeContext<'_>,
    out: &mut BTreeMap<String, Payload>,
) -> Result<(), String> {
    for it in items {
        let value = if let Some(f) = &it.field_ref {
            match f.field_path.as_str() {
                "metadata.labels" => format_map(pod.metadata.labels.as_ref()),
                "metadata.annotations" => format_map(pod.metadata.annotations.as_ref()),
                _ => field_value(pod, f, ctx.pod_ip, ctx.host_ip).map_err(|e| e.0)?,
            }
        } else if let Some(r) = &it.resource_field_ref {
            let spec = pod.spec.clone().unwrap_or_default();
            let cname = r.container_name.clone().unwrap_or_default();
            let c = spec
                .containers
                .iter()
                .find(|c| c.name == cname)
                .ok_or_else(|| format!("container {cname} not found"))?;
            resource_value(c, r, ctx.node_cpu_milli, ctx.node_memory).map_err(|e| e.0)?
        } else {
            continue;
        };
        if !safe_relative(&it.path) {
            return Err(format!("invalid path {:?}", it.path));
        }
        out.insert(
            it.path.clone(),
            Payload {
                data: value.into_bytes(),
                mode: it.mode.unwrap_or(default_mode) as u32,
            },
        );
    }
    Ok(())
}

async fn service_account_token(
    client: &kube::Client,
    pod: &Pod,
    audience: Option<String>,
    expiration_seconds: Option<i64>,
) -> Result<String, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    let req: TokenRequest = serde_json::from_value(serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": audience.map(|a| vec![a]).unwrap_or_default(),
            "expirationSeconds": expiration_seconds.unwrap_or(3607),
            "boundObjectRef": {
                "apiVersion": "v1", "kind": "Pod",
                "name": pod.metadata.name, "uid": pod.metadata.uid,
            }
        }
    }))
    .map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(&req).map_err(|e| e.to_string())?;
    let url = format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token");
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(body)
        .map_err(|e| e.to_string())?;
    let resp: TokenRequest = client
        .request(request)
        .await
        .map_err(|e| format!("failed to fetch token: {e}"))?;
    resp.status
        .map(|s| s.token)
        .ok_or_else(|| "failed to fetch token: empty response".to_string())
}

/// Renders a refreshable volume's files (configMap, secret, downwardAPI, projected).
async fn render(
    pod: &Pod,
    v: &Volume,
    ctx: &VolumeContext<'_>,
) -> Result<Option<BTreeMap<String, Payload>>, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut out = BTreeMap::new();
    if let Some(cm) = &v.config_map {
        let data = config_map_data(ctx.client, &ns, &cm.name).await?;
        key_files(
            "configmap",
            &cm.name,
            data,
            cm.items.as_ref(),
            cm.default_mode.unwrap_or(0o644),
            cm.optional == Some(true),
            &mut out,
        )?;
        return Ok(Some(out));
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let data = secret_data(ctx.client, &ns, &name).await?;
        key_files(
            "secret",
            &name,
            data,
            s.items.as_ref(),
            s.default_mode.unwrap_or(0o644),
            s.optional == Some(true),
            &mut out,
        )?;
        return Ok(Some(out));
    }
    if let Some(d) = &v.downward_api {
        downward_files(
            pod,
            d.items.as_deref().unwrap_or_default(),
            d.default_mode.unwrap_or(0o644),
            ctx,
            &mut out,
        )?;
        return Ok(Some(out));
    }
    if let Some(p) = &v.projected {
        let mode = p.default_mode.unwrap_or(0o644);
        for src in p.sources.iter().flatten() {
            if let Some(cm) = &src.config_map {
                let data = config_map_data(ctx.client, &ns, &cm.name).await?;
                key_files(
                    "configmap",
                    &cm.name,
                    data,
                    cm.items.as_ref(),
                    mode,
                    cm.optional == Some(true),
                    &mut out,
                )?;
            }
            if let Some(s) = &src.secret {
                let data = secret_data(ctx.client, &ns, &s.name).await?;
                key_files(
                    "secret",
                    &s.name,
                    data,
                    s.items.as_ref(),
                    mode,
                    s.optional == Some(true),
                    &mut out,
                )?;
            }
            if let Some(d) = &src.downward_api {
                downward_files(
                    pod,
                    d.items.as_deref().unwrap_or_default(),
                    mode,
                    ctx,
                    &mut out,
                )?;
            }
            if let Some(t) = &src.service_account_token {
                let token = service_account_token(
                    ctx.client,
                    pod,
                    t.audience.clone(),
                    t.expiration_seconds,
                )
                .await?;
                if !safe_relative(&t.path) {
                    return Err(format!("invalid path {:?}", t.path));
                }
                // Token files are private to the pod's user, as upstream (0600 unless a mode is set).
                out.insert(
                    t.path.clone(),
                    Payload {
                        data: token.into_bytes(),
                        mode: p.default_mode.map(|m| m as u32).unwrap_or(0o600),
                    },
                );
            }
        }
        return Ok(Some(out));
    }
    Ok(None)
}

fn check_host_path(path: &Path, kind: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path);
    let fail = |what: &str| {
        Err(format!(
            "hostPath type check failed: {} is not a {what}",
            path.display()
        ))
    };
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => {
            if meta.is_err() {
                std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        "FileOrCreate" => {
            if meta.is_err() {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(path, b"").map_err(|e| e.to_string())?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            _ => fail("directory"),
        },
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => fail("file"),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => fail("socket"),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => fail("character device"),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => fail("block device"),
        },
        other => Err(format!("unsupported hostPath type {other:?}")),
    }
}

/// Where a volume of the pod lives on the host (the pod dir's volumes/<plugin>/<name>).
pub fn volume_dir(pod_dir: &Path, plugin: &str, name: &str) -> PathBuf {
    pod_dir.join("volumes").join(plugin).join(name)
}

/// True if something is mounted on `path`. A different device than the parent's settles it
/// cheaply (always the case for the tmpfs mounts made here); only otherwise is mountinfo
/// read, which costs O(mounts) and with many pods running was a visible share of start-up.
fn is_mountpoint(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(m), Some(Ok(pm))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) {
        if m.dev() != pm.dev() {
            return true;
        }
    } else if std::fs::symlink_metadata(path).is_err() {
        return false;
    }
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let p = path.to_string_lossy();
    text.lines()
        .any(|l| l.split_whitespace().nth(4) == Some(p.as_ref()))
}

/// Sets up (or refreshes) one volume; returns its host path.
pub async fn setup(
    pod: &Pod,
    v: &Volume,
    ctx: &VolumeContext<'_>,
) -> Result<HostVolume, MountError> {
    let err = |message: String| MountError {
        volume: v.name.clone(),
        message,
    };
    if let Some(ed) = &v.empty_dir {
        let dir = volume_dir(ctx.pod_dir, "kubernetes.io~empty-dir", &v.name);
        std::fs::create_dir_all(&dir).map_err(|e| err(e.to_string()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| err(e.to_string()))?;
        if ed.medium.as_deref() == Some("Memory") && !is_mountpoint(&dir) {
            let size = ed
                .size_limit
                .as_ref()
                .map(|q| minato_scheduler::resources::value(&q.0))
                .filter(|s| *s > 0);
            let opts = match size {
                Some(s) => format!("mode=1777,size={s}"),
                None => "mode=1777".to_string(),
            };
            nix::mount::mount(
                Some("tmpfs"),
                &dir,
                Some("tmpfs"),
                nix::mount::MsFlags::empty(),
                Some(opts.as_str()),
            )
            .map_err(|e| err(format!("mount tmpfs: {e}")))?;
        }
        return Ok(HostVolume {
            path: dir,
            refreshable: false,
        });
    }
    if let Some(hp) = &v.host_path {
        let path = PathBuf::from(&hp.path);
        check_host_path(&path, hp.type_.as_deref().unwrap_or("")).map_err(err)?;
        return Ok(HostVolume {
            path,
            refreshable: false,
        });
    }
    if let Some(pvc) = &v.persistent_volume_claim {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
        let claim = claims
            .get_opt(&pvc.claim_name)
            .await
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| {
                err(format!(
                    "persistentvolumeclaim \"{}\" not found",
                    pvc.claim_name
                ))
            })?;
        let pv_name = claim
            .spec
            .and_then(|s| s.volume_name)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                err(format!(
                    "persistentvolumeclaim \"{}\" is not bound",
                    pvc.claim_name
                ))
            })?;
        let pvs: Api<PersistentVolume> = Api::all(ctx.client.clone());
        let pv = pvs.get(&pv_name).await.map_err(|e| err(e.to_string()))?;
        let spec = pv.spec.unwrap_or_default();
        let path = spec
            .host_path
            .map(|h| h.path)
            .or(spec.local.map(|l| l.path))
            .ok_or_else(|| err(format!("persistentvolume \"{pv_name}\" is neither hostPath nor local; only node-local volumes are supported")))?;
        let path = PathBuf::from(path);
        if !path.exists() {
            std::fs::create_dir_all(&path).map_err(|e| err(e.to_string()))?;
        }
        return Ok(HostVolume {
            path,
            refreshable: false,
        });
    }
    let plugin = if v.config_map.is_some() {
        "kubernetes.io~configmap"
    } else if v.secret.is_some() {
        "kubernetes.io~secret"
    } else if v.downward_api.is_some() {
        "kubernetes.io~downward-api"
    } else if v.projected.is_some() {
        "kubernetes.io~projected"
    } else {
        return Err(err("volume type not supported by this node agent (supported: emptyDir, configMap, secret, downwardAPI, projected, hostPath, persistentVolumeClaim)".into()));
    };
    let dir = volume_dir(ctx.pod_dir, plugin, &v.name);
    // Secrets and tokens live in memory, never on disk, as the kubelet keeps them.
    if (v.secret.is_some() || v.projected.is_some()) && !is_mountpoint(&dir) {
        std::fs::create_dir_all(&dir).map_err(|e| err(e.to_string()))?;
        nix::mount::mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("mode=0755"),
        )
        .map_err(|e| err(format!("mount tmpfs: {e}")))?;
    }
    let files = render(pod, v, ctx).await.map_err(err)?.unwrap_or_default();
    write_atomic(&dir, &files).map_err(|e| err(e.to_string()))?;
    Ok(HostVolume {
        path: dir,
        refreshable: true,
    })
}

/// Unmounts a pod's memory-backed volumes and removes its volume dirs.
pub fn teardown(pod_dir: &Path) {
    let volumes = pod_dir.join("volumes");
    if let Ok(plugins) = std::fs::read_dir(&volumes) {
        for p in plugins.flatten() {
            if let Ok(vols) = std::fs::read_dir(p.path()) {
                for v in vols.flatten() {
                    let path = v.path();
                    if is_mountpoint(&path) {
                        let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&volumes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, Payload> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Payload {
                        data: v.as_bytes().to_vec(),
                        mode: 0o644,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn atomic_writer_swaps_data_and_follows_keys() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("vol");
        assert!(write_atomic(&d, &files(&[("a", "1"), ("sub/b", "2")])).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(d.join("sub/b")).unwrap(), "2");
        assert!(std::fs::symlink_metadata(d.join("a"))
            .unwrap()
            .file_type()
            .is_symlink());
        // Unchanged content: nothing written.
        assert!(!write_atomic(&d, &files(&[("a", "1"), ("sub/b", "2")])).unwrap());
        // An update replaces values and drops keys that went away.
        assert!(write_atomic(&d, &files(&[("a", "3")])).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "3");
        assert!(!d.join("sub").exists());
        let stamped: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("..2"))
            .collect();
        assert_eq!(stamped.len(), 1, "old data dirs are removed");
    }

    #[test]
    fn items_select_keys_and_modes() {
        let mut out = BTreeMap::new();
        let data = BTreeMap::from([
            ("k".to_string(), b"v".to_vec()),
            ("x".to_string(), b"y".to_vec()),
        ]);
        let items = vec![KeyToPath {
            key: "k".into(),
            path: "dir/file".into(),
            mode: Some(0o400),
        }];
        key_files(
            "configmap",
            "cm",
            Some(data.clone()),
            Some(&items),
            0o644,
            false,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out["dir/file"].mode, 0o400);
        let bad = vec![KeyToPath {
            key: "missing".into(),
            path: "f".into(),
            mode: None,
        }];
        assert!(key_files(
            "configmap",
            "cm",
            Some(data),
            Some(&bad),
            0o644,
            false,
            &mut BTreeMap::new()
        )
        .is_err());
        assert_eq!(
            key_files(
                "configmap",
                "cm",
                None,
                None,
                0o644,
                false,
                &mut BTreeMap::new()
            )
            .unwrap_err(),
            "configmap \"cm\" not found"
        );
    }
}
