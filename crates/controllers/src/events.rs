//! An event recorder that writes core/v1 Events as upstream's `record.EventRecorder` does:
//! events named `<object>.<hex nanos>`, a repeat of the same (object, type, reason, message)
//! within ten minutes bumps `count` and `lastTimestamp` instead of creating a new event, and
//! a per-object token bucket (burst 25, one token per five minutes, as upstream's spam
//! filter) keeps a hot loop from flooding the store.
//!
//! Recording never blocks a controller: events go through a bounded queue to a background
//! writer and are dropped when the queue is full.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde_json::json;
use tokio::sync::mpsc;

/// How long a repeat still aggregates into the existing event.
pub const AGGREGATION_WINDOW: Duration = Duration::from_secs(600);
/// Events an object may emit in a burst.
pub const SPAM_BURST: f64 = 25.0;
/// Seconds to earn back one event token.
pub const SPAM_REFILL_SECS: f64 = 300.0;
const CACHE_LIMIT: usize = 4096;
const QUEUE: usize = 1024;

/// `type` of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One event to record.
#[derive(Clone, Debug)]
pub struct EventRecord {
    pub object: ObjectReference,
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AggKey {
    uid: String,
    kind: String,
    namespace: String,
    name: String,
    type_: EventType,
    reason: String,
    message: String,
}

#[derive(Clone, Debug)]
struct Seen {
    name: String,
    namespace: String,
    count: i32,
    first: Timestamp,
    last: Instant,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What to do with one recorded event.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Create a new event with this name.
    Create { name: String },
    /// Bump an existing event to this count.
    Patch {
        name: String,
        count: i32,
        first: Timestamp,
    },
    /// Rate-limited: drop it.
    Drop,
}

/// The pure core: aggregation and rate limiting, given the clock.
#[derive(Default)]
pub struct Correlator {
    seen: HashMap<AggKey, Seen>,
    buckets: HashMap<String, Bucket>,
}

impl Correlator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides how to record `rec` at `now` (monotonic) / `ts` (wall clock).
    pub fn observe(&mut self, rec: &EventRecord, now: Instant, ts: Timestamp) -> Decision {
        let o = &rec.object;
        let obj_key = format!(
            "{}/{}/{}/{}/{}",
            o.kind.as_deref().unwrap_or_default(),
            o.namespace.as_deref().unwrap_or_default(),
            o.name.as_deref().unwrap_or_default(),
            o.uid.as_deref().unwrap_or_default(),
            rec.reason
        );
        let bucket = self.buckets.entry(obj_key).or_insert(Bucket {
            tokens: SPAM_BURST,
            at: now,
        });
        let earned = now.duration_since(bucket.at).as_secs_f64() / SPAM_REFILL_SECS;
        bucket.tokens = (bucket.tokens + earned).min(SPAM_BURST);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Decision::Drop;
        }
        bucket.tokens -= 1.0;

        let key = AggKey {
            uid: o.uid.clone().unwrap_or_default(),
            kind: o.kind.clone().unwrap_or_default(),
            namespace: o.namespace.clone().unwrap_or_default(),
            name: o.name.clone().unwrap_or_default(),
            type_: rec.type_,
            reason: rec.reason.clone(),
            message: rec.message.clone(),
        };
        if let Some(s) = self.seen.get_mut(&key) {
            if now.duration_since(s.last) <= AGGREGATION_WINDOW {
                s.count += 1;
                s.last = now;
                return Decision::Patch {
                    name: s.name.clone(),
                    count: s.count,
                    first: s.first,
                };
            }
        }
        if self.seen.len() >= CACHE_LIMIT {
            self.seen
                .retain(|_, s| now.duration_since(s.last) <= AGGREGATION_WINDOW);
            if self.seen.len() >= CACHE_LIMIT {
                self.seen.clear();
            }
            self.buckets
                .retain(|_, b| now.duration_since(b.at).as_secs_f64() < SPAM_REFILL_SECS * 25.0);
        }
        let name = event_name(o.name.as_deref().unwrap_or_default(), ts);
        self.seen.insert(
            key,
            Seen {
                name: name.clone(),
                namespace: event_namespace(o),
                count: 1,
                first: ts,
                last: now,
            },
        );
        Decision::Create { name }
    }

    /// Forgets an aggregated event that vanished from the server (expired), so the next
    /// repeat creates a new one.
    fn forget(&mut self, name: &str, namespace: &str) {
        self.seen
            .retain(|_, s| !(s.name == name && s.namespace == namespace));
    }
}

/// `<object>.<hex unix nanos>`, as upstream names events.
pub fn event_name(object: &str, ts: Timestamp) -> String {
    format!("{object}.{:x}", ts.as_nanosecond())
}

/// Events of cluster-scoped objects live in `default`.
fn event_namespace(o: &ObjectReference) -> String {
    match o.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => ns.to_string(),
        _ => "default".to_string(),
    }
}

/// Builds the Event object upstream's recorder writes.
pub fn build_event(
    rec: &EventRecord,
    name: &str,
    component: &str,
    instance: &str,
    count: i32,
    first: Timestamp,
    last: Timestamp,
) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(event_namespace(&rec.object)),
            ..Default::default()
        },
        involved_object: rec.object.clone(),
        reason: Some(rec.reason.clone()),
        message: Some(rec.message.clone()),
        type_: Some(rec.type_.as_str().to_string()),
        source: Some(EventSource {
            component: Some(component.to_string()),
            host: None,
        }),
        first_timestamp: Some(Time(first)),
        last_timestamp: Some(Time(last)),
        count: Some(count),
        reporting_component: Some(component.to_string()),
        reporting_instance: Some(instance.to_string()),
        ..Default::default()
    }
}

/// Records events for one component; cheap to clone and share between workers.
#[derive(Clone)]
pub struct EventRecorder {
    tx: mpsc::Sender<EventRecord>,
    component: Arc<str>,
}

impl EventRecorder {
    /// A recorder writing as `component` (e.g. `deployment-controller`); spawns its writer
    /// on the current Tokio runtime.
    pub fn new(client: Client, component: &str) -> Self {
        Self::with_instance(client, component, "")
    }

    /// As [`EventRecorder::new`], with a `reportingInstance` (upstream leaves it empty for
    /// kube-controller-manager's controllers).
    pub fn with_instance(client: Client, component: &str, instance: &str) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let component: Arc<str> = Arc::from(component);
        tokio::spawn(writer(
            client,
            rx,
            component.to_string(),
            instance.to_string(),
        ));
        Self { tx, component }
    }

    pub fn component(&self) -> &str {
        &self.component
    }

    /// Records an event about `obj`; never blocks (drops when the queue is full).
    pub fn record<K>(&self, obj: &K, type_: EventType, reason: &str, message: impl Into<String>)
    where
        K: Resource<DynamicType = ()>,
    {
        self.record_ref(obj.object_ref(&()), type_, reason, message);
    }

    /// Records an event about the object behind `object`.
    pub fn record_ref(
        &self,
        object: ObjectReference,
        type_: EventType,
        reason: &str,
        message: impl Into<String>,
    ) {
        let rec = EventRecord {
            object,
            type_,
            reason: reason.to_string(),
            message: message.into(),
        };
        if self.tx.try_send(rec).is_err() {
            tracing::debug!(component = %self.component, "event queue full; event dropped");
        }
    }

    pub fn normal<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.record(obj, EventType::Normal, reason, message);
    }

    pub fn warning<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.record(obj, EventType::Warning, reason, message);
    }
}

async fn writer(
    client: Client,
    mut rx: mpsc::Receiver<EventRecord>,
    component: String,
    instance: String,
) {
    let mut correlator = Correlator::new();
    while let Some(rec) = rx.recv().await {
        let ts = Timestamp::now();
        let decision = correlator.observe(&rec, Instant::now(), ts);
        let ns = event_namespace(&rec.object);
        let api: Api<Event> = Api::namespaced(client.clone(), &ns);
        let result = match &decision {
            Decision::Drop => {
                tracing::debug!(reason = %rec.reason, "event rate-limited");
                continue;
            }
            Decision::Create { name } => {
                let ev = build_event(&rec, name, &component, &instance, 1, ts, ts);
                api.create(&PostParams::default(), &ev).await.map(|_| ())
            }
            Decision::Patch { name, count, first } => {
                let patch = json!({"count": count, "lastTimestamp": Time(ts)});
                match api
                    .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    Err(kube::Error::Api(s)) if s.code == 404 => {
                        // Expired meanwhile: write it again under its name.
                        let ev = build_event(&rec, name, &component, &instance, *count, *first, ts);
                        api.create(&PostParams::default(), &ev).await.map(|_| ())
                    }
                    other => other.map(|_| ()),
                }
            }
        };
        match result {
            Ok(()) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => {
                if let Decision::Create { name } | Decision::Patch { name, .. } = &decision {
                    correlator.forget(name, &ns);
                }
                tracing::debug!(error = %e, reason = %rec.reason, "could not write event");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(reason: &str, message: &str) -> EventRecord {
        EventRecord {
            object: ObjectReference {
                api_version: Some("apps/v1".into()),
                kind: Some("ReplicaSet".into()),
                name: Some("web-6d4cf56db6".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            type_: EventType::Normal,
            reason: reason.into(),
            message: message.into(),
        }
    }

    #[test]
    fn names_are_object_dot_hex_nanos() {
        let ts = Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap();
        assert_eq!(event_name("web", ts), "web.17979cfe3d85cd15");
    }

    #[test]
    fn repeats_aggregate_within_window_and_distinct_messages_do_not() {
        let mut c = Correlator::new();
        let t0 = Instant::now();
        let ts = Timestamp::now();
        let Decision::Create { name } = c.observe(&rec("SuccessfulCreate", "a"), t0, ts) else {
            panic!("first event must be created")
        };
        assert_eq!(
            c.observe(
                &rec("SuccessfulCreate", "a"),
                t0 + Duration::from_secs(5),
                ts
            ),
            Decision::Patch {
                name: name.clone(),
                count: 2,
                first: ts
            }
        );
        assert!(matches!(
            c.observe(
                &rec("SuccessfulCreate", "b"),
                t0 + Duration::from_secs(6),
                ts
            ),
            Decision::Create { .. }
        ));
        // After the window a repeat starts a new event.
        assert!(matches!(
            c.observe(
                &rec("SuccessfulCreate", "a"),
                t0 + Duration::from_secs(700),
                ts
            ),
            Decision::Create { .. }
        ));
    }

    #[test]
    fn hot_loop_is_rate_limited_then_recovers() {
        let mut c = Correlator::new();
        let t0 = Instant::now();
        let ts = Timestamp::now();
        let mut written = 0;
        for i in 0..100 {
            let d = c.observe(&rec("FailedCreate", &format!("m{i}")), t0, ts);
            if d != Decision::Drop {
                written += 1;
            }
        }
        assert_eq!(written, 25);
        // One token back after five minutes.
        let later = t0 + Duration::from_secs(301);
        assert_ne!(
            c.observe(&rec("FailedCreate", "x"), later, ts),
            Decision::Drop
        );
        assert_eq!(
            c.observe(&rec("FailedCreate", "y"), later, ts),
            Decision::Drop
        );
    }
}
