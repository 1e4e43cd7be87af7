//! List and watch filtering: label selectors and the field selectors each kind supports.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::meta;

/// The fields a kind can be selected by (beyond metadata.name and metadata.namespace), as
/// upstream's per-kind field label conversion functions allow.
fn supported_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "Event") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "Secret") => &["type"],
        ("", "Node") => &["spec.unschedulable"],
        ("", "Namespace") => &["status.phase"],
        ("", "ReplicationController") | ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        ("certificates.k8s.io", "CertificateSigningRequest") => &["spec.signerName"],
        _ => &[],
    }
}

/// The value of a selectable field; absent fields read as Go's zero value.
fn field_value(obj: &Value, field: &str) -> String {
    if field == "source" {
        return obj
            .pointer("/source/component")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
    }
    if field == "status.podIPs" {
        return obj
            .pointer("/status/podIPs/0/ip")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
    }
    let pointer = format!("/{}", field.replace('.', "/"));
    match obj.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Null) | None => match field {
            "spec.unschedulable" | "spec.hostNetwork" => "false".into(),
            "status.replicas" | "status.successful" => "0".into(),
            _ => String::new(),
        },
        Some(other) => other.to_string(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
}

/// A parsed field selector, checked against the kind's supported fields.
#[derive(Clone, Debug, Default)]
pub struct FieldFilter {
    reqs: Vec<(String, Op, String)>,
}

impl FieldFilter {
    pub fn parse(selector: Option<&str>, group: &str, kind: &str) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        let Some(s) = selector.filter(|s| !s.trim().is_empty()) else {
            return Ok(FieldFilter { reqs });
        };
        for part in split_unescaped(s, ',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (field, op, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, Op::NotEq, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, Op::Eq, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, Op::Eq, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: '{part}' is not a valid field selector: expected one of '=', '==', '!='"
                )));
            };
            let field = field.trim();
            let supported = field == "metadata.name"
                || field == "metadata.namespace"
                || supported_fields(group, kind).contains(&field);
            if !supported {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            reqs.push((field.to_string(), op, unescape(value.trim())));
        }
        Ok(FieldFilter { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// `Some(name)` when the selector is exactly `metadata.name=<name>` (the wait/watch form).
    pub fn single_name(&self) -> Option<&str> {
        match self.reqs.as_slice() {
            [(f, Op::Eq, v)] if f == "metadata.name" => Some(v),
            _ => None,
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(f, op, v)| {
            let actual = match f.as_str() {
                "metadata.name" => meta::name(obj).unwrap_or("").to_string(),
                "metadata.namespace" => meta::namespace(obj).unwrap_or("").to_string(),
                other => field_value(obj, other),
            };
            match op {
                Op::Eq => actual == *v,
                Op::NotEq => actual != *v,
            }
        })
    }
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Label and field selectors of one list or watch request.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub labels: Option<minato_selectors::LabelSelector>,
    pub fields: FieldFilter,
}

impl Filter {
    pub fn parse(
        label_selector: Option<&str>,
        field_selector: Option<&str>,
        group: &str,
        kind: &str,
    ) -> ApiResult<Self> {
        let labels = match label_selector.filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(
                minato_selectors::LabelSelector::parse(s)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            ),
            None => None,
        };
        Ok(Filter {
            labels,
            fields: FieldFilter::parse(field_selector, group, kind)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_empty()
    }

    /// The members the selectors read, each a path of member names from the top: checking
    /// them against an object holding only these members answers as for the whole object.
    pub fn paths(&self) -> Vec<Vec<&str>> {
        let mut paths = vec![vec!["metadata", "name"], vec!["metadata", "namespace"]];
        if self.labels.is_some() {
            paths.push(vec!["metadata", "labels"]);
        }
        for (field, _, _) in &self.fields.reqs {
            match field.as_str() {
                "metadata.name" | "metadata.namespace" => {}
                other => paths.push(other.split('.').collect()),
            }
        }
        paths
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.labels {
            if !l.matches(&meta::labels(obj)) {
                return false;
            }
        }
        self.fields.matches(obj)
    }
}
