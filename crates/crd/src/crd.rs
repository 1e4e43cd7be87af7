//! The CustomResourceDefinition kind itself: defaulting, validation, status, strategy.

use minato_resources::{FieldError, FieldPath, Strategy};
use serde_json::{json, Map, Value};

use crate::names::{dns1035_label, dns1123_subdomain, name_is_dns_subdomain};
use crate::structural;

/// Reads a string at a path of object keys; `""` when absent or not a string.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(x) => cur = x,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

pub(crate) fn versions(crd: &Value) -> &[Value] {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn bool_at(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// The storage version's name, if exactly one is marked (the first one otherwise).
pub(crate) fn storage_version(crd: &Value) -> Option<String> {
    versions(crd)
        .iter()
        .find(|v| bool_at(v, "storage"))
        .map(|v| str_at(v, &["name"]).to_string())
}

/// Upstream's v1 defaulting (`SetDefaults_CustomResourceDefinition`): singular is the lowered
/// kind, listKind is `<Kind>List`, conversion strategy `None`, webhook service port 443, and
/// `status.storedVersions` holds the storage version.
pub fn crd_defaults(crd: &mut Value) {
    let storage = storage_version(crd);
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if names
            .get("singular")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            names.insert("singular".into(), Value::String(kind.to_lowercase()));
        }
        if !kind.is_empty()
            && names
                .get("listKind")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            names.insert("listKind".into(), Value::String(format!("{kind}List")));
        }
    }
    match spec.get_mut("conversion") {
        Some(Value::Object(conv)) => {
            if let Some(Value::Object(svc)) = conv
                .get_mut("webhook")
                .and_then(|w| w.get_mut("clientConfig"))
                .and_then(|c| c.get_mut("service"))
            {
                svc.entry("port").or_insert(json!(443));
            }
        }
        _ => {
            spec.insert("conversion".into(), json!({"strategy": "None"}));
        }
    }
    if let Some(storage) = storage {
        if let Some(obj) = crd.as_object_mut() {
            let status = obj.entry("status").or_insert_with(|| json!({}));
            if let Some(st) = status.as_object_mut() {
                let empty = st
                    .get("storedVersions")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty);
                if empty {
                    st.insert("storedVersions".into(), json!([storage]));
                }
            }
        }
    }
}

/// The names with the defaults upstream fills (as `status.acceptedNames` shows them).
fn names_with_defaults(crd: &Value) -> Value {
    let mut c = crd.clone();
    crd_defaults(&mut c);
    let mut names = c
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(m) = names.as_object_mut() {
        m.entry("plural").or_insert(json!(""));
        m.entry("kind").or_insert(json!(""));
    }
    names
}

/// The status upstream's naming and establishing controllers set once the names are accepted.
pub fn crd_status(crd: &Value) -> Value {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let old = crd.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut stored: Vec<Value> = old
        .get("storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(s) = storage_version(crd) {
        if !stored.iter().any(|v| v.as_str() == Some(&s)) {
            stored.push(Value::String(s));
        }
    }
    let old_conds: Vec<Value> = old
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Keep lastTransitionTime when the condition already had this status.
    let cond = |ty: &str, reason: &str, message: &str| {
        let since = old_conds
            .iter()
            .find(|c| str_at(c, &["type"]) == ty && str_at(c, &["status"]) == "True")
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| Value::String(now.clone()));
        json!({
            "type": ty,
            "status": "True",
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        })
    };
    let mut conditions = vec![
        cond("NamesAccepted", "NoConflicts", "no conflicts found"),
        cond(
            "Established",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        ),
    ];
    conditions.extend(
        old_conds
            .into_iter()
            .filter(|c| !matches!(str_at(c, &["type"]), "NamesAccepted" | "Established")),
    );
    json!({
        "acceptedNames": names_with_defaults(crd),
        "conditions": conditions,
        "storedVersions": stored,
    })
}

fn p(s: &str) -> FieldPath {
    FieldPath::new(s)
}

/// `validateEnumStrings`: required, then one of `accepted`.
fn enum_string(path: &FieldPath, v: &str, accepted: &[&str], out: &mut Vec<FieldError>) {
    if v.is_empty() {
        out.push(FieldError::required(path, ""));
    } else if !accepted.contains(&v) {
        out.push(FieldError::not_supported(path, v, accepted));
    }
}

/// Validates a new CRD as upstream does (`ValidateCustomResourceDefinition`).
pub fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    validate_meta(crd, &mut out);
    validate_spec(crd, &mut out);
    validate_names(
        crd.pointer("/status/acceptedNames").unwrap_or(&Value::Null),
        &p("status").child("acceptedNames"),
        &mut out,
    );
    out
}

/// Validates an update: the new CRD, fields that may not change, and stored versions.
pub fn validate_crd_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut out = validate_crd(new);
    let spec = p("spec");
    let established = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| str_at(c, &["type"]) == "Established" && str_at(c, &["status"]) == "True")
        });
    let mut immutable = |path: FieldPath, keys: &[&str]| {
        let a = str_at(new, keys);
        let b = str_at(old, keys);
        if a != b {
            out.push(FieldError::invalid(&path, a, "field is immutable"));
        }
    };
    if established {
        immutable(spec.child("scope"), &["spec", "scope"]);
        immutable(
            spec.child("names").child("kind"),
            &["spec", "names", "kind"],
        );
    }
    immutable(spec.child("group"), &["spec", "group"]);
    immutable(
        spec.child("names").child("plural"),
        &["spec", "names", "plural"],
    );
    validate_stored_versions(new, &mut out);
    out
}

/// Validates a write to `/status` of a CRD.
pub fn validate_crd_status_update(new: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    validate_names(
        new.pointer("/status/acceptedNames").unwrap_or(&Value::Null),
        &p("status").child("acceptedNames"),
        &mut out,
    );
    out
}

fn validate_stored_versions(crd: &Value, out: &mut Vec<FieldError>) {
    let path = p("status").child("storedVersions");
    let stored: Vec<&str> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let stored_value = Value::from(stored.clone());
    if stored.is_empty() {
        out.push(FieldError::invalid(
            &path,
            stored_value,
            "must have at least one stored version",
        ));
        return;
    }
    let vs = versions(crd);
    for v in vs {
        let name = str_at(v, &["name"]);
        if bool_at(v, "storage") && !stored.contains(&name) {
            out.push(FieldError::invalid(
                &path,
                stored_value.clone(),
                format!("must have the storage version {name}"),
            ));
        }
    }
    for (i, s) in stored.iter().enumerate() {
        if !vs.iter().any(|v| str_at(v, &["name"]) == *s) {
            out.push(FieldError::invalid(
                &path.index(i),
                *s,
                format!("missing from spec.versions; {s} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in {s} and removes {s} from status.storedVersions"),
            ));
        }
    }
}

fn validate_meta(crd: &Value, out: &mut Vec<FieldError>) {
    let name = str_at(crd, &["metadata", "name"]);
    let generate = str_at(crd, &["metadata", "generateName"]);
    let path = p("metadata").child("name");
    let plural = str_at(crd, &["spec", "names", "plural"]);
    let group = str_at(crd, &["spec", "group"]);
    if !generate.is_empty() {
        for msg in name_is_dns_subdomain(generate, true) {
            out.push(FieldError::invalid(
                &p("metadata").child("generateName"),
                generate,
                msg,
            ));
        }
    }
    if name.is_empty() {
        if generate.is_empty() {
            out.push(FieldError::required(
                &path,
                "name or generateName is required",
            ));
        }
        return;
    }
    let mut msgs = name_is_dns_subdomain(name, false);
    if name != format!("{plural}.{group}") {
        msgs.push(r#"must be spec.names.plural+"."+spec.group"#.to_string());
    }
    for msg in msgs {
        out.push(FieldError::invalid(&path, name, msg));
    }
}

fn validate_spec(crd: &Value, out: &mut Vec<FieldError>) {
    let spec_v = crd.get("spec").unwrap_or(&Value::Null);
    let spec = p("spec");
    let group = str_at(spec_v, &["group"]);
    if group.is_empty() {
        out.push(FieldError::required(&spec.child("group"), ""));
    } else {
        let errs = dns1123_subdomain(group);
        if !errs.is_empty() {
            out.push(FieldError::invalid(
                &spec.child("group"),
                group,
                errs.join(","),
            ));
        } else if !group.contains('.') {
            out.push(FieldError::invalid(
                &spec.child("group"),
                group,
                "should be a domain with at least one dot",
            ));
        }
    }
    enum_string(
        &spec.child("scope"),
        str_at(spec_v, &["scope"]),
        &["Cluster", "Namespaced"],
        out,
    );

    if bool_at(spec_v, "preserveUnknownFields") {
        out.push(FieldError::invalid(
            &spec.child("preserveUnknownFields"),
            true,
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }

    let vs = versions(crd);
    let vpath = spec.child("versions");
    let mut storage = 0;
    let mut seen = std::collections::HashSet::new();
    let mut unique = true;
    for (i, v) in vs.iter().enumerate() {
        let vp = vpath.index(i);
        let name = str_at(v, &["name"]);
        if bool_at(v, "storage") {
            storage += 1;
        }
        if !seen.insert(name) {
            unique = false;
        }
        let errs = dns1035_label(name);
        if !errs.is_empty() {
            out.push(FieldError::invalid(&vp.child("name"), name, errs.join(",")));
        }
        validate_version(v, &vp, out);
    }
    let versions_value = spec_v.get("versions").cloned().unwrap_or(Value::Null);
    if !unique {
        out.push(FieldError::invalid(
            &vpath,
            versions_value.clone(),
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        out.push(FieldError::invalid(
            &vpath,
            versions_value,
            "must have exactly one version marked as storage version",
        ));
    }

    let names = spec_v.get("names").unwrap_or(&Value::Null);
    let npath = spec.child("names");
    for k in ["plural", "singular", "kind", "listKind"] {
        if str_at(names, &[k]).is_empty() {
            out.push(FieldError::required(&npath.child(k), ""));
        }
    }
    validate_names(names, &npath, out);
    validate_conversion(spec_v, &spec.child("conversion"), out);
}

fn validate_conversion(spec: &Value, path: &FieldPath, out: &mut Vec<FieldError>) {
    let Some(conv) = spec.get("conversion").filter(|c| !c.is_null()) else {
        return;
    };
    let strategy = str_at(conv, &["strategy"]);
    enum_string(&path.child("strategy"), strategy, &["None", "Webhook"], out);
    let client = conv.pointer("/webhook/clientConfig");
    if strategy == "Webhook" {
        match client {
            None => out.push(FieldError::required(
                &path.child("webhookClientConfig"),
                "required when strategy is set to Webhook",
            )),
            Some(c) => {
                let has_url = !str_at(c, &["url"]).is_empty();
                let has_svc = c.get("service").is_some_and(|s| !s.is_null());
                if has_url == has_svc {
                    out.push(FieldError::required(
                        &path.child("webhookClientConfig"),
                        "exactly one of url or service is required",
                    ));
                }
            }
        }
        let review = conv
            .pointer("/webhook/conversionReviewVersions")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        if review == 0 {
            out.push(FieldError::required(
                &path.child("conversionReviewVersions"),
                "",
            ));
        }
    } else if conv.get("webhook").is_some_and(|w| !w.is_null()) {
        out.push(FieldError::forbidden(
            &path.child("webhookClientConfig"),
            "should not be set when strategy is not set to Webhook",
        ));
    }
}

/// `ValidateCustomResourceDefinitionNames` (used for spec.names and status.acceptedNames).
fn validate_names(names: &Value, path: &FieldPath, out: &mut Vec<FieldError>) {
    for k in ["plural", "singular"] {
        let v = str_at(names, &[k]);
        let errs = dns1035_label(v);
        if !v.is_empty() && !errs.is_empty() {
            out.push(FieldError::invalid(&path.child(k), v, errs.join(",")));
        }
    }
    for k in ["kind", "listKind"] {
        let v = str_at(names, &[k]);
        let errs = dns1035_label(&v.to_lowercase());
        if !v.is_empty() && !errs.is_empty() {
            out.push(FieldError::invalid(
                &path.child(k),
                v,
                format!(
                    "may have mixed case, but should otherwise match: {}",
                    errs.join(",")
                ),
            ));
        }
    }
    for k in ["shortNames", "categories"] {
        let list = names.get(k).and_then(Value::as_array);
        for (i, s) in list.into_iter().flatten().enumerate() {
            let s = s.as_str().unwrap_or("");
            let errs = dns1035_label(s);
            if !errs.is_empty() {
                out.push(FieldError::invalid(
                    &path.child(k).index(i),
                    s,
                    errs.join(","),
                ));
            }
        }
    }
    let kind = str_at(names, &["kind"]);
    if !kind.is_empty() && kind == str_at(names, &["listKind"]) {
        out.push(FieldError::invalid(
            &path.child("listKind"),
            kind,
            "kind and listKind may not be the same",
        ));
    }
}

fn validate_version(v: &Value, path: &FieldPath, out: &mut Vec<FieldError>) {
    let deprecated = bool_at(v, "deprecated");
    if let Some(w) = v.get("deprecationWarning").and_then(Value::as_str) {
        let wp = path.child("deprecationWarning");
        if !deprecated {
            out.push(FieldError::invalid(
                &wp,
                w,
                "can only be set for deprecated versions",
            ));
        } else if w.len() > 256 {
            out.push(FieldError::invalid(
                &wp,
                w,
                "must be <= 256 characters long",
            ));
        } else if w.is_empty() {
            out.push(FieldError::invalid(&wp, w, "must not be an empty string"));
        }
    }
    let status_enabled = v
        .pointer("/subresources/status")
        .is_some_and(|s| !s.is_null());
    let schema_path = path.child("schema").child("openAPIV3Schema");
    match v
        .pointer("/schema/openAPIV3Schema")
        .filter(|s| !s.is_null())
    {
        None => out.push(FieldError::required(&schema_path, "")),
        Some(schema) => structural::validate_crd_schema(schema, &schema_path, status_enabled, out),
    }
    validate_subresources(v.get("subresources"), &path.child("subresources"), out);
    let cols = v.get("additionalPrinterColumns").and_then(Value::as_array);
    for (i, c) in cols.into_iter().flatten().enumerate() {
        validate_column(c, &path.child("additionalPrinterColumns").index(i), out);
    }
}

fn validate_column(c: &Value, path: &FieldPath, out: &mut Vec<FieldError>) {
    const TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];
    const FORMATS: &[&str] = &[
        "byte",
        "date",
        "date-time",
        "double",
        "float",
        "int32",
        "int64",
        "password",
    ];
    if str_at(c, &["name"]).is_empty() {
        out.push(FieldError::required(&path.child("name"), ""));
    }
    let ty = str_at(c, &["type"]);
    let types_msg = format!("must be one of {}", TYPES.join(","));
    if ty.is_empty() {
        out.push(FieldError::required(&path.child("type"), types_msg));
    } else if !TYPES.contains(&ty) {
        out.push(FieldError::invalid(&path.child("type"), ty, types_msg));
    }
    let format = str_at(c, &["format"]);
    if !format.is_empty() && !FORMATS.contains(&format) {
        out.push(FieldError::invalid(
            &path.child("format"),
            format,
            format!("must be one of {}", FORMATS.join(",")),
        ));
    }
    if str_at(c, &["jsonPath"]).is_empty() {
        out.push(FieldError::required(&path.child("JSONPath"), ""));
    }
}

fn simple_json_path(s: &str, path: &FieldPath, out: &mut Vec<FieldError>) -> bool {
    if s.is_empty() {
        out.push(FieldError::invalid(path, s, "must not be empty"));
        false
    } else if !s.starts_with('.') {
        out.push(FieldError::invalid(
            path,
            s,
            "must be a simple json path starting with .",
        ));
        false
    } else {
        true
    }
}

fn validate_subresources(sub: Option<&Value>, path: &FieldPath, out: &mut Vec<FieldError>) {
    let Some(scale) = sub.and_then(|s| s.get("scale")).filter(|s| !s.is_null()) else {
        return;
    };
    let check =
        |key: &str, prefixes: &[&str], msg: &str, required: bool, out: &mut Vec<FieldError>| {
            let fp = path.child(&format!("scale.{key}"));
            let v = str_at(scale, &[key]);
            if v.is_empty() {
                if required {
                    out.push(FieldError::required(&fp, ""));
                }
                return;
            }
            if simple_json_path(v, &fp, out) && !prefixes.iter().any(|p| v.starts_with(p)) {
                out.push(FieldError::invalid(&fp, v, msg));
            }
        };
    check(
        "specReplicasPath",
        &[".spec."],
        "should be a json path under .spec",
        true,
        out,
    );
    check(
        "statusReplicasPath",
        &[".status."],
        "should be a json path under .status",
        true,
        out,
    );
    check(
        "labelSelectorPath",
        &[".spec.", ".status."],
        "should be a json path under either .spec or .status",
        false,
        out,
    );
}

/// The strategy of `customresourcedefinitions.apiextensions.k8s.io`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CrdStrategy;

impl Strategy for CrdStrategy {
    fn apply_defaults(&self, obj: &mut Value) {
        crd_defaults(obj);
    }

    /// Upstream resets the status on create and records the storage version.
    fn prepare_for_create(&self, obj: &mut Value) {
        let storage = storage_version(obj);
        if let Some(m) = obj.as_object_mut() {
            let mut status = Map::new();
            status.insert("acceptedNames".into(), json!({"kind": "", "plural": ""}));
            status.insert(
                "storedVersions".into(),
                Value::from(storage.into_iter().collect::<Vec<_>>()),
            );
            m.insert("status".into(), Value::Object(status));
        }
    }

    /// The status is kept from the stored object; a new storage version is recorded.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let storage = storage_version(new);
        let Some(m) = new.as_object_mut() else {
            return;
        };
        let mut status = old.get("status").cloned().unwrap_or_else(|| json!({}));
        if let (Some(s), Some(st)) = (storage, status.as_object_mut()) {
            let stored = st.entry("storedVersions").or_insert_with(|| json!([]));
            if let Some(a) = stored.as_array_mut() {
                if !a.iter().any(|v| v.as_str() == Some(&s)) {
                    a.push(Value::String(s));
                }
            }
        }
        m.insert("status".into(), status);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_crd(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_crd_update(new, old)
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        validate_crd_status_update(new)
    }

    // status_writable_metadata: the common set. Upstream's CRD status strategy means to reset
    // the metadata, but resets the new object from itself, so labels, annotations, finalizers
    // and ownerReferences written with the status are kept; clients see that behaviour.

    fn tracks_generation(&self) -> bool {
        true
    }
}
