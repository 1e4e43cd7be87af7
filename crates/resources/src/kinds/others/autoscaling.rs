//! HorizontalPodAutoscaler: stored as autoscaling/v2, also served as autoscaling/v1.
//!
//! Both versions share one strategy. `decode` of a v1 body decodes it with the v1 type and
//! converts it to v2, so every later hook (defaults, validation, storage) sees v2; the server
//! renders a stored object for a v1 client with `convert(obj, "autoscaling/v1")`.

use serde_json::{json, Map, Value};

use super::util::{arr, get, int, s};
use crate::field::{FieldError, FieldPath};
use crate::info::ResourceInfo;
use crate::kinds::decode::decode_builtin;
use crate::kinds::meta::{
    quantity_value, validate_object_meta, validate_object_meta_update, validate_path_segment_name,
    NameRule,
};
use crate::strategy::{DecodeError, Decoded, Strategy};

const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

pub(super) struct HpaStrategy {
    version: String,
}

impl HpaStrategy {
    pub(super) fn new(info: &ResourceInfo) -> Self {
        HpaStrategy {
            version: info.version.clone(),
        }
    }
}

impl Strategy for HpaStrategy {
    fn decode(&self, obj: Value) -> Result<Decoded, DecodeError> {
        let v1 = obj.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v1")
            || (self.version == "v1" && obj.get("apiVersion").is_none());
        if v1 {
            let d = decode_builtin("autoscaling", "v1", "HorizontalPodAutoscaler", obj)?;
            Ok(Decoded {
                object: v1_to_v2(d.object),
                unknown_fields: d.unknown_fields,
            })
        } else {
            decode_builtin("autoscaling", "v2", "HorizontalPodAutoscaler", obj)
        }
    }

    fn apply_defaults(&self, obj: &mut Value) {
        hpa_defaults(obj);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"desiredReplicas": 0}));
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if let Some(m) = new.as_object_mut() {
            match old.get("status") {
                Some(st) => m.insert("status".into(), st.clone()),
                None => m.remove("status"),
            };
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta(
            obj.get("metadata").unwrap_or(&Value::Null),
            true,
            NameRule::PathSegment,
            &FieldPath::new("metadata"),
        );
        errs.extend(validate_hpa_spec(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_object_meta_update(
            new.get("metadata").unwrap_or(&Value::Null),
            old.get("metadata").unwrap_or(&Value::Null),
            &FieldPath::new("metadata"),
        );
        errs.extend(validate_hpa_spec(new));
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn convert(&self, obj: Value, api_version: &str) -> Value {
        let from_v1 = obj.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v1");
        match (from_v1, api_version) {
            (false, "autoscaling/v1") => v2_to_v1(obj),
            (true, "autoscaling/v2") => v1_to_v2(obj),
            _ => obj,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

/// `SetDefaults_HorizontalPodAutoscaler` (v2): minReplicas 1, a CPU 80% metric when none,
/// and every unset field of a given behavior filled from upstream's scaling rules.
pub(super) fn hpa_defaults(o: &mut Value) {
    let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("minReplicas").is_none_or(Value::is_null) {
        spec.insert("minReplicas".into(), json!(1));
    }
    if spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    if let Some(b) = spec.get_mut("behavior").and_then(Value::as_object_mut) {
        let up = json!({
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}
            ]
        });
        let down = json!({
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]
        });
        for (key, defaults) in [("scaleUp", up), ("scaleDown", down)] {
            let mut rules = defaults;
            if let (Some(given), Some(r)) =
                (b.get(key).and_then(Value::as_object), rules.as_object_mut())
            {
                for (k, v) in given {
                    if !v.is_null() {
                        r.insert(k.clone(), v.clone());
                    }
                }
            }
            b.insert(key.into(), rules);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn path_segment(v: &str, p: &FieldPath) -> Vec<FieldError> {
    validate_path_segment_name(v, false)
        .into_iter()
        .map(|m| FieldError::invalid(p, v, m))
        .collect()
}

fn cross_version_ref(r: &Value, p: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["kind", "name"] {
        let v = s(r, &format!("/{field}"));
        if v.is_empty() {
            errs.push(FieldError::required(&p.child(field), ""));
        } else {
            errs.extend(path_segment(v, &p.child(field)));
        }
    }
    errs
}

fn validate_hpa_spec(o: &Value) -> Vec<FieldError> {
    let spec = FieldPath::new("spec");
    let mut errs = Vec::new();
    let min = int(o, "/spec/minReplicas");
    let max = int(o, "/spec/maxReplicas").unwrap_or(0);
    if let Some(m) = min.filter(|m| *m < 1) {
        errs.push(FieldError::invalid(
            &spec.child("minReplicas"),
            m,
            "must be greater than or equal to 1",
        ));
    }
    if max < 1 {
        errs.push(FieldError::invalid(
            &spec.child("maxReplicas"),
            max,
            "must be greater than 0",
        ));
    }
    if min.is_some_and(|m| max < m) {
        errs.push(FieldError::invalid(
            &spec.child("maxReplicas"),
            max,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    let target = o.pointer("/spec/scaleTargetRef").unwrap_or(&Value::Null);
    let ref_errs = cross_version_ref(target, &spec.child("scaleTargetRef"));
    if !ref_errs.is_empty() {
        errs.extend(ref_errs);
        return errs;
    }
    let metric_errs = validate_metrics(o, &spec.child("metrics"), min);
    if !metric_errs.is_empty() {
        errs.extend(metric_errs);
        return errs;
    }
    if let Some(b) = get(o, "/spec/behavior") {
        for key in ["scaleUp", "scaleDown"] {
            if let Some(rules) = get(b, &format!("/{key}")) {
                errs.extend(validate_scaling_rules(
                    rules,
                    &spec.child("behavior").child(key),
                ));
            }
        }
    }
    errs
}

const SOURCE_TYPES: &[(&str, &str)] = &[
    ("Object", "object"),
    ("Pods", "pods"),
    ("Resource", "resource"),
    ("External", "external"),
    ("ContainerResource", "containerResource"),
];

fn validate_metrics(o: &Value, p: &FieldPath, min: Option<i64>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut object_or_external = false;
    for (i, m) in arr(o, "/spec/metrics").iter().enumerate() {
        let mp = p.index(i);
        let t = s(m, "/type");
        object_or_external |= t == "Object" || t == "External";
        if t.is_empty() {
            errs.push(FieldError::required(
                &mp.child("type"),
                "must specify a metric source type",
            ));
        }
        let present: Vec<&str> = SOURCE_TYPES
            .iter()
            .map(|(_, f)| *f)
            .filter(|f| get(m, &format!("/{f}")).is_some())
            .collect();
        if let Some(first) = present.first() {
            let src = m.get(*first).unwrap_or(&Value::Null);
            errs.extend(validate_source(first, src, &mp.child(first)));
        }
        match SOURCE_TYPES.iter().find(|(k, _)| *k == t) {
            Some((_, field)) => {
                if get(m, &format!("/{field}")).is_none() {
                    errs.push(FieldError::required(
                        &mp.child(field),
                        "must populate information for the given metric source",
                    ));
                }
                if present.len() > 1 {
                    for other in present.iter().filter(|f| *f != field) {
                        errs.push(FieldError::forbidden(
                            &mp.child(other),
                            "must populate the given metric source only",
                        ));
                    }
                }
            }
            None if !t.is_empty() => errs.push(FieldError::not_supported(
                &mp.child("type"),
                t,
                &[
                    "Object",
                    "Pods",
                    "Resource",
                    "External",
                    "ContainerResource",
                ],
            )),
            None => {}
        }
    }
    if min == Some(0) && !object_or_external {
        errs.push(FieldError::forbidden(p, "must specify at least one Object or External metric to support scaling to zero replicas"));
    }
    errs
}

fn validate_target(t: &Value, p: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = s(t, "/type");
    if ty.is_empty() {
        errs.push(FieldError::required(
            &p.child("type"),
            "must specify a metric target type",
        ));
        return errs;
    }
    if !["Utilization", "Value", "AverageValue"].contains(&ty) {
        errs.push(FieldError::invalid(
            &p.child("type"),
            ty,
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for field in ["value", "averageValue"] {
        if let Some(q) = get(t, &format!("/{field}")) {
            if quantity_value(q).is_none_or(|v| v <= 0.0) {
                let text = q
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| q.to_string());
                errs.push(FieldError::invalid(
                    &p.child(field),
                    text,
                    "must be positive",
                ));
            }
        }
    }
    if let Some(u) = int(t, "/averageUtilization").filter(|u| *u < 1) {
        errs.push(FieldError::invalid(
            &p.child("averageUtilization"),
            u,
            "must be greater than 0",
        ));
    }
    errs
}

fn validate_metric_id(m: &Value, p: &FieldPath) -> Vec<FieldError> {
    let name = s(m, "/name");
    if name.is_empty() {
        vec![FieldError::required(
            &p.child("name"),
            "must specify a metric name",
        )]
    } else {
        path_segment(name, &p.child("name"))
    }
}

fn validate_source(kind: &str, src: &Value, p: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let target = src.get("target").unwrap_or(&Value::Null);
    let tp = p.child("target");
    let has = |f: &str| get(target, &format!("/{f}")).is_some();
    match kind {
        "resource" | "containerResource" => {
            if s(src, "/name").is_empty() {
                errs.push(FieldError::required(
                    &p.child("name"),
                    "must specify a resource name",
                ));
            }
            if kind == "containerResource" && s(src, "/container").is_empty() {
                errs.push(FieldError::required(
                    &p.child("container"),
                    "must specify a container",
                ));
            }
            errs.extend(validate_target(target, &tp));
            if !has("averageUtilization") && !has("averageValue") {
                errs.push(FieldError::required(
                    &tp.child("averageUtilization"),
                    "must set either a target raw value or a target utilization",
                ));
            }
            if has("averageUtilization") && has("averageValue") {
                errs.push(FieldError::forbidden(
                    &tp.child("averageValue"),
                    "may not set both a target raw value and a target utilization",
                ));
            }
        }
        "pods" => {
            errs.extend(validate_metric_id(
                src.get("metric").unwrap_or(&Value::Null),
                &p.child("metric"),
            ));
            errs.extend(validate_target(target, &tp));
            if !has("averageValue") {
                errs.push(FieldError::required(
                    &tp.child("averageValue"),
                    "must specify a positive target averageValue",
                ));
            }
        }
        "object" => {
            errs.extend(cross_version_ref(
                src.get("describedObject").unwrap_or(&Value::Null),
                &p.child("describedObject"),
            ));
            errs.extend(validate_metric_id(
                src.get("metric").unwrap_or(&Value::Null),
                &p.child("metric"),
            ));
            errs.extend(validate_target(target, &tp));
            if !has("value") && !has("averageValue") {
                errs.push(FieldError::required(
                    &tp.child("averageValue"),
                    "must set either a target value or averageValue",
                ));
            }
        }
        "external" => {
            errs.extend(validate_metric_id(
                src.get("metric").unwrap_or(&Value::Null),
                &p.child("metric"),
            ));
            errs.extend(validate_target(target, &tp));
            if !has("value") && !has("averageValue") {
                errs.push(FieldError::required(
                    &tp.child("averageValue"),
                    "must set either a target value for metric or a per-pod target",
                ));
            }
            if has("value") && has("averageValue") {
                errs.push(FieldError::forbidden(
                    &tp.child("value"),
                    "may not set both a target value for metric and a per-pod target",
                ));
            }
        }
        _ => {}
    }
    errs
}

fn validate_scaling_rules(r: &Value, p: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(w) = int(r, "/stabilizationWindowSeconds") {
        if w < 0 {
            errs.push(FieldError::invalid(
                &p.child("stabilizationWindowSeconds"),
                w,
                "must be greater than or equal to zero",
            ));
        }
        if w > 3600 {
            errs.push(FieldError::invalid(
                &p.child("stabilizationWindowSeconds"),
                w,
                "must be less than or equal to 3600",
            ));
        }
    }
    if let Some(sp) = get(r, "/selectPolicy").and_then(Value::as_str) {
        if !["Max", "Min", "Disabled"].contains(&sp) {
            errs.push(FieldError::not_supported(
                &p.child("selectPolicy"),
                sp,
                &["Max", "Min", "Disabled"],
            ));
        }
    }
    let policies = arr(r, "/policies");
    if policies.is_empty() {
        errs.push(FieldError::required(
            &p.child("policies"),
            "must specify at least one Policy",
        ));
    }
    for (i, pol) in policies.iter().enumerate() {
        let pp = p.child("policies").index(i);
        let t = s(pol, "/type");
        if t != "Pods" && t != "Percent" {
            errs.push(FieldError::not_supported(
                &pp.child("type"),
                t,
                &["Pods", "Percent"],
            ));
        }
        let v = int(pol, "/value").unwrap_or(0);
        if v <= 0 {
            errs.push(FieldError::invalid(
                &pp.child("value"),
                v,
                "must be greater than zero",
            ));
        }
        let period = int(pol, "/periodSeconds").unwrap_or(0);
        if period <= 0 {
            errs.push(FieldError::invalid(
                &pp.child("periodSeconds"),
                period,
                "must be greater than zero",
            ));
        }
        if period > 1800 {
            errs.push(FieldError::invalid(
                &pp.child("periodSeconds"),
                period,
                "must be less than or equal to 1800",
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Conversion
// ---------------------------------------------------------------------------------------------

fn is_cpu_utilization(m: &Value) -> bool {
    s(m, "/type") == "Resource"
        && s(m, "/resource/name") == "cpu"
        && get(m, "/resource/target/averageUtilization").is_some()
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<&Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        m.insert(k.to_string(), v.clone());
    }
}

/// A v2 MetricSpec in autoscaling/v1's annotation form.
fn metric_spec_to_v1(m: &Value) -> Value {
    let t = s(m, "/type");
    let mut out = Map::new();
    out.insert("type".into(), json!(t));
    let mut src = Map::new();
    let key = match t {
        "Resource" | "ContainerResource" => {
            let f = if t == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            put(&mut src, "name", m.pointer(&format!("/{f}/name")));
            put(&mut src, "container", m.pointer(&format!("/{f}/container")));
            put(
                &mut src,
                "targetAverageUtilization",
                m.pointer(&format!("/{f}/target/averageUtilization")),
            );
            put(
                &mut src,
                "targetAverageValue",
                m.pointer(&format!("/{f}/target/averageValue")),
            );
            f
        }
        "Pods" => {
            put(&mut src, "metricName", m.pointer("/pods/metric/name"));
            put(&mut src, "selector", m.pointer("/pods/metric/selector"));
            put(
                &mut src,
                "targetAverageValue",
                m.pointer("/pods/target/averageValue"),
            );
            "pods"
        }
        "Object" => {
            put(&mut src, "target", m.pointer("/object/describedObject"));
            put(&mut src, "metricName", m.pointer("/object/metric/name"));
            put(&mut src, "selector", m.pointer("/object/metric/selector"));
            put(&mut src, "targetValue", m.pointer("/object/target/value"));
            put(
                &mut src,
                "averageValue",
                m.pointer("/object/target/averageValue"),
            );
            "object"
        }
        "External" => {
            put(&mut src, "metricName", m.pointer("/external/metric/name"));
            put(
                &mut src,
                "metricSelector",
                m.pointer("/external/metric/selector"),
            );
            put(&mut src, "targetValue", m.pointer("/external/target/value"));
            put(
                &mut src,
                "targetAverageValue",
                m.pointer("/external/target/averageValue"),
            );
            "external"
        }
        _ => return m.clone(),
    };
    out.insert(key.into(), Value::Object(src));
    Value::Object(out)
}

/// An autoscaling/v1 annotation MetricSpec back in v2 form.
fn metric_spec_from_v1(m: &Value) -> Value {
    let t = s(m, "/type");
    let target = |value: Option<&Value>, avg: Option<&Value>, util: Option<&Value>| {
        let mut tg = Map::new();
        let ty = if util.is_some_and(|v| !v.is_null()) {
            "Utilization"
        } else if avg.is_some_and(|v| !v.is_null()) {
            "AverageValue"
        } else {
            "Value"
        };
        tg.insert("type".into(), json!(ty));
        put(&mut tg, "value", value);
        put(&mut tg, "averageValue", avg);
        put(&mut tg, "averageUtilization", util);
        Value::Object(tg)
    };
    let metric = |name: Option<&Value>, sel: Option<&Value>| {
        let mut id = Map::new();
        put(&mut id, "name", name);
        put(&mut id, "selector", sel);
        Value::Object(id)
    };
    match t {
        "Resource" | "ContainerResource" => {
            let f = if t == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let mut src = Map::new();
            put(&mut src, "name", m.pointer(&format!("/{f}/name")));
            put(&mut src, "container", m.pointer(&format!("/{f}/container")));
            src.insert(
                "target".into(),
                target(
                    None,
                    m.pointer(&format!("/{f}/targetAverageValue")),
                    m.pointer(&format!("/{f}/targetAverageUtilization")),
                ),
            );
            json!({"type": t, f: src})
        }
        "Pods" => json!({"type": t, "pods": {
            "metric": metric(m.pointer("/pods/metricName"), m.pointer("/pods/selector")),
            "target": target(None, m.pointer("/pods/targetAverageValue"), None),
        }}),
        "Object" => {
            let mut src = Map::new();
            put(&mut src, "describedObject", m.pointer("/object/target"));
            src.insert(
                "metric".into(),
                metric(
                    m.pointer("/object/metricName"),
                    m.pointer("/object/selector"),
                ),
            );
            src.insert(
                "target".into(),
                target(
                    m.pointer("/object/targetValue"),
                    m.pointer("/object/averageValue"),
                    None,
                ),
            );
            json!({"type": t, "object": src})
        }
        "External" => json!({"type": t, "external": {
            "metric": metric(m.pointer("/external/metricName"), m.pointer("/external/metricSelector")),
            "target": target(m.pointer("/external/targetValue"), m.pointer("/external/targetAverageValue"), None),
        }}),
        _ => m.clone(),
    }
}

/// Stored v2 to autoscaling/v1: the CPU utilization metric becomes
/// `targetCPUUtilizationPercentage`; other metrics, current metrics, conditions and behavior
/// travel in upstream's `autoscaling.alpha.kubernetes.io/*` annotations.
pub fn v2_to_v1(o: Value) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    out.insert("apiVersion".into(), json!("autoscaling/v1"));
    let mut meta = o
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut annotations = meta
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let metrics = arr(&o, "/spec/metrics");
    let mut spec = Map::new();
    put(
        &mut spec,
        "scaleTargetRef",
        o.pointer("/spec/scaleTargetRef"),
    );
    put(&mut spec, "minReplicas", o.pointer("/spec/minReplicas"));
    put(&mut spec, "maxReplicas", o.pointer("/spec/maxReplicas"));
    let cpu = metrics.iter().find(|m| is_cpu_utilization(m));
    put(
        &mut spec,
        "targetCPUUtilizationPercentage",
        cpu.and_then(|m| m.pointer("/resource/target/averageUtilization")),
    );
    let others: Vec<Value> = metrics
        .iter()
        .filter(|m| !is_cpu_utilization(m))
        .map(metric_spec_to_v1)
        .collect();
    let encode = |v: &Value| Value::String(v.to_string());
    if !others.is_empty() {
        annotations.insert(METRICS_ANNOTATION.into(), encode(&Value::Array(others)));
    }
    if let Some(b) = get(&o, "/spec/behavior") {
        annotations.insert(BEHAVIOR_ANNOTATION.into(), encode(b));
    }
    let mut status = Map::new();
    if let Some(st) = get(&o, "/status") {
        put(
            &mut status,
            "observedGeneration",
            st.get("observedGeneration"),
        );
        put(&mut status, "lastScaleTime", st.get("lastScaleTime"));
        status.insert(
            "currentReplicas".into(),
            st.get("currentReplicas").cloned().unwrap_or(json!(0)),
        );
        status.insert(
            "desiredReplicas".into(),
            st.get("desiredReplicas").cloned().unwrap_or(json!(0)),
        );
        let current = arr(st, "/currentMetrics");
        let cpu_current = current
            .iter()
            .find(|m| s(m, "/type") == "Resource" && s(m, "/resource/name") == "cpu");
        put(
            &mut status,
            "currentCPUUtilizationPercentage",
            cpu_current.and_then(|m| m.pointer("/resource/current/averageUtilization")),
        );
        if !current.is_empty() {
            annotations.insert(
                CURRENT_METRICS_ANNOTATION.into(),
                encode(&Value::Array(current.to_vec())),
            );
        }
        let conditions = arr(st, "/conditions");
        if !conditions.is_empty() {
            annotations.insert(
                CONDITIONS_ANNOTATION.into(),
                encode(&Value::Array(conditions.to_vec())),
            );
        }
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    out.insert("metadata".into(), Value::Object(meta));
    out.insert("spec".into(), Value::Object(spec));
    if o.get("status").is_some() {
        out.insert("status".into(), Value::Object(status));
    }
    Value::Object(out)
}

/// autoscaling/v1 to v2: the inverse of [`v2_to_v1`]; the round-trip annotations are read and
/// dropped.
pub fn v1_to_v2(o: Value) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    out.insert("apiVersion".into(), json!("autoscaling/v2"));
    let mut meta = o
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut annotations = meta
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let decode_ann = |annotations: &mut Map<String, Value>, key: &str| -> Option<Value> {
        annotations
            .remove(key)
            .and_then(|v| v.as_str().and_then(|s| serde_json::from_str(s).ok()))
    };
    let mut spec = Map::new();
    put(
        &mut spec,
        "scaleTargetRef",
        o.pointer("/spec/scaleTargetRef"),
    );
    put(&mut spec, "minReplicas", o.pointer("/spec/minReplicas"));
    put(&mut spec, "maxReplicas", o.pointer("/spec/maxReplicas"));
    let mut metrics: Vec<Value> = decode_ann(&mut annotations, METRICS_ANNOTATION)
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(metric_spec_from_v1)
        .collect();
    if let Some(cpu) = get(&o, "/spec/targetCPUUtilizationPercentage") {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}));
    }
    if !metrics.is_empty() {
        spec.insert("metrics".into(), Value::Array(metrics));
    }
    if let Some(b) = decode_ann(&mut annotations, BEHAVIOR_ANNOTATION)
        .filter(|b| b.as_object().is_some_and(|m| !m.is_empty()))
    {
        spec.insert("behavior".into(), b);
    }
    let current = decode_ann(&mut annotations, CURRENT_METRICS_ANNOTATION);
    let conditions = decode_ann(&mut annotations, CONDITIONS_ANNOTATION);
    if annotations.is_empty() {
        meta.remove("annotations");
    } else {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    out.insert("metadata".into(), Value::Object(meta));
    out.insert("spec".into(), Value::Object(spec));
    if let Some(st) = get(&o, "/status") {
        let mut status = Map::new();
        put(
            &mut status,
            "observedGeneration",
            st.get("observedGeneration"),
        );
        put(&mut status, "lastScaleTime", st.get("lastScaleTime"));
        put(&mut status, "currentReplicas", st.get("currentReplicas"));
        status.insert(
            "desiredReplicas".into(),
            st.get("desiredReplicas").cloned().unwrap_or(json!(0)),
        );
        match current {
            Some(c) => {
                status.insert("currentMetrics".into(), c);
            }
            None => {
                if let Some(cpu) = st
                    .get("currentCPUUtilizationPercentage")
                    .filter(|v| !v.is_null())
                {
                    status.insert(
                        "currentMetrics".into(),
                        json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}]),
                    );
                }
            }
        }
        put(&mut status, "conditions", conditions.as_ref());
        out.insert("status".into(), Value::Object(status));
    }
    Value::Object(out)
}
