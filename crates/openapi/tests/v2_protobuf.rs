//! The protobuf `/openapi/v2` document, read back with a protobuf decoder of our own (field
//! numbers from gnostic's OpenAPIv2.proto) and compared with the JSON document.

use minato_openapi::{CustomSchemas, Gvk, OpenApi};
use minato_resources::{Registry, ResourceInfo};
use serde_json::{json, Map, Value};

// ---- wire format ----

#[derive(Clone, Copy, Debug)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
}

fn read_varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).expect("truncated varint");
        *pos += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
    }
    panic!("varint too long")
}

/// The fields of one message, in order.
fn fields(b: &[u8]) -> Vec<(u32, Wire<'_>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let key = read_varint(b, &mut pos);
        let field = u32::try_from(key >> 3).expect("field number");
        assert!(field > 0, "field number 0");
        let wire = match key & 7 {
            0 => Wire::Varint(read_varint(b, &mut pos)),
            1 => {
                let bytes: [u8; 8] = b[pos..pos + 8].try_into().expect("fixed64");
                pos += 8;
                Wire::Fixed64(u64::from_le_bytes(bytes))
            }
            2 => {
                let len = usize::try_from(read_varint(b, &mut pos)).expect("length");
                assert!(pos + len <= b.len(), "length past the end");
                let s = &b[pos..pos + len];
                pos += len;
                Wire::Bytes(s)
            }
            t => panic!("unexpected wire type {t}"),
        };
        out.push((field, wire));
    }
    out
}

fn bytes(w: Wire<'_>) -> &[u8] {
    match w {
        Wire::Bytes(b) => b,
        other => panic!("expected length-delimited, got {other:?}"),
    }
}

fn string(w: Wire<'_>) -> String {
    String::from_utf8(bytes(w).to_vec()).expect("UTF-8")
}

fn boolean(w: Wire<'_>) -> bool {
    match w {
        Wire::Varint(n) => n != 0,
        other => panic!("expected varint, got {other:?}"),
    }
}

fn double(w: Wire<'_>) -> f64 {
    match w {
        Wire::Fixed64(n) => f64::from_bits(n),
        other => panic!("expected fixed64, got {other:?}"),
    }
}

fn int64(w: Wire<'_>) -> i64 {
    match w {
        Wire::Varint(n) => n as i64,
        other => panic!("expected varint, got {other:?}"),
    }
}

/// The one field `n` of a message (the last one wins, as in protobuf).
fn field(b: &[u8], n: u32) -> Option<Wire<'_>> {
    fields(b)
        .into_iter()
        .rev()
        .find(|(f, _)| *f == n)
        .map(|(_, w)| w)
}

/// Entries of a `Named*` message list at field `n`: (name, value bytes).
fn named(b: &[u8], n: u32) -> Vec<(String, &[u8])> {
    fields(b)
        .into_iter()
        .filter(|(f, _)| *f == n)
        .map(|(_, w)| {
            let e = bytes(w);
            let name = field(e, 1).map(string).expect("entry name");
            let value = field(e, 2).map(bytes).unwrap_or(&[]);
            (name, value)
        })
        .collect()
}

// ---- openapi.v2 messages back to JSON ----

/// `Any`: the YAML text, which we write as JSON-compatible flow YAML.
fn any(b: &[u8]) -> Value {
    let yaml = field(b, 2).map(string).expect("Any.yaml");
    serde_json::from_str(&yaml).unwrap_or_else(|e| panic!("Any.yaml {yaml:?}: {e}"))
}

fn push(m: &mut Map<String, Value>, k: &str, v: Value) {
    match m
        .entry(k.to_string())
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(a) => a.push(v),
        other => panic!("{k} is not repeated: {other}"),
    }
}

/// `NamedAny` at field `ext` becomes `x-` keys.
fn extension(m: &mut Map<String, Value>, w: Wire<'_>) {
    let e = bytes(w);
    let name = field(e, 1).map(string).expect("NamedAny.name");
    assert!(name.starts_with("x-"), "{name}");
    m.insert(name, any(field(e, 2).map(bytes).expect("NamedAny.value")));
}

fn named_map(b: &[u8], value: fn(&[u8]) -> Value) -> Value {
    Value::Object(
        named(b, 1)
            .into_iter()
            .map(|(k, v)| (k, value(v)))
            .collect(),
    )
}

fn document(b: &[u8]) -> Value {
    let mut m = Map::new();
    for (f, w) in fields(b) {
        match f {
            1 => drop(m.insert("swagger".into(), json!(string(w)))),
            2 => drop(m.insert("info".into(), info(bytes(w)))),
            8 => drop(m.insert("paths".into(), paths(bytes(w)))),
            9 => drop(m.insert("definitions".into(), named_map(bytes(w), schema))),
            12 => push(&mut m, "security", named_map(bytes(w), string_array)),
            13 => drop(m.insert(
                "securityDefinitions".into(),
                named_map(bytes(w), security_definition),
            )),
            16 => extension(&mut m, w),
            n => panic!("unexpected Document field {n}"),
        }
    }
    Value::Object(m)
}

fn info(b: &[u8]) -> Value {
    let mut m = Map::new();
    for (f, w) in fields(b) {
        match f {
            1 => drop(m.insert("title".into(), json!(string(w)))),
            2 => drop(m.insert("version".into(), json!(string(w)))),
            n => panic!("unexpected Info field {n}"),
        }
    }
    Value::Object(m)
}

fn string_array(b: &[u8]) -> Value {
    Value::Array(
        fields(b)
            .into_iter()
            .map(|(f, w)| {
                assert_eq!(f, 1, "StringArray field");
                json!(string(w))
            })
            .collect(),
    )
}

fn security_definition(b: &[u8]) -> Value {
    let (f, w) = only(b, "SecurityDefinitionsItem");
    assert_eq!(f, 2, "only apiKey security is expected");
    let mut m = Map::new();
    for (f, w) in fields(bytes(w)) {
        let k = match f {
            1 => "type",
            2 => "name",
            3 => "in",
            4 => "description",
            n => panic!("unexpected ApiKeySecurity field {n}"),
        };
        m.insert(k.into(), json!(string(w)));
    }
    Value::Object(m)
}

/// The single field of a `oneof` wrapper.
fn only<'a>(b: &'a [u8], what: &str) -> (u32, Wire<'a>) {
    let f = fields(b);
    assert_eq!(f.len(), 1, "{what} must hold exactly one member");
    f[0]
}

fn paths(b: &[u8]) -> Value {
    let mut m = Map::new();
    for (f, w) in fields(b) {
        match f {
            1 => extension(&mut m, w),
            2 => {
                let e = bytes(w);
                let name = field(e, 1).map(string).expect("path");
                m.insert(name, path_item(field(e, 2).map(bytes).unwrap_or(&[])));
            }
            n => panic!("unexpected Paths field {n}"),
        }
    }
    Value::Object(m)
}

fn path_item(b: &[u8]) -> Value {
    let mut m = Map::new();
    for (f, w) in fields(b) {
        let method = match f {
            2 => "get",
            3 => "put",
            4 => "post",
            5 => "delete",
            6 => "options",
            7 => "head",
            8 => "patch",
            9 => {
                push(&mut m, "parameters", parameters_item(bytes(w)));
                continue;
            }
            10 => {
                extension(&mut m, w);
                continue;
            }
            n => panic!("unexpected PathItem field {n}"),
        };
        m.insert(method.into(), operation(bytes(w)));
    }
    Value::Object(m)
}

fn operation(b: &[u8]) -> Value {
    let mut m = Map::new();
    for (f, w) in fields(b) {
        match f {
            1 => push(&mut m, "tags", json!(string(w))),
            2 => drop(m.insert("summary".into(), json!(string(w)))),
            3 => drop(m.insert("description".into(), json!(string(w)))),
            5 => drop(m.insert("operationId".into(), json!(string(w)))),
            6 => push(&mut m, "produces", json!(string(w))),
            7 => push(&mut m, "consumes", json!(string(w))),
            8 => push(&mut m, "parameters", parameters_item(bytes(w))),
            9 => drop(m.insert("responses".into(), responses(bytes(w)))),
            10 => push(&mut m, "schemes", json!(string(w))),
            11 => drop(m.insert("deprecated".into(), json!(boolean(w)))),
            13 => extension(&mut m, w),
            n => panic!("unexpected Operation field {n}"),
        }
    }
    Value::Object(m)
}

fn parameters_item(b: &[u8]) -> Value {
    let (f, w) = only(b, "ParametersItem");
    assert_eq!(f, 1, "parameters are inline, not references");
    let (f, w) = only(bytes(w), "Parameter");
    match f {
        1 => body_parameter(bytes(w)),
        2 => {
            let (f, w) = only(bytes(w), "NonBodyParameter");
            let (v, expect) = match f {
                1 => (simple_parameter(bytes(w), false), "header"),
                2 => (simple_parameter(bytes(w), true), "formData"),
                3 => (simple_parameter(bytes(w), true), "query"),
                4 => (simple_parameter(bytes(w), false), "path"),
                n => panic!("unexpected NonBodyParameter field {n}"),
            };
            assert_eq!(v["in"], expect, "{v}");
            v
        }
        n => panic!("unexpected Parameter field {n}"),
    }
}

fn body_parameter(b: &[u8]) -> Value {
    let mut m = Map::new();
    for (f, w) in fields(b) {
        match f {
            1 => drop(m.insert("description".into(), json!(string(w)))),
            2 => drop(m.insert("name".into(), json!(string(w)))),
            3 => drop(m.insert("in".into(), json!(string(w)))),
            4 => drop(m.insert("required".into(), json!(boolean(w)))),
            5 => drop(m.insert("schema".into(), schema(bytes(w)))),
            n => panic!("unexpected BodyParameter field {n}"),
        }
    }
    Value::Object(m)
}

/// Header/path (`allow_empty = false`) and query/formData parameters: the latter have
/// `allowEmptyValue` at 5, and every later field one up.
fn simple_parameter(b: &[u8], allow_empty: bool) -> Value {
    let shift = u32::from(allow_empty);
    let mut m = Map::new();
    for (f, w) in fields(b) {
        match f {
            1 => drop(m.insert("required".into(), json!(boolean(w)))),
            2 => drop(m.insert("in".into(), json!(string(w)))),
            3 => drop(m.insert("description".into(), json!(string(w)))),
            4 => drop(m.insert("name".into(), json!(string(w)))),
            5 if allow_empty => drop(m.insert("allowEmptyValue".into(), json!(boolean(w)))),
            n if n == 5 + shift => drop(m.insert("type".into(), json!(string(w)))),
            n if n == 6 + shift => drop(m.insert("format".into(), json!(string(w)))),
            n if n == 19 + shift => drop(m.insert("uniqueItems".into(), json!(boolean(w)))),
            n => panic!("unexpected parameter field {n}"),
        }
    }
    Value::Object(m)
}

fn responses(b: &[u8]) -> Value {
    let mut m = Map::new();
    for (f, w) in fields(b) {
        match f {
            1 => {
                let e = bytes(w);
                let code = field(e, 1).map(string).expect("response code");
                let value = field(e, 2).map(bytes).unwrap_or(&[]);
                let (f, w) = only(value, "ResponseValue");
                assert_eq!(f, 1, "responses are inline, not references");
                m.insert(code, response(bytes(w)));
            }
            2 => extension(&mut m, w),
            n => panic!("unexpected Responses field {n}"),
        }
    }
    Value::Object(m)
}

fn response(b: &[u8]) -> Value {
    let mut m = Map::new();
    for (f, w) in fields(b) {
        match f {
            1 => drop(m.insert("description".into(), json!(string(w)))),
            2 => {
                let (f, w) = only(bytes(w), "SchemaItem");
                assert_eq!(f, 1, "no file schemas");
                m.insert("schema".into(), schema(bytes(w)));
            }
            5 => extension(&mut m, w),
            n => panic!("unexpected Response field {n}"),
        }
    }
    Value::Object(m)
}

fn schema(b: &[u8]) -> Value {
    let mut m = Map::new();
    for (f, w) in fields(b) {
        let (k, v) = match f {
            1 => ("$ref", json!(string(w))),
            2 => ("format", json!(string(w))),
            3 => ("title", json!(string(w))),
            4 => ("description", json!(string(w))),
            5 => ("default", any(bytes(w))),
            6 => ("multipleOf", json!(double(w))),
            7 => ("maximum", json!(double(w))),
            8 => ("exclusiveMaximum", json!(boolean(w))),
            9 => ("minimum", json!(double(w))),
            10 => ("exclusiveMinimum", json!(boolean(w))),
            11 => ("maxLength", json!(int64(w))),
            12 => ("minLength", json!(int64(w))),
            13 => ("pattern", json!(string(w))),
            14 => ("maxItems", json!(int64(w))),
            15 => ("minItems", json!(int64(w))),
            16 => ("uniqueItems", json!(boolean(w))),
            17 => ("maxProperties", json!(int64(w))),
            18 => ("minProperties", json!(int64(w))),
            19 => {
                push(&mut m, "required", json!(string(w)));
                continue;
            }
            20 => {
                push(&mut m, "enum", any(bytes(w)));
                continue;
            }
            21 => {
                let (f, w) = only(bytes(w), "AdditionalPropertiesItem");
                match f {
                    1 => ("additionalProperties", schema(bytes(w))),
                    2 => ("additionalProperties", json!(boolean(w))),
                    n => panic!("unexpected AdditionalPropertiesItem field {n}"),
                }
            }
            22 => {
                let types = string_array(bytes(w));
                match types.as_array().map(Vec::as_slice) {
                    Some([one]) => ("type", one.clone()),
                    _ => ("type", types),
                }
            }
            23 => {
                let items: Vec<Value> = fields(bytes(w))
                    .into_iter()
                    .map(|(f, w)| {
                        assert_eq!(f, 1, "ItemsItem field");
                        schema(bytes(w))
                    })
                    .collect();
                match items.as_slice() {
                    [one] => ("items", one.clone()),
                    _ => ("items", Value::Array(items)),
                }
            }
            24 => {
                push(&mut m, "allOf", schema(bytes(w)));
                continue;
            }
            25 => ("properties", named_map(bytes(w), schema)),
            26 => ("discriminator", json!(string(w))),
            27 => ("readOnly", json!(boolean(w))),
            30 => ("example", any(bytes(w))),
            31 => {
                extension(&mut m, w);
                continue;
            }
            n => panic!("unexpected Schema field {n}"),
        };
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

// ---- comparison ----

/// Numbers as f64 (the message has doubles and int64s where JSON has either).
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().expect("finite")),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        other => other.clone(),
    }
}

/// The first place `a` and `b` differ.
fn difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = difference(u, v, &p) {
                            return Some(d);
                        }
                    }
                    (u, v) => return Some(format!("{p}: {u:?} vs {v:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| difference(u, v, &format!("{path}/{i}"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

fn assert_same(api: &OpenApi) {
    let (pb, hash) = api.v2_protobuf().expect("v2 protobuf");
    assert_eq!(hash.len(), 128);
    let (js, _) = api.v2_document().expect("v2 JSON");
    let js: Value = serde_json::from_slice(&js).expect("v2 JSON");
    let decoded = document(&pb);
    let (a, b) = (normalize(&decoded), normalize(&js));
    if let Some(d) = difference(&a, &b, "") {
        panic!("protobuf (left) and JSON (right) differ at {d}");
    }
    // The comparison above must have covered something.
    assert!(js["paths"].as_object().is_some_and(|p| p.len() > 100));
    assert!(js["definitions"].as_object().is_some_and(|d| d.len() > 100));
}

/// What kube-openapi's `NewOpenAPIData` (kubectl's v2 reader) refuses; one refusal and kubectl
/// drops the whole document.
fn check_kubectl_rules(defs: &Map<String, Value>, s: &Value, at: &str) {
    let Value::Object(m) = s else {
        panic!("{at}: not a schema");
    };
    if let Some(r) = m.get("$ref") {
        assert!(
            !m.contains_key("type") && !m.contains_key("properties"),
            "{at}: $ref with a type or properties"
        );
        let name = r
            .as_str()
            .and_then(|r| r.strip_prefix("#/definitions/"))
            .unwrap_or_else(|| panic!("{at}: foreign $ref {r}"));
        assert!(defs.contains_key(name), "{at}: dangling $ref {name}");
        return;
    }
    let ty = m
        .get("type")
        .map(|t| t.as_str().unwrap_or_else(|| panic!("{at}: several types")));
    match ty {
        Some("array") => {
            let items = m
                .get("items")
                .unwrap_or_else(|| panic!("{at}: array without items"));
            assert!(
                items.is_object(),
                "{at}: array needs exactly one item schema"
            );
            check_kubectl_rules(defs, items, &format!("{at}[]"));
        }
        Some("object") | None => {}
        Some("string" | "number" | "integer" | "boolean") => {}
        Some(t) => panic!("{at}: unknown primitive type {t}"),
    }
    if let Some(Value::Object(props)) = m.get("properties") {
        for (k, p) in props {
            check_kubectl_rules(defs, p, &format!("{at}.{k}"));
        }
    }
    if let Some(ap @ Value::Object(_)) = m.get("additionalProperties") {
        check_kubectl_rules(defs, ap, &format!("{at}{{}}"));
    }
}

// ---- tests ----

fn builtin() -> OpenApi {
    OpenApi::from_registry(&Registry::new(), &CustomSchemas::new()).expect("documents")
}

#[test]
fn protobuf_decodes_to_the_json_document() {
    let api = builtin();
    assert_same(&api);
    let (pb, _) = api.v2_protobuf().expect("v2 protobuf");
    let decoded = document(&pb);
    let defs = decoded["definitions"].as_object().expect("definitions");
    for (name, s) in defs {
        check_kubectl_rules(defs, s, name);
    }
}

#[test]
fn deployment_definition_at_the_right_field_numbers() {
    let (pb, _) = builtin().v2_protobuf().expect("v2 protobuf");
    assert_eq!(field(&pb, 1).map(string).as_deref(), Some("2.0"));
    let info = field(&pb, 2).map(bytes).expect("info");
    assert_eq!(field(info, 1).map(string).as_deref(), Some("Kubernetes"));
    assert_eq!(field(info, 2).map(string).as_deref(), Some("v1.33.0"));

    // Document.definitions (9) → Definitions.additional_properties (1) → NamedSchema.
    let defs = named(field(&pb, 9).map(bytes).expect("definitions"), 1);
    let def = |name: &str| {
        defs.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no definition {name}"))
    };
    let deployment = def("io.k8s.api.apps.v1.Deployment");
    // Schema.properties (25) → Properties.additional_properties (1).
    let props = named(field(deployment, 25).map(bytes).expect("properties"), 1);
    let names: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["apiVersion", "kind", "metadata", "spec", "status"]);
    let (_, metadata) = props[2];
    assert_eq!(
        field(metadata, 1).map(string).as_deref(),
        Some("#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    );
    // Schema.type (22) → TypeItem.value (1).
    let ty = field(deployment, 22).map(bytes).expect("type");
    assert_eq!(field(ty, 1).map(string).as_deref(), Some("object"));
    // Schema.vendor_extension (31) → NamedAny { name, value: Any { yaml (2) } }.
    let ext = named(deployment, 31);
    let (_, gvk) = ext
        .iter()
        .find(|(n, _)| n == "x-kubernetes-group-version-kind")
        .expect("GVK extension");
    assert_eq!(
        any(gvk),
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );

    let pod_spec = def("io.k8s.api.core.v1.PodSpec");
    let props = named(field(pod_spec, 25).map(bytes).expect("properties"), 1);
    let (_, containers) = props
        .iter()
        .find(|(n, _)| n == "containers")
        .expect("containers");
    let ext: Vec<(String, Value)> = named(containers, 31)
        .into_iter()
        .map(|(n, v)| (n, any(v)))
        .collect();
    assert!(
        ext.contains(&("x-kubernetes-patch-merge-key".into(), json!("name"))),
        "{ext:?}"
    );
    assert!(
        ext.contains(&("x-kubernetes-patch-strategy".into(), json!("merge"))),
        "{ext:?}"
    );
    // Schema.items (23) → ItemsItem.schema (1), a reference.
    let items = field(containers, 23).map(bytes).expect("items");
    let item = field(items, 1).map(bytes).expect("item schema");
    assert_eq!(
        field(item, 1).map(string).as_deref(),
        Some("#/definitions/io.k8s.api.core.v1.Container")
    );

    // Document.paths (8) → Paths.path (2) → PathItem.patch (8) → Operation.
    let paths = named(field(&pb, 8).map(bytes).expect("paths"), 2);
    let (_, item) = paths
        .iter()
        .find(|(n, _)| n == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        .expect("deployment path");
    let patch = field(item, 8).map(bytes).expect("patch operation");
    let consumes: Vec<String> = fields(patch)
        .into_iter()
        .filter(|(f, _)| *f == 7)
        .map(|(_, w)| string(w))
        .collect();
    assert!(
        consumes.contains(&"application/strategic-merge-patch+json".to_string()),
        "{consumes:?}"
    );
    let ext = named(patch, 13);
    let (_, gvk) = ext
        .iter()
        .find(|(n, _)| n == "x-kubernetes-group-version-kind")
        .expect("operation GVK");
    assert_eq!(
        any(gvk),
        json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    // Operation.parameters (8) → ParametersItem.parameter (1) → Parameter.non_body_parameter
    // (2) → NonBodyParameter.query_parameter_sub_schema (3); name is 4.
    let query_names: Vec<String> = fields(patch)
        .into_iter()
        .filter(|(f, _)| *f == 8)
        .filter_map(|(_, w)| field(bytes(w), 1))
        .filter_map(|w| field(bytes(w), 2))
        .filter_map(|w| field(bytes(w), 3))
        .filter_map(|w| field(bytes(w), 4).map(string))
        .collect();
    assert!(
        query_names.contains(&"fieldValidation".to_string()),
        "{query_names:?}"
    );
    // The body parameter: Parameter.body_parameter (1), schema (5) referring to Patch.
    let body = fields(patch)
        .into_iter()
        .filter(|(f, _)| *f == 8)
        .find_map(|(_, w)| field(bytes(field(bytes(w), 1)?), 1))
        .map(bytes)
        .expect("body parameter");
    assert_eq!(field(body, 4).map(boolean), Some(true));
    let schema = field(body, 5).map(bytes).expect("body schema");
    assert_eq!(
        field(schema, 1).map(string).as_deref(),
        Some("#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch")
    );
}

fn gizmo_info() -> ResourceInfo {
    ResourceInfo {
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Gizmo".into(),
        list_kind: "GizmoList".into(),
        plural: "gizmos".into(),
        singular: "gizmo".into(),
        namespaced: false,
        short_names: vec![],
        categories: vec![],
        verbs: ["get", "list", "patch"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        subresources: vec![],
        has_status: false,
        scale: None,
        storage_version: true,
        persisted: true,
        custom: true,
    }
}

/// Custom resource schemas use keywords the built-in ones do not (defaults, enums, bounds,
/// `additionalProperties: false`, more extensions); each must land in its field.
#[test]
fn custom_resource_keywords_round_trip() {
    let mut resources: Vec<ResourceInfo> = Registry::new()
        .all()
        .iter()
        .map(|e| (*e.info).clone())
        .collect();
    resources.push(gizmo_info());
    let mut custom = CustomSchemas::new();
    custom.insert(
        Gvk::new("example.com", "v1", "Gizmo"),
        json!({
            "type": "object",
            "title": "Gizmo",
            "required": ["spec"],
            "properties": {"spec": {
                "type": "object",
                "additionalProperties": false,
                "minProperties": 1,
                "maxProperties": 9,
                "x-kubernetes-validations": [{"rule": "self.size >= 0", "message": "no: \"neg\""}],
                "properties": {
                    "size": {"type": "integer", "format": "int32", "minimum": -1,
                        "maximum": 10.5, "exclusiveMaximum": true, "multipleOf": 0.5,
                        "default": 3},
                    "mode": {"type": "string", "enum": ["fast", "yes", ""], "default": "fast",
                        "pattern": "^[a-z]*$", "minLength": 0, "maxLength": 20},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                        "maxItems": 300, "uniqueItems": true,
                        "x-kubernetes-list-type": "set"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"},
                        "readOnly": true},
                    "blob": {"x-kubernetes-preserve-unknown-fields": true,
                        "example": {"a": [1, null]}},
                    "x-kubernetes-funny-property-name": {"type": "boolean", "default": false},
                },
            }},
        }),
    );
    let api = OpenApi::build(&resources, &custom).expect("documents");
    assert_same(&api);
    let (pb, _) = api.v2_protobuf().expect("v2 protobuf");
    let decoded = document(&pb);
    let spec = &decoded["definitions"]["com.example.v1.Gizmo"]["properties"]["spec"];
    assert_eq!(spec["additionalProperties"], false);
    assert_eq!(spec["properties"]["size"]["maximum"], 10.5);
    assert_eq!(spec["properties"]["tags"]["maxItems"], 300);
    assert_eq!(
        spec["properties"]["mode"]["enum"],
        json!(["fast", "yes", ""])
    );
    assert_eq!(
        spec["properties"]["x-kubernetes-funny-property-name"]["type"],
        "boolean"
    );
}
