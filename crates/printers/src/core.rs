//! Printers for the core ("") group, after upstream's printers.go.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::descriptions as d;
use crate::labels::format_labels;
use crate::quantity;
use crate::value::*;
use crate::{age_col, name_col, Column};

fn col(name: &str, type_: &str, desc: &str) -> Column {
    Column::new(name, type_, desc)
}

fn wide(c: Column) -> Column {
    c.with_priority(1)
}

// ---------------------------------------------------------------- Pod

pub(crate) fn pod_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        col("Status", "string", "The aggregate status of the containers in this pod."),
        col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
        age_col(),
        wide(col("IP", "string", d::POD_IP)),
        wide(col("Node", "string", d::POD_NODE_NAME)),
        wide(col("Nominated Node", "string", d::POD_NOMINATED_NODE)),
        wide(col("Readiness Gates", "string", d::POD_READINESS_GATES)),
    ]
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn condition_status<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .map(|c| str_at(c, &["status"]))
}

/// Upstream's pod STATUS column: phase, overridden by the status reason,
/// scheduling gates, init container progress, container waiting/terminated
/// reasons, and deletion.
pub(crate) fn pod_cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let containers = arr_at(pod, &["spec", "containers"]);
    let init_specs = arr_at(pod, &["spec", "initContainers"]);
    let conditions = arr_at(pod, &["status", "conditions"]);
    let phase = str_at(pod, &["status", "phase"]);
    let status_reason = str_at(pod, &["status", "reason"]);

    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let mut total = containers.len();
    let mut ready = 0usize;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_restartable_init_restart: Option<DateTime<Utc>> = None;

    let mut reason = phase.to_string();
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    for c in conditions {
        if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    // Sidecars (init containers with restartPolicy Always) count as containers.
    let restartable: BTreeMap<&str, bool> = init_specs
        .iter()
        .map(|c| {
            (
                str_at(c, &["name"]),
                str_at(c, &["restartPolicy"]) == "Always",
            )
        })
        .collect();
    total += restartable.values().filter(|r| **r).count();

    let mut initializing = false;
    for (i, cs) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let count = int_at(cs, &["restartCount"]);
        restarts += count;
        let finished = time_at(cs, &["lastState", "terminated", "finishedAt"]);
        if present(cs, &["lastState", "terminated"]) {
            last_restart = later(last_restart, finished);
        }
        let is_restartable = restartable
            .get(str_at(cs, &["name"]))
            .copied()
            .unwrap_or(false);
        if is_restartable {
            restartable_init_restarts += count;
            if present(cs, &["lastState", "terminated"]) {
                last_restartable_init_restart = later(last_restartable_init_restart, finished);
            }
        }
        let terminated = at(cs, &["state", "terminated"]);
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if is_restartable && bool_at(cs, &["started"]) {
            if bool_at(cs, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        let waiting_reason = str_at(cs, &["state", "waiting", "reason"]);
        if let Some(t) = terminated {
            let r = str_at(t, &["reason"]);
            reason = if !r.is_empty() {
                format!("Init:{r}")
            } else if int_at(t, &["signal"]) != 0 {
                format!("Init:Signal:{}", int_at(t, &["signal"]))
            } else {
                format!("Init:ExitCode:{}", int_at(t, &["exitCode"]))
            };
        } else if present(cs, &["state", "waiting"])
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_status(conditions, "Initialized") == Some("True") {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        for cs in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(cs, &["restartCount"]);
            if present(cs, &["lastState", "terminated"]) {
                last_restart = later(
                    last_restart,
                    time_at(cs, &["lastState", "terminated", "finishedAt"]),
                );
            }
            let waiting_reason = str_at(cs, &["state", "waiting", "reason"]);
            let terminated = at(cs, &["state", "terminated"]);
            if present(cs, &["state", "waiting"]) && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                let r = str_at(t, &["reason"]);
                reason = if !r.is_empty() {
                    r.to_string()
                } else if int_at(t, &["signal"]) != 0 {
                    format!("Signal:{}", int_at(t, &["signal"]))
                } else {
                    format!("ExitCode:{}", int_at(t, &["exitCode"]))
                };
            } else if bool_at(cs, &["ready"]) && present(cs, &["state", "running"]) {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed while others still run.
        if reason == "Completed" && has_running {
            reason = if condition_status(conditions, "Ready") == Some("True") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if is_deleting(pod) && status_reason == "NodeLost" {
        reason = "Unknown".to_string();
    } else if is_deleting(pod) && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let pod_ip = arr_at(pod, &["status", "podIPs"])
        .first()
        .map(|p| str_at(p, &["ip"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| str_at(pod, &["status", "podIP"]));
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| condition_status(conditions, str_at(g, &["conditionType"])) == Some("True"))
            .count();
        format!("{true_count}/{}", gates.len())
    };

    vec![
        json!(name(pod)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_text),
        age(pod, now),
        json!(or_none(pod_ip)),
        json!(or_none(str_at(pod, &["spec", "nodeName"]))),
        json!(or_none(str_at(pod, &["status", "nominatedNodeName"]))),
        json!(readiness_gates),
    ]
}

/// Row conditions upstream attaches to finished pods.
pub(crate) fn pod_row_conditions(pod: &Value) -> Vec<Value> {
    match str_at(pod, &["status", "phase"]) {
        "Succeeded" => vec![
            json!({"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}),
        ],
        "Failed" => vec![
            json!({"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}),
        ],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------- PodTemplate

pub(crate) fn pod_template_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Containers",
            "string",
            "Names of each container in the template.",
        ),
        col(
            "Images",
            "string",
            "Images referenced by each container in the template.",
        ),
        col("Pod Labels", "string", "The labels for the pod template."),
    ]
}

pub(crate) fn pod_template_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers_cells(arr_at(obj, &["template", "spec", "containers"]));
    vec![
        json!(name(obj)),
        names,
        images,
        json!(format_labels(at(obj, &["template", "metadata", "labels"]))),
    ]
}

// ---------------------------------------------------------------- ReplicationController

pub(crate) fn replication_controller_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Desired", "integer", d::RC_SPEC_REPLICAS),
        col("Current", "integer", d::RC_STATUS_REPLICAS),
        col("Ready", "integer", d::RC_STATUS_READY),
        age_col(),
        wide(col(
            "Containers",
            "string",
            "Names of each container in the template.",
        )),
        wide(col(
            "Images",
            "string",
            "Images referenced by each container in the template.",
        )),
        wide(col("Selector", "string", d::RC_SPEC_SELECTOR)),
    ]
}

pub(crate) fn replication_controller_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) =
        containers_cells(arr_at(obj, &["spec", "template", "spec", "containers"]));
    vec![
        json!(name(obj)),
        // spec.replicas defaults to 1 upstream.
        json!(opt_int(obj, &["spec", "replicas"]).unwrap_or(1)),
        json!(int_at(obj, &["status", "replicas"])),
        json!(int_at(obj, &["status", "readyReplicas"])),
        age(obj, now),
        names,
        images,
        json!(format_labels(at(obj, &["spec", "selector"]))),
    ]
}

// ---------------------------------------------------------------- Service

pub(crate) fn service_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Type", "string", d::SVC_TYPE),
        col("Cluster-IP", "string", d::SVC_CLUSTER_IP),
        col("External-IP", "string", d::SVC_EXTERNAL_IPS),
        col("Port(s)", "string", d::SVC_PORTS),
        age_col(),
        wide(col("Selector", "string", d::SVC_SELECTOR)),
    ]
}

/// Load balancer ingress points: unique IPs (or hostnames), sorted.
pub(crate) fn load_balancer_addresses(ingress: &[Value]) -> String {
    let set: BTreeSet<&str> = ingress
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, &["ip"]);
            let host = str_at(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn service_external_ip(svc: &Value, svc_type: &str) -> String {
    let external_ips: Vec<&str> = arr_at(svc, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match svc_type {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_addresses(arr_at(svc, &["status", "loadBalancer", "ingress"]));
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').collect()
                };
                all.extend(external_ips);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

pub(crate) fn service_ports(ports: &[Value]) -> String {
    ports
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            // protocol defaults to TCP upstream.
            let proto = opt_str(p, &["protocol"]).unwrap_or("TCP");
            let node_port = int_at(p, &["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn service_cells(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // spec.type defaults to ClusterIP upstream.
    let svc_type = opt_str(svc, &["spec", "type"]).unwrap_or("ClusterIP");
    let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| opt_str(svc, &["spec", "clusterIP"]))
        .filter(|s| !s.is_empty())
        .unwrap_or("<none>");
    let ports = service_ports(arr_at(svc, &["spec", "ports"]));
    vec![
        json!(name(svc)),
        json!(svc_type),
        json!(cluster_ip),
        json!(service_external_ip(svc, svc_type)),
        json!(or_none(&ports)),
        age(svc, now),
        json!(format_labels(at(svc, &["spec", "selector"]))),
    ]
}

// ---------------------------------------------------------------- Endpoints

pub(crate) fn endpoints_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Endpoints", "string", d::EP_SUBSETS),
        age_col(),
    ]
}

fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// At most three `ip:port` entries, then ` + N more...`.
pub(crate) fn format_endpoints(obj: &Value) -> String {
    let subsets = arr_at(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addresses = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_at(a, &["ip"]).to_string());
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_at(p, &["port"])));
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count.saturating_sub(MAX))
    } else {
        joined
    }
}

pub(crate) fn endpoints_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(format_endpoints(obj)),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- Node

pub(crate) fn node_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"),
        age_col(),
        col("Version", "string", d::NODE_KUBELET_VERSION),
        wide(col("Internal-IP", "string", d::NODE_ADDRESSES)),
        wide(col("External-IP", "string", d::NODE_ADDRESSES)),
        wide(col("OS-Image", "string", d::NODE_OS_IMAGE)),
        wide(col("Kernel-Version", "string", d::NODE_KERNEL_VERSION)),
        wide(col("Container-Runtime", "string", d::NODE_CR_VERSION)),
    ]
}

fn node_address(node: &Value, type_: &str) -> String {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == type_)
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

/// Roles from `node-role.kubernetes.io/<role>` keys and the legacy
/// `kubernetes.io/role=<role>` label, sorted and unique.
pub(crate) fn node_roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(labels) = at(node, &["metadata", "labels"]).and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role" {
                if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                    roles.insert(v.to_string());
                }
            }
        }
    }
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

pub(crate) fn node_cells(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // The last Ready condition wins, as in upstream's map by type.
    let ready = arr_at(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(node, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let info = |field: &str| {
        let v = str_at(node, &["status", "nodeInfo", field]);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        json!(name(node)),
        json!(status.join(",")),
        json!(node_roles(node)),
        age(node, now),
        json!(str_at(node, &["status", "nodeInfo", "kubeletVersion"])),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

// ---------------------------------------------------------------- Event

pub(crate) fn event_columns() -> Vec<Column> {
    vec![
        col("Last Seen", "string", d::EV_LAST),
        col("Type", "string", d::EV_TYPE),
        col("Reason", "string", d::EV_REASON),
        col("Object", "string", d::EV_OBJECT),
        wide(col("Subobject", "string", d::EV_FIELD_PATH)),
        wide(col("Source", "string", d::EV_SOURCE)),
        col("Message", "string", d::EV_MESSAGE),
        wide(col("First Seen", "string", d::EV_FIRST)),
        wide(col("Count", "string", d::EV_COUNT)),
        wide(name_col()),
    ]
}

/// Field names of core/v1 Event and of events.k8s.io/v1 Event, which
/// upstream converts to the same internal type before printing.
struct EventFields {
    object: &'static str,
    message: &'static str,
    source: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
    controller: &'static str,
}

const CORE_EVENT: EventFields = EventFields {
    object: "involvedObject",
    message: "message",
    source: "source",
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
    controller: "reportingComponent",
};

const EVENTS_API_EVENT: EventFields = EventFields {
    object: "regarding",
    message: "note",
    source: "deprecatedSource",
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    controller: "reportingController",
};

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

fn event_cells_with(ev: &Value, now: DateTime<Utc>, f: &EventFields) -> Vec<Value> {
    let first_ts = time_at(ev, &[f.first]);
    let first = match first_ts {
        Some(t) => since(Some(t), now),
        None => since(time_at(ev, &["eventTime"]), now),
    };
    let mut last = match time_at(ev, &[f.last]) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = int_at(ev, &[f.count]);
    if present(ev, &["series"]) {
        last = since(time_at(ev, &["series", "lastObservedTime"]), now);
        count = int_at(ev, &["series", "count"]);
    } else if count == 0 {
        // Singleton events don't set a count in the new API.
        count = 1;
    }
    let kind = str_at(ev, &[f.object, "kind"]).to_lowercase();
    let obj_name = str_at(ev, &[f.object, "name"]);
    let target = if obj_name.is_empty() {
        kind
    } else {
        format!("{kind}/{obj_name}")
    };
    let component = first_non_empty(
        str_at(ev, &[f.source, "component"]),
        str_at(ev, &[f.controller]),
    );
    let host = first_non_empty(
        str_at(ev, &[f.source, "host"]),
        str_at(ev, &["reportingInstance"]),
    );
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(str_at(ev, &["type"])),
        json!(str_at(ev, &["reason"])),
        json!(target),
        json!(str_at(ev, &[f.object, "fieldPath"])),
        json!(source),
        json!(str_at(ev, &[f.message]).trim()),
        json!(first),
        json!(count),
        json!(name(ev)),
    ]
}

pub(crate) fn event_cells(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    event_cells_with(ev, now, &CORE_EVENT)
}

pub(crate) fn events_api_event_cells(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    event_cells_with(ev, now, &EVENTS_API_EVENT)
}

// ---------------------------------------------------------------- Namespace, Secret, ConfigMap, ServiceAccount

pub(crate) fn namespace_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", "The status of the namespace"),
        age_col(),
    ]
}

pub(crate) fn namespace_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // status.phase defaults to Active upstream.
    let phase = opt_str(obj, &["status", "phase"]).unwrap_or("Active");
    vec![json!(name(obj)), json!(phase), age(obj, now)]
}

pub(crate) fn secret_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Type", "string", d::SECRET_TYPE),
        col("Data", "string", d::SECRET_DATA),
        age_col(),
    ]
}

pub(crate) fn secret_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // type defaults to Opaque upstream.
    let type_ = opt_str(obj, &["type"]).unwrap_or("Opaque");
    vec![
        json!(name(obj)),
        json!(type_),
        json!(len_at(obj, &["data"])),
        age(obj, now),
    ]
}

pub(crate) fn config_map_columns() -> Vec<Column> {
    vec![name_col(), col("Data", "string", d::CM_DATA), age_col()]
}

pub(crate) fn config_map_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let n = len_at(obj, &["data"]) + len_at(obj, &["binaryData"]);
    vec![json!(name(obj)), json!(n), age(obj, now)]
}

pub(crate) fn service_account_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Secrets", "string", d::SA_SECRETS),
        age_col(),
    ]
}

pub(crate) fn service_account_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(len_at(obj, &["secrets"])),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- PersistentVolume(Claim)

/// helper.GetAccessModesAsString: RWO, ROX, RWX, RWOP in that order.
pub(crate) fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| has(m))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

fn storage_class_of(obj: &Value) -> String {
    if let Some(class) = opt_str(
        obj,
        &["metadata", "annotations", BETA_STORAGE_CLASS_ANNOTATION],
    ) {
        return class.to_string();
    }
    str_at(obj, &["spec", "storageClassName"]).to_string()
}

pub(crate) fn persistent_volume_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Capacity", "string", d::PV_CAPACITY),
        col("Access Modes", "string", d::PV_ACCESS_MODES),
        col("Reclaim Policy", "string", d::PV_RECLAIM),
        col("Status", "string", d::PV_PHASE),
        col("Claim", "string", d::PV_CLAIM),
        col("StorageClass", "string", "StorageClass of the pv"),
        col(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        col("Reason", "string", d::PV_REASON),
        age_col(),
        wide(col("VolumeMode", "string", d::PV_VOLUME_MODE)),
    ]
}

pub(crate) fn persistent_volume_cells(pv: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = if present(pv, &["spec", "claimRef"]) {
        format!(
            "{}/{}",
            str_at(pv, &["spec", "claimRef", "namespace"]),
            str_at(pv, &["spec", "claimRef", "name"])
        )
    } else {
        String::new()
    };
    // Upstream defaults: reclaim policy Retain, phase Pending, mode Filesystem.
    let phase = if is_deleting(pv) {
        "Terminating"
    } else {
        opt_str(pv, &["status", "phase"]).unwrap_or("Pending")
    };
    vec![
        json!(name(pv)),
        json!(quantity::display(
            at(pv, &["spec", "capacity", "storage"]),
            "0"
        )),
        json!(access_modes(arr_at(pv, &["spec", "accessModes"]))),
        json!(opt_str(pv, &["spec", "persistentVolumeReclaimPolicy"]).unwrap_or("Retain")),
        json!(phase),
        json!(claim),
        json!(storage_class_of(pv)),
        json!(opt_str(pv, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        json!(str_at(pv, &["status", "reason"])),
        age(pv, now),
        json!(opt_str(pv, &["spec", "volumeMode"]).unwrap_or("Filesystem")),
    ]
}

pub(crate) fn persistent_volume_claim_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", d::PVC_PHASE),
        col("Volume", "string", d::PVC_VOLUME),
        col("Capacity", "string", d::PVC_CAPACITY),
        col("Access Modes", "string", d::PVC_ACCESS_MODES),
        col("StorageClass", "string", "StorageClass of the pvc"),
        col(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        age_col(),
        wide(col("VolumeMode", "string", d::PVC_VOLUME_MODE)),
    ]
}

pub(crate) fn persistent_volume_claim_cells(pvc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = if is_deleting(pvc) {
        "Terminating"
    } else {
        opt_str(pvc, &["status", "phase"]).unwrap_or("Pending")
    };
    let volume = str_at(pvc, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity::display(at(pvc, &["status", "capacity", "storage"]), "0"),
            access_modes(arr_at(pvc, &["status", "accessModes"])),
        )
    };
    vec![
        json!(name(pvc)),
        json!(phase),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(storage_class_of(pvc)),
        json!(opt_str(pvc, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        age(pvc, now),
        json!(opt_str(pvc, &["spec", "volumeMode"]).unwrap_or("Filesystem")),
    ]
}

// ---------------------------------------------------------------- ComponentStatus, ResourceQuota, Status

pub(crate) fn component_status_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", "Status of the component conditions"),
        col("Message", "string", "Message of the component conditions"),
        col("Error", "string", "Error of the component conditions"),
    ]
}

pub(crate) fn component_status_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let (mut status, mut message, mut error) = ("Unknown", "", "");
    if let Some(c) = arr_at(obj, &["conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Healthy")
    {
        status = if str_at(c, &["status"]) == "True" {
            "Healthy"
        } else {
            "Unhealthy"
        };
        message = str_at(c, &["message"]);
        error = str_at(c, &["error"]);
    }
    vec![
        json!(name(obj)),
        json!(status),
        json!(message),
        json!(error),
    ]
}

pub(crate) fn resource_quota_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
        col("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
        age_col(),
    ]
}

pub(crate) fn resource_quota_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut resources: Vec<&String> = at(obj, &["status", "hard"])
        .and_then(Value::as_object)
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    resources.sort();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for r in resources {
        let used = quantity::display(at(obj, &["status", "used", r]), "0");
        let hard = quantity::display(at(obj, &["status", "hard", r]), "0");
        let entry = format!("{r}: {used}/{hard}");
        let mut pieces = r.split('.');
        let is_limit = pieces.next() == Some("limits") && pieces.next().is_some();
        if is_limit {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    vec![
        json!(name(obj)),
        json!(requests.join(", ")),
        json!(limits.join(", ")),
        age(obj, now),
    ]
}

pub(crate) fn status_columns() -> Vec<Column> {
    vec![
        col("Status", "string", d::STATUS_STATUS),
        col("Reason", "string", d::STATUS_REASON),
        col("Message", "string", ""),
    ]
}

pub(crate) fn status_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(str_at(obj, &["status"])),
        json!(str_at(obj, &["reason"])),
        json!(str_at(obj, &["message"])),
    ]
}
