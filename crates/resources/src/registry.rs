//! Lookup of resources by URL segment or by kind, built-in and custom (CRD-defined).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::info::{storage_group_of, ResourceInfo};
use crate::strategy::Strategy;

/// A resource together with its strategy.
#[derive(Clone)]
pub struct Entry {
    pub info: Arc<ResourceInfo>,
    pub strategy: Arc<dyn Strategy>,
}

/// All served resources. Built-ins are fixed at start; custom resources change as CRDs come
/// and go, and every reader sees a consistent snapshot.
pub struct Registry {
    builtin: Vec<Entry>,
    custom: RwLock<Arc<Vec<Entry>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// The registry of built-in kinds.
    pub fn new() -> Self {
        Registry {
            builtin: crate::builtin::entries(),
            custom: RwLock::new(Arc::new(Vec::new())),
        }
    }

    /// Replaces the strategy of a built-in kind (for strategies that live in crates which
    /// themselves depend on this one, such as the CRD strategy).
    pub fn override_strategy(&mut self, group: &str, kind: &str, strategy: Arc<dyn Strategy>) {
        for e in self.builtin.iter_mut() {
            if e.info.group == group && e.info.kind == kind {
                e.strategy = strategy.clone();
            }
        }
    }

    /// Replaces the custom resources (called when CRDs change).
    pub fn set_custom(&self, entries: Vec<Entry>) {
        let mut guard = self.custom.write().unwrap_or_else(|e| e.into_inner());
        *guard = Arc::new(entries);
    }

    fn custom(&self) -> Arc<Vec<Entry>> {
        self.custom
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every served resource, built-ins first, in a stable order.
    pub fn all(&self) -> Vec<Entry> {
        let mut v = self.builtin.clone();
        v.extend(self.custom().iter().cloned());
        v
    }

    /// The resource served at `/apis/<group>/<version>/<plural>`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Entry> {
        self.all()
            .into_iter()
            .find(|e| e.info.group == group && e.info.version == version && e.info.plural == plural)
    }

    /// The resource for a kind at a group/version.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Entry> {
        self.all()
            .into_iter()
            .find(|e| e.info.group == group && e.info.version == version && e.info.kind == kind)
    }

    /// The storage version entry of the resource `group`/`plural` (all versions share it). For a
    /// resource stored with another group's (events.k8s.io Events), that group's storage entry
    /// (core/v1 Event).
    pub fn storage_entry(&self, group: &str, plural: &str) -> Option<Entry> {
        let builtin_group = storage_group_of(group, plural);
        self.all().into_iter().find(|e| {
            let wanted = if e.info.custom { group } else { builtin_group };
            e.info.group == wanted && e.info.plural == plural && e.info.storage_version
        })
    }

    /// Groups with their versions, preferred version first, core group ("") first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut order: Vec<String> = Vec::new();
        let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in self.all() {
            let g = e.info.group.clone();
            if !versions.contains_key(&g) {
                order.push(g.clone());
            }
            let vs = versions.entry(g).or_default();
            if !vs.contains(&e.info.version) {
                vs.push(e.info.version.clone());
            }
        }
        order
            .into_iter()
            .map(|g| {
                let vs = versions.remove(&g).unwrap_or_default();
                (g, vs)
            })
            .collect()
    }

    /// Resources of one group/version.
    pub fn resources_in(&self, group: &str, version: &str) -> Vec<Entry> {
        self.all()
            .into_iter()
            .filter(|e| e.info.group == group && e.info.version == version)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_k8s_io_events_are_stored_as_core_events() {
        let r = Registry::new();
        let ev = r.lookup("events.k8s.io", "v1", "events").expect("served");
        assert!(!ev.info.storage_version);
        assert_eq!(ev.info.storage_group(), "");
        let core = r.lookup("", "v1", "events").expect("served");
        assert!(core.info.storage_version);
        assert_eq!(core.info.storage_group(), "");
        assert_eq!(ev.info.key_prefix(), "/registry/core/events/");
        assert_eq!(ev.info.key(Some("d"), "e"), core.info.key(Some("d"), "e"));
        let storage = r.storage_entry("events.k8s.io", "events").expect("storage");
        assert_eq!(storage.info.api_version(), "v1");
        assert_eq!(
            r.storage_entry("", "events").map(|e| e.info.api_version()),
            Some("v1".to_string())
        );
        // Other multi-version resources keep their own group.
        let hpa = r
            .storage_entry("autoscaling", "horizontalpodautoscalers")
            .expect("storage");
        assert_eq!(hpa.info.api_version(), "autoscaling/v2");
        let hpa1 = r
            .lookup("autoscaling", "v1", "horizontalpodautoscalers")
            .expect("served");
        assert_eq!(
            hpa1.info.key_prefix(),
            "/registry/autoscaling/horizontalpodautoscalers/"
        );
    }
}
