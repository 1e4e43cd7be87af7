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

/// Entries beyond this are dropped all at once (objects deleted before their cache caught
/// up would otherwise stay); losing them only costs the skipped syncs.
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub struct OwnWrites(Mutex<HashMap<String, u64>>);

impl OwnWrites {
    /// Notes that the object with `uid` was written at `resource_version`.
    pub fn record(&self, uid: Option<&str>, resource_version: Option<&str>) {
        let (Some(uid), Some(rv)) = (uid, resource_version.and_then(|v| v.parse::<u64>().ok()))
        else {
            return;
        };
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        let e = m.entry(uid.to_string()).or_insert(rv);
        *e = (*e).max(rv);
    }

    /// Whether the cached copy (`uid` at `cached_rv`) is older than a write of ours. Once the
    /// cache has caught up, the entry is forgotten.
    pub fn cache_is_behind(&self, uid: Option<&str>, cached_rv: Option<&str>) -> bool {
        let Some(uid) = uid else { return false };
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

    #[test]
    fn behind_until_the_cache_shows_the_write() {
        let w = OwnWrites::default();
        assert!(!w.cache_is_behind(Some("u"), Some("5")));
        w.record(Some("u"), Some("7"));
        w.record(Some("u"), Some("6"));
        assert!(w.cache_is_behind(Some("u"), Some("5")));
        assert!(w.cache_is_behind(Some("u"), Some("6")));
        assert!(!w.cache_is_behind(Some("u"), Some("7")));
        // Forgotten once caught up.
        assert!(!w.cache_is_behind(Some("u"), Some("3")));
        // Unparsable versions never skip.
        w.record(Some("v"), Some("9"));
        assert!(!w.cache_is_behind(Some("v"), Some("abc")));
        w.record(Some("x"), Some("opaque"));
        assert!(!w.cache_is_behind(Some("x"), Some("1")));
        assert!(!w.cache_is_behind(None, Some("1")));
    }
}
