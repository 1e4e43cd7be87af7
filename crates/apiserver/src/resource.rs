//! The generic resource path: one implementation of get, list, create, update, patch and
//! delete for every kind, with per-kind behaviour from the registry's strategies.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method};
use minato_resources::registry::{Entry, Registry};
use minato_resources::{FieldError, FieldPath};
use minato_store::{KeyValue, RangeOptions, StoreError};
use serde_json::{json, Map, Value};

use crate::auth::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::http::Response;
use crate::meta;
use crate::request::{accept, decode_body, parse_json, Accept, Query};
use crate::server::{json_response, State};

/// Which object or collection a request addresses.
#[derive(Clone)]
pub struct Route {
    pub entry: Entry,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Route {
    pub fn parse(
        registry: &Registry,
        group: &str,
        version: &str,
        rest: &[&str],
    ) -> ApiResult<Route> {
        if let ["namespaces", ns, plural, tail @ ..] = rest {
            if let Some(entry) = registry.lookup(group, version, plural) {
                if entry.info.namespaced {
                    return Self::with_tail(entry, Some(ns.to_string()), tail);
                }
            }
        }
        match rest {
            [plural, tail @ ..] => {
                let entry = registry
                    .lookup(group, version, plural)
                    .ok_or_else(ApiError::path_not_found)?;
                if entry.info.namespaced && !tail.is_empty() {
                    // A namespaced object needs its namespace in the path.
                    return Err(ApiError::path_not_found());
                }
                Self::with_tail(entry, None, tail)
            }
            [] => Err(ApiError::path_not_found()),
        }
    }

    fn with_tail(entry: Entry, namespace: Option<String>, tail: &[&str]) -> ApiResult<Route> {
        let (name, subresource) = match tail {
            [] => (None, None),
            [name] => (Some(name.to_string()), None),
            [name, sub] => {
                if entry.info.subresource(sub).is_none() {
                    return Err(ApiError::path_not_found());
                }
                (Some(name.to_string()), Some(sub.to_string()))
            }
            _ => return Err(ApiError::path_not_found()),
        };
        Ok(Route {
            entry,
            namespace,
            name,
            subresource,
        })
    }

    fn key(&self, name: &str) -> String {
        self.entry.info.key(self.namespace.as_deref(), name)
    }

    fn prefix(&self) -> String {
        match &self.namespace {
            Some(ns) if self.entry.info.namespaced => self.entry.info.namespace_prefix(ns),
            _ => self.entry.info.key_prefix(),
        }
    }
}

/// Warnings to send in `Warning` headers.
#[derive(Default)]
pub struct Warnings(pub Vec<String>);

pub fn respond(status: u16, body: &Value, warnings: &Warnings) -> Response {
    with_warnings(json_response(status, body), &warnings.0)
}

/// Dispatches a resource request by method and subresource.
pub async fn handle(
    state: &Arc<State>,
    route: Route,
    parts: Parts,
    body: Bytes,
    query: Query,
    user: UserInfo,
) -> ApiResult<Response> {
    if crate::nodeproxy::handles(&route) {
        return crate::nodeproxy::handle(state, &route, parts).await;
    }
    let info = route.entry.info.clone();
    let method = parts.method.clone();
    let headers = parts.headers;
    if !info.persisted {
        return crate::resource_virtual::handle(state, &route, &method, &headers, &body, &user)
            .await;
    }
    let mutating = method != Method::GET;
    let result = dispatch(state, &route, method, headers, body, query, user).await;
    // A CRD write changes what the server serves: apply it before answering, so a client can use
    // the new resource as soon as it is Established.
    if mutating && info.group == "apiextensions.k8s.io" && result.is_ok() {
        if let Err(e) = crate::crds::sync(state).await {
            tracing::warn!(error = %e, "cannot sync custom resource definitions");
        }
    }
    result
}

async fn dispatch(
    state: &Arc<State>,
    route: &Route,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    query: Query,
    user: UserInfo,
) -> ApiResult<Response> {
    let route = route.clone();
    let info = route.entry.info.clone();
    let sub = route.subresource.clone();
    match (method, route.name.is_some(), sub.as_deref()) {
        (Method::GET, false, None) => {
            if query.flag("watch") {
                crate::watch::watch(state, &route, &headers, &query).await
            } else {
                list(state, &route, &headers, &query).await
            }
        }
        (Method::GET, true, None) | (Method::GET, true, Some("status")) => {
            get(state, &route, &headers).await
        }
        (Method::GET, true, Some("scale")) => {
            let (obj, _) = read_required(state, &route).await?;
            Ok(respond(200, &crate::scale::to_scale(&info, &obj)?, &Warnings::default()))
        }
        (Method::POST, false, None) => create(state, &route, &headers, &body, &query, &user).await,
        (Method::POST, true, Some("token")) if info.kind == "ServiceAccount" => {
            crate::tokens::token_request(state, &route, &headers, &body, &query).await
        }
        (Method::POST, true, Some(s)) if s == "binding" || s == "eviction" => {
            crate::subresource::post(state, &route, s, &headers, &body, &query).await
        }
        (Method::PUT, true, _) => {
            let new = decode_body(&headers, &body)?;
            let duplicates = strict_duplicates(&route.entry, &headers, &body, &query)?;
            let mode = Write::Replace(new);
            let resp = write(state, &route, sub.as_deref(), mode, &query, &user, &headers).await?;
            Ok(with_warnings(resp, &duplicates))
        }
        (Method::PATCH, true, _) => {
            let ct = crate::request::content_type(&headers);
            let mode = Write::Patch {
                content_type: ct,
                body: body.to_vec(),
            };
            write(state, &route, sub.as_deref(), mode, &query, &user, &headers).await
        }
        (Method::DELETE, true, None) => delete(state, &route, &headers, &body, &query).await,
        (Method::DELETE, false, None) => {
            delete_collection(state, &route, &headers, &body, &query).await
        }
        (Method::GET, true, Some(other)) | (Method::POST, true, Some(other)) => Err(
            ApiError::bad_request(format!(
                "the {other} subresource of {} needs a node agent, which this server does not run yet",
                info.plural
            )),
        ),
        (m, _, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m})"
        ))),
    }
}

/// Decodes a stored object and stamps its resourceVersion.
pub fn from_stored(kv: &KeyValue) -> ApiResult<Value> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is corrupt: {e}", kv.key)))?;
    meta::set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

/// Converts a stored object to the version the route serves.
pub fn to_route_version(entry: &Entry, obj: Value) -> Value {
    let target = entry.info.api_version();
    if obj.get("apiVersion").and_then(Value::as_str) == Some(target.as_str()) {
        return obj;
    }
    if entry.info.storage_version || entry.info.custom {
        let mut obj = obj;
        if entry.info.custom {
            if let Some(m) = obj.as_object_mut() {
                m.insert("apiVersion".into(), json!(entry.info.api_version()));
            }
        }
        obj
    } else {
        entry.strategy.convert(obj, &entry.info.api_version())
    }
}

/// Converts an object of the route's version to the storage version.
fn to_storage_version(state: &State, entry: &Entry, obj: Value) -> Value {
    if entry.info.storage_version {
        return obj;
    }
    if let Some(storage) = state
        .registry
        .storage_entry(&entry.info.group, &entry.info.plural)
    {
        // Some strategies decode straight into the storage version (autoscaling/v1 HPAs).
        if obj.get("apiVersion").and_then(Value::as_str)
            == Some(storage.info.api_version().as_str())
        {
            return obj;
        }
    }
    match state
        .registry
        .storage_entry(&entry.info.group, &entry.info.plural)
    {
        Some(storage) if entry.info.custom => {
            let mut obj = obj;
            if let Some(m) = obj.as_object_mut() {
                m.insert("apiVersion".into(), json!(storage.info.api_version()));
            }
            obj
        }
        Some(storage) => entry.strategy.convert(obj, &storage.info.api_version()),
        None => obj,
    }
}

/// The stored object in its storage version, with its key-value.
async fn read_stored(
    state: &State,
    route: &Route,
    name: &str,
) -> ApiResult<Option<(Value, KeyValue)>> {
    let Some(kv) = state.store.get(&route.key(name)).await? else {
        return Ok(None);
    };
    let obj = from_stored(&kv)?;
    Ok(Some((obj, kv)))
}

async fn read(state: &State, route: &Route, name: &str) -> ApiResult<Option<(Value, KeyValue)>> {
    let Some(kv) = state.store.get(&route.key(name)).await? else {
        return Ok(None);
    };
    let obj = to_route_version(&route.entry, from_stored(&kv)?);
    Ok(Some((obj, kv)))
}

async fn read_required(state: &State, route: &Route) -> ApiResult<(Value, KeyValue)> {
    let name = route.name.as_deref().unwrap_or("");
    read(state, route, name)
        .await?
        .ok_or_else(|| ApiError::not_found(&route.entry.info, name))
}

async fn get(state: &State, route: &Route, headers: &HeaderMap) -> ApiResult<Response> {
    let form = accept(headers)?;
    if let Accept::Metadata { list: true, .. } = form {
        return Err(crate::table::metadata_shape_mismatch(
            &route.entry.info.kind,
            true,
        ));
    }
    let (obj, kv) = read_required(state, route).await?;
    match form {
        Accept::Table => {
            let table = crate::table::table(
                &route.entry,
                &[obj],
                &Query::default(),
                &kv.mod_revision.to_string(),
                None,
                true,
            );
            Ok(respond(200, &table, &Warnings::default()))
        }
        Accept::Metadata { version, .. } => {
            let partial = crate::table::partial_object_metadata(&obj, version);
            Ok(respond(200, &partial, &Warnings::default()))
        }
        Accept::Json | Accept::Yaml => Ok(respond(200, &obj, &Warnings::default())),
    }
}

/// Continue tokens carry the list's revision and the last key returned.
fn encode_continue(rev: i64, last_key: &str) -> String {
    use base64::Engine;
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rev, "start": last_key}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> ApiResult<(i64, String)> {
    use base64::Engine;
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: the token is malformed; start the list again without continue",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rv, start.to_string()))
}

/// Lists objects under `prefix` that pass `filter`, at most `limit` of them, starting after
/// `start_after`. Returns the items, the store revision and, when cut short, the last key.
pub async fn list_objects(
    state: &State,
    entry: &Entry,
    prefix: &str,
    filter: &Filter,
    limit: Option<usize>,
    start_after: Option<String>,
) -> ApiResult<(Vec<Value>, i64, Option<String>)> {
    let mut items = Vec::new();
    let mut start = start_after;
    let mut revision = 0;
    // Read in chunks so a selective filter still fills the page, as upstream does.
    let chunk = limit.map(|l| l.max(100)).unwrap_or(0);
    loop {
        let page = state
            .store
            .range(
                prefix,
                RangeOptions {
                    start_after: start.clone(),
                    limit: if chunk == 0 { None } else { Some(chunk) },
                },
            )
            .await?;
        if revision == 0 {
            revision = page.revision;
        }
        let n = page.kvs.len();
        for kv in &page.kvs {
            let obj = to_route_version(entry, from_stored(kv)?);
            if filter.matches(&obj) {
                items.push(obj);
                if let Some(l) = limit {
                    if items.len() >= l {
                        let more = page.more || kv.key != page.kvs[n - 1].key;
                        return Ok((items, revision, more.then(|| kv.key.clone())));
                    }
                }
            }
        }
        if !page.more || n == 0 {
            return Ok((items, revision, None));
        }
        start = page.kvs.last().map(|kv| kv.key.clone());
    }
}

/// A list at a resourceVersion the store has not reached waits briefly for it, then answers
/// 504 as upstream's watch cache does.
async fn wait_for_revision(state: &State, query: &Query) -> ApiResult<()> {
    let Some(rv) = query
        .get("resourceVersion")
        .filter(|s| !s.is_empty() && *s != "0")
    else {
        return Ok(());
    };
    let wanted: i64 = rv.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid resource version {rv:?}: resourceVersion must be an integer"
        ))
    })?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let current = state.store.current_revision().await?;
        if current >= wanted {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(ApiError::new(
                504,
                "Timeout",
                format!("Too large resource version: {wanted}, current: {current}"),
            )
            .with_details(json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1})));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn list(
    state: &State,
    route: &Route,
    headers: &HeaderMap,
    query: &Query,
) -> ApiResult<Response> {
    let info = &route.entry.info;
    let form = accept(headers)?;
    if let Accept::Metadata { list: false, .. } = form {
        return Err(crate::table::metadata_shape_mismatch(
            &info.list_kind,
            false,
        ));
    }
    if query.get("sendInitialEvents").is_some() {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            &[FieldError::forbidden(
                &FieldPath::new("sendInitialEvents"),
                "sendInitialEvents is forbidden for list",
            )],
        ));
    }
    if query.get("continue").is_none() {
        wait_for_revision(state, query).await?;
    }
    let filter = Filter::parse(
        query.get("labelSelector"),
        query.get("fieldSelector"),
        &info.group,
        &info.kind,
    )?;
    let limit = query.int("limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let (mut revision_override, start_after) = match query.get("continue").filter(|c| !c.is_empty())
    {
        Some(token) => {
            let (rv, start) = decode_continue(token)?;
            (Some(rv), Some(start))
        }
        None => (None, None),
    };
    // metadata.name=<n> inside one namespace (every kubectl wait/watch) is a single read.
    let (items, revision, last_key) = match (
        filter.fields.single_name(),
        &route.namespace,
        info.namespaced,
    ) {
        (Some(name), Some(_), true) | (Some(name), _, false) if start_after.is_none() => {
            let rev = state.store.current_revision().await?;
            let items = match read(state, route, name).await? {
                Some((obj, _)) if filter.matches(&obj) => vec![obj],
                _ => vec![],
            };
            (items, rev, None)
        }
        _ => {
            list_objects(
                state,
                &route.entry,
                &route.prefix(),
                &filter,
                limit,
                start_after,
            )
            .await?
        }
    };
    let revision = revision_override.take().unwrap_or(revision);
    let rv = revision.to_string();
    // Upstream reports how many items remain only when no selector filters the list.
    let remaining = match &last_key {
        Some(k) if filter.is_empty() => Some(state.store.count_after(&route.prefix(), k).await?),
        _ => None,
    };
    let cont = last_key.map(|k| encode_continue(revision, &k));
    if form == Accept::Table {
        let mut table =
            crate::table::table(&route.entry, &items, query, &rv, cont.as_deref(), true);
        if let Some(n) = remaining {
            table["metadata"]["remainingItemCount"] = json!(n);
        }
        return Ok(respond(200, &table, &Warnings::default()));
    }
    let mut md = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        md["continue"] = json!(c);
    }
    if let Some(n) = remaining {
        md["remainingItemCount"] = json!(n);
    }
    if let Accept::Metadata { version, .. } = form {
        let list = crate::table::partial_object_metadata_list(items, md, version);
        return Ok(respond(200, &list, &Warnings::default()));
    }
    let list = json!({
        "kind": info.list_kind,
        "apiVersion": info.api_version(),
        "metadata": md,
        "items": items,
    });
    Ok(respond(200, &list, &Warnings::default()))
}

/// `fieldValidation`: Strict, Warn (the default) or Ignore.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

pub fn field_validation(query: &Query) -> ApiResult<FieldValidation> {
    match query.get("fieldValidation") {
        None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
        Some("Strict") => Ok(FieldValidation::Strict),
        Some("Ignore") => Ok(FieldValidation::Ignore),
        Some(other) => Err(ApiError::invalid(
            "CreateOptions",
            "meta.k8s.io",
            "",
            &[FieldError::not_supported(
                &FieldPath::new("fieldValidation"),
                other,
                &["", "Ignore", "Strict", "Warn"],
            )],
        )),
    }
}

/// Checks the body decodes as the route's kind; handles unknown fields per fieldValidation.
fn decode_checked(
    entry: &Entry,
    obj: Value,
    fv: FieldValidation,
    warnings: &mut Warnings,
) -> ApiResult<Value> {
    let info = &entry.info;
    let (object, items) = decode_with_unknowns(entry, obj)?;
    if !items.is_empty() {
        match fv {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                    info.kind,
                    info.version,
                    info.kind,
                    items.join(", ")
                )))
            }
            FieldValidation::Warn => warnings.0.extend(items),
            FieldValidation::Ignore => {}
        }
    }
    Ok(object)
}

/// Decodes the result of a server-side apply. Upstream's field manager converts the applied
/// object to its schema's typed form first, and a field the schema does not declare fails
/// that whatever `fieldValidation` says, with structured-merge-diff's wording (and a 500:
/// the error is not an API status upstream).
pub(crate) fn decode_applied(entry: &Entry, obj: Value) -> ApiResult<Value> {
    let info = &entry.info;
    let decoded = decode_typed(entry, obj)?;
    if decoded.unknown_fields.is_empty() {
        return Ok(decoded.object);
    }
    let obj = &decoded.object;
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(&info.kind);
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| info.api_version());
    let gv = if api_version.contains('/') {
        api_version
    } else {
        format!("/{api_version}")
    };
    // structured-merge-diff stops at the first undeclared field of each object it walks.
    let mut parents = std::collections::HashSet::new();
    let errors: Vec<String> = decoded
        .unknown_fields
        .iter()
        .map(|f| minato_fieldmanager::schema_path(kind, obj, f))
        .filter(|p| parents.insert(p.rsplit_once('.').map(|(a, _)| a.to_string())))
        .map(|p| format!("{p}: field not declared in schema"))
        .collect();
    let body = match errors.as_slice() {
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    Err(ApiError::new(
        500,
        "",
        format!(
            "failed to create typed patch object ({}/{}; {gv}, Kind={kind}): {body}",
            meta::namespace(obj).unwrap_or(""),
            meta::name(obj).unwrap_or(""),
        ),
    ))
}

/// Decodes an object, with its unknown fields worded as the strict decoder words them.
fn decode_with_unknowns(entry: &Entry, obj: Value) -> ApiResult<(Value, Vec<String>)> {
    let decoded = decode_typed(entry, obj)?;
    let items = decoded
        .unknown_fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    Ok((decoded.object, items))
}

/// The kind's strategy decodes an object; what it cannot decode is a 400 in upstream's words.
fn decode_typed(entry: &Entry, obj: Value) -> ApiResult<minato_resources::strategy::Decoded> {
    let info = &entry.info;
    entry.strategy.decode(obj).map_err(|e| {
        let msg = e.0;
        // Strategies word their own messages when they know better; otherwise add upstream's prefix.
        if msg.contains("cannot be handled as") {
            ApiError::bad_request(msg)
        } else {
            ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: {msg}",
                info.kind, info.version, info.kind
            ))
        }
    })
}

/// How `prepare_update` treats what strict decoding finds.
struct Strictness<'a> {
    fv: FieldValidation,
    /// For a PATCH other than an apply.
    patch: Option<PatchCheck<'a>>,
    /// A server-side apply, which refuses unknown fields whatever `fv` says.
    apply: bool,
}

struct PatchCheck<'a> {
    patch_type: &'a str,
    body: &'a [u8],
    /// What the patch document itself broke (see `patch_strict::document_errors`).
    document_errors: Vec<String>,
}

/// Upstream's answer to a patch that fails strict validation: 422 naming the `patch`, whose
/// value is the patched object (a strategic merge patch shows the patch itself, as Go prints
/// it), then every problem of the document and the object.
fn strict_patch_error(
    patch_type: &str,
    patched: &Value,
    body: &[u8],
    items: &[String],
) -> ApiError {
    let shown = if patch_type == crate::patch_strict::STRATEGIC {
        serde_json::from_slice::<Value>(body)
            .map(|p| crate::patch_strict::go_print(&p))
            .unwrap_or_default()
    } else {
        serde_json::to_string(patched).unwrap_or_default()
    };
    ApiError::invalid(
        "",
        "",
        "",
        &[FieldError::invalid(
            &FieldPath::new("patch"),
            shown,
            format!("strict decoding error: {}", items.join(", ")),
        )],
    )
}

/// The apiVersion and kind in a body must be the route's (or absent).
fn check_type(entry: &Entry, obj: &mut Value, url_ns: Option<&str>) -> ApiResult<()> {
    let info = &entry.info;
    let Some(m) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the body must be a JSON object holding a {}",
            info.kind
        )));
    };
    match m.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != info.api_version() => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                info.api_version()
            )))
        }
        _ => {}
    }
    match m.get("kind").and_then(Value::as_str) {
        Some(k) if k != info.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )))
        }
        _ => {}
    }
    m.insert("apiVersion".into(), json!(info.api_version()));
    m.insert("kind".into(), json!(info.kind));
    if info.namespaced {
        if let Some(url_ns) = url_ns {
            let md = meta::meta_mut(obj);
            match md.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() && ns != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => {
                    md.insert("namespace".into(), json!(url_ns));
                }
            }
        }
    } else if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("namespace");
    }
    Ok(())
}

/// Namespaced objects need an existing, non-terminating namespace.
async fn admit_namespace(state: &State, route: &Route, name: &str) -> ApiResult<()> {
    let Some(ns) = route
        .namespace
        .as_deref()
        .filter(|_| route.entry.info.namespaced)
    else {
        return Ok(());
    };
    let key = format!("/registry/core/namespaces/{ns}");
    let Some(kv) = state.store.get(&key).await? else {
        return Err(
            ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
                .with_details(json!({"name": ns, "kind": "namespaces"})),
        );
    };
    let obj = from_stored(&kv)?;
    if meta::is_deleting(&obj) {
        return Err(ApiError::forbidden(format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            route.entry.info.qualified_plural()
        ))
        .with_details(json!({"name": name, "kind": route.entry.info.plural, "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]})));
    }
    Ok(())
}

/// Generic ObjectMeta rules every kind shares (strategies add their own).
fn validate_generic_meta(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let p = FieldPath::new("metadata");
    if meta::name(obj).is_none() {
        errs.push(FieldError::required(
            &p.child("name"),
            "name or generateName is required",
        ));
    }
    errs
}

pub(crate) async fn create(
    state: &Arc<State>,
    route: &Route,
    headers: &HeaderMap,
    body: &[u8],
    query: &Query,
    _user: &UserInfo,
) -> ApiResult<Response> {
    let obj = decode_body(headers, body)?;
    let duplicates = strict_duplicates(&route.entry, headers, body, query)?;
    let resp = create_object(state, route, obj, query, headers, false).await?;
    Ok(with_warnings(resp, &duplicates))
}

/// Duplicate keys in a JSON body: an error under `fieldValidation=Strict`, warnings under Warn.
fn strict_duplicates(
    entry: &Entry,
    headers: &HeaderMap,
    body: &[u8],
    query: &Query,
) -> ApiResult<Vec<String>> {
    let ct = crate::request::content_type(headers);
    if !(ct.is_empty() || ct == "application/json") {
        return Ok(Vec::new());
    }
    let dups = crate::request::duplicate_fields(body);
    if dups.is_empty() {
        return Ok(dups);
    }
    let items: Vec<String> = dups
        .iter()
        .map(|f| format!("duplicate field \"{f}\""))
        .collect();
    match field_validation(query)? {
        FieldValidation::Strict => {
            let info = &entry.info;
            Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                info.kind,
                info.version,
                info.kind,
                items.join(", ")
            )))
        }
        FieldValidation::Warn => Ok(items),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}

/// Adds `Warning` headers to a response.
fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let value = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    resp
}

/// Creates `obj` through the generic path. `applied` marks a server-side apply create, whose
/// managedFields the field manager already wrote.
pub(crate) async fn create_object(
    state: &Arc<State>,
    route: &Route,
    mut obj: Value,
    query: &Query,
    headers: &HeaderMap,
    applied: bool,
) -> ApiResult<Response> {
    let entry = &route.entry;
    let info = entry.info.clone();
    check_type(entry, &mut obj, route.namespace.as_deref())?;
    let fv = field_validation(query)?;
    let dry_run = query.dry_run()?;
    let mut warnings = Warnings::default();
    let obj = if applied {
        decode_applied(entry, obj)?
    } else {
        decode_checked(entry, obj, fv, &mut warnings)?
    };
    if info.namespaced && route.namespace.is_none() {
        return Err(ApiError::bad_request(
            "the namespace of the object must be given in the request path (/namespaces/<ns>/...)",
        ));
    }
    let generate_name = meta::meta_str(&obj, "generateName").map(str::to_string);
    let explicit_name = meta::name(&obj).is_some();
    for attempt in 0..5 {
        let mut candidate = obj.clone();
        {
            let md = meta::meta_mut(&mut candidate);
            if !explicit_name {
                if let Some(prefix) = &generate_name {
                    md.insert(
                        "name".into(),
                        json!(format!("{prefix}{}", meta::random_suffix(5))),
                    );
                }
            }
            md.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            md.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
            md.remove("resourceVersion");
            md.remove("deletionTimestamp");
            md.remove("deletionGracePeriodSeconds");
            md.remove("selfLink");
            if !applied {
                md.remove("managedFields");
            }
            if entry.strategy.tracks_generation() {
                md.insert("generation".into(), json!(1));
            } else {
                md.remove("generation");
            }
        }
        entry.strategy.apply_defaults(&mut candidate);
        entry.strategy.prepare_for_create(&mut candidate);
        crate::admission::admit_create(state, &info.group, &info.kind, &mut candidate).await?;
        let mut errs = validate_generic_meta(&candidate);
        if errs.is_empty() {
            errs = entry.strategy.validate(&candidate);
        }
        let name = meta::name(&candidate).unwrap_or("").to_string();
        if !errs.is_empty() {
            return Err(ApiError::invalid(&info.kind, &info.group, &name, &errs));
        }
        admit_namespace(state, route, &name).await?;
        if !applied {
            crate::fieldmanager::record_update(
                &mut candidate,
                None,
                &crate::fieldmanager::manager(query, headers),
                &info.api_version(),
                None,
            );
        }
        let allocated = crate::alloc::admit_create(state, entry, &mut candidate, dry_run)?;
        warnings.0.extend(entry.strategy.warnings(&candidate));
        if dry_run {
            return Ok(respond(201, &to_route_version(entry, candidate), &warnings));
        }
        let mut stored = to_storage_version(state, entry, candidate.clone());
        meta::strip_resource_version(&mut stored);
        let bytes = serde_json::to_vec(&stored).map_err(|e| ApiError::internal(e.to_string()))?;
        match state.store.create(&route.key(&name), bytes).await {
            Ok(kv) => {
                let mut out = to_route_version(entry, candidate);
                meta::set_resource_version(&mut out, kv.mod_revision);
                return Ok(respond(201, &out, &warnings));
            }
            Err(StoreError::AlreadyExists(_)) => {
                crate::alloc::release(state, &allocated);
                if explicit_name || generate_name.is_none() || attempt == 4 {
                    return Err(ApiError::already_exists(&info, &name));
                }
            }
            Err(e) => {
                crate::alloc::release(state, &allocated);
                return Err(e.into());
            }
        }
    }
    Err(ApiError::internal("could not generate a unique name"))
}

/// How a write changes the current object.
pub enum Write {
    /// PUT: the body replaces the object.
    Replace(Value),
    /// PATCH of the given media type.
    Patch { content_type: String, body: Vec<u8> },
}

/// The object a write produces from the current one (before the generic rules apply).
fn apply_write(
    route: &Route,
    sub: Option<&str>,
    current: &Value,
    mode: &Write,
    query: &Query,
    manager: &str,
) -> ApiResult<(Value, Option<String>)> {
    let kind = route.entry.info.kind.as_str();
    match mode {
        Write::Replace(new) => {
            let rv = meta::meta_str(new, "resourceVersion")
                .map(str::to_string)
                .filter(|s| !s.is_empty());
            Ok((new.clone(), rv))
        }
        Write::Patch { content_type, body } => {
            let patch_type = content_type.as_str();
            if patch_type == "application/apply-patch+yaml" {
                let applied = crate::request::parse_yaml(body)?;
                if let (Some(n), Some(url)) = (meta::name(&applied), route.name.as_deref()) {
                    if n != url {
                        return Err(ApiError::bad_request(format!(
                            "the name of the object ({n}) does not match the name on the URL ({url})"
                        )));
                    }
                }
                let force = query.flag("force");
                let merged = crate::fieldmanager::apply(
                    kind,
                    current,
                    &applied,
                    manager,
                    force,
                    &route.entry.info.api_version(),
                    sub,
                )?;
                return Ok((merged, None));
            }
            let patch = parse_json(body)?;
            let rv = patch
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            let out = match patch_type {
                "application/strategic-merge-patch+json" => {
                    if route.entry.info.custom {
                        return Err(ApiError::new(415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources; use --type=merge or --type=json"));
                    }
                    minato_patch::strategic::strategic_merge(kind, current, &patch)
                        .map_err(patch_error)?
                }
                "application/merge-patch+json" => minato_patch::merge::merge_patch(current, &patch),
                "application/json-patch+json" => {
                    minato_patch::json::json_patch(current, &patch).map_err(patch_error)?
                }
                other => return Err(ApiError::unsupported_media_type(other)),
            };
            Ok((out, rv))
        }
    }
}

/// A patch failure as upstream's patch handler answers it.
fn patch_error(e: minato_patch::PatchError) -> ApiError {
    ApiError::new(e.status_code(), e.reason(), e.status_message())
}

/// Carries over what a client may not change and applies the subresource rules.
#[allow(clippy::too_many_arguments)]
fn prepare_update(
    state: &State,
    entry: &Entry,
    sub: Option<&str>,
    old: &Value,
    mut new: Value,
    url_name: &str,
    url_ns: Option<&str>,
    strict: &Strictness,
    warnings: &mut Warnings,
) -> ApiResult<Value> {
    let info = &entry.info;
    check_type(entry, &mut new, url_ns)?;
    match meta::name(&new) {
        Some(n) if n != url_name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({url_name})"
            )))
        }
        _ => {
            meta::meta_mut(&mut new).insert("name".into(), json!(url_name));
        }
    }
    // Every hook below sees the storage version, as `old` is.
    let decoded = match &strict.patch {
        None if strict.apply => decode_applied(entry, new)?,
        None => decode_checked(entry, new, strict.fv, warnings)?,
        Some(_) if strict.fv == FieldValidation::Ignore => decode_with_unknowns(entry, new)?.0,
        Some(p) => {
            // Upstream shows the patched object in a strict error: keep it only when one is due.
            let shown = (strict.fv == FieldValidation::Strict).then(|| new.clone());
            let (object, mut unknown) = decode_with_unknowns(entry, new)?;
            if p.patch_type == crate::patch_strict::STRATEGIC {
                // Upstream's converter reports a strategic patch's unknown fields sorted.
                unknown.sort();
            }
            let items: Vec<String> = p.document_errors.iter().cloned().chain(unknown).collect();
            match (&shown, items.is_empty()) {
                (_, true) => {}
                (Some(patched), false) => {
                    return Err(strict_patch_error(p.patch_type, patched, p.body, &items))
                }
                (None, false) => warnings.0.extend(items),
            }
            object
        }
    };
    let mut new = to_storage_version(state, entry, decoded);
    // Server-owned metadata.
    let old_meta = meta::meta(old).cloned().unwrap_or_default();
    {
        let md = meta::meta_mut(&mut new);
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(k) {
                Some(v) => {
                    md.insert(k.into(), v.clone());
                }
                None => {
                    md.remove(k);
                }
            }
        }
        md.remove("resourceVersion");
        md.remove("selfLink");
    }
    match sub {
        Some("finalize") => {
            // The namespace finalize subresource changes only spec.finalizers.
            let finalizers = new.pointer("/spec/finalizers").cloned();
            let mut merged = old.clone();
            meta::strip_resource_version(&mut merged);
            if let Some(m) = merged.as_object_mut() {
                let spec = m.entry("spec").or_insert_with(|| json!({}));
                if let Some(spec) = spec.as_object_mut() {
                    match finalizers {
                        Some(f) => {
                            spec.insert("finalizers".into(), f);
                        }
                        None => {
                            spec.remove("finalizers");
                        }
                    }
                }
            }
            new = merged;
        }
        Some("status") => {
            // A status write changes only the status, managedFields and the metadata fields the
            // kind's status strategy lets through.
            let status = new.get("status").cloned();
            let managed = meta::meta(&new)
                .and_then(|m| m.get("managedFields"))
                .cloned();
            let mut merged = old.clone();
            meta::strip_resource_version(&mut merged);
            for k in entry.strategy.status_writable_metadata() {
                let v = meta::meta(&new).and_then(|m| m.get(*k)).cloned();
                let md = meta::meta_mut(&mut merged);
                match v {
                    Some(v) => {
                        md.insert((*k).into(), v);
                    }
                    None => {
                        md.remove(*k);
                    }
                }
            }
            if let Some(m) = merged.as_object_mut() {
                match status {
                    Some(s) => {
                        m.insert("status".into(), s);
                    }
                    None => {
                        m.remove("status");
                    }
                }
            }
            if let Some(mf) = managed {
                meta::meta_mut(&mut merged).insert("managedFields".into(), mf);
            }
            new = merged;
        }
        _ if info.has_status => {
            if let Some(m) = new.as_object_mut() {
                match old.get("status") {
                    Some(s) => {
                        m.insert("status".into(), s.clone());
                    }
                    None => {
                        m.remove("status");
                    }
                }
            }
        }
        _ => {}
    }
    entry.strategy.apply_defaults(&mut new);
    if sub.is_none() {
        entry.strategy.prepare_for_update(&mut new, old);
    }
    if entry.strategy.tracks_generation() && meta::spec_differs(&new, old) {
        let g = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta::meta_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    let mut errs = Vec::new();
    if meta::namespace(&new) != meta::namespace(old) {
        errs.push(FieldError::invalid(
            &FieldPath::new("metadata.namespace"),
            meta::namespace(&new).unwrap_or(""),
            "field is immutable",
        ));
    }
    if errs.is_empty() {
        errs = if sub == Some("status") {
            status_metadata_errors(&new, old)
                .into_iter()
                .chain(entry.strategy.validate_status_update(&new, old))
                .collect()
        } else if sub == Some("finalize") {
            Vec::new()
        } else {
            entry.strategy.validate_update(&new, old)
        };
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid(&info.kind, &info.group, url_name, &errs));
    }
    warnings.0.extend(entry.strategy.warnings(&new));
    Ok(new)
}

/// The metadata rules every update is checked against (upstream's `validateCommonFields` in
/// `BeforeUpdate`), for status writes, whose strategies check only the status.
fn status_metadata_errors(new: &Value, old: &Value) -> Vec<FieldError> {
    use minato_resources::kinds::meta::{validate_finalizers, validate_object_meta_update};
    let null = Value::Null;
    let path = FieldPath::new("metadata");
    let new_meta = new.get("metadata").unwrap_or(&null);
    let mut errs =
        validate_object_meta_update(new_meta, old.get("metadata").unwrap_or(&null), &path);
    if let Some(f) = new_meta.get("finalizers") {
        errs.extend(validate_finalizers(f, &path.child("finalizers")));
    }
    errs
}

/// Upstream deletes an object on update once it is marked for deletion, its finalizers are gone
/// and no grace period remains.
fn should_delete_on_update(obj: &Value) -> bool {
    meta::is_deleting(obj)
        && meta::finalizers(obj).is_empty()
        && meta::meta(obj)
            .and_then(|m| m.get("deletionGracePeriodSeconds"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
        && !(obj.get("kind").and_then(Value::as_str) == Some("Namespace")
            && obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()))
}

/// PUT or PATCH of an object or its status/scale subresource, with optimistic concurrency.
pub async fn write(
    state: &Arc<State>,
    route: &Route,
    sub: Option<&str>,
    mode: Write,
    query: &Query,
    _user: &UserInfo,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let entry = &route.entry;
    let info = entry.info.clone();
    let name = route.name.clone().unwrap_or_default();
    let fv = field_validation(query)?;
    let dry_run = query.dry_run()?;
    let manager = crate::fieldmanager::manager(query, headers);
    let is_apply = matches!(&mode, Write::Patch { content_type, .. } if content_type == "application/apply-patch+yaml");
    if is_apply && query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            &[FieldError::required(
                &FieldPath::new("fieldManager"),
                "is required for apply patch",
            )],
        ));
    }
    // The client's view is the route's version; strategies, comparisons and the store work on
    // the storage version. `view` and `out` convert between them.
    let view_of = |obj: Value, rv: i64| -> ApiResult<Value> {
        let mut out = to_route_version(entry, obj);
        meta::set_resource_version(&mut out, rv);
        if sub == Some("scale") {
            crate::scale::to_scale(&info, &out)
        } else {
            Ok(out)
        }
    };
    let strictness = Strictness {
        fv,
        patch: match &mode {
            Write::Patch { content_type, body } if !is_apply => Some(PatchCheck {
                patch_type: content_type,
                body,
                document_errors: if fv == FieldValidation::Ignore {
                    Vec::new()
                } else {
                    crate::patch_strict::document_errors(content_type, body)
                },
            }),
            _ => None,
        },
        apply: is_apply,
    };
    for _attempt in 0..16 {
        let mut warnings = Warnings::default();
        let Some((old, kv)) = read_stored(state, route, &name).await? else {
            // Server-side apply creates; so does PUT for kinds that allow it (none here yet).
            if is_apply && sub.is_none() {
                if let Write::Patch { body, .. } = &mode {
                    return crate::fieldmanager::apply_create(
                        state, route, body, query, &manager, headers,
                    )
                    .await;
                }
            }
            return Err(ApiError::not_found(&info, &name));
        };
        let view = to_route_version(entry, old.clone());
        // The scale subresource reads and writes a Scale object mapped onto the parent.
        let scale_mode = sub == Some("scale");
        let (base, scale_parent) = if scale_mode {
            (crate::scale::to_scale(&info, &view)?, Some(view))
        } else {
            (view, None)
        };
        let (mut patched, precondition) = apply_write(route, sub, &base, &mode, query, &manager)?;
        if let Some(rv) = &precondition {
            if *rv != kv.mod_revision.to_string() {
                return Err(ApiError::conflict(&info, &name));
            }
        }
        if let Some(parent) = &scale_parent {
            patched = crate::scale::from_scale(&info, parent, &patched)?;
        }
        let effective_sub = if scale_mode { None } else { sub };
        // `old` itself becomes the comparison copy (answers set the resourceVersion again).
        let mut old_cmp = old;
        meta::strip_resource_version(&mut old_cmp);
        let mut new = prepare_update(
            state,
            entry,
            effective_sub,
            &old_cmp,
            patched,
            &name,
            route.namespace.as_deref(),
            &strictness,
            &mut warnings,
        )?;
        if !is_apply {
            record_update_in_route_version(
                entry,
                &mut new,
                &old_cmp,
                &manager,
                effective_sub.or(sub),
            );
        }
        if new == old_cmp {
            // A no-op write changes nothing, not even the resourceVersion.
            return Ok(respond(200, &view_of(old_cmp, kv.mod_revision)?, &warnings));
        }
        crate::alloc::admit_update(state, entry, &old_cmp, &mut new)?;
        if dry_run {
            return Ok(respond(200, &view_of(new, kv.mod_revision)?, &warnings));
        }
        if should_delete_on_update(&new) {
            match state
                .store
                .delete(&route.key(&name), Some(kv.mod_revision))
                .await
            {
                Ok(del) => {
                    crate::alloc::release_object(state, entry, &new);
                    return Ok(respond(200, &view_of(new, del.mod_revision)?, &warnings));
                }
                Err(StoreError::Conflict { .. }) if precondition.is_none() => continue,
                Err(StoreError::Conflict { .. }) => return Err(ApiError::conflict(&info, &name)),
                Err(e) => return Err(e.into()),
            }
        }
        let bytes = serde_json::to_vec(&new).map_err(|e| ApiError::internal(e.to_string()))?;
        match state
            .store
            .update(&route.key(&name), bytes, kv.mod_revision)
            .await
        {
            Ok(kv2) => return Ok(respond(200, &view_of(new, kv2.mod_revision)?, &warnings)),
            Err(StoreError::Conflict { .. }) if precondition.is_none() => continue,
            Err(StoreError::Conflict { .. }) => return Err(ApiError::conflict(&info, &name)),
            Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(&info, &name)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(&info, &name))
}

/// Records an update in managedFields. The field sets name the fields of the version the client
/// wrote (as upstream's field manager does), so a write through a version served by conversion
/// is recorded on that version's view of both objects; `new` and `old` are in storage version.
fn record_update_in_route_version(
    entry: &Entry,
    new: &mut Value,
    old: &Value,
    manager: &str,
    sub: Option<&str>,
) {
    let api_version = entry.info.api_version();
    if entry.info.storage_version || entry.info.custom {
        crate::fieldmanager::record_update(new, Some(old), manager, &api_version, sub);
        return;
    }
    let mut view_new = to_route_version(entry, new.clone());
    let view_old = to_route_version(entry, old.clone());
    crate::fieldmanager::record_update(&mut view_new, Some(&view_old), manager, &api_version, sub);
    let managed = meta::meta(&view_new)
        .and_then(|m| m.get("managedFields"))
        .cloned();
    let md = meta::meta_mut(new);
    match managed {
        Some(mf) => {
            md.insert("managedFields".into(), mf);
        }
        None => {
            md.remove("managedFields");
        }
    }
}

/// DeleteOptions from the body (JSON; the Python client sends none) and the query.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub grace_period: Option<i64>,
    /// `dryRun: ["All"]` in the body (kubectl sends it there for `delete --dry-run=server`).
    pub dry_run: bool,
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

pub fn delete_options(headers: &HeaderMap, body: &[u8], query: &Query) -> ApiResult<DeleteOptions> {
    let mut o = DeleteOptions::default();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v = decode_body(headers, body)?;
        o.grace_period = v.get("gracePeriodSeconds").and_then(Value::as_i64);
        o.propagation = v
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string);
        if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            o.propagation = Some("Orphan".into());
        }
        o.precondition_uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.precondition_rv = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(list) = v.get("dryRun").and_then(Value::as_array) {
            for d in list {
                match d.as_str() {
                    Some("All") => o.dry_run = true,
                    Some("") => {}
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "dryRun: Unsupported value: {:?}: supported values: \"All\"",
                            other.unwrap_or("")
                        )))
                    }
                }
            }
        }
    }
    if let Some(g) = query.int("gracePeriodSeconds")? {
        o.grace_period = Some(g);
    }
    if let Some(p) = query.get("propagationPolicy") {
        o.propagation = Some(p.to_string());
    }
    if query.get("orphanDependents") == Some("true") {
        o.propagation = Some("Orphan".into());
    }
    if let Some(p) = &o.propagation {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            return Err(ApiError::invalid(
                "DeleteOptions",
                "",
                "",
                &[FieldError::not_supported(
                    &FieldPath::new("propagationPolicy"),
                    p.as_str(),
                    &["Foreground", "Background", "Orphan"],
                )],
            ));
        }
    }
    Ok(o)
}

fn delete_status(info: &minato_resources::ResourceInfo, obj: &Value) -> Value {
    let mut details = json!({"name": meta::name(obj).unwrap_or(""), "kind": info.plural});
    if !info.group.is_empty() {
        details["group"] = json!(info.group);
    }
    if let Some(uid) = meta::meta_str(obj, "uid") {
        details["uid"] = json!(uid);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// Deletes one object: graceful for pods, via finalizers when any are pending.
pub async fn delete_object(
    state: &State,
    route: &Route,
    name: &str,
    opts: &DeleteOptions,
    dry_run: bool,
) -> ApiResult<(u16, Value)> {
    let entry = &route.entry;
    let info = &entry.info;
    for _ in 0..16 {
        let (old, kv) = read(state, route, name)
            .await?
            .ok_or_else(|| ApiError::not_found(info, name))?;
        if let Some(uid) = &opts.precondition_uid {
            let actual = meta::meta_str(&old, "uid").unwrap_or("");
            if uid != actual {
                return Err(ApiError::conflict_message(info, name, &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}")));
            }
        }
        if let Some(rv) = &opts.precondition_rv {
            if *rv != kv.mod_revision.to_string() {
                return Err(ApiError::conflict_message(info, name, &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}", kv.mod_revision)));
            }
        }
        let mut new = old.clone();
        meta::strip_resource_version(&mut new);
        let mut finalizers = meta::finalizers(&old);
        match opts.propagation.as_deref() {
            Some("Foreground") if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
                finalizers.retain(|f| f != "orphan");
                finalizers.push("foregroundDeletion".into());
            }
            Some("Orphan") if !finalizers.iter().any(|f| f == "orphan") => {
                finalizers.retain(|f| f != "foregroundDeletion");
                finalizers.push("orphan".into());
            }
            Some("Background") => finalizers.retain(|f| f != "orphan" && f != "foregroundDeletion"),
            _ => {}
        }
        // Pods bound to a node end gracefully: the node agent confirms with a grace-0 delete.
        let is_pod = info.group.is_empty() && info.kind == "Pod";
        let bound = old
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let grace = if is_pod && bound {
            opts.grace_period
                .or_else(|| {
                    old.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(30)
                .max(0)
        } else {
            0
        };
        let is_namespace = info.group.is_empty() && info.kind == "Namespace";
        let ns_finalizers = is_namespace
            && old
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
        let needs_update = grace > 0 || !finalizers.is_empty() || ns_finalizers;
        if needs_update {
            let already = meta::is_deleting(&old);
            let current_grace = meta::meta(&old)
                .and_then(|m| m.get("deletionGracePeriodSeconds"))
                .and_then(Value::as_i64);
            {
                let md = meta::meta_mut(&mut new);
                let shorten = current_grace.is_none_or(|g| grace < g);
                if !already || shorten {
                    let ts = chrono::Utc::now() + chrono::Duration::seconds(grace);
                    md.insert(
                        "deletionTimestamp".into(),
                        json!(ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                    );
                    md.insert("deletionGracePeriodSeconds".into(), json!(grace));
                }
                if finalizers.is_empty() {
                    md.remove("finalizers");
                } else {
                    md.insert("finalizers".into(), json!(finalizers));
                }
            }
            if is_namespace {
                if let Some(m) = new.as_object_mut() {
                    let status = m.entry("status").or_insert_with(|| json!({}));
                    status["phase"] = json!("Terminating");
                }
            }
            if should_delete_on_update(&new) {
                // Fall through to an immediate delete (finalizers were all removed).
            } else {
                let mut old_cmp = old.clone();
                meta::strip_resource_version(&mut old_cmp);
                if new == old_cmp {
                    return Ok((200, old));
                }
                if dry_run {
                    return Ok((200, new));
                }
                let stored = to_storage_version(state, entry, new.clone());
                let bytes =
                    serde_json::to_vec(&stored).map_err(|e| ApiError::internal(e.to_string()))?;
                match state
                    .store
                    .update(&route.key(name), bytes, kv.mod_revision)
                    .await
                {
                    Ok(kv2) => {
                        meta::set_resource_version(&mut new, kv2.mod_revision);
                        return Ok((200, new));
                    }
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(info, name)),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if dry_run {
            return Ok((200, delete_status(info, &old)));
        }
        match state
            .store
            .delete(&route.key(name), Some(kv.mod_revision))
            .await
        {
            Ok(del) => {
                crate::alloc::release_object(state, entry, &old);
                let mut out = old;
                meta::set_resource_version(&mut out, del.mod_revision);
                let returns_object = info.group.is_empty()
                    && matches!(
                        info.kind.as_str(),
                        "Pod" | "Service" | "ServiceAccount" | "Namespace"
                    );
                return Ok((
                    200,
                    if returns_object {
                        out
                    } else {
                        delete_status(info, &out)
                    },
                ));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(info, name)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(info, name))
}

async fn delete(
    state: &State,
    route: &Route,
    headers: &HeaderMap,
    body: &[u8],
    query: &Query,
) -> ApiResult<Response> {
    let opts = delete_options(headers, body, query)?;
    let dry_run = query.dry_run()? || opts.dry_run;
    let name = route.name.clone().unwrap_or_default();
    let (code, out) = delete_object(state, route, &name, &opts, dry_run).await?;
    Ok(respond(code, &out, &Warnings::default()))
}

async fn delete_collection(
    state: &State,
    route: &Route,
    headers: &HeaderMap,
    body: &[u8],
    query: &Query,
) -> ApiResult<Response> {
    let info = &route.entry.info;
    if !info.has_verb("deletecollection") {
        return Err(ApiError::method_not_allowed(format!(
            "deletecollection is not supported on {}",
            info.plural
        )));
    }
    let opts = delete_options(headers, body, query)?;
    let dry_run = query.dry_run()? || opts.dry_run;
    let filter = Filter::parse(
        query.get("labelSelector"),
        query.get("fieldSelector"),
        &info.group,
        &info.kind,
    )?;
    let (items, rev, _) =
        list_objects(state, &route.entry, &route.prefix(), &filter, None, None).await?;
    let mut deleted = Vec::new();
    for item in items {
        let name = meta::name(&item).unwrap_or("").to_string();
        let ns = meta::namespace(&item).map(str::to_string);
        let r = Route {
            namespace: ns.or(route.namespace.clone()),
            name: Some(name.clone()),
            ..route.clone()
        };
        match delete_object(state, &r, &name, &opts, dry_run).await {
            Ok((_, obj)) => deleted.push(obj),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({"kind": info.list_kind, "apiVersion": info.api_version(), "metadata": {"resourceVersion": rev.to_string()}, "items": deleted});
    Ok(respond(200, &list, &Warnings::default()))
}

/// Sets a top-level field of an object map.
pub fn set_field(obj: &mut Value, key: &str, value: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert(key.to_string(), value);
    } else {
        let mut m = Map::new();
        m.insert(key.to_string(), value);
        *obj = Value::Object(m);
    }
}
