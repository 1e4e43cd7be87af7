//! Field ownership (`metadata.managedFields`) and server-side apply, as the Kubernetes API
//! server does them (structured-merge-diff plus apimachinery's `managedfields` managers).
//!
//! Without OpenAPI schemas the walks take list types from `minato_patch::keys`, treat every
//! object key as a named field, and know a short table of atomic maps and structs.

mod json;
mod managed;
mod set;
mod typed;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use managed::{Entry, Managed};
use set::{path_string, PathElement, Set};
use typed::Typed;

pub use set::Set as FieldSet;

/// Upstream's (structured-merge-diff's) path of a field of a `kind` object, from a decoder's
/// dotted path into `obj`: `spec.template.spec.containers[0].foo` in a Deployment is
/// `.spec.template.spec.containers[name="c"].foo`.
pub fn schema_path(kind: &str, obj: &Value, dotted: &str) -> String {
    Typed::new(kind).schema_path(obj, dotted)
}

/// The annotation client-side apply keeps its last configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Upstream's limit on the total size of an object's annotations.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Upstream's limit on a field manager's length.
const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// A failed server-side apply.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// 409 Conflict: `message` is the Status message, `causes` its `details.causes`
    /// (reason `FieldManagerConflict`).
    #[error("{message}")]
    Conflicts {
        message: String,
        causes: Vec<ConflictCause>,
    },
    /// A bad applied object or unusable live state (400).
    #[error("{0}")]
    Invalid(String),
}

/// One conflicting field, for `Status.details.causes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictCause {
    /// The conflicting manager's name (`kubectl`).
    pub manager: String,
    /// The field path (`.spec.replicas`).
    pub field: String,
    /// `conflict with "kubectl" using apps/v1`.
    pub message: String,
}

/// Fields no manager owns: identity and server-set metadata (upstream `stripMetaManager`).
fn strip_set() -> Set {
    let mut s = Set::new();
    let f = |n: &str| PathElement::Field(n.to_string());
    s.insert(&[f("apiVersion")]);
    s.insert(&[f("kind")]);
    s.insert(&[f("metadata")]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(&[f("metadata"), f(name)]);
    }
    s
}

/// Fields a write through this endpoint never owns (the strategies' reset fields): the main
/// resource leaves `status` to the status subresource, which leaves `spec` alone.
fn ignored_fields(subresource: &str) -> Set {
    let mut s = Set::new();
    match subresource {
        "" => s.insert(&[PathElement::Field("status".into())]),
        "status" => s.insert(&[PathElement::Field("spec".into())]),
        _ => {}
    }
    s
}

fn managed_fields_of(obj: &Value) -> Option<&Value> {
    obj.get("metadata")?.get("managedFields")
}

/// Sets (or with None removes) `metadata.managedFields`, keeping its place when present.
fn set_managed_fields(obj: &mut Value, mf: Option<Value>) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    match mf {
        Some(mf) => {
            let meta = root
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if !meta.is_object() {
                *meta = Value::Object(Map::new());
            }
            if let Some(m) = meta.as_object_mut() {
                m.insert("managedFields".into(), mf);
            }
        }
        None => {
            if let Some(m) = root.get_mut("metadata").and_then(Value::as_object_mut) {
                m.shift_remove("managedFields");
            }
        }
    }
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut o = obj.clone();
    set_managed_fields(&mut o, None);
    o
}

/// An explicitly empty list (or a single empty entry) asks for tracking to be reset.
fn is_reset(mf: Option<&Value>) -> bool {
    match mf {
        Some(Value::Array(items)) => {
            items.is_empty()
                || (items.len() == 1 && items[0].as_object().is_some_and(Map::is_empty))
        }
        _ => false,
    }
}

fn manager_or_unknown(manager: &str) -> &str {
    if manager.is_empty() {
        "unknown"
    } else {
        manager
    }
}

/// Records an Update by `manager`: the fields that changed from `old` to `new` move to
/// it (upstream `Updater.Update` with the `current-operation` trick).
#[allow(clippy::too_many_arguments)]
fn record_update(
    typed: &Typed,
    old: &Value,
    new: &Value,
    managed: &mut Managed,
    manager: &str,
    api_version: &str,
    subresource: &str,
    now: &str,
) -> Result<bool, String> {
    let ignored = ignored_fields(subresource);
    let mut cmp = typed.compare(old, new)?;
    cmp.exclude(&ignored);
    if cmp.is_same() {
        return Ok(false);
    }
    let mut changed = std::mem::take(&mut cmp.added);
    changed.union_in_place(&cmp.modified);
    for entry in managed.values_mut() {
        // Most entries own none of the changed fields; leaving them alone keeps their
        // decoded fieldsV1 for the encoding.
        if entry.set.intersects(&changed) || entry.set.intersects(&cmp.removed) {
            entry.remove_fields(&changed);
            entry.remove_fields(&cmp.removed);
        }
    }
    managed.retain(|_, e| !e.set.is_empty());
    // `changed` is not needed past this point: it becomes the manager's share in place.
    let mut own = changed;
    own.remove_recursive(&ignored);
    own.remove(&strip_set());
    if !own.is_empty() {
        let key = managed::identifier(manager, false, api_version, subresource);
        let entry = managed.entry(key).or_insert_with(|| Entry {
            manager: manager.to_string(),
            applied: false,
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
            time: None,
            set: Set::new(),
            raw: None,
        });
        entry.union_set(&own);
        entry.time = Some(now.to_string());
    }
    managed::cap_update_managers(managed);
    Ok(true)
}

/// After any non-apply write (create, update, patch, status/scale writes): gives `manager`
/// the fields that changed between `old` (None on create) and `new`, in an `operation:
/// Update` entry of `new.metadata.managedFields`, and takes them from other managers.
/// A write that changes nothing keeps `old`'s managedFields byte for byte. managedFields
/// sent by the client (kubectl's csaupgrade patch) are honoured when valid (not on
/// subresources); an explicitly empty list stops tracking until the next apply.
pub fn update_managed_fields(
    kind: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let manager = manager_or_unknown(manager);
    let sub = subresource.unwrap_or("");
    let old_mf = old.and_then(managed_fields_of).cloned();
    let req_mf = managed_fields_of(new).cloned();
    // Invalid stored managedFields are dropped, as upstream's emptyManagedFieldsOnErr.
    let old_managed = || managed::decode(old_mf.as_ref()).unwrap_or_default();
    let (mut managed, from_request) = if !sub.is_empty() {
        (old_managed(), false)
    } else if is_reset(req_mf.as_ref()) {
        (Managed::new(), true)
    } else {
        match managed::decode(req_mf.as_ref()) {
            Ok(mut m) if !m.is_empty() => {
                let differs = req_mf != old_mf;
                // What a client sent is written back in canonical form, as upstream does.
                if differs {
                    m.values_mut().for_each(|e| e.raw = None);
                }
                (m, differs)
            }
            _ => (old_managed(), false),
        }
    };
    // An existing object nobody tracks stays untracked until it is applied
    // (upstream `skipNonAppliedManager`).
    if managed.is_empty() && old.is_some() {
        set_managed_fields(new, None);
        return;
    }
    let typed = Typed::new(kind);
    let empty = Value::Object(Map::new());
    // The comparison leaves managedFields out, so neither object needs a stripped copy.
    match record_update(
        &typed,
        old.unwrap_or(&empty),
        new,
        &mut managed,
        manager,
        api_version,
        sub,
        now,
    ) {
        Ok(false) if !from_request => {
            // Nothing changed: keep the stored bytes (no re-encoding, no new time).
            set_managed_fields(new, old_mf);
        }
        Ok(_) => set_managed_fields(new, managed::encode(&managed)),
        // Upstream's UpdateNoErrors: keep the live managedFields when tracking fails.
        Err(_) => set_managed_fields(new, old_mf),
    }
}

fn conflicts_error(conflicts: &[(Entry, Vec<Vec<PathElement>>)]) -> ApplyError {
    let total: usize = conflicts.iter().map(|(_, p)| p.len()).sum();
    let mut causes = Vec::with_capacity(total);
    let mut lines = Vec::new();
    for (entry, paths) in conflicts {
        let who = entry.display();
        lines.push(format!("conflicts with {who}:"));
        for p in paths {
            let field = path_string(p);
            lines.push(format!("- {field}"));
            causes.push(ConflictCause {
                manager: entry.manager.clone(),
                field,
                message: format!("conflict with {who}"),
            });
        }
    }
    let message = if total == 1 {
        format!(
            "Apply failed with 1 conflict: {}: {}",
            causes[0].message, causes[0].field
        )
    } else {
        format!("Apply failed with {total} conflicts: {}", lines.join("\n"))
    };
    ApplyError::Conflicts { message, causes }
}

enum CoreError {
    Conflicts(Vec<(Entry, Vec<Vec<PathElement>>)>),
    Invalid(String),
}

/// Removes what the applier owned last time and omits now, unless someone still owns it
/// (upstream `prune`, `addBackOwnedItems`, `addBackDanglingItems` in one step).
fn prune(typed: &Typed, merged: &Value, managed: &Managed, last: &Set) -> Result<Value, String> {
    let merged_set = typed
        .field_set(merged, true)?
        .ensure_named_fields_are_members();
    let mut owned = Set::new();
    for e in managed.values() {
        owned.union_in_place(&e.set);
    }
    let owned = owned.ensure_named_fields_are_members();
    let last = last.ensure_named_fields_are_members();
    let remove = merged_set.intersection(&last).difference(&owned);
    Ok(typed
        .remove_items(merged, &remove)
        .unwrap_or_else(|| Value::Object(Map::new())))
}

/// One apply attempt (upstream `Updater.Apply` wrapped by the managedFields updater and
/// strip-meta managers). Returns the object (live itself when nothing changed) and sets.
#[allow(clippy::too_many_arguments)]
fn apply_core(
    typed: &Typed,
    live: &Value,
    config: &Value,
    mut managed: Managed,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
) -> Result<(Value, Managed), CoreError> {
    let key = managed::identifier(manager, true, "", "");
    let ignored = ignored_fields("");
    let merged = typed.merge(live, config).map_err(CoreError::Invalid)?;
    let last = managed.get(&key).map(|e| e.set.clone());
    let set = typed
        .field_set(config, false)
        .map_err(CoreError::Invalid)?
        .recursive_difference(&ignored);
    let time = managed.get(&key).and_then(|e| e.time.clone());
    managed.insert(
        key.clone(),
        Entry {
            manager: manager.to_string(),
            applied: true,
            api_version: api_version.to_string(),
            subresource: String::new(),
            time,
            set,
            raw: None,
        },
    );
    let new_obj = match last {
        Some(last) if !last.is_empty() => {
            prune(typed, &merged, &managed, &last).map_err(CoreError::Invalid)?
        }
        _ => merged,
    };
    let mut cmp = typed.compare(live, &new_obj).map_err(CoreError::Invalid)?;
    cmp.exclude(&ignored);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    for (k, e) in &managed {
        if *k == key {
            continue;
        }
        let c = e.set.intersection(&changed);
        if !c.is_empty() {
            conflicts.push((k.clone(), c));
        }
    }
    if !force && !conflicts.is_empty() {
        let list = conflicts
            .into_iter()
            .filter_map(|(k, c)| managed.get(&k).map(|e| (e.clone(), c.paths())))
            .collect();
        return Err(CoreError::Conflicts(list));
    }
    for (k, c) in &conflicts {
        if let Some(e) = managed.get_mut(k) {
            e.remove_fields(c);
        }
    }
    if !cmp.removed.is_empty() {
        for (k, e) in managed.iter_mut() {
            if *k != key {
                e.remove_fields(&cmp.removed);
            }
        }
    }
    if let Some(e) = managed.get_mut(&key) {
        e.remove_fields(&strip_set());
    }
    managed.retain(|_, e| !e.set.is_empty());
    if json::json_eq(live, &new_obj) {
        // A no-op apply keeps the live object and the applier's time.
        return Ok((live.clone(), managed));
    }
    if let Some(e) = managed.get_mut(&key) {
        e.time = Some(now.to_string());
    }
    Ok((new_obj, managed))
}

fn annotation<'v>(obj: &'v Value, name: &str) -> Option<&'v str> {
    obj.get("metadata")?.get("annotations")?.get(name)?.as_str()
}

/// Conflicts kubectl may override: fields of the client-side last-applied configuration
/// whose values still match the live object (upstream `lastAppliedManager`).
fn allowed_from_last_applied(typed: &Typed, live: &Value, api_version: &str) -> Option<Set> {
    let text = annotation(live, LAST_APPLIED_ANNOTATION).filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    let set = typed.field_set(&last, false).ok()?;
    let cmp = typed.compare(&last, live).ok()?;
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// Keeps the client-side apply annotation in step with server-side applies by `kubectl`
/// (upstream `lastAppliedUpdater`): the applied object without the annotation, as Go's
/// encoder writes it.
fn update_last_applied(obj: &mut Value, applied: &Value) {
    let mut copy = applied.clone();
    if let Some(a) = copy
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        a.shift_remove(LAST_APPLIED_ANNOTATION);
    }
    let value = format!("{}\n", json::go_json(&copy));
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let ann = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !ann.is_object() {
        *ann = Value::Object(Map::new());
    }
    let Some(ann) = ann.as_object_mut() else {
        return;
    };
    ann.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(value));
    let size: usize = ann
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > TOTAL_ANNOTATION_SIZE_LIMIT {
        ann.shift_remove(LAST_APPLIED_ANNOTATION);
    }
}

/// Server-side apply of `applied` (the body sent with `fieldManager=<manager>`) onto `live`
/// (None when the object does not exist yet). Returns the merged object with
/// managedFields updated, or the conflicts with other managers (none when `force`).
pub fn apply(
    kind: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
) -> Result<Value, ApplyError> {
    let Value::Object(body) = applied else {
        return Err(ApplyError::Invalid("apply patch must be an object".into()));
    };
    let patch_version = body.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let patch_kind = body.get("kind").and_then(Value::as_str).unwrap_or("");
    if patch_kind.is_empty() {
        return Err(ApplyError::Invalid(
            "Object 'Kind' is missing in apply patch".into(),
        ));
    }
    if patch_version.is_empty() {
        return Err(ApplyError::Invalid(
            "Object 'apiVersion' is missing in apply patch".into(),
        ));
    }
    if patch_version != api_version {
        return Err(ApplyError::Invalid(format!(
            "Incorrect version specified in apply patch. Specified patch version: {patch_version}, expected: {api_version}"
        )));
    }
    if patch_kind != kind {
        return Err(ApplyError::Invalid(format!(
            "invalid object type: {patch_version}, Kind={patch_kind}"
        )));
    }
    if !matches!(
        body.get("metadata"),
        None | Some(Value::Object(_)) | Some(Value::Null)
    ) {
        return Err(ApplyError::Invalid("metadata must be an object".into()));
    }
    if managed_fields_of(applied).is_some_and(|v| !v.is_null()) {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let manager = manager_or_unknown(manager);
    let typed = Typed::new(kind);
    let live_obj = live
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let before = managed::decode(live.and_then(managed_fields_of))
        .map_err(|e| ApplyError::Invalid(format!("failed to decode managed fields: {e}")))?;
    let mut managed = before.clone();
    if managed.is_empty() && live.is_some() {
        // Whoever wrote the untracked object owns its fields (upstream
        // `skipNonAppliedManager`), so an apply cannot silently take them over.
        record_update(
            &typed,
            &Value::Object(Map::new()),
            &live_obj,
            &mut managed,
            "before-first-apply",
            api_version,
            "",
            now,
        )
        .map_err(|e| {
            ApplyError::Invalid(format!("failed to create manager for existing fields: {e}"))
        })?;
    }
    let attempt = |managed: Managed, force: bool| {
        apply_core(
            &typed,
            &live_obj,
            applied,
            managed,
            manager,
            force,
            api_version,
            now,
        )
    };
    let result = match attempt(managed.clone(), force) {
        Err(CoreError::Conflicts(conflicts)) if manager == "kubectl" => {
            match allowed_from_last_applied(&typed, &live_obj, api_version) {
                Some(allowed) => {
                    let remaining: Vec<_> = conflicts
                        .into_iter()
                        .map(|(e, paths)| {
                            let p: Vec<_> = paths.into_iter().filter(|p| !allowed.has(p)).collect();
                            (e, p)
                        })
                        .filter(|(_, p)| !p.is_empty())
                        .collect();
                    if remaining.is_empty() {
                        attempt(managed, true)
                    } else {
                        Err(CoreError::Conflicts(remaining))
                    }
                }
                None => Err(CoreError::Conflicts(conflicts)),
            }
        }
        other => other,
    };
    let (mut obj, managed) = match result {
        Ok(r) => r,
        Err(CoreError::Conflicts(c)) => return Err(conflicts_error(&c)),
        Err(CoreError::Invalid(e)) => return Err(ApplyError::Invalid(e)),
    };
    if manager == "kubectl"
        && annotation(&obj, LAST_APPLIED_ANNOTATION).is_some_and(|s| !s.is_empty())
    {
        update_last_applied(&mut obj, applied);
    }
    if let Some(live) = live {
        if obj == live_obj && managed == before {
            return Ok(live.clone());
        }
    }
    set_managed_fields(&mut obj, managed::encode(&managed));
    Ok(obj)
}

/// The default manager of requests without `fieldManager`: the User-Agent up to its first
/// `/`, printable characters only, at most 128 bytes (`kubectl/v1.32.4 (linux/amd64) …` →
/// `kubectl`).
pub fn manager_from_user_agent(ua: &str) -> String {
    let prefix = ua.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in prefix.chars() {
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            continue;
        }
        if out.len() + c.len_utf8() > FIELD_MANAGER_MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}
