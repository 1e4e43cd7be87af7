//! minato-printers: server-side Table printing (`kubectl get` columns).
//!
//! Column sets and cell formats follow upstream Kubernetes v1.33:
//! `pkg/printers/internalversion` for built-in kinds, the apiserver's
//! default convertor (Name, Created At) for kinds without a printer, and
//! the apiextensions convertor for custom resources. Cells are generated as
//! the apiserver does, i.e. always including the `-o wide` (priority 1)
//! columns; kubectl hides those unless asked.

mod core;
mod descriptions;
mod duration;
mod jsonpath;
mod labels;
mod others;
mod quantity;
mod value;
mod workloads;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

pub use duration::{human_duration, short_human_duration};
pub use jsonpath::{EvalError, JsonPath, ParseError};
pub use labels::{format_label_selector, format_labels, label_selector_string, InvalidSelector};

/// A meta.k8s.io/v1 TableColumnDefinition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
}

impl Column {
    pub fn new(name: &str, type_: &str, description: &str) -> Column {
        Column {
            name: name.to_string(),
            type_: type_.to_string(),
            format: String::new(),
            description: description.to_string(),
            priority: 0,
        }
    }

    pub fn with_format(mut self, format: &str) -> Column {
        self.format = format.to_string();
        self
    }

    pub fn with_priority(mut self, priority: i32) -> Column {
        self.priority = priority;
        self
    }
}

/// One table row: its cells and the object it stands for (a
/// PartialObjectMetadata, the full object, or null, per `includeObject`).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<Value>,
    pub object: Value,
}

pub(crate) fn name_col() -> Column {
    Column::new("Name", "string", descriptions::NAME).with_format("name")
}

pub(crate) fn age_col() -> Column {
    Column::new("Age", "string", descriptions::CREATION_TIMESTAMP)
}

type ColumnsFn = fn() -> Vec<Column>;
type CellsFn = fn(&Value, DateTime<Utc>) -> Vec<Value>;

/// The upstream printer for a built-in kind, if it has one.
fn printer(group: &str, kind: &str) -> Option<(ColumnsFn, CellsFn)> {
    use crate::core as c;
    use others as o;
    use workloads as w;
    let p: (ColumnsFn, CellsFn) = match (group, kind) {
        ("", "Pod") => (c::pod_columns, c::pod_cells),
        ("", "PodTemplate") => (c::pod_template_columns, c::pod_template_cells),
        ("", "ReplicationController") => (
            c::replication_controller_columns,
            c::replication_controller_cells,
        ),
        ("", "Service") => (c::service_columns, c::service_cells),
        ("", "Endpoints") => (c::endpoints_columns, c::endpoints_cells),
        ("", "Node") => (c::node_columns, c::node_cells),
        ("", "Event") => (c::event_columns, c::event_cells),
        ("events.k8s.io", "Event") => (c::event_columns, c::events_api_event_cells),
        ("", "Namespace") => (c::namespace_columns, c::namespace_cells),
        ("", "Secret") => (c::secret_columns, c::secret_cells),
        ("", "ConfigMap") => (c::config_map_columns, c::config_map_cells),
        ("", "ServiceAccount") => (c::service_account_columns, c::service_account_cells),
        ("", "PersistentVolume") => (c::persistent_volume_columns, c::persistent_volume_cells),
        ("", "PersistentVolumeClaim") => (
            c::persistent_volume_claim_columns,
            c::persistent_volume_claim_cells,
        ),
        ("", "ComponentStatus") => (c::component_status_columns, c::component_status_cells),
        ("", "ResourceQuota") => (c::resource_quota_columns, c::resource_quota_cells),
        ("" | "meta.k8s.io", "Status") => (c::status_columns, c::status_cells),

        ("apps" | "extensions", "Deployment") => (w::deployment_columns, w::deployment_cells),
        ("apps" | "extensions", "ReplicaSet") => (w::replica_set_columns, w::replica_set_cells),
        ("apps" | "extensions", "DaemonSet") => (w::daemon_set_columns, w::daemon_set_cells),
        ("apps", "StatefulSet") => (w::stateful_set_columns, w::stateful_set_cells),
        ("apps", "ControllerRevision") => {
            (w::controller_revision_columns, w::controller_revision_cells)
        }
        ("batch", "Job") => (w::job_columns, w::job_cells),
        ("batch", "CronJob") => (w::cron_job_columns, w::cron_job_cells),
        ("autoscaling", "HorizontalPodAutoscaler") => (w::hpa_columns, w::hpa_cells),
        ("autoscaling", "Scale") => (w::scale_columns, w::scale_cells),
        ("policy", "PodDisruptionBudget") => (w::pdb_columns, w::pdb_cells),

        ("networking.k8s.io" | "extensions", "Ingress") => (o::ingress_columns, o::ingress_cells),
        ("networking.k8s.io", "IngressClass") => (o::ingress_class_columns, o::ingress_class_cells),
        ("networking.k8s.io" | "extensions", "NetworkPolicy") => {
            (o::network_policy_columns, o::network_policy_cells)
        }
        ("networking.k8s.io", "ServiceCIDR") => (o::service_cidr_columns, o::service_cidr_cells),
        ("networking.k8s.io", "IPAddress") => (o::ip_address_columns, o::ip_address_cells),
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            (o::role_binding_columns, o::role_binding_cells)
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            (o::cluster_role_binding_columns, o::role_binding_cells)
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => (o::csr_columns, o::csr_cells),
        ("certificates.k8s.io", "ClusterTrustBundle") => (
            o::cluster_trust_bundle_columns,
            o::cluster_trust_bundle_cells,
        ),
        ("coordination.k8s.io", "Lease") => (o::lease_columns, o::lease_cells),
        ("coordination.k8s.io", "LeaseCandidate") => {
            (o::lease_candidate_columns, o::lease_candidate_cells)
        }
        ("storage.k8s.io", "StorageClass") => (o::storage_class_columns, o::storage_class_cells),
        ("storage.k8s.io", "VolumeAttributesClass") => (
            o::volume_attributes_class_columns,
            o::volume_attributes_class_cells,
        ),
        ("storage.k8s.io", "VolumeAttachment") => {
            (o::volume_attachment_columns, o::volume_attachment_cells)
        }
        ("storage.k8s.io", "CSINode") => (o::csi_node_columns, o::csi_node_cells),
        ("storage.k8s.io", "CSIDriver") => (o::csi_driver_columns, o::csi_driver_cells),
        ("storage.k8s.io", "CSIStorageCapacity") => (
            o::csi_storage_capacity_columns,
            o::csi_storage_capacity_cells,
        ),
        ("storagemigration.k8s.io", "StorageVersionMigration") => (
            o::storage_version_migration_columns,
            o::storage_version_migration_cells,
        ),
        ("scheduling.k8s.io", "PriorityClass") => {
            (o::priority_class_columns, o::priority_class_cells)
        }
        ("node.k8s.io", "RuntimeClass") => (o::runtime_class_columns, o::runtime_class_cells),
        ("discovery.k8s.io", "EndpointSlice") => {
            (o::endpoint_slice_columns, o::endpoint_slice_cells)
        }
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => (
            o::webhook_configuration_columns,
            o::webhook_configuration_cells,
        ),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => (
            o::validating_admission_policy_columns,
            o::validating_admission_policy_cells,
        ),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy") => (
            o::mutating_admission_policy_columns,
            o::mutating_admission_policy_cells,
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicyBinding",
        ) => (
            o::admission_policy_binding_columns,
            o::admission_policy_binding_cells,
        ),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => {
            (o::flow_schema_columns, o::flow_schema_cells)
        }
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => {
            (o::priority_level_columns, o::priority_level_cells)
        }
        ("internal.apiserver.k8s.io", "StorageVersion") => {
            (o::storage_version_columns, o::storage_version_cells)
        }
        ("resource.k8s.io", "DeviceClass" | "ResourceClaimTemplate") => {
            (o::name_age_columns, o::name_age_cells)
        }
        ("resource.k8s.io", "ResourceClaim") => {
            (o::resource_claim_columns, o::resource_claim_cells)
        }
        ("resource.k8s.io", "ResourceSlice") => {
            (o::resource_slice_columns, o::resource_slice_cells)
        }
        ("apiregistration.k8s.io", "APIService") => (o::api_service_columns, o::api_service_cells),
        _ => return None,
    };
    Some(p)
}

/// Whether the kind has its own upstream printer (otherwise it gets the
/// default Name / Created At table).
pub fn has_printer(group: &str, kind: &str) -> bool {
    printer(group, kind).is_some()
}

/// The apiserver's default columns for kinds without a printer.
pub fn default_columns() -> Vec<Column> {
    vec![
        name_col(),
        Column::new("Created At", "date", descriptions::CREATION_TIMESTAMP),
    ]
}

/// Name and creation time as UTC RFC 3339 (the zero time when unset).
pub fn default_cells(obj: &Value) -> Vec<Value> {
    let created = value::time_at(obj, &["metadata", "creationTimestamp"])
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![json!(value::name(obj)), json!(created)]
}

/// Column definitions for a built-in kind (group "" is core).
pub fn columns(group: &str, kind: &str) -> Vec<Column> {
    match printer(group, kind) {
        Some((cols, _)) => cols(),
        None => default_columns(),
    }
}

/// Row cells for one object of a built-in kind, one per column of
/// [`columns`], formatted as upstream's server does; `now` anchors ages.
pub fn cells(group: &str, kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    match printer(group, kind) {
        Some((_, cells)) => cells(obj, now),
        None => default_cells(obj),
    }
}

/// Row conditions upstream attaches (a finished Pod is `Completed`);
/// empty for other kinds.
pub fn row_conditions(group: &str, kind: &str, obj: &Value) -> Vec<Value> {
    if group.is_empty() && kind == "Pod" {
        core::pod_row_conditions(obj)
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------- Custom resources

struct CrdColumn {
    column: Column,
    path: JsonPath,
}

/// The printer columns of a CRD version: `additionalPrinterColumns` (the
/// array, or a version object holding it). Without any, upstream serves a
/// single `Age` column. Like upstream, columns stop at the first JSONPath
/// that does not parse.
fn crd_printer_columns(apc: &Value) -> Vec<CrdColumn> {
    let list = match apc {
        Value::Object(o) => o
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        Value::Array(a) => a.as_slice(),
        _ => &[],
    };
    let default_age;
    let list = if list.is_empty() {
        default_age = [json!({
            "name": "Age",
            "type": "date",
            "description": descriptions::CREATION_TIMESTAMP,
            "jsonPath": ".metadata.creationTimestamp",
        })];
        &default_age[..]
    } else {
        list
    };
    let mut out = Vec::new();
    for c in list {
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
        let path_text = c
            .get("jsonPath")
            .or_else(|| c.get("JSONPath"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let Ok(path) = JsonPath::parse(path_text) else {
            break;
        };
        let description = if s("description").is_empty() {
            format!("Custom resource definition column (in JSONPath format): {path_text}")
        } else {
            s("description").to_string()
        };
        let priority = c
            .get("priority")
            .and_then(value::as_int)
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0);
        out.push(CrdColumn {
            column: Column::new(s("name"), s("type"), &description)
                .with_format(s("format"))
                .with_priority(priority),
            path,
        });
    }
    out
}

/// Columns of a custom resource: Name, then its printer columns.
pub fn crd_columns(additional_printer_columns: &Value) -> Vec<Column> {
    let mut cols = vec![name_col()];
    cols.extend(
        crd_printer_columns(additional_printer_columns)
            .into_iter()
            .map(|c| c.column),
    );
    cols
}

/// Go's fmt %v of a float64: shortest digits, exponent form below 1e-4 or
/// from 1e6 on (`1e+06`).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// Go's encoding/json rendering of a value: sorted keys, HTML-safe escapes.
fn go_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", go_json(&json!(k)), go_json(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(go_json).collect::<Vec<_>>().join(",")),
        Value::String(_) => v
            .to_string()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029"),
        other => other.to_string(),
    }
}

/// A `string` column's text, as client-go's jsonpath prints a result.
fn jsonpath_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".to_string(),
        Value::Number(n) if !n.is_i64() && !n.is_u64() => go_float(n.as_f64().unwrap_or(0.0)),
        Value::Object(_) | Value::Array(_) => go_json(v),
        other => other.to_string(),
    }
}

/// A printer column cell of a non-string type (null when the value has
/// another type).
fn crd_cell(type_: &str, v: &Value, now: DateTime<Utc>) -> Value {
    match (type_, v) {
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Value::from)
            .unwrap_or(Value::Null),
        ("number", Value::Number(n)) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        ("boolean", Value::Bool(b)) => json!(b),
        ("string", Value::String(s)) => json!(s),
        ("date", Value::String(s)) => {
            if s.is_empty() || s == "null" {
                json!("<unknown>")
            } else {
                match value::parse_time(s) {
                    Some(t) => json!(human_duration(now.signed_duration_since(t))),
                    None => json!("<invalid>"),
                }
            }
        }
        _ => Value::Null,
    }
}

/// Cells of a custom resource: its name, then each printer column's first
/// JSONPath match (null when nothing matches).
pub fn crd_cells(
    additional_printer_columns: &Value,
    obj: &Value,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let mut out = vec![json!(value::name(obj))];
    for c in crd_printer_columns(additional_printer_columns) {
        let first = match c.path.find(obj) {
            Ok(found) => found.first().copied(),
            Err(EvalError) => None,
        };
        let cell = match first {
            None => Value::Null,
            Some(v) if c.column.type_ == "string" => json!(jsonpath_text(v)),
            Some(v) => crd_cell(&c.column.type_, v, now),
        };
        out.push(cell);
    }
    out
}

// ---------------------------------------------------------------- Table

/// The object of a row when `includeObject` is `Metadata` (the default).
pub fn partial_object_metadata(obj: &Value) -> Value {
    let metadata = obj
        .get("metadata")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}

/// A meta.k8s.io/v1 Table. Without headers (watch events after the first)
/// `columnDefinitions` is null, as upstream serializes it.
pub fn table(
    columns: &[Column],
    rows: Vec<Row>,
    with_headers: bool,
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert("resourceVersion".into(), json!(resource_version));
    }
    if let Some(c) = continue_token.filter(|c| !c.is_empty()) {
        metadata.insert("continue".into(), json!(c));
    }
    let column_definitions = if with_headers {
        serde_json::to_value(columns).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|r| json!({"cells": r.cells, "object": r.object}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}
