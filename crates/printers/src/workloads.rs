//! Printers for apps, batch, autoscaling and policy kinds.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::descriptions as d;
use crate::duration::human_duration;
use crate::labels::{format_label_selector, format_labels, label_selector_string};
use crate::quantity;
use crate::value::*;
use crate::{age_col, name_col, Column};

fn col(name: &str, type_: &str, desc: &str) -> Column {
    Column::new(name, type_, desc)
}

fn wide(c: Column) -> Column {
    c.with_priority(1)
}

fn containers_col() -> Column {
    wide(col(
        "Containers",
        "string",
        "Names of each container in the template.",
    ))
}

fn images_col() -> Column {
    wide(col(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    ))
}

fn template_containers(obj: &Value) -> (Value, Value) {
    containers_cells(arr_at(obj, &["spec", "template", "spec", "containers"]))
}

/// spec.replicas defaults to 1 for every replicated workload upstream.
fn desired_replicas(obj: &Value) -> i64 {
    opt_int(obj, &["spec", "replicas"]).unwrap_or(1)
}

// ---------------------------------------------------------------- Deployment

pub(crate) fn deployment_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Ready", "string", "Number of the pod with ready state"),
        col("Up-to-date", "string", d::DEPLOY_UPDATED),
        col("Available", "string", d::DEPLOY_AVAILABLE),
        age_col(),
        containers_col(),
        images_col(),
        wide(col("Selector", "string", d::DEPLOY_SELECTOR)),
    ]
}

pub(crate) fn deployment_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    // Unlike other kinds, upstream prints the raw selector string here.
    let selector = label_selector_string(at(obj, &["spec", "selector"]))
        .unwrap_or_else(|_| "<invalid>".to_string());
    vec![
        json!(name(obj)),
        json!(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        json!(int_at(obj, &["status", "updatedReplicas"])),
        json!(int_at(obj, &["status", "availableReplicas"])),
        age(obj, now),
        names,
        images,
        json!(selector),
    ]
}

// ---------------------------------------------------------------- ReplicaSet

pub(crate) fn replica_set_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Desired", "integer", d::RS_SPEC_REPLICAS),
        col("Current", "integer", d::RS_STATUS_REPLICAS),
        col("Ready", "integer", d::RS_STATUS_READY),
        age_col(),
        containers_col(),
        images_col(),
        wide(col("Selector", "string", d::RS_SPEC_SELECTOR)),
    ]
}

pub(crate) fn replica_set_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        json!(name(obj)),
        json!(desired_replicas(obj)),
        json!(int_at(obj, &["status", "replicas"])),
        json!(int_at(obj, &["status", "readyReplicas"])),
        age(obj, now),
        names,
        images,
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

// ---------------------------------------------------------------- DaemonSet

pub(crate) fn daemon_set_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Desired", "integer", d::DS_DESIRED),
        col("Current", "integer", d::DS_CURRENT),
        col("Ready", "integer", d::DS_READY),
        col("Up-to-date", "integer", d::DS_UPDATED),
        col("Available", "integer", d::DS_AVAILABLE),
        col("Node Selector", "string", d::POD_NODE_SELECTOR),
        age_col(),
        containers_col(),
        images_col(),
        wide(col("Selector", "string", d::DS_SELECTOR)),
    ]
}

pub(crate) fn daemon_set_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        json!(name(obj)),
        json!(int_at(obj, &["status", "desiredNumberScheduled"])),
        json!(int_at(obj, &["status", "currentNumberScheduled"])),
        json!(int_at(obj, &["status", "numberReady"])),
        json!(int_at(obj, &["status", "updatedNumberScheduled"])),
        json!(int_at(obj, &["status", "numberAvailable"])),
        json!(format_labels(at(
            obj,
            &["spec", "template", "spec", "nodeSelector"]
        ))),
        age(obj, now),
        names,
        images,
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

// ---------------------------------------------------------------- StatefulSet

pub(crate) fn stateful_set_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Ready", "string", "Number of the pod with ready state"),
        age_col(),
        containers_col(),
        images_col(),
    ]
}

pub(crate) fn stateful_set_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        json!(name(obj)),
        json!(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        age(obj, now),
        names,
        images,
    ]
}

// ---------------------------------------------------------------- Job

pub(crate) fn job_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Status", "string", "Status of the job."),
        col("Completions", "string", d::JOB_SUCCEEDED),
        col("Duration", "string", "Time required to complete the job."),
        age_col(),
        containers_col(),
        images_col(),
        wide(col("Selector", "string", d::JOB_SELECTOR)),
    ]
}

/// The first condition of that type decides (upstream hasJobCondition).
fn has_condition(obj: &Value, type_: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

pub(crate) fn job_status(obj: &Value) -> &'static str {
    if has_condition(obj, "Complete") {
        "Complete"
    } else if has_condition(obj, "Failed") {
        "Failed"
    } else if is_deleting(obj) {
        "Terminating"
    } else if has_condition(obj, "Suspended") {
        "Suspended"
    } else if has_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

pub(crate) fn job_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    let completions = match opt_int(obj, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int_at(obj, &["spec", "parallelism"]);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = time_at(obj, &["status", "startTime"]);
    let duration = match (start, time_at(obj, &["status", "completionTime"])) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration(now.signed_duration_since(s)),
        (Some(s), Some(c)) => human_duration(c.signed_duration_since(s)),
    };
    let (names, images) = template_containers(obj);
    vec![
        json!(name(obj)),
        json!(job_status(obj)),
        json!(completions),
        json!(duration),
        age(obj, now),
        names,
        images,
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

// ---------------------------------------------------------------- CronJob

pub(crate) fn cron_job_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Schedule", "string", d::CJ_SCHEDULE),
        col("Timezone", "string", d::CJ_TIMEZONE),
        col("Suspend", "boolean", d::CJ_SUSPEND),
        col("Active", "integer", d::CJ_ACTIVE),
        col("Last Schedule", "string", d::CJ_LAST_SCHEDULE),
        age_col(),
        containers_col(),
        images_col(),
        wide(col("Selector", "string", d::JOB_SELECTOR)),
    ]
}

pub(crate) fn cron_job_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last_schedule = if present(obj, &["status", "lastScheduleTime"]) {
        since(time_at(obj, &["status", "lastScheduleTime"]), now)
    } else {
        "<none>".to_string()
    };
    // spec.suspend defaults to false upstream.
    let suspend = if opt_bool(obj, &["spec", "suspend"]).unwrap_or(false) {
        "True"
    } else {
        "False"
    };
    let job_spec = at(obj, &["spec", "jobTemplate", "spec"]).unwrap_or(&Value::Null);
    let (names, images) = containers_cells(arr_at(job_spec, &["template", "spec", "containers"]));
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "schedule"])),
        json!(opt_str(obj, &["spec", "timeZone"]).unwrap_or("<none>")),
        json!(suspend),
        json!(len_at(obj, &["status", "active"])),
        json!(last_schedule),
        age(obj, now),
        names,
        images,
        json!(format_label_selector(at(job_spec, &["selector"]))),
    ]
}

// ---------------------------------------------------------------- HorizontalPodAutoscaler

pub(crate) fn hpa_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Reference", "string", d::HPA_REF),
        col("Targets", "string", d::HPA_METRICS),
        col("MinPods", "string", d::HPA_MIN),
        col("MaxPods", "string", d::HPA_MAX),
        col("Replicas", "string", d::HPA_CURRENT),
        age_col(),
    ]
}

fn q(v: &Value, path: &[&str]) -> String {
    quantity::display(at(v, path), "<nil>")
}

/// One metric's `current/target` text (formatHPAMetrics).
fn format_metric(spec: &Value, status: Option<&Value>) -> String {
    let unknown = || "<unknown>".to_string();
    let status_of = |key: &str| status.and_then(|s| at(s, &[key]));
    match str_at(spec, &["type"]) {
        "External" | "Object" => {
            let key = if str_at(spec, &["type"]) == "External" {
                "external"
            } else {
                "object"
            };
            let target = at(spec, &[key, "target"]).unwrap_or(&Value::Null);
            let current = status_of(key);
            if present(target, &["averageValue"]) {
                let cur = current
                    .filter(|c| present(c, &["current", "averageValue"]))
                    .map(|c| q(c, &["current", "averageValue"]))
                    .unwrap_or_else(unknown);
                format!("{cur}/{} (avg)", q(target, &["averageValue"]))
            } else {
                let cur = current
                    .map(|c| q(c, &["current", "value"]))
                    .unwrap_or_else(unknown);
                format!("{cur}/{}", q(target, &["value"]))
            }
        }
        "Pods" => {
            let cur = status_of("pods")
                .map(|c| q(c, &["current", "averageValue"]))
                .unwrap_or_else(unknown);
            format!("{cur}/{}", q(spec, &["pods", "target", "averageValue"]))
        }
        "Resource" | "ContainerResource" => {
            let key = if str_at(spec, &["type"]) == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let source = at(spec, &[key]).unwrap_or(&Value::Null);
            let resource = str_at(source, &["name"]);
            let current = status_of(key);
            if present(source, &["target", "averageValue"]) {
                let cur = current
                    .map(|c| q(c, &["current", "averageValue"]))
                    .unwrap_or_else(unknown);
                format!(
                    "{resource}: {cur}/{}",
                    q(source, &["target", "averageValue"])
                )
            } else {
                let cur = current
                    .and_then(|c| opt_int(c, &["current", "averageUtilization"]))
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(unknown);
                let target = opt_int(source, &["target", "averageUtilization"])
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(|| "<auto>".to_string());
                format!("{resource}: {cur}/{target}")
            }
        }
        _ => "<unknown type>".to_string(),
    }
}

/// Metric specs and statuses; autoscaling/v1 objects carry only a CPU
/// utilization target, which upstream converts to one Resource metric.
fn hpa_metrics(obj: &Value) -> (Vec<Value>, Vec<Value>) {
    let specs = arr_at(obj, &["spec", "metrics"]);
    if specs.is_empty() {
        if let Some(target) = opt_int(obj, &["spec", "targetCPUUtilizationPercentage"]) {
            let spec = json!({"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": target}}});
            let statuses = match opt_int(obj, &["status", "currentCPUUtilizationPercentage"]) {
                Some(cur) => vec![json!({"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": cur}}})],
                None => Vec::new(),
            };
            return (vec![spec], statuses);
        }
    }
    (
        specs.to_vec(),
        arr_at(obj, &["status", "currentMetrics"]).to_vec(),
    )
}

pub(crate) fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 2;
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| format_metric(spec, statuses.get(i)))
        .collect();
    if list.len() > MAX {
        format!("{} + {} more...", list[..MAX].join(", "), list.len() - MAX)
    } else {
        list.join(", ")
    }
}

pub(crate) fn hpa_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        str_at(obj, &["spec", "scaleTargetRef", "kind"]),
        str_at(obj, &["spec", "scaleTargetRef", "name"])
    );
    let (specs, statuses) = hpa_metrics(obj);
    // spec.minReplicas defaults to 1 upstream.
    let min = opt_int(obj, &["spec", "minReplicas"]).unwrap_or(1);
    vec![
        json!(name(obj)),
        json!(reference),
        json!(format_hpa_metrics(&specs, &statuses)),
        json!(min.to_string()),
        json!(int_at(obj, &["spec", "maxReplicas"])),
        json!(int_at(obj, &["status", "currentReplicas"])),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- PodDisruptionBudget

pub(crate) fn pdb_columns() -> Vec<Column> {
    vec![
        name_col(),
        col(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        col(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        col(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        age_col(),
    ]
}

pub(crate) fn pdb_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let field = |f: &str| {
        at(obj, &["spec", f])
            .map(int_or_string)
            .unwrap_or_else(|| "N/A".to_string())
    };
    vec![
        json!(name(obj)),
        json!(field("minAvailable")),
        json!(field("maxUnavailable")),
        json!(int_at(obj, &["status", "disruptionsAllowed"])),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------- ControllerRevision, Scale

pub(crate) fn controller_revision_columns() -> Vec<Column> {
    vec![
        name_col(),
        col("Controller", "string", "Controller of the object"),
        col("Revision", "string", d::CR_REVISION),
        age_col(),
    ]
}

pub(crate) fn controller_revision_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let controller = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| bool_at(r, &["controller"]))
        .map(|r| {
            let kind = str_at(r, &["kind"]);
            let api_version = str_at(r, &["apiVersion"]);
            let group = match api_version.split_once('/') {
                Some((g, _)) => g,
                None => "",
            };
            let name = str_at(r, &["name"]);
            match (kind.is_empty(), group.is_empty()) {
                (true, true) => name.to_string(),
                (_, true) => format!("{}/{name}", kind.to_lowercase()),
                _ => format!("{}.{}/{name}", kind.to_lowercase(), group.to_lowercase()),
            }
        })
        .unwrap_or_else(|| "<none>".to_string());
    vec![
        json!(name(obj)),
        json!(controller),
        json!(int_at(obj, &["revision"])),
        age(obj, now),
    ]
}

pub(crate) fn scale_columns() -> Vec<Column> {
    vec![
        Column::new("Name", "string", d::NAME),
        col("Desired", "integer", d::SCALE_SPEC_REPLICAS),
        col("Available", "integer", d::SCALE_STATUS_REPLICAS),
        age_col(),
    ]
}

pub(crate) fn scale_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(int_at(obj, &["spec", "replicas"])),
        json!(int_at(obj, &["status", "replicas"])),
        age(obj, now),
    ]
}
