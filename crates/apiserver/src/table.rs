//! Server-side printing: `meta.k8s.io/v1` Tables for `kubectl get`.

use minato_resources::registry::Entry;
use serde_json::Value;

use crate::request::Query;

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
