//! Watch: chunked streams of `{"type","object"}` events, resumable from any retained
//! resourceVersion, with selector transitions, bookmarks and timeouts as upstream.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::HeaderMap;
use minato_resources::registry::Entry;
use minato_store::{Event, KeyValue, StoreError};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::http::{streaming, Response};
use crate::meta;
use crate::request::{accept, Accept, Query};
use crate::resource::{list_objects, Route};
use crate::server::State;
use crate::stored_view;
use crate::watch_cache::{encode_line, encode_metadata_line, LineForm, WatchCache};

/// How often an idle watch with `allowWatchBookmarks` gets a bookmark.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

struct Encoder {
    route: Route,
    form: Accept,
    query: Query,
    headers_sent: bool,
}

impl Encoder {
    /// The form live lines take in the shared cache; `None` for Tables, which carry
    /// per-watcher state (headers on the first event only) and are encoded here.
    fn line_form(&self) -> Option<LineForm> {
        match self.form {
            Accept::Table => None,
            Accept::Metadata { version, .. } => Some(LineForm::Metadata(version)),
            Accept::Json | Accept::Yaml => Some(LineForm::Object),
        }
    }

    fn event(&mut self, kind: &str, obj: &Value) -> Bytes {
        match self.line_form() {
            Some(LineForm::Object) => encode_line(kind, obj),
            Some(LineForm::Metadata(version)) => encode_metadata_line(kind, obj, version),
            None => {
                let rv = meta::meta_str(obj, "resourceVersion")
                    .unwrap_or("")
                    .to_string();
                let t = crate::table::table(
                    &self.route.entry,
                    std::slice::from_ref(obj),
                    &self.query,
                    &rv,
                    None,
                    !self.headers_sent,
                );
                self.headers_sent = true;
                encode_line(kind, &t)
            }
        }
    }

    /// A live event for the stored object `kv`: JSON lines come from the shared cache (one
    /// encoding per write and form); `None` when the stored object cannot be read.
    fn live_event(
        &mut self,
        cache: &WatchCache,
        kv: &KeyValue,
        kind: &'static str,
    ) -> Option<Bytes> {
        match self.line_form() {
            Some(form) => cache.line(&self.route.entry, kv, kind, form),
            None => {
                let obj = cache.object(&self.route.entry, kv)?;
                Some(self.event(kind, &obj))
            }
        }
    }

    fn bookmark(&self, rev: i64, initial_end: bool) -> Bytes {
        let info = &self.route.entry.info;
        let mut md = json!({"resourceVersion": rev.to_string()});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        // A metadata watch gets its bookmarks as PartialObjectMetadata too, as upstream
        // converts every event object.
        let obj = match self.form {
            Accept::Metadata { version, .. } => {
                json!({"kind": "PartialObjectMetadata", "apiVersion": version.api_version(), "metadata": md})
            }
            _ => json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": md}),
        };
        encode_line("BOOKMARK", &obj)
    }
}

fn error_event(e: &ApiError) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub async fn watch(
    state: &Arc<State>,
    route: &Route,
    headers: &HeaderMap,
    query: &Query,
) -> ApiResult<Response> {
    let info = route.entry.info.clone();
    let form = accept(headers)?;
    // Watch events carry single objects.
    if let Accept::Metadata { list: true, .. } = form {
        return Err(crate::table::metadata_shape_mismatch(&info.kind, true));
    }
    let filter = Filter::parse(
        query.get("labelSelector"),
        query.get("fieldSelector"),
        &info.group,
        &info.kind,
    )?;
    let timeout = match query.int("timeoutSeconds")? {
        Some(t) if t > 0 => Duration::from_secs(t as u64),
        _ => {
            use rand::Rng;
            Duration::from_secs(rand::rng().random_range(1800..3600))
        }
    };
    let bookmarks = query.flag("allowWatchBookmarks");
    let send_initial = query.get("sendInitialEvents") == Some("true");
    if send_initial && !bookmarks {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            &[minato_resources::FieldError::forbidden(
                &minato_resources::FieldPath::new("allowWatchBookmarks"),
                "sendInitialEvents requires setting allowWatchBookmarks to true",
            )],
        ));
    }
    let rv_param = query
        .get("resourceVersion")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let prefix = match &route.namespace {
        Some(ns) if info.namespaced => info.namespace_prefix(ns),
        _ => info.key_prefix(),
    };
    let mut enc = Encoder {
        route: route.clone(),
        form,
        query: query.clone(),
        headers_sent: false,
    };

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let initial_state = rv_param.is_none() || rv_param.as_deref() == Some("0") || send_initial;
    let start_rev: i64;
    let mut initial: Vec<Value> = Vec::new();
    if initial_state {
        let (items, rev, _) =
            list_objects(state, &route.entry, &prefix, &filter, None, None).await?;
        start_rev = rev;
        initial = items;
    } else {
        start_rev = rv_param
            .as_deref()
            .unwrap_or("0")
            .parse::<i64>()
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resource version {:?}: resourceVersion must be an integer",
                    rv_param.as_deref().unwrap_or("")
                ))
            })?;
    }
    let stream = match state.store.watch(&prefix, start_rev).await {
        Ok(s) => Some(s),
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            // Upstream answers 200 and then an ERROR event carrying 410 Expired.
            let e = ApiError::gone(format!(
                "too old resource version: {requested} ({compacted})"
            ));
            let _ = tx.send(Ok(error_event(&e))).await;
            None
        }
        Err(e) => return Err(e.into()),
    };

    let entry = route.entry.clone();
    let state = state.clone();
    tokio::spawn(async move {
        let Some(mut stream) = stream else { return };
        for obj in &initial {
            if tx.send(Ok(enc.event("ADDED", obj))).await.is_err() {
                return;
            }
        }
        if send_initial && tx.send(Ok(enc.bookmark(start_rev, true))).await.is_err() {
            return;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_rev = start_rev;
        let paths = filter.paths();
        loop {
            let next = tokio::time::timeout_at(
                std::cmp::min(deadline, tokio::time::Instant::now() + BOOKMARK_EVERY),
                stream.next(),
            )
            .await;
            match next {
                Err(_) => {
                    if tokio::time::Instant::now() >= deadline {
                        return;
                    }
                    if bookmarks && tx.send(Ok(enc.bookmark(last_rev, false))).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Ok(Some(Err(e))) => {
                    let _ = tx.send(Ok(error_event(&ApiError::from(e)))).await;
                    return;
                }
                Ok(Some(Ok(event))) => {
                    last_rev = event.revision();
                    let cache = &state.watch_cache;
                    let Some(kind) = translate(cache, &entry, &filter, &paths, &event) else {
                        continue;
                    };
                    let Some(line) = enc.live_event(cache, event.kv(), kind) else {
                        continue;
                    };
                    if tx.send(Ok(line)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });

    let body = streaming(tokio_stream::wrappers::ReceiverStream::new(rx));
    let content_type = "application/json";
    http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Maps a store event to the type of watch event this watcher gets, if any: selector
/// transitions become ADDED or DELETED, as upstream's watch cache does.
fn translate(
    cache: &WatchCache,
    entry: &Entry,
    filter: &Filter,
    paths: &[Vec<&str>],
    event: &Event,
) -> Option<&'static str> {
    match event {
        Event::Put { kv, prev } => {
            let new_match = selected(cache, entry, filter, paths, kv)?;
            // Without a selector every old object matched: no need to read it.
            let old_match = prev
                .as_ref()
                .and_then(|p| selected(cache, entry, filter, paths, p));
            match (old_match, new_match) {
                (None, true) | (Some(false), true) => Some("ADDED"),
                (Some(true), true) => Some("MODIFIED"),
                (Some(true), false) => Some("DELETED"),
                _ => None,
            }
        }
        Event::Delete { kv } => selected(cache, entry, filter, paths, kv)?.then_some("DELETED"),
    }
}

/// Whether the stored object `kv` is selected, reading only the members the selectors need
/// where the stored form serves as it is; `None` when it cannot be read.
fn selected(
    cache: &WatchCache,
    entry: &Entry,
    filter: &Filter,
    paths: &[Vec<&str>],
    kv: &KeyValue,
) -> Option<bool> {
    if filter.is_empty() {
        return Some(true);
    }
    match stored_view::pick(entry, &kv.value, paths) {
        Some(small) => Some(filter.matches(&small)),
        None => Some(filter.matches(&*cache.object(entry, kv)?)),
    }
}
