//! Strategic merge patch, as the API server applies it (apimachinery `strategicpatch`,
//! `StrategicMergeMapPatch` with `MergeParallelList` and `IgnoreUnmatchedNulls`).
//!
//! The list rules come from [`crate::keys`]. Element order follows upstream exactly, including
//! its quirks: without `$setElementOrder`, elements named by the patch come before server-only
//! elements they are not known to follow; with it, the order of the Go slice the live list was
//! decoded into is used as upstream sees it after in-place deletions and appends.

use serde_json::{Map, Value};

use crate::error::{go_fmt, go_type, PatchError};
use crate::keys::{list_type, ListType};

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

const GO_MAP: &str = "map[string]interface {}";
const GO_SLICE: &str = "[]interface {}";

static NULL: Value = Value::Null;

/// Applies a strategic merge patch to an object of a built-in `kind`.
///
/// `original` and `patch` must be JSON objects. Lists merge as [`crate::keys::list_type`]
/// says: merge-keyed lists element-wise, sets by value, everything else is replaced.
pub fn strategic_merge(kind: &str, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let (Value::Object(original), Value::Object(patch)) = (original, patch) else {
        return Err(PatchError::BadJsonDoc);
    };
    let merger = Merger { kind };
    let mut path = Vec::new();
    merger
        .merge_map(original.clone(), patch.clone(), &mut path)
        .map(Value::Object)
}

/// Whether list elements are maps (the only element kind upstream treats specially).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ElemKind {
    Map,
    Scalar,
}

/// A merged list plus the live list as upstream's later ordering step sees it.
struct SliceMerge {
    merged: Vec<Value>,
    /// Upstream merges into the Go slice it decoded the live list into (length == capacity).
    /// Deletions shift that backing array in place and the first appends reuse the freed
    /// slots, so `$setElementOrder` ordering, which reads the old slice header, sees this.
    server_view: Vec<Value>,
}

struct Merger<'a> {
    kind: &'a str,
}

impl Merger<'_> {
    /// Patch strategy of the list field `key` under `path`: (merges, merge key or "").
    fn list_meta(&self, path: &[String], key: &str) -> (bool, &'static str) {
        let mut full: Vec<&str> = path.iter().map(String::as_str).collect();
        full.push(key);
        match list_type(self.kind, &full) {
            ListType::Atomic => (false, ""),
            ListType::Set => (true, ""),
            ListType::Map(keys) => (true, keys.first().copied().unwrap_or("")),
        }
    }

    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
            return match directive.as_str() {
                Some(REPLACE_DIRECTIVE) => {
                    patch.shift_remove(DIRECTIVE_MARKER);
                    Ok(patch)
                }
                Some(DELETE_DIRECTIVE) => Ok(Map::new()),
                _ => Err(PatchError::bad_patch_type(directive, &patch)),
            };
        }

        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_set_element_order(&mut original, &mut patch, path)?;

        for (k, patch_v) in patch {
            let (key, is_delete_list) = if k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
                (extract_key(&k, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?, true)
            } else {
                (k, false)
            };

            // null deletes the key; unmatched nulls are dropped.
            if patch_v.is_null() {
                original.shift_remove(&key);
                continue;
            }

            let Some(orig_v) = original.get_mut(&key) else {
                if !is_delete_list {
                    set_from_patch(&mut original, key, patch_v);
                }
                continue;
            };
            if go_type(orig_v) != go_type(&patch_v) {
                if !is_delete_list {
                    set_from_patch(&mut original, key, patch_v);
                }
                continue;
            }
            match (orig_v, patch_v) {
                (Value::Object(orig_map), Value::Object(patch_map)) => {
                    let orig_map = std::mem::take(orig_map);
                    path.push(key.clone());
                    let merged = self.merge_map(orig_map, patch_map, path);
                    path.pop();
                    original.insert(key, Value::Object(merged?));
                }
                (Value::Array(orig_list), Value::Array(patch_list)) => {
                    let (merges, merge_key) = self.list_meta(path, &key);
                    // Deletion lists apply whatever the field's strategy.
                    let merged = if merges || is_delete_list {
                        let orig_list = std::mem::take(orig_list);
                        path.push(key.clone());
                        let merged = self.merge_slice(
                            orig_list,
                            patch_list,
                            merge_key,
                            is_delete_list,
                            path,
                        );
                        path.pop();
                        merged?.merged
                    } else {
                        patch_list
                    };
                    original.insert(key, Value::Array(merged));
                }
                (_, patch_v) => set_from_patch(&mut original, key, patch_v),
            }
        }
        Ok(original)
    }

    /// Handles each `$setElementOrder/<field>` together with `<field>` (upstream
    /// `mergePatchIntoOriginal`), removing both from the patch.
    fn merge_set_element_order(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<(), PatchError> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
            .cloned()
            .collect();
        for key in keys {
            let Some(order_value) = patch.shift_remove(&key) else {
                continue;
            };
            let Value::Array(order) = order_value else {
                return Err(PatchError::bad_arg_type(GO_SLICE, &order_value));
            };
            let field = extract_key(&key, SET_ELEMENT_ORDER_PREFIX)?;
            let original_list = list_at(original, &field)?;
            let patch_list = list_at(patch, &field)?;
            let (merges, merge_key) = self.list_meta(path, &field);
            validate_patch_with_set_order_list(
                patch_list.as_deref().unwrap_or_default(),
                &order,
                merge_key,
            )?;
            let kind = slice_element_kind(&[
                original_list.as_deref().unwrap_or_default(),
                patch_list.as_deref().unwrap_or_default(),
            ]);

            let (merged, server_order) = match (original_list, patch_list) {
                (Some(orig), None) => (orig.clone(), orig),
                (None, Some(patch_list)) => (remove_directives_from_list(patch_list), Vec::new()),
                (Some(orig), Some(patch_list)) => {
                    if merges {
                        path.push(field.clone());
                        let merged = self.merge_slice(orig, patch_list, merge_key, false, path);
                        path.pop();
                        let merged = merged?;
                        (merged.merged, merged.server_view)
                    } else {
                        (patch_list, orig)
                    }
                }
                (None, None) => continue,
            };

            let (patch_items, server_only) = if merge_key.is_empty() {
                partition_primitives(merged, &order)
            } else {
                partition_maps(merged, &order, merge_key)?
            };
            let both = normalize_element_order(
                patch_items,
                server_only,
                &order,
                &server_order,
                merge_key,
                kind?,
            )?;
            original.insert(field.clone(), Value::Array(both));
            patch.shift_remove(&field);
        }
        Ok(())
    }

    /// Merges a list with the `merge` strategy (or a `$deleteFromPrimitiveList` list).
    fn merge_slice(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        merge_key: &str,
        is_delete_list: bool,
        path: &mut Vec<String>,
    ) -> Result<SliceMerge, PatchError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(SliceMerge {
                merged: original,
                server_view: Vec::new(),
            });
        }
        let kind = slice_element_kind(&[&original, &patch])?;

        if kind == ElemKind::Scalar {
            if is_delete_list {
                let merged = original
                    .iter()
                    .filter(|v| !patch.contains(v))
                    .cloned()
                    .collect();
                return Ok(SliceMerge {
                    merged,
                    server_view: original,
                });
            }
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for v in original.iter().chain(patch.iter()) {
                if !merged.contains(v) {
                    merged.push(v.clone());
                }
            }
            let (patch_items, server_only) = partition_primitives(merged, &patch);
            let merged =
                normalize_element_order(patch_items, server_only, &patch, &original, "", kind)?;
            return Ok(SliceMerge {
                merged,
                server_view: original,
            });
        }

        if merge_key.is_empty() {
            return Err(PatchError::Strategic(format!(
                "cannot merge lists without merge key for {}",
                path.last().map(String::as_str).unwrap_or_default()
            )));
        }

        // Special elements first: deletions (shifting the live slice in place, as Go does),
        // `replace`, and the unsupported `merge`.
        let capacity = original.len();
        let mut backing = original;
        let mut len = capacity;
        let mut plain = Vec::with_capacity(patch.len());
        let mut replace = false;
        for item in patch {
            let Value::Object(map) = &item else {
                return Err(PatchError::bad_arg_type(GO_MAP, &item));
            };
            match map.get(DIRECTIVE_MARKER) {
                None => plain.push(item),
                Some(directive) => match directive.as_str() {
                    Some(DELETE_DIRECTIVE) => {
                        let Some(value) = map.get(merge_key) else {
                            return Err(PatchError::no_merge_key(map, merge_key));
                        };
                        delete_matching(&mut backing, &mut len, merge_key, value)?;
                    }
                    Some(REPLACE_DIRECTIVE) => replace = true,
                    Some(MERGE_DIRECTIVE) => {
                        return Err(PatchError::Strategic(
                            "merging lists cannot yet be specified in the patch".to_string(),
                        ))
                    }
                    _ => return Err(PatchError::bad_patch_type(directive, map)),
                },
            }
        }

        let (mut current, plain, mut aliased) = if replace {
            (plain, Vec::new(), false)
        } else {
            (backing[..len].to_vec(), plain, true)
        };
        let server_order = current.clone();
        for item in &plain {
            let Value::Object(patch_map) = item else {
                return Err(PatchError::bad_arg_type(GO_MAP, item));
            };
            let Some(value) = patch_map.get(merge_key) else {
                return Err(PatchError::no_merge_key(patch_map, merge_key));
            };
            match find_map_in_slice(&current, merge_key, value)? {
                Some(i) => {
                    let orig_map = match std::mem::take(&mut current[i]) {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    current[i] =
                        Value::Object(self.merge_map(orig_map, patch_map.clone(), path)?);
                }
                None => {
                    // Go's append writes into the live slice's freed slots until it has to
                    // grow, and never touches that array again afterwards.
                    if aliased && current.len() < capacity {
                        backing[current.len()] = item.clone();
                    } else {
                        aliased = false;
                    }
                    current.push(item.clone());
                }
            }
        }

        let (patch_items, server_only) = partition_maps(current, &plain, merge_key)?;
        let merged = normalize_element_order(
            patch_items,
            server_only,
            &plain,
            &server_order,
            merge_key,
            ElemKind::Map,
        )?;
        Ok(SliceMerge {
            merged,
            server_view: backing,
        })
    }
}

/// Sets `key` to a patch value that has no counterpart in the original: nulls inside it are
/// dropped and so are maps carrying `$patch` (upstream `discardNullValuesFromPatch` +
/// `removeDirectives`).
fn set_from_patch(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(v) => {
            original.insert(key, v);
        }
        None => {
            original.shift_remove(&key);
        }
    }
}

fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Drops maps holding `$patch` (anywhere inside); `None` when `value` itself is one.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            let cleaned = map
                .into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect();
            Some(Value::Object(cleaned))
        }
        Value::Array(items) => Some(Value::Array(remove_directives_from_list(items))),
        other => Some(other),
    }
}

fn remove_directives_from_list(items: Vec<Value>) -> Vec<Value> {
    items.into_iter().filter_map(remove_directives).collect()
}

/// Applies `$retainKeys`: original keys not listed are cleared; every patch key must be
/// listed.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadPatchFormatForRetainKeys);
    };
    let listed = |k: &str| retain.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !listed(k) {
            return Err(PatchError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// The field name after `<prefix>/`.
fn extract_key(key: &str, prefix: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((head, rest)) if head == prefix => Ok(rest.to_string()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX => {
            Err(PatchError::BadPatchFormatForPrimitiveList)
        }
        _ => Err(PatchError::BadPatchFormatForSetElementOrderList),
    }
}

/// The list under `key`, if any; anything else there is an error.
fn list_at(map: &Map<String, Value>, key: &str) -> Result<Option<Vec<Value>>, PatchError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(PatchError::bad_arg_type(GO_SLICE, other)),
    }
}

/// The common element kind of the lists; upstream rejects mixed types and lists of lists.
fn slice_element_kind(slices: &[&[Value]]) -> Result<ElemKind, PatchError> {
    let mut first: Option<&Value> = None;
    for item in slices.iter().flat_map(|s| s.iter()) {
        match first {
            None => {
                if item.is_array() {
                    return Err(PatchError::NoListOfLists);
                }
                first = Some(item);
            }
            Some(prev) if go_type(prev) != go_type(item) => {
                let parts: Vec<String> = slices
                    .iter()
                    .map(|s| go_fmt(&Value::Array(s.to_vec())))
                    .collect();
                return Err(PatchError::Strategic(format!(
                    "list element types are not identical: [{}]",
                    parts.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    match first {
        Some(Value::Object(_)) => Ok(ElemKind::Map),
        Some(_) => Ok(ElemKind::Scalar),
        None => Err(PatchError::Strategic(
            "no elements in any of the given slices".to_string(),
        )),
    }
}

/// Removes every element whose merge key equals `value`, shifting the backing array like Go's
/// `append(s[:i], s[i+1:]...)`; slots past `len` keep stale values.
fn delete_matching(
    backing: &mut [Value],
    len: &mut usize,
    merge_key: &str,
    value: &Value,
) -> Result<(), PatchError> {
    while let Some(i) = find_map_in_slice(&backing[..*len], merge_key, value)? {
        for j in i..*len - 1 {
            backing[j] = backing[j + 1].clone();
        }
        *len -= 1;
    }
    Ok(())
}

fn find_map_in_slice(
    items: &[Value],
    merge_key: &str,
    value: &Value,
) -> Result<Option<usize>, PatchError> {
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(PatchError::Strategic(format!(
                "value for key {i} is not a map"
            )));
        };
        if map.get(merge_key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Checks that the patch list's elements appear in `$setElementOrder` in the same relative
/// order (deletions and other directive elements aside).
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut kept = Vec::new();
        for item in patch_list {
            let Value::Object(map) = item else {
                return Err(PatchError::bad_arg_type(GO_MAP, item));
            };
            if map.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE_DIRECTIVE) {
                kept.push(item);
            }
        }
        kept
    };
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        if non_delete[pi]
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
        {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(non_delete[pi], &order[si], merge_key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(PatchError::Strategic(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER_PREFIX} list:\n{}\n",
            go_fmt(&Value::Array(patch_list.to_vec())),
            go_fmt(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, PatchError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(PatchError::bad_arg_type(GO_MAP, left));
    };
    let Value::Object(r) = right else {
        return Err(PatchError::bad_arg_type(GO_MAP, right));
    };
    let Some(lv) = l.get(merge_key) else {
        return Err(PatchError::no_merge_key(l, merge_key));
    };
    let Some(rv) = r.get(merge_key) else {
        return Err(PatchError::no_merge_key(r, merge_key));
    };
    Ok(lv == rv)
}

/// Splits scalars into (present in `by`, not present), keeping their order.
fn partition_primitives(items: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    items.into_iter().partition(|v| by.contains(v))
}

/// Splits maps into (merge key present in `by`, not present), keeping their order.
fn partition_maps(
    items: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut in_patch = Vec::new();
    let mut server_only = Vec::new();
    for item in items {
        let Value::Object(map) = &item else {
            return Err(PatchError::bad_arg_type(GO_MAP, &item));
        };
        let Some(value) = map.get(merge_key) else {
            return Err(PatchError::no_merge_key(map, merge_key));
        };
        if find_map_in_slice(by, merge_key, value)?.is_some() {
            in_patch.push(item);
        } else {
            server_only.push(item);
        }
    }
    Ok((in_patch, server_only))
}

/// What an element is compared by: its merge key value for maps, itself otherwise.
fn order_key<'v>(item: &'v Value, merge_key: &str, kind: ElemKind) -> &'v Value {
    match kind {
        ElemKind::Map => item
            .as_object()
            .and_then(|m| m.get(merge_key))
            .unwrap_or(&NULL),
        ElemKind::Scalar => item,
    }
}

fn index_of(list: &[Value], item: &Value, merge_key: &str, kind: ElemKind) -> Option<usize> {
    let wanted = order_key(item, merge_key, kind);
    list.iter()
        .position(|v| order_key(v, merge_key, kind) == wanted)
}

/// Sorts patch items by `patch_order` and server-only items by `server_order`, then
/// interleaves them (upstream `normalizeElementOrder`).
fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: ElemKind,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = normalize_slice_order(patch_items, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted(
        server_only,
        patch_items,
        server_order,
        merge_key,
        kind,
    ))
}

fn normalize_slice_order(
    mut to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: ElemKind,
) -> Result<Vec<Value>, PatchError> {
    let mut to_delete = Vec::new();
    if kind == ElemKind::Map {
        for item in to_sort.iter().chain(order.iter()) {
            let Value::Object(map) = item else {
                return Err(PatchError::bad_arg_type(GO_MAP, item));
            };
            if !map.contains_key(merge_key) {
                return Err(PatchError::no_merge_key(map, merge_key));
            }
        }
        let (deletes, keep): (Vec<Value>, Vec<Value>) = to_sort.into_iter().partition(|v| {
            v.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE)
        });
        to_sort = keep;
        to_delete = deletes;
    }
    // Every element is found in practice; unknown ones go last.
    to_sort.sort_by_key(|v| index_of(order, v, merge_key, kind).unwrap_or(usize::MAX));
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// Inserts server-only items (`left`) among patch items (`right`): a server item goes first
/// only when both are in `server_order` and it comes earlier there.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: ElemKind,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (
                    index_of(server_order, l, merge_key, kind),
                    index_of(server_order, r, merge_key, kind),
                ),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}
