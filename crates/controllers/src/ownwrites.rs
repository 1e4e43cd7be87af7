//! The resource versions a controller wrote itself, kept until its cache shows them.
//!
//! A sync that an event of a dependent (a pod, a ReplicaSet) triggers can start before the
//! watch has delivered the controller's own last write to the object. It would then compute
//! from a stale copy and write with a stale resourceVersion: a 409, a fresh read and a
//! retry, for nothing, since the watch event of that write is on its way and brings a sync
//! of its own. Such syncs are skipped. resourceVersions are opaque to clients in general;
//! this reads them as the store's revisions (integers, as etcd's and ours are) and does
//! nothing when one does not parse.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Entries beyond this are dropped all at once (objects deleted before their cache caught
/// up would otherwise stay); losing them only costs the skipped syncs.
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub struct OwnWrites(Mutex<HashMap<String, u64>>);

impl OwnWrites {
    /// Notes a write of ours: the object as the server answered it.
    pub fn record(&self, written: &ObjectMeta) {
        let rv = written
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok());
        let (Some(uid), Some(rv)) = (written.uid.as_deref(), rv) else {
            return;
        };
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        let e = m.entry(uid.to_string()).or_insert(rv);
        *e = (*e).max(rv);
    }

    /// Whether the cached copy is older than a write of ours. Once the cache has caught up,
    /// the entry is forgotten.
    pub fn cache_is_behind(&self, cached: &ObjectMeta) -> bool {
        let Some(uid) = cached.uid.as_deref() else {
            return false;
        };
        let cached_rv = cached.resource_version.as_deref();
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&written) = m.get(uid) else {
            return false;
        };
        match cached_rv.and_then(|v| v.parse::<u64>().ok()) {
            Some(cached) if cached < written => true,
            _ => {
                m.remove(uid);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(uid: Option<&str>, rv: &str) -> ObjectMeta {
        ObjectMeta {
            uid: uid.map(str::to_string),
            resource_version: Some(rv.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn behind_until_the_cache_shows_the_write() {
        let w = OwnWrites::default();
        assert!(!w.cache_is_behind(&m(Some("u"), "5")));
        w.record(&m(Some("u"), "7"));
        w.record(&m(Some("u"), "6"));
        assert!(w.cache_is_behind(&m(Some("u"), "5")));
        assert!(w.cache_is_behind(&m(Some("u"), "6")));
        assert!(!w.cache_is_behind(&m(Some("u"), "7")));
        // Forgotten once caught up.
        assert!(!w.cache_is_behind(&m(Some("u"), "3")));
        // Unparsable versions never skip.
        w.record(&m(Some("v"), "9"));
        assert!(!w.cache_is_behind(&m(Some("v"), "abc")));
        w.record(&m(Some("x"), "opaque"));
        assert!(!w.cache_is_behind(&m(Some("x"), "1")));
        assert!(!w.cache_is_behind(&m(None, "1")));
    }
}
