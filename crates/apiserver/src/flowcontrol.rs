//! API Priority and Fairness in the request path: the bootstrap FlowSchemas and priority
//! levels, reloading them when they change, their `Dangling` status, and the filter that
//! seats (or queues, or rejects with 429) every request that is not long-running.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
use minato_flowcontrol::{Classification, Rejection, RequestDigest, ResourceInfo, SchemaStatus};
use minato_store::Event;
use serde_json::{json, Value};

use crate::auth::UserInfo;
use crate::http::{full, Response};
use crate::request::Query;
use crate::resource::Route;
use crate::server::State;

const GROUP: &str = "flowcontrol.apiserver.k8s.io";
const SCHEMAS: &str = "/registry/flowcontrol.apiserver.k8s.io/flowschemas/";
const LEVELS: &str = "/registry/flowcontrol.apiserver.k8s.io/prioritylevelconfigurations/";

/// Response headers naming the matched objects by UID (upstream hides their names).
pub const HEADER_FLOW_SCHEMA_UID: &str = "x-kubernetes-pf-flowschema-uid";
pub const HEADER_PRIORITY_LEVEL_UID: &str = "x-kubernetes-pf-prioritylevel-uid";

/// Creates the bootstrap objects that are missing (soon after start, and again when one is
/// deleted, as upstream's configuration ensurer does).
pub async fn bootstrap(state: &Arc<State>) -> crate::error::ApiResult<()> {
    for pl in minato_flowcontrol::bootstrap::priority_levels() {
        crate::bootstrap::ensure(state, GROUP, "v1", "prioritylevelconfigurations", pl).await?;
    }
    for fs in minato_flowcontrol::bootstrap::flow_schemas() {
        crate::bootstrap::ensure(state, GROUP, "v1", "flowschemas", fs).await?;
    }
    Ok(())
}

async fn load<T: serde::de::DeserializeOwned>(state: &State, prefix: &str) -> Vec<(T, Value)> {
    let Ok(page) = state.store.range(prefix, Default::default()).await else {
        return Vec::new();
    };
    page.kvs
        .iter()
        .filter_map(|kv| crate::resource::from_stored(kv).ok())
        .filter_map(|v| Some((serde_json::from_value(v.clone()).ok()?, v)))
        .collect()
}

/// Reads the stored objects, reconfigures, and brings each schema's `Dangling` condition up
/// to date.
async fn sync(state: &Arc<State>) {
    if let Err(e) = bootstrap(state).await {
        tracing::warn!(error = %e.message, "cannot recreate the bootstrap flow-control objects");
    }
    let schemas: Vec<(FlowSchema, Value)> = load(state, SCHEMAS).await;
    let levels: Vec<(PriorityLevelConfiguration, Value)> = load(state, LEVELS).await;
    let statuses = state.flow_control.configure(
        schemas.iter().map(|(t, _)| t.clone()).collect(),
        levels.into_iter().map(|(t, _)| t).collect(),
    );
    for status in statuses {
        if let Some((_, stored)) = schemas
            .iter()
            .find(|(t, _)| t.metadata.name.as_deref() == Some(status.name.as_str()))
        {
            set_dangling(state, stored, &status).await;
        }
    }
}

fn dangling_condition(status: &SchemaStatus) -> (&'static str, &'static str, String) {
    if status.dangling {
        (
            "True",
            "NotFound",
            format!(
                "This FlowSchema references the PriorityLevelConfiguration object named \"{}\" but there is no such object",
                status.level
            ),
        )
    } else {
        (
            "False",
            "Found",
            format!(
                "This FlowSchema references the PriorityLevelConfiguration object named \"{}\" and it exists",
                status.level
            ),
        )
    }
}

async fn set_dangling(state: &Arc<State>, stored: &Value, status: &SchemaStatus) {
    let (want, reason, message) = dangling_condition(status);
    let current = stored
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Dangling"))
        });
    if current.is_some_and(|c| {
        c.get("status").and_then(Value::as_str) == Some(want)
            && c.get("reason").and_then(Value::as_str) == Some(reason)
            && c.get("message").and_then(Value::as_str) == Some(message.as_str())
    }) {
        return;
    }
    let Some(entry) = state.registry.lookup(GROUP, "v1", "flowschemas") else {
        return;
    };
    let route = Route {
        entry,
        namespace: None,
        name: Some(status.name.clone()),
        subresource: Some("status".into()),
    };
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let patch = json!({"status": {"conditions": [{
        "type": "Dangling", "status": want, "lastTransitionTime": now,
        "reason": reason, "message": message,
    }]}});
    let mode = crate::resource::Write::Patch {
        content_type: "application/merge-patch+json".into(),
        body: serde_json::to_vec(&patch).unwrap_or_default(),
    };
    let user = UserInfo {
        name: "system:apiserver".into(),
        groups: vec!["system:masters".into()],
    };
    if let Err(e) = crate::resource::write(
        state,
        &route,
        Some("status"),
        mode,
        &Query::default(),
        &user,
        &http::HeaderMap::new(),
    )
    .await
    {
        tracing::debug!(schema = %status.name, error = %e.message, "cannot update FlowSchema status");
    }
}

/// Keeps the configuration in step with the stored objects.
pub fn spawn(state: Arc<State>) {
    tokio::spawn(async move {
        loop {
            let Ok(from) = state.store.current_revision().await else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            sync(&state).await;
            // One watch over the group covers both kinds.
            let Ok(mut stream) = state
                .store
                .watch("/registry/flowcontrol.apiserver.k8s.io/", from)
                .await
            else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            while let Some(ev) = stream.next().await {
                match ev.as_deref() {
                    // Status writes (our own Dangling updates) change nothing we use, but
                    // cost one cheap re-read; the conditions are compared before writing.
                    Ok(Event::Put { .. } | Event::Delete { .. }) => sync(&state).await,
                    Err(_) => break,
                }
            }
        }
    });
}

/// The request facts classification uses.
pub struct Request<'a> {
    pub user: &'a UserInfo,
    pub verb: &'a str,
    pub route: Option<&'a Route>,
    pub path: &'a str,
}

/// Long-running requests are not held to a seat (upstream: its LongRunningRequestCheck);
/// a watch is, but only until its response starts, which is where our handler returns.
pub fn is_long_running(route: Option<&Route>) -> bool {
    matches!(
        route.and_then(|r| r.subresource.as_deref()),
        Some("exec" | "attach" | "portforward" | "proxy" | "log")
    )
}

pub fn classify(state: &State, req: &Request<'_>) -> Classification {
    let mut groups = req.user.groups.clone();
    if !groups
        .iter()
        .any(|g| g == "system:authenticated" || g == "system:unauthenticated")
    {
        groups.push("system:authenticated".into());
    }
    let resource = req.route.map(|r| ResourceInfo {
        api_group: &r.entry.info.group,
        resource: &r.entry.info.plural,
        subresource: r.subresource.as_deref().unwrap_or(""),
        namespace: r.namespace.as_deref().unwrap_or(""),
    });
    state.flow_control.classify(&RequestDigest {
        user: &req.user.name,
        groups: &groups,
        verb: req.verb,
        resource,
        path: req.path,
    })
}

/// How long a request may wait for a seat: a quarter of its timeout, 15 s by default (a
/// quarter of upstream's 60 s request timeout), never over a minute.
pub fn wait_limit(query: &Query) -> Duration {
    let timeout = query
        .get("timeout")
        .and_then(minato_resources::duration::parse)
        .unwrap_or(Duration::from_secs(60));
    (timeout / 4).min(Duration::from_secs(60))
}

/// Upstream's 429: plain text, with Retry-After.
pub fn too_many_requests(c: &Classification, why: Rejection) -> Response {
    tracing::debug!(flow_schema = %c.flow_schema, priority_level = %c.priority_level, ?why, "request rejected by priority and fairness");
    let mut resp = http::Response::builder()
        .status(http::StatusCode::TOO_MANY_REQUESTS)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .header(http::header::RETRY_AFTER, "1")
        .body(full("Too many requests, please try again later.\n"))
        .unwrap_or_else(|_| http::Response::new(crate::http::empty()));
    set_headers(&mut resp, c);
    resp
}

pub fn set_headers(resp: &mut Response, c: &Classification) {
    let h = resp.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(&c.flow_schema_uid) {
        h.insert(HEADER_FLOW_SCHEMA_UID, v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&c.priority_level_uid) {
        h.insert(HEADER_PRIORITY_LEVEL_UID, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_limits_are_a_quarter_of_the_timeout() {
        assert_eq!(wait_limit(&Query::parse(None)), Duration::from_secs(15));
        assert_eq!(
            wait_limit(&Query::parse(Some("timeout=32s"))),
            Duration::from_secs(8)
        );
        assert_eq!(
            wait_limit(&Query::parse(Some("timeout=1h"))),
            Duration::from_secs(60)
        );
    }
}
