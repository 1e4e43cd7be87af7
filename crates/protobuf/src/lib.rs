//! Decoding of Kubernetes protobuf request bodies
//! (`Content-Type: application/vnd.kubernetes.protobuf`) into the JSON the
//! JSON API carries for the same object.
//!
//! A body is the magic prefix `k8s\0` followed by a `runtime.Unknown`
//! envelope: `typeMeta {apiVersion, kind}`, `raw` (the object's gogo-protobuf
//! bytes), `contentEncoding`, `contentType`. The object is decoded against a
//! table generated from the Go struct tags of k8s.io/api and
//! k8s.io/apimachinery (see `tools/gen_schema.py`), and written as Go's
//! `encoding/json` would write the decoded Go struct: camelCase names,
//! omitempty honoured, value fields without omitempty kept at their zero
//! value, maps with sorted keys, `[]byte` as base64, `Quantity` as its
//! string, `IntOrString` as a number or string, `Time` as RFC 3339.

mod decode;
mod schema;
mod schema_gen;
mod wire;

use serde_json::{Map, Value};

use crate::wire::{expect, Reader, LEN};

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Every protobuf-encoded object starts with these four bytes.
pub const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix \"k8s\\x00\""
    )]
    NotProtobuf,
    #[error("empty body")]
    Empty,
    #[error("Object 'Kind' is missing in protobuf envelope")]
    MissingKind,
    #[error("Object 'apiVersion' is missing in protobuf envelope")]
    MissingVersion,
    /// The kind is not one this decoder knows; the server should answer 415.
    #[error("no protobuf decoder for kind {kind:?} in version {api_version:?}")]
    UnsupportedKind { api_version: String, kind: String },
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    #[error("protobuf object nested deeper than {0} levels")]
    TooDeep(usize),
}

/// Whether a `Content-Type` header value names the Kubernetes protobuf media type.
pub fn is_protobuf_content_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Whether `decode` knows the kind.
pub fn supports(api_version: &str, kind: &str) -> bool {
    lookup(api_version, kind).is_some()
}

/// Decodes a protobuf request body into the object's JSON, with `kind` and
/// `apiVersion` taken from the envelope.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_at(body, None, 0)
}

/// Like [`decode`], but fills a missing apiVersion or kind in the envelope
/// from the request's resource, as the apiserver does.
pub fn decode_with_defaults(
    body: &[u8],
    api_version: &str,
    kind: &str,
) -> Result<Value, ProtobufError> {
    decode_at(body, Some((api_version, kind)), 0)
}

fn lookup(api_version: &str, kind: &str) -> Option<u16> {
    schema_gen::KINDS
        .binary_search_by(|&(av, k, _)| (av, k).cmp(&(api_version, kind)))
        .ok()
        .map(|i| schema_gen::KINDS[i].2)
        .or_else(|| {
            schema_gen::META_KINDS
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|&(_, i)| i)
        })
}

struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
}

fn envelope(data: &[u8]) -> Result<Envelope<'_>, ProtobufError> {
    let mut env = Envelope {
        api_version: String::new(),
        kind: String::new(),
        raw: &[],
    };
    let mut r = Reader::new(data);
    while !r.done() {
        let (num, w) = r.key()?;
        match num {
            1 => {
                expect(w, LEN, "typeMeta")?;
                let mut t = Reader::new(r.bytes()?);
                while !t.done() {
                    let (n, tw) = t.key()?;
                    match n {
                        1 | 2 => {
                            expect(tw, LEN, "typeMeta field")?;
                            let s = String::from_utf8_lossy(t.bytes()?).into_owned();
                            if n == 1 {
                                env.api_version = s;
                            } else {
                                env.kind = s;
                            }
                        }
                        _ => t.skip(tw)?,
                    }
                }
            }
            2 => {
                expect(w, LEN, "raw")?;
                env.raw = r.bytes()?;
            }
            // contentEncoding and contentType: the apiserver ignores them too.
            _ => r.skip(w)?,
        }
    }
    Ok(env)
}

pub(crate) fn decode_at(
    body: &[u8],
    defaults: Option<(&str, &str)>,
    depth: usize,
) -> Result<Value, ProtobufError> {
    if body.is_empty() {
        return Err(ProtobufError::Empty);
    }
    let data = body.strip_prefix(MAGIC).ok_or(ProtobufError::NotProtobuf)?;
    if data.is_empty() {
        return Err(ProtobufError::Empty);
    }
    let mut env = envelope(data)?;
    if let Some((api_version, kind)) = defaults {
        if env.kind.is_empty() {
            env.kind = kind.to_string();
        }
        if env.api_version.is_empty() {
            env.api_version = api_version.to_string();
        }
    }
    if env.kind.is_empty() {
        return Err(ProtobufError::MissingKind);
    }
    if env.api_version.is_empty() {
        return Err(ProtobufError::MissingVersion);
    }
    let idx =
        lookup(&env.api_version, &env.kind).ok_or_else(|| ProtobufError::UnsupportedKind {
            api_version: env.api_version.clone(),
            kind: env.kind.clone(),
        })?;
    let fields = decode::message(idx, &[env.raw], depth)?;
    // TypeMeta comes first, as in encoding/json output of the Go struct.
    let mut obj = Map::with_capacity(fields.len() + 2);
    obj.insert("kind".into(), Value::String(env.kind));
    obj.insert("apiVersion".into(), Value::String(env.api_version));
    obj.extend(fields);
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests;
