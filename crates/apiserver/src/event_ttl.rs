//! Events expire a while after their last write (upstream's `--event-ttl`, one hour by
//! default, which it implements with etcd leases).
//!
//! Components record several Events per pod, so without expiry they would outgrow everything
//! else in the store; and the garbage collector, as upstream's, does not watch them. Here a
//! sweep in the API server deletes the Events last written longer ago than the TTL, reading the
//! time of the last write from the Event itself: the newest of its managedFields times,
//! lastTimestamp, eventTime, series.lastObservedTime and creationTimestamp. Deletes are
//! conditional on the revision read, so an Event written meanwhile stays.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use minato_store::{RangeOptions, StoreError};
use serde::Deserialize;

use crate::server::State;

/// Keys read per store range while sweeping.
const PAGE: usize = 500;

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EventTimes {
    metadata: MetaTimes,
    last_timestamp: Option<String>,
    event_time: Option<String>,
    series: Option<SeriesTimes>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MetaTimes {
    creation_timestamp: Option<String>,
    managed_fields: Vec<ManagedTime>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ManagedTime {
    time: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SeriesTimes {
    last_observed_time: Option<String>,
}

/// When the stored Event `json` was last written, as far as its fields tell; `None` when it
/// names no time at all (then it is left alone).
pub fn last_written(json: &[u8]) -> Option<DateTime<Utc>> {
    let t: EventTimes = serde_json::from_slice(json).ok()?;
    let managed = t.metadata.managed_fields.into_iter().filter_map(|m| m.time);
    [
        t.metadata.creation_timestamp,
        t.last_timestamp,
        t.event_time,
        t.series.and_then(|s| s.last_observed_time),
    ]
    .into_iter()
    .flatten()
    .chain(managed)
    .filter_map(|s| DateTime::parse_from_rfc3339(&s).ok())
    .map(|d| d.with_timezone(&Utc))
    .max()
}

/// How often to sweep for a TTL: often enough that an Event outlives it by at most a quarter
/// of it, at least every minute, and not more than once a second.
pub fn sweep_period(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Deletes the Events last written more than `ttl` before `now`; returns how many went.
pub async fn sweep(state: &State, ttl: Duration, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let Some(entry) = state.registry.lookup("", "v1", "events") else {
        return Ok(0);
    };
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let prefix = entry.info.key_prefix();
    let mut start_after = None;
    let mut deleted = 0;
    loop {
        let page = state
            .store
            .range(
                &prefix,
                RangeOptions {
                    start_after: start_after.take(),
                    limit: Some(PAGE),
                },
            )
            .await?;
        for kv in &page.kvs {
            let expired = last_written(&kv.value).is_some_and(|t| now - t > ttl);
            if !expired {
                continue;
            }
            match state.store.delete(&kv.key, Some(kv.mod_revision)).await {
                Ok(_) => deleted += 1,
                // Written or deleted meanwhile: it is not ours to remove now.
                Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        match (page.more, page.kvs.last()) {
            (true, Some(last)) => start_after = Some(last.key.clone()),
            _ => return Ok(deleted),
        }
    }
}

/// Sweeps for expired Events in the background; a zero TTL keeps Events forever.
pub fn spawn(state: Arc<State>, ttl: Duration) {
    if ttl.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(sweep_period(ttl));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep(&state, ttl, Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "expired events removed"),
                Err(e) => tracing::warn!(error = %e, "sweeping expired events failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_last_write_is_the_newest_time_the_event_names() {
        let ev = json!({
            "metadata": {
                "creationTimestamp": "2026-11-23T10:00:00Z",
                "managedFields": [{"manager": "a", "time": "2026-11-23T10:05:00Z"}, {"manager": "b"}],
            },
            "lastTimestamp": "2026-11-23T10:03:00Z",
            "series": {"count": 3, "lastObservedTime": "2026-11-23T10:07:30.123456Z"},
        });
        let got = last_written(&serde_json::to_vec(&ev).unwrap());
        assert_eq!(got, Some(at("2026-11-23T10:07:30.123456Z")));
        let plain = json!({"metadata": {"creationTimestamp": "2026-11-23T10:00:00Z"}, "lastTimestamp": null});
        assert_eq!(
            last_written(&serde_json::to_vec(&plain).unwrap()),
            Some(at("2026-11-23T10:00:00Z"))
        );
        let micro = json!({"metadata": {}, "eventTime": "2026-11-23T11:00:00.000001Z"});
        assert_eq!(
            last_written(&serde_json::to_vec(&micro).unwrap()),
            Some(at("2026-11-23T11:00:00.000001Z"))
        );
        assert_eq!(last_written(br#"{"metadata":{}}"#), None);
        assert_eq!(last_written(b"not json"), None);
    }

    #[test]
    fn sweeps_come_often_enough_but_not_too_often() {
        assert_eq!(
            sweep_period(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            sweep_period(Duration::from_secs(120)),
            Duration::from_secs(30)
        );
        assert_eq!(sweep_period(Duration::from_secs(2)), Duration::from_secs(1));
    }
}
