//! Protobuf request bodies (kubectl 1.32+ typed clients send them; there is no fallback).

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

pub fn decode(body: &[u8]) -> ApiResult<Value> {
    minato_protobuf::decode(body).map_err(|e| match e {
        minato_protobuf::ProtobufError::UnsupportedKind { .. } => ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("{e}; send this kind as application/json"),
        ),
        other => ApiError::bad_request(format!(
            "the protobuf request body could not be decoded: {other}"
        )),
    })
}
