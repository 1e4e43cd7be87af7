//! CRD validation, status, served resources, and the custom resource strategy's pruning,
//! defaulting and validation keywords.

use minato_crd::{
    additional_printer_columns, crd_defaults, crd_status, served_resources, validate_crd,
    validate_crd_update, CrdStrategy, CustomResourceStrategy,
};
use minato_resources::{FieldError, Strategy};
use serde_json::{json, Value};

fn crd(schema: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema}}]
        }
    })
}

fn strings(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

fn errs_of(mut c: Value) -> Vec<String> {
    crd_defaults(&mut c);
    strings(&validate_crd(&c))
}

fn has(errs: &[String], want: &str) {
    assert!(errs.iter().any(|e| e == want), "want {want}\n got {errs:?}");
}

fn obj_schema() -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
}

#[test]
fn crd_defaults_fill_names_conversion_and_stored_versions() {
    let mut c = crd(obj_schema());
    crd_defaults(&mut c);
    assert_eq!(c["spec"]["names"]["singular"], "widget");
    assert_eq!(c["spec"]["names"]["listKind"], "WidgetList");
    assert_eq!(c["spec"]["conversion"], json!({"strategy": "None"}));
    assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
    assert!(validate_crd(&c).is_empty());
}

#[test]
fn crd_metadata_spec_and_names_errors() {
    let mut c = crd(obj_schema());
    c["metadata"]["name"] = json!("widget.example.com");
    has(
        &errs_of(c),
        r#"metadata.name: Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group"#,
    );

    let mut c = crd(obj_schema());
    c["spec"]["group"] = json!("example");
    c["metadata"]["name"] = json!("widgets.example");
    has(
        &errs_of(c),
        r#"spec.group: Invalid value: "example": should be a domain with at least one dot"#,
    );

    let mut c = crd(obj_schema());
    c["spec"]["scope"] = json!("Global");
    has(
        &errs_of(c),
        r#"spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced""#,
    );

    let mut c = crd(obj_schema());
    c["spec"]["versions"][0]["storage"] = json!(false);
    let errs = errs_of(c);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("spec.versions: Invalid value: ")
                && e.ends_with(": must have exactly one version marked as storage version")),
        "{errs:?}"
    );

    let mut c = crd(obj_schema());
    c["spec"]["versions"] = json!([]);
    assert!(errs_of(c)
        .iter()
        .any(|e| e.ends_with("must have exactly one version marked as storage version")));

    let mut c = crd(obj_schema());
    c["spec"]["names"]["shortNames"] = json!(["Bad_Name"]);
    c["spec"]["names"]["listKind"] = json!("Widget");
    let errs = errs_of(c);
    assert!(
        errs.iter().any(|e| e.starts_with(
            r#"spec.names.shortNames[0]: Invalid value: "Bad_Name": a DNS-1035 label"#
        )),
        "{errs:?}"
    );
    has(
        &errs,
        r#"spec.names.listKind: Invalid value: "Widget": kind and listKind may not be the same"#,
    );

    let mut c = crd(obj_schema());
    c["spec"]["names"]["kind"] = json!("");
    has(&errs_of(c), "spec.names.kind: Required value");

    let mut c = crd(obj_schema());
    c["spec"]["versions"][0]["name"] = json!("V1");
    assert!(errs_of(c)
        .iter()
        .any(|e| e.starts_with(r#"spec.versions[0].name: Invalid value: "V1": a DNS-1035 label"#)));

    let mut c = crd(obj_schema());
    c["spec"]["versions"][0]
        .as_object_mut()
        .unwrap()
        .remove("schema");
    has(
        &errs_of(c),
        "spec.versions[0].schema.openAPIV3Schema: Required value",
    );
}

#[test]
fn crd_structural_schema_errors() {
    let base = "spec.versions[0].schema.openAPIV3Schema";
    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}}),
    ));
    has(&errs, &format!("{base}.properties[spec].type: Required value: must not be empty for specified object fields"));

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"list": {"type": "array"}}}),
    ));
    has(
        &errs,
        &format!("{base}.properties[list].items: Required value: must be specified"),
    );

    let errs = errs_of(crd(json!({"type": "array", "items": {"type": "string"}})));
    has(
        &errs,
        &format!(r#"{base}.type: Invalid value: "array": must be object at the root"#),
    );

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"x": {"type": "thing"}}}),
    ));
    has(
        &errs,
        &format!(
            r#"{base}.properties[x].type: Unsupported value: "thing": supported values: "array", "boolean", "integer", "number", "object", "string""#
        ),
    );

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"x": {"type": "object", "anyOf": [{"type": "object"}]}}}),
    ));
    has(
        &errs,
        &format!("{base}.properties[x].anyOf[0].type: Forbidden: must be empty to be structural"),
    );

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"x": {"type": "array", "uniqueItems": true, "items": {"type": "string"}}}}),
    ));
    has(&errs, &format!("{base}.properties[x].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"));

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"x": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}}}),
    ));
    has(&errs, &format!("{base}.properties[x].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"));

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
    ));
    has(&errs, &format!("{base}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"));

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"x": {"type": "object", "x-kubernetes-embedded-resource": true}}}),
    ));
    has(&errs, &format!("{base}.properties[x].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"));

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"x": {"type": "string", "pattern": "(unclosed"}}}),
    ));
    assert!(errs.iter().any(|e| e.starts_with(&format!(r#"{base}.properties[x].pattern: Invalid value: "(unclosed": must be a valid regular expression, but isn't: "#))), "{errs:?}");

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"x": {"type": "integer", "default": "one"}}}),
    ));
    has(
        &errs,
        &format!(
            r#"{base}.properties[x].default: Invalid value: "string":  in body must be of type integer: "string""#
        ),
    );

    let errs = errs_of(crd(
        json!({"type": "object", "properties": {"x": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}}),
    ));
    has(&errs, &format!("{base}.properties[x].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"));

    // Status subresource: only some keywords at the root.
    let mut c = crd(json!({"type": "object", "additionalProperties": false}));
    c["spec"]["versions"][0]["subresources"] = json!({"status": {}});
    let errs = errs_of(c);
    assert!(
        errs.iter().any(|e| e.ends_with(
            "fields are allowed at the root of the schema if the status subresource is enabled"
        )),
        "{errs:?}"
    );
}

#[test]
fn crd_subresource_and_column_errors() {
    let mut c = crd(obj_schema());
    c["spec"]["versions"][0]["subresources"] = json!({"scale": {"specReplicasPath": "spec.replicas", "statusReplicasPath": ".spec.replicas", "labelSelectorPath": ".metadata.labels"}});
    c["spec"]["versions"][0]["additionalPrinterColumns"] =
        json!([{"name": "X", "type": "text", "jsonPath": ".spec.x"}, {"type": "string"}]);
    let errs = errs_of(c);
    let p = "spec.versions[0]";
    has(
        &errs,
        &format!(
            r#"{p}.subresources.scale.specReplicasPath: Invalid value: "spec.replicas": must be a simple json path starting with ."#
        ),
    );
    has(
        &errs,
        &format!(
            r#"{p}.subresources.scale.statusReplicasPath: Invalid value: ".spec.replicas": should be a json path under .status"#
        ),
    );
    has(
        &errs,
        &format!(
            r#"{p}.subresources.scale.labelSelectorPath: Invalid value: ".metadata.labels": should be a json path under either .spec or .status"#
        ),
    );
    has(
        &errs,
        &format!(
            r#"{p}.additionalPrinterColumns[0].type: Invalid value: "text": must be one of boolean,date,integer,number,string"#
        ),
    );
    has(
        &errs,
        &format!("{p}.additionalPrinterColumns[1].name: Required value"),
    );
    has(
        &errs,
        &format!("{p}.additionalPrinterColumns[1].JSONPath: Required value"),
    );
}

#[test]
fn crd_update_rules() {
    let mut old = crd(obj_schema());
    crd_defaults(&mut old);
    old["status"] = crd_status(&old);
    let mut new = old.clone();
    new["spec"]["names"]["kind"] = json!("Gadget");
    new["spec"]["scope"] = json!("Cluster");
    let errs = strings(&validate_crd_update(&new, &old));
    has(
        &errs,
        r#"spec.names.kind: Invalid value: "Gadget": field is immutable"#,
    );
    has(
        &errs,
        r#"spec.scope: Invalid value: "Cluster": field is immutable"#,
    );

    let mut new = old.clone();
    new["spec"]["versions"][0]["name"] = json!("v2");
    let errs = strings(&validate_crd_update(&new, &old));
    has(
        &errs,
        r#"status.storedVersions: Invalid value: []string{"v1"}: must have the storage version v2"#,
    );
    assert!(errs.iter().any(|e| e.starts_with(
        r#"status.storedVersions[0]: Invalid value: "v1": missing from spec.versions"#
    )));
}

#[test]
fn crd_status_and_strategy() {
    let mut c = crd(obj_schema());
    let s = CrdStrategy;
    s.apply_defaults(&mut c);
    c["status"] = json!({"conditions": [{"type": "Bogus"}]});
    s.prepare_for_create(&mut c);
    assert_eq!(
        c["status"],
        json!({"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": ["v1"]})
    );
    assert!(s.tracks_generation());

    let status = crd_status(&c);
    assert_eq!(status["acceptedNames"]["singular"], "widget");
    assert_eq!(status["acceptedNames"]["listKind"], "WidgetList");
    assert_eq!(status["acceptedNames"]["shortNames"], json!(["wd"]));
    assert_eq!(status["storedVersions"], json!(["v1"]));
    let conds = status["conditions"].as_array().unwrap();
    assert_eq!(conds[0]["type"], "NamesAccepted");
    assert_eq!(conds[0]["reason"], "NoConflicts");
    assert_eq!(conds[0]["message"], "no conflicts found");
    assert_eq!(conds[1]["type"], "Established");
    assert_eq!(conds[1]["reason"], "InitialNamesAccepted");
    assert_eq!(conds[1]["message"], "the initial names have been accepted");
    assert!(conds[1]["lastTransitionTime"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    // Updates keep the stored status and add a new storage version.
    let mut old = c.clone();
    old["status"] = status;
    let mut new = old.clone();
    new["status"] = json!({});
    new["spec"]["versions"] = json!([
        {"name": "v1", "served": true, "storage": false, "schema": {"openAPIV3Schema": obj_schema()}},
        {"name": "v2", "served": true, "storage": true, "schema": {"openAPIV3Schema": obj_schema()}}
    ]);
    s.prepare_for_update(&mut new, &old);
    assert_eq!(new["status"]["storedVersions"], json!(["v1", "v2"]));
    assert_eq!(new["status"]["conditions"], old["status"]["conditions"]);
    assert!(
        s.validate_update(&new, &old).is_empty(),
        "{:?}",
        strings(&s.validate_update(&new, &old))
    );
}

fn multi_version_crd() -> Value {
    json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all", "toys"]},
            "versions": [
                {"name": "v1alpha1", "served": false, "storage": false, "schema": {"openAPIV3Schema": obj_schema()}},
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": obj_schema()}},
                {"name": "v1", "served": true, "storage": true,
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
                 "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}],
                 "schema": {"openAPIV3Schema": obj_schema()}}
            ]
        }
    })
}

#[test]
fn served_resources_per_served_version() {
    let entries = served_resources(&multi_version_crd());
    let versions: Vec<_> = entries.iter().map(|e| e.info.version.as_str()).collect();
    assert_eq!(versions, ["v1beta1", "v1"]);
    let beta = &entries[0].info;
    assert!(
        !beta.storage_version
            && !beta.has_status
            && beta.scale.is_none()
            && beta.subresources.is_empty()
    );
    let v1 = &entries[1].info;
    assert!(v1.storage_version && v1.has_status && v1.custom && v1.persisted && !v1.namespaced);
    assert_eq!(v1.list_kind, "WidgetList");
    assert_eq!(v1.singular, "widget");
    assert_eq!(v1.short_names, ["wd"]);
    assert_eq!(v1.categories, ["all", "toys"]);
    assert_eq!(
        v1.verbs,
        [
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch"
        ]
    );
    let scale = v1.scale.as_ref().unwrap();
    assert_eq!(scale.spec_replicas, "/spec/replicas");
    assert_eq!(scale.status_replicas, "/status/replicas");
    assert_eq!(scale.label_selector.as_deref(), Some("/status/selector"));
    let sub = v1.subresource("scale").unwrap();
    assert_eq!(
        (sub.group.as_str(), sub.version.as_str(), sub.kind.as_str()),
        ("autoscaling", "v1", "Scale")
    );
    let st = v1.subresource("status").unwrap();
    assert_eq!((st.version.as_str(), st.kind.as_str()), ("v1", "Widget"));
    assert!(entries[1].strategy.tracks_generation());
    assert_eq!(
        entries[1].strategy.printer_columns().unwrap()[0]["jsonPath"],
        ".spec.replicas"
    );
    assert_eq!(entries[0].strategy.printer_columns(), Some(json!([])));

    assert_eq!(
        additional_printer_columns(&multi_version_crd(), "v1")[0]["name"],
        "Replicas"
    );
    assert_eq!(
        additional_printer_columns(&multi_version_crd(), "v1beta1"),
        json!([])
    );
    assert!(served_resources(&json!({"spec": "nonsense"})).is_empty());
}

fn strategy(schema: Value) -> CustomResourceStrategy {
    CustomResourceStrategy::new("example.com", "v1", "Widget", &schema, true, None)
}

fn widget(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
}

fn verrs(s: &CustomResourceStrategy, spec: Value) -> Vec<String> {
    strings(&s.validate(&widget(spec)))
}

#[test]
fn pruning_nested_preserved_and_embedded() {
    let s = strategy(json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "string"}}},
            "list": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"typed": {"type": "object", "properties": {"k": {"type": "string"}}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "embedded": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
            "raw": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
        }},
    }}));
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "b"}},
    "extra": 1,
    "spec": {
        "a": {"b": "x", "c": "gone"},
        "list": [{"x": 1, "y": 2}, {"z": 3}],
        "free": {"anything": {"deep": true}, "typed": {"k": "v", "drop": 1}},
        "labels": {"k": "v"},
        "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "status": {}},
        "raw": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "y"}}
    }});
    let d = s.decode(obj).unwrap();
    assert_eq!(
        d.unknown_fields,
        vec![
            "extra",
            "spec.a.c",
            "spec.embedded.status",
            "spec.free.typed.drop",
            "spec.list[0].y",
            "spec.list[1].z",
        ]
    );
    let o = d.object;
    assert_eq!(o["metadata"]["labels"]["a"], "b");
    assert_eq!(o["spec"]["a"], json!({"b": "x"}));
    assert_eq!(o["spec"]["list"], json!([{"x": 1}, {}]));
    assert_eq!(o["spec"]["free"]["anything"]["deep"], true);
    assert_eq!(o["spec"]["embedded"]["kind"], "Pod");
    assert_eq!(o["spec"]["embedded"]["metadata"]["name"], "p");
    assert_eq!(o["spec"]["raw"]["data"]["x"], "y");
    assert_eq!(o["spec"]["labels"]["k"], "v");
}

#[test]
fn defaults_recursive_in_items_and_nulls() {
    let s = strategy(
        json!({"type": "object", "properties": {"spec": {"type": "object", "default": {}, "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "default": "fast"},
            "opt": {"type": "string", "nullable": true, "default": "d"},
            "gone": {"type": "string"},
            "ports": {"type": "array", "items": {"type": "object", "properties": {"protocol": {"type": "string", "default": "TCP"}, "port": {"type": "integer"}}}},
            "nested": {"type": "object", "default": {"inner": {}}, "properties": {"inner": {"type": "object", "properties": {"x": {"type": "string", "default": "y"}}}}}
        }}}}),
    );
    let mut o =
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
    s.apply_defaults(&mut o);
    assert_eq!(o["spec"]["replicas"], 1);
    assert_eq!(o["spec"]["nested"]["inner"]["x"], "y");

    let mut o = widget(
        json!({"mode": null, "opt": null, "gone": null, "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}),
    );
    s.apply_defaults(&mut o);
    assert_eq!(
        o["spec"]["mode"], "fast",
        "non-nullable null gets the default"
    );
    assert_eq!(o["spec"]["opt"], Value::Null, "nullable null is kept");
    assert!(
        o["spec"].get("gone").is_none(),
        "non-nullable null without default is dropped"
    );
    assert_eq!(
        o["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}])
    );
}

#[test]
fn validation_keywords() {
    let s = strategy(
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
            "count": {"type": "integer", "minimum": 1, "maximum": 10, "multipleOf": 2},
            "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0.5},
            "items": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
            "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "when": {"type": "string", "format": "date-time"},
            "blob": {"type": "string", "format": "byte"},
            "small": {"type": "integer", "format": "int32"},
            "maybe": {"type": "string", "nullable": true},
            "never": {"type": "string"},
            "port": {"x-kubernetes-int-or-string": true},
            "labels": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string", "enum": ["a", "b"]}},
            "choice": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
            "any": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "anyOf": [{"required": ["a"]}, {"required": ["b"]}]},
            "all": {"type": "object", "properties": {"a": {"type": "string"}}, "allOf": [{"required": ["a"]}]},
            "not": {"type": "object", "properties": {"a": {"type": "string"}}, "not": {"required": ["a"]}}
        }}}}),
    );
    assert!(verrs(&s, json!({"name": "abc", "count": 4, "ratio": 0.75, "items": ["x"], "set": ["a", "b"], "when": "2024-01-01T00:00:00Z",
        "blob": "aGk=", "small": 7, "maybe": null, "port": "http", "labels": {"k": "a"}, "choice": {"a": "x"}, "any": {"b": "y"}, "all": {"a": "z"}, "not": {}})).is_empty());

    let errs = verrs(&s, json!({}));
    has(&errs, "spec.name: Required value");
    let errs = verrs(&s, json!({"name": "a"}));
    has(
        &errs,
        r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#,
    );
    let errs = verrs(&s, json!({"name": "abcdef"}));
    has(&errs, "spec.name: Too long: may not be more than 5 bytes");
    let errs = verrs(&s, json!({"name": "AB"}));
    has(
        &errs,
        r#"spec.name: Invalid value: "AB": spec.name in body should match '^[a-z]+$'"#,
    );
    let errs = verrs(&s, json!({"name": "ab", "count": 0}));
    has(
        &errs,
        "spec.count: Invalid value: 0: spec.count in body should be greater than or equal to 1",
    );
    let errs = verrs(&s, json!({"name": "ab", "count": 12}));
    has(
        &errs,
        "spec.count: Invalid value: 12: spec.count in body should be less than or equal to 10",
    );
    let errs = verrs(&s, json!({"name": "ab", "count": 3}));
    has(
        &errs,
        "spec.count: Invalid value: 3: spec.count in body should be a multiple of 2",
    );
    let errs = verrs(&s, json!({"name": "ab", "count": 4.0}));
    assert!(errs.is_empty(), "an integral float is an integer: {errs:?}");
    let errs = verrs(&s, json!({"name": "ab", "count": 4.5}));
    has(
        &errs,
        r#"spec.count: Invalid value: "number": spec.count in body must be of type integer: "number""#,
    );
    let errs = verrs(&s, json!({"name": "ab", "ratio": 0.5}));
    has(
        &errs,
        "spec.ratio: Invalid value: 0.5: spec.ratio in body should be greater than 0.5",
    );
    let errs = verrs(&s, json!({"name": "ab", "items": []}));
    has(
        &errs,
        "spec.items: Invalid value: 0: spec.items in body should have at least 1 items",
    );
    let errs = verrs(&s, json!({"name": "ab", "items": ["a", "b", "c"]}));
    has(&errs, "spec.items: Too many: 3: must have at most 2 items");
    let errs = verrs(&s, json!({"name": "ab", "items": [1]}));
    has(
        &errs,
        r#"spec.items[0]: Invalid value: "integer": spec.items[0] in body must be of type string: "integer""#,
    );
    let errs = verrs(&s, json!({"name": "ab", "set": ["a", "b", "a"]}));
    has(&errs, r#"spec.set[2]: Duplicate value: "a""#);
    let errs = verrs(&s, json!({"name": "ab", "when": "tomorrow"}));
    has(
        &errs,
        r#"spec.when: Invalid value: "tomorrow": spec.when in body must be of type date-time: "tomorrow""#,
    );
    let errs = verrs(&s, json!({"name": "ab", "blob": "!!"}));
    has(
        &errs,
        r#"spec.blob: Invalid value: "!!": spec.blob in body must be of type byte: "!!""#,
    );
    let errs = verrs(&s, json!({"name": "ab", "never": null}));
    has(
        &errs,
        r#"spec.never: Invalid value: "null": spec.never in body must be of type string: "null""#,
    );
    let errs = verrs(&s, json!({"name": "ab", "port": 8080}));
    assert!(errs.is_empty(), "{errs:?}");
    let errs = verrs(&s, json!({"name": "ab", "port": 1.5}));
    has(
        &errs,
        r#"spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number""#,
    );
    let errs = verrs(&s, json!({"name": "ab", "labels": {"k": "c"}}));
    has(
        &errs,
        r#"spec.labels.k: Unsupported value: "c": supported values: "a", "b""#,
    );
    let errs = verrs(&s, json!({"name": "ab", "labels": {"k": "a", "l": "b"}}));
    has(&errs, "spec.labels: Too many: 2: must have at most 1 item");
    let errs = verrs(&s, json!({"name": "ab", "choice": {"a": "x", "b": "y"}}));
    has(
        &errs,
        r#"[]: Invalid value: "": "spec.choice" must validate one and only one schema (oneOf). Found 2 valid alternatives"#,
    );
    let errs = verrs(&s, json!({"name": "ab", "choice": {}}));
    has(
        &errs,
        r#"[]: Invalid value: "": "spec.choice" must validate one and only one schema (oneOf). Found none valid"#,
    );
    let errs = verrs(&s, json!({"name": "ab", "any": {}}));
    has(
        &errs,
        r#"[]: Invalid value: "": "spec.any" must validate at least one schema (anyOf)"#,
    );
    has(&errs, "spec.any.a: Required value");
    let errs = verrs(&s, json!({"name": "ab", "all": {}}));
    has(
        &errs,
        r#"[]: Invalid value: "": "spec.all" must validate all the schemas (allOf). None validated"#,
    );
    let errs = verrs(&s, json!({"name": "ab", "not": {"a": "x"}}));
    has(
        &errs,
        r#"[]: Invalid value: "": "spec.not" must not validate the schema (not)"#,
    );

    // Type meta and object names.
    let mut o = widget(json!({"name": "ab"}));
    o["kind"] = json!("Gadget");
    has(
        &strings(&s.validate(&o)),
        r#"kind: Invalid value: "Gadget": must be Widget"#,
    );
    let mut o = widget(json!({"name": "ab"}));
    o["metadata"] = json!({});
    has(
        &strings(&s.validate(&o)),
        "metadata.name: Required value: name or generateName is required",
    );
}

#[test]
fn status_subresource_and_scale() {
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}}}}});
    let s = CustomResourceStrategy::new(
        "example.com",
        "v1",
        "Widget",
        &schema,
        true,
        Some(minato_crd::ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".status.selector".into()),
        }),
    );
    let mut o = widget(json!({"replicas": 1}));
    o["status"] = json!({"replicas": 5});
    s.prepare_for_create(&mut o);
    assert!(o.get("status").is_none());

    let mut old = widget(json!({"replicas": 1}));
    old["status"] = json!({"replicas": 1});
    let mut new = widget(json!({"replicas": 2}));
    new["status"] = json!({"replicas": 9});
    s.prepare_for_update(&mut new, &old);
    assert_eq!(new["status"], json!({"replicas": 1}));

    let errs = strings(&s.validate(&widget(json!({"replicas": -3}))));
    has(
        &errs,
        ".spec.replicas: Invalid value: -3: should be a non-negative integer",
    );
    let mut bad = widget(json!({}));
    bad["status"] = json!({"replicas": "x"});
    let errs = strings(&s.validate_status_update(&bad, &old));
    has(
        &errs,
        r#"status.replicas: Invalid value: "string": status.replicas in body must be of type integer: "string""#,
    );
}

#[test]
fn hostile_depth_is_bounded() {
    // A schema nested far deeper than any real one: rejected, never a stack overflow.
    let mut schema = json!({"type": "string"});
    for _ in 0..200 {
        schema = json!({"type": "object", "properties": {"a": schema}});
    }
    let errs = errs_of(crd(schema.clone()));
    assert!(
        errs.iter()
            .any(|e| e.contains("must not be nested more than")),
        "{}",
        errs.len()
    );
    let s = strategy(schema);
    let mut data = json!("x");
    for _ in 0..100 {
        data = json!({"a": data});
    }
    let mut o = widget(json!({}));
    o["a"] = data;
    let d = s.decode(o).unwrap();
    let mut obj = d.object;
    s.apply_defaults(&mut obj);
    let _ = s.validate(&obj);
}
