//! policy, scheduling, storage, coordination, rbac, admissionregistration, node,
//! certificates, events.k8s.io (validation in `events`) and the review kinds.

use serde_json::{json, Value};

use super::util::{
    arr, default_field, each_obj_mut, get, immutable, int, invalid_all, map, s, strings,
};
use super::{Hooks, Spec};
use crate::field::{FieldError, FieldPath};
use crate::info::ResourceInfo;
use crate::kinds::meta::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, regex_error,
    validate_label_selector, validate_path_segment_name, NameRule,
};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

pub(super) fn spec(info: &ResourceInfo) -> Option<Spec> {
    let h = Hooks::default();
    let review = || Spec {
        name_rule: Some(NameRule::Any),
        hooks: Hooks {
            validate: validate_review,
            validate_meta: false,
            ..Hooks::default()
        },
        ..Spec::default()
    };
    let spec = match (info.group.as_str(), info.kind.as_str()) {
        ("policy", "PodDisruptionBudget") => Spec {
            generation: true,
            initial_status: Some(
                |_| json!({"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}),
            ),
            hooks: Hooks {
                validate: validate_pdb,
                ..h
            },
            ..Spec::default()
        },
        ("scheduling.k8s.io", "PriorityClass") => Spec {
            hooks: Hooks {
                defaults: |o| {
                    default_field(o, "", "preemptionPolicy", json!("PreemptLowerPriority"))
                },
                validate: validate_priority_class,
                validate_update: validate_priority_class_update,
                ..h
            },
            ..Spec::default()
        },
        ("storage.k8s.io", "StorageClass") => Spec {
            hooks: Hooks {
                defaults: |o| {
                    default_field(o, "", "reclaimPolicy", json!("Delete"));
                    default_field(o, "", "volumeBindingMode", json!("Immediate"));
                },
                validate: validate_storage_class,
                validate_update: validate_storage_class_update,
                ..h
            },
            ..Spec::default()
        },
        ("storage.k8s.io", "CSIDriver") => Spec {
            hooks: Hooks {
                defaults: csi_driver_defaults,
                ..h
            },
            ..Spec::default()
        },
        ("storage.k8s.io", "VolumeAttachment") => Spec {
            // Upstream resets all of ResetObjectMetaForStatus's fields on status writes.
            status_metadata: Some(&[]),
            hooks: Hooks {
                validate: validate_volume_attachment,
                validate_update: |n, o| immutable(n, o, "/spec", &FieldPath::new("spec")),
                ..h
            },
            ..Spec::default()
        },
        ("node.k8s.io", "RuntimeClass") => Spec {
            hooks: Hooks {
                validate: |o| {
                    let handler = s(o, "/handler");
                    invalid_all(
                        &FieldPath::new("handler"),
                        handler,
                        is_dns1123_label(handler),
                    )
                },
                validate_update: |n, o| immutable(n, o, "/handler", &FieldPath::new("handler")),
                ..h
            },
            ..Spec::default()
        },
        ("coordination.k8s.io", "Lease") => Spec {
            hooks: Hooks {
                validate: validate_lease,
                ..h
            },
            ..Spec::default()
        },
        (RBAC_GROUP, "Role" | "ClusterRole") => Spec {
            name_rule: Some(NameRule::PathSegment),
            hooks: Hooks {
                validate: if info.kind == "Role" {
                    validate_role
                } else {
                    validate_cluster_role
                },
                ..h
            },
            ..Spec::default()
        },
        (RBAC_GROUP, "RoleBinding" | "ClusterRoleBinding") => Spec {
            name_rule: Some(NameRule::PathSegment),
            hooks: Hooks {
                defaults: binding_defaults,
                validate: if info.kind == "RoleBinding" {
                    validate_role_binding
                } else {
                    validate_cluster_role_binding
                },
                validate_update: |n, o| {
                    if n.get("roleRef") != o.get("roleRef") {
                        vec![FieldError::invalid(
                            &FieldPath::new("roleRef"),
                            n.get("roleRef").cloned().unwrap_or(Value::Null),
                            "cannot change roleRef",
                        )]
                    } else {
                        Vec::new()
                    }
                },
                ..h
            },
            ..Spec::default()
        },
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => Spec {
            hooks: Hooks {
                defaults: if info.kind.starts_with("Mutating") {
                    mutating_webhook_defaults
                } else {
                    webhook_defaults
                },
                validate: validate_webhooks,
                ..h
            },
            ..Spec::default()
        },
        ("certificates.k8s.io", "CertificateSigningRequest") => Spec {
            hooks: Hooks {
                validate: validate_csr,
                ..h
            },
            ..Spec::default()
        },
        ("events.k8s.io", "Event") => Spec {
            hooks: Hooks {
                validate: super::events::validate_events_v1,
                validate_update: super::events::validate_events_v1_update,
                update_skips_create_rules: true,
                convert: super::events::convert,
                ..h
            },
            ..Spec::default()
        },
        ("authentication.k8s.io" | "authorization.k8s.io", _) => review(),
        _ => return None,
    };
    Some(spec)
}

// ---------------------------------------------------------------------------------------------
// PodDisruptionBudget
// ---------------------------------------------------------------------------------------------

const PERCENT_FMT: &str = "[0-9]+%";

fn int_or_percent(v: &Value, p: &FieldPath) -> Vec<FieldError> {
    match v {
        Value::String(st) => {
            let digits = st.strip_suffix('%').unwrap_or("");
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return vec![FieldError::invalid(
                    p,
                    st.as_str(),
                    regex_error(
                        "a valid percent string must be a numeric string followed by an ending '%'",
                        PERCENT_FMT,
                        &["1%", "93%"],
                    ),
                )];
            }
            if digits.parse::<u64>().unwrap_or(u64::MAX) > 100 {
                return vec![FieldError::invalid(
                    p,
                    st.as_str(),
                    "must not be greater than 100%",
                )];
            }
            Vec::new()
        }
        Value::Number(n) => {
            let n = n.as_i64().unwrap_or(0);
            crate::kinds::meta::validate_nonnegative(n, p)
        }
        _ => Vec::new(),
    }
}

fn validate_pdb(o: &Value) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = Vec::new();
    let min = get(o, "/spec/minAvailable");
    let max = get(o, "/spec/maxUnavailable");
    if min.is_some() && max.is_some() {
        errs.push(FieldError::invalid(
            &spec,
            o.get("spec").cloned().unwrap_or(Value::Null),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    if let Some(v) = min {
        errs.extend(int_or_percent(v, &spec.child("minAvailable")));
    }
    if let Some(v) = max {
        errs.extend(int_or_percent(v, &spec.child("maxUnavailable")));
    }
    if let Some(sel) = get(o, "/spec/selector") {
        errs.extend(validate_label_selector(sel, &spec.child("selector")));
    }
    if let Some(p) = get(o, "/spec/unhealthyPodEvictionPolicy").and_then(Value::as_str) {
        if !["AlwaysAllow", "IfHealthyBudget"].contains(&p) {
            errs.push(FieldError::not_supported(
                &spec.child("unhealthyPodEvictionPolicy"),
                p,
                &["AlwaysAllow", "IfHealthyBudget"],
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// PriorityClass
// ---------------------------------------------------------------------------------------------

const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;
const SYSTEM_PRIORITY_CLASSES: &[(&str, i64)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

fn validate_priority_class(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = s(o, "/metadata/name");
    let value = int(o, "/value").unwrap_or(0);
    if name.starts_with("system-") {
        let problem = match SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name) {
            None => Some(format!("{name} is not a known system priority class")),
            Some((_, v)) if *v != value => {
                Some(format!("value of {name} PriorityClass must be {v}"))
            }
            Some(_) if o.get("globalDefault").and_then(Value::as_bool) == Some(true) => Some(
                format!("globalDefault of {name} PriorityClass must be false"),
            ),
            Some(_) => None,
        };
        if let Some(p) = problem {
            errs.push(FieldError::forbidden(
                &FieldPath::new("metadata").child("name"),
                format!("priority class names with 'system-' prefix are reserved for system use only. error: {p}"),
            ));
        }
    } else if value > HIGHEST_USER_PRIORITY {
        errs.push(FieldError::forbidden(
            &FieldPath::new("value"),
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
        ));
    }
    if let Some(p) = get(o, "/preemptionPolicy").and_then(Value::as_str) {
        if !["Never", "PreemptLowerPriority"].contains(&p) {
            errs.push(FieldError::not_supported(
                &FieldPath::new("preemptionPolicy"),
                p,
                &["Never", "PreemptLowerPriority"],
            ));
        }
    }
    errs
}

fn validate_priority_class_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if int(new, "/value") != int(old, "/value") {
        errs.push(FieldError::forbidden(
            &FieldPath::new("value"),
            "may not be changed in an update.",
        ));
    }
    errs.extend(immutable(
        new,
        old,
        "/preemptionPolicy",
        &FieldPath::new("preemptionPolicy"),
    ));
    errs
}

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

fn validate_storage_class(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let provisioner = s(o, "/provisioner");
    let pp = FieldPath::new("provisioner");
    if provisioner.is_empty() {
        errs.push(FieldError::required(&pp, ""));
    } else {
        let lower = provisioner.to_lowercase();
        errs.extend(invalid_all(&pp, &lower, is_qualified_name(&lower)));
    }
    if let Some(params) = map(o, "/parameters") {
        let mut total = 0usize;
        for (k, v) in params {
            if k.is_empty() {
                errs.push(FieldError::invalid(
                    &FieldPath::new("parameters"),
                    "",
                    "field can not be empty.",
                ));
            }
            total += k.len() + v.as_str().map(str::len).unwrap_or(0);
        }
        if total > 256 * 1024 {
            errs.push(FieldError::too_long(
                &FieldPath::new("parameters"),
                256 * 1024,
            ));
        }
    }
    if let Some(rp) = get(o, "/reclaimPolicy").and_then(Value::as_str) {
        if !rp.is_empty() && !["Delete", "Retain"].contains(&rp) {
            errs.push(FieldError::not_supported(
                &FieldPath::new("reclaimPolicy"),
                rp,
                &["Delete", "Retain"],
            ));
        }
    }
    match get(o, "/volumeBindingMode").and_then(Value::as_str) {
        None => errs.push(FieldError::required(
            &FieldPath::new("volumeBindingMode"),
            "",
        )),
        Some(m) if !["Immediate", "WaitForFirstConsumer"].contains(&m) => {
            errs.push(FieldError::not_supported(
                &FieldPath::new("volumeBindingMode"),
                m,
                &["Immediate", "WaitForFirstConsumer"],
            ));
        }
        _ => {}
    }
    errs
}

fn validate_storage_class_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let params = |v: &Value| {
        v.get("parameters")
            .filter(|p| !p.is_null())
            .cloned()
            .unwrap_or(json!({}))
    };
    if params(new) != params(old) {
        errs.push(FieldError::forbidden(
            &FieldPath::new("parameters"),
            "updates to parameters are forbidden.",
        ));
    }
    if s(new, "/provisioner") != s(old, "/provisioner") {
        errs.push(FieldError::forbidden(
            &FieldPath::new("provisioner"),
            "updates to provisioner are forbidden.",
        ));
    }
    if s(new, "/reclaimPolicy") != s(old, "/reclaimPolicy") {
        errs.push(FieldError::forbidden(
            &FieldPath::new("reclaimPolicy"),
            "updates to reclaimPolicy are forbidden.",
        ));
    }
    errs.extend(immutable(
        new,
        old,
        "/volumeBindingMode",
        &FieldPath::new("volumeBindingMode"),
    ));
    errs
}

fn csi_driver_defaults(o: &mut Value) {
    for (k, v) in [
        ("attachRequired", json!(true)),
        ("podInfoOnMount", json!(false)),
        ("requiresRepublish", json!(false)),
        ("storageCapacity", json!(false)),
        ("volumeLifecycleModes", json!(["Persistent"])),
        ("fsGroupPolicy", json!("ReadWriteOnceWithFSType")),
    ] {
        default_field(o, "/spec", k, v);
    }
}

fn validate_volume_attachment(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = FieldPath::new("spec");
    let attacher = s(o, "/spec/attacher");
    if attacher.is_empty() {
        errs.push(FieldError::required(&spec.child("attacher"), ""));
    }
    if s(o, "/spec/nodeName").is_empty() {
        errs.push(FieldError::required(&spec.child("nodeName"), ""));
    }
    let pv = get(o, "/spec/source/persistentVolumeName").is_some();
    let inline = get(o, "/spec/source/inlineVolumeSpec").is_some();
    if pv == inline {
        errs.push(FieldError::required(
            &spec.child("source"),
            "must specify exactly one of inlineVolumeSpec and persistentVolumeName",
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Lease
// ---------------------------------------------------------------------------------------------

fn validate_lease(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = FieldPath::new("spec");
    if let Some(d) = int(o, "/spec/leaseDurationSeconds").filter(|d| *d <= 0) {
        errs.push(FieldError::invalid(
            &spec.child("leaseDurationSeconds"),
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = int(o, "/spec/leaseTransitions").filter(|t| *t < 0) {
        errs.push(FieldError::invalid(
            &spec.child("leaseTransitions"),
            t,
            "must be greater than or equal to 0",
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// RBAC
// ---------------------------------------------------------------------------------------------

fn validate_rules(o: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, r) in arr(o, "/rules").iter().enumerate() {
        let p = FieldPath::new("rules").index(i);
        if arr(r, "/verbs").is_empty() {
            errs.push(FieldError::required(
                &p.child("verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = arr(r, "/nonResourceURLs");
        if !urls.is_empty() {
            let v = Value::Array(urls.to_vec());
            if namespaced {
                errs.push(FieldError::invalid(
                    &p.child("nonResourceURLs"),
                    v.clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !arr(r, "/apiGroups").is_empty()
                || !arr(r, "/resources").is_empty()
                || !arr(r, "/resourceNames").is_empty()
            {
                errs.push(FieldError::invalid(
                    &p.child("nonResourceURLs"),
                    v,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if arr(r, "/apiGroups").is_empty() {
            errs.push(FieldError::required(
                &p.child("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if arr(r, "/resources").is_empty() {
            errs.push(FieldError::required(
                &p.child("resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    errs
}

fn validate_role(o: &Value) -> Vec<FieldError> {
    validate_rules(o, true)
}

fn validate_cluster_role(o: &Value) -> Vec<FieldError> {
    let mut errs = validate_rules(o, false);
    if let Some(agg) = get(o, "/aggregationRule") {
        let p = FieldPath::new("aggregationRule").child("clusterRoleSelectors");
        let sels = arr(agg, "/clusterRoleSelectors");
        if sels.is_empty() {
            errs.push(FieldError::required(
                &p,
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        for (i, sel) in sels.iter().enumerate() {
            errs.extend(validate_label_selector(sel, &p.index(i)));
        }
    }
    errs
}

/// Role references and User/Group subjects name the RBAC group when left empty.
fn binding_defaults(o: &mut Value) {
    default_field(o, "/roleRef", "apiGroup", json!(RBAC_GROUP));
    if let Some(rr) = o.pointer_mut("/roleRef/apiGroup") {
        if rr == "" {
            *rr = json!(RBAC_GROUP);
        }
    }
    for subj in each_obj_mut(o, "/subjects") {
        let kind = subj.get("kind").and_then(Value::as_str).unwrap_or("");
        let empty = subj
            .get("apiGroup")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty();
        if empty && (kind == "User" || kind == "Group") {
            subj.insert("apiGroup".into(), json!(RBAC_GROUP));
        }
    }
}

fn validate_binding(o: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rr = FieldPath::new("roleRef");
    let group = s(o, "/roleRef/apiGroup");
    if group != RBAC_GROUP {
        errs.push(FieldError::not_supported(
            &rr.child("apiGroup"),
            group,
            &[RBAC_GROUP],
        ));
    }
    let kind = s(o, "/roleRef/kind");
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        errs.push(FieldError::not_supported(&rr.child("kind"), kind, kinds));
    }
    let name = s(o, "/roleRef/name");
    if name.is_empty() {
        errs.push(FieldError::required(&rr.child("name"), ""));
    } else {
        errs.extend(invalid_all(
            &rr.child("name"),
            name,
            validate_path_segment_name(name, false),
        ));
    }
    for (i, subj) in arr(o, "/subjects").iter().enumerate() {
        let p = FieldPath::new("subjects").index(i);
        let sname = s(subj, "/name");
        if sname.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        let api_group = s(subj, "/apiGroup");
        match s(subj, "/kind") {
            "ServiceAccount" => {
                if !sname.is_empty() {
                    errs.extend(invalid_all(
                        &p.child("name"),
                        sname,
                        is_dns1123_subdomain(sname),
                    ));
                }
                if !api_group.is_empty() {
                    errs.push(FieldError::not_supported(
                        &p.child("apiGroup"),
                        api_group,
                        &[""],
                    ));
                }
                if !namespaced && s(subj, "/namespace").is_empty() {
                    errs.push(FieldError::required(&p.child("namespace"), ""));
                }
            }
            "User" | "Group" => {
                if api_group != RBAC_GROUP {
                    errs.push(FieldError::not_supported(
                        &p.child("apiGroup"),
                        api_group,
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &p.child("kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    errs
}

fn validate_role_binding(o: &Value) -> Vec<FieldError> {
    validate_binding(o, true)
}

fn validate_cluster_role_binding(o: &Value) -> Vec<FieldError> {
    validate_binding(o, false)
}

// ---------------------------------------------------------------------------------------------
// Webhook configurations
// ---------------------------------------------------------------------------------------------

fn webhook_defaults(o: &mut Value) {
    for w in each_obj_mut(o, "/webhooks") {
        for (k, v) in [
            ("failurePolicy", json!("Fail")),
            ("matchPolicy", json!("Equivalent")),
            ("namespaceSelector", json!({})),
            ("objectSelector", json!({})),
            ("timeoutSeconds", json!(10)),
        ] {
            if w.get(k).is_none_or(Value::is_null) {
                w.insert(k.into(), v);
            }
        }
        if let Some(svc) = w
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
            .and_then(Value::as_object_mut)
        {
            svc.entry("port").or_insert(json!(443));
        }
        if let Some(rules) = w.get_mut("rules").and_then(Value::as_array_mut) {
            for r in rules.iter_mut().filter_map(Value::as_object_mut) {
                r.entry("scope").or_insert(json!("*"));
            }
        }
    }
}

fn mutating_webhook_defaults(o: &mut Value) {
    webhook_defaults(o);
    for w in each_obj_mut(o, "/webhooks") {
        w.entry("reinvocationPolicy").or_insert(json!("Never"));
    }
}

fn validate_webhooks(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, w) in arr(o, "/webhooks").iter().enumerate() {
        let p = FieldPath::new("webhooks").index(i);
        let name = s(w, "/name");
        if name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else {
            errs.extend(invalid_all(&p.child("name"), name, is_qualified_name(name)));
            if name.split('.').count() < 3 {
                errs.push(FieldError::invalid(
                    &p.child("name"),
                    name,
                    "should be a domain with at least three segments separated by dots",
                ));
            }
            if names.contains(&name) {
                errs.push(FieldError::duplicate(&p.child("name"), name));
            }
            names.push(name);
        }
        match get(w, "/sideEffects").and_then(Value::as_str) {
            None => errs.push(FieldError::required(
                &p.child("sideEffects"),
                "must specify one of None, NoneOnDryRun",
            )),
            Some(se) if !["None", "NoneOnDryRun"].contains(&se) => {
                errs.push(FieldError::not_supported(
                    &p.child("sideEffects"),
                    se,
                    &["None", "NoneOnDryRun"],
                ));
            }
            _ => {}
        }
        let versions = strings(arr(w, "/admissionReviewVersions"));
        if versions.is_empty() {
            errs.push(FieldError::required(
                &p.child("admissionReviewVersions"),
                "must specify one of v1, v1beta1",
            ));
        } else if !versions.iter().any(|v| *v == "v1" || *v == "v1beta1") {
            errs.push(FieldError::invalid(
                &p.child("admissionReviewVersions"),
                Value::Array(arr(w, "/admissionReviewVersions").to_vec()),
                "must include at least one of v1, v1beta1",
            ));
        }
        let url = get(w, "/clientConfig/url").is_some();
        let svc = get(w, "/clientConfig/service").is_some();
        if url == svc {
            errs.push(FieldError::required(
                &p.child("clientConfig"),
                "exactly one of url or service is required",
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// CertificateSigningRequest, reviews
// ---------------------------------------------------------------------------------------------

fn validate_csr(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = FieldPath::new("spec");
    if s(o, "/spec/request").is_empty() {
        errs.push(FieldError::invalid(
            &spec.child("request"),
            "",
            "PEM block type must be CERTIFICATE REQUEST",
        ));
    }
    let signer = s(o, "/spec/signerName");
    if signer.is_empty() {
        errs.push(FieldError::required(&spec.child("signerName"), ""));
    } else if signer
        .split_once('/')
        .is_none_or(|(d, p)| d.is_empty() || p.is_empty())
    {
        errs.push(FieldError::invalid(
            &spec.child("signerName"),
            signer,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
    }
    errs
}

/// Access reviews name exactly one kind of attributes, and a user or group.
fn validate_review(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let kind = s(o, "/kind");
    let spec = FieldPath::new("spec");
    if kind.ends_with("SubjectAccessReview") {
        let res = get(o, "/spec/resourceAttributes").is_some();
        let non = get(o, "/spec/nonResourceAttributes").is_some();
        if res == non {
            errs.push(FieldError::invalid(
                &spec.child("resourceAttributes"),
                o.pointer("/spec/nonResourceAttributes")
                    .cloned()
                    .unwrap_or(Value::Null),
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
        if kind != "SelfSubjectAccessReview"
            && s(o, "/spec/user").is_empty()
            && arr(o, "/spec/groups").is_empty()
        {
            errs.push(FieldError::invalid(
                &spec.child("user"),
                s(o, "/spec/user"),
                "at least one of user or group must be specified",
            ));
        }
        if kind == "LocalSubjectAccessReview" {
            let ns = s(o, "/metadata/namespace");
            let attr_ns = s(o, "/spec/resourceAttributes/namespace");
            if res && ns != attr_ns {
                errs.push(FieldError::invalid(
                    &FieldPath::new("metadata").child("namespace"),
                    ns,
                    "must match spec.resourceAttributes.namespace",
                ));
            }
        }
    }
    errs
}
