//! Decoded and encoded forms of recent store events, shared by every watcher.
//!
//! Each write reaches every watcher of its resource (the scheduler, several controllers, the
//! node agents, kubectl -w …). Encoding the watch line once per watcher cost a fifth of the
//! server's CPU when 10,000 pods were scheduled; here it happens once per event, API version
//! and form, from the stored bytes where they serve as they are (`stored_view`). Objects are
//! decoded only to convert them or for Table watches, and kept for other such watchers. A
//! store revision names exactly one write, so `(revision, apiVersion)` identifies a decoded
//! object, and with the event type and the form sent (the object, or only its metadata for
//! `as=PartialObjectMetadata`) its line.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use minato_resources::registry::Entry;
use minato_store::{KeyValue, Revision};
use serde_json::Value;

use crate::request::MetaVersion;
use crate::resource::{from_stored, to_route_version};
use crate::stored_view;
pub use crate::stored_view::LineForm;

/// How many recent revisions are kept. Watchers handle an event at about the same time, so a
/// short memory serves nearly all of them; a watcher far behind decodes for itself.
const CAPACITY: usize = 1024;

/// Values of recent revisions, forgetting the oldest revisions past a capacity. A revision
/// holds a few variants (one per API version, or per event type and API version), found by a
/// linear scan with borrowed keys so that a lookup allocates nothing.
struct Bounded<K, V> {
    map: HashMap<Revision, Vec<(K, V)>>,
    order: VecDeque<Revision>,
}

impl<K, V: Clone> Bounded<K, V> {
    fn new() -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The value of `revision` whose key satisfies `is`.
    fn get(&self, revision: Revision, is: impl Fn(&K) -> bool) -> Option<V> {
        self.map
            .get(&revision)?
            .iter()
            .find(|(k, _)| is(k))
            .map(|(_, v)| v.clone())
    }

    /// Adds a value unless one satisfying `is` is there already (another watcher raced us);
    /// the key is made only then.
    fn insert(
        &mut self,
        revision: Revision,
        is: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        v: V,
    ) {
        match self.map.get_mut(&revision) {
            Some(variants) => {
                if !variants.iter().any(|(k, _)| is(k)) {
                    variants.push((key(), v));
                }
            }
            None => {
                self.map.insert(revision, vec![(key(), v)]);
                self.order.push_back(revision);
                while self.order.len() > CAPACITY {
                    if let Some(old) = self.order.pop_front() {
                        self.map.remove(&old);
                    }
                }
            }
        }
    }
}

/// An object's apiVersion.
type ObjectKey = Box<str>;
/// A line's event type, the apiVersion it serves, and its form.
type LineKey = (&'static str, Box<str>, LineForm);

pub struct WatchCache {
    objects: Mutex<Bounded<ObjectKey, Arc<Value>>>,
    lines: Mutex<Bounded<LineKey, Bytes>>,
}

impl Default for WatchCache {
    fn default() -> Self {
        WatchCache {
            objects: Mutex::new(Bounded::new()),
            lines: Mutex::new(Bounded::new()),
        }
    }
}

impl WatchCache {
    /// The stored object `kv` in the version `entry` serves (resourceVersion set), decoded once.
    pub fn object(&self, entry: &Entry, kv: &KeyValue) -> Option<Arc<Value>> {
        let (group, version) = (&entry.info.group, &entry.info.version);
        let is = |k: &ObjectKey| is_api_version(k, group, version);
        if let Some(v) = self
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(kv.mod_revision, is)
        {
            return Some(v);
        }
        let v = Arc::new(to_route_version(entry, from_stored(kv).ok()?));
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                kv.mod_revision,
                is,
                || entry.info.api_version().into(),
                v.clone(),
            );
        Some(v)
    }

    /// The watch line `{"type":kind,"object":…}` for the stored object `kv` as `entry`'s route
    /// serves it, carrying the object itself or its PartialObjectMetadata as `form` says.
    /// Made from the stored bytes where they serve as they are, else from the decoded object.
    pub fn line(
        &self,
        entry: &Entry,
        kv: &KeyValue,
        kind: &'static str,
        form: LineForm,
    ) -> Option<Bytes> {
        let (group, version) = (&entry.info.group, &entry.info.version);
        let is =
            |(k, v, f): &LineKey| *k == kind && is_api_version(v, group, version) && *f == form;
        let revision = kv.mod_revision;
        if let Some(b) = self
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(revision, is)
        {
            return Some(b);
        }
        let b = match stored_view::line(entry, &kv.value, revision, kind, form) {
            Some(b) => b,
            None => {
                let obj = self.object(entry, kv)?;
                match form {
                    LineForm::Object => encode_line(kind, &obj),
                    LineForm::Metadata(version) => encode_metadata_line(kind, &obj, version),
                }
            }
        };
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).insert(
            revision,
            is,
            || (kind, entry.info.api_version().into(), form),
            b.clone(),
        );
        Some(b)
    }
}

/// Whether `api_version` is `group/version` (`version` for the core group), compared in
/// place rather than by formatting the apiVersion.
fn is_api_version(api_version: &str, group: &str, version: &str) -> bool {
    if group.is_empty() {
        return api_version == version;
    }
    api_version
        .strip_prefix(group)
        .and_then(|rest| rest.strip_prefix('/'))
        == Some(version)
}

/// One watch event as a JSON line.
pub fn encode_line(kind: &str, obj: &Value) -> Bytes {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        object: &'a Value,
    }
    let mut line = serde_json::to_vec(&Line { kind, object: obj }).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// One watch event carrying only `obj`'s metadata, as a PartialObjectMetadata; the metadata
/// is serialized in place rather than copied into a new object.
pub fn encode_metadata_line(kind: &str, obj: &Value, version: MetaVersion) -> Bytes {
    #[derive(serde::Serialize)]
    struct Partial<'a> {
        kind: &'static str,
        #[serde(rename = "apiVersion")]
        api_version: &'static str,
        metadata: &'a Value,
    }
    #[derive(serde::Serialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        object: Partial<'a>,
    }
    let empty = Value::Object(serde_json::Map::new());
    let metadata = obj
        .get("metadata")
        .filter(|m| m.is_object())
        .unwrap_or(&empty);
    let line = Line {
        kind,
        object: Partial {
            kind: "PartialObjectMetadata",
            api_version: version.api_version(),
            metadata,
        },
    };
    let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored_view::tests::kv;

    #[test]
    fn old_revisions_are_forgotten_past_capacity() {
        let mut b: Bounded<&'static str, i64> = Bounded::new();
        for i in 0..(CAPACITY as i64 + 10) {
            b.insert(i, |k| *k == "v1", || "v1", i);
            b.insert(i, |k| *k == "v2", || "v2", -i);
        }
        assert_eq!(b.get(0, |k| *k == "v1"), None);
        assert_eq!(b.get(9, |k| *k == "v2"), None);
        assert_eq!(b.get(10, |k| *k == "v1"), Some(10));
        assert_eq!(b.get(10, |k| *k == "v2"), Some(-10));
        assert_eq!(b.map.len(), CAPACITY);
        assert_eq!(b.order.len(), CAPACITY);
    }

    #[test]
    fn api_versions_compare_without_formatting() {
        assert!(is_api_version("v1", "", "v1"));
        assert!(!is_api_version("apps/v1", "", "v1"));
        assert!(is_api_version("apps/v1", "apps", "v1"));
        assert!(!is_api_version("apps/v1beta1", "apps", "v1"));
        assert!(!is_api_version("appsv1", "apps", "v1"));
        assert!(!is_api_version("v1", "apps", "v1"));
        assert!(!is_api_version("apps.k8s.io/v1", "apps", "v1"));
    }

    #[test]
    fn a_revision_keeps_one_value_per_key() {
        let mut b: Bounded<&'static str, i64> = Bounded::new();
        b.insert(1, |k| *k == "v1", || "v1", 1);
        // a racing watcher's insert of the same key keeps the first value
        b.insert(1, |k| *k == "v1", || "v1", 2);
        assert_eq!(b.get(1, |k| *k == "v1"), Some(1));
        assert_eq!(b.get(1, |k| *k == "v1beta1"), None);
        assert_eq!(b.get(2, |k| *k == "v1"), None);
        assert_eq!(b.map[&1].len(), 1);
        assert_eq!(b.order.len(), 1);
    }

    #[test]
    fn lines_differ_by_served_version_at_one_revision() {
        let reg = minato_resources::registry::Registry::new();
        let core = reg.lookup("", "v1", "events").unwrap();
        let events = reg.lookup("events.k8s.io", "v1", "events").unwrap();
        let stored = kv(
            &serde_json::json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "reason": "Started"}),
            3,
        );
        let cache = WatchCache::default();
        let a = cache
            .line(&core, &stored, "ADDED", LineForm::Object)
            .unwrap();
        let b = cache
            .line(&events, &stored, "ADDED", LineForm::Object)
            .unwrap();
        assert_ne!(a, b);
        let bv: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(bv["object"]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(
            cache
                .line(&core, &stored, "ADDED", LineForm::Object)
                .unwrap(),
            a
        );
        assert_eq!(
            cache
                .line(&events, &stored, "ADDED", LineForm::Object)
                .unwrap(),
            b
        );
        let lines = cache.lines.lock().unwrap();
        assert_eq!(lines.map[&3].len(), 2);
    }

    #[test]
    fn lines_are_one_json_object_each() {
        let reg = minato_resources::registry::Registry::new();
        let pods = reg.lookup("", "v1", "pods").unwrap();
        let obj = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}});
        let stored = kv(&obj, 7);
        let cache = WatchCache::default();
        let a = cache
            .line(&pods, &stored, "ADDED", LineForm::Object)
            .unwrap();
        let b = cache
            .line(&pods, &stored, "ADDED", LineForm::Object)
            .unwrap();
        assert_eq!(a, b);
        let v: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["type"], "ADDED");
        assert_eq!(v["object"]["metadata"]["name"], "a");
        assert_eq!(v["object"]["metadata"]["resourceVersion"], "7");
        assert!(a.ends_with(b"\n"));
        assert_ne!(
            cache
                .line(&pods, &stored, "MODIFIED", LineForm::Object)
                .unwrap(),
            a
        );
    }

    #[test]
    fn metadata_lines_are_kept_apart_from_object_lines() {
        let reg = minato_resources::registry::Registry::new();
        let pods = reg.lookup("", "v1", "pods").unwrap();
        let obj = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "a", "uid": "u1"},
            "spec": {"nodeName": "n1"},
        });
        let stored = kv(&obj, 7);
        let cache = WatchCache::default();
        let v1 = LineForm::Metadata(MetaVersion::V1);
        // A metadata watcher first must not leave its line for the object watchers.
        let meta = cache.line(&pods, &stored, "ADDED", v1).unwrap();
        let full = cache
            .line(&pods, &stored, "ADDED", LineForm::Object)
            .unwrap();
        assert_ne!(meta, full);
        let m: Value = serde_json::from_slice(&meta).unwrap();
        assert_eq!(
            m,
            serde_json::json!({"type": "ADDED", "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "a", "uid": "u1", "resourceVersion": "7"},
            }})
        );
        let f: Value = serde_json::from_slice(&full).unwrap();
        let mut expected = obj.clone();
        expected["metadata"]["resourceVersion"] = "7".into();
        assert_eq!(f["object"], expected);
        assert_eq!(cache.line(&pods, &stored, "ADDED", v1).unwrap(), meta);
        assert_eq!(
            cache
                .line(&pods, &stored, "ADDED", LineForm::Object)
                .unwrap(),
            full
        );
        let beta = cache
            .line(
                &pods,
                &stored,
                "ADDED",
                LineForm::Metadata(MetaVersion::V1beta1),
            )
            .unwrap();
        let b: Value = serde_json::from_slice(&beta).unwrap();
        assert_eq!(b["object"]["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(cache.lines.lock().unwrap().map[&7].len(), 3);
    }
}
