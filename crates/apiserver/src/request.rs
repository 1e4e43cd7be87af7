//! Parsing what a request asks for: path, query parameters, media types, bodies.

use http::HeaderMap;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Query parameters; repeated keys keep every value (exec's `command=`).
#[derive(Clone, Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let pairs = q
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true") | Some("1") | Some(""))
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value {s:?} for query parameter {key}: must be an integer"
                ))
            }),
        }
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        let values = self.all("dryRun");
        for v in &values {
            if *v != "All" && !v.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "dryRun: Unsupported value: {v:?}: supported values: \"All\""
                )));
            }
        }
        Ok(values.contains(&"All"))
    }
}

/// What the client accepts for object responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    Json,
    Yaml,
    Table,
    /// Only the objects' metadata: `as=PartialObjectMetadata` (`list: false`, for get and
    /// watch) or `as=PartialObjectMetadataList` (`list: true`, for list).
    Metadata {
        list: bool,
        version: MetaVersion,
    },
}

/// The meta.k8s.io version a PartialObjectMetadata is served in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaVersion {
    V1,
    V1beta1,
}

impl MetaVersion {
    pub fn api_version(self) -> &'static str {
        match self {
            MetaVersion::V1 => "meta.k8s.io/v1",
            MetaVersion::V1beta1 => "meta.k8s.io/v1beta1",
        }
    }
}

/// The media types upstream names when it can serve none of those asked for.
const SERVED_MEDIA_TYPES: &str =
    "application/json, application/yaml, application/vnd.kubernetes.protobuf";

/// One entry of an Accept header.
struct MediaRange<'a> {
    media: String,
    q: f32,
    as_kind: Option<&'a str>,
    group: Option<&'a str>,
    version: Option<&'a str>,
}

fn media_range(part: &str) -> MediaRange<'_> {
    let mut params = part.split(';');
    let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
    let mut r = MediaRange {
        media,
        q: 1.0,
        as_kind: None,
        group: None,
        version: None,
    };
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            // An unreadable weight makes the entry unacceptable, as Go's goautoneg does.
            "q" => r.q = v.parse().unwrap_or(0.0),
            "as" => r.as_kind = Some(v),
            "g" => r.group = Some(v),
            "v" => r.version = Some(v),
            _ => {}
        }
    }
    r
}

impl MediaRange<'_> {
    /// What this entry asks for, if the server can serve it.
    fn served(&self) -> Option<Accept> {
        let json_like = matches!(
            self.media.as_str(),
            "application/json" | "*/*" | "application/*"
        );
        let Some(kind) = self.as_kind else {
            return match self.media.as_str() {
                _ if json_like => Some(Accept::Json),
                "application/yaml" => Some(Accept::Yaml),
                _ => None,
            };
        };
        let meta_group = matches!(self.group, None | Some("meta.k8s.io"));
        let version = match self.version {
            None | Some("v1") => MetaVersion::V1,
            Some("v1beta1") => MetaVersion::V1beta1,
            Some(_) => return None,
        };
        match kind {
            // Tables were always served for any media type naming them (kubectl asks in JSON).
            "Table" if meta_group => Some(Accept::Table),
            "PartialObjectMetadata" | "PartialObjectMetadataList"
                if self.group == Some("meta.k8s.io")
                    && self.version.is_some()
                    && (json_like || self.media == "application/yaml") =>
            {
                Some(Accept::Metadata {
                    list: kind == "PartialObjectMetadataList",
                    version,
                })
            }
            _ => None,
        }
    }
}

/// Negotiates the response form from the Accept header: the most preferred entry (by q, then
/// order) the server can serve. Plain media types it cannot encode (protobuf) fall back to
/// JSON as before; a header whose every entry asks for an unsupported `as=` conversion is
/// answered 406 as upstream does.
pub fn accept(headers: &HeaderMap) -> ApiResult<Accept> {
    let a = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut ranges: Vec<MediaRange> = a
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(media_range)
        .filter(|r| r.q > 0.0)
        .collect();
    if ranges.is_empty() {
        return Ok(Accept::Json);
    }
    // Stable: equal weights keep the client's order.
    ranges.sort_by(|a, b| b.q.total_cmp(&a.q));
    if let Some(found) = ranges.iter().find_map(MediaRange::served) {
        return Ok(found);
    }
    if ranges.iter().all(|r| r.as_kind.is_some()) {
        return Err(ApiError::new(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: {SERVED_MEDIA_TYPES}"),
        ));
    }
    Ok(Accept::Json)
}

/// Whether the client asked for aggregated discovery (apidiscovery.k8s.io/v2 or v2beta1).
pub fn wants_aggregated_discovery(headers: &HeaderMap) -> Option<&'static str> {
    let a = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for part in a.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        if params.first() != Some(&"application/json") {
            continue;
        }
        let has = |kv: &str| params.iter().any(|p| p.replace(' ', "") == kv);
        if has("g=apidiscovery.k8s.io") && has("as=APIGroupDiscoveryList") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Decodes an object body by its Content-Type (none means JSON, as the Python client sends).
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let ct = content_type(headers);
    match ct.as_str() {
        "" | "application/json" | "*/*" => parse_json(body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml(body),
        "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(body),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

pub fn parse_json(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

pub fn parse_yaml(body: &[u8]) -> ApiResult<Value> {
    serde_yaml::from_slice::<Value>(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")))
}

/// Paths of keys that appear twice in the same JSON object (`data.a`), for strict field
/// validation; JSON parsing itself keeps the last value silently.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct Walk<'a> {
        path: String,
        found: &'a std::cell::RefCell<Vec<String>>,
    }

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while seq
                .next_element_seed(Walk {
                    path: format!("{}[{i}]", self.path),
                    found: self.found,
                })?
                .is_some()
            {
                i += 1;
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                let path = if self.path.is_empty() {
                    key.clone()
                } else {
                    format!("{}.{key}", self.path)
                };
                if !seen.insert(key) {
                    self.found.borrow_mut().push(path.clone());
                }
                map.next_value_seed(Walk {
                    path,
                    found: self.found,
                })?;
            }
            Ok(())
        }
    }

    let found = std::cell::RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    // Malformed JSON is reported by the real parse; here it just ends the walk.
    let _ = Walk {
        path: String::new(),
        found: &found,
    }
    .deserialize(&mut de);
    found.into_inner()
}

#[cfg(test)]
mod accept_tests {
    use super::*;

    fn with(accept_header: &str) -> ApiResult<Accept> {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, accept_header.parse().unwrap());
        accept(&h)
    }

    const V1: MetaVersion = MetaVersion::V1;

    #[test]
    fn plain_and_missing_headers_are_json() {
        assert_eq!(accept(&HeaderMap::new()).unwrap(), Accept::Json);
        assert_eq!(with("application/json").unwrap(), Accept::Json);
        assert_eq!(with("*/*").unwrap(), Accept::Json);
        assert_eq!(with("application/yaml").unwrap(), Accept::Yaml);
        // protobuf is not encoded here: JSON, as before
        assert_eq!(
            with("application/vnd.kubernetes.protobuf").unwrap(),
            Accept::Json
        );
        assert_eq!(
            with("application/vnd.kubernetes.protobuf, application/json").unwrap(),
            Accept::Json
        );
    }

    #[test]
    fn kubectl_tables() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(with(kubectl).unwrap(), Accept::Table);
    }

    #[test]
    fn partial_object_metadata() {
        assert_eq!(
            with("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").unwrap(),
            Accept::Metadata {
                list: true,
                version: V1
            }
        );
        assert_eq!(
            with("application/json; as=PartialObjectMetadata; g=meta.k8s.io; v=v1beta1").unwrap(),
            Accept::Metadata {
                list: false,
                version: MetaVersion::V1beta1
            }
        );
        // client-go's metadata client: protobuf first, which is skipped for the JSON form
        let client_go = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(
            with(client_go).unwrap(),
            Accept::Metadata {
                list: true,
                version: V1
            }
        );
    }

    #[test]
    fn weights_order_the_choices() {
        let h =
            "application/json;q=0.5,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        assert_eq!(
            with(h).unwrap(),
            Accept::Metadata {
                list: false,
                version: V1
            }
        );
        let h = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1;q=0.2,application/json;q=0.9";
        assert_eq!(with(h).unwrap(), Accept::Json);
        // q=0 means "not this"
        let h = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1;q=0,application/json";
        assert_eq!(with(h).unwrap(), Accept::Json);
    }

    #[test]
    fn unsupported_conversions_fall_back_or_are_refused() {
        let h = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v2,application/json";
        assert_eq!(with(h).unwrap(), Accept::Json);
        for only in [
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v2",
            "application/json;as=PartialObjectMetadata;g=example.com;v=v1",
            "application/json;as=PartialObjectMetadata",
            "application/json;as=Unknown;g=meta.k8s.io;v=v1",
            "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        ] {
            let e = with(only).unwrap_err();
            assert_eq!(e.code, 406, "{only}");
            assert_eq!(e.reason, "NotAcceptable");
        }
    }
}
