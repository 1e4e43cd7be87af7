//! Decoded and encoded forms of recent store events, shared by every watcher.
//!
//! Each write reaches every watcher of its resource (the scheduler, several controllers, the
//! node agents, kubectl -w …). Decoding the stored JSON and encoding the watch line once per
//! watcher cost a fifth of the server's CPU when 10,000 pods were scheduled; here it happens
//! once per event and API version. A store revision names exactly one write, so
//! `(revision, apiVersion)` identifies a decoded object, and with the event type its line.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use minato_resources::registry::Entry;
use minato_store::{KeyValue, Revision};
use serde_json::Value;

use crate::resource::{from_stored, to_route_version};

/// How many recent objects and lines are kept. Watchers handle an event at about the same
/// time, so a short memory serves nearly all of them; a watcher far behind decodes for itself.
const CAPACITY: usize = 1024;

/// A map that forgets its oldest entries past a capacity.
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    fn new() -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&self, k: &K) -> Option<V> {
        self.map.get(k).cloned()
    }

    fn insert(&mut self, k: K, v: V) {
        if self.map.insert(k.clone(), v).is_none() {
            self.order.push_back(k);
            while self.order.len() > CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

type ObjectKey = (Revision, Arc<str>);
type LineKey = (Revision, &'static str, Arc<str>);

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
        let key: ObjectKey = (kv.mod_revision, Arc::from(entry.info.api_version()));
        if let Some(v) = self
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Some(v);
        }
        let v = Arc::new(to_route_version(entry, from_stored(kv).ok()?));
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, v.clone());
        Some(v)
    }

    /// The watch line `{"type":kind,"object":obj}` for the object written at `revision`.
    pub fn line(&self, revision: Revision, kind: &'static str, obj: &Value) -> Bytes {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let key: LineKey = (revision, kind, Arc::from(api_version));
        if let Some(b) = self
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return b;
        }
        let b = encode_line(kind, obj);
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, b.clone());
        b
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_entries_are_forgotten_past_capacity() {
        let mut b: Bounded<i64, i64> = Bounded::new();
        for i in 0..(CAPACITY as i64 + 10) {
            b.insert(i, i);
        }
        assert_eq!(b.get(&0), None);
        assert_eq!(b.get(&9), None);
        assert_eq!(b.get(&10), Some(10));
        assert_eq!(b.map.len(), CAPACITY);
    }

    #[test]
    fn lines_are_one_json_object_each() {
        let obj = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}});
        let cache = WatchCache::default();
        let a = cache.line(7, "ADDED", &obj);
        let b = cache.line(7, "ADDED", &obj);
        assert_eq!(a, b);
        let v: Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["type"], "ADDED");
        assert_eq!(v["object"]["metadata"]["name"], "a");
        assert!(a.ends_with(b"\n"));
        assert_ne!(cache.line(7, "MODIFIED", &obj), a);
    }
}
