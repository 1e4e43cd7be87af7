//! The agent's Node: registration with the host's capacity and identity, the Lease heartbeat
//! (every 10 s, 40 s duration, as the kubelet) and the node status report (conditions from
//! real pressure signals, every 10 s and on change).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tracing::{info, warn};

use crate::host::HostInfo;
use crate::{AgentConfig, Error};

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_DURATION_SECONDS: i32 = 40;
const RENEW_INTERVAL: Duration = Duration::from_secs(10);
const STATUS_INTERVAL: Duration = Duration::from_secs(10);

pub use crate::thresholds::Pressure;

/// Reads the host's signals and says which pressure conditions the hard thresholds make.
pub fn measure_pressure(config: &AgentConfig) -> Pressure {
    let obs = crate::thresholds::Observations::read(&config.data_dir, &config.images_dir());
    Pressure::from_met(&config.eviction_hard.met(&obs))
}

fn now_secs() -> Time {
    let t = Timestamp::now();
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// The kubelet's four node conditions, keeping lastTransitionTime when a status is unchanged.
pub fn node_conditions(
    previous: &[NodeCondition],
    pressure: Pressure,
    ready: bool,
) -> Vec<NodeCondition> {
    let now = now_secs();
    let rows = [
        (
            "MemoryPressure",
            pressure.memory,
            (
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            ),
            (
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
        ),
        (
            "DiskPressure",
            pressure.disk,
            ("KubeletHasDiskPressure", "kubelet has disk pressure"),
            ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ),
        (
            "PIDPressure",
            pressure.pid,
            (
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available",
            ),
            (
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
        ),
    ];
    let mut out: Vec<NodeCondition> = rows
        .into_iter()
        .map(|(t, on, yes, no)| {
            let (status, (reason, message)) = if on { ("True", yes) } else { ("False", no) };
            condition(previous, t, status, reason, message, &now)
        })
        .collect();
    let (status, reason, message) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status")
    } else {
        (
            "False",
            "KubeletNotReady",
            "container runtime network not ready",
        )
    };
    out.push(condition(previous, "Ready", status, reason, message, &now));
    out
}

fn condition(
    previous: &[NodeCondition],
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &Time,
) -> NodeCondition {
    let last_transition_time = match previous.iter().find(|c| c.type_ == type_) {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Some(now.clone()),
    };
    NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time,
    }
}

/// Capacity and allocatable from the host (nothing reserved for system daemons by default).
pub fn resources(host: &HostInfo, max_pods: u32) -> BTreeMap<String, Quantity> {
    [
        ("cpu", host.cpus.to_string()),
        ("memory", format!("{}Ki", host.memory_bytes / 1024)),
        (
            "ephemeral-storage",
            format!("{}Ki", host.ephemeral_storage_bytes / 1024),
        ),
        ("pods", max_pods.to_string()),
        ("hugepages-1Gi", "0".into()),
        ("hugepages-2Mi", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v)))
    .collect()
}

/// The node status the agent reports (everything but conditions' history).
pub fn node_status(
    config: &AgentConfig,
    host: &HostInfo,
    runtime_version: &str,
    previous: &[NodeCondition],
    pressure: Pressure,
) -> NodeStatus {
    let res = resources(host, config.max_pods);
    NodeStatus {
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: config.node_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: config.node_name.clone(),
            },
        ]),
        allocatable: Some(res.clone()),
        capacity: Some(res),
        conditions: Some(node_conditions(previous, pressure, true)),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(config.kubelet_port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: host.architecture.clone(),
            boot_id: host.boot_id.clone(),
            machine_id: host.machine_id.clone(),
            system_uuid: host.system_uuid.clone(),
            container_runtime_version: runtime_version.to_string(),
            kernel_version: host.kernel_version.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: "v1.33.0".into(),
            operating_system: "linux".into(),
            os_image: host.os_image.clone(),
            swap: None,
        }),
        ..Default::default()
    }
}

/// The Node object registered on first start.
pub fn node_object(config: &AgentConfig, host: &HostInfo, runtime_version: &str) -> Node {
    let mut labels: BTreeMap<String, String> = [
        ("beta.kubernetes.io/arch", host.architecture.as_str()),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", host.architecture.as_str()),
        ("kubernetes.io/os", "linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    labels.insert("kubernetes.io/hostname".into(), config.node_name.clone());
    labels.extend(config.node_labels.clone());
    Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: config.pod_cidr.clone(),
            pod_cidrs: config.pod_cidr.clone().map(|c| vec![c]),
            ..Default::default()
        }),
        status: Some(node_status(
            config,
            host,
            runtime_version,
            &[],
            Pressure::default(),
        )),
    }
}

fn is_code(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Registers (or re-registers) the Node; returns its uid.
pub async fn register(
    client: &kube::Client,
    config: &AgentConfig,
    host: &HostInfo,
    runtime_version: &str,
) -> Result<Node, Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    if let Some(existing) = nodes.get_opt(&config.node_name).await? {
        let previous = existing
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let status = node_status(
            config,
            host,
            runtime_version,
            &previous,
            measure_pressure(config),
        );
        let node = nodes
            .patch_status(
                &config.node_name,
                &PatchParams::default(),
                &Patch::Strategic(json!({ "status": status })),
            )
            .await?;
        info!(node = %config.node_name, "node re-registered");
        return Ok(node);
    }
    let obj = node_object(config, host, runtime_version);
    let created = nodes.create(&PostParams::default(), &obj).await?;
    // The API server drops status on create, as upstream: report it through the subresource.
    let node = nodes
        .patch_status(
            &config.node_name,
            &PatchParams::default(),
            &Patch::Strategic(json!({ "status": obj.status })),
        )
        .await
        .unwrap_or(created);
    info!(node = %config.node_name, "node registered");
    Ok(node)
}

fn lease_object(node: &str, node_uid: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.into()),
            namespace: Some(LEASE_NAMESPACE.into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: node.into(),
                uid: node_uid.into(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.into()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..Default::default()
        }),
    }
}

async fn renew(client: &kube::Client, node: &str, node_uid: &str) -> Result<(), kube::Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    for _ in 0..3 {
        match leases.get_opt(node).await? {
            None => match leases
                .create(&PostParams::default(), &lease_object(node, node_uid))
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_code(&e, 409) => continue,
                Err(e) => return Err(e),
            },
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(Default::default);
                spec.holder_identity = Some(node.into());
                spec.lease_duration_seconds = Some(LEASE_DURATION_SECONDS);
                spec.renew_time = Some(MicroTime(Timestamp::now()));
                match leases.replace(node, &PostParams::default(), &lease).await {
                    Ok(_) => return Ok(()),
                    Err(e) if is_code(&e, 409) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}

/// Heartbeats until the agent stops: the Lease every 10 s, the node status every 10 s (the
/// conditions' heartbeat times) or at once when pressure changes.
pub async fn heartbeat(
    client: kube::Client,
    config: Arc<AgentConfig>,
    host: HostInfo,
    runtime_version: String,
    node_uid: String,
    pressure_tx: tokio::sync::watch::Sender<Pressure>,
) {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut renew_tick = tokio::time::interval(RENEW_INTERVAL);
    let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
    let mut last_pressure = Pressure::default();
    loop {
        tokio::select! {
            _ = renew_tick.tick() => {
                if let Err(e) = renew(&client, &config.node_name, &node_uid).await {
                    warn!(error = %e, "cannot renew the node lease");
                }
            }
            _ = status_tick.tick() => {
                let pressure = tokio::task::spawn_blocking({
                    let config = config.clone();
                    move || measure_pressure(&config)
                }).await.unwrap_or_default();
                if pressure != last_pressure {
                    info!(?pressure, "node pressure changed");
                    last_pressure = pressure;
                }
                let _ = pressure_tx.send(pressure);
                let previous = match nodes.get_status(&config.node_name).await {
                    Ok(n) => n.status.and_then(|s| s.conditions).unwrap_or_default(),
                    Err(e) => {
                        warn!(error = %e, "cannot read the node");
                        continue;
                    }
                };
                let status = node_status(&config, &host, &runtime_version, &previous, pressure);
                if let Err(e) = nodes
                    .patch_status(
                        &config.node_name,
                        &PatchParams::default(),
                        &Patch::Strategic(json!({ "status": {
                            "conditions": status.conditions,
                            "addresses": status.addresses,
                            "daemonEndpoints": status.daemon_endpoints,
                            "allocatable": status.allocatable,
                            "capacity": status.capacity,
                        }})),
                    )
                    .await
                {
                    warn!(error = %e, "cannot report node status");
                }
            }
        }
    }
}
