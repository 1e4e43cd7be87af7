//! Field ownership (`metadata.managedFields`) and server-side apply, through
//! `minato-fieldmanager`.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::http::Response;
use crate::request::Query;
use crate::resource::Route;
use crate::server::State;

fn kind_of(obj: &Value) -> String {
    obj.get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Records that `manager` wrote `obj` (from `old`, or created it), in managedFields.
pub fn record_update(
    obj: &mut Value,
    old: Option<&Value>,
    manager: &str,
    api_version: &str,
    sub: Option<&str>,
) {
    let kind = kind_of(obj);
    minato_fieldmanager::update_managed_fields(
        &kind,
        old,
        obj,
        manager,
        api_version,
        sub,
        &crate::meta::now_rfc3339(),
    );
}

fn apply_error(e: minato_fieldmanager::ApplyError) -> ApiError {
    match e {
        minato_fieldmanager::ApplyError::Conflicts { message, causes } => {
            let causes: Vec<Value> = causes
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message, "field": c.field}))
                .collect();
            ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
        }
        minato_fieldmanager::ApplyError::Invalid(m) => ApiError::bad_request(m),
    }
}

/// Merges an applied configuration into the live object (server-side apply).
pub fn apply(
    kind: &str,
    current: &Value,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    _sub: Option<&str>,
) -> ApiResult<Value> {
    let mut live = current.clone();
    crate::meta::strip_resource_version(&mut live);
    minato_fieldmanager::apply(
        kind,
        Some(&live),
        applied,
        manager,
        force,
        api_version,
        &crate::meta::now_rfc3339(),
    )
    .map_err(apply_error)
}

/// Server-side apply of an object that does not exist yet: a create owned by the applier.
pub async fn apply_create(
    state: &Arc<State>,
    route: &Route,
    body: &[u8],
    query: &Query,
    manager: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let applied = crate::request::parse_yaml(body)?;
    let info = &route.entry.info;
    let mut obj = minato_fieldmanager::apply(
        &info.kind,
        None,
        &applied,
        manager,
        query.flag("force"),
        &info.api_version(),
        &crate::meta::now_rfc3339(),
    )
    .map_err(apply_error)?;
    if let Some(name) = &route.name {
        crate::meta::meta_mut(&mut obj).insert("name".into(), Value::String(name.clone()));
    }
    let create_route = Route {
        name: None,
        ..route.clone()
    };
    crate::resource::create_object(state, &create_route, obj, query, headers, true).await
}

/// The manager a write is recorded under: `fieldManager`, else the User-Agent's program name.
pub fn manager(query: &Query, headers: &HeaderMap) -> String {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let ua = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    minato_fieldmanager::manager_from_user_agent(ua)
}
