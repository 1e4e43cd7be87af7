//! A stored object read only as deep as a watch needs.
//!
//! Every write reaches every watcher of its resource. Decoding the stored JSON into a full
//! `Value` (and freeing it again) was the largest single cost of the server while 10,000 pods
//! were scheduled, though most watchers only forward the object and check a selector or two.
//! Here the stored bytes are split into their members without parsing the members: a watch
//! line is the stored members copied as they are with `metadata.resourceVersion` set, and a
//! selector is checked against a `Value` holding only the fields it reads.
//!
//! Both give byte for byte what decoding the whole object would give (tests below compare
//! them); objects whose shape does not allow it (no metadata object, a version to convert)
//! return `None` and take the full path.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use minato_resources::registry::Entry;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::request::MetaVersion;

/// A JSON object's members in their order, each value left unparsed.
pub struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

/// A member name, borrowed from the input unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(k)) = map.next_key()? {
                    let v: &'de RawValue = map.next_value()?;
                    members.push((k, v));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

impl<'a> Members<'a> {
    /// The members of the JSON object `json`; `None` when it is not an object.
    pub fn parse(json: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(json).ok()
    }

    fn of(raw: &'a RawValue) -> Option<Self> {
        serde_json::from_str(raw.get()).ok()
    }

    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The string member `key`, unescaped only when it has escapes.
    fn str(&self, key: &str) -> Option<Cow<'a, str>> {
        let raw = self.get(key)?;
        serde_json::from_str::<Cow<'a, str>>(raw.get()).ok()
    }
}

/// Whether the stored object is served as it is by `entry`'s route (only a custom resource's
/// apiVersion is rewritten), which is when the stored bytes can stand in for the decoded
/// object: [`crate::resource::to_route_version`] leaves it alone.
fn served_as_stored(entry: &Entry, top: &Members) -> bool {
    let info = &entry.info;
    info.storage_version
        || info.custom
        || top
            .str("apiVersion")
            .is_some_and(|v| v == info.api_version())
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes the object `top` with `metadata.resourceVersion` set to `rv` (in place when present,
/// else last, as a `Map` insert does) and, for custom resources, apiVersion rewritten.
fn push_object(
    out: &mut Vec<u8>,
    top: &Members,
    rv: &str,
    api_version: Option<&str>,
) -> Option<()> {
    out.push(b'{');
    let mut saw_metadata = false;
    let mut saw_api_version = false;
    for (i, (k, v)) in top.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, k);
        out.push(b':');
        match (k.as_ref(), api_version) {
            ("metadata", _) => {
                push_metadata(out, &Members::of(v)?, rv);
                saw_metadata = true;
            }
            ("apiVersion", Some(av)) => {
                push_str(out, av);
                saw_api_version = true;
            }
            _ => out.extend_from_slice(v.get().as_bytes()),
        }
    }
    // The decoded path would append these members; rare enough to leave to it.
    if !saw_metadata || (api_version.is_some() && !saw_api_version) {
        return None;
    }
    out.push(b'}');
    Some(())
}

fn push_metadata(out: &mut Vec<u8>, meta: &Members, rv: &str) {
    out.push(b'{');
    let mut saw_rv = false;
    for (i, (k, v)) in meta.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, k);
        out.push(b':');
        if k == "resourceVersion" {
            push_str(out, rv);
            saw_rv = true;
        } else {
            out.extend_from_slice(v.get().as_bytes());
        }
    }
    if !saw_rv {
        if !meta.0.is_empty() {
            out.push(b',');
        }
        push_str(out, "resourceVersion");
        out.push(b':');
        push_str(out, rv);
    }
    out.push(b'}');
}

/// What a watch line carries of the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineForm {
    Object,
    /// A PartialObjectMetadata in this meta.k8s.io version.
    Metadata(MetaVersion),
}

/// The watch line `{"type":…,"object":…}` for the stored object `json` written at `revision`,
/// as `entry`'s route serves it; `None` when the object must be decoded (and perhaps
/// converted) instead.
pub fn line(
    entry: &Entry,
    json: &[u8],
    revision: i64,
    event_type: &str,
    form: LineForm,
) -> Option<Bytes> {
    let top = Members::parse(json)?;
    if !served_as_stored(entry, &top) {
        return None;
    }
    let rv = revision.to_string();
    let mut out = Vec::with_capacity(json.len() + 64);
    out.extend_from_slice(b"{\"type\":");
    push_str(&mut out, event_type);
    out.extend_from_slice(b",\"object\":");
    match form {
        LineForm::Object => {
            let custom = entry.info.custom.then(|| entry.info.api_version());
            push_object(&mut out, &top, &rv, custom.as_deref())?;
        }
        LineForm::Metadata(version) => {
            let meta = Members::of(top.get("metadata")?)?;
            out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":");
            push_str(&mut out, version.api_version());
            out.extend_from_slice(b",\"metadata\":");
            push_metadata(&mut out, &meta, &rv);
            out.push(b'}');
        }
    }
    out.extend_from_slice(b"}\n");
    Some(Bytes::from(out))
}

/// The stored object `json` reduced to the members on `paths` (each a list of member names
/// from the top), parsed; `None` when the object must be decoded whole instead.
pub fn pick(entry: &Entry, json: &[u8], paths: &[Vec<&str>]) -> Option<Value> {
    let top = Members::parse(json)?;
    if !served_as_stored(entry, &top) {
        return None;
    }
    let paths: Vec<&[&str]> = paths.iter().map(Vec::as_slice).collect();
    Some(Value::Object(pick_members(&top, &paths)))
}

fn pick_members(members: &Members, paths: &[&[&str]]) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, raw) in &members.0 {
        let tails: Vec<&[&str]> = paths
            .iter()
            .filter(|p| p.first() == Some(&k.as_ref()))
            .map(|p| &p[1..])
            .collect();
        if tails.is_empty() {
            continue;
        }
        let whole = tails.iter().any(|t| t.is_empty());
        let value = match (whole, Members::of(raw)) {
            (false, Some(inner)) => Value::Object(pick_members(&inner, &tails)),
            // A leaf, or a path running through something that is not an object: parse it
            // as it is, so lookups see what they would in the whole object.
            _ => match serde_json::from_str(raw.get()) {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        out.insert(k.to_string(), value);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::resource::{from_stored, to_route_version};
    use crate::watch_cache::{encode_line, encode_metadata_line};
    use minato_store::KeyValue;
    use serde_json::json;

    fn registry() -> minato_resources::registry::Registry {
        minato_resources::registry::Registry::new()
    }

    /// `obj` as the store holds it, written at revision `rev`.
    pub(crate) fn kv(obj: &Value, rev: i64) -> KeyValue {
        KeyValue {
            key: "/registry/pods/default/a".into(),
            value: serde_json::to_vec(obj).unwrap(),
            create_revision: 1,
            mod_revision: rev,
        }
    }

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-\"1\"",
                "namespace": "default",
                "labels": {"app": "web", "tier/é": "x"},
                "annotations": {"a\\b": "line\nbreak"},
            },
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}], "hostNetwork": false},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.244.0.5"}], "startTime": "2026-11-23T10:00:00Z", "x": 1.5e300},
        })
    }

    fn decoded_line(entry: &Entry, kv: &KeyValue, t: &str, form: LineForm) -> Bytes {
        let obj = to_route_version(entry, from_stored(kv).unwrap());
        match form {
            LineForm::Object => encode_line(t, &obj),
            LineForm::Metadata(v) => encode_metadata_line(t, &obj, v),
        }
    }

    #[test]
    fn lines_match_the_decoded_object_byte_for_byte() {
        let reg = registry();
        let entry = reg.lookup("", "v1", "pods").unwrap();
        let forms = [
            LineForm::Object,
            LineForm::Metadata(MetaVersion::V1),
            LineForm::Metadata(MetaVersion::V1beta1),
        ];
        let mut with_rv = pod();
        with_rv["metadata"]["resourceVersion"] = json!("3");
        let mut no_meta_members = pod();
        no_meta_members["metadata"] = json!({});
        for obj in [pod(), with_rv, no_meta_members] {
            let kv = kv(&obj, 42);
            for form in forms {
                let fast = line(&entry, &kv.value, 42, "MODIFIED", form).unwrap();
                assert_eq!(
                    fast,
                    decoded_line(&entry, &kv, "MODIFIED", form),
                    "{obj} {form:?}"
                );
            }
        }
    }

    #[test]
    fn objects_needing_more_take_the_decoded_path() {
        let reg = registry();
        let pods = reg.lookup("", "v1", "pods").unwrap();
        let mut no_meta = pod();
        no_meta.as_object_mut().unwrap().remove("metadata");
        assert!(line(&pods, &kv(&no_meta, 5).value, 5, "ADDED", LineForm::Object).is_none());
        assert!(line(&pods, b"[1]", 5, "ADDED", LineForm::Object).is_none());
        // Stored as core/v1 but served as events.k8s.io/v1: conversion is needed.
        let events = reg.lookup("events.k8s.io", "v1", "events").unwrap();
        let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}});
        let stored = kv(&event, 5).value;
        assert!(line(&events, &stored, 5, "ADDED", LineForm::Object).is_none());
        assert!(pick(&events, &stored, &[vec!["reason"]]).is_none());
    }

    #[test]
    fn picked_fields_select_as_the_whole_object_does() {
        let reg = registry();
        let entry = reg.lookup("", "v1", "pods").unwrap();
        let obj = pod();
        let bytes = serde_json::to_vec(&obj).unwrap();
        let paths = vec![
            vec!["metadata", "labels"],
            vec!["metadata", "name"],
            vec!["spec", "nodeName"],
            vec!["spec", "hostNetwork"],
            vec!["status", "podIPs"],
            vec!["status", "missing"],
            vec!["spec", "containers", "name"],
        ];
        let got = pick(&entry, &bytes, &paths).unwrap();
        assert_eq!(
            got,
            json!({
                "metadata": {"name": "web-\"1\"", "labels": {"app": "web", "tier/é": "x"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}], "hostNetwork": false},
                "status": {"podIPs": [{"ip": "10.244.0.5"}]},
            })
        );
        for selector in [
            "spec.nodeName!=",
            "spec.nodeName=n1",
            "spec.nodeName=n2",
            "status.podIPs=10.244.0.5",
            "spec.hostNetwork=false",
            "metadata.name=web-\"1\"",
        ] {
            let f =
                crate::filter::Filter::parse(Some("app=web"), Some(selector), "", "Pod").unwrap();
            let paths = f.paths();
            let small = pick(&entry, &bytes, &paths).unwrap();
            assert_eq!(f.matches(&small), f.matches(&obj), "{selector}");
        }
    }
}
