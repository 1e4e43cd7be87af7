//! The typed decode check: a body must deserialize into its kind's `k8s-openapi` type, as
//! upstream's decoder unmarshals into the Go struct. Type mismatches fail with upstream's
//! message shape; fields the type does not have are dropped and reported as unknown.

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::kinds::meta::{parse_quantity, QUANTITY_FORMAT_ERROR};
use crate::strategy::{DecodeError, Decoded};

/// Decodes `obj` as `T` and re-encodes it.
///
/// On a type mismatch the error reads as upstream's:
/// `ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal array
/// into Go struct field ConfigMap.data of type string`. Unknown fields (present and non-null
/// in `obj`, gone after the round trip) are returned as dotted paths; the returned object is
/// the round-tripped one.
pub fn typed_decode<T>(obj: Value, kind: &str, version: &str) -> Result<Decoded, DecodeError>
where
    T: DeserializeOwned + Serialize,
{
    let fail = |detail: String| {
        DecodeError(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}"
        ))
    };
    // Path tracking costs an allocation per field, so it runs only to word an error.
    let typed: T = match T::deserialize(&obj) {
        Ok(t) => t,
        Err(_) => match serde_path_to_error::deserialize::<_, T>(&obj) {
            Ok(t) => t,
            Err(e) => {
                let segs = segments(e.path());
                let msg = e.inner().to_string();
                return Err(fail(describe::<T>(&obj, &segs, &msg, kind, version)));
            }
        },
    };
    let out = serde_json::to_value(&typed).map_err(|e| fail(e.to_string()))?;
    let mut out = upstream_top_level_order(out);
    prune_added_defaults(&obj, &mut out, true);
    let mut unknown_fields = Vec::new();
    collect_unknown(&obj, &out, &mut String::new(), &mut unknown_fields);
    Ok(Decoded {
        object: out,
        unknown_fields,
    })
}

/// Puts `kind`, `apiVersion` and `metadata` first and `status` last, as Go's structs order
/// them (k8s-openapi writes fields alphabetically).
fn upstream_top_level_order(v: Value) -> Value {
    let Value::Object(mut m) = v else { return v };
    let mut out = Map::new();
    for k in ["kind", "apiVersion", "metadata"] {
        if let Some(x) = m.remove(k) {
            out.insert(k.to_string(), x);
        }
    }
    let status = m.remove("status");
    out.extend(m);
    if let Some(s) = status {
        out.insert("status".into(), s);
    }
    Value::Object(out)
}

/// Removes what the round trip added: k8s-openapi writes a missing required field as its
/// empty default (`selector: {}`, `pathType: ""`), where Go leaves a nil pointer out. Keeping
/// them would turn upstream's `Required value` errors into others and store fields the client
/// never sent. `apiVersion`, `kind` and `metadata` stay at the top level.
fn prune_added_defaults(input: &Value, output: &mut Value, top: bool) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            o.retain(|k, v| {
                let given = i.get(k).is_some_and(|x| !x.is_null());
                given
                    || (top && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    || !is_empty_default(v)
            });
            for (k, v) in o.iter_mut() {
                if let Some(iv) = i.get(k) {
                    prune_added_defaults(iv, v, false);
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (iv, ov) in i.iter().zip(o.iter_mut()) {
                prune_added_defaults(iv, ov, false);
            }
        }
        _ => {}
    }
}

fn is_empty_default(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_empty_default),
    }
}

/// Adds to `out` the paths of keys that `input` has (non-null) and `output` lacks. `path`
/// is a buffer, restored on return, so known fields cost no allocation.
fn collect_unknown(input: &Value, output: &Value, path: &mut String, out: &mut Vec<String>) {
    use std::fmt::Write;
    let len = path.len();
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                if v.is_null() {
                    continue;
                }
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match o.get(k) {
                    Some(ov) => collect_unknown(v, ov, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                let _ = write!(path, "[{n}]");
                collect_unknown(iv, ov, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Upstream-shaped messages for serde errors
// ---------------------------------------------------------------------------------------------

/// One step of a path into a JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Seq { index: usize },
    Map { key: String },
    Other,
}

fn segments(path: &serde_path_to_error::Path) -> Vec<Segment> {
    path.iter()
        .map(|s| match s {
            serde_path_to_error::Segment::Seq { index } => Segment::Seq { index: *index },
            serde_path_to_error::Segment::Map { key } => Segment::Map { key: key.clone() },
            _ => Segment::Other,
        })
        .collect()
}

/// How deep the type probes may recurse (`[][]string` and the like).
const PROBE_DEPTH: usize = 4;

/// Turns a serde error at `segs` into Go's `json: cannot unmarshal ...` text. The Go type
/// names are found by probing: the value at a path is replaced by `true` and the decoder's
/// "expected" text names the type found there.
fn describe<T: DeserializeOwned>(
    obj: &Value,
    segs: &[Segment],
    msg: &str,
    kind: &str,
    version: &str,
) -> String {
    if msg.contains(QUANTITY_FORMAT_ERROR) {
        return QUANTITY_FORMAT_ERROR.to_string();
    }
    if let Some(expected) = expected_of(msg) {
        if expected == "a base64-encoded string" && msg.starts_with("invalid type") {
            // []byte from anything but a string.
        } else if let Some(unexpected) = unexpected_of(msg) {
            let go_type = go_type_of::<T>(obj, segs, expected, version, PROBE_DEPTH);
            let json_type = json_type_name(unexpected, &go_type);
            let (strukt, fields) = struct_field::<T>(obj, segs, kind, version);
            if fields.is_empty() {
                return format!(
                    "json: cannot unmarshal {json_type} into Go value of type {go_type}"
                );
            }
            return format!(
                "json: cannot unmarshal {json_type} into Go struct field {strukt}.{} of type {go_type}",
                fields.join(".")
            );
        }
    }
    if let Some(b64) = base64_error(msg, obj, segs) {
        return b64;
    }
    msg.to_string()
}

/// The `expected ...` part of a serde error message.
fn expected_of(msg: &str) -> Option<&str> {
    msg.rsplit_once(", expected ").map(|(_, e)| e.trim())
}

/// The unexpected value's description in `invalid type: X, expected` / `invalid value: X, ...`.
fn unexpected_of(msg: &str) -> Option<&str> {
    let rest = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))?;
    rest.rsplit_once(", expected ").map(|(u, _)| u)
}

/// Go's name for the JSON value: `array`, `object`, `string`, `number` (with the literal when
/// it did not fit an integer type), `bool`.
fn json_type_name(unexpected: &str, go_type: &str) -> String {
    let literal = || unexpected.split('`').nth(1).unwrap_or_default().to_string();
    if unexpected == "sequence" {
        "array".into()
    } else if unexpected == "map" {
        "object".into()
    } else if unexpected.starts_with("string") {
        "string".into()
    } else if unexpected.starts_with("boolean") {
        "bool".into()
    } else if unexpected.starts_with("integer") || unexpected.starts_with("floating point") {
        let numeric = go_type.starts_with("int")
            || go_type.starts_with("uint")
            || go_type.starts_with("float");
        if numeric {
            format!("number {}", literal())
        } else {
            "number".into()
        }
    } else {
        unexpected.to_string()
    }
}

/// Package of a type named by k8s-openapi's decoder, as Go prints it (`v1.Container`).
fn go_named(name: &str, version: &str) -> String {
    match name {
        "Quantity" => "resource.Quantity".into(),
        "IntOrString" => "intstr.IntOrString".into(),
        "RawExtension" => "runtime.RawExtension".into(),
        "ObjectMeta"
        | "LabelSelector"
        | "LabelSelectorRequirement"
        | "OwnerReference"
        | "ManagedFieldsEntry"
        | "Time"
        | "MicroTime"
        | "Condition"
        | "FieldsV1" => {
            format!("v1.{name}")
        }
        _ => format!("{version}.{name}"),
    }
}

/// Go's type name for the value at `segs`, from the decoder's `expected` text.
fn go_type_of<T: DeserializeOwned>(
    obj: &Value,
    segs: &[Segment],
    expected: &str,
    version: &str,
    depth: usize,
) -> String {
    match expected {
        "a string" => "string".into(),
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" => {
            let signed = expected.starts_with('i');
            format!("{}int{}", if signed { "" } else { "u" }, &expected[1..])
        }
        "a 32-bit integer" => "int32".into(),
        "f32" => "float32".into(),
        "f64" => "float64".into(),
        "a boolean" => "bool".into(),
        "a base64-encoded string" => "[]uint8".into(),
        "a sequence" | "a map" if depth > 0 => {
            let seq = expected == "a sequence";
            let (replacement, inner) = if seq {
                (
                    Value::Array(vec![Value::Bool(true)]),
                    Segment::Seq { index: 0 },
                )
            } else {
                let mut m = Map::new();
                m.insert("k".into(), Value::Bool(true));
                (
                    Value::Object(m),
                    Segment::Map {
                        key: "k".to_string(),
                    },
                )
            };
            let mut inner_path = segs.to_vec();
            inner_path.push(inner);
            let elem = match probe::<T>(obj, segs, replacement) {
                Some((path, msg)) if path == inner_path => expected_of(&msg)
                    .map(|e| go_type_of::<T>(obj, &inner_path, e, version, depth - 1))
                    .unwrap_or_else(|| "interface {}".into()),
                // `true` was accepted: the elements are booleans.
                _ => "bool".into(),
            };
            if seq {
                format!("[]{elem}")
            } else {
                format!("map[string]{elem}")
            }
        }
        "a sequence" => "[]interface {}".into(),
        "a map" => "map[string]interface {}".into(),
        name => go_named(name, version),
    }
}

/// Go's `Struct.field.path`: the innermost struct holding the failing field, and the JSON
/// names of the struct fields from the root (map keys and list indices are not part of it).
fn struct_field<T: DeserializeOwned>(
    obj: &Value,
    segs: &[Segment],
    kind: &str,
    version: &str,
) -> (String, Vec<String>) {
    let mut strukt = kind.to_string();
    let mut fields = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let Segment::Map { key } = seg else { continue };
        let container = if i == 0 {
            Some(kind.to_string())
        } else {
            match probe::<T>(obj, &segs[..i], Value::Bool(true)) {
                Some((path, msg)) if path.as_slice() == &segs[..i] => {
                    expected_of(&msg).map(str::to_string)
                }
                _ => None,
            }
        };
        match container.as_deref() {
            Some("a map") => {}
            Some(name) => {
                // Go prints the type name without its package here.
                strukt = go_named(name, version)
                    .rsplit('.')
                    .next()
                    .unwrap_or(name)
                    .to_string();
                fields.push(key.clone());
            }
            None => fields.push(key.clone()),
        }
    }
    (strukt, fields)
}

/// Decodes a copy of `obj` with the value at `segs` replaced; returns the first error, if any.
fn probe<T: DeserializeOwned>(
    obj: &Value,
    segs: &[Segment],
    replacement: Value,
) -> Option<(Vec<Segment>, String)> {
    let mut copy = obj.clone();
    let slot = value_at_mut(&mut copy, segs)?;
    *slot = replacement;
    match serde_path_to_error::deserialize::<_, T>(&copy) {
        Ok(_) => None,
        Err(e) => Some((segments(e.path()), e.inner().to_string())),
    }
}

fn value_at_mut<'a>(v: &'a mut Value, segs: &[Segment]) -> Option<&'a mut Value> {
    let mut cur = v;
    for s in segs {
        cur = match s {
            Segment::Seq { index } => cur.as_array_mut()?.get_mut(*index)?,
            Segment::Map { key } => cur.as_object_mut()?.get_mut(key)?,
            Segment::Other => return None,
        };
    }
    Some(cur)
}

fn value_at<'a>(v: &'a Value, segs: &[Segment]) -> Option<&'a Value> {
    let mut cur = v;
    for s in segs {
        cur = match s {
            Segment::Seq { index } => cur.as_array()?.get(*index)?,
            Segment::Map { key } => cur.as_object()?.get(key)?,
            Segment::Other => return None,
        };
    }
    Some(cur)
}

/// Go's `illegal base64 data at input byte N` for a malformed `[]byte` field.
fn base64_error(msg: &str, obj: &Value, segs: &[Segment]) -> Option<String> {
    let lower = msg.to_ascii_lowercase();
    if !(lower.contains("invalid symbol")
        || lower.contains("invalid input length")
        || lower.contains("invalid last symbol")
        || lower.contains("invalid padding"))
    {
        return None;
    }
    let offset = lower
        .split("offset ")
        .nth(1)
        .and_then(|r| {
            r.trim_end_matches('.')
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse::<usize>().ok())
        })
        .or_else(|| {
            // A length error: Go reports the position where the data ran out.
            value_at(obj, segs)
                .and_then(Value::as_str)
                .map(|s| s.trim_end_matches('=').len() / 4 * 4)
        })
        .unwrap_or(0);
    Some(format!("illegal base64 data at input byte {offset}"))
}

// ---------------------------------------------------------------------------------------------
// Quantities: k8s-openapi keeps them as strings, Go parses them while decoding
// ---------------------------------------------------------------------------------------------

/// Fails with upstream's decode message when a quantity at one of `patterns` does not parse.
/// A pattern is a dotted path where `*` matches every list element or map value
/// (`spec.containers.*.resources.limits.*`).
pub fn check_quantities(obj: &Value, patterns: &[&str]) -> Result<(), String> {
    for p in patterns {
        let segs: Vec<&str> = p.split('.').collect();
        check_pattern(obj, &segs)?;
    }
    Ok(())
}

fn check_pattern(v: &Value, segs: &[&str]) -> Result<(), String> {
    let Some((first, rest)) = segs.split_first() else {
        return match v {
            Value::String(s) => parse_quantity(s).map(|_| ()),
            _ => Ok(()),
        };
    };
    match (*first, v) {
        ("*", Value::Array(a)) => a.iter().try_for_each(|x| check_pattern(x, rest)),
        ("*", Value::Object(m)) => m.values().try_for_each(|x| check_pattern(x, rest)),
        (k, Value::Object(m)) => match m.get(k) {
            Some(x) => check_pattern(x, rest),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Where a PodSpec holds quantities, relative to the PodSpec.
const POD_SPEC_QUANTITIES: &[&str] = &[
    "containers.*.resources.limits.*",
    "containers.*.resources.requests.*",
    "initContainers.*.resources.limits.*",
    "initContainers.*.resources.requests.*",
    "ephemeralContainers.*.resources.limits.*",
    "ephemeralContainers.*.resources.requests.*",
    "resources.limits.*",
    "resources.requests.*",
    "overhead.*",
    "volumes.*.emptyDir.sizeLimit",
    "volumes.*.ephemeral.volumeClaimTemplate.spec.resources.requests.*",
    "volumes.*.ephemeral.volumeClaimTemplate.spec.resources.limits.*",
];

/// The quantity locations of a built-in kind.
fn quantity_patterns(group: &str, kind: &str) -> Vec<String> {
    let pod_at = |prefix: &str| -> Vec<String> {
        POD_SPEC_QUANTITIES
            .iter()
            .map(|p| format!("{prefix}.{p}"))
            .collect()
    };
    match (group, kind) {
        ("", "Pod") => {
            let mut v = pod_at("spec");
            v.push("status.containerStatuses.*.allocatedResources.*".into());
            v
        }
        ("", "PodTemplate") => pod_at("template.spec"),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet")
        | ("batch", "Job") => {
            let mut v = pod_at("spec.template.spec");
            if kind == "StatefulSet" {
                v.push("spec.volumeClaimTemplates.*.spec.resources.requests.*".into());
                v.push("spec.volumeClaimTemplates.*.spec.resources.limits.*".into());
            }
            v
        }
        ("batch", "CronJob") => pod_at("spec.jobTemplate.spec.template.spec"),
        ("", "PersistentVolumeClaim") => vec![
            "spec.resources.requests.*".into(),
            "spec.resources.limits.*".into(),
            "status.capacity.*".into(),
            "status.allocatedResources.*".into(),
        ],
        ("", "PersistentVolume") => vec!["spec.capacity.*".into()],
        ("", "ResourceQuota") => vec![
            "spec.hard.*".into(),
            "status.hard.*".into(),
            "status.used.*".into(),
        ],
        ("", "LimitRange") => [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ]
        .iter()
        .map(|f| format!("spec.limits.*.{f}.*"))
        .collect(),
        ("", "Node") => vec!["status.capacity.*".into(), "status.allocatable.*".into()],
        ("autoscaling", "HorizontalPodAutoscaler") => {
            let mut v = Vec::new();
            for src in [
                "object",
                "pods",
                "resource",
                "containerResource",
                "external",
            ] {
                for t in ["target", "current"] {
                    v.push(format!("spec.metrics.*.{src}.{t}.value"));
                    v.push(format!("spec.metrics.*.{src}.{t}.averageValue"));
                    v.push(format!("status.currentMetrics.*.{src}.{t}.value"));
                    v.push(format!("status.currentMetrics.*.{src}.{t}.averageValue"));
                }
            }
            v
        }
        ("storage.k8s.io", "CSIStorageCapacity") => {
            vec!["capacity".into(), "maximumVolumeSize".into()]
        }
        ("node.k8s.io", "RuntimeClass") => vec!["overhead.podFixed.*".into()],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

/// Decodes a built-in kind with its `k8s-openapi` type (see [`typed_decode`]), including the
/// quantity check Go's decoder makes. An unknown kind is an error worded as upstream's scheme.
pub fn decode_builtin(
    group: &str,
    version: &str,
    kind: &str,
    obj: Value,
) -> Result<Decoded, DecodeError> {
    macro_rules! dispatch {
        ($( ($g:literal, $v:literal, $k:literal) => $t:ty, )*) => {
            match (group, version, kind) {
                $( ($g, $v, $k) => typed_decode::<$t>(obj, kind, version), )*
                _ => Err(DecodeError(format!(
                    "no kind \"{kind}\" is registered for version \"{}\" in scheme \"pkg/api/legacyscheme/scheme.go:30\"",
                    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
                ))),
            }
        };
    }
    let decoded = dispatch! {
        ("", "v1", "Binding") => api::core::v1::Binding,
        ("", "v1", "ComponentStatus") => api::core::v1::ComponentStatus,
        ("", "v1", "ConfigMap") => api::core::v1::ConfigMap,
        ("", "v1", "Endpoints") => api::core::v1::Endpoints,
        ("", "v1", "Event") => api::core::v1::Event,
        ("", "v1", "LimitRange") => api::core::v1::LimitRange,
        ("", "v1", "Namespace") => api::core::v1::Namespace,
        ("", "v1", "Node") => api::core::v1::Node,
        ("", "v1", "PersistentVolumeClaim") => api::core::v1::PersistentVolumeClaim,
        ("", "v1", "PersistentVolume") => api::core::v1::PersistentVolume,
        ("", "v1", "Pod") => api::core::v1::Pod,
        ("", "v1", "PodTemplate") => api::core::v1::PodTemplate,
        ("", "v1", "ReplicationController") => api::core::v1::ReplicationController,
        ("", "v1", "ResourceQuota") => api::core::v1::ResourceQuota,
        ("", "v1", "Secret") => api::core::v1::Secret,
        ("", "v1", "ServiceAccount") => api::core::v1::ServiceAccount,
        ("", "v1", "Service") => api::core::v1::Service,
        ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration") =>
            api::admissionregistration::v1::MutatingWebhookConfiguration,
        ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration") =>
            api::admissionregistration::v1::ValidatingWebhookConfiguration,
        ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy") =>
            api::admissionregistration::v1::ValidatingAdmissionPolicy,
        ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding") =>
            api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") =>
            apiextensions::CustomResourceDefinition,
        ("apps", "v1", "ControllerRevision") => api::apps::v1::ControllerRevision,
        ("apps", "v1", "DaemonSet") => api::apps::v1::DaemonSet,
        ("apps", "v1", "Deployment") => api::apps::v1::Deployment,
        ("apps", "v1", "ReplicaSet") => api::apps::v1::ReplicaSet,
        ("apps", "v1", "StatefulSet") => api::apps::v1::StatefulSet,
        ("authentication.k8s.io", "v1", "SelfSubjectReview") =>
            api::authentication::v1::SelfSubjectReview,
        ("authentication.k8s.io", "v1", "TokenReview") => api::authentication::v1::TokenReview,
        ("authentication.k8s.io", "v1", "TokenRequest") => api::authentication::v1::TokenRequest,
        ("authorization.k8s.io", "v1", "LocalSubjectAccessReview") =>
            api::authorization::v1::LocalSubjectAccessReview,
        ("authorization.k8s.io", "v1", "SelfSubjectAccessReview") =>
            api::authorization::v1::SelfSubjectAccessReview,
        ("authorization.k8s.io", "v1", "SelfSubjectRulesReview") =>
            api::authorization::v1::SelfSubjectRulesReview,
        ("authorization.k8s.io", "v1", "SubjectAccessReview") =>
            api::authorization::v1::SubjectAccessReview,
        ("autoscaling", "v2", "HorizontalPodAutoscaler") =>
            api::autoscaling::v2::HorizontalPodAutoscaler,
        ("autoscaling", "v1", "HorizontalPodAutoscaler") =>
            api::autoscaling::v1::HorizontalPodAutoscaler,
        ("autoscaling", "v1", "Scale") => api::autoscaling::v1::Scale,
        ("batch", "v1", "CronJob") => api::batch::v1::CronJob,
        ("batch", "v1", "Job") => api::batch::v1::Job,
        ("certificates.k8s.io", "v1", "CertificateSigningRequest") =>
            api::certificates::v1::CertificateSigningRequest,
        ("coordination.k8s.io", "v1", "Lease") => api::coordination::v1::Lease,
        ("discovery.k8s.io", "v1", "EndpointSlice") => api::discovery::v1::EndpointSlice,
        ("events.k8s.io", "v1", "Event") => api::events::v1::Event,
        ("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema") => api::flowcontrol::v1::FlowSchema,
        ("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration") =>
            api::flowcontrol::v1::PriorityLevelConfiguration,
        ("networking.k8s.io", "v1", "IngressClass") => api::networking::v1::IngressClass,
        ("networking.k8s.io", "v1", "Ingress") => api::networking::v1::Ingress,
        ("networking.k8s.io", "v1", "NetworkPolicy") => api::networking::v1::NetworkPolicy,
        ("node.k8s.io", "v1", "RuntimeClass") => api::node::v1::RuntimeClass,
        ("policy", "v1", "PodDisruptionBudget") => api::policy::v1::PodDisruptionBudget,
        ("policy", "v1", "Eviction") => api::policy::v1::Eviction,
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") =>
            api::rbac::v1::ClusterRoleBinding,
        ("rbac.authorization.k8s.io", "v1", "ClusterRole") => api::rbac::v1::ClusterRole,
        ("rbac.authorization.k8s.io", "v1", "RoleBinding") => api::rbac::v1::RoleBinding,
        ("rbac.authorization.k8s.io", "v1", "Role") => api::rbac::v1::Role,
        ("scheduling.k8s.io", "v1", "PriorityClass") => api::scheduling::v1::PriorityClass,
        ("storage.k8s.io", "v1", "CSIDriver") => api::storage::v1::CSIDriver,
        ("storage.k8s.io", "v1", "CSINode") => api::storage::v1::CSINode,
        ("storage.k8s.io", "v1", "CSIStorageCapacity") => api::storage::v1::CSIStorageCapacity,
        ("storage.k8s.io", "v1", "StorageClass") => api::storage::v1::StorageClass,
        ("storage.k8s.io", "v1", "VolumeAttachment") => api::storage::v1::VolumeAttachment,
    }?;
    let patterns = quantity_patterns(group, kind);
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    check_quantities(&decoded.object, &patterns).map_err(|m| {
        DecodeError(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {m}"
        ))
    })?;
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(group: &str, version: &str, kind: &str, obj: Value) -> String {
        match decode_builtin(group, version, kind, obj) {
            Ok(d) => panic!("decoded: {:?}", d.object),
            Err(e) => e.0,
        }
    }

    #[test]
    fn config_map_data_list_is_rejected_like_upstream() {
        let e = err(
            "",
            "v1",
            "ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": ["x"]}}),
        );
        assert_eq!(
            e,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal array into Go struct field ConfigMap.data of type string"
        );
    }

    #[test]
    fn nested_struct_and_list_types() {
        let e = err(
            "apps",
            "v1",
            "Deployment",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
                   "spec": {"template": {"spec": {"containers": "nginx"}}}}),
        );
        assert_eq!(
            e,
            "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"
        );
        let e = err(
            "",
            "v1",
            "ConfigMap",
            json!({"metadata": {"name": "a", "labels": {"x": 5}}}),
        );
        assert_eq!(
            e,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
        );
        let e = err(
            "",
            "v1",
            "Service",
            json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": "80"}]}}),
        );
        assert_eq!(
            e,
            "Service in version \"v1\" cannot be handled as a Service: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"
        );
        let e = err(
            "",
            "v1",
            "Service",
            json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 1.5}]}}),
        );
        assert!(e.ends_with("cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.port of type int32"), "{e}");
    }

    #[test]
    fn unknown_fields_are_dropped_and_reported() {
        let d = decode_builtin(
            "",
            "v1",
            "Pod",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "bogus": 1},
                   "spec": {"containers": [{"name": "c", "image": "i", "foo": "bar"}]}}),
        )
        .expect("decodes");
        assert_eq!(
            d.unknown_fields,
            vec!["metadata.bogus", "spec.containers[0].foo"]
        );
        assert!(d.object["spec"]["containers"][0].get("foo").is_none());
        // Required fields the client left out are not invented.
        let d = decode_builtin(
            "apps",
            "v1",
            "Deployment",
            json!({"metadata": {"name": "a"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}),
        )
        .expect("decodes");
        assert!(d.object["spec"].get("selector").is_none(), "{}", d.object);
        let keys: Vec<&String> = d.object.as_object().expect("object").keys().collect();
        assert_eq!(keys[..3], ["kind", "apiVersion", "metadata"]);
    }

    #[test]
    fn bad_quantity_and_base64() {
        let e = err(
            "",
            "v1",
            "Pod",
            json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "lots"}}}]}}),
        );
        assert_eq!(
            e,
            format!("Pod in version \"v1\" cannot be handled as a Pod: {QUANTITY_FORMAT_ERROR}")
        );
        let e = err(
            "",
            "v1",
            "Secret",
            json!({"metadata": {"name": "a"}, "data": {"k": "ab-d"}}),
        );
        assert_eq!(
            e,
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 2"
        );
    }

    #[test]
    fn every_builtin_kind_dispatches() {
        for entry in crate::builtin::entries() {
            let info = &entry.info;
            let api_version = info.api_version();
            let r = decode_builtin(
                &info.group,
                &info.version,
                &info.kind,
                json!({"apiVersion": api_version, "kind": info.kind, "metadata": {"name": "x"}}),
            );
            assert!(r.is_ok(), "{}: {r:?}", info.kind);
        }
    }
}
