//! Events: core/v1 and events.k8s.io/v1 are one resource upstream, stored as core/v1 Events and
//! converted per request (`pkg/apis/events/v1/conversion.go`). Validation depends on the
//! version of the request (`pkg/apis/core/validation/events.go`), so the hooks here first bring
//! whichever shape they are given to the core shape, which plays upstream's internal type.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::util::{get, int, invalid_all, s};
use crate::field::{FieldError, FieldPath};
use crate::kinds::meta::{is_dns1123_subdomain, is_qualified_name};

/// `apiVersion` of the storage (core) version.
pub const CORE_API_VERSION: &str = "v1";
/// `apiVersion` of the events.k8s.io version.
pub const EVENTS_API_VERSION: &str = "events.k8s.io/v1";

/// Field names that differ between the two versions: `(core/v1, events.k8s.io/v1)`. Every other
/// field (metadata, reason, type, action, eventTime, series, related, reportingInstance) has the
/// same name and shape in both.
const RENAMED: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// Renames the fields of an Event object; `forward` goes core → events.k8s.io.
fn rename(obj: Value, api_version: &str, forward: bool) -> Value {
    let Value::Object(m) = obj else {
        return obj;
    };
    let mut out = Map::with_capacity(m.len());
    for (k, v) in m {
        let renamed = RENAMED.iter().find_map(|(core, events)| {
            let (from, to) = if forward {
                (core, events)
            } else {
                (events, core)
            };
            (k == *from).then_some(*to)
        });
        match renamed {
            Some(to) => {
                out.insert(to.to_string(), v);
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    out.insert("apiVersion".into(), Value::String(api_version.to_string()));
    out.insert("kind".into(), Value::String("Event".into()));
    Value::Object(out)
}

/// A core/v1 Event as events.k8s.io/v1 (`involvedObject` → `regarding`, `message` → `note`,
/// `source`/`firstTimestamp`/`lastTimestamp`/`count` → their `deprecated*` fields,
/// `reportingComponent` → `reportingController`); metadata and the shared fields as they are.
pub fn core_to_events_v1(obj: Value) -> Value {
    rename(obj, EVENTS_API_VERSION, true)
}

/// An events.k8s.io/v1 Event as core/v1: the inverse of [`core_to_events_v1`].
pub fn events_v1_to_core(obj: Value) -> Value {
    rename(obj, CORE_API_VERSION, false)
}

/// Converts an Event in either version to `api_version` (the `Strategy::convert` of both
/// Event kinds); an object already in that version, or an unknown target, only gets the
/// `apiVersion` rewritten.
pub fn convert(obj: Value, api_version: &str) -> Value {
    let from_events = obj.get("apiVersion").and_then(Value::as_str) == Some(EVENTS_API_VERSION);
    match (from_events, api_version) {
        (false, EVENTS_API_VERSION) => core_to_events_v1(obj),
        (true, CORE_API_VERSION) => events_v1_to_core(obj),
        _ => {
            let mut obj = obj;
            if let Some(m) = obj.as_object_mut() {
                m.insert("apiVersion".into(), Value::String(api_version.to_string()));
            }
            obj
        }
    }
}

/// The object in the core shape, converting an events.k8s.io/v1 one.
fn as_core(o: &Value) -> Cow<'_, Value> {
    if o.get("apiVersion").and_then(Value::as_str) == Some(EVENTS_API_VERSION) {
        Cow::Owned(events_v1_to_core(o.clone()))
    } else {
        Cow::Borrowed(o)
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// Upstream's `legacyValidateEvent`, which every Event passes whatever the request version, on
/// a core-shaped object. `reporting_field` names the reporting controller in errors: core/v1
/// requests have always said `reportingComponent`, events.k8s.io/v1 says `reportingController`.
fn legacy_validate(o: &Value, reporting_field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ns = s(o, "/metadata/namespace");
    let involved_ns = s(o, "/involvedObject/namespace");
    let ip = FieldPath::new("involvedObject").child("namespace");
    let mismatch = || FieldError::invalid(&ip, involved_ns, "does not match event.namespace");
    if get(o, "/eventTime").is_none() {
        if involved_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                errs.push(mismatch());
            }
        } else if ns != involved_ns {
            errs.push(mismatch());
        }
    } else {
        if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(mismatch());
        }
        let rc = s(o, "/reportingComponent");
        let rp = FieldPath::new(reporting_field);
        if rc.is_empty() {
            errs.push(FieldError::required(&rp, ""));
        }
        errs.extend(invalid_all(&rp, rc, is_qualified_name(rc)));
        for (field, limit) in [("reportingInstance", 128), ("action", 128), ("reason", 128)] {
            let v = s(o, &format!("/{field}"));
            if v.is_empty() {
                errs.push(FieldError::required(&FieldPath::new(field), ""));
            }
            if v.len() > limit {
                errs.push(FieldError::invalid(
                    &FieldPath::new(field),
                    "",
                    format!("can have at most {limit} characters"),
                ));
            }
        }
        if s(o, "/message").len() > 1024 {
            errs.push(FieldError::invalid(
                &FieldPath::new("message"),
                "",
                "can have at most 1024 characters",
            ));
        }
    }
    errs.extend(invalid_all(
        &FieldPath::new("namespace"),
        ns,
        is_dns1123_subdomain(ns),
    ));
    errs
}

/// core/v1 Events, on create and update: the legacy rules only (upstream validates no
/// ObjectMeta for them, for old clients' sake).
pub(super) fn validate_core(o: &Value) -> Vec<FieldError> {
    legacy_validate(&as_core(o), "reportingComponent")
}

/// `validateV1EventSeries`.
fn validate_series(o: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if get(o, "/series").is_some() {
        if int(o, "/series/count").unwrap_or(0) < 2 {
            errs.push(FieldError::invalid(
                &FieldPath::new("series.count"),
                "",
                "should be at least 2",
            ));
        }
        if get(o, "/series/lastObservedTime").is_none() {
            errs.push(FieldError::required(
                &FieldPath::new("series.lastObservedTime"),
                "",
            ));
        }
    }
    errs
}

/// events.k8s.io/v1 Events on create: the legacy rules plus the strict ones for new-style
/// events (ObjectMeta is checked by the kind itself). Paths name upstream's internal fields.
pub(super) fn validate_events_v1(o: &Value) -> Vec<FieldError> {
    let o = as_core(o);
    let mut errs = legacy_validate(&o, "reportingController");
    errs.extend(validate_series(&o));
    if get(&o, "/eventTime").is_none() {
        errs.push(FieldError::required(&FieldPath::new("eventTime"), ""));
    }
    let t = s(&o, "/type");
    if t != "Normal" && t != "Warning" {
        errs.push(FieldError::invalid(
            &FieldPath::new("type"),
            "",
            format!("has invalid value: {t}"),
        ));
    }
    for field in ["firstTimestamp", "lastTimestamp"] {
        if get(&o, &format!("/{field}")).is_some() {
            errs.push(FieldError::invalid(
                &FieldPath::new(field),
                "",
                "needs to be unset",
            ));
        }
    }
    if int(&o, "/count").unwrap_or(0) != 0 {
        errs.push(FieldError::invalid(
            &FieldPath::new("count"),
            "",
            "needs to be unset",
        ));
    }
    if !s(&o, "/source/component").is_empty() || !s(&o, "/source/host").is_empty() {
        errs.push(FieldError::invalid(
            &FieldPath::new("source"),
            "",
            "needs to be unset",
        ));
    }
    errs
}

/// A value with Go's zero values dropped (null, "", 0, false, empty maps and lists), so that
/// an absent field and its zero value compare equal, as the typed comparison upstream does.
fn without_zeros(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let kept: Map<String, Value> = m
                .iter()
                .map(|(k, x)| (k.clone(), without_zeros(x)))
                .filter(|(_, x)| !x.is_null())
                .collect();
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Object(kept)
            }
        }
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Bool(false) => Value::Null,
        Value::Number(n) if n.as_f64() == Some(0.0) => Value::Null,
        other => other.clone(),
    }
}

/// events.k8s.io/v1 Events on update: the legacy rules on the new object, the series rules
/// when the series changed, and everything but metadata and the series is immutable.
pub(super) fn validate_events_v1_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let new = as_core(new);
    let old = as_core(old);
    let mut errs = legacy_validate(&new, "reportingController");
    let field = |o: &Value, k: &str| o.get(k).map(without_zeros).unwrap_or(Value::Null);
    if field(&new, "series") != field(&old, "series") {
        errs.extend(validate_series(&new));
    }
    for (key, path) in [
        ("involvedObject", "involvedObject"),
        ("reason", "reason"),
        ("message", "message"),
        ("source", "source"),
        ("firstTimestamp", "firstTimestamp"),
        ("lastTimestamp", "lastTimestamp"),
        ("count", "count"),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("action", "action"),
        ("related", "related"),
        ("reportingComponent", "reportingController"),
        ("reportingInstance", "reportingInstance"),
    ] {
        if field(&new, key) != field(&old, key) {
            errs.push(FieldError::invalid(
                &FieldPath::new(path),
                new.get(key).cloned().unwrap_or(Value::Null),
                "field is immutable",
            ));
        }
    }
    errs
}
