//! Pod, PodTemplate, ReplicationController, apps/* and batch/* strategies, as upstream's
//! `pkg/registry/{core,apps,batch}/*/strategy.go` with their defaulting and validation.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::decode::decode_builtin;
use super::meta::{
    is_dns1123_label, validate_annotations, validate_label_selector, validate_labels,
    validate_nonnegative, validate_object_meta, validate_object_meta_update, NameRule,
};
use super::pod::{
    default_pod, default_pod_template, default_pvc_spec, pod_spec_warnings, qos_class,
    validate_pod_create, validate_pod_spec_update, validate_pod_status, validate_pod_template_spec,
};
use crate::field::{ErrorType, FieldError, FieldPath};
use crate::info::ResourceInfo;
use crate::strategy::{DecodeError, Decoded, Strategy, STATUS_WRITABLE_METADATA};

pub(crate) mod cron;
#[cfg(test)]
mod tests;
pub(crate) mod util;

use util::{
    arr_of, child_obj, default_ptr, default_str, go_label_selector, go_string_map, has, int_of,
    int_or_string_text, obj_of, raw_error, semantic_eq, str_of,
};

/// The workload kinds this module serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pod,
    PodTemplate,
    ReplicationController,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    ControllerRevision,
    Job,
    CronJob,
}

/// The strategy for a workload kind, or `None` for the generic one.
pub fn strategy_for(info: &ResourceInfo) -> Option<Arc<dyn Strategy>> {
    let kind = match (info.group.as_str(), info.kind.as_str()) {
        ("", "Pod") => Kind::Pod,
        ("", "PodTemplate") => Kind::PodTemplate,
        ("", "ReplicationController") => Kind::ReplicationController,
        ("apps", "Deployment") => Kind::Deployment,
        ("apps", "ReplicaSet") => Kind::ReplicaSet,
        ("apps", "StatefulSet") => Kind::StatefulSet,
        ("apps", "DaemonSet") => Kind::DaemonSet,
        ("apps", "ControllerRevision") => Kind::ControllerRevision,
        ("batch", "Job") => Kind::Job,
        ("batch", "CronJob") => Kind::CronJob,
        _ => return None,
    };
    Some(Arc::new(WorkloadStrategy {
        kind,
        group: info.group.clone(),
        version: info.version.clone(),
        kind_name: info.kind.clone(),
    }))
}

/// One strategy type for every workload kind; behaviour is picked by `kind`.
pub struct WorkloadStrategy {
    kind: Kind,
    group: String,
    version: String,
    kind_name: String,
}

impl WorkloadStrategy {
    /// A strategy for `kind` at its storage version (tests and callers outside the registry).
    pub fn new(kind: Kind) -> Self {
        let (group, kind_name) = match kind {
            Kind::Pod => ("", "Pod"),
            Kind::PodTemplate => ("", "PodTemplate"),
            Kind::ReplicationController => ("", "ReplicationController"),
            Kind::Deployment => ("apps", "Deployment"),
            Kind::ReplicaSet => ("apps", "ReplicaSet"),
            Kind::StatefulSet => ("apps", "StatefulSet"),
            Kind::DaemonSet => ("apps", "DaemonSet"),
            Kind::ControllerRevision => ("apps", "ControllerRevision"),
            Kind::Job => ("batch", "Job"),
            Kind::CronJob => ("batch", "CronJob"),
        };
        WorkloadStrategy {
            kind,
            group: group.to_string(),
            version: "v1".to_string(),
            kind_name: kind_name.to_string(),
        }
    }

    /// The status a new object starts with: upstream resets it, and Go writes the status
    /// fields that have no `omitempty` as zeros.
    fn initial_status(&self, obj: &Value) -> Option<Value> {
        Some(match self.kind {
            Kind::Pod => {
                let spec = obj.get("spec").unwrap_or(&Value::Null);
                let mut status = json!({"phase": "Pending", "qosClass": qos_class(spec)});
                if !arr_of(spec, "schedulingGates").is_empty() {
                    status["conditions"] = json!([{
                        "type": "PodScheduled",
                        "status": "False",
                        "lastProbeTime": null,
                        "lastTransitionTime": null,
                        "reason": "SchedulingGated",
                        "message": "Scheduling is blocked due to non-empty scheduling gates",
                    }]);
                }
                status
            }
            Kind::ReplicationController | Kind::ReplicaSet => json!({"replicas": 0}),
            Kind::StatefulSet => json!({"replicas": 0, "availableReplicas": 0}),
            Kind::DaemonSet => json!({
                "currentNumberScheduled": 0,
                "numberMisscheduled": 0,
                "desiredNumberScheduled": 0,
                "numberReady": 0,
            }),
            Kind::Deployment | Kind::Job | Kind::CronJob => json!({}),
            Kind::PodTemplate | Kind::ControllerRevision => return None,
        })
    }

    fn name_rule(&self) -> NameRule {
        match self.kind {
            // Pod hostnames come from StatefulSet names (upstream 1.3x: DNS label).
            Kind::StatefulSet => NameRule::Dns1123Label,
            _ => NameRule::Dns1123Subdomain,
        }
    }

    fn validate_spec(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let null = Value::Null;
        let spec = obj.get("spec").unwrap_or(&null);
        let old_spec = old.map(|o| o.get("spec").unwrap_or(&null));
        let path = FieldPath::new("spec");
        match self.kind {
            Kind::Pod => validate_pod_create(obj),
            Kind::PodTemplate => validate_pod_template_spec(
                obj.get("template").unwrap_or(&null),
                &FieldPath::new("template"),
            ),
            Kind::ReplicationController => validate_rc_spec(spec, &path),
            Kind::Deployment => validate_deployment_spec(spec, &path),
            Kind::ReplicaSet => validate_replica_set_spec(spec, &path),
            Kind::DaemonSet => validate_daemon_set_spec(spec, &path),
            Kind::StatefulSet => validate_stateful_set_spec(spec, &path),
            Kind::ControllerRevision => validate_controller_revision(obj),
            Kind::Job => {
                let mut errs = validate_generated_selector(obj);
                errs.extend(validate_job_spec(spec, &path, true));
                errs
            }
            Kind::CronJob => validate_cron_job_spec(spec, old_spec, &path),
        }
    }
}

impl Strategy for WorkloadStrategy {
    fn decode(&self, obj: Value) -> Result<Decoded, DecodeError> {
        decode_builtin(&self.group, &self.version, &self.kind_name, obj)
    }

    fn apply_defaults(&self, obj: &mut Value) {
        match self.kind {
            Kind::Pod => default_pod(obj),
            Kind::PodTemplate => {
                if let Some(t) = obj.get_mut("template") {
                    default_pod_template(t);
                }
            }
            Kind::ReplicationController => default_rc(obj),
            Kind::Deployment => default_deployment(obj),
            Kind::ReplicaSet => default_replicas_and_template(obj),
            Kind::DaemonSet => default_daemon_set(obj),
            Kind::StatefulSet => default_stateful_set(obj),
            Kind::Job => default_job(obj),
            Kind::CronJob => default_cron_job(obj),
            Kind::ControllerRevision => {}
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(status) = self.initial_status(obj) {
            if let Some(m) = obj.as_object_mut() {
                m.insert("status".into(), status);
            }
        }
        if self.kind == Kind::Job {
            let manual = obj
                .pointer("/spec/manualSelector")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !manual {
                generate_job_selector(obj);
            }
            // Upstream re-defaults on every read from storage, so a Job without labels
            // shows its template's (now generated) labels.
            default_job_labels(obj);
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if matches!(self.kind, Kind::PodTemplate | Kind::ControllerRevision) {
            return;
        }
        if let Some(m) = new.as_object_mut() {
            match old.get("status") {
                Some(s) => m.insert("status".into(), s.clone()),
                None => m.remove("status"),
            };
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let null = Value::Null;
        let meta = obj.get("metadata").unwrap_or(&null);
        let mut errs =
            validate_object_meta(meta, true, self.name_rule(), &FieldPath::new("metadata"));
        errs.extend(self.validate_spec(obj, None));
        errs.extend(self.extra_create_checks(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let null = Value::Null;
        let mut errs = validate_object_meta_update(
            new.get("metadata").unwrap_or(&null),
            old.get("metadata").unwrap_or(&null),
            &FieldPath::new("metadata"),
        );
        let spec_path = FieldPath::new("spec");
        let new_spec = new.get("spec").unwrap_or(&null);
        let old_spec = old.get("spec").unwrap_or(&null);
        match self.kind {
            Kind::Pod => errs.extend(validate_pod_spec_update(new, old)),
            Kind::Deployment | Kind::ReplicaSet | Kind::DaemonSet => {
                errs.extend(self.validate_spec(new, Some(old)));
                errs.extend(immutable_selector(new_spec, old_spec, &spec_path));
            }
            Kind::ReplicationController | Kind::PodTemplate => {
                errs.extend(self.validate_spec(new, Some(old)));
            }
            Kind::StatefulSet => {
                errs.extend(self.validate_spec(new, Some(old)));
                errs.extend(validate_stateful_set_update(new_spec, old_spec, &spec_path));
            }
            Kind::ControllerRevision => {
                errs.extend(validate_controller_revision(new));
                if !semantic_eq(
                    new.get("data").unwrap_or(&null),
                    old.get("data").unwrap_or(&null),
                ) {
                    errs.push(FieldError::invalid(
                        &FieldPath::new("data"),
                        new.get("data").cloned().unwrap_or(Value::Null),
                        "field is immutable",
                    ));
                }
            }
            Kind::Job => {
                errs.extend(validate_job_spec(new_spec, &spec_path, true));
                errs.extend(validate_job_update(new, old, &spec_path));
            }
            Kind::CronJob => errs.extend(self.validate_spec(new, Some(old))),
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        let null = Value::Null;
        let mut errs = Vec::new();
        let status = new.get("status").unwrap_or(&null);
        if self.kind == Kind::Pod {
            errs.extend(validate_pod_status(status));
            return errs;
        }
        // Workload statuses: every counter is non-negative (ValidateXStatus).
        if let Some(m) = status.as_object() {
            for (k, v) in m {
                if let Some(n) = v.as_i64() {
                    errs.extend(validate_nonnegative(n, &FieldPath::new("status").child(k)));
                }
            }
        }
        errs
    }

    fn warnings(&self, obj: &Value) -> Vec<String> {
        let null = Value::Null;
        match self.kind {
            Kind::Pod => {
                let mut w = Vec::new();
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let msgs = is_dns1123_label(name);
                if !name.is_empty() && !msgs.is_empty() {
                    w.push(format!(
                        "metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is recommended: [{}]",
                        msgs.join(" ")
                    ));
                }
                w.extend(crate::kinds::pod::pod_metadata_warnings(
                    obj.get("metadata").unwrap_or(&null),
                    &FieldPath::new("metadata"),
                ));
                w.extend(pod_spec_warnings(
                    obj.get("spec").unwrap_or(&null),
                    &FieldPath::new("spec"),
                ));
                w
            }
            Kind::PodTemplate => pod_spec_warnings(
                obj.pointer("/template/spec").unwrap_or(&null),
                &FieldPath::new("template").child("spec"),
            ),
            Kind::CronJob => pod_spec_warnings(
                obj.pointer("/spec/jobTemplate/spec/template/spec")
                    .unwrap_or(&null),
                &FieldPath::new("spec")
                    .child("jobTemplate")
                    .child("spec")
                    .child("template")
                    .child("spec"),
            ),
            Kind::ControllerRevision => Vec::new(),
            _ => pod_spec_warnings(
                obj.pointer("/spec/template/spec").unwrap_or(&null),
                &FieldPath::new("spec").child("template").child("spec"),
            ),
        }
    }

    fn status_writable_metadata(&self) -> &'static [&'static str] {
        // Upstream's Deployment status strategy resets spec and labels (its controller writes the
        // revision annotation together with the status); the Pod's resets spec and
        // ownerReferences, "since old kubelets corrupt them"; the others reset only the spec.
        match self.kind {
            Kind::Deployment => &["annotations", "finalizers", "ownerReferences"],
            Kind::Pod => &["labels", "annotations", "finalizers"],
            _ => STATUS_WRITABLE_METADATA,
        }
    }

    fn tracks_generation(&self) -> bool {
        // Pods have metadata.generation since upstream 1.33.
        !matches!(self.kind, Kind::PodTemplate | Kind::ControllerRevision)
    }
}

impl WorkloadStrategy {
    fn extra_create_checks(&self, obj: &Value) -> Vec<FieldError> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        match self.kind {
            // The CronJob controller appends an 11-character suffix to Job names.
            Kind::CronJob if name.len() > 52 => vec![FieldError::invalid(
                &FieldPath::new("metadata").child("name"),
                name,
                "must be no more than 52 characters",
            )],
            Kind::Job => {
                let spec = obj.get("spec").unwrap_or(&Value::Null);
                let completions = int_of(spec, "completions").unwrap_or(0);
                if str_of(spec, "completionMode") == "Indexed" && completions > 0 {
                    let host = format!("{name}-{}", completions - 1);
                    if !is_dns1123_label(&host).is_empty() {
                        return vec![FieldError::invalid(
                            &FieldPath::new("metadata").child("name"),
                            name,
                            format!("will not able to create pod with invalid DNS label: {host}"),
                        )];
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

// =============================================================================================
// Defaulting
// =============================================================================================

fn spec_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    obj.get_mut("spec").and_then(Value::as_object_mut)
}

fn default_template_at(spec: &mut Map<String, Value>) {
    if let Some(t) = spec.get_mut("template") {
        default_pod_template(t);
    }
}

fn default_replicas_and_template(obj: &mut Value) {
    if let Some(spec) = spec_mut(obj) {
        default_ptr(spec, "replicas", json!(1));
        default_template_at(spec);
    }
}

/// `SetDefaults_ReplicationController`: selector and labels from the template's labels.
fn default_rc(obj: &mut Value) {
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.is_object())
        .cloned();
    if let Some(labels) = labels {
        if let Some(spec) = spec_mut(obj) {
            if obj_of_map(spec, "selector").is_none_or(Map::is_empty) {
                spec.insert("selector".into(), labels.clone());
            }
        }
        set_labels_if_empty(obj, labels);
    }
    default_replicas_and_template(obj);
}

fn obj_of_map<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    m.get(key).and_then(Value::as_object)
}

fn set_labels_if_empty(obj: &mut Value, labels: Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let Some(meta) = child_obj(root, "metadata") else {
        return;
    };
    if obj_of_map(meta, "labels").is_none_or(Map::is_empty) {
        meta.insert("labels".into(), labels);
    }
}

fn default_deployment(obj: &mut Value) {
    let Some(spec) = spec_mut(obj) else {
        return;
    };
    default_ptr(spec, "replicas", json!(1));
    if let Some(strategy) = child_obj(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = child_obj(strategy, "rollingUpdate") {
                default_ptr(ru, "maxUnavailable", json!("25%"));
                default_ptr(ru, "maxSurge", json!("25%"));
            }
        }
    }
    default_ptr(spec, "revisionHistoryLimit", json!(10));
    default_ptr(spec, "progressDeadlineSeconds", json!(600));
    default_template_at(spec);
}

fn default_daemon_set(obj: &mut Value) {
    let Some(spec) = spec_mut(obj) else {
        return;
    };
    if let Some(strategy) = child_obj(spec, "updateStrategy") {
        default_str(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = child_obj(strategy, "rollingUpdate") {
                default_ptr(ru, "maxUnavailable", json!(1));
                default_ptr(ru, "maxSurge", json!(0));
            }
        }
    }
    default_ptr(spec, "revisionHistoryLimit", json!(10));
    default_template_at(spec);
}

fn default_stateful_set(obj: &mut Value) {
    let Some(spec) = spec_mut(obj) else {
        return;
    };
    default_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(strategy) = child_obj(spec, "updateStrategy") {
        if strategy
            .get("type")
            .is_none_or(|t| t.is_null() || t.as_str() == Some(""))
        {
            strategy.insert("type".into(), json!("RollingUpdate"));
            default_ptr(strategy, "rollingUpdate", json!({}));
        }
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = strategy
                .get_mut("rollingUpdate")
                .and_then(Value::as_object_mut)
            {
                default_ptr(ru, "partition", json!(0));
            }
        }
    }
    if let Some(policy) = child_obj(spec, "persistentVolumeClaimRetentionPolicy") {
        default_str(policy, "whenDeleted", "Retain");
        default_str(policy, "whenScaled", "Retain");
    }
    default_ptr(spec, "replicas", json!(1));
    default_ptr(spec, "revisionHistoryLimit", json!(10));
    default_template_at(spec);
    if let Some(vcts) = spec
        .get_mut("volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    {
        for pvc in vcts.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(s) = pvc.get_mut("spec").and_then(Value::as_object_mut) {
                default_pvc_spec(s);
            }
            if let Some(status) = child_obj(pvc, "status") {
                default_str(status, "phase", "Pending");
            }
        }
    }
}

/// `SetDefaults_Job` (1.33: pod replacement policy and manualSelector included).
fn default_job(obj: &mut Value) {
    if let Some(spec) = spec_mut(obj) {
        if spec.get("completions").is_none_or(Value::is_null)
            && spec.get("parallelism").is_none_or(Value::is_null)
        {
            spec.insert("completions".into(), json!(1));
            spec.insert("parallelism".into(), json!(1));
        }
        default_ptr(spec, "parallelism", json!(1));
        let backoff = if has_map(spec, "backoffLimitPerIndex") {
            i64::from(i32::MAX)
        } else {
            6
        };
        default_ptr(spec, "backoffLimit", json!(backoff));
        default_ptr(spec, "completionMode", json!("NonIndexed"));
        default_ptr(spec, "suspend", json!(false));
        if let Some(pfp) = spec
            .get_mut("podFailurePolicy")
            .and_then(Value::as_object_mut)
        {
            for rule in super::workloads::util::each_obj_mut(pfp, "rules") {
                for pattern in super::workloads::util::each_obj_mut(rule, "onPodConditions") {
                    default_str(pattern, "status", "True");
                }
            }
        }
        let replacement = if has_map(spec, "podFailurePolicy") {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        default_ptr(spec, "podReplacementPolicy", json!(replacement));
        default_ptr(spec, "manualSelector", json!(false));
        default_template_at(spec);
    }
    default_job_labels(obj);
}

fn has_map(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).is_some_and(|v| !v.is_null())
}

fn default_job_labels(obj: &mut Value) {
    if let Some(labels) = obj
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.is_object())
        .cloned()
    {
        set_labels_if_empty(obj, labels);
    }
}

fn default_cron_job(obj: &mut Value) {
    let Some(spec) = spec_mut(obj) else {
        return;
    };
    default_str(spec, "concurrencyPolicy", "Allow");
    default_ptr(spec, "suspend", json!(false));
    default_ptr(spec, "successfulJobsHistoryLimit", json!(3));
    default_ptr(spec, "failedJobsHistoryLimit", json!(1));
    // The job template gets the PodSpec defaults, not SetDefaults_Job (that is for Jobs).
    if let Some(t) = spec
        .get_mut("jobTemplate")
        .and_then(|j| j.get_mut("spec"))
        .and_then(|s| s.get_mut("template"))
    {
        default_pod_template(t);
    }
}

const JOB_NAME_LABELS: [&str; 2] = ["job-name", "batch.kubernetes.io/job-name"];
const CONTROLLER_UID_LABELS: [&str; 2] = ["controller-uid", "batch.kubernetes.io/controller-uid"];
const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";

/// The job strategy's `generateSelector`: labels the template with the Job's name and uid and
/// selects on the uid (metadata.uid is assigned before this runs).
fn generate_job_selector(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = spec_mut(obj) else {
        return;
    };
    if let Some(labels) = child_obj(spec, "template")
        .and_then(|t| child_obj(t, "metadata"))
        .and_then(|m| child_obj(m, "labels"))
    {
        for key in JOB_NAME_LABELS {
            labels.entry(key).or_insert_with(|| json!(name));
        }
        for key in CONTROLLER_UID_LABELS {
            labels.entry(key).or_insert_with(|| json!(uid));
        }
    }
    if let Some(ml) = child_obj(spec, "selector").and_then(|s| child_obj(s, "matchLabels")) {
        ml.entry(CONTROLLER_UID_LABEL).or_insert_with(|| json!(uid));
    }
}

// =============================================================================================
// Validation
// =============================================================================================

/// The selector, `None` when unset. The typed decode writes a required struct field that was
/// left out as `{}`, so a selector with no keys at all counts as unset (upstream's nil); one
/// with empty `matchLabels` is an empty selector.
fn selector_of(spec: &Value) -> Option<&Value> {
    spec.get("selector")
        .filter(|s| !s.is_null() && !s.as_object().is_some_and(Map::is_empty))
}

fn template_labels(spec: &Value) -> Option<&Value> {
    spec.pointer("/template/metadata/labels")
        .filter(|l| !l.is_null())
}

fn labels_match(selector: &Value, labels: Option<&Value>) -> bool {
    super::meta::selector_matches(selector, labels.unwrap_or(&Value::Null))
}

fn selector_mismatch(spec: &Value, path: &FieldPath) -> FieldError {
    raw_error(
        ErrorType::Invalid,
        &path.child("template").child("metadata").child("labels"),
        &go_string_map(template_labels(spec)),
        "`selector` does not match template `labels`",
    )
}

/// Selector required and non-empty; errors for `kind` ("deployment", "statefulset", …).
fn validate_required_selector(spec: &Value, path: &FieldPath, kind: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let p = path.child("selector");
    match selector_of(spec) {
        None => errs.push(FieldError::required(&p, "")),
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &p));
            let n = obj_of(sel, "matchLabels").map_or(0, Map::len)
                + arr_of(sel, "matchExpressions").len();
            if n == 0 {
                errs.push(raw_error(
                    ErrorType::Invalid,
                    &p,
                    &go_label_selector(sel),
                    &format!("empty selector is invalid for {kind}"),
                ));
            }
        }
    }
    errs
}

/// `ValidatePodTemplateSpecForReplicaSet` (also Deployment and DaemonSet templates): the
/// selector (nil selects nothing) matches the labels, the template is valid, restartPolicy is
/// Always and activeDeadlineSeconds unset.
fn validate_template_for_replicas(spec: &Value, path: &FieldPath, owner: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let tpath = path.child("template");
    let Some(template) = spec.get("template").filter(|t| !t.is_null()) else {
        return vec![FieldError::required(&tpath, "")];
    };
    let matches = selector_of(spec).is_some_and(|s| labels_match(s, template_labels(spec)));
    if !matches {
        errs.push(selector_mismatch(spec, path));
    }
    errs.extend(validate_pod_template_spec(template, &tpath));
    let rp = template
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            &tpath.child("spec").child("restartPolicy"),
            rp,
            &["Always"],
        ));
    }
    if template
        .pointer("/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        errs.push(FieldError::forbidden(
            &tpath.child("spec").child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {owner} is not Supported"),
        ));
    }
    errs
}

fn nonneg(spec: &Value, key: &str, path: &FieldPath) -> Vec<FieldError> {
    int_of(spec, key)
        .map(|v| validate_nonnegative(v, &path.child(key)))
        .unwrap_or_default()
}

fn validate_deployment_spec(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = nonneg(spec, "replicas", path);
    errs.extend(validate_required_selector(spec, path, "deployment"));
    errs.extend(validate_template_for_replicas(spec, path, "ReplicaSet"));
    errs.extend(validate_deployment_strategy(spec, &path.child("strategy")));
    errs.extend(nonneg(spec, "minReadySeconds", path));
    errs.extend(nonneg(spec, "revisionHistoryLimit", path));
    if let Some(pds) = int_of(spec, "progressDeadlineSeconds") {
        errs.extend(validate_nonnegative(
            pds,
            &path.child("progressDeadlineSeconds"),
        ));
        if pds <= int_of(spec, "minReadySeconds").unwrap_or(0) {
            errs.push(FieldError::invalid(
                &path.child("progressDeadlineSeconds"),
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

/// An int-or-percent: `Some((value, is_percent))`, `None` when a string is not a percentage.
fn int_or_percent(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::Number(n) => n.as_i64().map(|i| (i, false)),
        Value::String(s) => {
            let digits = s.strip_suffix('%')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok().map(|i| (i, true))
        }
        Value::Null => Some((0, false)),
        _ => None,
    }
}

fn validate_positive_int_or_percent(v: &Value, path: &FieldPath) -> Vec<FieldError> {
    match v {
        Value::String(_) => match int_or_percent(v) {
            Some(_) => Vec::new(),
            None => vec![raw_error(
                ErrorType::Invalid,
                path,
                &int_or_string_text(v),
                "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            )],
        },
        _ => validate_nonnegative(v.as_i64().unwrap_or(0), path),
    }
}

fn validate_not_more_than_100_percent(v: &Value, path: &FieldPath) -> Vec<FieldError> {
    match int_or_percent(v) {
        Some((p, true)) if p > 100 => vec![raw_error(
            ErrorType::Invalid,
            path,
            &int_or_string_text(v),
            "must not be greater than 100%",
        )],
        _ => Vec::new(),
    }
}

fn validate_deployment_strategy(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let null = Value::Null;
    let strategy = spec.get("strategy").unwrap_or(&null);
    let ru = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    match str_of(strategy, "type") {
        "Recreate" => match ru {
            Some(_) => vec![FieldError::forbidden(
                &path.child("rollingUpdate"),
                "may not be specified when strategy `type` is 'Recreate'",
            )],
            None => Vec::new(),
        },
        "RollingUpdate" => match ru {
            None => vec![FieldError::required(
                &path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )],
            Some(ru) => {
                let rp = path.child("rollingUpdate");
                let mu = ru.get("maxUnavailable").unwrap_or(&null);
                let ms = ru.get("maxSurge").unwrap_or(&null);
                let mut errs = validate_positive_int_or_percent(mu, &rp.child("maxUnavailable"));
                errs.extend(validate_positive_int_or_percent(ms, &rp.child("maxSurge")));
                let zero = |v: &Value| int_or_percent(v).is_some_and(|(n, _)| n == 0);
                if zero(mu) && zero(ms) {
                    errs.push(raw_error(
                        ErrorType::Invalid,
                        &rp.child("maxUnavailable"),
                        &int_or_string_text(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                errs.extend(validate_not_more_than_100_percent(
                    mu,
                    &rp.child("maxUnavailable"),
                ));
                errs
            }
        },
        other => {
            let ru_text = if ru.is_some() {
                "(*apps.RollingUpdateDeployment)(0xc000000000)"
            } else {
                "(*apps.RollingUpdateDeployment)(nil)"
            };
            vec![FieldError::new(
                ErrorType::NotSupported,
                path,
                None,
                format!(
                    "apps.DeploymentStrategy{{Type:{}, RollingUpdate:{ru_text}}}: supported values: \"Recreate\", \"RollingUpdate\"",
                    util::go_quote(other)
                ),
            )]
        }
    }
}

fn validate_replica_set_spec(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = nonneg(spec, "replicas", path);
    errs.extend(nonneg(spec, "minReadySeconds", path));
    errs.extend(validate_required_selector(spec, path, "deployment"));
    errs.extend(validate_template_for_replicas(spec, path, "ReplicaSet"));
    errs
}

/// `ValidateReplicationControllerSpec`: the selector is a plain map.
fn validate_rc_spec(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = nonneg(spec, "minReadySeconds", path);
    let selector = obj_of(spec, "selector");
    if selector.is_none_or(Map::is_empty) {
        errs.push(FieldError::required(&path.child("selector"), ""));
    } else if let Some(s) = spec.get("selector") {
        errs.extend(validate_labels(s, &path.child("selector")));
    }
    errs.extend(nonneg(spec, "replicas", path));
    let tpath = path.child("template");
    let Some(template) = spec.get("template").filter(|t| !t.is_null()) else {
        errs.push(FieldError::required(&tpath, ""));
        return errs;
    };
    if let Some(sel) = selector.filter(|s| !s.is_empty()) {
        let labels = template_labels(spec);
        let ok = sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)).and_then(Value::as_str) == v.as_str());
        if !ok {
            errs.push(selector_mismatch(spec, path));
        }
    }
    errs.extend(validate_pod_template_spec(template, &tpath));
    let rp = template
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            &tpath.child("spec").child("restartPolicy"),
            rp,
            &["Always"],
        ));
    }
    if template
        .pointer("/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        errs.push(FieldError::forbidden(
            &tpath.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ));
    }
    errs
}

fn validate_daemon_set_spec(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = validate_required_selector(spec, path, "daemonset");
    errs.extend(validate_template_for_replicas(spec, path, "DaemonSet"));
    errs.extend(nonneg(spec, "minReadySeconds", path));
    errs.extend(nonneg(spec, "templateGeneration", path));
    let null = Value::Null;
    let strategy = spec.get("updateStrategy").unwrap_or(&null);
    let sp = path.child("updateStrategy");
    match str_of(strategy, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match strategy.get("rollingUpdate").filter(|v| !v.is_null()) {
            None => errs.push(FieldError::required(&sp.child("rollingUpdate"), "")),
            Some(ru) => {
                let rp = sp.child("rollingUpdate");
                let mu = ru.get("maxUnavailable").unwrap_or(&null);
                let ms = ru.get("maxSurge").unwrap_or(&null);
                errs.extend(validate_positive_int_or_percent(
                    mu,
                    &rp.child("maxUnavailable"),
                ));
                errs.extend(validate_positive_int_or_percent(ms, &rp.child("maxSurge")));
                let zero = |v: &Value| int_or_percent(v).is_some_and(|(n, _)| n == 0);
                if zero(mu) && zero(ms) {
                    errs.push(raw_error(
                        ErrorType::Invalid,
                        &rp.child("maxUnavailable"),
                        &int_or_string_text(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                errs.extend(validate_not_more_than_100_percent(
                    mu,
                    &rp.child("maxUnavailable"),
                ));
                errs.extend(validate_not_more_than_100_percent(
                    ms,
                    &rp.child("maxSurge"),
                ));
            }
        },
        "" => errs.push(FieldError::required(&sp.child("type"), "")),
        other => errs.push(FieldError::not_supported(
            &sp.child("type"),
            other,
            &["OnDelete", "RollingUpdate"],
        )),
    }
    errs.extend(nonneg(spec, "revisionHistoryLimit", path));
    errs
}

fn validate_stateful_set_spec(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match str_of(spec, "podManagementPolicy") {
        "" => errs.push(FieldError::required(&path.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            &path.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let null = Value::Null;
    let strategy = spec.get("updateStrategy").unwrap_or(&null);
    let sp = path.child("updateStrategy");
    let ru = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    match str_of(strategy, "type") {
        "" => errs.push(FieldError::required(&sp, "")),
        "OnDelete" => {
            if let Some(ru) = ru {
                errs.push(FieldError::invalid(
                    &sp.child("rollingUpdate"),
                    ru.clone(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = ru {
                let rp = sp.child("rollingUpdate");
                errs.extend(nonneg(ru, "partition", &rp));
                if let Some(mu) = ru.get("maxUnavailable").filter(|v| !v.is_null()) {
                    errs.extend(validate_positive_int_or_percent(
                        mu,
                        &rp.child("maxUnavailable"),
                    ));
                    if int_or_percent(mu).is_some_and(|(n, _)| n == 0) {
                        errs.push(raw_error(
                            ErrorType::Invalid,
                            &rp.child("maxUnavailable"),
                            &int_or_string_text(mu),
                            "must be greater than 0",
                        ));
                    }
                    errs.extend(validate_not_more_than_100_percent(
                        mu,
                        &rp.child("maxUnavailable"),
                    ));
                }
            }
        }
        other => errs.push(FieldError::invalid(
            &sp,
            strategy.clone(),
            format!("must be 'RollingUpdate' or 'OnDelete' (got {other:?})"),
        )),
    }
    if let Some(policy) = spec
        .get("persistentVolumeClaimRetentionPolicy")
        .filter(|v| !v.is_null())
    {
        let pp = path.child("persistentVolumeClaimRetentionPolicy");
        for key in ["whenDeleted", "whenScaled"] {
            let v = str_of(policy, key);
            if v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(
                    &pp.child(key),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(nonneg(spec, "replicas", path));
    errs.extend(nonneg(spec, "minReadySeconds", path));
    if let Some(start) = spec.pointer("/ordinals/start").and_then(Value::as_i64) {
        errs.extend(validate_nonnegative(start, &path.child("ordinals.start")));
    }
    errs.extend(validate_required_selector(spec, path, "statefulset"));
    // Upstream checks only the template's labels and annotations here: the PodSpec is
    // validated when the controller creates the Pods (volumes come from the claim templates).
    let tpath = path.child("template");
    match spec.get("template").filter(|t| !t.is_null()) {
        None => errs.push(FieldError::required(&tpath, "")),
        Some(template) => {
            let matches = selector_of(spec).is_some_and(|s| labels_match(s, template_labels(spec)));
            if !matches {
                errs.push(selector_mismatch(spec, path));
            }
            if let Some(l) = template.pointer("/metadata/labels") {
                errs.extend(validate_labels(l, &tpath.child("labels")));
            }
            if let Some(a) = template.pointer("/metadata/annotations") {
                errs.extend(validate_annotations(a, &tpath.child("annotations")));
            }
        }
    }
    let rp = spec
        .pointer("/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            &tpath.child("spec").child("restartPolicy"),
            rp,
            &["Always"],
        ));
    }
    if spec
        .pointer("/template/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        errs.push(FieldError::forbidden(
            &tpath.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
    errs
}

/// Only replicas, ordinals, template, updateStrategy, revisionHistoryLimit,
/// persistentVolumeClaimRetentionPolicy and minReadySeconds may change.
fn validate_stateful_set_update(new: &Value, old: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut a = new.clone();
    let mut b = old.clone();
    for v in [&mut a, &mut b] {
        if let Some(m) = v.as_object_mut() {
            for key in [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ] {
                m.remove(key);
            }
        }
    }
    if semantic_eq(&a, &b) {
        Vec::new()
    } else {
        vec![FieldError::forbidden(
            path,
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        )]
    }
}

fn immutable_selector(new: &Value, old: &Value, path: &FieldPath) -> Vec<FieldError> {
    let null = Value::Null;
    let n = new.get("selector").unwrap_or(&null);
    let o = old.get("selector").unwrap_or(&null);
    if semantic_eq(n, o) {
        return Vec::new();
    }
    let text = if n.is_null() {
        "null".to_string()
    } else {
        go_label_selector(n)
    };
    vec![raw_error(
        ErrorType::Invalid,
        &path.child("selector"),
        &text,
        "field is immutable",
    )]
}

fn validate_controller_revision(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !has(obj, "data") {
        errs.push(FieldError::required(
            &FieldPath::new("data"),
            "data is mandatory",
        ));
    }
    if let Some(r) = int_of(obj, "revision") {
        errs.extend(validate_nonnegative(r, &FieldPath::new("revision")));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Jobs and CronJobs
// ---------------------------------------------------------------------------------------------

/// `validateGeneratedSelector`: a generated selector must select the uid labels.
fn validate_generated_selector(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return errs;
    }
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let labels = template_labels(spec);
    let mpath = FieldPath::new("spec").child("template").child("metadata");
    for (key, expected) in [
        (CONTROLLER_UID_LABELS[1], uid),
        (JOB_NAME_LABELS[1], name),
        (CONTROLLER_UID_LABELS[0], uid),
        (JOB_NAME_LABELS[0], name),
    ] {
        let p = mpath.child("labels").key(key);
        match labels.and_then(|l| l.get(key)).and_then(Value::as_str) {
            None => errs.push(FieldError::required(&p, format!("must be '{expected}'"))),
            Some(v) if v != expected => errs.push(raw_error(
                ErrorType::Invalid,
                &p,
                &go_string_map(labels),
                &format!("must be '{expected}'"),
            )),
            _ => {}
        }
    }
    if let Some(sel) = selector_of(spec) {
        let expected = json!({CONTROLLER_UID_LABEL: uid, CONTROLLER_UID_LABELS[0]: uid});
        if !labels_match(sel, Some(&expected)) {
            errs.push(raw_error(
                ErrorType::Invalid,
                &FieldPath::new("spec").child("selector"),
                &go_label_selector(sel),
                "`selector` not auto-generated",
            ));
        }
    }
    errs
}

/// `ValidateJobSpec`; `with_selector` is false inside a CronJob's job template.
fn validate_job_spec(spec: &Value, path: &FieldPath, with_selector: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for key in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ] {
        errs.extend(nonneg(spec, key, path));
    }
    if has(spec, "completionMode") {
        let mode = str_of(spec, "completionMode");
        if mode != "NonIndexed" && mode != "Indexed" {
            errs.push(FieldError::not_supported(
                &path.child("completionMode"),
                mode,
                &["NonIndexed", "Indexed"],
            ));
        }
        if mode == "Indexed" {
            if !has(spec, "completions") {
                errs.push(FieldError::required(
                    &path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = int_of(spec, "parallelism").filter(|p| *p > 100_000) {
                errs.push(FieldError::invalid(
                    &path.child("parallelism"),
                    p,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                ));
            }
        }
    }
    if has(spec, "podReplacementPolicy") {
        let prp = str_of(spec, "podReplacementPolicy");
        if prp != "TerminatingOrFailed" && prp != "Failed" {
            errs.push(FieldError::not_supported(
                &path.child("podReplacementPolicy"),
                prp,
                &["TerminatingOrFailed", "Failed"],
            ));
        }
    }
    let tpath = path.child("template");
    let null = Value::Null;
    let template = spec.get("template").unwrap_or(&null);
    errs.extend(validate_pod_template_spec(template, &tpath));
    let rp = template
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "OnFailure" && rp != "Never" {
        errs.push(FieldError::not_supported(
            &tpath.child("spec").child("restartPolicy"),
            rp,
            &["OnFailure", "Never"],
        ));
    }
    if with_selector {
        match selector_of(spec) {
            None => errs.push(FieldError::required(&path.child("selector"), "")),
            Some(sel) => errs.extend(validate_label_selector(sel, &path.child("selector"))),
        }
        let matches = selector_of(spec).is_some_and(|s| labels_match(s, template_labels(spec)));
        if !matches {
            errs.push(selector_mismatch(spec, path));
        }
    }
    errs
}

fn immutable(new: &Value, old: &Value, key: &str, path: &FieldPath) -> Vec<FieldError> {
    let null = Value::Null;
    let n = new.get(key).unwrap_or(&null);
    if semantic_eq(n, old.get(key).unwrap_or(&null)) {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            &path.child(key),
            n.clone(),
            "field is immutable",
        )]
    }
}

/// `ValidateJobSpecUpdate`: most of the spec is immutable; a suspended Job that never started
/// may change its template's scheduling directives.
fn validate_job_update(new: &Value, old: &Value, path: &FieldPath) -> Vec<FieldError> {
    let null = Value::Null;
    let ns = new.get("spec").unwrap_or(&null);
    let os = old.get("spec").unwrap_or(&null);
    let mut errs = Vec::new();
    for key in [
        "completions",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ] {
        errs.extend(immutable(ns, os, key, path));
    }
    let sel_n = ns.get("selector").unwrap_or(&null);
    if !semantic_eq(sel_n, os.get("selector").unwrap_or(&null)) {
        errs.push(raw_error(
            ErrorType::Invalid,
            &path.child("selector"),
            &go_label_selector(sel_n),
            "field is immutable",
        ));
    }
    let mut old_template = os.get("template").cloned().unwrap_or(Value::Null);
    let new_template = ns.get("template").cloned().unwrap_or(Value::Null);
    let suspended_never_started = os.get("suspend").and_then(Value::as_bool) == Some(true)
        && old.pointer("/status/startTime").is_none_or(Value::is_null);
    if suspended_never_started {
        for p in [
            "/spec/nodeSelector",
            "/spec/tolerations",
            "/spec/schedulingGates",
            "/spec/affinity/nodeAffinity",
            "/metadata/labels",
            "/metadata/annotations",
        ] {
            copy_pointer(&new_template, &mut old_template, p);
        }
        // An affinity left empty by moving nodeAffinity over may be cleared.
        let empty_affinity = old_template
            .pointer("/spec/affinity")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty);
        if empty_affinity && new_template.pointer("/spec/affinity").is_none() {
            if let Some(spec) = old_template.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("affinity");
            }
        }
    }
    if !semantic_eq(&new_template, &old_template) {
        errs.push(FieldError::invalid(
            &path.child("template"),
            new_template,
            "field is immutable",
        ));
    }
    errs.extend(immutable(ns, os, "completionMode", path));
    errs
}

/// Sets the value at pointer `p` in `to` to the one in `from` (removing it when `from` has
/// none); parents are created only when there is something to set.
fn copy_pointer(from: &Value, to: &mut Value, p: &str) {
    let parts: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let source = from.pointer(p).filter(|v| !v.is_null());
    let mut cur = to;
    for part in parents {
        let Some(m) = cur.as_object_mut() else {
            return;
        };
        if source.is_none() && !m.contains_key(*part) {
            return;
        }
        let slot = m.entry((*part).to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        cur = slot;
    }
    if let Some(m) = cur.as_object_mut() {
        match source {
            Some(v) => m.insert((*last).to_string(), v.clone()),
            None => m.remove(*last),
        };
    }
}

fn validate_cron_job_spec(
    spec: &Value,
    old_spec: Option<&Value>,
    path: &FieldPath,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let schedule = str_of(spec, "schedule");
    let sp = path.child("schedule");
    if schedule.is_empty() {
        errs.push(FieldError::required(&sp, ""));
    } else {
        let allow_tz = old_spec.is_some_and(|o| str_of(o, "schedule").contains("TZ"));
        if let Err(e) = cron::parse_standard(schedule) {
            errs.push(FieldError::invalid(&sp, schedule, e));
        }
        if allow_tz && schedule.contains("TZ") && has(spec, "timeZone") {
            errs.push(FieldError::invalid(
                &sp,
                schedule,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                &sp,
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    errs.extend(nonneg(spec, "startingDeadlineSeconds", path));
    let tz_changed = old_spec.is_none_or(|o| o.get("timeZone") != spec.get("timeZone"));
    if tz_changed {
        errs.extend(cron::validate_time_zone(
            spec.get("timeZone"),
            &path.child("timeZone"),
        ));
    }
    match str_of(spec, "concurrencyPolicy") {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required(&path.child("concurrencyPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("concurrencyPolicy"),
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let jp = path.child("jobTemplate");
    let null = Value::Null;
    let job_spec = spec.pointer("/jobTemplate/spec").unwrap_or(&null);
    errs.extend(validate_job_spec(job_spec, &jp.child("spec"), false));
    if let Some(sel) = selector_of(job_spec) {
        errs.push(raw_error(
            ErrorType::Invalid,
            &jp.child("spec").child("selector"),
            &go_label_selector(sel),
            "`selector` will be auto-generated",
        ));
    }
    if job_spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(raw_error(
            ErrorType::NotSupported,
            &jp.child("spec").child("manualSelector"),
            "true",
            "supported values: \"nil\", \"false\"",
        ));
    }
    errs.extend(nonneg(spec, "successfulJobsHistoryLimit", path));
    errs.extend(nonneg(spec, "failedJobsHistoryLimit", path));
    errs
}
