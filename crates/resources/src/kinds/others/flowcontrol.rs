//! flowcontrol.apiserver.k8s.io/v1: FlowSchema and PriorityLevelConfiguration defaults and
//! validation (upstream's `pkg/apis/flowcontrol/validation`).

use serde_json::{json, Value};

use super::util::{arr, default_field, get, int, s, strings};
use super::{Hooks, Spec};
use crate::field::{FieldError, FieldPath};
use crate::info::ResourceInfo;
use crate::kinds::meta::{is_dns1123_label, is_dns1123_subdomain};

const GROUP: &str = "flowcontrol.apiserver.k8s.io";
const MAX_PRECEDENCE: i64 = 10_000;
const MAX_QUEUES: i64 = 128;
const VERBS: &[&str] = &[
    "*",
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub(super) fn spec(info: &ResourceInfo) -> Option<Spec> {
    let h = Hooks::default();
    match (info.group.as_str(), info.kind.as_str()) {
        (GROUP, "FlowSchema") => Some(Spec {
            generation: true,
            initial_status: Some(|_| json!({})),
            // Upstream's status strategies keep all stored metadata but managedFields.
            status_metadata: Some(&[]),
            hooks: Hooks {
                defaults: |o| default_field(o, "/spec", "matchingPrecedence", json!(1000)),
                validate: validate_flow_schema,
                ..h
            },
            ..Spec::default()
        }),
        (GROUP, "PriorityLevelConfiguration") => Some(Spec {
            generation: true,
            initial_status: Some(|_| json!({})),
            // Upstream's status strategies keep all stored metadata but managedFields.
            status_metadata: Some(&[]),
            hooks: Hooks {
                defaults: priority_level_defaults,
                validate: validate_priority_level,
                ..h
            },
            ..Spec::default()
        }),
        _ => None,
    }
}

fn priority_level_defaults(o: &mut Value) {
    if get(o, "/spec/exempt").is_some_and(Value::is_object) {
        default_field(o, "/spec/exempt", "nominalConcurrencyShares", json!(0));
        default_field(o, "/spec/exempt", "lendablePercent", json!(0));
    }
    if get(o, "/spec/limited").is_some_and(Value::is_object) {
        default_field(o, "/spec/limited", "nominalConcurrencyShares", json!(30));
        default_field(o, "/spec/limited", "lendablePercent", json!(0));
        if get(o, "/spec/limited/limitResponse/queuing").is_some_and(Value::is_object) {
            let q = "/spec/limited/limitResponse/queuing";
            default_field(o, q, "queues", json!(64));
            default_field(o, q, "handSize", json!(8));
            default_field(o, q, "queueLengthLimit", json!(50));
        }
    }
}

fn validate_flow_schema(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = FieldPath::new("spec");
    let name = s(o, "/metadata/name");
    let precedence = int(o, "/spec/matchingPrecedence").unwrap_or(0);
    let p = spec.child("matchingPrecedence");
    if precedence <= 0 {
        errs.push(FieldError::invalid(
            &p,
            precedence,
            "must be a positive value",
        ));
    }
    if precedence > MAX_PRECEDENCE {
        errs.push(FieldError::invalid(
            &p,
            precedence,
            format!("must not be greater than {MAX_PRECEDENCE}"),
        ));
    }
    if precedence == 1 && name != "exempt" {
        errs.push(FieldError::invalid(
            &p,
            precedence,
            "only the schema named 'exempt' may have matchingPrecedence 1",
        ));
    }
    if let Some(t) = get(o, "/spec/distinguisherMethod/type") {
        let t = t.as_str().unwrap_or("");
        if !["ByNamespace", "ByUser"].contains(&t) {
            errs.push(FieldError::not_supported(
                &spec.child("distinguisherMethod").child("type"),
                t,
                &["ByNamespace", "ByUser"],
            ));
        }
    }
    let pl = s(o, "/spec/priorityLevelConfiguration/name");
    let pl_path = spec.child("priorityLevelConfiguration").child("name");
    if pl.is_empty() {
        errs.push(FieldError::required(
            &pl_path,
            "must reference a priority level",
        ));
    } else {
        for msg in is_dns1123_subdomain(pl) {
            errs.push(FieldError::invalid(&pl_path, pl, msg));
        }
    }
    for (i, rule) in arr(o, "/spec/rules").iter().enumerate() {
        validate_rule(rule, &spec.child("rules").index(i), &mut errs);
    }
    errs
}

fn validate_rule(rule: &Value, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let subjects = arr(rule, "/subjects");
    if subjects.is_empty() {
        errs.push(FieldError::required(
            &path.child("subjects"),
            "subjects must contain at least one value",
        ));
    }
    for (i, subject) in subjects.iter().enumerate() {
        validate_subject(subject, &path.child("subjects").index(i), errs);
    }
    let resource_rules = arr(rule, "/resourceRules");
    let non_resource_rules = arr(rule, "/nonResourceRules");
    if resource_rules.is_empty() && non_resource_rules.is_empty() {
        errs.push(FieldError::required(
            path,
            "at least one of resourceRules and nonResourceRules has to be non-empty",
        ));
    }
    for (i, r) in resource_rules.iter().enumerate() {
        let p = path.child("resourceRules").index(i);
        validate_verbs(r, &p, errs);
        for (field, what) in [("apiGroups", "api group"), ("resources", "resource")] {
            let list = strings(arr(r, &format!("/{field}")));
            if list.is_empty() {
                errs.push(FieldError::required(
                    &p.child(field),
                    format!("resource rules must supply at least one {what}"),
                ));
            } else if list.len() > 1 && list.contains(&"*") {
                errs.push(FieldError::invalid(
                    &p.child(field),
                    json!(list),
                    format!("if '*' is present, must not specify other {what}s"),
                ));
            }
        }
        let namespaces = strings(arr(r, "/namespaces"));
        let cluster = get(r, "/clusterScope").and_then(Value::as_bool) == Some(true);
        if namespaces.is_empty() && !cluster {
            errs.push(FieldError::required(
                &p.child("namespaces"),
                "resource rules that are not cluster scoped must supply at least one namespace",
            ));
        } else if namespaces.contains(&"*") {
            if namespaces.len() > 1 {
                errs.push(FieldError::invalid(
                    &p.child("namespaces"),
                    json!(namespaces),
                    "if '*' is present, must not specify other namespaces",
                ));
            }
        } else {
            for (j, ns) in namespaces.iter().enumerate() {
                for msg in is_dns1123_label(ns) {
                    errs.push(FieldError::invalid(
                        &p.child("namespaces").index(j),
                        *ns,
                        format!("each member of this list must be '*' or a DNS-1123 label; {msg}"),
                    ));
                }
            }
        }
    }
    for (i, r) in non_resource_rules.iter().enumerate() {
        let p = path.child("nonResourceRules").index(i);
        validate_verbs(r, &p, errs);
        let urls = strings(arr(r, "/nonResourceURLs"));
        if urls.is_empty() {
            errs.push(FieldError::required(
                &p.child("nonResourceURLs"),
                "nonResourceURLs must contain at least one value",
            ));
        } else if urls.contains(&"*") {
            if urls.len() > 1 {
                errs.push(FieldError::invalid(
                    &p.child("nonResourceURLs"),
                    json!(urls),
                    "if '*' is present, must not specify other non-resource URLs",
                ));
            }
        } else {
            for (j, url) in urls.iter().enumerate() {
                if let Some(msg) = non_resource_url_problem(url) {
                    errs.push(FieldError::invalid(
                        &p.child("nonResourceURLs").index(j),
                        *url,
                        msg,
                    ));
                }
            }
        }
    }
}

fn non_resource_url_problem(url: &str) -> Option<&'static str> {
    if url.is_empty() {
        return Some("must not be empty");
    }
    if url == "/" {
        return None;
    }
    if !url.starts_with('/') {
        return Some("must start with slash");
    }
    if url.contains(' ') {
        return Some("must not contain white-space");
    }
    if url.contains("//") {
        return Some("must not contain double slash");
    }
    let stars = url.matches('*').count();
    if stars > 1 || (stars == 1 && !url.ends_with("/*")) {
        return Some("wildcard can only do suffix matching");
    }
    None
}

fn validate_verbs(rule: &Value, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let verbs = strings(arr(rule, "/verbs"));
    if verbs.is_empty() {
        errs.push(FieldError::required(
            &path.child("verbs"),
            "verbs must contain at least one value",
        ));
    } else if verbs.contains(&"*") {
        if verbs.len() > 1 {
            errs.push(FieldError::invalid(
                &path.child("verbs"),
                json!(verbs),
                "if '*' is present, must not specify other verbs",
            ));
        }
    } else if verbs.iter().any(|v| !VERBS.contains(v)) {
        errs.push(FieldError::not_supported(
            &path.child("verbs"),
            json!(verbs),
            VERBS,
        ));
    }
}

fn validate_subject(subject: &Value, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let kind = s(subject, "/kind");
    let fields = [
        (
            "User",
            "user",
            "user is forbidden when subject kind is not 'User'",
        ),
        (
            "Group",
            "group",
            "group is forbidden when subject kind is not 'Group'",
        ),
        (
            "ServiceAccount",
            "serviceAccount",
            "serviceAccount is forbidden when subject kind is not 'ServiceAccount'",
        ),
    ];
    let Some((_, own, _)) = fields.iter().find(|(k, _, _)| *k == kind) else {
        errs.push(FieldError::not_supported(
            &path.child("kind"),
            kind,
            &["Group", "ServiceAccount", "User"],
        ));
        return;
    };
    for (k, field, msg) in fields {
        if k != kind && get(subject, &format!("/{field}")).is_some_and(|v| !v.is_null()) {
            errs.push(FieldError::forbidden(&path.child(field), msg));
        }
    }
    let own_path = path.child(own);
    let Some(inner) = get(subject, &format!("/{own}")).filter(|v| v.is_object()) else {
        errs.push(FieldError::required(
            &own_path,
            format!("{own} is required when subject kind is '{kind}'"),
        ));
        return;
    };
    if s(inner, "/name").is_empty() {
        errs.push(FieldError::required(&own_path.child("name"), ""));
    }
    if kind == "ServiceAccount" {
        let ns = s(inner, "/namespace");
        if ns.is_empty() {
            errs.push(FieldError::required(
                &own_path.child("namespace"),
                "must specify namespace for service account",
            ));
        } else {
            for msg in is_dns1123_label(ns) {
                errs.push(FieldError::invalid(&own_path.child("namespace"), ns, msg));
            }
        }
    }
}

fn validate_priority_level(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = FieldPath::new("spec");
    let name = s(o, "/metadata/name");
    let t = s(o, "/spec/type");
    if (name == "exempt") != (t == "Exempt") {
        errs.push(FieldError::invalid(
            &spec.child("type"),
            t,
            "type must be 'Exempt' if and only if name is 'exempt'",
        ));
    }
    let present = |p: &str| get(o, p).is_some_and(|v| !v.is_null());
    match t {
        "Exempt" => {
            if present("/spec/limited") {
                errs.push(FieldError::forbidden(
                    &spec.child("limited"),
                    "must be nil if the type is not Limited",
                ));
            }
        }
        "Limited" => {
            if present("/spec/exempt") {
                errs.push(FieldError::forbidden(
                    &spec.child("exempt"),
                    "must be nil if the type is Limited",
                ));
            }
            if !present("/spec/limited") {
                errs.push(FieldError::required(
                    &spec.child("limited"),
                    "must not be empty when type is Limited",
                ));
            } else {
                validate_limited(o, &spec.child("limited"), &mut errs);
            }
        }
        _ => errs.push(FieldError::not_supported(
            &spec.child("type"),
            t,
            &["Exempt", "Limited"],
        )),
    }
    for (field, max) in [
        ("nominalConcurrencyShares", None),
        ("lendablePercent", Some(100)),
    ] {
        for (which, ptr) in [("exempt", "/spec/exempt"), ("limited", "/spec/limited")] {
            if let Some(v) = int(o, &format!("{ptr}/{field}")) {
                let p = spec.child(which).child(field);
                if v < 0 {
                    errs.push(FieldError::invalid(&p, v, "must be a non-negative integer"));
                } else if let Some(max) = max {
                    if v > max {
                        errs.push(FieldError::invalid(
                            &p,
                            v,
                            "must be between 0 and 100, inclusive",
                        ));
                    }
                }
            }
        }
    }
    errs
}

fn validate_limited(o: &Value, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let lr = path.child("limitResponse");
    let queuing = get(o, "/spec/limited/limitResponse/queuing").filter(|v| !v.is_null());
    match s(o, "/spec/limited/limitResponse/type") {
        "Reject" => {
            if queuing.is_some() {
                errs.push(FieldError::forbidden(
                    &lr.child("queuing"),
                    "must be nil if limited.limitResponse.type is not Limited",
                ));
            }
        }
        "Queue" => match queuing {
            None => errs.push(FieldError::required(
                &lr.child("queuing"),
                "must not be empty if limited.limitResponse.type is Limited",
            )),
            Some(q) => {
                let qp = lr.child("queuing");
                let len = int(q, "/queueLengthLimit").unwrap_or(0);
                if len <= 0 {
                    errs.push(FieldError::invalid(
                        &qp.child("queueLengthLimit"),
                        len,
                        "must be positive",
                    ));
                }
                let queues = int(q, "/queues").unwrap_or(0);
                if queues <= 0 {
                    errs.push(FieldError::invalid(
                        &qp.child("queues"),
                        queues,
                        "must be positive",
                    ));
                } else if queues > MAX_QUEUES {
                    errs.push(FieldError::invalid(
                        &qp.child("queues"),
                        queues,
                        format!("must not be greater than {MAX_QUEUES}"),
                    ));
                }
                let hand = int(q, "/handSize").unwrap_or(0);
                if hand <= 0 {
                    errs.push(FieldError::invalid(
                        &qp.child("handSize"),
                        hand,
                        "must be positive",
                    ));
                } else if hand > queues {
                    errs.push(FieldError::invalid(
                        &qp.child("handSize"),
                        hand,
                        format!("should not be greater than queues ({queues})"),
                    ));
                } else if entropy_bits(queues, hand) > 60.0 {
                    errs.push(FieldError::invalid(
                        &qp.child("handSize"),
                        hand,
                        format!("required entropy bits of deckSize {queues} and handSize {hand} should not be greater than 60"),
                    ));
                }
            }
        },
        other => errs.push(FieldError::not_supported(
            &lr.child("type"),
            other,
            &["Queue", "Reject"],
        )),
    }
}

/// Bits of hash a shuffle-sharding deal of `hand` cards from `deck` consumes.
fn entropy_bits(deck: i64, hand: i64) -> f64 {
    (0..hand)
        .map(|i| ((deck - i) as f64).log2())
        .sum::<f64>()
        .ceil()
}
