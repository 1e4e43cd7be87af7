//! `/openapi/v2` and `/openapi/v3`: documents generated from our own types and the CRDs.

use http::HeaderMap;

use crate::error::{ApiError, ApiResult};
use crate::http::{full, Response};
use crate::request::Query;
use crate::server::State;

/// The current documents, built on first use after a change to the served resources.
fn documents(state: &State) -> ApiResult<minato_openapi::OpenApi> {
    if let Some(doc) = state
        .openapi
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        return Ok(doc.clone());
    }
    let schemas = state
        .custom_schemas
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let built = minato_openapi::OpenApi::from_registry(&state.registry, &schemas)
        .map_err(|e| ApiError::internal(format!("cannot build the OpenAPI documents: {e}")))?;
    *state.openapi.write().unwrap_or_else(|e| e.into_inner()) = Some(built.clone());
    Ok(built)
}

fn json_bytes(bytes: Vec<u8>, etag: Option<&str>, immutable: bool) -> ApiResult<Response> {
    let mut b = http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some(tag) = etag {
        b = b.header(http::header::ETAG, format!("\"{tag}\""));
    }
    if immutable {
        b = b.header(http::header::CACHE_CONTROL, "public, immutable");
    } else {
        b = b.header(http::header::CACHE_CONTROL, "no-cache, private");
    }
    b.body(full(bytes))
        .map_err(|e| ApiError::internal(e.to_string()))
}

pub fn v3_index(state: &State) -> ApiResult<Response> {
    let docs = documents(state)?;
    json_bytes(docs.v3_index_bytes().to_vec(), None, false)
}

pub fn v3_document(state: &State, path: &str, query: &Query) -> ApiResult<Response> {
    let docs = documents(state)?;
    let (bytes, hash) = docs
        .v3_document(path)
        .ok_or_else(ApiError::path_not_found)?;
    // A request naming the current hash may be cached for good; the hash changes with the document.
    let immutable = query.get("hash") == Some(hash.as_str());
    json_bytes(bytes.to_vec(), Some(&hash), immutable)
}

/// The OpenAPI v2 document in gnostic's protobuf form (`openapi.v2.Document`), which is all
/// kubectl accepts for v2, and its hash.
///
/// kubectl reads v2 only for kinds the v3 documents do not describe (unknown kinds, before their
/// CRD exists), to validate them client-side, and for strategic merge metadata when v3 patching
/// is off. With no definition for a kind it skips that validation and its REST mapping then
/// reports `no matches for kind`, as against upstream.
fn v2_protobuf(state: &State) -> ApiResult<(std::sync::Arc<Vec<u8>>, String)> {
    documents(state)?
        .v2_protobuf()
        .map_err(|e| ApiError::internal(format!("cannot build the OpenAPI v2 document: {e}")))
}

pub fn v2(state: &State, headers: &HeaderMap) -> ApiResult<Response> {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let first = accept
        .split(',')
        .next()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if first == "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        || first == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    {
        let (bytes, hash) = v2_protobuf(state)?;
        return http::Response::builder()
            .status(200)
            // Go's mime parser rejects the '@' form clients ask with; upstream answers with this one.
            .header(
                http::header::CONTENT_TYPE,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )
            .header(http::header::ETAG, format!("\"{hash}\""))
            .header(http::header::CACHE_CONTROL, "no-cache, private")
            .body(full(bytes.to_vec()))
            .map_err(|e| ApiError::internal(e.to_string()));
    }
    let docs = documents(state)?;
    let (bytes, hash) = docs
        .v2_document()
        .map_err(|e| ApiError::internal(format!("cannot build the OpenAPI v2 document: {e}")))?;
    json_bytes(bytes.to_vec(), Some(&hash), false)
}
