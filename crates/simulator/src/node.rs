//! Simulated Node objects and their Leases: pure builders, registration and the per-node
//! heartbeat loop (Lease renewals every `renew_interval`, node status every
//! `node_status_report_interval`), as the kubelet's node lease and node status managers do.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeFeatures, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::ipam::{IpAllocator, Ipv4Cidr};

use crate::{Error, Shared, SimConfig};

/// Namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Label every simulated node carries (`type=simulated`).
pub const LABEL_TYPE: &str = "type";
/// Annotation marking a node as simulated.
pub const ANNOTATION_SIMULATED: &str = "minato.dev/simulated";

/// One simulated node as the simulator runs it.
#[derive(Debug)]
pub struct NodeState {
    pub name: String,
    pub index: u32,
    pub host_ip: String,
    pub(crate) ipam: Mutex<IpAllocator>,
    stopped: AtomicBool,
    stop: Notify,
}

impl NodeState {
    pub(crate) fn new(name: String, index: u32, host_ip: Ipv4Addr, pod_cidr: Ipv4Cidr) -> Self {
        Self {
            name,
            index,
            host_ip: host_ip.to_string(),
            ipam: Mutex::new(IpAllocator::new(pod_cidr)),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
        }
    }

    /// The node's spec.podCIDR.
    pub fn pod_cidr(&self) -> Ipv4Cidr {
        match self.ipam.lock() {
            Ok(a) => a.cidr(),
            Err(p) => p.into_inner().cidr(),
        }
    }

    /// Adopts the range an existing Node already has (before any pod is handled).
    pub(crate) fn adopt_cidr(&self, cidr: Ipv4Cidr) {
        if let Ok(mut a) = self.ipam.lock() {
            if a.cidr() != cidr {
                *a = IpAllocator::new(cidr);
            }
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.stop.notify_waiters();
    }
}

fn stable_uuid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    let x = hex::encode(&h.finalize()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn secs(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// The node conditions a healthy kubelet reports, in its order; a condition whose status is
/// unchanged keeps its lastTransitionTime.
pub fn node_conditions(previous: &[NodeCondition], now: Timestamp) -> Vec<NodeCondition> {
    let now = secs(now);
    [
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        (
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        (
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        (
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ]
    .into_iter()
    .map(|(t, s, r, m)| {
        let prev = previous.iter().find(|c| c.type_ == t);
        let last_transition_time = match prev {
            Some(p) if p.status == s => p.last_transition_time.clone().or(Some(now.clone())),
            _ => Some(now.clone()),
        };
        NodeCondition {
            type_: t.into(),
            status: s.into(),
            reason: Some(r.into()),
            message: Some(m.into()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time,
        }
    })
    .collect()
}

/// The status of a simulated node (capacity = allocatable: nothing is reserved).
pub fn node_status(
    cfg: &SimConfig,
    name: &str,
    host_ip: &str,
    previous: &[NodeCondition],
    now: Timestamp,
) -> NodeStatus {
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", cfg.cpu.clone()),
        ("memory", cfg.memory.clone()),
        ("pods", cfg.pods.to_string()),
        ("ephemeral-storage", cfg.ephemeral_storage.clone()),
        ("hugepages-1Gi", "0".into()),
        ("hugepages-2Mi", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v)))
    .collect();
    NodeStatus {
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: host_ip.into(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: name.into(),
            },
        ]),
        allocatable: Some(resources.clone()),
        capacity: Some(resources),
        conditions: Some(node_conditions(previous, now)),
        // No kubelet endpoint: nothing listens for logs/exec on a simulated node.
        daemon_endpoints: Some(NodeDaemonEndpoints::default()),
        features: Some(NodeFeatures {
            supplemental_groups_policy: Some(true),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: "amd64".into(),
            boot_id: stable_uuid(&["boot", name]),
            machine_id: stable_uuid(&["machine", name]).replace('-', ""),
            system_uuid: stable_uuid(&["system", name]),
            container_runtime_version: "simulated://0.1".into(),
            kernel_version: "6.1.0-minato-simulated".into(),
            kube_proxy_version: String::new(),
            kubelet_version: "v1.33.0".into(),
            operating_system: "linux".into(),
            os_image: "minato simulated node".into(),
            swap: None,
        }),
        ..Default::default()
    }
}

/// The Node object a simulated kubelet registers.
pub fn node_object(cfg: &SimConfig, node: &NodeState, now: Timestamp) -> Node {
    let mut labels: BTreeMap<String, String> = [
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/os", "linux"),
        (LABEL_TYPE, "simulated"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    labels.insert("kubernetes.io/hostname".into(), node.name.clone());
    labels.extend(cfg.labels.clone());
    let annotations = [
        (
            "volumes.kubernetes.io/controller-managed-attach-detach",
            "true",
        ),
        (ANNOTATION_SIMULATED, "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cidr = node.pod_cidr().to_string();
    Node {
        metadata: ObjectMeta {
            name: Some(node.name.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(cidr.clone()),
            pod_cidrs: Some(vec![cidr]),
            taints: (!cfg.taints.is_empty()).then(|| cfg.taints.clone()),
            ..Default::default()
        }),
        status: Some(node_status(cfg, &node.name, &node.host_ip, &[], now)),
    }
}

/// The node's Lease, owned by the Node so it goes with it.
pub fn lease_object(
    node: &str,
    node_uid: Option<&str>,
    duration_seconds: i32,
    now: Timestamp,
) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.into()),
            namespace: Some(LEASE_NAMESPACE.into()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: node.into(),
                    uid: uid.into(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.into()),
            lease_duration_seconds: Some(duration_seconds),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        }),
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Creates (or adopts) the Node and its Lease. Returns the node's UID, the pod CIDR it really
/// has (an existing node keeps its own: spec.podCIDR is immutable) and the lease.
pub(crate) async fn register(
    shared: &Arc<Shared>,
    node: &NodeState,
) -> Result<(String, Lease), Error> {
    let cfg = &shared.config;
    let nodes: Api<Node> = Api::all(shared.client.clone());
    let reg = |source| Error::Register {
        node: node.name.clone(),
        source,
    };
    let now = Timestamp::now();
    let existing = {
        let _permit = shared.permit().await;
        nodes.get_opt(&node.name).await.map_err(reg)?
    };
    let uid = match existing {
        Some(n) => {
            // Re-registration: report a fresh status on the node that is already there.
            let previous = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            let status = node_status(cfg, &node.name, &node.host_ip, &previous, now);
            let _permit = shared.permit().await;
            nodes
                .patch_status(
                    &node.name,
                    &PatchParams::default(),
                    &Patch::Strategic(json!({"status": status})),
                )
                .await
                .map_err(reg)?;
            if let Some(cidr) = n
                .spec
                .as_ref()
                .and_then(|s| s.pod_cidr.as_deref())
                .and_then(|c| c.parse::<Ipv4Cidr>().ok())
            {
                node.adopt_cidr(cidr);
            }
            n.metadata.uid.unwrap_or_default()
        }
        None => {
            let obj = node_object(cfg, node, now);
            let _permit = shared.permit().await;
            let created = nodes
                .create(&PostParams::default(), &obj)
                .await
                .map_err(reg)?;
            if created
                .status
                .as_ref()
                .is_none_or(|s| s.conditions.as_ref().is_none_or(Vec::is_empty))
            {
                // A server that drops status on create: report it through the subresource.
                nodes
                    .patch_status(
                        &node.name,
                        &PatchParams::default(),
                        &Patch::Strategic(json!({"status": obj.status})),
                    )
                    .await
                    .map_err(reg)?;
            }
            if cfg.events {
                for (reason, message) in [
                    ("Starting", "Starting kubelet.".to_string()),
                    (
                        "NodeHasSufficientMemory",
                        format!("Node {} status is now: NodeHasSufficientMemory", node.name),
                    ),
                    (
                        "NodeHasNoDiskPressure",
                        format!("Node {} status is now: NodeHasNoDiskPressure", node.name),
                    ),
                    (
                        "NodeHasSufficientPID",
                        format!("Node {} status is now: NodeHasSufficientPID", node.name),
                    ),
                    (
                        "NodeReady",
                        format!("Node {} status is now: NodeReady", node.name),
                    ),
                ] {
                    shared.post_event(crate::events::node_event(&node.name, reason, message, now));
                }
            }
            created.metadata.uid.unwrap_or_default()
        }
    };
    let lease = ensure_lease(shared, node, &uid).await?;
    shared
        .stats
        .nodes_registered
        .fetch_add(1, Ordering::Relaxed);
    Ok((uid, lease))
}

async fn ensure_lease(shared: &Shared, node: &NodeState, uid: &str) -> Result<Lease, Error> {
    let leases: Api<Lease> = Api::namespaced(shared.client.clone(), LEASE_NAMESPACE);
    let reg = |source| Error::Register {
        node: node.name.clone(),
        source,
    };
    let fresh = lease_object(
        &node.name,
        Some(uid),
        shared.config.lease_duration_seconds,
        Timestamp::now(),
    );
    let _permit = shared.permit().await;
    match leases.create(&PostParams::default(), &fresh).await {
        Ok(l) => Ok(l),
        Err(e) if is_status(&e, 409) => {
            let mut current = leases.get(&node.name).await.map_err(reg)?;
            current.spec = fresh.spec;
            current.metadata.owner_references = fresh.metadata.owner_references;
            leases
                .replace(&node.name, &PostParams::default(), &current)
                .await
                .map_err(reg)
        }
        Err(e) => Err(reg(e)),
    }
}

/// Renews the lease once; on a conflict reads the current one and retries.
async fn renew(
    shared: &Shared,
    node: &NodeState,
    lease: &mut Lease,
    uid: &str,
) -> Result<(), kube::Error> {
    let leases: Api<Lease> = Api::namespaced(shared.client.clone(), LEASE_NAMESPACE);
    let _permit = shared.permit().await;
    for _ in 0..3 {
        let mut next = lease.clone();
        let spec = next.spec.get_or_insert_with(Default::default);
        spec.holder_identity = Some(node.name.clone());
        spec.lease_duration_seconds = Some(shared.config.lease_duration_seconds);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match leases
            .replace(&node.name, &PostParams::default(), &next)
            .await
        {
            Ok(l) => {
                *lease = l;
                return Ok(());
            }
            Err(e) if is_status(&e, 409) => *lease = leases.get(&node.name).await?,
            Err(e) if is_status(&e, 404) => {
                let fresh = lease_object(
                    &node.name,
                    Some(uid),
                    shared.config.lease_duration_seconds,
                    Timestamp::now(),
                );
                *lease = leases.create(&PostParams::default(), &fresh).await?;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn report_status(shared: &Shared, node: &NodeState) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(shared.client.clone());
    let _permit = shared.permit().await;
    let current = nodes.get_status(&node.name).await?;
    let previous = current
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let conditions = node_conditions(&previous, Timestamp::now());
    nodes
        .patch_status(
            &node.name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"status": {"conditions": conditions}})),
        )
        .await?;
    Ok(())
}

/// Spreads first renewals of many nodes over one interval (golden-ratio sequence).
fn first_offset(index: u32, interval: Duration) -> Duration {
    let frac = (f64::from(index) * 0.618_033_988_75).fract();
    interval.mul_f64(frac.max(0.01))
}

/// Keeps one node alive until it is stopped: lease renewals and status heartbeats.
pub(crate) async fn run_node(
    shared: Arc<Shared>,
    node: Arc<NodeState>,
    uid: String,
    mut lease: Lease,
) {
    let cfg = &shared.config;
    let mut next_renew = Instant::now() + first_offset(node.index, cfg.renew_interval);
    let mut next_report = Instant::now() + cfg.node_status_report_interval;
    let mut failures = 0u32;
    loop {
        let wake = next_renew.min(next_report);
        let stopped = node.stop.notified();
        tokio::select! {
            _ = stopped => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
        if node.is_stopped() {
            debug!(node = %node.name, "simulated node stopped");
            return;
        }
        let now = Instant::now();
        if now >= next_renew {
            match renew(&shared, &node, &mut lease, &uid).await {
                Ok(()) => {
                    failures = 0;
                    shared.stats.lease_renewals.fetch_add(1, Ordering::Relaxed);
                    next_renew = Instant::now() + cfg.renew_interval;
                }
                Err(e) => {
                    // As the kubelet: retry soon with a growing backoff, capped by the interval.
                    failures += 1;
                    shared.stats.api_errors.fetch_add(1, Ordering::Relaxed);
                    let backoff = Duration::from_millis(200 * (1u64 << failures.min(6)));
                    warn!(node = %node.name, error = %e, "lease renewal failed");
                    next_renew = Instant::now() + backoff.min(cfg.renew_interval);
                }
            }
        }
        if now >= next_report {
            match report_status(&shared, &node).await {
                Ok(()) => {
                    shared
                        .stats
                        .node_status_updates
                        .fetch_add(1, Ordering::Relaxed);
                    next_report = Instant::now() + cfg.node_status_report_interval;
                }
                Err(e) => {
                    shared.stats.api_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(node = %node.name, error = %e, "node status update failed");
                    next_report = Instant::now() + cfg.renew_interval;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SimConfig {
        let mut c = SimConfig::default();
        c.labels.insert("zone".into(), "a".into());
        c
    }

    #[test]
    fn node_object_has_upstream_shape() {
        let cfg = cfg();
        let state = NodeState::new(
            "sim-node-3".into(),
            3,
            Ipv4Addr::new(198, 18, 0, 4),
            "10.244.3.0/24".parse().unwrap(),
        );
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let n = node_object(&cfg, &state, now);
        let labels = n.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], "sim-node-3");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(labels["kubernetes.io/arch"], "amd64");
        assert_eq!(labels["type"], "simulated");
        assert_eq!(labels["zone"], "a");
        let spec = n.spec.as_ref().unwrap();
        assert_eq!(spec.pod_cidr.as_deref(), Some("10.244.3.0/24"));
        assert_eq!(
            spec.pod_cidrs.as_ref().unwrap(),
            &vec!["10.244.3.0/24".to_string()]
        );
        let st = n.status.as_ref().unwrap();
        let cap = st.capacity.as_ref().unwrap();
        assert_eq!(cap["cpu"].0, "4");
        assert_eq!(cap["memory"].0, "16Gi");
        assert_eq!(cap["pods"].0, "110");
        assert!(cap.contains_key("ephemeral-storage"));
        assert_eq!(st.allocatable, st.capacity);
        let addrs = st.addresses.as_ref().unwrap();
        assert_eq!(
            (addrs[0].type_.as_str(), addrs[0].address.as_str()),
            ("InternalIP", "198.18.0.4")
        );
        let info = st.node_info.as_ref().unwrap();
        assert_eq!(info.kubelet_version, "v1.33.0");
        assert_eq!(info.os_image, "minato simulated node");
        assert_eq!(info.container_runtime_version, "simulated://0.1");
        assert_eq!(info.system_uuid.len(), 36);
        let types: Vec<_> = st
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(
            types,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        let ready = &st.conditions.as_ref().unwrap()[3];
        assert_eq!(ready.status, "True");
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("kubelet is posting ready status")
        );
        let mem = &st.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (mem.status.as_str(), mem.reason.as_deref()),
            ("False", Some("KubeletHasSufficientMemory"))
        );
    }

    #[test]
    fn heartbeat_moves_but_transition_time_stays() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let t1 = Timestamp::from_second(1_700_000_300).unwrap();
        let first = node_conditions(&[], t0);
        let second = node_conditions(&first, t1);
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(a.last_transition_time, b.last_transition_time);
            assert_eq!(b.last_heartbeat_time, Some(Time(t1)));
        }
        // A condition that was different transitions now.
        let mut not_ready = first.clone();
        not_ready[3].status = "False".into();
        let third = node_conditions(&not_ready, t1);
        assert_eq!(third[3].last_transition_time, Some(Time(t1)));
        assert_eq!(third[0].last_transition_time, Some(Time(t0)));
    }

    #[test]
    fn lease_is_held_by_the_node_and_owned_by_it() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let l = lease_object("n1", Some("uid-1"), 40, now);
        assert_eq!(l.metadata.namespace.as_deref(), Some("kube-node-lease"));
        let spec = l.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("n1"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        let owner = &l.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("Node", "n1", "uid-1")
        );
    }

    #[test]
    fn first_renewals_spread_over_the_interval() {
        let i = Duration::from_secs(10);
        let offs: Vec<Duration> = (0..100).map(|n| first_offset(n, i)).collect();
        assert!(offs.iter().all(|o| *o <= i));
        let early = offs.iter().filter(|o| **o < Duration::from_secs(5)).count();
        assert!(
            (40..=60).contains(&early),
            "{early} of 100 in the first half"
        );
    }
}
