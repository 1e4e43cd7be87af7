//! The Swagger 2.0 document as gnostic's protobuf message `openapi.v2.Document`, which is the
//! only form kubectl accepts for `/openapi/v2`.
//!
//! The encoder walks the JSON document with a table per message (JSON key → field number and
//! kind), so every key the JSON has that Swagger 2.0 defines ends up in the message. Keys
//! starting with `x-` become `NamedAny` vendor extensions whose `Any.yaml` holds the value as
//! YAML flow text (JSON with spaces after `:` and `,`), which Go's YAML parsers read as the
//! value. Keys Swagger 2.0 does not define are dropped, as gnostic has nowhere to put them.

use serde_json::{Map, Value};

/// How one JSON value is encoded.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Double,
    Int,
    /// `Any { yaml = 2 }` holding the value's text.
    Any,
    Msg(&'static Message),
    /// A JSON array (or one value): each element as its own field of the same number.
    Repeated(&'static Kind),
    /// A message whose field 1 repeats the element kind (TypeItem, ItemsItem, StringArray); a
    /// lone value counts as a one-element array.
    List(&'static Kind),
    /// A JSON object as a message of `Named* { name = 1; value = 2 }` entries at field
    /// `entries`, with `x-` keys as vendor extensions at field `ext` when there is one.
    Named {
        entries: u32,
        ext: Option<u32>,
        value: &'static Kind,
    },
    /// A `oneof` wrapper: picks the field and kind for the value, or none to drop it.
    OneOf(fn(&Value) -> Option<(u32, Kind)>),
}

/// A message: its fields by JSON key, and where its vendor extensions go.
struct Message {
    fields: &'static [(&'static str, u32, Kind)],
    ext: Option<u32>,
}

const STRS: Kind = Kind::Repeated(&Kind::Str);
const ANYS: Kind = Kind::Repeated(&Kind::Any);

static DOCUMENT: Message = Message {
    fields: &[
        ("swagger", 1, Kind::Str),
        ("info", 2, Kind::Msg(&INFO)),
        ("host", 3, Kind::Str),
        ("basePath", 4, Kind::Str),
        ("schemes", 5, STRS),
        ("consumes", 6, STRS),
        ("produces", 7, STRS),
        (
            "paths",
            8,
            Kind::Named {
                entries: 2,
                ext: Some(1),
                value: &Kind::Msg(&PATH_ITEM),
            },
        ),
        (
            "definitions",
            9,
            Kind::Named {
                entries: 1,
                ext: None,
                value: &Kind::Msg(&SCHEMA),
            },
        ),
        (
            "parameters",
            10,
            Kind::Named {
                entries: 1,
                ext: None,
                value: &PARAMETER,
            },
        ),
        (
            "responses",
            11,
            Kind::Named {
                entries: 1,
                ext: None,
                value: &Kind::Msg(&RESPONSE),
            },
        ),
        ("security", 12, Kind::Repeated(&SECURITY_REQUIREMENT)),
        (
            "securityDefinitions",
            13,
            Kind::Named {
                entries: 1,
                ext: None,
                value: &Kind::OneOf(security_definition),
            },
        ),
        ("tags", 14, Kind::Repeated(&Kind::Msg(&TAG))),
        ("externalDocs", 15, Kind::Msg(&EXTERNAL_DOCS)),
    ],
    ext: Some(16),
};

static INFO: Message = Message {
    fields: &[
        ("title", 1, Kind::Str),
        ("version", 2, Kind::Str),
        ("description", 3, Kind::Str),
        ("termsOfService", 4, Kind::Str),
        ("contact", 5, Kind::Msg(&CONTACT)),
        ("license", 6, Kind::Msg(&LICENSE)),
    ],
    ext: Some(7),
};

static CONTACT: Message = Message {
    fields: &[
        ("name", 1, Kind::Str),
        ("url", 2, Kind::Str),
        ("email", 3, Kind::Str),
    ],
    ext: Some(4),
};

static LICENSE: Message = Message {
    fields: &[("name", 1, Kind::Str), ("url", 2, Kind::Str)],
    ext: Some(3),
};

static EXTERNAL_DOCS: Message = Message {
    fields: &[("description", 1, Kind::Str), ("url", 2, Kind::Str)],
    ext: Some(3),
};

static TAG: Message = Message {
    fields: &[
        ("name", 1, Kind::Str),
        ("description", 2, Kind::Str),
        ("externalDocs", 3, Kind::Msg(&EXTERNAL_DOCS)),
    ],
    ext: Some(4),
};

static PATH_ITEM: Message = Message {
    fields: &[
        ("$ref", 1, Kind::Str),
        ("get", 2, Kind::Msg(&OPERATION)),
        ("put", 3, Kind::Msg(&OPERATION)),
        ("post", 4, Kind::Msg(&OPERATION)),
        ("delete", 5, Kind::Msg(&OPERATION)),
        ("options", 6, Kind::Msg(&OPERATION)),
        ("head", 7, Kind::Msg(&OPERATION)),
        ("patch", 8, Kind::Msg(&OPERATION)),
        ("parameters", 9, Kind::Repeated(&PARAMETERS_ITEM)),
    ],
    ext: Some(10),
};

static OPERATION: Message = Message {
    fields: &[
        ("tags", 1, STRS),
        ("summary", 2, Kind::Str),
        ("description", 3, Kind::Str),
        ("externalDocs", 4, Kind::Msg(&EXTERNAL_DOCS)),
        ("operationId", 5, Kind::Str),
        ("produces", 6, STRS),
        ("consumes", 7, STRS),
        ("parameters", 8, Kind::Repeated(&PARAMETERS_ITEM)),
        (
            "responses",
            9,
            Kind::Named {
                entries: 1,
                ext: Some(2),
                value: &Kind::OneOf(response_value),
            },
        ),
        ("schemes", 10, STRS),
        ("deprecated", 11, Kind::Bool),
        ("security", 12, Kind::Repeated(&SECURITY_REQUIREMENT)),
    ],
    ext: Some(13),
};

/// `SecurityRequirement`: named `StringArray`s.
static SECURITY_REQUIREMENT: Kind = Kind::Named {
    entries: 1,
    ext: None,
    value: &Kind::List(&Kind::Str),
};

static JSON_REFERENCE: Message = Message {
    fields: &[("$ref", 1, Kind::Str), ("description", 2, Kind::Str)],
    ext: None,
};

/// `ParametersItem`: a parameter or a reference to one.
static PARAMETERS_ITEM: Kind = Kind::OneOf(|v| {
    if v.get("$ref").is_some() {
        Some((2, Kind::Msg(&JSON_REFERENCE)))
    } else {
        Some((1, PARAMETER))
    }
});

/// `Parameter`: a body parameter, or one of the others by where it goes.
static PARAMETER: Kind = Kind::OneOf(|v| match v.get("in").and_then(Value::as_str) {
    Some("body") => Some((1, Kind::Msg(&BODY_PARAMETER))),
    Some(_) => Some((2, NON_BODY_PARAMETER)),
    None => None,
});

static NON_BODY_PARAMETER: Kind = Kind::OneOf(|v| match v.get("in").and_then(Value::as_str)? {
    "header" => Some((1, Kind::Msg(&HEADER_OR_PATH_PARAMETER))),
    "formData" => Some((2, Kind::Msg(&QUERY_OR_FORM_PARAMETER))),
    "query" => Some((3, Kind::Msg(&QUERY_OR_FORM_PARAMETER))),
    "path" => Some((4, Kind::Msg(&HEADER_OR_PATH_PARAMETER))),
    _ => None,
});

static BODY_PARAMETER: Message = Message {
    fields: &[
        ("description", 1, Kind::Str),
        ("name", 2, Kind::Str),
        ("in", 3, Kind::Str),
        ("required", 4, Kind::Bool),
        ("schema", 5, Kind::Msg(&SCHEMA)),
    ],
    ext: Some(6),
};

/// The validation keywords every non-body parameter, items and header share, numbered from
/// `type` on (`type` = n, `format` = n+1, ...).
macro_rules! primitive_fields {
    ($($lead:expr,)* ; $n:expr, $($tail:expr),* $(,)?) => {
        &[
            $($lead,)*
            ("type", $n, Kind::Str),
            ("format", $n + 1, Kind::Str),
            ("items", $n + 2, Kind::Msg(&PRIMITIVES_ITEMS)),
            ("collectionFormat", $n + 3, Kind::Str),
            ("default", $n + 4, Kind::Any),
            ("maximum", $n + 5, Kind::Double),
            ("exclusiveMaximum", $n + 6, Kind::Bool),
            ("minimum", $n + 7, Kind::Double),
            ("exclusiveMinimum", $n + 8, Kind::Bool),
            ("maxLength", $n + 9, Kind::Int),
            ("minLength", $n + 10, Kind::Int),
            ("pattern", $n + 11, Kind::Str),
            ("maxItems", $n + 12, Kind::Int),
            ("minItems", $n + 13, Kind::Int),
            ("uniqueItems", $n + 14, Kind::Bool),
            ("enum", $n + 15, ANYS),
            ("multipleOf", $n + 16, Kind::Double),
            $($tail,)*
        ]
    };
}

/// `HeaderParameterSubSchema` and `PathParameterSubSchema` share their numbering.
static HEADER_OR_PATH_PARAMETER: Message = Message {
    fields: primitive_fields!(
        ("required", 1, Kind::Bool),
        ("in", 2, Kind::Str),
        ("description", 3, Kind::Str),
        ("name", 4, Kind::Str),
        ; 5,
    ),
    ext: Some(22),
};

/// `QueryParameterSubSchema` and `FormDataParameterSubSchema` share theirs.
static QUERY_OR_FORM_PARAMETER: Message = Message {
    fields: primitive_fields!(
        ("required", 1, Kind::Bool),
        ("in", 2, Kind::Str),
        ("description", 3, Kind::Str),
        ("name", 4, Kind::Str),
        ("allowEmptyValue", 5, Kind::Bool),
        ; 6,
    ),
    ext: Some(23),
};

static PRIMITIVES_ITEMS: Message = Message {
    fields: primitive_fields!(; 1,),
    ext: Some(18),
};

static HEADER: Message = Message {
    fields: primitive_fields!(; 1, ("description", 18, Kind::Str)),
    ext: Some(19),
};

fn response_value(v: &Value) -> Option<(u32, Kind)> {
    if v.get("$ref").is_some() {
        Some((2, Kind::Msg(&JSON_REFERENCE)))
    } else {
        Some((1, Kind::Msg(&RESPONSE)))
    }
}

static RESPONSE: Message = Message {
    fields: &[
        ("description", 1, Kind::Str),
        ("schema", 2, Kind::OneOf(schema_item)),
        (
            "headers",
            3,
            Kind::Named {
                entries: 1,
                ext: None,
                value: &Kind::Msg(&HEADER),
            },
        ),
        (
            "examples",
            4,
            Kind::Named {
                entries: 1,
                ext: None,
                value: &Kind::Any,
            },
        ),
    ],
    ext: Some(5),
};

/// `SchemaItem`: a file schema for `type: file`, else a schema.
fn schema_item(v: &Value) -> Option<(u32, Kind)> {
    if v.get("type").and_then(Value::as_str) == Some("file") {
        Some((2, Kind::Msg(&FILE_SCHEMA)))
    } else {
        Some((1, Kind::Msg(&SCHEMA)))
    }
}

static FILE_SCHEMA: Message = Message {
    fields: &[
        ("format", 1, Kind::Str),
        ("title", 2, Kind::Str),
        ("description", 3, Kind::Str),
        ("default", 4, Kind::Any),
        ("required", 5, STRS),
        ("type", 6, Kind::Str),
        ("readOnly", 7, Kind::Bool),
        ("externalDocs", 8, Kind::Msg(&EXTERNAL_DOCS)),
        ("example", 9, Kind::Any),
    ],
    ext: Some(10),
};

static SCHEMA: Message = Message {
    fields: &[
        ("$ref", 1, Kind::Str),
        ("format", 2, Kind::Str),
        ("title", 3, Kind::Str),
        ("description", 4, Kind::Str),
        ("default", 5, Kind::Any),
        ("multipleOf", 6, Kind::Double),
        ("maximum", 7, Kind::Double),
        ("exclusiveMaximum", 8, Kind::Bool),
        ("minimum", 9, Kind::Double),
        ("exclusiveMinimum", 10, Kind::Bool),
        ("maxLength", 11, Kind::Int),
        ("minLength", 12, Kind::Int),
        ("pattern", 13, Kind::Str),
        ("maxItems", 14, Kind::Int),
        ("minItems", 15, Kind::Int),
        ("uniqueItems", 16, Kind::Bool),
        ("maxProperties", 17, Kind::Int),
        ("minProperties", 18, Kind::Int),
        ("required", 19, STRS),
        ("enum", 20, ANYS),
        (
            "additionalProperties",
            21,
            Kind::OneOf(additional_properties),
        ),
        ("type", 22, Kind::List(&Kind::Str)),
        ("items", 23, Kind::List(&Kind::Msg(&SCHEMA))),
        ("allOf", 24, Kind::Repeated(&Kind::Msg(&SCHEMA))),
        (
            "properties",
            25,
            Kind::Named {
                entries: 1,
                ext: None,
                value: &Kind::Msg(&SCHEMA),
            },
        ),
        ("discriminator", 26, Kind::Str),
        ("readOnly", 27, Kind::Bool),
        ("xml", 28, Kind::Msg(&XML)),
        ("externalDocs", 29, Kind::Msg(&EXTERNAL_DOCS)),
        ("example", 30, Kind::Any),
    ],
    ext: Some(31),
};

/// `AdditionalPropertiesItem`: a schema or a boolean.
fn additional_properties(v: &Value) -> Option<(u32, Kind)> {
    match v {
        Value::Bool(_) => Some((2, Kind::Bool)),
        Value::Object(_) => Some((1, Kind::Msg(&SCHEMA))),
        _ => None,
    }
}

static XML: Message = Message {
    fields: &[
        ("name", 1, Kind::Str),
        ("namespace", 2, Kind::Str),
        ("prefix", 3, Kind::Str),
        ("attribute", 4, Kind::Bool),
        ("wrapped", 5, Kind::Bool),
    ],
    ext: Some(6),
};

/// `SecurityDefinitionsItem`, by `type` (and `flow` for OAuth2).
fn security_definition(v: &Value) -> Option<(u32, Kind)> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    match (s("type")?, s("flow")) {
        ("basic", _) => Some((1, Kind::Msg(&BASIC_SECURITY))),
        ("apiKey", _) => Some((2, Kind::Msg(&API_KEY_SECURITY))),
        ("oauth2", Some("implicit")) => Some((3, Kind::Msg(&OAUTH2_IMPLICIT))),
        ("oauth2", Some("password")) => Some((4, Kind::Msg(&OAUTH2_PASSWORD))),
        ("oauth2", Some("application")) => Some((5, Kind::Msg(&OAUTH2_APPLICATION))),
        ("oauth2", Some("accessCode")) => Some((6, Kind::Msg(&OAUTH2_ACCESS_CODE))),
        _ => None,
    }
}

static BASIC_SECURITY: Message = Message {
    fields: &[("type", 1, Kind::Str), ("description", 2, Kind::Str)],
    ext: Some(3),
};

static API_KEY_SECURITY: Message = Message {
    fields: &[
        ("type", 1, Kind::Str),
        ("name", 2, Kind::Str),
        ("in", 3, Kind::Str),
        ("description", 4, Kind::Str),
    ],
    ext: Some(5),
};

/// `Oauth2Scopes`: named strings.
const SCOPES: Kind = Kind::Named {
    entries: 1,
    ext: None,
    value: &Kind::Str,
};

static OAUTH2_IMPLICIT: Message = Message {
    fields: &[
        ("type", 1, Kind::Str),
        ("flow", 2, Kind::Str),
        ("scopes", 3, SCOPES),
        ("authorizationUrl", 4, Kind::Str),
        ("description", 5, Kind::Str),
    ],
    ext: Some(6),
};

static OAUTH2_PASSWORD: Message = Message {
    fields: &[
        ("type", 1, Kind::Str),
        ("flow", 2, Kind::Str),
        ("scopes", 3, SCOPES),
        ("tokenUrl", 4, Kind::Str),
        ("description", 5, Kind::Str),
    ],
    ext: Some(6),
};

/// `Oauth2ApplicationSecurity` numbers its fields as the password flow does.
static OAUTH2_APPLICATION: Message = Message {
    fields: OAUTH2_PASSWORD.fields,
    ext: Some(6),
};

static OAUTH2_ACCESS_CODE: Message = Message {
    fields: &[
        ("type", 1, Kind::Str),
        ("flow", 2, Kind::Str),
        ("scopes", 3, SCOPES),
        ("authorizationUrl", 4, Kind::Str),
        ("tokenUrl", 5, Kind::Str),
        ("description", 6, Kind::Str),
    ],
    ext: Some(7),
};

/// Encodes a Swagger 2.0 document (as JSON) as `openapi.v2.Document`.
pub(crate) fn document(doc: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 20);
    if let Value::Object(m) = doc {
        message(&DOCUMENT, m, &mut out);
    }
    out
}

fn message(msg: &Message, m: &Map<String, Value>, out: &mut Vec<u8>) {
    for (key, v) in m {
        if let Some((_, field, kind)) = msg.fields.iter().find(|(k, _, _)| k == key) {
            value(*field, kind, v, false, out);
        } else if let (Some(ext), true) = (msg.ext, key.starts_with("x-")) {
            named_any(ext, key, v, out);
        }
    }
}

/// `NamedAny { name = 1; value = 2 (Any) }`.
fn named_any(field: u32, name: &str, v: &Value, out: &mut Vec<u8>) {
    nested(field, out, |out| {
        string(1, name, true, out);
        value(2, &Kind::Any, v, true, out);
    });
}

/// Writes `v` as field `field`. Scalars at their default value are left out (as proto3 does)
/// unless `always`: inside a `oneof` or a repeated field they carry meaning.
fn value(field: u32, kind: &Kind, v: &Value, always: bool, out: &mut Vec<u8>) {
    match kind {
        Kind::Str => {
            if let Some(s) = v.as_str() {
                string(field, s, always, out);
            }
        }
        Kind::Bool => {
            if let Some(b) = v.as_bool() {
                if b || always {
                    key(field, 0, out);
                    varint(u64::from(b), out);
                }
            }
        }
        Kind::Double => {
            if let Some(d) = v.as_f64() {
                key(field, 1, out);
                out.extend_from_slice(&d.to_le_bytes());
            }
        }
        Kind::Int => {
            let n = v.as_i64().or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            });
            if let Some(n) = n {
                key(field, 0, out);
                // int64 is a two's-complement varint.
                varint(n as u64, out);
            }
        }
        Kind::Any => nested(field, out, |out| {
            let mut text = String::new();
            flow_yaml(v, &mut text);
            string(2, &text, true, out);
        }),
        Kind::Msg(msg) => {
            if let Value::Object(m) = v {
                nested(field, out, |out| message(msg, m, out));
            }
        }
        Kind::Repeated(inner) => match v {
            Value::Array(items) => {
                for item in items {
                    value(field, inner, item, true, out);
                }
            }
            other => value(field, inner, other, true, out),
        },
        Kind::List(inner) => nested(field, out, |out| {
            value(1, &Kind::Repeated(inner), v, true, out)
        }),
        Kind::Named {
            entries,
            ext,
            value: inner,
        } => {
            if let Value::Object(m) = v {
                nested(field, out, |out| {
                    for (name, item) in m {
                        match ext {
                            Some(ext) if name.starts_with("x-") => named_any(*ext, name, item, out),
                            _ => nested(*entries, out, |out| {
                                string(1, name, true, out);
                                value(2, inner, item, true, out);
                            }),
                        }
                    }
                });
            }
        }
        Kind::OneOf(choose) => {
            if let Some((member, inner)) = choose(v) {
                nested(field, out, |out| value(member, &inner, v, true, out));
            }
        }
    }
}

fn key(field: u32, wire_type: u8, out: &mut Vec<u8>) {
    varint(u64::from(field) << 3 | u64::from(wire_type), out);
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn string(field: u32, s: &str, always: bool, out: &mut Vec<u8>) {
    if s.is_empty() && !always {
        return;
    }
    key(field, 2, out);
    varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// A length-delimited field written by `body`: the body goes in place, then its length is
/// inserted before it.
fn nested(field: u32, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    key(field, 2, out);
    let start = out.len();
    body(out);
    let mut len = Vec::with_capacity(4);
    varint((out.len() - start) as u64, &mut len);
    out.splice(start..start, len);
}

/// The value as YAML flow text: JSON with a space after each `:` and `,`, so that YAML 1.1
/// parsers (Go's yaml.v2) read it too. Strings are always quoted, so `yes` stays a string.
fn flow_yaml(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                flow_yaml(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                flow_yaml(item, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn varints_and_lengths() {
        let mut out = Vec::new();
        varint(300, &mut out);
        assert_eq!(out, [0xac, 0x02]);
        let mut out = Vec::new();
        nested(2, &mut out, |out| out.extend(std::iter::repeat_n(7u8, 200)));
        assert_eq!(&out[..3], &[0x12, 0xc8, 0x01]);
        assert_eq!(out.len(), 203);
    }

    #[test]
    fn schema_fields_and_extensions() {
        let doc = json!({"definitions": {"A": {
            "type": "object",
            "required": ["x"],
            "additionalProperties": false,
            "x-kubernetes-list-type": "map",
        }}});
        let bytes = document(&doc);
        // Document.definitions(9) { NamedSchema(1) { name "A", value(2) Schema { ... } } }
        let schema: Vec<u8> = [
            &[0xb2, 0x01, 0x08, 0x0a, 0x06][..],
            b"object",
            &[0x9a, 0x01, 0x01][..],
            b"x",
            &[0xaa, 0x01, 0x02, 0x10, 0x00][..],
            &[0xfa, 0x01, 0x21, 0x0a, 0x16][..],
            b"x-kubernetes-list-type",
            &[0x12, 0x07, 0x12, 0x05][..],
            b"\"map\"",
        ]
        .concat();
        let mut named = vec![0x0a, 0x01, b'A', 0x12, schema.len() as u8];
        named.extend_from_slice(&schema);
        let mut defs = vec![0x0a, named.len() as u8];
        defs.extend_from_slice(&named);
        let mut want = vec![0x4a, defs.len() as u8];
        want.extend_from_slice(&defs);
        assert_eq!(bytes, want);
    }

    #[test]
    fn flow_yaml_quotes_strings_and_spaces_separators() {
        let mut s = String::new();
        flow_yaml(
            &json!([{"group": "", "kind": "yes"}, 1, true, null]),
            &mut s,
        );
        assert_eq!(s, r#"[{"group": "", "kind": "yes"}, 1, true, null]"#);
    }
}
