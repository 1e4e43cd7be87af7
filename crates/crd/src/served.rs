//! The resources a CRD serves: one registry entry per served version.

use std::sync::Arc;

use minato_resources::registry::Entry;
use minato_resources::{ResourceInfo, ScaleInfo, SubresourceInfo};
use serde_json::Value;

use crate::crd::{bool_at, crd_defaults, str_at, versions};
use crate::custom::{CustomResourceStrategy, ScalePaths};

/// The verbs of a custom resource, in upstream's discovery order.
const VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];
const SUB_VERBS: &[&str] = &["get", "patch", "update"];

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `.spec.replicas` → `/spec/replicas` (a JSON pointer, keys escaped).
pub fn json_path_to_pointer(path: &str) -> String {
    path.trim_start_matches('.')
        .split('.')
        .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// The version object named `version`.
fn version<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    versions(crd)
        .iter()
        .find(|v| str_at(v, &["name"]) == version)
}

/// `spec.versions[name].additionalPrinterColumns` (an empty array when there are none).
pub fn additional_printer_columns(crd: &Value, version_name: &str) -> Value {
    version(crd, version_name)
        .and_then(|v| v.get("additionalPrinterColumns"))
        .filter(|c| c.is_array())
        .cloned()
        .unwrap_or_else(|| Value::Array(Vec::new()))
}

/// One registry entry per served version of the CRD, named by `spec.names` (with defaults).
pub fn served_resources(crd: &Value) -> Vec<Entry> {
    let mut crd = crd.clone();
    crd_defaults(&mut crd);
    let group = str_at(&crd, &["spec", "group"]).to_string();
    let names = crd.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    let kind = str_at(&names, &["kind"]).to_string();
    let plural = str_at(&names, &["plural"]).to_string();
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let namespaced = str_at(&crd, &["spec", "scope"]) != "Cluster";
    versions(&crd)
        .iter()
        .filter(|v| bool_at(v, "served"))
        .map(|v| {
            let name = str_at(v, &["name"]).to_string();
            let subs = v.get("subresources").unwrap_or(&Value::Null);
            let has_status = subs.get("status").is_some_and(|s| !s.is_null());
            let scale = subs
                .get("scale")
                .filter(|s| !s.is_null())
                .map(|s| ScalePaths {
                    spec_replicas: str_at(s, &["specReplicasPath"]).to_string(),
                    status_replicas: str_at(s, &["statusReplicasPath"]).to_string(),
                    label_selector: Some(str_at(s, &["labelSelectorPath"]))
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                });
            let mut subresources = Vec::new();
            if has_status {
                subresources.push(SubresourceInfo {
                    name: "status".into(),
                    group: group.clone(),
                    version: name.clone(),
                    kind: kind.clone(),
                    verbs: SUB_VERBS.iter().map(|s| s.to_string()).collect(),
                });
            }
            if scale.is_some() {
                subresources.push(SubresourceInfo {
                    name: "scale".into(),
                    group: "autoscaling".into(),
                    version: "v1".into(),
                    kind: "Scale".into(),
                    verbs: SUB_VERBS.iter().map(|s| s.to_string()).collect(),
                });
            }
            let info = ResourceInfo {
                group: group.clone(),
                version: name.clone(),
                kind: kind.clone(),
                list_kind: str_at(&names, &["listKind"]).to_string(),
                plural: plural.clone(),
                singular: str_at(&names, &["singular"]).to_string(),
                namespaced,
                short_names: strings(names.get("shortNames")),
                categories: strings(names.get("categories")),
                verbs: VERBS.iter().map(|s| s.to_string()).collect(),
                subresources,
                has_status,
                scale: scale.as_ref().map(|s| ScaleInfo {
                    spec_replicas: json_path_to_pointer(&s.spec_replicas),
                    status_replicas: json_path_to_pointer(&s.status_replicas),
                    label_selector: s.label_selector.as_deref().map(json_path_to_pointer),
                }),
                storage_version: bool_at(v, "storage"),
                persisted: true,
                custom: true,
            };
            let schema = v.pointer("/schema/openAPIV3Schema").unwrap_or(&Value::Null);
            let columns = v
                .get("additionalPrinterColumns")
                .cloned()
                .unwrap_or(Value::Null);
            let strategy =
                CustomResourceStrategy::new(&group, &name, &kind, schema, has_status, scale)
                    .with_printer_columns(columns);
            Entry {
                info: Arc::new(info),
                strategy: Arc::new(strategy),
            }
        })
        .collect()
}
