//! Field paths and sets of them, with the FieldsV1 encoding of `metadata.managedFields`
//! (structured-merge-diff's `fieldpath` package, rebuilt on `serde_json::Value`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::json::{go_json, value_cmp};

/// Deepest FieldsV1 nesting accepted from clients (objects are far shallower).
const MAX_DEPTH: usize = 128;

/// One step of a path: a struct or map field, an associative-list item by key, a set
/// item by value, or (never produced here) a list index.
#[derive(Clone, Debug)]
pub enum PathElement {
    Field(String),
    /// Key fields sorted by name, as upstream sorts them.
    Key(Vec<(String, Value)>),
    Value(Value),
    Index(i64),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The FieldsV1 key of this element (`f:name`, `k:{"name":"x"}`, `v:"x"`, `i:0`).
    pub fn serialize(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut out = String::from("k:{");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&go_json(&Value::String(name.clone())));
                    out.push(':');
                    out.push_str(&go_json(value));
                }
                out.push('}');
                out
            }
            PathElement::Value(value) => format!("v:{}", go_json(value)),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a FieldsV1 key; `Ok(None)` for an unknown element type (upstream skips those).
    pub fn deserialize(s: &str) -> Result<Option<PathElement>, String> {
        let b = s.as_bytes();
        if b.len() < 2 {
            return Err(format!("key must be 2 characters long: {s}"));
        }
        if b[1] != b':' {
            return Err(format!("missing colon: {s}"));
        }
        let rest = &s[2..];
        match b[0] {
            b'f' => Ok(Some(PathElement::Field(rest.to_string()))),
            b'v' => serde_json::from_str::<Value>(rest)
                .map(|v| Some(PathElement::Value(v)))
                .map_err(|e| e.to_string()),
            b'k' => {
                let v: Value = serde_json::from_str(rest).map_err(|e| e.to_string())?;
                let Value::Object(map) = v else {
                    return Err(format!("key element is not an object: {rest}"));
                };
                Ok(Some(PathElement::Key(sorted_key(
                    map.into_iter().collect(),
                ))))
            }
            b'i' => rest
                .parse::<i64>()
                .map(|i| Some(PathElement::Index(i)))
                .map_err(|e| e.to_string()),
            _ => Ok(None),
        }
    }
}

/// Sorts key fields by name (upstream `FieldList.Sort`).
pub fn sorted_key(mut fields: Vec<(String, Value)>) -> Vec<(String, Value)> {
    fields.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| value_cmp(&a.1, &b.1)));
    fields
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
                    let c = an.cmp(bn).then_with(|| value_cmp(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => value_cmp(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

/// How upstream prints a value inside a path (`value.ToString`).
fn value_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => go_json(&Value::String(s.clone())),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => f.to_string(),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", value_to_string(v)))
            .collect::<Vec<_>>()
            .join(""),
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", value_to_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path as upstream prints it in conflicts: `.spec.template.spec.containers[name="nginx"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(|pe| pe.to_string()).collect()
}

/// A set of paths stored as a tree: `members` are paths ending here, `children` hold
/// longer paths (never empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The paths below `pe`, without it.
    pub fn with_prefix(&self, pe: &PathElement) -> Option<&Set> {
        self.children.get(pe)
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.union_in_place(other);
        out
    }

    pub fn union_in_place(&mut self, other: &Set) {
        self.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            self.children
                .entry(pe.clone())
                .or_default()
                .union_in_place(child);
        }
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = child.intersection(o);
                if !i.is_empty() {
                    children.insert(pe.clone(), i);
                }
            }
        }
        Set { members, children }
    }

    /// Whether some path is in both sets (so `difference` would change `self`).
    pub fn intersects(&self, other: &Set) -> bool {
        (self.members.len() <= other.members.len()
            && self.members.iter().any(|m| other.members.contains(m)))
            || (self.members.len() > other.members.len()
                && other.members.iter().any(|m| self.members.contains(m)))
            || self
                .children
                .iter()
                .any(|(pe, c)| other.children.get(pe).is_some_and(|o| c.intersects(o)))
    }

    /// `difference` in place (no copy of what stays).
    pub fn remove(&mut self, other: &Set) {
        self.remove_in_place(other, false);
    }

    /// `recursive_difference` in place (no copy of what stays).
    pub fn remove_recursive(&mut self, other: &Set) {
        self.remove_in_place(other, true);
    }

    fn remove_in_place(&mut self, other: &Set, recursive: bool) {
        if other.is_empty() {
            return;
        }
        self.members.retain(|m| !other.members.contains(m));
        self.children.retain(|pe, child| {
            if recursive && other.members.contains(pe) {
                return false;
            }
            if let Some(o) = other.children.get(pe) {
                child.remove_in_place(o, recursive);
            }
            !child.is_empty()
        });
    }

    /// Exact difference: removing `a.b` leaves `a.b.c` in place.
    pub fn difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            match other.children.get(pe) {
                Some(o) => {
                    let d = child.difference(o);
                    if !d.is_empty() {
                        children.insert(pe.clone(), d);
                    }
                }
                None => {
                    children.insert(pe.clone(), child.clone());
                }
            }
        }
        Set { members, children }
    }

    /// Difference that also drops everything below a path of `other`.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            match other.children.get(pe) {
                Some(o) => {
                    let d = child.recursive_difference(o);
                    if !d.is_empty() {
                        children.insert(pe.clone(), d);
                    }
                }
                None => {
                    children.insert(pe.clone(), child.clone());
                }
            }
        }
        Set { members, children }
    }

    /// Makes every named field with owned children a member too (upstream
    /// `EnsureNamedFieldsAreMembers`; without schemas every object key counts as named).
    pub fn ensure_named_fields_are_members(&self) -> Set {
        let mut members = self.members.clone();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if matches!(pe, PathElement::Field(_)) {
                members.insert(pe.clone());
            }
            children.insert(pe.clone(), child.ensure_named_fields_are_members());
        }
        Set { members, children }
    }

    /// Every path, members before children at each level (upstream's preorder `Iterate`).
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect_paths(&mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The FieldsV1 JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        // Members and children merged in path-element order, as upstream writes them.
        let mut keys: BTreeSet<&PathElement> = self.members.iter().collect();
        keys.extend(self.children.keys());
        for pe in keys {
            let value = match self.children.get(pe) {
                Some(child) => Value::Object(child.emit(self.members.contains(pe))),
                None => Value::Object(Map::new()),
            };
            out.insert(pe.serialize(), value);
        }
        out
    }

    /// Parses FieldsV1 JSON.
    pub fn from_fields_v1(v: &Value) -> Result<Set, String> {
        let (set, _) = read_fields(v, 0)?;
        Ok(set.unwrap_or_default())
    }
}

/// Returns the children found under `v` (None when none) and whether `v` marks its own
/// path as a member (`"."`, or an empty object).
fn read_fields(v: &Value, depth: usize) -> Result<(Option<Set>, bool), String> {
    if depth > MAX_DEPTH {
        return Err("fieldsV1 nested too deeply".into());
    }
    let Value::Object(map) = v else {
        return Err(format!("expected an object in fieldsV1, got {v}"));
    };
    let mut children: Option<Set> = None;
    let mut is_member = false;
    for (key, value) in map {
        if key == "." {
            is_member = true;
            continue;
        }
        let pe = match PathElement::deserialize(key) {
            Ok(Some(pe)) => pe,
            Ok(None) => continue,
            Err(e) => return Err(format!("parsing key as path element: {e}")),
        };
        let (grandchildren, child_is_member) = read_fields(value, depth + 1)?;
        if child_is_member {
            children
                .get_or_insert_with(Set::new)
                .members
                .insert(pe.clone());
        }
        if let Some(g) = grandchildren {
            children
                .get_or_insert_with(Set::new)
                .children
                .entry(pe)
                .or_default()
                .union_in_place(&g);
        }
    }
    if children.is_none() {
        is_member = true;
    }
    Ok((children, is_member))
}
