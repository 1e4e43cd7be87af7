//! `metadata.managedFields` decoded into per-manager field sets and encoded back, as
//! apimachinery's `managedfields/internal` does (identifiers, entry order, capping).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::json::go_json;
use crate::set::Set;

pub const APPLY: &str = "Apply";
pub const UPDATE: &str = "Update";

/// Most Update entries kept before the oldest are merged into `ancient-changes`.
const MAX_UPDATE_MANAGERS: usize = 10;

/// One manager's fields.
#[derive(Clone, Debug)]
pub struct Entry {
    pub manager: String,
    pub applied: bool,
    pub api_version: String,
    pub subresource: String,
    pub time: Option<String>,
    pub set: Set,
    /// The decoded `fieldsV1`, written back as is while `set` is unchanged (rebuilding it is
    /// much of the cost of a write). Whoever changes `set` must clear it: see `remove_fields`.
    pub raw: Option<Value>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.manager == o.manager
            && self.applied == o.applied
            && self.api_version == o.api_version
            && self.subresource == o.subresource
            && self.time == o.time
            && self.set == o.set
    }
}

impl Entry {
    /// Removes fields from the set, in place (and forgets the decoded `fieldsV1`).
    pub fn remove_fields(&mut self, fields: &Set) {
        self.set.remove(fields);
        self.raw = None;
    }

    /// Adds to the field set (and forgets the decoded `fieldsV1`).
    pub fn union_set(&mut self, other: &Set) {
        self.set.union_in_place(other);
        self.raw = None;
    }

    fn operation(&self) -> &'static str {
        if self.applied {
            APPLY
        } else {
            UPDATE
        }
    }

    /// How conflict messages name this manager (upstream `printManager`; identifiers
    /// carry no time, so "at <time>" never appears).
    pub fn display(&self) -> String {
        let mut s = go_json(&Value::String(self.manager.clone()));
        if !self.subresource.is_empty() {
            s.push_str(&format!(
                " with subresource {}",
                go_json(&Value::String(self.subresource.clone()))
            ));
        }
        if !self.applied {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// The manager identifier upstream keys its sets by: the JSON of the entry without time
/// and fields, and without apiVersion for appliers (one Apply entry per manager).
pub fn identifier(manager: &str, applied: bool, api_version: &str, subresource: &str) -> String {
    let mut m = Map::new();
    if !manager.is_empty() {
        m.insert("manager".into(), Value::String(manager.into()));
    }
    m.insert(
        "operation".into(),
        Value::String(if applied { APPLY } else { UPDATE }.into()),
    );
    if !applied && !api_version.is_empty() {
        m.insert("apiVersion".into(), Value::String(api_version.into()));
    }
    if !subresource.is_empty() {
        m.insert("subresource".into(), Value::String(subresource.into()));
    }
    // Field order of metav1.ManagedFieldsEntry, not sorted.
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}:{}", go_json(&Value::String(k.clone())), go_json(v)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// Sets by manager identifier.
pub type Managed = BTreeMap<String, Entry>;

/// Decodes `metadata.managedFields` (absent or null: nothing).
pub fn decode(raw: Option<&Value>) -> Result<Managed, String> {
    let mut out = Managed::new();
    let items = match raw {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("managedFields must be a list".into()),
    };
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(format!("managed fields entry {i} is not an object"));
        };
        let text = |k: &str| -> Result<String, String> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(format!("managed fields entry {i}: {k} must be a string")),
            }
        };
        let applied = match text("operation")?.as_str() {
            APPLY => true,
            UPDATE => false,
            _ => return Err("operation must be `Apply` or `Update`".into()),
        };
        let api_version = text("apiVersion")?;
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".into());
        }
        match text("fieldsType")?.as_str() {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {other:?} in managed fields entry {i}"
                ))
            }
        }
        let (set, raw) = match obj.get("fieldsV1") {
            None | Some(Value::Null) => (Set::new(), None),
            Some(v) => (
                Set::from_fields_v1(v).map_err(|e| format!("error decoding set: {e}"))?,
                Some(v.clone()),
            ),
        };
        let time = text("time")?;
        let entry = Entry {
            manager: text("manager")?,
            applied,
            api_version,
            subresource: text("subresource")?,
            time: (!time.is_empty()).then_some(time),
            set,
            raw,
        };
        out.insert(key_of(&entry), entry);
    }
    Ok(out)
}

pub fn key_of(e: &Entry) -> String {
    identifier(&e.manager, e.applied, &e.api_version, &e.subresource)
}

/// Seconds since the epoch of an RFC 3339 time (0 when absent or unparsable, as a nil time
/// sorts upstream).
fn seconds(t: Option<&str>) -> i64 {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Encodes the sets as upstream orders them: Apply before Update, then oldest first, then
/// manager, apiVersion, subresource. None when no manager is left.
pub fn encode(managed: &Managed) -> Option<Value> {
    if managed.is_empty() {
        return None;
    }
    let mut entries: Vec<&Entry> = managed.values().collect();
    entries.sort_by(|p, q| {
        p.operation()
            .cmp(q.operation())
            .then_with(|| seconds(p.time.as_deref()).cmp(&seconds(q.time.as_deref())))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    let list = entries
        .into_iter()
        .map(|e| {
            let mut m = Map::new();
            if !e.manager.is_empty() {
                m.insert("manager".into(), Value::String(e.manager.clone()));
            }
            m.insert("operation".into(), Value::String(e.operation().into()));
            m.insert("apiVersion".into(), Value::String(e.api_version.clone()));
            if let Some(t) = &e.time {
                m.insert("time".into(), Value::String(t.clone()));
            }
            m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
            let fields = match &e.raw {
                Some(raw) => raw.clone(),
                None => e.set.to_fields_v1(),
            };
            m.insert("fieldsV1".into(), fields);
            if !e.subresource.is_empty() {
                m.insert("subresource".into(), Value::String(e.subresource.clone()));
            }
            Value::Object(m)
        })
        .collect();
    Some(Value::Array(list))
}

/// Merges the oldest Update entries into one `ancient-changes` entry per apiVersion once
/// there are more than ten (upstream `capManagersManager`).
pub fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<String> = managed
        .iter()
        .filter(|(_, e)| !e.applied)
        .map(|(k, _)| k.clone())
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|a, b| {
        let ta = seconds(managed.get(a).and_then(|e| e.time.as_deref()));
        let tb = seconds(managed.get(b).and_then(|e| e.time.as_deref()));
        ta.cmp(&tb).then_with(|| a.cmp(b))
    });
    let mut first_by_version: BTreeMap<String, String> = BTreeMap::new();
    let mut length = updaters.len();
    for key in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(entry) = managed.get(&key).cloned() else {
            continue;
        };
        let version = entry.api_version.clone();
        let bucket = identifier("ancient-changes", false, &version, "");
        match first_by_version.get(&version) {
            Some(first) => {
                if !managed.contains_key(&bucket) {
                    if let Some(mut f) = managed.remove(first) {
                        f.manager = "ancient-changes".into();
                        f.subresource = String::new();
                        managed.insert(bucket.clone(), f);
                    }
                }
                managed.remove(&key);
                if let Some(b) = managed.get_mut(&bucket) {
                    b.union_set(&entry.set);
                    b.time = entry.time.clone();
                }
                length -= 1;
            }
            None => {
                first_by_version.insert(version, key);
            }
        }
    }
}
