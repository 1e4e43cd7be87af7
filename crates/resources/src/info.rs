//! What discovery says about a resource.

use serde::Serialize;

/// A subresource such as `status`, `scale` or `pods/log`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SubresourceInfo {
    /// `status`, `scale`, `log`, `exec`, `eviction`, …
    pub name: String,
    /// Group, version and kind of the subresource's object (e.g. autoscaling/v1 Scale).
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

/// Where the scale subresource finds replicas and selector (JSON pointers into the object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleInfo {
    pub spec_replicas: String,
    pub status_replicas: String,
    /// Pointer to a selector: either a string or a LabelSelector object.
    pub label_selector: Option<String>,
}

/// Built-in resources that upstream stores as another group's resource (its storage factory's
/// "cohabitating resources"): `(group, plural, storage group)`. An object written through
/// either group is the same object, kept under the storage group's key and converted per
/// request.
const COHABITING: &[(&str, &str, &str)] = &[("events.k8s.io", "events", "")];

/// The group whose storage holds the built-in resource `group`/`plural`: `group` itself,
/// except for the cohabiting resources (`events.k8s.io` events live with core events).
pub fn storage_group_of<'a>(group: &'a str, plural: &str) -> &'a str {
    COHABITING
        .iter()
        .find(|(g, p, _)| *g == group && *p == plural)
        .map(|(_, _, storage)| *storage)
        .unwrap_or(group)
}

/// One resource at one group/version, as discovery and the router see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    /// Plural resource name used in URLs (`deployments`).
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    pub subresources: Vec<SubresourceInfo>,
    /// True when `status` is a subresource: writes to the main resource keep the stored status
    /// and writes to `/status` change only the status.
    pub has_status: bool,
    pub scale: Option<ScaleInfo>,
    /// True for the version objects are stored in (the others are served by conversion).
    pub storage_version: bool,
    /// False for resources that are created but never stored (reviews, bindings).
    pub persisted: bool,
    /// Kubernetes' own `storageVersionHash` is optional; we leave it out.
    pub custom: bool,
}

impl ResourceInfo {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, or `pods` for the core group: how upstream names the resource in
    /// error messages.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The group whose storage holds this resource: its own group, or for a resource upstream
    /// stores with another group's (events.k8s.io Events are core Events) that group.
    pub fn storage_group(&self) -> &str {
        if self.custom {
            &self.group
        } else {
            storage_group_of(&self.group, &self.plural)
        }
    }

    /// The store key prefix for all objects of this resource (all namespaces), which is the
    /// storage resource's: `/registry/core/events/` for both Event groups.
    pub fn key_prefix(&self) -> String {
        let g = match self.storage_group() {
            "" => "core",
            g => g,
        };
        format!("/registry/{g}/{}/", self.plural)
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }

    /// The store key prefix for one namespace.
    pub fn namespace_prefix(&self, namespace: &str) -> String {
        format!("{}{namespace}/", self.key_prefix())
    }

    pub fn subresource(&self, name: &str) -> Option<&SubresourceInfo> {
        self.subresources.iter().find(|s| s.name == name)
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}
