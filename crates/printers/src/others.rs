//! Printers for networking, RBAC, storage, scheduling, coordination,
//! certificates, admission, flow control, DRA and aggregation kinds.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::core::load_balancer_addresses;
use crate::descriptions as d;
use crate::duration::human_duration;
use crate::labels::{format_label_selector, go_struct_label_selector};
use crate::quantity;
use crate::value::*;
use crate::{age_col, name_col, Column};

fn col(name: &str, type_: &str, desc: &str) -> Column {
    Column::new(name, type_, desc)
}

fn wide(c: Column) -> Column {
    c.with_priority(1)
}

/// Up to three entries joined by commas, ` + N more...` beyond, `<unset>`
/// when empty (listWithMoreString).
fn list_with_more(items: Vec<String>) -> String {
    const MAX: usize = 3;
    if items.is_empty() {
        return "<unset>".to_string();
    }
    if items.len() > MAX {
        format!("{} + {} more...", items[..MAX].join(","), items.len() - MAX)
    } else {
        items.join(",")
    }
}

// ---------------------------------------------------------------- Ingress, IngressClass

pub(crate) fn ingress_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
        col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
        col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
        col("Ports", "string", "Ports of TLS configurations that open"),
        age_col(),
    ]
}

fn format_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", rules.len().saturating_sub(MAX))
    } else {
        joined
    }
}

pub(crate) fn ingress_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ports = if arr_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        json!(name(obj)),
        json!(opt_str(obj, &["spec", "ingressClassName"]).unwrap_or("<none>")),
        json!(format_hosts(arr_at(obj, &["spec", "rules"]))),
        json!(load_balancer_addresses(arr_at(
            obj,
            &["status", "loadBalancer", "ingress"]
        ))),
        json!(ports),
        age(obj, now),
    ]
}

pub(crate) fn ingress_class_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Controller",
            "string",
            "Controller that is responsible for handling this class",
        ),
        col(
            "Parameters",
            "string",
            "A reference to a resource with additional parameters",
        ),
        age_col(),
    ]
}

pub(crate) fn ingress_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let parameters = match at(obj, &["spec", "parameters"]) {
        Some(p) => {
            let mut s = str_at(p, &["kind"]).to_string();
            if let Some(g) = opt_str(p, &["apiGroup"]) {
                s = format!("{s}.{g}");
            }
            format!("{s}/{}", str_at(p, &["name"]))
        }
        None => "<none>".to_string(),
    };
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "controller"])),
        json!(parameters),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- NetworkPolicy, ServiceCIDR, IPAddress

pub(crate) fn network_policy_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Pod-Selector", "string", d::NP_POD_SELECTOR),
        age_col(),
    ]
}

pub(crate) fn network_policy_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // podSelector is a struct, never nil: absent reads as the empty selector.
    let empty = json!({});
    let sel = at(obj, &["spec", "podSelector"]).unwrap_or(&empty);
    vec![
        json!(name(obj)),
        json!(format_label_selector(Some(sel))),
        age(obj, now),
    ]
}

pub(crate) fn service_cidr_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("CIDRs", "string", d::SCIDR_CIDRS),
        age_col(),
    ]
}

pub(crate) fn service_cidr_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let cidrs: Vec<&str> = arr_at(obj, &["spec", "cidrs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![json!(name(obj)), json!(cidrs.join(",")), age(obj, now)]
}

pub(crate) fn ip_address_columns() -> Vec<Column> {
    vec![name_col(), col("ParentRef", "string", d::IPA_PARENT)]
}

pub(crate) fn ip_address_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let parent = match at(obj, &["spec", "parentRef"]) {
        Some(p) => {
            let resource = str_at(p, &["resource"]);
            let group = str_at(p, &["group"]);
            let mut s = if group.is_empty() {
                resource.to_lowercase()
            } else {
                format!("{resource}.{group}").to_lowercase()
            };
            let ns = str_at(p, &["namespace"]);
            if !ns.is_empty() {
                s = format!("{s}/{ns}");
            }
            format!("{s}/{}", str_at(p, &["name"]))
        }
        None => "<none>".to_string(),
    };
    // Upstream appends an age cell without declaring an Age column.
    vec![json!(name(obj)), json!(parent), age(obj, now)]
}

// ---------------------------------------------------------------- RBAC

fn binding_columns(role_desc: &str, what: &str) -> Vec<Column> {
    vec![
        name_col(),
        col("Role", "string", role_desc),
        age_col(),
        wide(col("Users", "string", &format!("Users in the {what}"))),
        wide(col("Groups", "string", &format!("Groups in the {what}"))),
        wide(col(
            "ServiceAccounts",
            "string",
            &format!("ServiceAccounts in the {what}"),
        )),
    ]
}

pub(crate) fn role_binding_columns() -> Vec<Column> {
    binding_columns(d::RB_ROLE_REF, "roleBinding")
}

pub(crate) fn cluster_role_binding_columns() -> Vec<Column> {
    binding_columns(d::CRB_ROLE_REF, "clusterRoleBinding")
}

pub(crate) fn role_binding_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut sas = Vec::new();
    for s in arr_at(obj, &["subjects"]) {
        let n = str_at(s, &["name"]);
        match str_at(s, &["kind"]) {
            "ServiceAccount" => sas.push(format!("{}/{n}", str_at(s, &["namespace"]))),
            "User" => users.push(n.to_string()),
            "Group" => groups.push(n.to_string()),
            _ => {}
        }
    }
    vec![
        json!(name(obj)),
        json!(format!(
            "{}/{}",
            str_at(obj, &["roleRef", "kind"]),
            str_at(obj, &["roleRef", "name"])
        )),
        age(obj, now),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

// ---------------------------------------------------------------- Certificates

pub(crate) fn csr_columns() -> Vec<Column> {
    vec![
        name_col(),
        age_col(),
        col("SignerName", "string", d::CSR_SIGNER),
        col("Requestor", "string", d::CSR_REQUEST),
        col("RequestedDuration", "string", d::CSR_EXPIRATION),
        col("Condition", "string", d::CSR_CONDITIONS),
    ]
}

pub(crate) fn csr_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let conds = arr_at(obj, &["status", "conditions"]);
    let has = |t: &str| conds.iter().any(|c| str_at(c, &["type"]) == t);
    let mut status = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    let requested = opt_int(obj, &["spec", "expirationSeconds"])
        .map(|s| human_duration(chrono::TimeDelta::seconds(s)))
        .unwrap_or_else(|| "<none>".to_string());
    vec![
        json!(name(obj)),
        age(obj, now),
        json!(or_none(str_at(obj, &["spec", "signerName"]))),
        json!(str_at(obj, &["spec", "username"])),
        json!(requested),
        json!(status),
    ]
}

pub(crate) fn cluster_trust_bundle_columns() -> Vec<Column> {
    vec![name_col(), col("SignerName", "string", d::CTB_SIGNER)]
}

pub(crate) fn cluster_trust_bundle_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(or_none(str_at(obj, &["spec", "signerName"]))),
    ]
}

// ---------------------------------------------------------------- Coordination

pub(crate) fn lease_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Holder", "string", d::LEASE_HOLDER),
        age_col(),
    ]
}

pub(crate) fn lease_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "holderIdentity"])),
        age(obj, now),
    ]
}

pub(crate) fn lease_candidate_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("LeaseName", "string", d::LC_LEASE_NAME),
        // Upstream looks these descriptions up on ObjectMeta, where they don't exist.
        col("BinaryVersion", "string", ""),
        col("EmulationVersion", "string", ""),
        age_col(),
    ]
}

pub(crate) fn lease_candidate_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "leaseName"])),
        json!(str_at(obj, &["spec", "binaryVersion"])),
        json!(str_at(obj, &["spec", "emulationVersion"])),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- Storage

pub(crate) fn storage_class_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Provisioner", "string", d::SC_PROVISIONER),
        col("ReclaimPolicy", "string", d::SC_RECLAIM),
        col("VolumeBindingMode", "string", d::SC_BINDING_MODE),
        col("AllowVolumeExpansion", "string", d::SC_EXPANSION),
        age_col(),
    ]
}

pub(crate) fn storage_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let annotations = ["metadata", "annotations"];
    let is_default = |key: &str| {
        at(obj, &annotations)
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            == Some("true")
    };
    let mut n = name(obj).to_string();
    if is_default("storageclass.kubernetes.io/is-default-class")
        || is_default("storageclass.beta.kubernetes.io/is-default-class")
    {
        n.push_str(" (default)");
    }
    vec![
        json!(n),
        json!(str_at(obj, &["provisioner"])),
        json!(opt_str(obj, &["reclaimPolicy"]).unwrap_or("Delete")),
        json!(opt_str(obj, &["volumeBindingMode"]).unwrap_or("Immediate")),
        json!(bool_at(obj, &["allowVolumeExpansion"])),
        age(obj, now),
    ]
}

pub(crate) fn volume_attributes_class_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("DriverName", "string", d::VAC_DRIVER),
        age_col(),
    ]
}

pub(crate) fn volume_attributes_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut n = name(obj).to_string();
    let default = at(obj, &["metadata", "annotations"])
        .and_then(|a| a.get("volumeattributesclass.alpha.kubernetes.io/is-default-class"))
        .and_then(Value::as_str)
        == Some("true");
    if default {
        n.push_str(" (default)");
    }
    vec![json!(n), json!(str_at(obj, &["driverName"])), age(obj, now)]
}

pub(crate) fn volume_attachment_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Attacher", "string", d::VA_ATTACHER).with_format("name"),
        col("PV", "string", d::VA_PV),
        col("Node", "string", d::VA_NODE),
        col("Attached", "boolean", d::VA_ATTACHED),
        age_col(),
    ]
}

pub(crate) fn volume_attachment_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "attacher"])),
        json!(str_at(obj, &["spec", "source", "persistentVolumeName"])),
        json!(str_at(obj, &["spec", "nodeName"])),
        json!(bool_at(obj, &["status", "attached"])),
        age(obj, now),
    ]
}

pub(crate) fn csi_node_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Drivers",
            "integer",
            "Drivers indicates the number of CSI drivers registered on the node",
        ),
        age_col(),
    ]
}

pub(crate) fn csi_node_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(len_at(obj, &["spec", "drivers"])),
        age(obj, now),
    ]
}

pub(crate) fn csi_driver_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("AttachRequired", "boolean", d::CSID_ATTACH),
        col("PodInfoOnMount", "boolean", d::CSID_POD_INFO),
        col("StorageCapacity", "boolean", d::CSID_CAPACITY),
        col("TokenRequests", "string", d::CSID_TOKEN),
        col("RequiresRepublish", "boolean", d::CSID_REPUBLISH),
        col("Modes", "string", d::CSID_MODES),
        age_col(),
    ]
}

pub(crate) fn csi_driver_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let modes: Vec<&str> = arr_at(obj, &["spec", "volumeLifecycleModes"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let token_requests = match at(obj, &["spec", "tokenRequests"]).and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .map(|t| str_at(t, &["audience"]))
            .collect::<Vec<_>>()
            .join(","),
        None => "<unset>".to_string(),
    };
    vec![
        json!(name(obj)),
        json!(opt_bool(obj, &["spec", "attachRequired"]).unwrap_or(true)),
        json!(bool_at(obj, &["spec", "podInfoOnMount"])),
        json!(bool_at(obj, &["spec", "storageCapacity"])),
        json!(token_requests),
        json!(bool_at(obj, &["spec", "requiresRepublish"])),
        json!(or_none(&modes.join(","))),
        age(obj, now),
    ]
}

pub(crate) fn csi_storage_capacity_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("StorageClassName", "string", d::CSISC_CLASS),
        col("Capacity", "string", d::CSISC_CAPACITY),
    ]
}

pub(crate) fn csi_storage_capacity_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["storageClassName"])),
        json!(quantity::display(at(obj, &["capacity"]), "<unset>")),
    ]
}

pub(crate) fn storage_version_migration_columns() -> Vec<Column> {
    vec![
        Column::new("Name", "string", d::NAME),
        col("Resource", "string", "Fully qualified resource to migrate"),
    ]
}

pub(crate) fn storage_version_migration_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let r = |f: &str| str_at(obj, &["spec", "resource", f]);
    vec![
        json!(name(obj)),
        json!(format!("{}.{}.{}", r("resource"), r("version"), r("group"))),
    ]
}

// ---------------------------------------------------------------- Scheduling, node

pub(crate) fn priority_class_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Value", "integer", d::PC_VALUE),
        col("Global-Default", "boolean", d::PC_GLOBAL_DEFAULT),
        age_col(),
        wide(col("PreemptionPolicy", "string", d::PC_PREEMPTION)),
    ]
}

pub(crate) fn priority_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(int_at(obj, &["value"])),
        json!(bool_at(obj, &["globalDefault"])),
        age(obj, now),
        json!(str_at(obj, &["preemptionPolicy"])),
    ]
}

pub(crate) fn runtime_class_columns() -> Vec<Column> {
    // Upstream looks the Handler description up on ObjectMeta, finding nothing.
    vec![name_col(), col("Handler", "string", ""), age_col()]
}

pub(crate) fn runtime_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["handler"])),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- Discovery

pub(crate) fn endpoint_slice_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("AddressType", "string", d::ES_ADDRESS_TYPE),
        col("Ports", "string", d::ES_PORTS),
        col("Endpoints", "string", d::ES_ENDPOINTS),
        age_col(),
    ]
}

pub(crate) fn endpoint_slice_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ports: Vec<String> = arr_at(obj, &["ports"])
        .iter()
        .map(|p| {
            if let Some(n) = opt_int(p, &["port"]) {
                n.to_string()
            } else if let Some(n) = opt_str(p, &["name"]) {
                n.to_string()
            } else {
                "*".to_string()
            }
        })
        .collect();
    let addresses: Vec<String> = arr_at(obj, &["endpoints"])
        .iter()
        .flat_map(|e| arr_at(e, &["addresses"]).iter())
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["addressType"])),
        json!(list_with_more(ports)),
        json!(list_with_more(addresses)),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- Admission registration

pub(crate) fn webhook_configuration_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Webhooks",
            "integer",
            "Webhooks indicates the number of webhooks registered in this configuration",
        ),
        age_col(),
    ]
}

pub(crate) fn webhook_configuration_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(len_at(obj, &["webhooks"])),
        age(obj, now),
    ]
}

fn param_kind(obj: &Value) -> String {
    match at(obj, &["spec", "paramKind"]) {
        Some(p) => format!("{}/{}", str_at(p, &["apiVersion"]), str_at(p, &["kind"])),
        None => "<unset>".to_string(),
    }
}

pub(crate) fn validating_admission_policy_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Validations",
            "integer",
            "Validations indicates the number of validation rules defined in this configuration",
        ),
        col(
            "ParamKind",
            "string",
            "ParamKind specifies the kind of resources used to parameterize this policy",
        ),
        age_col(),
    ]
}

pub(crate) fn validating_admission_policy_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(len_at(obj, &["spec", "validations"])),
        json!(param_kind(obj)),
        age(obj, now),
    ]
}

pub(crate) fn mutating_admission_policy_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Mutations",
            "integer",
            "Mutation indicates the number of mutations rules defined in this configuration",
        ),
        col(
            "ParamKind",
            "string",
            "ParamKind specifies the kind of resources used to parameterize this policy",
        ),
        age_col(),
    ]
}

pub(crate) fn mutating_admission_policy_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(len_at(obj, &["spec", "mutations"])),
        json!(param_kind(obj)),
        age(obj, now),
    ]
}

pub(crate) fn admission_policy_binding_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "PolicyName",
            "string",
            "PolicyName indicates the policy definition which the policy binding binded to",
        ),
        col(
            "ParamRef",
            "string",
            "ParamRef indicates the param resource which sets the configration param",
        ),
        age_col(),
    ]
}

pub(crate) fn admission_policy_binding_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let param = match at(obj, &["spec", "paramRef"]) {
        Some(pr) => {
            let n = str_at(pr, &["name"]);
            let ns = str_at(pr, &["namespace"]);
            if !n.is_empty() {
                if ns.is_empty() {
                    format!("*/{n}")
                } else {
                    format!("{ns}/{n}")
                }
            } else if let Some(sel) = at(pr, &["selector"]) {
                go_struct_label_selector(sel)
            } else {
                "<unset>".to_string()
            }
        }
        None => "<unset>".to_string(),
    };
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "policyName"])),
        json!(param),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- Flow control

pub(crate) fn flow_schema_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("PriorityLevel", "string", d::FS_PL),
        col("MatchingPrecedence", "string", d::FS_PRECEDENCE),
        col("DistinguisherMethod", "string", d::FS_DISTINGUISHER),
        age_col(),
        col(
            "MissingPL",
            "string",
            "references a broken or non-existent PriorityLevelConfiguration",
        ),
    ]
}

pub(crate) fn flow_schema_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let distinguisher = match at(obj, &["spec", "distinguisherMethod"]) {
        Some(m) => str_at(m, &["type"]).to_string(),
        None => "<none>".to_string(),
    };
    let missing = arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Dangling")
        .map(|c| str_at(c, &["status"]).to_string())
        .unwrap_or_else(|| "?".to_string());
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "priorityLevelConfiguration", "name"])),
        json!(int_at(obj, &["spec", "matchingPrecedence"])),
        json!(distinguisher),
        age(obj, now),
        json!(missing),
    ]
}

pub(crate) fn priority_level_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Type", "string", d::PL_TYPE),
        col("NominalConcurrencyShares", "string", d::PL_NCS),
        col("Queues", "string", d::PL_QUEUES),
        col("HandSize", "string", d::PL_HAND_SIZE),
        col("QueueLengthLimit", "string", d::PL_QUEUE_LENGTH),
        age_col(),
    ]
}

pub(crate) fn priority_level_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let none = || json!("<none>");
    let (mut ncs, mut queues, mut hand, mut qll) = (none(), none(), none(), none());
    if let Some(limited) = at(obj, &["spec", "limited"]) {
        // nominalConcurrencyShares defaults to 30 in flowcontrol/v1.
        ncs = json!(opt_int(limited, &["nominalConcurrencyShares"]).unwrap_or(30));
        if let Some(qc) = at(limited, &["limitResponse", "queuing"]) {
            queues = json!(int_at(qc, &["queues"]));
            hand = json!(int_at(qc, &["handSize"]));
            qll = json!(int_at(qc, &["queueLengthLimit"]));
        }
    }
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "type"])),
        ncs,
        queues,
        hand,
        qll,
        age(obj, now),
    ]
}

pub(crate) fn storage_version_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("CommonEncodingVersion", "string", d::SV_COMMON),
        col("StorageVersions", "string", d::SV_VERSIONS),
        age_col(),
    ]
}

pub(crate) fn storage_version_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let versions: Vec<String> = arr_at(obj, &["status", "storageVersions"])
        .iter()
        .map(|v| {
            format!(
                "{}={}",
                str_at(v, &["apiServerID"]),
                str_at(v, &["encodingVersion"])
            )
        })
        .collect();
    vec![
        json!(name(obj)),
        json!(opt_str(obj, &["status", "commonEncodingVersion"]).unwrap_or("<unset>")),
        json!(list_with_more(versions)),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- Dynamic resource allocation

pub(crate) fn name_age_columns() -> Vec<Column> {
    vec![name_col(), age_col()]
}

pub(crate) fn name_age_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![json!(name(obj)), age(obj, now)]
}

pub(crate) fn resource_claim_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "State",
            "string",
            "A summary of the current state (allocated, pending, reserved, etc.).",
        ),
        age_col(),
    ]
}

pub(crate) fn resource_claim_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut states = Vec::new();
    let deleting = is_deleting(obj);
    if deleting {
        states.push("deleted");
    }
    if present(obj, &["status", "allocation"]) {
        states.push("allocated");
        if !arr_at(obj, &["status", "reservedFor"]).is_empty() {
            states.push("reserved");
        }
    } else if !deleting {
        states.push("pending");
    }
    vec![json!(name(obj)), json!(states.join(",")), age(obj, now)]
}

pub(crate) fn resource_slice_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Node", "string", d::RSL_NODE),
        col("Driver", "string", d::RSL_DRIVER),
        col("Pool", "string", d::RSL_POOL),
        age_col(),
    ]
}

pub(crate) fn resource_slice_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "nodeName"])),
        json!(str_at(obj, &["spec", "driver"])),
        json!(str_at(obj, &["spec", "pool", "name"])),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- APIService (kube-aggregator's own convertor)

pub(crate) fn api_service_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Service",
            "string",
            "The reference to the service that hosts this API endpoint.",
        ),
        col("Available", "string", "Whether this service is available."),
        age_col(),
    ]
}

pub(crate) fn api_service_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let service = match at(obj, &["spec", "service"]) {
        Some(s) => format!("{}/{}", str_at(s, &["namespace"]), str_at(s, &["name"])),
        None => "Local".to_string(),
    };
    let available = match arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Available")
    {
        Some(c) => {
            let status = str_at(c, &["status"]);
            let reason = str_at(c, &["reason"]);
            if status == "True" || reason.is_empty() {
                status.to_string()
            } else {
                format!("{status} ({reason})")
            }
        }
        None => "Unknown".to_string(),
    };
    vec![
        json!(name(obj)),
        json!(service),
        json!(available),
        age(obj, now),
    ]
}
