//! Server-side conversions asked for with `Accept: …;as=…`: `meta.k8s.io` Tables for
//! `kubectl get`, and PartialObjectMetadata(List) for metadata-only clients (garbage
//! collectors, metadata informers).

use minato_resources::registry::Entry;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::request::{MetaVersion, Query};

/// How much of each object a Table row carries (`includeObject`).
fn row_object(obj: &Value, query: &Query) -> Value {
    match query.get("includeObject") {
        Some("Object") => obj.clone(),
        Some("None") => Value::Null,
        _ => minato_printers::partial_object_metadata(obj),
    }
}

/// A Table of `items` as upstream's printers would show them.
pub fn table(
    entry: &Entry,
    items: &[Value],
    query: &Query,
    resource_version: &str,
    continue_token: Option<&str>,
    with_headers: bool,
) -> Value {
    let info = &entry.info;
    let now = chrono::Utc::now();
    let printer_columns = entry.strategy.printer_columns();
    let (columns, rows): (Vec<minato_printers::Column>, Vec<minato_printers::Row>) =
        match &printer_columns {
            Some(apc) => (
                minato_printers::crd_columns(apc),
                items
                    .iter()
                    .map(|o| minato_printers::Row {
                        cells: minato_printers::crd_cells(apc, o, now),
                        object: row_object(o, query),
                    })
                    .collect(),
            ),
            None => (
                minato_printers::columns(&info.group, &info.kind),
                items
                    .iter()
                    .map(|o| minato_printers::Row {
                        cells: minato_printers::cells(&info.group, &info.kind, o, now),
                        object: row_object(o, query),
                    })
                    .collect(),
            ),
        };
    minato_printers::table(
        &columns,
        rows,
        with_headers,
        resource_version,
        continue_token,
    )
}

/// An object's metadata as a `PartialObjectMetadata`.
pub fn partial_object_metadata(obj: &Value, version: MetaVersion) -> Value {
    let metadata = obj
        .get("metadata")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    partial(metadata, version)
}

fn partial(metadata: Value, version: MetaVersion) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": version.api_version(),
        "metadata": metadata,
    })
}

/// A list's items reduced to their metadata, as a `PartialObjectMetadataList` carrying the
/// list metadata `list_meta` (resourceVersion, continue, remainingItemCount).
pub fn partial_object_metadata_list(
    items: Vec<Value>,
    list_meta: Value,
    version: MetaVersion,
) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            let metadata = match o.get_mut("metadata") {
                Some(m) if m.is_object() => m.take(),
                _ => Value::Object(Map::new()),
            };
            partial(metadata, version)
        })
        .collect();
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": version.api_version(),
        "metadata": list_meta,
        "items": items,
    })
}

/// A list endpoint asked for a single PartialObjectMetadata (or the reverse): upstream
/// answers 406 with these words.
pub fn metadata_shape_mismatch(kind: &str, wanted_list: bool) -> ApiError {
    let message = if wanted_list {
        format!(
            "you requested PartialObjectMetadataList, but the requested object is not a list ({kind}); ask for PartialObjectMetadata"
        )
    } else {
        format!(
            "you requested PartialObjectMetadata, but the requested object is a list ({kind}); ask for PartialObjectMetadataList"
        )
    };
    ApiError::new(406, "NotAcceptable", message)
}
