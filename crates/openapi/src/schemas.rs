//! The component schemas: generated from the k8s-openapi types, completed with what upstream's
//! generator adds from Go struct tags (GVK, list merge metadata), plus list kinds and custom
//! resources.
//!
//! Schemas are kept in one canonical form: refs point at `#/components/schemas/<name>` and may
//! have siblings (a field's description next to the `$ref`). The v3 and v2 renderers turn that
//! into each format's conventions.

use std::collections::{BTreeSet, HashMap, HashSet};

use minato_patch::keys::{self, ListType};
use minato_resources::ResourceInfo;
use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use crate::types;
use crate::Gvk;

pub(crate) const REF_PREFIX: &str = "#/components/schemas/";

pub(crate) const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
pub(crate) const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// Names of the meta schemas that operations refer to.
pub(crate) struct MetaNames {
    pub object_meta: String,
    pub list_meta: String,
    pub delete_options: String,
    pub status: String,
    pub patch: String,
    pub api_resource_list: String,
}

/// Every schema, and which one describes each kind.
pub(crate) struct Schemas {
    pub defs: Map<String, Value>,
    /// The schema of each kind (including list kinds and subresource kinds), by GVK.
    pub by_gvk: HashMap<Gvk, String>,
    pub meta: MetaNames,
}

/// The name a `$ref` points to, if it is one of ours.
pub(crate) fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.strip_prefix(REF_PREFIX)
}

fn generated_name(schema: schemars::Schema) -> Option<String> {
    ref_name(schema.as_value()).map(str::to_string)
}

/// The component name upstream gives a custom resource's schema: the group reversed
/// (`stable.example.com` → `com.example.stable`), then version and kind.
pub fn custom_schema_name(group: &str, version: &str, kind: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').filter(|p| !p.is_empty()).collect();
    parts.reverse();
    let mut name = parts.join(".");
    if !name.is_empty() {
        name.push('.');
    }
    format!("{name}{version}.{kind}")
}

impl Schemas {
    pub(crate) fn build(
        resources: &[&ResourceInfo],
        custom: &HashMap<Gvk, Value>,
    ) -> Result<Schemas, crate::Error> {
        let mut gen = SchemaGenerator::new(SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        }));
        let m = types::meta_types();
        let mut meta_name = |f: types::Generate, what: &'static str| {
            generated_name(f(&mut gen)).ok_or(crate::Error::Unnamed(what))
        };
        let meta = MetaNames {
            object_meta: meta_name(m.object_meta, "ObjectMeta")?,
            list_meta: meta_name(m.list_meta, "ListMeta")?,
            delete_options: meta_name(m.delete_options, "DeleteOptions")?,
            status: meta_name(m.status, "Status")?,
            patch: meta_name(m.patch, "Patch")?,
            api_resource_list: meta_name(m.api_resource_list, "APIResourceList")?,
        };

        // Every built-in kind is generated: it costs little, and documents only take the
        // schemas their operations reach.
        let mut builtin: HashMap<Gvk, String> = HashMap::new();
        for k in types::kinds() {
            let name =
                generated_name((k.generate)(&mut gen)).ok_or(crate::Error::Unnamed(k.kind))?;
            builtin.insert(Gvk::new(k.group, k.version, k.kind), name);
        }
        let mut defs = gen.take_definitions(false);

        let mut by_gvk: HashMap<Gvk, String> = HashMap::new();
        // GVKs each schema is served as (a schema can be served under several).
        let mut served_as: HashMap<String, Vec<Gvk>> = HashMap::new();
        let mut note = |by_gvk: &mut HashMap<Gvk, String>, gvk: Gvk, name: &str| {
            let list = served_as.entry(name.to_string()).or_default();
            if !list.contains(&gvk) {
                list.push(gvk.clone());
            }
            by_gvk.insert(gvk, name.to_string());
        };

        let std_props = standard_properties(&defs, &meta);
        for info in resources {
            let gvk = Gvk::new(&info.group, &info.version, &info.kind);
            let name = match builtin.get(&gvk) {
                Some(name) if !info.custom => name.clone(),
                _ => {
                    let name = custom_schema_name(&info.group, &info.version, &info.kind);
                    let schema = custom_kind_schema(custom.get(&gvk), &std_props);
                    defs.insert(name.clone(), schema);
                    name
                }
            };
            note(&mut by_gvk, gvk, &name);
            if info.has_verb("list") {
                let list_name = list_schema_name(&name, &info.list_kind);
                if !defs.contains_key(&list_name) {
                    defs.insert(
                        list_name.clone(),
                        list_schema(info, &name, &meta.list_meta, &std_props),
                    );
                }
                note(
                    &mut by_gvk,
                    Gvk::new(&info.group, &info.version, &info.list_kind),
                    &list_name,
                );
            }
            // Subresources with a body of another kind (Scale, Eviction, Binding, ...).
            for sub in &info.subresources {
                let sub_gvk = Gvk::new(&sub.group, &sub.version, &sub.kind);
                if let Some(name) = builtin.get(&sub_gvk) {
                    note(&mut by_gvk, sub_gvk, name);
                }
            }
        }

        for (name, gvks) in &served_as {
            let Some(Value::Object(schema)) = defs.get_mut(name) else {
                continue;
            };
            let list: Vec<Value> = gvks
                .iter()
                .map(|g| json!({"group": g.group, "kind": g.kind, "version": g.version}))
                .collect();
            schema.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
            // k8s-openapi marks `metadata` required because its Rust field is not optional;
            // upstream does not (generateName, or a name from the URL, is enough).
            if let Some(Value::Array(req)) = schema.get_mut("required") {
                req.retain(|r| r != "metadata");
                if req.is_empty() {
                    schema.remove("required");
                }
            }
        }

        // Built-in kinds: list merge metadata from the same rules the server patches with.
        let mut ann = Annotations::default();
        for info in resources {
            let gvk = Gvk::new(&info.group, &info.version, &info.kind);
            if let (Some(name), false) = (builtin.get(&gvk), info.custom) {
                let mut seen = HashSet::new();
                ann.walk(&defs, &info.kind, name, &mut Vec::new(), &mut seen);
            }
        }
        ann.apply(&mut defs);
        crate::enums::apply(&mut defs);

        for name in [INT_OR_STRING, QUANTITY] {
            if let Some(Value::Object(s)) = defs.get_mut(name) {
                s.remove("x-kubernetes-int-or-string");
            }
        }

        Ok(Schemas { defs, by_gvk, meta })
    }

    /// The names reachable from `roots`, sorted.
    pub(crate) fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<String> = roots.into_iter().map(str::to_string).collect();
        while let Some(name) = stack.pop() {
            if !self.defs.contains_key(&name) || !out.insert(name.clone()) {
                continue;
            }
            if let Some(v) = self.defs.get(&name) {
                collect_refs(v, &mut stack);
            }
        }
        out
    }
}

/// Pushes every component name referenced under `v` (in either format's spelling).
pub(crate) fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                if let Some(name) = r
                    .strip_prefix(REF_PREFIX)
                    .or_else(|| r.strip_prefix(crate::render::V2_PREFIX))
                {
                    out.push(name.to_string());
                }
            }
            for child in m.values() {
                collect_refs(child, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

/// `io.k8s.api.apps.v1.Deployment` + `DeploymentList` → `io.k8s.api.apps.v1.DeploymentList`.
fn list_schema_name(kind_schema: &str, list_kind: &str) -> String {
    match kind_schema.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.{list_kind}"),
        None => list_kind.to_string(),
    }
}

/// `apiVersion`, `kind` and `metadata` properties as the built-in kinds describe them.
struct StdProps {
    api_version: Value,
    kind: Value,
    metadata: Value,
}

fn standard_properties(defs: &Map<String, Value>, meta: &MetaNames) -> StdProps {
    // Borrow the texts from a generated kind rather than restating them.
    let props = defs
        .get("io.k8s.api.core.v1.ConfigMap")
        .and_then(|s| s.get("properties"));
    let prop = |name: &str, fallback: &str| {
        props
            .and_then(|p| p.get(name))
            .cloned()
            .unwrap_or_else(|| json!({"description": fallback, "type": "string"}))
    };
    let mut metadata = prop("metadata", "Standard object's metadata.");
    if let Value::Object(m) = &mut metadata {
        m.insert(
            "$ref".into(),
            Value::String(format!("{REF_PREFIX}{}", meta.object_meta)),
        );
        m.remove("type");
    }
    StdProps {
        api_version: prop(
            "apiVersion",
            "APIVersion of this representation of the object.",
        ),
        kind: prop("kind", "Kind of the REST resource this object represents."),
        metadata,
    }
}

fn list_schema(info: &ResourceInfo, item: &str, list_meta: &str, std: &StdProps) -> Value {
    json!({
        "description": format!("{} is a list of {} objects.", info.list_kind, info.kind),
        "type": "object",
        "properties": {
            "apiVersion": std.api_version,
            "items": {
                "description": format!("List of {} objects.", info.kind),
                "type": "array",
                "items": {"$ref": format!("{REF_PREFIX}{item}")},
            },
            "kind": std.kind,
            "metadata": {
                "$ref": format!("{REF_PREFIX}{list_meta}"),
                "description": "Standard list metadata.",
            },
        },
        "required": ["items"],
    })
}

/// A custom resource's schema: the CRD's openAPIV3Schema with the standard fields filled in as
/// upstream does (metadata becomes a reference to ObjectMeta).
fn custom_kind_schema(schema: Option<&Value>, std: &StdProps) -> Value {
    let mut s = match schema {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            let mut m = Map::new();
            m.insert(
                "x-kubernetes-preserve-unknown-fields".into(),
                Value::Bool(true),
            );
            m
        }
    };
    s.entry("type")
        .or_insert_with(|| Value::String("object".into()));
    let props = s
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(props) = props {
        props.insert("apiVersion".into(), std.api_version.clone());
        props.insert("kind".into(), std.kind.clone());
        props.insert("metadata".into(), std.metadata.clone());
    }
    Value::Object(s)
}

/// Extensions to put on properties, keyed by (component, property).
#[derive(Default)]
struct Annotations {
    found: HashMap<(String, String), Vec<(&'static str, Value)>>,
}

impl Annotations {
    /// Visits the fields of component `name`, reached at `path` in an object of `kind`, and
    /// asks the patch rules about every list and struct on the way. Each component is visited
    /// once per kind; the rules depend on local context only, so any path to it will do.
    fn walk(
        &mut self,
        defs: &Map<String, Value>,
        kind: &str,
        name: &str,
        path: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) {
        if !seen.insert(name.to_string()) {
            return;
        }
        let Some(props) = defs
            .get(name)
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        else {
            return;
        };
        for (field, prop) in props {
            path.push(field.clone());
            let p: Vec<&str> = path.iter().map(String::as_str).collect();
            let is_array = prop.get("type").and_then(Value::as_str) == Some("array");
            if is_array {
                let ext = list_extensions(&keys::list_type(kind, &p), keys::retains_keys(kind, &p));
                if !ext.is_empty() {
                    self.found
                        .entry((name.to_string(), field.clone()))
                        .or_insert(ext);
                }
                if let Some(item) = prop.get("items").and_then(ref_name) {
                    self.walk(defs, kind, item, path, seen);
                }
            } else if let Some(target) = ref_name(prop) {
                if keys::struct_retains_keys(kind, &p) {
                    self.found
                        .entry((name.to_string(), field.clone()))
                        .or_insert_with(|| {
                            vec![("x-kubernetes-patch-strategy", json!("retainKeys"))]
                        });
                }
                self.walk(defs, kind, target, path, seen);
            }
            path.pop();
        }
    }

    fn apply(self, defs: &mut Map<String, Value>) {
        for ((name, field), ext) in self.found {
            let Some(Value::Object(prop)) = defs
                .get_mut(&name)
                .and_then(|s| s.get_mut("properties"))
                .and_then(|p| p.get_mut(&field))
            else {
                continue;
            };
            for (k, v) in ext {
                prop.insert(k.to_string(), v);
            }
        }
    }
}

/// The OpenAPI extensions that describe a list to strategic merge patch and server-side apply.
fn list_extensions(lt: &ListType, retain_keys: bool) -> Vec<(&'static str, Value)> {
    let strategy = if retain_keys {
        "merge,retainKeys"
    } else {
        "merge"
    };
    match lt {
        ListType::Atomic => Vec::new(),
        ListType::Set => vec![
            ("x-kubernetes-list-type", json!("set")),
            ("x-kubernetes-patch-strategy", json!(strategy)),
        ],
        ListType::Map(keys) => {
            let mut ext = vec![
                ("x-kubernetes-list-map-keys", json!(keys)),
                ("x-kubernetes-list-type", json!("map")),
            ];
            if let Some(first) = keys.first() {
                ext.push(("x-kubernetes-patch-merge-key", json!(first)));
            }
            ext.push(("x-kubernetes-patch-strategy", json!(strategy)));
            ext
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_names_reverse_the_group() {
        assert_eq!(
            custom_schema_name("stable.example.com", "v1", "CronTab"),
            "com.example.stable.v1.CronTab"
        );
        assert_eq!(custom_schema_name("", "v1", "Thing"), "v1.Thing");
    }

    #[test]
    fn list_names_follow_the_kind() {
        assert_eq!(
            list_schema_name("io.k8s.api.apps.v1.Deployment", "DeploymentList"),
            "io.k8s.api.apps.v1.DeploymentList"
        );
    }
}
