//! Custom resource columns and the Table envelope.

use chrono::{DateTime, Utc};
use minato_printers::{
    columns, crd_cells, crd_columns, partial_object_metadata, table, Column, Row,
};
use serde_json::{json, Value};

fn now() -> DateTime<Utc> {
    "2026-11-22T12:16:05Z".parse().unwrap()
}

fn printer_columns() -> Value {
    json!([
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status",
         "description": "Whether the widget is ready"},
        {"name": "Image", "type": "string", "jsonPath": ".spec.containers[*].image", "priority": 1},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
        {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
        {"name": "Selector", "type": "string", "jsonPath": ".spec.selector"},
        {"name": "Seen", "type": "date", "jsonPath": ".status.lastSeen"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ])
}

fn widget() -> Value {
    json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default", "creationTimestamp": "2026-11-22T09:14:05Z"},
        "spec": {"replicas": 3, "ratio": 1, "paused": false,
                 "selector": {"matchLabels": {"z": "1", "a": "<b>"}},
                 "containers": [{"image": "nginx:1.25"}, {"image": "redis:7"}]},
        "status": {"conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "False"}],
                   "lastSeen": "not a time"}
    })
}

#[test]
fn crd_column_definitions() {
    let cols = crd_columns(&printer_columns());
    let summary: Vec<(&str, &str, i32)> = cols
        .iter()
        .map(|c| (c.name.as_str(), c.type_.as_str(), c.priority))
        .collect();
    assert_eq!(
        summary,
        [
            ("Name", "string", 0),
            ("Replicas", "integer", 0),
            ("Ready", "string", 0),
            ("Image", "string", 1),
            ("Ratio", "number", 0),
            ("Paused", "boolean", 0),
            ("Selector", "string", 0),
            ("Seen", "date", 0),
            ("Age", "date", 0)
        ]
    );
    assert_eq!(cols[0].format, "name");
    assert_eq!(
        cols[1].description,
        "Custom resource definition column (in JSONPath format): .spec.replicas"
    );
    assert_eq!(cols[2].description, "Whether the widget is ready");
}

#[test]
fn crd_cells_follow_jsonpaths() {
    let got = crd_cells(&printer_columns(), &widget(), now());
    assert_eq!(
        got,
        vec![
            json!("w1"),
            json!(3),
            json!("False"),
            // Only the first match is printed.
            json!("nginx:1.25"),
            json!(1.0),
            json!(false),
            // Objects print as Go's encoding/json would: sorted keys, HTML escaped.
            json!("{\"matchLabels\":{\"a\":\"\\u003cb\\u003e\",\"z\":\"1\"}}"),
            json!("<invalid>"),
            json!("3h2m"),
        ]
    );
}

#[test]
fn crd_cells_missing_and_mistyped_values_are_null() {
    let obj = json!({"metadata": {"name": "bare"}, "spec": {"replicas": "three", "paused": "no"}});
    let got = crd_cells(&printer_columns(), &obj, now());
    assert_eq!(got[0], json!("bare"));
    assert!(got[1..8].iter().all(Value::is_null), "{got:?}");
    // A missing creationTimestamp is a date column without a value.
    assert_eq!(got[8], Value::Null);
    let float_replicas =
        json!({"metadata": {"name": "f"}, "spec": {"replicas": 2.7, "ratio": 0.25}});
    let got = crd_cells(&printer_columns(), &float_replicas, now());
    assert_eq!((&got[1], &got[4]), (&json!(2), &json!(0.25)));
}

#[test]
fn crd_string_columns_render_scalars_like_go() {
    let cols = json!([
        {"name": "N", "type": "string", "jsonPath": ".n"},
        {"name": "F", "type": "string", "jsonPath": ".f"},
        {"name": "B", "type": "string", "jsonPath": ".b"},
        {"name": "Big", "type": "string", "jsonPath": ".big"},
        {"name": "Nil", "type": "string", "jsonPath": ".nil"},
        {"name": "L", "type": "string", "jsonPath": ".l"}
    ]);
    let obj = json!({"metadata": {"name": "s"}, "n": 7, "f": 2.5, "b": true, "big": 1500000.0,
                     "nil": null, "l": [1, "x"]});
    assert_eq!(
        crd_cells(&cols, &obj, now()),
        vec![
            json!("s"),
            json!("7"),
            json!("2.5"),
            json!("true"),
            json!("1.5e+06"),
            json!("<no value>"),
            json!("[1,\"x\"]")
        ]
    );
}

#[test]
fn crd_without_printer_columns_gets_age() {
    for apc in [
        json!([]),
        json!(null),
        json!({"name": "v1", "served": true}),
    ] {
        let cols = crd_columns(&apc);
        assert_eq!(
            cols.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["Name", "Age"]
        );
        assert_eq!(cols[1].type_, "date");
        assert_eq!(
            crd_cells(&apc, &widget(), now()),
            vec![json!("w1"), json!("3h2m")]
        );
    }
    // A version object holding the columns works too.
    let version = json!({"name": "v1", "additionalPrinterColumns": [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"}]});
    assert_eq!(crd_columns(&version).len(), 2);
}

#[test]
fn crd_columns_stop_at_an_unparseable_path() {
    let apc = json!([
        {"name": "A", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Bad", "type": "string", "jsonPath": ".spec[unclosed"},
        {"name": "C", "type": "string", "jsonPath": ".spec.c"}
    ]);
    assert_eq!(crd_columns(&apc).len(), 2);
    assert_eq!(
        crd_cells(&apc, &widget(), now()),
        vec![json!("w1"), json!(3)]
    );
}

#[test]
fn table_envelope() {
    let cols = columns("", "Namespace");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "default", "uid": "u1", "resourceVersion": "12",
                     "creationTimestamp": "2026-11-22T12:00:00Z", "labels": {"kubernetes.io/metadata.name": "default"}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
    let row = Row {
        cells: minato_printers::cells("", "Namespace", &ns, now()),
        object: partial_object_metadata(&ns),
    };
    let t = table(&cols, vec![row.clone()], true, "1027", Some("abc"));
    assert_eq!(
        t,
        json!({
            "kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "1027", "continue": "abc"},
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "description": cols[0].description, "priority": 0},
                {"name": "Status", "type": "string", "format": "", "description": "The status of the namespace", "priority": 0},
                {"name": "Age", "type": "string", "format": "", "description": cols[2].description, "priority": 0}
            ],
            "rows": [{"cells": ["default", "Active", "16m"],
                      "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": ns["metadata"].clone()}}]
        })
    );
    // Watch events after the first: no headers; no continue token.
    let t = table(&cols, vec![row], false, "1028", None);
    assert_eq!(t["columnDefinitions"], Value::Null);
    assert_eq!(t["metadata"], json!({"resourceVersion": "1028"}));
    // Empty list, no resource version.
    let t = table(&cols, Vec::new(), true, "", Some(""));
    assert_eq!((&t["metadata"], &t["rows"]), (&json!({}), &json!([])));
    assert_eq!(
        partial_object_metadata(&json!("odd"))["metadata"],
        json!({})
    );
}

#[test]
fn column_serialization() {
    let c = Column::new("IP", "string", "d").with_priority(1);
    assert_eq!(
        serde_json::to_value(&c).unwrap(),
        json!({"name": "IP", "type": "string", "format": "", "description": "d", "priority": 1})
    );
}
