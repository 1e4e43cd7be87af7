//! The kubelet's eviction manager. Every 10 s it:
//!
//! 1. enforces local storage limits, whatever the node's state: a pod whose disk emptyDir
//!    outgrows its sizeLimit, a container whose writable layer and logs outgrow its
//!    ephemeral-storage limit, or a pod over the sum of its containers' limits is evicted;
//! 2. compares the node's signals with the hard thresholds (`--eviction-hard`). Under disk
//!    pressure it first reclaims node-level resources (unused images); if that is not enough,
//!    and under memory or PID pressure, it evicts one pod, ranked as upstream ranks them: pods
//!    using more of the scarce resource (memory, disk bytes, inodes, processes) than they
//!    requested first, then lower priority, then the largest usage.
//!
//! An evicted pod's containers are stopped at once and it ends Failed with reason Evicted (its
//! controller makes a replacement elsewhere).

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use minato_scheduler::resources::value;
use tracing::{info, warn};

use crate::thresholds::{Met, Observations, Signal};
use crate::{Ctx, PodEntry};

const INTERVAL: Duration = Duration::from_secs(10);

/// One pod as the ranking sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub uid: String,
    pub usage: i64,
    pub request: i64,
    pub priority: i32,
}

/// The sum of a resource's requests over the pod's app containers.
pub fn request(pod: &Pod, resource: &str) -> i64 {
    pod.spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get(resource))
                .map(|q| value(&q.0))
                .sum()
        })
        .unwrap_or(0)
}

/// Upstream's order: exceeds-requests first, then priority (low first), then usage above
/// request (large first). The first element is evicted.
pub fn rank(mut pods: Vec<Candidate>) -> Vec<Candidate> {
    pods.sort_by(|a, b| {
        let a_over = a.usage > a.request;
        let b_over = b.usage > b.request;
        b_over
            .cmp(&a_over)
            .then(a.priority.cmp(&b.priority))
            .then((b.usage - b.request).cmp(&(a.usage - a.request)))
    });
    pods
}

/// What a directory tree takes on its filesystem.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DiskUsage {
    pub bytes: u64,
    pub inodes: u64,
}

/// Blocks and inodes of a directory tree, staying on its filesystem (a memory emptyDir is a
/// tmpfs mount and counts as memory, not disk).
pub fn disk_usage(path: &Path) -> DiskUsage {
    fn walk(path: &Path, dev: u64, total: &mut DiskUsage) {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return;
        };
        if meta.dev() != dev {
            return;
        }
        total.bytes += meta.blocks() * 512;
        total.inodes += 1;
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(path) {
                for e in entries.flatten() {
                    walk(&e.path(), dev, total);
                }
            }
        }
    }
    let mut total = DiskUsage::default();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        walk(path, meta.dev(), &mut total);
    }
    total
}

/// What one pod keeps on the node's disk.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodStorage {
    /// Bytes of the writable layer plus logs, per container name.
    pub containers: BTreeMap<String, u64>,
    /// Bytes of disk emptyDir volumes, per volume name.
    pub empty_dirs: BTreeMap<String, u64>,
    /// Inodes of all of the above.
    pub inodes: u64,
}

impl PodStorage {
    pub fn total(&self) -> u64 {
        self.containers.values().sum::<u64>() + self.empty_dirs.values().sum::<u64>()
    }
}

fn measure_storage(
    ctx: &Ctx,
    entry: &PodEntry,
    records: &[minato_runtime::ContainerRecord],
) -> PodStorage {
    let mut out = PodStorage::default();
    for r in records.iter().filter(|r| r.pod_uid == entry.uid) {
        let layer = disk_usage(&ctx.runtime.writable_layer_dir(&r.id));
        *out.containers.entry(r.container_name.clone()).or_default() += layer.bytes;
        out.inodes += layer.inodes;
    }
    let log_dir = ctx.pod_log_dir(&entry.pod);
    if let Ok(dirs) = std::fs::read_dir(&log_dir) {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let logs = disk_usage(&d.path());
            *out.containers.entry(name).or_default() += logs.bytes;
            out.inodes += logs.inodes;
        }
    }
    let spec = entry.pod.spec.clone().unwrap_or_default();
    for v in spec.volumes.iter().flatten() {
        if let Some(ed) = &v.empty_dir {
            if ed.medium.as_deref() != Some("Memory") {
                let dir = crate::pods::volumes::volume_dir(
                    &ctx.pod_dir(&entry.uid),
                    "kubernetes.io~empty-dir",
                    &v.name,
                );
                let used = disk_usage(&dir);
                out.empty_dirs.insert(v.name.clone(), used.bytes);
                out.inodes += used.inodes;
            }
        }
    }
    out
}

/// Why a pod breaks its local storage limits, in upstream's words; `None` if it does not.
pub fn storage_limit_violation(pod: &Pod, usage: &PodStorage) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    for v in spec.volumes.iter().flatten() {
        let Some(ed) = &v.empty_dir else { continue };
        let Some(limit) = &ed.size_limit else {
            continue;
        };
        let used = usage.empty_dirs.get(&v.name).copied().unwrap_or(0);
        if ed.medium.as_deref() != Some("Memory") && used as i64 > value(&limit.0) {
            return Some(format!(
                "Usage of EmptyDir volume {:?} exceeds the limit {:?}. ",
                v.name, limit.0
            ));
        }
    }
    let limit_of = |c: &k8s_openapi::api::core::v1::Container| {
        c.resources
            .as_ref()?
            .limits
            .as_ref()?
            .get("ephemeral-storage")
            .cloned()
    };
    for c in &spec.containers {
        if let Some(limit) = limit_of(c) {
            let used = usage.containers.get(&c.name).copied().unwrap_or(0);
            if used as i64 > value(&limit.0) {
                return Some(format!(
                    "Container {} exceeded its local ephemeral storage limit {:?}. ",
                    c.name, limit.0
                ));
            }
        }
    }
    // The pod-level limit counts only when every container has one (upstream sums them).
    let limits: Option<Vec<i64>> = spec
        .containers
        .iter()
        .map(|c| limit_of(c).map(|q| value(&q.0)))
        .collect();
    if let Some(limits) = limits.filter(|l| !l.is_empty()) {
        let total: i64 = limits.iter().sum();
        if usage.total() as i64 > total {
            return Some(format!(
                "Pod ephemeral local storage usage exceeds the total limit of containers {}. ",
                bytes_quantity(total)
            ));
        }
    }
    None
}

/// A count as a Kubernetes quantity in decimal units where exact ("2k", "1500"), as upstream
/// prints inode and process counts.
fn count_quantity(v: u64) -> String {
    let mut v = v;
    for suffix in ["", "k", "M", "G", "T", "P"] {
        if v == 0 || !v.is_multiple_of(1000) || suffix == "P" {
            return format!("{v}{suffix}");
        }
        v /= 1000;
    }
    v.to_string()
}

/// A byte count as a Kubernetes quantity in binary units where exact ("20Mi", "1536Ki").
fn bytes_quantity(v: i64) -> String {
    let mut v = v;
    for suffix in ["", "Ki", "Mi", "Gi", "Ti", "Pi"] {
        if v == 0 || v % 1024 != 0 || suffix == "Pi" {
            return format!("{v}{suffix}");
        }
        v /= 1024;
    }
    v.to_string()
}

fn has_storage_limits(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.volumes
        .iter()
        .flatten()
        .any(|v| v.empty_dir.as_ref().is_some_and(|e| e.size_limit.is_some()))
        || spec.containers.iter().any(|c| {
            c.resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .is_some_and(|l| l.contains_key("ephemeral-storage"))
        })
}

/// The pod cgroup's usage (memory working set, processes).
fn pod_usage(ctx: &Ctx, entry: &PodEntry) -> minato_runtime::Usage {
    let spec = entry.pod.spec.clone().unwrap_or_default();
    let cgroup = crate::pods::resources::pod_cgroup(&ctx.config.cgroup_root, &spec, &entry.uid);
    ctx.runtime.cgroup_usage(&cgroup).unwrap_or_default()
}

/// Memory working set per running container of a pod.
fn container_memory(
    ctx: &Ctx,
    uid: &str,
    records: &[minato_runtime::ContainerRecord],
) -> BTreeMap<String, u64> {
    records
        .iter()
        .filter(|r| r.pod_uid == uid)
        .filter(|r| matches!(r.state, minato_runtime::ContainerState::Running { .. }))
        .filter_map(|r| {
            let u = ctx.runtime.cgroup_usage(&r.cgroup_path).ok()?;
            Some((r.container_name.clone(), u.memory_working_set_bytes))
        })
        .collect()
}

/// Removes every image no container uses (older than the kubelet's 2 minutes), the
/// node-level reclaim that comes before evicting pods for disk.
fn reclaim_images(ctx: &Ctx) {
    let in_use = match ctx.images_in_use() {
        Ok(in_use) => in_use,
        Err(e) => {
            warn!(error = %e, "cannot tell which images are in use; not removing any");
            return;
        }
    };
    let policy = minato_images::GcPolicy {
        high_percent: 0,
        low_percent: 0,
        min_age: Duration::from_secs(120),
    };
    match ctx.images.garbage_collect_with(&in_use, &policy) {
        Ok(r) if !r.removed.is_empty() => {
            info!(removed = ?r.removed, bytes = r.bytes_freed, "removed unused images under disk pressure")
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "cannot remove unused images"),
    }
}

/// Upstream's eviction message: the node's shortage, then each container of the pod using
/// more memory or disk than it requested (`usage`: per container name, in bytes).
fn eviction_message(met: &Met, pod: &Pod, usage: &BTreeMap<String, u64>) -> String {
    let resource = met.signal.resource();
    let bytes = matches!(resource, "memory" | "ephemeral-storage");
    let quantity = |v: u64| {
        if bytes {
            bytes_quantity(v as i64)
        } else {
            count_quantity(v)
        }
    };
    let mut message = format!(
        "The node was low on resource: {resource}. Threshold quantity: {}, available: {}. ",
        quantity(met.threshold),
        quantity(met.available)
    );
    if !bytes {
        return message;
    }
    for c in pod.spec.iter().flat_map(|s| &s.containers) {
        let Some(used) = usage.get(&c.name) else {
            continue;
        };
        let request = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource))
            .map(|q| q.0.clone());
        let requested = request.as_deref().map(value).unwrap_or(0);
        if *used as i64 > requested {
            message.push_str(&format!(
                "Container {} was using {}, request is {}, has larger consumption of {resource}. ",
                c.name,
                bytes_quantity(*used as i64),
                request.as_deref().unwrap_or("0"),
            ));
        }
    }
    message
}

/// One pass; blocking (it walks directories and reads cgroups).
fn pass(ctx: &Ctx) {
    let pods: Vec<PodEntry> = ctx
        .running_pods()
        .into_iter()
        .filter(|p| !ctx.is_evicted(&p.uid))
        .collect();
    // Container records are read from disk only when storage is measured: for a pod with
    // storage limits, or to rank pods under disk pressure.
    let records = OnceCell::new();
    let records = || records.get_or_init(|| ctx.runtime.containers().unwrap_or_default());
    let mut storage: BTreeMap<String, PodStorage> = BTreeMap::new();
    for p in pods.iter().filter(|p| has_storage_limits(&p.pod)) {
        let usage = measure_storage(ctx, p, records());
        if let Some(message) = storage_limit_violation(&p.pod, &usage) {
            info!(pod_uid = %p.uid, %message, "evicting pod over its local storage limit");
            ctx.evict(&p.uid, message);
        }
        storage.insert(p.uid.clone(), usage);
    }
    let config = &ctx.config;
    let observe = || Observations::read(&config.data_dir, &config.images_dir());
    let mut met = config.eviction_hard.met(&observe());
    if met.iter().any(|m| m.signal.is_disk()) {
        reclaim_images(ctx);
        met = config.eviction_hard.met(&observe());
    }
    // Memory first, as upstream orders its thresholds.
    met.sort_by_key(|m| m.signal != Signal::MemoryAvailable);
    let Some(first) = met.first() else { return };
    let resource = first.signal.resource();
    for p in pods.iter().filter(|p| !ctx.is_evicted(&p.uid)) {
        if first.signal.is_disk() && !storage.contains_key(&p.uid) {
            storage.insert(p.uid.clone(), measure_storage(ctx, p, records()));
        }
    }
    let candidates: Vec<Candidate> = pods
        .iter()
        .filter(|p| !ctx.is_evicted(&p.uid))
        .map(|p| {
            let disk = storage.get(&p.uid);
            let usage = match first.signal {
                Signal::MemoryAvailable => pod_usage(ctx, p).memory_working_set_bytes,
                // Upstream ranks PID pressure by priority, then process count: with no request
                // to exceed, the same order.
                Signal::PidAvailable => pod_usage(ctx, p).processes,
                Signal::NodefsInodesFree | Signal::ImagefsInodesFree => {
                    disk.map(|d| d.inodes).unwrap_or(0)
                }
                Signal::NodefsAvailable | Signal::ImagefsAvailable => {
                    disk.map(PodStorage::total).unwrap_or(0)
                }
            };
            Candidate {
                uid: p.uid.clone(),
                usage: usage as i64,
                // Nothing requests inodes or processes.
                request: match resource {
                    "memory" | "ephemeral-storage" => request(&p.pod, resource),
                    _ => 0,
                },
                priority: p.pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0),
            }
        })
        .collect();
    let Some(victim) = rank(candidates).into_iter().next() else {
        warn!(
            signal = first.signal.name(),
            "node under pressure, but no pod to evict"
        );
        return;
    };
    let Some(entry) = pods.iter().find(|p| p.uid == victim.uid) else {
        return;
    };
    let usage = match first.signal {
        Signal::MemoryAvailable => container_memory(ctx, &victim.uid, records()),
        _ => storage
            .get(&victim.uid)
            .map(|s| s.containers.clone())
            .unwrap_or_default(),
    };
    let message = eviction_message(first, &entry.pod, &usage);
    info!(pod_uid = %victim.uid, %message, "evicting pod");
    ctx.evict(&victim.uid, message);
}

/// Runs the eviction manager until the agent stops.
pub async fn run(ctx: Arc<Ctx>) {
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tick.tick().await;
        let ctx = ctx.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || pass(&ctx)).await {
            warn!(error = %e, "eviction pass failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, EmptyDirVolumeSource, PodSpec, ResourceRequirements, Volume,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn c(uid: &str, usage: i64, request: i64, priority: i32) -> Candidate {
        Candidate {
            uid: uid.into(),
            usage,
            request,
            priority,
        }
    }

    #[test]
    fn pods_over_their_request_go_first_then_low_priority_then_largest_excess() {
        let order: Vec<String> = rank(vec![
            c("within", 50, 100, 0),
            c("over-small", 120, 100, 0),
            c("over-big", 500, 100, 0),
            c("over-important", 900, 100, 1000),
        ])
        .into_iter()
        .map(|c| c.uid)
        .collect();
        assert_eq!(
            order,
            vec!["over-big", "over-small", "over-important", "within"]
        );
    }

    fn container(name: &str, limit: Option<&str>) -> Container {
        Container {
            name: name.into(),
            resources: limit.map(|l| ResourceRequirements {
                limits: Some([("ephemeral-storage".to_string(), Quantity(l.into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>, volumes: Vec<Volume>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                volumes: Some(volumes),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn storage_limits_are_enforced_with_upstreams_messages() {
        let scratch = Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("1Mi".into())),
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = pod(vec![container("app", None)], vec![scratch]);
        let mut usage = PodStorage::default();
        usage.empty_dirs.insert("scratch".into(), 512 * 1024);
        assert_eq!(storage_limit_violation(&p, &usage), None);
        usage.empty_dirs.insert("scratch".into(), 2 << 20);
        assert_eq!(
            storage_limit_violation(&p, &usage).as_deref(),
            Some("Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Mi\". ")
        );

        let p = pod(
            vec![container("a", Some("10Mi")), container("b", Some("10Mi"))],
            vec![],
        );
        let mut usage = PodStorage::default();
        usage.containers.insert("a".into(), 11 << 20);
        assert_eq!(
            storage_limit_violation(&p, &usage).as_deref(),
            Some("Container a exceeded its local ephemeral storage limit \"10Mi\". ")
        );
        usage.containers.insert("a".into(), 9 << 20);
        usage.empty_dirs.insert("tmp".into(), 12 << 20);
        assert_eq!(
            storage_limit_violation(&p, &usage).as_deref(),
            Some("Pod ephemeral local storage usage exceeds the total limit of containers 20Mi. ")
        );
    }

    #[test]
    fn disk_usage_counts_blocks_of_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/f"), vec![1u8; 64 * 1024]).unwrap();
        let used = disk_usage(dir.path());
        assert!(used.bytes >= 64 * 1024, "{used:?}");
        // The root, the subdirectory and the file.
        assert_eq!(used.inodes, 3);
        assert_eq!(
            disk_usage(&dir.path().join("missing")),
            DiskUsage::default()
        );
    }

    fn requesting(name: &str, resource: &str, request: &str) -> Container {
        Container {
            name: name.into(),
            resources: Some(ResourceRequirements {
                requests: Some([(resource.to_string(), Quantity(request.into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn eviction_messages_name_the_containers_over_their_requests() {
        let p = pod(
            vec![
                requesting("greedy", "memory", "64Mi"),
                requesting("modest", "memory", "1Gi"),
                container("unrequested", None),
            ],
            vec![],
        );
        let met = Met {
            signal: Signal::MemoryAvailable,
            threshold: 100 << 20,
            available: (50 << 20) + 512,
        };
        let usage = BTreeMap::from([
            ("greedy".to_string(), 128u64 << 20),
            ("modest".to_string(), 10 << 20),
            ("unrequested".to_string(), 1536),
        ]);
        assert_eq!(
            eviction_message(&met, &p, &usage),
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 52429312. \
             Container greedy was using 128Mi, request is 64Mi, has larger consumption of memory. \
             Container unrequested was using 1536, request is 0, has larger consumption of memory. "
        );
        // Inodes and processes: counts in decimal units, no per-container detail.
        let met = Met {
            signal: Signal::NodefsInodesFree,
            threshold: 5000,
            available: 1234,
        };
        assert_eq!(
            eviction_message(&met, &p, &usage),
            "The node was low on resource: inodes. Threshold quantity: 5k, available: 1234. "
        );
        assert_eq!(count_quantity(2_000_000), "2M");
        assert_eq!(count_quantity(0), "0");
    }

    #[test]
    fn under_inode_pressure_the_pod_with_most_inodes_goes_first() {
        // Nothing requests inodes: every pod with any is "over", so priority, then count.
        let order: Vec<String> = rank(vec![
            c("few", 10, 0, 0),
            c("many", 90_000, 0, 0),
            c("many-important", 500_000, 0, 1000),
        ])
        .into_iter()
        .map(|c| c.uid)
        .collect();
        assert_eq!(order, vec!["many", "few", "many-important"]);
    }
}
