//! The strategy of a custom resource at one version: pruning, defaulting and validation
//! against the version's structural schema, and the status/scale rules of its subresources.

use minato_resources::strategy::Decoded;
use minato_resources::{DecodeError, FieldError, FieldPath, Strategy};
use serde_json::Value;

use crate::names::name_is_dns_subdomain;
use crate::schema::Schema;
use crate::validate;

/// Upper bound for walking object data where no schema bounds the depth.
const MAX_DATA_DEPTH: usize = 256;

/// The scale subresource's JSON paths as the CRD gives them (`.spec.replicas`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// Decoding, defaulting and validation of one custom resource version.
#[derive(Clone, Debug)]
pub struct CustomResourceStrategy {
    group: String,
    version: String,
    kind: String,
    schema: Schema,
    has_status: bool,
    scale: Option<ScalePaths>,
    /// The version's `additionalPrinterColumns` (an array, possibly empty).
    columns: Value,
}

impl CustomResourceStrategy {
    /// `schema` is the version's `openAPIV3Schema` (`Value::Null` keeps every field).
    pub fn new(
        group: &str,
        version: &str,
        kind: &str,
        schema: &Value,
        has_status: bool,
        scale: Option<ScalePaths>,
    ) -> Self {
        let schema = if schema.is_object() {
            Schema::parse(schema)
        } else {
            Schema::permissive()
        };
        CustomResourceStrategy {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            schema,
            has_status,
            scale,
            columns: Value::Array(Vec::new()),
        }
    }

    /// Sets the `additionalPrinterColumns` the table printer uses for this version.
    pub fn with_printer_columns(mut self, columns: Value) -> Self {
        if columns.is_array() {
            self.columns = columns;
        }
        self
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Drops fields the schema does not know; returns their paths, sorted.
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        let mut unknown = Vec::new();
        // The root is a resource: apiVersion, kind and metadata are always kept.
        let mut root = self.schema.clone();
        root.embedded_resource = true;
        prune(obj, Some(&root), "", 0, &mut unknown);
        unknown.sort();
        unknown
    }

    /// Applies schema defaults, then drops nulls the schema does not allow.
    pub fn default(&self, obj: &mut Value) {
        default(obj, &self.schema, 0);
        prune_nulls(obj, Some(&self.schema), 0);
    }

    fn type_meta(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if kind != self.kind {
            out.push(FieldError::invalid(
                &FieldPath::new("kind"),
                kind,
                format!("must be {}", self.kind),
            ));
        }
        let want = format!("{}/{}", self.group, self.version);
        if api_version != want {
            out.push(FieldError::invalid(
                &FieldPath::new("apiVersion"),
                api_version,
                format!("must be {want}"),
            ));
        }
        out
    }

    fn schema_errors(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        validate::validate("", obj, &self.schema, &mut out);
        out
    }

    fn list_errors(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        validate::list_types(&FieldPath::default(), obj, &self.schema, &mut out);
        out
    }

    fn scale_errors(&self, obj: &Value, spec: bool) -> Vec<FieldError> {
        let Some(scale) = &self.scale else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if spec {
            replicas_check(obj, &scale.spec_replicas, &mut out);
        }
        replicas_check(obj, &scale.status_replicas, &mut out);
        if let Some(sel) = &scale.label_selector {
            if let Some(v) = lookup(obj, sel) {
                if !v.is_string() {
                    out.push(FieldError::invalid(
                        &FieldPath::new(sel),
                        "",
                        accessor_error(sel, v, "string"),
                    ));
                }
            }
        }
        out
    }
}

/// The value at a `.a.b.c` path, if every step is an object key.
fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for k in path.trim_start_matches('.').split('.') {
        cur = cur.as_object()?.get(k)?;
    }
    Some(cur)
}

/// Go's type name of a decoded JSON value, as `unstructured.Nested*` errors print it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn accessor_error(path: &str, v: &Value, want: &str) -> String {
    let shown = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!(
        "{path} accessor error: {shown} is of the type {}, expected {want}",
        go_type(v)
    )
}

/// `ValidateScaleSpec`/`ValidateScaleStatus`: a replicas field, when set, is an int32 >= 0.
fn replicas_check(obj: &Value, path: &str, out: &mut Vec<FieldError>) {
    let Some(v) = lookup(obj, path) else {
        return;
    };
    let fp = FieldPath::new(path);
    match v.as_i64() {
        None => out.push(FieldError::invalid(
            &fp,
            0,
            accessor_error(path, v, "int64"),
        )),
        Some(n) if n < 0 => out.push(FieldError::invalid(
            &fp,
            n,
            "should be a non-negative integer",
        )),
        Some(n) if n > i64::from(i32::MAX) => out.push(FieldError::invalid(
            &fp,
            n,
            format!("should be less than or equal to {}", i32::MAX),
        )),
        _ => {}
    }
}

fn join_key(parent: &str, k: &str) -> String {
    if parent.is_empty() {
        k.to_string()
    } else {
        format!("{parent}.{k}")
    }
}

const META_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];

/// Upstream's pruning algorithm: unknown fields are removed unless the schema preserves them.
fn prune(x: &mut Value, s: Option<&Schema>, path: &str, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DATA_DEPTH {
        return;
    }
    if let Some(s) = s {
        if s.preserve_unknown || s.truncated {
            skip_prune(x, s, path, depth, out);
            return;
        }
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                for k in m.keys() {
                    out.push(join_key(path, k));
                }
                m.clear();
                return;
            };
            let mut drop = Vec::new();
            for (k, v) in m.iter_mut() {
                if s.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let cp = join_key(path, k);
                if let Some(prop) = s.properties.get(k) {
                    prune(v, Some(prop), &cp, depth + 1, out);
                } else if let Some(ap) = &s.additional {
                    let sub = match ap {
                        crate::schema::Additional::Schema(sch) => Some(&**sch),
                        crate::schema::Additional::Bool(_) => None,
                    };
                    prune(v, sub, &cp, depth + 1, out);
                } else {
                    // The root's type meta is never reported (upstream: only at depth > 0).
                    if !META_FIELDS.contains(&k.as_str()) || !path.is_empty() {
                        out.push(cp);
                    }
                    drop.push(k.clone());
                }
            }
            for k in drop {
                m.remove(&k);
            }
        }
        Value::Array(a) => {
            let items = s.and_then(|s| s.items.as_deref());
            for (i, v) in a.iter_mut().enumerate() {
                prune(v, items, &format!("{path}[{i}]"), depth + 1, out);
            }
        }
        _ => {}
    }
}

/// Below `x-kubernetes-preserve-unknown-fields`, only specified fields are pruned further.
fn skip_prune(x: &mut Value, s: &Schema, path: &str, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DATA_DEPTH || s.truncated {
        return;
    }
    match x {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if s.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let cp = join_key(path, k);
                if let Some(prop) = s.properties.get(k) {
                    prune(v, Some(prop), &cp, depth + 1, out);
                } else if let Some(ap) = &s.additional {
                    let sub = match ap {
                        crate::schema::Additional::Schema(sch) => Some(&**sch),
                        crate::schema::Additional::Bool(_) => None,
                    };
                    prune(v, sub, &cp, depth + 1, out);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.items.as_deref() {
                for (i, v) in a.iter_mut().enumerate() {
                    skip_prune(v, items, &format!("{path}[{i}]"), depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

fn non_nullable_null(x: &Value, s: Option<&Schema>) -> bool {
    x.is_null() && s.is_some_and(|s| !s.nullable)
}

/// Upstream's defaulting: missing (or non-nullable null) properties get their default, then
/// defaulting recurses into every field and array item.
fn default(x: &mut Value, s: &Schema, depth: usize) {
    if depth > crate::schema::MAX_DEPTH || s.truncated {
        return;
    }
    match x {
        Value::Object(m) => {
            for (k, prop) in &s.properties {
                let Some(d) = &prop.default else {
                    continue;
                };
                let missing = m.get(k).is_none_or(|v| non_nullable_null(v, Some(prop)));
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            let ap = s.additional_schema();
            for (k, v) in m.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    default(v, prop, depth + 1);
                } else if let Some(ap) = ap {
                    if non_nullable_null(v, Some(ap)) {
                        if let Some(d) = &ap.default {
                            *v = d.clone();
                        }
                    }
                    default(v, ap, depth + 1);
                }
            }
        }
        Value::Array(a) => {
            let Some(items) = s.items.as_deref() else {
                return;
            };
            for v in a.iter_mut() {
                if non_nullable_null(v, Some(items)) {
                    if let Some(d) = &items.default {
                        *v = d.clone();
                    }
                }
                default(v, items, depth + 1);
            }
        }
        _ => {}
    }
}

/// Drops nulls of non-nullable fields that have no default (upstream prunes them after
/// defaulting so that `field: null` means "unset").
fn prune_nulls(x: &mut Value, s: Option<&Schema>, depth: usize) {
    if depth > MAX_DATA_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            let mut drop = Vec::new();
            for (k, v) in m.iter_mut() {
                let sub = s.and_then(|s| s.field(k));
                if v.is_null() && sub.is_some_and(|s| !s.nullable && s.default.is_none()) {
                    drop.push(k.clone());
                } else {
                    prune_nulls(v, sub, depth + 1);
                }
            }
            for k in drop {
                m.remove(&k);
            }
        }
        Value::Array(a) => {
            let items = s.and_then(|s| s.items.as_deref());
            for v in a.iter_mut() {
                prune_nulls(v, items, depth + 1);
            }
        }
        _ => {}
    }
}

/// `metadata.name`/`generateName` as upstream checks custom resources (DNS subdomain).
pub fn validate_name(obj: &Value) -> Vec<FieldError> {
    let meta = obj.get("metadata").unwrap_or(&Value::Null);
    let mut out = Vec::new();
    if !meta.is_object() && !meta.is_null() {
        out.push(FieldError::invalid(
            &FieldPath::new("metadata"),
            meta.clone(),
            "expected map[string]interface{}",
        ));
        return out;
    }
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    let generate = meta
        .get("generateName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !generate.is_empty() {
        for msg in name_is_dns_subdomain(generate, true) {
            out.push(FieldError::invalid(
                &FieldPath::new("metadata.generateName"),
                generate,
                msg,
            ));
        }
    }
    if name.is_empty() {
        if generate.is_empty() {
            out.push(FieldError::required(
                &FieldPath::new("metadata.name"),
                "name or generateName is required",
            ));
        }
    } else {
        for msg in name_is_dns_subdomain(name, false) {
            out.push(FieldError::invalid(
                &FieldPath::new("metadata.name"),
                name,
                msg,
            ));
        }
    }
    out
}

impl Strategy for CustomResourceStrategy {
    /// Only pruning: type mismatches are validation errors for custom resources.
    fn decode(&self, mut obj: Value) -> Result<Decoded, DecodeError> {
        if !obj.is_object() {
            return Err(DecodeError(format!(
                "the body of a {} must be a JSON object",
                self.kind
            )));
        }
        let unknown_fields = self.prune(&mut obj);
        Ok(Decoded {
            object: obj,
            unknown_fields,
        })
    }

    fn apply_defaults(&self, obj: &mut Value) {
        self.default(obj);
    }

    /// With a status subresource, create cannot set status.
    fn prepare_for_create(&self, obj: &mut Value) {
        if self.has_status {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
    }

    /// With a status subresource, writes to the main resource keep the stored status.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if !self.has_status {
            return;
        }
        let Some(m) = new.as_object_mut() else {
            return;
        };
        match old.get("status") {
            Some(st) => {
                m.insert("status".into(), st.clone());
            }
            None => {
                m.remove("status");
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = self.type_meta(obj);
        if !out.is_empty() {
            return out;
        }
        out.extend(validate_name(obj));
        out.extend(self.schema_errors(obj));
        out.extend(self.scale_errors(obj, true));
        out.extend(self.list_errors(obj));
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = self.type_meta(new);
        if !out.is_empty() {
            return out;
        }
        out.extend(self.schema_errors(new));
        out.extend(self.scale_errors(new, true));
        // Upstream ratchets list-type errors: only checked if the old object passed.
        if self.list_errors(old).is_empty() {
            out.extend(self.list_errors(new));
        }
        out
    }

    /// Upstream's custom resource status strategy keeps everything stored but the status and
    /// managedFields.
    fn status_writable_metadata(&self) -> &'static [&'static str] {
        &[]
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        let mut out = self.type_meta(new);
        if !out.is_empty() {
            return out;
        }
        if let (Some(status), Some(schema)) =
            (new.get("status"), self.schema.properties.get("status"))
        {
            validate::validate("status", status, schema, &mut out);
        }
        out.extend(self.scale_errors(new, false));
        out
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    /// Always `Some`: custom resources print NAME, the version's columns, then AGE (upstream
    /// adds AGE itself only when no column is given; that is the printer's business).
    fn printer_columns(&self) -> Option<Value> {
        Some(self.columns.clone())
    }
}
