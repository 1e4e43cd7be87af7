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

    /// The store key prefix for all objects of this resource (all namespaces).
    pub fn key_prefix(&self) -> String {
        let g = if self.group.is_empty() {
            "core"
        } else {
            &self.group
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
