//! The object walks of structured-merge-diff's `typed` package: field sets, comparison,
//! merge and removal, driven by the list rules of `minato_patch::keys` instead of an
//! OpenAPI schema.

use minato_patch::keys::{list_type, ListType};
use serde_json::{Map, Value};

use crate::json::json_eq;
use crate::set::{path_string, sorted_key, PathElement, Set};

/// Deepest object nesting walked; deeper input is rejected instead of overflowing the stack.
const MAX_DEPTH: usize = 100;

/// Fields whose values are Go value structs (or lists serialised as `null` when empty), so
/// upstream never sees them appear and never marks them with `"."` when they do.
const ALWAYS_PRESENT: &[&str] = &[
    "metadata",
    "spec",
    "status",
    "template",
    "strategy",
    "updateStrategy",
    "jobTemplate",
    "resources",
    "containers",
];

/// What the walks need to know about one node.
enum Node {
    Leaf,
    Map,
    List(ListType),
}

/// The per-kind "schema": list types from `keys.rs`, atomic maps and structs from a table.
pub struct Typed<'a> {
    kind: &'a str,
}

/// Fields added, modified and removed between two objects.
#[derive(Default, Debug)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    /// Drops ignored fields (the other half of a status/main resource split).
    pub fn exclude(&mut self, ignored: &Set) {
        self.added.remove_recursive(ignored);
        self.modified.remove_recursive(ignored);
        self.removed.remove_recursive(ignored);
    }
}

fn is_empty_or_null(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

fn err_at(path: &[PathElement], msg: impl std::fmt::Display) -> String {
    if path.is_empty() {
        msg.to_string()
    } else {
        format!("{}: {msg}", path_string(path))
    }
}

impl<'a> Typed<'a> {
    pub fn new(kind: &'a str) -> Typed<'a> {
        Typed { kind }
    }

    fn list_type(&self, fpath: &[String]) -> ListType {
        let p: Vec<&str> = fpath.iter().map(String::as_str).collect();
        list_type(self.kind, &p)
    }

    /// Maps and structs replaced as a whole (`+mapType=atomic`, `+structType=atomic`).
    fn atomic_map(&self, fpath: &[String], is_item: bool) -> bool {
        let Some((last, parents)) = fpath.split_last() else {
            return false;
        };
        if is_item {
            // LocalObjectReference and OwnerReference are atomic structs.
            return matches!(last.as_str(), "imagePullSecrets" | "ownerReferences");
        }
        match last.as_str() {
            "selector" | "podSelector" | "namespaceSelector" | "labelSelector" | "nodeSelector"
            | "configMapKeyRef" | "secretKeyRef" | "fieldRef" | "resourceFieldRef" => true,
            "requiredDuringSchedulingIgnoredDuringExecution" => {
                parents.last().map(String::as_str) == Some("nodeAffinity")
            }
            _ => false,
        }
    }

    fn node(&self, fpath: &[String], is_item: bool, l: Option<&Value>, r: Option<&Value>) -> Node {
        let shape = |v: Option<&Value>| match v {
            Some(Value::Array(_)) => Some(1),
            Some(Value::Object(_)) => Some(2),
            None | Some(Value::Null) => None,
            Some(_) => Some(0),
        };
        let shape = match (shape(l), shape(r)) {
            (Some(a), Some(b)) if a != b => return Node::Leaf,
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => return Node::Leaf,
        };
        let both_empty = is_empty_or_null(l) && is_empty_or_null(r);
        match shape {
            1 => match self.list_type(fpath) {
                ListType::Atomic => Node::Leaf,
                _ if both_empty => Node::Leaf,
                lt => Node::List(lt),
            },
            2 if both_empty || self.atomic_map(fpath, is_item) => Node::Leaf,
            2 => Node::Map,
            _ => Node::Leaf,
        }
    }

    /// Upstream's path of a field (`.spec.template.spec.containers[name="c"].foo`: keyed list
    /// items by their keys, others by index), from a decoder's dotted path into `obj`
    /// (`spec.template.spec.containers[0].foo`). Keys may hold dots: the longest key of the
    /// map that fits is taken; a key `obj` lacks is taken up to the next `.` or `[`.
    pub fn schema_path(&self, obj: &Value, dotted: &str) -> String {
        let mut out = String::new();
        let mut fpath: Vec<String> = Vec::new();
        let mut cur = Some(obj);
        let mut rest = dotted;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('[') {
                let Some((num, after)) = r.split_once(']') else {
                    out.push_str(rest);
                    break;
                };
                let item = num
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| cur.and_then(|v| v.get(i)));
                let lt = self.list_type(&fpath);
                match item.map(|it| self.item_pe(&lt, it)) {
                    Some(Ok(pe)) => out.push_str(&pe.to_string()),
                    _ => out.push_str(&format!("[{num}]")),
                }
                cur = item;
                rest = after;
                continue;
            }
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let fits = |k: &&String| {
                r.starts_with(k.as_str())
                    && matches!(r[k.len()..].chars().next(), None | Some('.' | '['))
            };
            let key = cur
                .and_then(Value::as_object)
                .and_then(|m| m.keys().filter(fits).max_by_key(|k| k.len()).cloned())
                .unwrap_or_else(|| r.split(['.', '[']).next().unwrap_or_default().to_string());
            if key.is_empty() {
                out.push_str(r);
                break;
            }
            out.push('.');
            out.push_str(&key);
            cur = cur.and_then(|v| v.get(&key));
            rest = &r[key.len()..];
            fpath.push(key);
        }
        out
    }

    /// The path element of a list item: its key fields, or its value for sets.
    fn item_pe(&self, lt: &ListType, item: &Value) -> Result<PathElement, String> {
        match lt {
            ListType::Map(keys) => {
                let Value::Object(obj) = item else {
                    return Err(
                        "associative list with keys has an element that is not a map type".into(),
                    );
                };
                let mut fields = Vec::with_capacity(keys.len());
                for key in keys {
                    match obj.get(*key) {
                        Some(v) => fields.push((key.to_string(), v.clone())),
                        // The only defaulted list-map key of the built-in types.
                        None if *key == "protocol" => {
                            fields.push((key.to_string(), Value::String("TCP".into())))
                        }
                        None => {
                            return Err(format!(
                                "associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                            ))
                        }
                    }
                }
                Ok(PathElement::Key(sorted_key(fields)))
            }
            ListType::Set => Ok(PathElement::Value(item.clone())),
            ListType::Atomic => Err("invalid indexing of non-associative list".into()),
        }
    }

    /// The items of a list indexed by path element, in order, with duplicates grouped.
    #[allow(clippy::type_complexity)]
    fn index_items<'v>(
        &self,
        lt: &ListType,
        items: &'v [Value],
        path: &[PathElement],
    ) -> Result<Vec<(PathElement, Vec<&'v Value>)>, String> {
        let mut out: Vec<(PathElement, Vec<&'v Value>)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let pe = self
                .item_pe(lt, item)
                .map_err(|e| err_at(path, format!("element {i}: {e}")))?;
            match out.iter_mut().find(|(p, _)| *p == pe) {
                Some((_, group)) => group.push(item),
                None => out.push((pe, vec![item])),
            }
        }
        Ok(out)
    }

    /// The set of fields `v` sets (upstream `ToFieldSet`).
    pub fn field_set(&self, v: &Value, allow_duplicates: bool) -> Result<Set, String> {
        let mut set = Set::new();
        self.fs_walk(
            v,
            false,
            &mut Vec::new(),
            &mut Vec::new(),
            &mut set,
            allow_duplicates,
            0,
        )?;
        Ok(set)
    }

    #[allow(clippy::too_many_arguments)]
    fn fs_walk(
        &self,
        v: &Value,
        is_item: bool,
        path: &mut Vec<PathElement>,
        fpath: &mut Vec<String>,
        set: &mut Set,
        allow_dups: bool,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(err_at(path, "object nested too deeply"));
        }
        match v {
            Value::Object(obj) => {
                if self.atomic_map(fpath, is_item) {
                    set.insert(path);
                    return Ok(());
                }
                for (k, child) in obj {
                    path.push(PathElement::Field(k.clone()));
                    fpath.push(k.clone());
                    let r = self.fs_walk(child, false, path, fpath, set, allow_dups, depth + 1);
                    if matches!(child, Value::Null) || child.as_object().is_some_and(Map::is_empty)
                    {
                        set.insert(path);
                    }
                    path.pop();
                    fpath.pop();
                    r?;
                }
            }
            Value::Array(items) => {
                let lt = self.list_type(fpath);
                if lt == ListType::Atomic {
                    set.insert(path);
                    return Ok(());
                }
                for (pe, group) in self.index_items(&lt, items, path)? {
                    path.push(pe);
                    let r = if group.len() > 1 {
                        if !allow_dups {
                            path.pop();
                            let last = path_string(&[self.item_pe(&lt, group[0])?]);
                            return Err(err_at(path, format!("duplicate entries for key {last}")));
                        }
                        set.insert(path);
                        Ok(())
                    } else {
                        let r =
                            self.fs_walk(group[0], true, path, fpath, set, allow_dups, depth + 1);
                        set.insert(path);
                        r
                    };
                    path.pop();
                    r?;
                }
            }
            _ => set.insert(path),
        }
        Ok(())
    }

    /// Compares `lhs` (before) with `rhs` (after), as upstream `TypedValue.Compare`;
    /// `metadata.managedFields` is left out on both sides.
    pub fn compare(&self, lhs: &Value, rhs: &Value) -> Result<Comparison, String> {
        let mut cmp = Comparison::default();
        self.cmp_walk(
            Some(lhs),
            Some(rhs),
            false,
            &mut Vec::new(),
            &mut Vec::new(),
            &mut cmp,
            0,
        )?;
        Ok(cmp)
    }

    #[allow(clippy::too_many_arguments)]
    fn cmp_walk(
        &self,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        is_item: bool,
        path: &mut Vec<PathElement>,
        fpath: &mut Vec<String>,
        cmp: &mut Comparison,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(err_at(path, "object nested too deeply"));
        }
        // Most of an object is unchanged by a write: an equal subtree adds nothing, and
        // skipping it saves building a path for each of its fields.
        if let (Some(l), Some(r)) = (lhs, rhs) {
            if json_eq(l, r) {
                return Ok(());
            }
        }
        match self.node(fpath, is_item, lhs, rhs) {
            Node::Leaf => {
                match (lhs, rhs) {
                    (None, Some(_)) => cmp.added.insert(path),
                    (Some(_), None) => cmp.removed.insert(path),
                    // Equal values returned above.
                    (Some(_), Some(_)) => cmp.modified.insert(path),
                    _ => {}
                }
                return Ok(());
            }
            Node::Map => {
                let empty = Map::new();
                let lm = lhs.and_then(Value::as_object).unwrap_or(&empty);
                let rm = rhs.and_then(Value::as_object).unwrap_or(&empty);
                let keys = lm.keys().chain(rm.keys().filter(|k| !lm.contains_key(*k)));
                for k in keys {
                    // managedFields is the bookkeeping itself, never a tracked field.
                    if k == "managedFields"
                        && depth == 1
                        && fpath.len() == 1
                        && fpath[0] == "metadata"
                    {
                        continue;
                    }
                    path.push(PathElement::Field(k.clone()));
                    fpath.push(k.clone());
                    let r = self.cmp_walk(lm.get(k), rm.get(k), false, path, fpath, cmp, depth + 1);
                    path.pop();
                    fpath.pop();
                    r?;
                }
            }
            Node::List(lt) => {
                let empty = Vec::new();
                let la = lhs.and_then(Value::as_array).unwrap_or(&empty);
                let ra = rhs.and_then(Value::as_array).unwrap_or(&empty);
                let lidx = self.index_items(&lt, la, path)?;
                let ridx = self.index_items(&lt, ra, path)?;
                let mut all: Vec<&PathElement> = lidx.iter().map(|(pe, _)| pe).collect();
                for (pe, _) in &ridx {
                    if !lidx.iter().any(|(p, _)| p == pe) {
                        all.push(pe);
                    }
                }
                for pe in all {
                    let l = lidx
                        .iter()
                        .find(|(p, _)| p == pe)
                        .map(|(_, g)| g.as_slice())
                        .unwrap_or(&[]);
                    let r = ridx
                        .iter()
                        .find(|(p, _)| p == pe)
                        .map(|(_, g)| g.as_slice())
                        .unwrap_or(&[]);
                    path.push(pe.clone());
                    let res = match (l.len(), r.len()) {
                        (a, b) if a <= 1 && b <= 1 => self.cmp_walk(
                            l.first().copied(),
                            r.first().copied(),
                            true,
                            path,
                            fpath,
                            cmp,
                            depth + 1,
                        ),
                        (a, b) if a >= 2 && b >= 2 => {
                            let same = a == b && l.iter().zip(r).all(|(x, y)| json_eq(x, y));
                            if !same {
                                cmp.modified.insert(path);
                            }
                            Ok(())
                        }
                        (a, _) if a >= 2 => {
                            let res = match r.first() {
                                Some(rv) => {
                                    self.cmp_walk(None, Some(rv), true, path, fpath, cmp, depth + 1)
                                }
                                None => Ok(()),
                            };
                            cmp.removed.insert(path);
                            res
                        }
                        _ => {
                            let res = match l.first() {
                                Some(lv) => {
                                    self.cmp_walk(Some(lv), None, true, path, fpath, cmp, depth + 1)
                                }
                                None => Ok(()),
                            };
                            cmp.added.insert(path);
                            res
                        }
                    };
                    path.pop();
                    res?;
                }
            }
        }
        if let Some(last) = path.last() {
            if lhs.is_none() && rhs.is_some() {
                let tracked = match last {
                    PathElement::Field(name) => !ALWAYS_PRESENT.contains(&name.as_str()),
                    _ => true,
                };
                if tracked {
                    cmp.added.insert(path);
                }
            } else if rhs.is_none() && lhs.is_some() {
                cmp.removed.insert(path);
            }
        }
        Ok(())
    }

    /// Merges an applied configuration into the live object (upstream `TypedValue.Merge`).
    pub fn merge(&self, live: &Value, config: &Value) -> Result<Value, String> {
        let merged = self.merge_walk(
            Some(live),
            Some(config),
            false,
            &mut Vec::new(),
            &mut Vec::new(),
            0,
        )?;
        Ok(merged.unwrap_or_else(|| Value::Object(Map::new())))
    }

    fn merge_walk(
        &self,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        is_item: bool,
        path: &mut Vec<PathElement>,
        fpath: &mut Vec<String>,
        depth: usize,
    ) -> Result<Option<Value>, String> {
        if depth > MAX_DEPTH {
            return Err(err_at(path, "object nested too deeply"));
        }
        match self.node(fpath, is_item, lhs, rhs) {
            Node::Leaf => Ok(rhs.or(lhs).cloned()),
            Node::Map => {
                let empty = Map::new();
                let lm = lhs.and_then(Value::as_object).unwrap_or(&empty);
                let rm = rhs.and_then(Value::as_object).unwrap_or(&empty);
                let mut out = Map::new();
                let keys = lm.keys().chain(rm.keys().filter(|k| !lm.contains_key(*k)));
                for k in keys {
                    // managedFields is the bookkeeping itself, never a tracked field.
                    if k == "managedFields"
                        && depth == 1
                        && fpath.len() == 1
                        && fpath[0] == "metadata"
                    {
                        continue;
                    }
                    path.push(PathElement::Field(k.clone()));
                    fpath.push(k.clone());
                    let r = self.merge_walk(lm.get(k), rm.get(k), false, path, fpath, depth + 1);
                    path.pop();
                    fpath.pop();
                    // A null field is an unset Go field once the object is typed again.
                    if let Some(v) = r? {
                        if !v.is_null() {
                            out.insert(k.clone(), v);
                        }
                    }
                }
                Ok((!out.is_empty()).then_some(Value::Object(out)))
            }
            Node::List(lt) => self.merge_list(&lt, lhs, rhs, path, fpath, depth),
        }
    }

    /// Associative-list merge keeping upstream's order: live items in place, applied items
    /// in their applied order relative to the items both sides share.
    fn merge_list(
        &self,
        lt: &ListType,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
        fpath: &mut Vec<String>,
        depth: usize,
    ) -> Result<Option<Value>, String> {
        let empty = Vec::new();
        let la = lhs.and_then(Value::as_array).unwrap_or(&empty);
        let ra = rhs.and_then(Value::as_array).unwrap_or(&empty);
        let mut rpes = Vec::with_capacity(ra.len());
        for (i, item) in ra.iter().enumerate() {
            let pe = self
                .item_pe(lt, item)
                .map_err(|e| err_at(path, format!("element {i}: {e}")))?;
            if rpes.iter().any(|(p, _)| *p == pe) {
                return Err(err_at(path, format!("duplicate entries for key {pe}")));
            }
            rpes.push((pe, item));
        }
        let null = Value::Null;
        let mut lpes: Vec<(PathElement, &Value)> = Vec::with_capacity(la.len());
        for (i, item) in la.iter().enumerate() {
            let pe = self
                .item_pe(lt, item)
                .map_err(|e| err_at(path, format!("element {i}: {e}")))?;
            lpes.push((pe, item));
        }
        // Live duplicates are not merged with the applied item.
        let observed_l = |pe: &PathElement| -> Option<&Value> {
            let mut it = lpes.iter().filter(|(p, _)| p == pe);
            let first = it.next().map(|(_, v)| *v);
            if it.next().is_some() {
                Some(&null)
            } else {
                first
            }
        };
        let observed_r = |pe: &PathElement| rpes.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
        let mut shared: std::collections::VecDeque<&PathElement> = rpes
            .iter()
            .filter(|(pe, _)| observed_l(pe).is_some())
            .map(|(pe, _)| pe)
            .collect();
        let mut next_shared = shared.pop_front();
        let mut merged_r: Vec<&PathElement> = Vec::new();
        let mut out = Vec::new();
        let (llen, rlen) = (lpes.len(), rpes.len());
        let (mut li, mut ri) = (0, 0);
        while li < llen || ri < rlen {
            if li < llen && ri < rlen {
                let pe = &lpes[li].0;
                if *pe == rpes[ri].0 {
                    merged_r.push(pe);
                    path.push(pe.clone());
                    let m = self.merge_walk(
                        observed_l(pe),
                        observed_r(pe),
                        true,
                        path,
                        fpath,
                        depth + 1,
                    );
                    path.pop();
                    out.extend(m?);
                    li += 1;
                    ri += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                if observed_r(pe).is_some() && next_shared.is_some_and(|n| n != pe) {
                    li += 1;
                    continue;
                }
            }
            if li < llen {
                let pe = &lpes[li].0;
                if observed_r(pe).is_none() {
                    path.push(pe.clone());
                    let m = self.merge_walk(Some(lpes[li].1), None, true, path, fpath, depth + 1);
                    path.pop();
                    out.extend(m?);
                    li += 1;
                    continue;
                } else if merged_r.contains(&pe) {
                    li += 1;
                }
            }
            if ri < rlen {
                let pe = &rpes[ri].0;
                merged_r.push(pe);
                path.push(pe.clone());
                let m = self.merge_walk(
                    observed_l(pe),
                    Some(rpes[ri].1),
                    true,
                    path,
                    fpath,
                    depth + 1,
                );
                path.pop();
                out.extend(m?);
                ri += 1;
                if next_shared.is_some_and(|n| n == pe) {
                    next_shared = shared.pop_front();
                }
            }
        }
        Ok((!out.is_empty()).then_some(Value::Array(out)))
    }

    /// `v` without the fields in `set` (upstream `RemoveItems`); None when nothing is left.
    pub fn remove_items(&self, v: &Value, set: &Set) -> Option<Value> {
        self.remove_walk(v, set, false, &mut Vec::new(), 0)
    }

    fn remove_walk(
        &self,
        v: &Value,
        set: &Set,
        is_item: bool,
        fpath: &mut Vec<String>,
        depth: usize,
    ) -> Option<Value> {
        if depth > MAX_DEPTH {
            return Some(v.clone());
        }
        match v {
            Value::Object(obj) => {
                if obj.is_empty() || self.atomic_map(fpath, is_item) {
                    return None;
                }
                let mut out = Map::new();
                for (k, child) in obj {
                    let pe = PathElement::Field(k.clone());
                    if set.has(std::slice::from_ref(&pe)) {
                        continue;
                    }
                    match set.with_prefix(&pe) {
                        Some(sub) => {
                            fpath.push(k.clone());
                            let r = self.remove_walk(child, sub, false, fpath, depth + 1);
                            fpath.pop();
                            if let Some(r) = r {
                                out.insert(k.clone(), r);
                            }
                        }
                        None => {
                            out.insert(k.clone(), child.clone());
                        }
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Value::Array(items) => {
                let lt = self.list_type(fpath);
                if items.is_empty() || lt == ListType::Atomic {
                    return None;
                }
                let mut out = Vec::new();
                for item in items {
                    let Ok(pe) = self.item_pe(&lt, item) else {
                        out.push(item.clone());
                        continue;
                    };
                    if set.has(std::slice::from_ref(&pe)) {
                        continue;
                    }
                    match set.with_prefix(&pe) {
                        Some(sub) => {
                            out.extend(self.remove_walk(item, sub, true, fpath, depth + 1))
                        }
                        None => out.push(item.clone()),
                    }
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            other => Some(other.clone()),
        }
    }
}
